from __future__ import annotations

import zoneinfo
from typing import Any

from django.db import transaction

from crm import hooks
from crm.models import Account, Asset, Site
from crm.services import records
from server.errors import ApplicationError
from server.models import User

SITE_FIELDS = frozenset(
    {
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
    }
)
ASSET_FIELDS = frozenset(
    {
        "site",
        "parent",
        "serial_number",
        "model_name",
        "manufacturer",
        "install_date",
        "warranty_end",
        "contract_end",
    }
)


def _validate_site(site: Site) -> None:
    if (site.latitude is None) != (site.longitude is None):
        raise ApplicationError(
            "invalid",
            "Latitude and longitude are given together, or both left empty.",
            fields={"latitude": ["Give both or neither."], "longitude": ["Give both or neither."]},
        )
    try:
        zoneinfo.ZoneInfo(site.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ApplicationError(
            "invalid",
            f"Unknown time zone {site.time_zone!r}.",
            fields={"time_zone": ["Use an IANA time zone name such as Europe/Paris."]},
        ) from None


def _demote_other_primary(site: Site, *, actor: User) -> None:
    """An account has one primary site: making this one primary demotes the previous one."""
    if not site.is_primary or site.archived_at is not None:
        return
    previous = (
        Site.objects.select_for_update()
        .filter(account_id=site.account_id, is_primary=True, archived_at__isnull=True)
        .exclude(pk=site.pk)
        .first()
    )
    if previous is not None:
        edit = records.Edit(previous)
        previous.is_primary = False
        edit.save(actor=actor)


@transaction.atomic
def site_create(
    *, actor: User, account: Account, record_id: str | None = None, **data: Any
) -> Site:
    """Caller loaded ``account`` with ``access_account(for_update=True)``."""
    site = records.with_id(Site(account=account), record_id)
    records.assign(site, data, allowed=SITE_FIELDS)
    has_primary = account.sites.filter(is_primary=True, archived_at__isnull=True).exists()
    if "is_primary" not in data and not has_primary:
        site.is_primary = True
    _validate_site(site)
    _demote_other_primary(site, actor=actor)
    records.create(site, actor=actor)
    hooks.site_located(site, actor)
    return site


@transaction.atomic
def site_update(*, actor: User, site: Site, **data: Any) -> Site:
    edit = records.Edit(site)
    records.assign(site, data, allowed=SITE_FIELDS)
    _validate_site(site)
    _demote_other_primary(site, actor=actor)
    if edit.save(actor=actor) and {"latitude", "longitude", "is_primary"} & set(data):
        hooks.site_located(site, actor)
    return site


@transaction.atomic
def site_archive(*, actor: User, site: Site) -> Site:
    if site.assets.filter(archived_at__isnull=True).exists():
        raise ApplicationError(
            "site_has_assets", "Archive or move the site's assets first.", status=409
        )
    return records.archive(site, actor=actor)


def _validate_asset(asset: Asset) -> None:
    if asset.site.account_id != asset.account_id:
        raise ApplicationError(
            "invalid",
            "The site belongs to another account.",
            fields={"site": ["Choose a site of this account."]},
        )
    if asset.parent is not None:
        if asset.parent.account_id != asset.account_id:
            raise ApplicationError(
                "invalid",
                "The parent asset belongs to another account.",
                fields={"parent": ["Choose an asset of this account."]},
            )
        ancestor: Asset | None = asset.parent
        depth = 0
        while ancestor is not None:
            if ancestor.pk == asset.pk or depth > 50:
                raise ApplicationError(
                    "invalid",
                    "An asset cannot be its own ancestor.",
                    fields={"parent": ["This would make a cycle."]},
                )
            ancestor = ancestor.parent
            depth += 1
    duplicate = (
        Asset.objects.filter(manufacturer=asset.manufacturer, serial_number=asset.serial_number)
        .exclude(pk=asset.pk)
        .exists()
    )
    if duplicate:
        raise ApplicationError(
            "invalid",
            "Another asset from this manufacturer has this serial number.",
            fields={"serial_number": ["Already registered for this manufacturer."]},
        )
    for start, end in (("install_date", "warranty_end"), ("install_date", "contract_end")):
        first, last = getattr(asset, start), getattr(asset, end)
        if first and last and last < first:
            raise ApplicationError(
                "invalid",
                f"{end} is before {start}.",
                fields={end: [f"Must be on or after {start}."]},
            )


@transaction.atomic
def asset_create(
    *, actor: User, account: Account, record_id: str | None = None, **data: Any
) -> Asset:
    asset = records.with_id(Asset(account=account), record_id)
    records.assign(asset, data, allowed=ASSET_FIELDS)
    _validate_asset(asset)
    return records.create(asset, actor=actor)


@transaction.atomic
def asset_update(*, actor: User, asset: Asset, **data: Any) -> Asset:
    edit = records.Edit(asset)
    records.assign(asset, data, allowed=ASSET_FIELDS)
    _validate_asset(asset)
    edit.save(actor=actor)
    return asset


@transaction.atomic
def asset_archive(*, actor: User, asset: Asset) -> Asset:
    return records.archive(asset, actor=actor)
