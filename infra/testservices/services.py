#!/usr/bin/env python3
"""Throwaway PostgreSQL, Redis and S3 (moto) services for the test suite's services leg.

    services.py up --dir DIR     start all three on free loopback ports, write DIR/env
    services.py down --dir DIR   stop whatever was started in DIR, then remove DIR

Everything lives in DIR (data, sockets, logs, pids); nothing touches system services.
Only the standard library is used; the services are driven through subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

DB_NAME = "fieldline"
DB_USER = "fieldline"
DB_PASSWORD = "fieldline"  # noqa: S105 - throwaway, loopback-only test credential
S3_BUCKET = "fieldline-test"
S3_REGION = "us-east-1"
AWS_CREDENTIAL = "testing"  # moto accepts any credentials

PG_SYSTEM_USER = "postgres"
PG_PREFERRED_MAJOR = "15"

MARKER = ".fieldline-testservices"  # proves a directory is ours before `down` deletes it
STATE_FILE = "state.json"
ENV_FILE = "env"

READY_TIMEOUT = 30.0  # seconds per service
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 25

State = dict[str, dict[str, Any]]


class ServiceError(Exception):
    """A service could not be started; the message names it (and its log, if any)."""


def log(message: str) -> None:
    print(f"testservices: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def run(
    cmd: Sequence[str | Path],
    *,
    stdout: TextIO | int | None = subprocess.PIPE,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command (never through a shell), merging stderr into stdout."""
    return subprocess.run(  # noqa: S603 - fixed argv built here, no shell, no user input
        [str(part) for part in cmd],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
        check=False,
    )


def spawn(cmd: Sequence[str | Path], logfile: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a long-running process in its own session, logging to `logfile`; return its pid."""
    with logfile.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv built here, no shell, no user input
            [str(part) for part in cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,  # keep terminal signals away; `down` stops it
        )
    # `up` exits long before the service does; stop Popen warning about a live child.
    proc.returncode = 0
    return proc.pid


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all bound at once so they cannot repeat)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in socks]


def log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return "".join(f"\n    | {line}" for line in lines)


def service_error(service: str, problem: str, logfile: Path | None = None) -> ServiceError:
    message = f"{service}: {problem}"
    if logfile is not None:
        message += f" (log: {logfile}){log_tail(logfile)}"
    return ServiceError(message)


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (nobody reaped it yet) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def pid_matches(pid: int, needle: str) -> bool:
    """Guard against signalling a recycled pid: its command line must mention `needle`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return needle.encode() in cmdline


def wait_until(check: Callable[[], bool], timeout: float, pid: int | None = None) -> bool:
    """Poll `check` until it is true; give up at `timeout` or as soon as `pid` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if pid is not None and not pid_alive(pid):
            return check()
        time.sleep(0.05)
    return check()


def terminate(pid: int, needle: str, name: str) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; silent if the process is already gone."""
    if not pid_alive(pid) or not pid_matches(pid, needle):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not pid_alive(pid), STOP_TIMEOUT):
        return
    log(f"{name} (pid {pid}) ignored SIGTERM; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_until(lambda: not pid_alive(pid), STOP_TIMEOUT):
        log(f"warning: {name} (pid {pid}) is still running")


def load_state(path: Path) -> State:
    try:
        data = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(path: Path, state: State) -> None:
    tmp = path / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path / STATE_FILE)


# ------------------------------------------------------------------------ PostgreSQL


def find_pg_bindir() -> Path:
    override = os.environ.get("PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        installed = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
            reverse=True,
        )
        preferred = Path(f"/usr/lib/postgresql/{PG_PREFERRED_MAJOR}/bin")
        candidates = [preferred, *installed]
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return bindir
    raise service_error(
        "postgresql",
        "server binaries (initdb, pg_ctl, psql) not found in /usr/lib/postgresql/*/bin "
        "or on PATH; install postgresql-15 or set PG_BINDIR",
    )


def pg_runner() -> tuple[list[str], pwd.struct_passwd | None]:
    """initdb refuses to run as root: as root, run PostgreSQL tools as `postgres`."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise service_error(
            "postgresql", f"running as root but the system user {PG_SYSTEM_USER!r} is missing"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise service_error("postgresql", "runuser not found (needed to drop root for initdb)")
    return [runuser, "-u", PG_SYSTEM_USER, "--"], account


def pg_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class PgSetup:
    bindir: Path
    as_pg: list[str]  # argv prefix that runs a command as the PostgreSQL system user
    root: Path  # DIR/pg, owned by that user

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"


def prepare_postgres(base: Path) -> PgSetup:
    """Find the binaries and create DIR/pg, owned by (and reachable for) the server user."""
    bindir = find_pg_bindir()
    as_pg, account = pg_runner()
    setup = PgSetup(bindir, as_pg, base / "pg")
    # Unix socket paths are limited to 107 bytes; ".s.PGSQL.65535" must still fit.
    if len(f"{setup.sockets}/.s.PGSQL.65535") > 107:
        raise service_error("postgresql", f"{setup.sockets} is too long for a unix socket path")
    setup.sockets.mkdir(parents=True)
    if account is not None:
        for path in (setup.root, setup.sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        test = shutil.which("test") or "/usr/bin/test"
        if run([*as_pg, test, "-w", setup.root]).returncode != 0:
            raise service_error(
                "postgresql",
                f"user {PG_SYSTEM_USER!r} cannot reach {setup.root}; "
                "make DIR and all its parents traversable (chmod 755)",
            )
    return setup


def start_postgres(base: Path, setup: PgSetup, port: int, state: State) -> None:
    bindir, as_pg, root = setup.bindir, setup.as_pg, setup.root
    data, sockets = setup.data, setup.sockets
    initdb_log, server_log = root / "initdb.log", root / "postgres.log"

    state["postgres"] = {"bindir": str(bindir), "data": str(data), "as_pg": as_pg, "port": port}
    save_state(base, state)

    with initdb_log.open("w") as out:
        initdb = run(
            [
                *as_pg, bindir / "initdb", "-D", data, "-U", "postgres",
                "--auth-local=trust", "--auth-host=scram-sha-256",
                "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions",
            ],
            stdout=out,
            cwd=root,
        )  # fmt: skip
    if initdb.returncode != 0:
        raise service_error("postgresql", f"initdb failed (exit {initdb.returncode})", initdb_log)

    settings = {
        "port": str(port),
        "listen_addresses": pg_quote(LOOPBACK),
        "unix_socket_directories": pg_quote(str(sockets)),
        "max_connections": "200",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "password_encryption": pg_quote("scram-sha-256"),
    }
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# fieldline test services\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    pg_ctl = run(
        [*as_pg, bindir / "pg_ctl", "start", "-D", data, "-l", server_log,
         "-w", "-t", str(int(READY_TIMEOUT))],
        cwd=root,
        timeout=READY_TIMEOUT + 10,
    )  # fmt: skip
    if pg_ctl.returncode != 0:
        raise service_error(
            "postgresql", f"pg_ctl start failed: {pg_ctl.stdout.strip()}", server_log
        )
    with contextlib.suppress(OSError, ValueError, IndexError):
        state["postgres"]["pid"] = int((data / "postmaster.pid").read_text().split()[0])
    save_state(base, state)

    bootstrap = run(
        [
            bindir / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", sockets, "-p", str(port), "-U", "postgres", "-d", "postgres",
            "-c", f"CREATE ROLE {DB_USER} LOGIN SUPERUSER PASSWORD {pg_quote(DB_PASSWORD)}",
            "-c", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}",
        ],
        cwd=root,
    )  # fmt: skip
    if bootstrap.returncode != 0:
        raise service_error(
            "postgresql", f"creating role/database failed: {bootstrap.stdout.strip()}", server_log
        )
    if not wait_until(lambda: tcp_open(port), READY_TIMEOUT):
        raise service_error("postgresql", f"not accepting TCP on {LOOPBACK}:{port}", server_log)


def stop_postgres(entry: Mapping[str, Any]) -> None:
    data = Path(entry["data"])
    pidfile = data / "postmaster.pid"
    if not pidfile.exists():
        return
    pg_ctl = Path(entry["bindir"]) / "pg_ctl"
    as_pg = [str(part) for part in entry.get("as_pg", [])]
    result = run(
        [*as_pg, pg_ctl, "stop", "-D", data, "-m", "immediate", "-w", "-t", str(int(STOP_TIMEOUT))],
        timeout=STOP_TIMEOUT + 10,
    )
    pid = entry.get("pid")
    if result.returncode != 0 and isinstance(pid, int) and pid_alive(pid):
        log(f"pg_ctl stop failed ({result.stdout.strip()}); killing postmaster {pid}")
        terminate(pid, "postgres", "postgresql")


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- Redis


def find_redis(base: Path) -> Path:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None
    )
    if found:
        return Path(found)
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise service_error(
            "redis", "redis-server is not installed and cannot be installed here (needs root + apt)"
        )
    apt_log = base / "apt-redis.log"
    log(f"redis-server not found; installing it with apt-get (log: {apt_log})")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    with apt_log.open("w") as out:
        for cmd in (
            [apt_get, "update"],
            [apt_get, "install", "-y", "--no-install-recommends", "redis-server"],
        ):
            if run(cmd, stdout=out, env=apt_env, timeout=600).returncode != 0:
                raise service_error(
                    "redis", f"redis-server is missing and `{' '.join(cmd)}` failed", apt_log
                )
    found = shutil.which("redis-server")
    if found is None:
        raise service_error("redis", "redis-server still missing after apt-get install", apt_log)
    return Path(found)


def start_redis(base: Path, binary: Path, port: int, state: State) -> None:
    workdir = base / "redis"
    workdir.mkdir()
    pid = spawn(
        [
            binary, "--bind", LOOPBACK, "--port", str(port),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", workdir, "--pidfile", base / "redis.pid",
        ],
        base / "redis.log",
    )  # fmt: skip
    state["redis"] = {"pid": pid, "port": port}
    save_state(base, state)


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# ------------------------------------------------------------------------ S3 (moto)


def find_moto_server() -> Path:
    candidates = [
        Path(sys.executable).parent / "moto_server",  # not resolved: keep the venv's bin/
        REPO_ROOT / ".venv" / "bin" / "moto_server",
    ]
    on_path = shutil.which("moto_server")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise service_error(
        "s3 (moto)", f"moto_server not found in {candidates[1].parent}; pip install 'moto[server]'"
    )


def start_moto(base: Path, binary: Path, port: int, state: State) -> None:
    pid = spawn(
        [binary, "-H", LOOPBACK, "-p", str(port)],
        base / "moto.log",
        env={"AWS_ACCESS_KEY_ID": AWS_CREDENTIAL, "AWS_SECRET_ACCESS_KEY": AWS_CREDENTIAL},
    )
    state["moto"] = {"pid": pid, "port": port}
    save_state(base, state)


def http_status(port: int, method: str, path: str) -> int | None:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request(method, path, headers={"Content-Length": "0"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


# -------------------------------------------------------------------------- commands


def env_lines(state: State) -> list[str]:
    pg, redis, moto = state["postgres"]["port"], state["redis"]["port"], state["moto"]["port"]
    return [
        f"DATABASE_URL=postgres://{DB_USER}:{DB_PASSWORD}@{LOOPBACK}:{pg}/{DB_NAME}",
        f"REDIS_URL=redis://{LOOPBACK}:{redis}/0",
        f"S3_BUCKET={S3_BUCKET}",
        f"S3_REGION={S3_REGION}",
        f"S3_ENDPOINT_URL=http://{LOOPBACK}:{moto}",
        f"AWS_ACCESS_KEY_ID={AWS_CREDENTIAL}",
        f"AWS_SECRET_ACCESS_KEY={AWS_CREDENTIAL}",
    ]


def start_all(base: Path, state: State) -> None:
    # Resolve every binary before starting anything (this may apt-get install redis).
    moto_bin, redis_bin, pg_setup = find_moto_server(), find_redis(base), prepare_postgres(base)
    pg_port, redis_port, moto_port = free_ports(3)

    # moto takes the longest to import, so launch it and redis first and let them boot
    # while PostgreSQL is initialised in the foreground.
    start_moto(base, moto_bin, moto_port, state)
    start_redis(base, redis_bin, redis_port, state)
    start_postgres(base, pg_setup, pg_port, state)

    redis_pid, moto_pid = state["redis"]["pid"], state["moto"]["pid"]
    if not wait_until(lambda: redis_ping(redis_port), READY_TIMEOUT, redis_pid):
        raise service_error("redis", f"no PONG on {LOOPBACK}:{redis_port}", base / "redis.log")
    if not wait_until(lambda: http_status(moto_port, "GET", "/") == 200, READY_TIMEOUT, moto_pid):
        raise service_error(
            "s3 (moto)", f"not answering on {LOOPBACK}:{moto_port}", base / "moto.log"
        )
    status = http_status(moto_port, "PUT", f"/{S3_BUCKET}")
    if status != 200 or http_status(moto_port, "HEAD", f"/{S3_BUCKET}") != 200:
        raise service_error(
            "s3 (moto)", f"creating bucket {S3_BUCKET!r} failed (HTTP {status})", base / "moto.log"
        )


def stop_all(state: State) -> None:
    """Stop every service recorded in `state`; problems are reported, never raised."""
    stoppers: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
        ("moto", "s3 (moto)", lambda e: terminate(e["pid"], "moto_server", "s3 (moto)")),
        ("redis", "redis", lambda e: terminate(e["pid"], "redis-server", "redis")),
        ("postgres", "postgresql", stop_postgres),
    ]
    for key, name, stop in stoppers:
        entry = state.get(key)
        if not entry:
            continue
        try:
            stop(entry)
        except Exception as exc:  # keep going: the other services must still be stopped
            log(f"warning: stopping {name} failed: {exc}")


def cmd_up(base: Path) -> int:
    started = time.monotonic()
    if (base / STATE_FILE).exists():
        log(f"{base} was already used by `up`; run `down --dir {base}` first")
        return 1
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # the postgres user must be able to traverse it
    (base / MARKER).touch()
    state: State = {}
    save_state(base, state)
    try:
        start_all(base, state)
    except BaseException as exc:
        stop_all(state)
        if isinstance(exc, ServiceError):
            log(f"error: {exc}")
            log(f"stopped the services already started; logs are in {base}")
            return 1
        raise

    lines = env_lines(state)
    (base / ENV_FILE).write_text("".join(f"{line}\n" for line in lines))
    log(f"all services up in {time.monotonic() - started:.1f}s; env written to {base / ENV_FILE}")
    print("\n".join(lines), flush=True)
    return 0


def cmd_down(base: Path, keep_dir: bool) -> int:
    if not base.is_dir():
        return 0
    stop_all(load_state(base))
    if keep_dir:
        log(f"services stopped; kept {base}")
    elif (base / MARKER).exists() or not any(base.iterdir()):
        shutil.rmtree(base, ignore_errors=True)
    else:
        log(f"warning: {base} was not created by `up`; not removing it")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start PostgreSQL, Redis and moto; write DIR/env")
    up.add_argument("--dir", required=True, type=Path, help="working directory for the services")
    down = commands.add_parser("down", help="stop the services started in DIR and remove DIR")
    down.add_argument("--dir", required=True, type=Path, help="directory given to `up`")
    down.add_argument("--keep-dir", action="store_true", help="keep DIR (and its logs)")
    args = parser.parse_args(argv)

    base = args.dir.absolute()
    if args.command == "up":
        return cmd_up(base)
    return cmd_down(base, args.keep_dir)


if __name__ == "__main__":
    sys.exit(main())
