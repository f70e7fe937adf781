from __future__ import annotations

from django.test import Client


def test_healthz_is_alive_without_auth(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_channel_layer_and_storage(db):
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "channel_layer": True,
        "storage": True,
    }


def test_readyz_reports_a_broken_dependency_as_503(db, monkeypatch):
    from server import health

    def broken() -> None:
        raise ConnectionError("storage is down")

    monkeypatch.setitem(health.CHECKS, "storage", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == {"ok": False, "error": "ConnectionError"}


def test_openapi_schema_and_docs_are_served_without_internet(db):
    client = Client()
    schema = client.get("/api/schema/?format=json")
    docs = client.get("/api/docs/")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/accounts/" in paths and "/api/v1/auth/login/" in paths
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI comes from the sidecar package, served from our own static files.
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
