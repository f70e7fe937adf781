from django.apps import AppConfig


class FieldServiceConfig(AppConfig):
    name = "field_service"
    verbose_name = "Field service"

    def ready(self) -> None:
        from crm.scope import register_account_keys
        from field_service import scope, sync_tables

        register_account_keys("tech", scope.account_technician_keys, scope.accounts_of_technicians)
        sync_tables.register()
