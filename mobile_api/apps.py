from django.apps import AppConfig


class MobileApiConfig(AppConfig):
    name = "mobile_api"
    verbose_name = "Devices and mobile API"

    def ready(self) -> None:
        from mobile_api.models import Device
        from sync import registry

        registry.register(
            Device,
            table="devices",
            fields=(
                "user",
                "client_id",
                "platform",
                "app_version",
                "has_push_token",
                "revoked_at",
                "revoked_reason",
            ),
            syncable=False,
        )
