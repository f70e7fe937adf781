#!/usr/bin/env bash
# `make run`: migrate, load the demo data once, then serve HTTP and WebSockets with daphne and
# run the task worker and the push worker beside it. Stops them all on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo --scale small --seed 1 --if-empty

cat <<INFO

  Fieldline is running on the embedded default (SQLite, in-memory channel layer, local files,
  recorded push notifications).

  API docs (Swagger UI)  http://$HOST:$PORT/api/docs/
  ReDoc                  http://$HOST:$PORT/api/redoc/
  OpenAPI schema         http://$HOST:$PORT/api/schema/
  Admin                  http://$HOST:$PORT/admin/          (admin / fieldline-demo)
  REST API               http://$HOST:$PORT/api/v1/
  Device WebSocket       ws://$HOST:$PORT/ws/device/?token=<access token>
  Dispatch board         ws://$HOST:$PORT/ws/dispatch/?token=<access token>   (dispatcher1)
  Health                 http://$HOST:$PORT/healthz   http://$HOST:$PORT/readyz

  Demo logins (password for all: fieldline-demo)
    admin           admin
    dispatcher      dispatcher1, dispatcher2
    technician      tech1 ... tech12
    sales rep       rep1 ... rep6
    sales manager   salesmanager
    service manager servicemanager
    finance         finance

  Sign in as a device:
    curl -s -X POST http://$HOST:$PORT/api/v1/auth/login/ -H 'Content-Type: application/json' \\
      -d '{"username":"rep1","password":"fieldline-demo","device_id":"demo-tablet-1","platform":"android","app_version":"1.0.0"}'

INFO

$PY manage.py db_worker --queue-name='*' --no-reload &
worker=$!
$PY manage.py run_worker &
push=$!
trap 'kill $worker $push 2>/dev/null || true' EXIT INT TERM
exec_status=0
.venv/bin/daphne --bind "$HOST" --port "$PORT" server.asgi:application || exec_status=$?
exit $exec_status
