"""Background tasks of the territories app (Django's task framework; ``manage.py
db_worker`` runs them in production and under ``make run``)."""

from __future__ import annotations

from django.tasks import task

from territories.services.jobs import territory_job_run


@task()
def run_territory_job(job_id: int) -> None:
    territory_job_run(job_id)
