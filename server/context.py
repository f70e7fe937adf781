"""Who and what a write comes from: the request id and the device, carried in a context
variable so services record them without every caller passing them along."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    device_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("fieldline_request", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current() -> RequestContext:
    """The context of the request being served, or a fresh one outside requests."""
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext(request_id=new_request_id())
        _current.set(ctx)
    return ctx


def begin(request_id: str) -> object:
    return _current.set(RequestContext(request_id=request_id))


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def bind_device(device_id: str | None) -> None:
    _current.set(replace(current(), device_id=device_id))


@contextmanager
def device(device_id: str) -> Iterator[None]:
    """Record the writes of the block as made from ``device_id``."""
    token = _current.set(replace(current(), device_id=device_id))
    try:
        yield
    finally:
        _current.reset(token)
