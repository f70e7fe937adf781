"""Background tasks of field service (Django's task framework; ``manage.py db_worker`` runs
them in production and under ``make run``)."""

from __future__ import annotations

from django.tasks import task

from field_service.services.day_plans import day_plan_run


@task()
def run_day_plan(proposal_id: int) -> None:
    day_plan_run(proposal_id)
