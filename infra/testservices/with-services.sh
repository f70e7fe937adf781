#!/usr/bin/env bash
# Run a command against throwaway PostgreSQL, Redis and S3 (moto) services.
#
#   infra/testservices/with-services.sh CMD [ARGS...]
#
# Starts the services in a fresh temp dir, exports DATABASE_URL, REDIS_URL, S3_* and
# AWS_* for CMD, always stops the services and removes the dir afterwards, and exits
# with CMD's exit status. PYTHON overrides the interpreter (default: the repo's
# .venv/bin/python); TESTSERVICES_KEEP_DIR=1 keeps the temp dir (logs) after stopping.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-$here/../../.venv/bin/python}"
services=("$PYTHON" "$here/services.py")

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [[ ! -x "$PYTHON" ]]; then
    echo "with-services.sh: python interpreter not found: $PYTHON (set PYTHON=...)" >&2
    exit 127
fi

services_dir="$(mktemp -d "${TMPDIR:-/tmp}/fieldline-services.XXXXXX")"
chmod 755 "$services_dir"  # the postgres user must be able to traverse it

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    local keep=()
    [[ "${TESTSERVICES_KEEP_DIR:-}" == 1 ]] && keep=(--keep-dir)
    "${services[@]}" down --dir "$services_dir" "${keep[@]}" >&2 || true
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Keep CMD's stdout clean: progress and the env listing go to stderr.
if ! "${services[@]}" up --dir "$services_dir" >&2; then
    echo "with-services.sh: services failed to start; not running $1" \
        "(TESTSERVICES_KEEP_DIR=1 keeps the logs)" >&2
    exit 1
fi

set -a
# shellcheck source=/dev/null
. "$services_dir/env"
set +a

status=0
"$@" || status=$?
exit "$status"
