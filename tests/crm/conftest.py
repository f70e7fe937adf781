"""Fixtures shared by the customer tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.crm.assertions")

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from server.enums import Role  # noqa: E402
from server.models import User  # noqa: E402

ConstantQueries = Callable[..., int]


@pytest.fixture
def service_manager(make_user: Callable[..., User]) -> User:
    return make_user(Role.SERVICE_MANAGER, username="servicemanager-a")


@pytest.fixture
def assert_constant_queries(django_assert_num_queries: Any) -> ConstantQueries:
    """Check that a list endpoint runs as many queries for a short list as for a long one.

    Requests ``url`` once, calls ``grow()`` to add rows, requests it again and asserts the same
    query count both times (the second time under ``django_assert_num_queries``). ``sizes`` is
    the number of results expected before and after growing, so the check cannot pass on two
    empty lists. Returns the query count, authentication included.
    """

    def check(
        client: APIClient, url: str, grow: Callable[[], Any], *, sizes: tuple[int, int]
    ) -> int:
        with CaptureQueriesContext(connection) as small:
            response = client.get(url)
        assert response.status_code == 200, response.content
        assert len(_results(response.json())) == sizes[0]
        grow()
        with django_assert_num_queries(len(small)):
            response = client.get(url)
        assert response.status_code == 200, response.content
        assert len(_results(response.json())) == sizes[1]
        return len(small)

    return check


def _results(body: Any) -> list[Any]:
    return body["results"] if isinstance(body, dict) else body
