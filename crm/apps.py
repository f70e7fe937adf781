from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Customers"

    def ready(self) -> None:
        from crm import sync_tables

        sync_tables.register()
