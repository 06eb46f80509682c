#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned requirements, once per requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.requirements.sha256
want=$(cat requirements.txt | sha256sum | cut -d' ' -f1)

find_python() {
  if [ -n "${PYTHON310:-}" ] && [ -x "$PYTHON310" ]; then echo "$PYTHON310"; return; fi
  if command -v python3.10 >/dev/null 2>&1; then
    p=$(command -v python3.10)
    if "$p" -c 'import sys; assert sys.version_info[:2]==(3,10)' 2>/dev/null; then echo "$p"; return; fi
  fi
  for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*; do
    if [ -x "$d/bin/python3.10" ]; then echo "$d/bin/python3.10"; return; fi
  done
  echo ""
}

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

PY=$(find_python)
if [ -z "$PY" ]; then
  cat >&2 <<'MSG'
ERROR: Python 3.10 is required (Rasa Open Source 3.6 supports Python 3.8-3.10 only).
Install it, for example:
  pyenv install 3.10.13            # with pyenv
  sudo apt-get install python3.10 python3.10-venv   # Debian/Ubuntu with a 3.10 package
or point PYTHON310 at a python3.10 binary:  PYTHON310=/path/to/python3.10 make test
MSG
  exit 1
fi
echo "[venv] using $PY"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip==24.3.1" 2>&1 | grep -v "is ignored" || true
echo "[venv] installing pinned requirements (first time: about 3 minutes)"
"$VENV/bin/python" -m pip install --quiet --no-input -r requirements.txt 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c "import rasa, rasa_sdk, telegram, aiohttp_jinja2, argon2" 
echo "$want" > "$STAMP"
echo "[venv] ready"
