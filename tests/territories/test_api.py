"""Territory REST endpoints."""

from __future__ import annotations

import pytest

from server.enums import Role
from territories.models import Assignment, Territory, TerritoryJob, TerritoryModel, TerritoryType
from tests.factories import AccountFactory, SiteFactory
from tests.territories.test_services import REGION, WEST, collection, feature, square

BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.fixture
def console(client_for, make_user):
    TerritoryType.objects.create(code="territory", name="Territory", priority=1)
    TerritoryType.objects.create(code="region", name="Region", priority=3)
    return client_for(make_user(Role.SALES_MANAGER), device_id="console")


def _model(console, *features) -> int:
    created = console.post("/api/v1/territory-models/", {"name": "2027"}, format="json")
    assert created.status_code == 201, created.content
    model_id: int = created.json()["id"]
    imported = console.post(
        f"/api/v1/territory-models/{model_id}/import/", collection(*features), format="json"
    )
    assert imported.status_code == 200, imported.content
    return model_id


@pytest.fixture
def run_job(console, django_capture_on_commit_callbacks):
    """Start a territory job through the API; the job once the (immediate) task backend has
    run it after the commit."""

    def run(url: str) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            started = console.post(url)
        assert started.status_code == 202, started.content
        assert started.json()["state"] == "queued"
        job = console.get(started["Location"])
        assert job.status_code == 200
        body: dict = job.json()
        return body

    return run


def test_import_activate_locate_and_export(console, run_job):
    account = AccountFactory.create()
    SiteFactory.create(account=account, is_primary=True, longitude=4.81, latitude=45.75)
    model_id = _model(
        console, feature("LYON", REGION, type="region"), feature("W", WEST, parent="LYON")
    )

    job = run_job(f"/api/v1/territory-models/{model_id}/activate/")

    assert job["state"] == "succeeded", job
    assert job["result"]["state"] == "active"
    assert TerritoryModel.objects.get(pk=model_id).state == "active"

    located = console.get("/api/v1/territories/locate/", {"lng": 4.81, "lat": 45.75}).json()
    assert [t["code"] for t in located] == ["W", "LYON"]
    assert console.get("/api/v1/territories/locate/", {"lng": 2.35, "lat": 48.85}).json() == []
    listed = console.get("/api/v1/territories/").json()["results"]
    assert {t["code"]: t["parent"] for t in listed} == {"LYON": None, "W": "LYON"}
    exported = console.get(f"/api/v1/territory-models/{model_id}/export/").json()
    assert {f["id"] for f in exported["features"]} == {"LYON", "W"}
    history = console.get(
        "/api/v1/territory-assignments/", {"record_type": "account", "record_id": account.id}
    ).json()
    assert [(h["territory_code"], h["cause"]) for h in history] == [("W", "rule")]
    before = console.get(
        "/api/v1/territory-assignments/",
        {"record_type": "account", "record_id": account.id, "as_of": "2000-01-01"},
    ).json()
    assert before == []


def test_bad_geometry_gets_a_400_naming_each_feature(console):
    created = console.post("/api/v1/territory-models/", {"name": "2027"}, format="json").json()

    response = console.post(
        f"/api/v1/territory-models/{created['id']}/import/",
        collection(
            feature("OK", WEST),
            feature("BOW", BOW_TIE),
            feature("OPEN", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
            feature("FEW", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
            feature("FAR", square(4.8, 95)),
            feature("POINT", {"type": "Point", "coordinates": [4.8, 45.7]}),
        ),
        format="json",
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    reasons = {
        key.split("(")[1].rstrip(")"): value[0].split(":")[0] for key, value in fields.items()
    }
    assert reasons == {
        "BOW": "self_intersection",
        "OPEN": "unclosed_ring",
        "FEW": "too_few_points",
        "FAR": "out_of_range",
        "POINT": "wrong_type",
    }
    assert not Territory.objects.exists()


def test_a_rep_cannot_change_the_map_and_nothing_is_written(client_for, rep, console):
    tablet = client_for(rep, device_id="tablet")

    assert (
        tablet.post("/api/v1/territory-models/", {"name": "Mine"}, format="json").status_code == 403
    )
    model_id = _model(console, feature("W", WEST))
    response = tablet.post(f"/api/v1/territory-models/{model_id}/activate/")

    assert response.status_code == 403
    assert TerritoryModel.objects.get().state == "planning"
    assert not Assignment.objects.exists()
    assert not TerritoryJob.objects.exists()
    assert tablet.get("/api/v1/territory-jobs/").status_code == 403


def test_preview_and_assign_run_as_jobs_that_report_their_stages(console, run_job):
    account = AccountFactory.create()
    SiteFactory.create(account=account, is_primary=True, longitude=4.81, latitude=45.75)
    model_id = _model(console, feature("W", WEST))

    preview = run_job(f"/api/v1/territory-models/{model_id}/preview/")
    assigned = run_job(f"/api/v1/territory-models/{model_id}/assign/")

    assert preview["state"] == "succeeded", preview
    assert preview["result"]["accounts_added"] == 1
    assert preview["result"]["added"] == [account.id]
    # The last stage reported, complete.
    assert (preview["stage"], preview["done"], preview["total"]) == ("comparing", 1, 1)
    assert preview["started_at"] and preview["finished_at"]
    assert assigned["state"] == "succeeded", assigned
    assert assigned["result"]["accounts"] == {"assigned": 1}
    listed = console.get("/api/v1/territory-jobs/", {"model": model_id}).json()["results"]
    assert [j["kind"] for j in listed] == ["assign", "preview"]


def test_a_job_that_cannot_start_gets_its_4xx_at_once_and_is_not_queued(console, run_job):
    model_id = _model(console, feature("W", WEST))
    activated = run_job(f"/api/v1/territory-models/{model_id}/activate/")
    assert activated["state"] == "succeeded"

    again = console.post(f"/api/v1/territory-models/{model_id}/activate/")
    preview = console.post(f"/api/v1/territory-models/{model_id}/preview/")
    missing = console.post("/api/v1/territory-models/999/assign/")

    assert again.status_code == 409
    assert preview.status_code == 409
    assert missing.status_code == 404
    assert TerritoryJob.objects.count() == 1


def test_a_job_that_fails_in_the_worker_says_why_and_changes_nothing(console, run_job, monkeypatch):
    account = AccountFactory.create()
    SiteFactory.create(account=account, is_primary=True, longitude=4.81, latitude=45.75)
    model_id = _model(console, feature("W", WEST))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("territories.services.assignment.record", broken)
    job = run_job(f"/api/v1/territory-models/{model_id}/activate/")

    assert job["state"] == "failed"
    assert job["error"] == {
        "code": "internal_error",
        "message": "The job failed; see the server log.",
    }
    assert TerritoryModel.objects.get(pk=model_id).state == "planning"
    account.refresh_from_db()
    assert account.territory == ""


def test_locate_needs_numbers(console):
    assert console.get("/api/v1/territories/locate/", {"lng": "east"}).status_code == 400
    assert console.get("/api/v1/territories/locate/", {"lng": 500, "lat": 0}).status_code == 400


def test_overrides_are_listed_and_removed_through_the_api(console, run_job, client_for, rep):
    account = AccountFactory.create()
    SiteFactory.create(account=account, is_primary=True, longitude=4.81, latitude=45.75)
    model_id = _model(console, feature("W", WEST), feature("E", square(4.85, 45.74)))
    run_job(f"/api/v1/territory-models/{model_id}/activate/")
    body = {
        "record_type": "account",
        "record_id": account.id,
        "territory_code": "E",
        "cause": "Key account",
    }

    refused = client_for(rep, device_id="tablet").post(
        "/api/v1/territory-overrides/", body, format="json"
    )
    created = console.post("/api/v1/territory-overrides/", body, format="json")
    listed = console.get("/api/v1/territory-overrides/", {"current": "true"}).json()["results"]
    removed = console.delete(f"/api/v1/territory-overrides/{created.json()['id']}/")

    assert refused.status_code == 403
    assert created.status_code == 201, created.content
    assert [o["record_id"] for o in listed] == [account.id]  # the refused one wrote nothing
    assert removed.status_code == 200
    assert removed.json()["removed_at"]
    assert console.get("/api/v1/territory-overrides/", {"current": "true"}).json()["results"] == []
    account.refresh_from_db()
    assert account.territory == "W"
