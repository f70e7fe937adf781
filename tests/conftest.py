from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from server.enums import Role
from server.models import User
from tests.factories import PASSWORD, UserFactory


def pytest_configure(config: pytest.Config) -> None:
    """The services leg must really run on the services: fail loudly, never skip."""
    if os.environ.get("FIELDLINE_EXPECT_SERVICES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        storage = settings.STORAGES["default"]["BACKEND"]
        problems = [
            what
            for what, ok in [
                (f"database is {engine}, not PostgreSQL", "postgresql" in engine),
                (f"channel layer is {layer}, not Redis", "channels_redis" in layer),
                (f"storage is {storage}, not S3", "s3" in storage),
            ]
            if not ok
        ]
        if problems:
            raise pytest.UsageError("services leg misconfigured: " + "; ".join(problems))


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    def make(*roles: Role, **kwargs: Any) -> User:
        user: User = UserFactory.create(roles=list(roles), **kwargs)
        return user

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, username="admin-user")


@pytest.fixture
def rep(make_user: Callable[..., User]) -> User:
    return make_user(Role.SALES_REP, username="rep-a")


@pytest.fixture
def other_rep(make_user: Callable[..., User]) -> User:
    return make_user(Role.SALES_REP, username="rep-b")


@pytest.fixture
def technician(make_user: Callable[..., User]) -> User:
    return make_user(Role.TECHNICIAN, username="tech-a")


@pytest.fixture
def dispatcher(make_user: Callable[..., User]) -> User:
    return make_user(Role.DISPATCHER, username="dispatcher-a")


@pytest.fixture
def sales_manager(make_user: Callable[..., User]) -> User:
    return make_user(Role.SALES_MANAGER, username="salesmanager-a")


@pytest.fixture
def finance(make_user: Callable[..., User]) -> User:
    return make_user(Role.FINANCE, username="finance-a")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def device_login(
    client: APIClient, user: User, *, device_id: str = "device-1", **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login/",
        {
            "username": user.username,
            "password": PASSWORD,
            "device_id": device_id,
            "platform": "android",
            "app_version": "1.0.0",
            **extra,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def client_for(db: Any) -> Callable[..., APIClient]:
    """An API client signed in as ``user`` on a device, with a device-bound access token."""

    def make(user: User, *, device_id: str = "device-1") -> APIClient:
        client = APIClient()
        tokens = device_login(client, user, device_id=device_id)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        client.tokens = tokens  # type: ignore[attr-defined]
        return client

    return make
