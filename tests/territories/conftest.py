"""Territory tests drive devices with the sync fixtures."""

from tests.sync.conftest import device_for

__all__ = ["device_for"]
