"""Other apps' reactions to territory changes, run inside the territories service's
transaction.

Field service keeps each open job in its site's territory (its dispatch board and
dispatchers follow it); territories does not import field service (field service depends
on territories), so it registers here from its ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from server.models import User

# site ids whose territory may have changed (None: any site, after an activation)
SitesListener = Callable[[Collection[str] | None, User | None], object]
_listeners: list[SitesListener] = []


def on_sites_reassigned(listener: SitesListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def sites_reassigned(site_ids: Collection[str] | None, actor: User | None) -> None:
    for listener in _listeners:
        listener(site_ids, actor)


# What a realignment moves besides accounts (open work orders, pipeline value): given where
# each site would go (site id -> territory code in the planning map), the measure per
# territory code now and after.
Measure = Callable[[Mapping[str, str]], tuple[Mapping[str, float], Mapping[str, float]]]
_measures: dict[str, Measure] = {}


def register_preview_measure(name: str, measure: Measure) -> None:
    _measures[name] = measure


def preview_measures(
    site_codes: Mapping[str, str],
) -> dict[str, tuple[Mapping[str, float], Mapping[str, float]]]:
    """Every registered measure, before and after, by name."""
    return {name: measure(site_codes) for name, measure in sorted(_measures.items())}
