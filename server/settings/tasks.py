"""Background tasks: Django's task framework on the database backend (django-tasks-db).

The worker is ``manage.py db_worker``; it needs no service beyond the database.
"""

from typing import Any


def database() -> dict[str, Any]:
    return {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def immediate() -> dict[str, Any]:
    return {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
