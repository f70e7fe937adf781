"""The live daphne server fixture, shared by the end-to-end tests."""

from tests.e2e.live import server

__all__ = ["server"]
