"""The customer tables the change log tracks and devices sync, with their wire columns, the
writers that apply what devices push, and who wins a field both sides changed offline.

Merge policies: account master data (name, owner, tier, stage, identifiers) is the back
office's, so the server wins; what the person in front of the customer records (notes,
contact details, asset plates, interactions, promises) is theirs, so the device wins."""

from crm import models, scope, sync_writers
from server.logging import register_sensitive_fields
from sync import registry
from sync.registry import MergePolicy

CLIENT = MergePolicy.CLIENT

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
        archived_field="archived_at",
    )
    registry.register(
        models.Tag,
        table="tags",
        fields=("name", "color", *COMMON),
        scope_keys=scope.reference_keys,
        covered_by=scope.reference_coverage,
        archived_field="archived_at",
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
            "territory",
            *COMMON,
        ),
        scope_keys=scope.account_keys,
        covered_by=scope.accounts_covered_by,
        archived_field="archived_at",
        sensitive=SENSITIVE,
        writer=sync_writers.AccountWriter(),
        merge={"notes": CLIENT, "phone": CLIENT, "email": CLIENT, "website": CLIENT},
    )
    registry.register(
        models.Contact,
        table="contacts",
        fields=("account", "first_name", "last_name", "title", "roles", "phone", "email", *COMMON),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
        archived_field="archived_at",
        writer=sync_writers.contact_writer,
        default_merge=CLIENT,
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
        archived_field="archived_at",
        writer=sync_writers.site_writer,
        merge={"access_notes": CLIENT},
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
        archived_field="archived_at",
        writer=sync_writers.asset_writer,
        merge={"serial_number": CLIENT, "model_name": CLIENT, "manufacturer": CLIENT},
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
        archived_field="archived_at",
        writer=sync_writers.interaction_writer,
        default_merge=CLIENT,
    )
    registry.register(
        models.Promise,
        table="promises",
        fields=("interaction", "account", "description", "due_date", "done_at", *COMMON),
        scope_keys=scope.account_child_keys,
        covered_by=scope.account_child_coverage,
        archived_field="archived_at",
        writer=sync_writers.PromiseWriter(),
        default_merge=CLIENT,
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
        archived_field="archived_at",
    )
