from django.apps import AppConfig


class FieldServiceConfig(AppConfig):
    name = "field_service"
    verbose_name = "Field service"

    def ready(self) -> None:
        from crm.scope import register_account_keys
        from field_service import scope, sync_tables
        from field_service.selectors import open_work_orders_by_territory
        from field_service.services.work_orders import work_orders_follow_sites
        from territories.hooks import on_sites_reassigned, register_preview_measure

        register_account_keys("tech", scope.account_technician_keys, scope.accounts_of_technicians)
        sync_tables.register()
        on_sites_reassigned(work_orders_follow_sites)
        register_preview_measure("open_work_orders", open_work_orders_by_territory)
