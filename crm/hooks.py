"""Other apps' reactions to customer writes, run inside the writing service's transaction.

The territories app assigns a site to its territory as soon as it is created or moved; crm
does not import it (territories depends on crm), so it registers here from its
``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable

from crm.models import Site
from server.models import User

SiteListener = Callable[[Site, User | None], None]
_site_listeners: list[SiteListener] = []


def on_site_located(listener: SiteListener) -> None:
    """Call ``listener(site, actor)`` when a site is created, moved, or made primary."""
    if listener not in _site_listeners:
        _site_listeners.append(listener)


def site_located(site: Site, actor: User | None) -> None:
    for listener in _site_listeners:
        listener(site, actor)
