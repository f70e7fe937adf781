"""What several benchmarks share: child processes, daphne servers (started and stopped), the
exceptions daphne logged, and CPU accounting from ``/proc``.

``daphne`` runs ``python -m infra.bench.sync_delta --serve PORT``: the project's ASGI
application under ``sync_delta``'s thin wrapper, which adds a ``Server-Timing`` header to HTTP
responses (with the moment the request's first event was published, right after its commit)
and passes WebSockets through untouched.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .account_list import BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0


def report(
    benchmark: str,
    compute: Callable[[], dict[str, Any]],
    *,
    json_path: Path | None,
    render: Callable[[list[dict[str, Any]]], str],
) -> int:
    """The end of every benchmark's ``main``: ``compute`` the result (a SIGTERM unwinds like
    Ctrl-C, so its servers stop and its temp directory goes), write it to ``json_path`` if
    given, print it as markdown. Exits 1, saying why, after a ``BenchError``."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        result = compute()
    except BenchError as error:
        print(f"bench[{benchmark}]: error: {error}", file=sys.stderr, flush=True)
        return 1
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
    print(render([result]))
    return 0


def run_child(argv: Sequence[str], what: str) -> tuple[float, str]:
    """Run ``python ARGV`` with this process's environment; (wall seconds, stdout)."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, *argv],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BenchError(f"{what} failed:\n" + "\n".join(tail))
    return time.perf_counter() - started, result.stdout


# ------------------------------------------------------------------------------- daphne


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """(In the daphne child, before exec.) Get SIGTERM if this benchmark dies."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _healthy(base_url: str) -> bool:
    with suppress(OSError):
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:  # noqa: S310
            return bool(response.status == 200)
    return False


@contextmanager
def daphnes(log_dir: Path, count: int) -> Iterator[list[Server]]:
    """``count`` daphne processes, as behind a reverse proxy in production; stopped on exit."""
    with ExitStack() as stack:
        yield [stack.enter_context(daphne(log_dir, n)) for n in range(count)]


@contextmanager
def daphne(log_dir: Path, number: int = 0) -> Iterator[Server]:
    """A daphne process (``--serve``) with this process's environment; stopped on exit."""
    port = free_port()
    log_path = log_dir / f"daphne-{number}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "infra.bench.sync_delta", "--serve", str(port)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, no locks
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(server.base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"daphne did not start:\n{tail}")
            time.sleep(0.2)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is not gone within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Timeout)\b.*")


def server_errors(log_path: Path, limit: int = 10) -> list[str]:
    """The distinct exceptions daphne logged (the last line of each traceback), with counts."""
    counts: Counter[str] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if _EXCEPTION_LINE.match(line):
            counts[line[:300]] += 1
    return [f"{count} × {line}" for line, count in counts.most_common(limit)]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVICE_PROCESSES = frozenset({"postgres", "redis-server"})


def service_cpu_s() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL and Redis process, by pid."""
    seconds: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name in SERVICE_PROCESSES:
                fields = text.rsplit(")", 1)[1].split()
                seconds[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf(
                    "SC_CLK_TCK"
                )
    return seconds


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, which is counted in user already
    return total - idle, total
