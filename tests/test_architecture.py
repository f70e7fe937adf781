"""Rules of the codebase that are easy to break without noticing."""

from __future__ import annotations

import ast
from pathlib import Path

from sync import registry

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_APPS = ["crm", "sales", "expenses", "territories", "field_service", "sync", "server"]
APP_DIRS = [*DOMAIN_APPS, "mobile_api"]


def _python_files(*apps: str):
    for app in apps:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


# The project's root wiring routes to every app, mobile_api included.
PROJECT_WIRING = {ROOT / "server" / "asgi.py", ROOT / "server" / "urls.py"}


def test_domain_apps_never_import_mobile_api():
    offenders = []
    for path in _python_files(*DOMAIN_APPS):
        if path in PROJECT_WIRING:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("mobile_api")
            ]
    assert offenders == []


def test_syncable_models_are_never_bulk_updated_outside_sync():
    """``QuerySet.update()`` and ``bulk_update()`` skip the change log, so devices would miss
    the change. Syncable models are written through services only."""
    syncable = {
        entry.model.__name__
        for entry in map(registry.for_table, registry.tables())
        if entry and entry.syncable
    }
    assert {"Account", "Site", "Contact", "Asset"} <= syncable
    offenders = []
    for path in _python_files(*[a for a in APP_DIRS if a != "sync"]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in {"update", "bulk_update"}:
                continue
            root = node.func.value
            while isinstance(root, ast.Call | ast.Attribute):
                root = root.func if isinstance(root, ast.Call) else root.value
            if isinstance(root, ast.Name) and root.id in syncable:
                offenders.append(f"{path.relative_to(ROOT)} {root.id}.{node.func.attr}")
    assert offenders == list(RECORDED_BULK_WRITES)


# Bulk writes that record every change themselves, record by record, before writing.
RECORDED_BULK_WRITES = (
    # accounts_set_territories: a realignment moving thousands of accounts at once.
    "crm/services/accounts.py Account.bulk_update",
)
