"""Other apps' reactions to territory changes, run inside the territories service's
transaction.

Field service keeps each open job in its site's territory (its dispatch board and
dispatchers follow it); territories does not import field service (field service depends
on territories), so it registers here from its ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable, Collection

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
