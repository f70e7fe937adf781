"""The WatermelonDB schema of the synced tables, as devices build their local database."""

from __future__ import annotations

from typing import Any

from sync import registry

SCHEMA_VERSION = 1


def schema() -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        tables[table] = {
            "columns": [
                {
                    "name": column.name,
                    "type": column.type,
                    "isOptional": column.optional,
                    "isIndexed": column.name.endswith("_id"),
                }
                for column in tracked.columns
            ]
        }
    return {"version": SCHEMA_VERSION, "tables": tables}
