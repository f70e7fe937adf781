"""The customer tables the change log tracks and devices sync, with their wire columns."""

from crm import models, scope
from server.logging import register_sensitive_fields
from sync import registry

COMMON = ("created_at", "updated_at", "archived_at")
SENSITIVE = frozenset({"national_id", "bank_account"})


def register() -> None:
    register_sensitive_fields(*SENSITIVE)
    registry.register(
        models.CustomerTier,
        table="customer_tiers",
        fields=("code", "name", "rank", *COMMON),
        scope_keys=scope.reference_keys,
        covered_by=scope.reference_coverage,
    )
    registry.register(
        models.Tag,
        table="tags",
        fields=("name", "color", *COMMON),
        scope_keys=scope.reference_keys,
        covered_by=scope.reference_coverage,
    )
    registry.register(
        models.Account,
        table="accounts",
        fields=(
            "name",
            "kind",
            "tier",
            "lifecycle_stage",
            "owner",
            "tags",
            "phone",
            "email",
            "website",
            "notes",
            "national_id",
            "bank_account",
            *COMMON,
        ),
        scope_keys=scope.account_keys,
        covered_by=scope.accounts_covered_by,
        sensitive=SENSITIVE,
    )
    registry.register(
        models.Contact,
        table="contacts",
        fields=("account", "first_name", "last_name", "title", "roles", "phone", "email", *COMMON),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
    registry.register(
        models.Site,
        table="sites",
        fields=(
            "account",
            "name",
            "is_primary",
            "street",
            "city",
            "postal_code",
            "region",
            "country",
            "latitude",
            "longitude",
            "time_zone",
            "access_notes",
            *COMMON,
        ),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
    registry.register(
        models.Asset,
        table="assets",
        fields=(
            "account",
            "site",
            "parent",
            "serial_number",
            "model_name",
            "manufacturer",
            "install_date",
            "warranty_end",
            "contract_end",
            *COMMON,
        ),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
    registry.register(
        models.Interaction,
        table="interactions",
        fields=(
            "account",
            "contact",
            "site",
            "kind",
            "direction",
            "author",
            "occurred_at",
            "summary",
            "check_in_at",
            "check_in_latitude",
            "check_in_longitude",
            "check_out_at",
            "check_out_latitude",
            "check_out_longitude",
            *COMMON,
        ),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
    registry.register(
        models.Promise,
        table="promises",
        fields=("interaction", "account", "description", "due_date", "done_at", *COMMON),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
    registry.register(
        models.ContactPreference,
        table="contact_preferences",
        fields=(
            "account",
            "contact",
            "channel",
            "frequency",
            "opted_out",
            "consent_at",
            "consent_source",
            "recorded_by",
            *COMMON,
        ),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
    )
