from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    name = "territories"

    def ready(self) -> None:
        from crm.hooks import on_site_located
        from crm.scope import register_account_keys
        from server.access import register_scope_provider
        from territories import scope
        from territories.services import assignment

        register_scope_provider(scope.user_territory_keys)
        register_account_keys(
            scope.PREFIX, scope.account_territory_keys, scope.accounts_in_territories
        )
        on_site_located(assignment.site_located)
