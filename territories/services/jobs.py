"""Long territory operations as jobs: started by a request, run by the task worker, their
progress and outcome kept on a ``TerritoryJob`` row that clients poll."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User
from territories.models import JobKind, JobState, TerritoryJob, TerritoryModel
from territories.progress import JobProgress, Progress
from territories.services.maps import planning_model
from territories.services.realignment import (
    current_model,
    realignment_preview,
    territory_model_activate,
    territory_model_assign,
)

logger = logging.getLogger(__name__)


def _activate(*, actor: User, model_id: int, progress: Progress) -> dict[str, Any]:
    model = territory_model_activate(actor=actor, model_id=model_id, progress=progress)
    activated_at = model.activated_at.isoformat() if model.activated_at else None
    return {"model": model.pk, "state": model.state, "activated_at": activated_at}


OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    JobKind.ASSIGN: territory_model_assign,
    JobKind.PREVIEW: realignment_preview,
    JobKind.ACTIVATE: _activate,
}


def _check_startable(model_id: int, kind: str) -> TerritoryModel:
    """The model a job of ``kind`` may run on, or the 4xx it would end with (so that a
    request that cannot succeed fails at once, not in the worker)."""
    if kind == JobKind.ASSIGN:
        return current_model(model_id)
    return planning_model(model_id)


@transaction.atomic
def territory_job_start(*, actor: User, model_id: int, kind: str) -> TerritoryJob:
    """Queue ``kind`` (assign, preview, activate) on a territory model; the task worker runs
    it once this transaction commits."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    model = _check_startable(model_id, kind)
    job = TerritoryJob.objects.create(kind=kind, territory_model=model, created_by=actor)
    # Imported here: the task module imports this one.
    from territories.tasks import run_territory_job

    transaction.on_commit(lambda: run_territory_job.enqueue(job.pk))
    return job


def territory_job_run(job_id: int) -> None:
    """(The task.) Run a queued job once, recording its progress and how it ended. A job
    that is no longer queued (a task delivered twice) is left alone."""
    claimed = TerritoryJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return
    job = TerritoryJob.objects.select_related("created_by").get(pk=job_id)
    actor = job.created_by
    progress = JobProgress(job.pk)
    try:
        if actor is None or not actor.is_active:
            raise ApplicationError("permission_denied", "The job's user is gone.", status=403)
        result = OPERATIONS[job.kind](
            actor=actor, model_id=job.territory_model_id, progress=progress
        )
    except ApplicationError as error:
        _finish(job_id, JobState.FAILED, error={"code": error.code, "message": error.message})
    except Exception:
        logger.exception("territory job %s failed", job_id)
        _finish(
            job_id,
            JobState.FAILED,
            error={"code": "internal_error", "message": "The job failed; see the server log."},
        )
    else:
        progress.flush()
        _finish(job_id, JobState.SUCCEEDED, result=result)


def _finish(job_id: int, state: str, **outcome: Any) -> None:
    TerritoryJob.objects.filter(pk=job_id).update(
        state=state, finished_at=timezone.now(), **outcome
    )
