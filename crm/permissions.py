"""Who may see and change customer records. Visibility is the scope-key selector from
``crm.scope``; REST, WebSocket and sync all use these loaders."""

from __future__ import annotations

from django.db import models

from crm.models import Account
from crm.scope import account_child_coverage, accounts_covered_by
from server.access import Capability, has_capability, require_capability, scope_keys_for
from server.errors import ApplicationError
from server.models import User
from sync.ids import is_valid_id


def visible_accounts(actor: User) -> models.QuerySet[Account]:
    return Account.objects.filter(accounts_covered_by(scope_keys_for(actor)))


def visible_for_account[M: models.Model](model: type[M], actor: User) -> models.QuerySet[M]:
    """Records of ``model`` (which has an ``account`` foreign key) the actor may see."""
    return model._default_manager.filter(account_child_coverage(scope_keys_for(actor)))


def can_view_sensitive(actor: User) -> bool:
    return has_capability(actor, Capability.CRM_VIEW_SENSITIVE)


def _load[M: models.Model](
    queryset: models.QuerySet[M], record_id: str, *, for_update: bool, label: str
) -> M:
    if not is_valid_id(record_id):
        raise ApplicationError("not_found", f"No {label} with id {record_id!r}.", status=404)
    if for_update:
        queryset = queryset.select_for_update()
    record = queryset.filter(pk=record_id).first()
    if record is None:
        # Records outside the actor's scope are reported exactly like missing ones.
        raise ApplicationError("not_found", f"No {label} with id {record_id!r}.", status=404)
    return record


def access_account(*, actor: User, account_id: str, for_update: bool = False) -> Account:
    if for_update:
        require_capability(actor, Capability.CRM_EDIT)
    return _load(visible_accounts(actor), account_id, for_update=for_update, label="account")


def access_account_record[M: models.Model](
    model: type[M],
    *,
    actor: User,
    record_id: str,
    for_update: bool = False,
    capability: Capability = Capability.CRM_EDIT,
) -> M:
    """Load a contact, site, asset, interaction, promise or preference the actor may see;
    for an update, also require ``capability``."""
    if for_update:
        require_capability(actor, capability)
    label = model._meta.verbose_name
    return _load(
        visible_for_account(model, actor).select_related("account"),
        record_id,
        for_update=for_update,
        label=str(label),
    )
