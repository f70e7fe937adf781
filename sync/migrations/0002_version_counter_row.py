from django.db import migrations


def create_counter(apps, schema_editor):
    VersionCounter = apps.get_model("sync", "VersionCounter")
    VersionCounter.objects.get_or_create(id=1, defaults={"value": 0})


class Migration(migrations.Migration):
    dependencies = [("sync", "0001_initial")]

    operations = [migrations.RunPython(create_counter, migrations.RunPython.noop)]
