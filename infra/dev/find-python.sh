#!/usr/bin/env bash
# Prints the path of a Python 3.12+ interpreter, or fails naming what is missing.
set -euo pipefail
candidates=(python3.12 python3.13 python3.14)
for name in "${candidates[@]}"; do
  if path=$(command -v "$name" 2>/dev/null) && "$path" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "$path"; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for path in "$root"/versions/3.12*/bin/python3.12 "$root"/versions/3.13*/bin/python3.13; do
    if [ -x "$path" ]; then echo "$path"; exit 0; fi
  done
fi
echo "fieldline: Python 3.12 or newer is required (Django 6.1) and none was found:" \
     "install python3.12 (apt-get install python3.12-venv, or pyenv install 3.12)" >&2
exit 1
