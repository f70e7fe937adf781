"""Run the benchmarks and write their results to ``docs/benchmarks.md`` (``make bench``).

    .venv/bin/python -m infra.bench.run_all [--only NAME] [--backend sqlite|postgres ...]
        [--requests N] [--warmup N] [--scale large|small] [--doc PATH | --no-write]

Each benchmark runs once per backend, each time in a fresh child process: SQLite (the embedded
default, in a temp data directory) and PostgreSQL (throwaway services from
``infra/testservices``, always stopped afterwards). Each benchmark then replaces only its own
section of the doc, between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``.

To add a benchmark: write ``infra/bench/NAME.py`` with a ``main()`` that takes ``--backend``
and ``--json PATH`` (see ``account_list``), and append a ``Benchmark`` to ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import (
    account_list,
    day_plan,
    realtime,
    suggestions,
    sync_delta,
    sync_initial,
    territory_assign,
    territory_preview,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "benchmarks.md"
SERVICES = REPO_ROOT / "infra" / "testservices" / "services.py"
BACKENDS = ("sqlite", "postgres")
# What infra/testservices exports. Cleared for every leg, so that only the services this
# script starts are used, whatever the calling shell has exported.
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_REGION",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
LEG_TIMEOUT_S = 45 * 60

DOC_HEADER = """\
# Benchmarks

Written by `make bench` (`infra/bench/`; its README says what each benchmark does and how to
run one on its own). Each benchmark rewrites only its own section, between
`<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`; everything outside those markers is
kept. Benchmarks are not timed tests: a missed target is reported here, it fails nothing.

**Read the numbers with care.** They come from one run on a shared, noisy virtual machine:
absolute milliseconds move by tens of percent from one run to the next, and the tail (p95,
p99) moves more. Compare with the ratios each section gives, which are measured within the same
run (interleaved, same process), rather than with absolute numbers from another run or another
machine.
"""


class LegError(Exception):
    """A benchmark leg could not run; the message says why."""


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    requests: int
    warmup: int
    scale: str

    def leg_args(self) -> list[str]:
        return [
            "--requests",
            str(self.requests),
            "--warmup",
            str(self.warmup),
            "--scale",
            self.scale,
        ]


@dataclass(frozen=True)
class Outcome:
    markdown: str  # the section body (without its heading)
    failed: bool  # a leg could not run (a missed target is not a failure)


@dataclass(frozen=True)
class Benchmark:
    key: str  # the doc's marker name, and what --only takes
    title: str  # the section's heading
    run: Callable[[Options], Outcome]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- services


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            values[name.strip()] = value.strip()
    return values


@contextmanager
def services_for(backend: str) -> Iterator[dict[str, str]]:
    """The environment a leg needs. For ``postgres``: throwaway PostgreSQL, Redis and S3 on
    loopback (``infra/testservices/services.py``), stopped on the way out, whatever happens."""
    if backend != "postgres":
        yield {}
        return
    base = Path(tempfile.mkdtemp(prefix="fieldline-bench-services."))
    base.chmod(0o755)  # the postgres system user must be able to traverse it
    try:
        log(f"starting PostgreSQL, Redis and S3 in {base}")
        up = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, str(SERVICES), "up", "--dir", str(base)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the env listing; it is read from DIR/env instead
            check=False,
            timeout=300,
        )
        if up.returncode != 0:
            raise LegError("infra/testservices could not start the services (log above)")
        yield read_env_file(base / "env")
    finally:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, str(SERVICES), "down", "--dir", str(base)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        log("services stopped")


def run_leg(module: str, backend: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``python -m MODULE --backend BACKEND --json FILE ARGS`` in a fresh process and
    return what it wrote, or ``{"backend": ..., "error": ...}`` if the leg could not run."""
    log(f"{module} on {backend}")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="fieldline-bench-leg.") as tmp:
            out = Path(tmp) / "result.json"
            env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
            # The leg's own temp files (its SQLite database) go in here too, so they are
            # removed even when the leg is killed.
            env["TMPDIR"] = tmp
            with services_for(backend) as service_env:
                env.update(service_env)
                child = subprocess.run(  # noqa: S603 - fixed argv, no shell
                    [sys.executable, "-m", module, "--backend", backend, "--json", str(out), *args],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,  # its own report; ours is written below
                    check=False,
                    timeout=LEG_TIMEOUT_S,
                )
            if child.returncode != 0 or not out.exists():
                raise LegError(
                    f"`python -m {module} --backend {backend}` exited {child.returncode}"
                )
            result: dict[str, Any] = json.loads(out.read_text())
    except (LegError, OSError, subprocess.TimeoutExpired) as error:
        log(f"error: {error}")
        return {"backend": backend, "error": str(error)}
    log(f"{module} on {backend} done in {time.perf_counter() - started:.0f}s")
    return result


# ----------------------------------------------------------------------- benchmarks


def run_account_list(options: Options) -> Outcome:
    module = "infra.bench.account_list"
    legs = [run_leg(module, backend, options.leg_args()) for backend in options.backends]
    return Outcome(
        markdown=account_list.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


def run_sync_initial(options: Options) -> Outcome:
    module = "infra.bench.sync_initial"
    # Its own sizes follow --scale (large: 50,000 then 500,000 records; small: 5,000 then
    # 50,000); --requests and --warmup do not apply to it.
    legs = [run_leg(module, backend, ["--scale", options.scale]) for backend in options.backends]
    return Outcome(
        markdown=sync_initial.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


def run_sync_delta(options: Options) -> Outcome:
    module = "infra.bench.sync_delta"
    # Its data size follows --scale (large: 5,000 accounts; small: 1,000); --requests and
    # --warmup do not apply to it.
    legs = [run_leg(module, backend, ["--scale", options.scale]) for backend in options.backends]
    return Outcome(
        markdown=sync_delta.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


def run_territory_assign(options: Options) -> Outcome:
    # No database: one leg whatever the backends; --scale small assigns 100,000 points.
    leg = run_leg("infra.bench.territory_assign", "none", ["--scale", options.scale])
    return Outcome(markdown=territory_assign.render_markdown([leg]), failed="error" in leg)


def run_territory_preview(options: Options) -> Outcome:
    module = "infra.bench.territory_preview"
    # Its data size follows --scale (large: 1,000,000 accounts; small: 100,000); --requests
    # and --warmup do not apply to it.
    legs = [run_leg(module, backend, ["--scale", options.scale]) for backend in options.backends]
    return Outcome(
        markdown=territory_preview.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


def run_day_plan(options: Options) -> Outcome:
    module = "infra.bench.day_plan"
    # One leg: the solver is what is measured, the database's share is a few milliseconds
    # (the module docstring says why). SQLite unless only PostgreSQL is asked for. --scale
    # large: 60 s runs, 3 seeds (about 12 minutes); small: 2 s, 1 seed. --requests and
    # --warmup do not apply to it.
    backend = "sqlite" if "sqlite" in options.backends else options.backends[0]
    leg = run_leg(module, backend, ["--scale", options.scale])
    return Outcome(markdown=day_plan.render_markdown([leg]), failed="error" in leg)


def run_suggestions(options: Options) -> Outcome:
    module = "infra.bench.suggestions"
    # Its data size follows --scale (large: 500 technicians with 5,000 jobs in their days, 50
    # jobs to rank; small: 100, 1,000 and 20); --requests and --warmup apply to it.
    legs = [run_leg(module, backend, options.leg_args()) for backend in options.backends]
    return Outcome(
        markdown=suggestions.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


def run_realtime(options: Options) -> Outcome:
    module = "infra.bench.realtime"
    # PostgreSQL only: two daphne processes must share a channel layer (Redis), which the
    # embedded default has not; the SQLite leg is reported as skipped, with the reason. Its
    # size follows --scale (large: 500 sockets, 1,000 assignments; small: 50 and 100);
    # --requests and --warmup do not apply to it.
    legs = [
        run_leg(module, backend, ["--scale", options.scale])
        if backend == "postgres"
        else realtime.skipped_leg(backend)
        for backend in options.backends
    ]
    return Outcome(
        markdown=realtime.render_markdown(legs),
        failed=any("error" in leg for leg in legs),
    )


BENCHMARKS: list[Benchmark] = [
    Benchmark(key="account_list", title="Account list (issue 2)", run=run_account_list),
    Benchmark(key="sync_initial", title="Initial sync (issue 3)", run=run_sync_initial),
    Benchmark(
        key="sync_delta", title="Delta pull and poke to applied (issue 3)", run=run_sync_delta
    ),
    Benchmark(
        key="territory_assign", title="Territory assignment (issue 4)", run=run_territory_assign
    ),
    Benchmark(
        key="territory_preview",
        title="Realignment preview (issue 4)",
        run=run_territory_preview,
    ),
    Benchmark(key="day_plan", title="Day plan quality and re-plan (issue 5)", run=run_day_plan),
    Benchmark(key="suggestions", title="Dispatch suggestions (issue 5)", run=run_suggestions),
    Benchmark(
        key="realtime",
        title="Assignment notices and push throughput (issue 6)",
        run=run_realtime,
    ),
]


# ------------------------------------------------------------------------------ doc


def command_output(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        list(argv), capture_output=True, text=True, check=False, cwd=REPO_ROOT, timeout=30
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def machine_facts() -> dict[str, str]:
    memory = next(
        (line.split()[1] for line in command_output("free", "-g").splitlines()
         if line.startswith("Mem:")),
        "?",
    )  # fmt: skip
    model = next(
        (line.split(":", 1)[1].strip() for line in command_output("lscpu").splitlines()
         if line.startswith("Model name")),
        platform.processor() or "?",
    )  # fmt: skip
    versions = []
    for name in ("django", "rest_framework", "psycopg"):
        try:
            module = __import__(name)
            versions.append(f"{name} {module.__version__}")
        except ImportError:
            continue
    return {
        "cpus": command_output("nproc") or str(os.cpu_count()),
        "memory_gib": memory,
        "model": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(versions),
    }


def code_state() -> str:
    """The commit, and a digest of uncommitted changes to tracked files if there are any."""
    commit = command_output("git", "rev-parse", "--short", "HEAD") or "?"
    diff = command_output("git", "diff", "HEAD")
    if diff:
        commit += (
            f" with uncommitted changes (diff {hashlib.sha256(diff.encode()).hexdigest()[:8]})"
        )
    return commit


def commit_line(before: str, after: str) -> str:
    if before == after:
        return f"- Commit: {before}."
    return (
        f"- Commit: {before} at the start, {after} at the end. **The code changed during the "
        "run**, so the legs may not all have measured the same code; run it again."
    )


def command_line(argv: Sequence[str]) -> str:
    base = ".venv/bin/python -m infra.bench.run_all"
    return f"`make bench` (`{base}`)" if not argv else f"`{base} {' '.join(argv)}`"


def machine_section(
    facts: dict[str, str], date: str, command: str, elapsed_s: float, commit: str
) -> str:
    return "\n".join(
        [
            f"- Date: {date}",
            f"- Command: {command}, run from the repository root; it took "
            f"{elapsed_s / 60:.1f} min.",
            f"- Machine: {facts['cpus']} CPUs (`nproc`), {facts['memory_gib']} GiB of memory "
            f"(`free -g`), {facts['model']} (`lscpu`), {facts['kernel']}; a shared virtual "
            "machine.",
            f"- Python {facts['python']}; {facts['packages']}.",
            commit,
        ]
    )


def replace_section(text: str, key: str, title: str, body: str) -> str:
    """``text`` with the section between KEY's markers replaced (appended if missing)."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{start}\n## {title}\n\n{body.rstrip()}\n{end}"
    head, found_start, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if found_start and found_end:
        return head + block + tail
    return text.rstrip() + "\n\n" + block + "\n"


def write_doc(path: Path, sections: Sequence[tuple[str, str, str]]) -> None:
    text = path.read_text() if path.exists() else DOC_HEADER
    for key, title, body in sections:
        text = replace_section(text, key, title, body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", action="append", choices=[b.key for b in BENCHMARKS])
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case")
    parser.add_argument("--scale", choices=["large", "small"], default="large")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--doc", type=Path, default=DOC, help=f"default: {DOC.relative_to(REPO_ROOT)}"
    )
    target.add_argument("--no-write", action="store_true", help="print the results only")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")

    # Let `kill` (SIGTERM) unwind like Ctrl-C, so that the services are always stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    options = Options(
        backends=tuple(args.backend or BACKENDS),
        requests=args.requests,
        warmup=args.warmup,
        scale=args.scale,
    )
    started = time.perf_counter()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = command_line(argv)
    code_before = code_state()
    chosen = [b for b in BENCHMARKS if not args.only or b.key in args.only]
    sections: list[tuple[str, str, str]] = []
    failed = False
    for benchmark in chosen:
        bench_started = time.perf_counter()
        outcome = benchmark.run(options)
        failed |= outcome.failed
        minutes = (time.perf_counter() - bench_started) / 60
        run_line = (
            f"_Run {date} with {command} ({minutes:.1f} min for this benchmark); "
            "machine as described at the top._\n\n"
        )
        sections.append((benchmark.key, benchmark.title, run_line + outcome.markdown))

    elapsed = time.perf_counter() - started
    code_after = code_state()
    if code_after != code_before:
        log(f"warning: the code changed during the run ({code_before} -> {code_after})")
    commit = commit_line(code_before, code_after)
    machine = machine_section(machine_facts(), date, command, elapsed, commit)
    all_sections = [("machine", "Machine and command of the last run", machine), *sections]
    for _, title, body in all_sections:
        print(f"## {title}\n\n{body}")
    if not args.no_write:
        write_doc(args.doc, all_sections)
        log(f"wrote {args.doc}")
    log(f"done in {elapsed / 60:.1f} min" + ("; a leg FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
