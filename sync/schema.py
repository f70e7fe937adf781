"""The WatermelonDB schema of the synced tables, as devices build their local database."""

from __future__ import annotations

from typing import Any

from sync import registry


def schema(version: int | None = None) -> dict[str, Any]:
    """The tables and columns of schema ``version`` (the newest by default)."""
    version = registry.schema_version() if version is None else version
    tables: dict[str, Any] = {}
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        if tracked.added_in > version:
            continue
        tables[table] = {
            "columns": [
                {
                    "name": column.name,
                    "type": column.type,
                    "isOptional": column.optional,
                    "isIndexed": column.name.endswith("_id"),
                }
                for column in tracked.columns_at(version)
            ]
        }
    return {"version": version, "tables": tables}
