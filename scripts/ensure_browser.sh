#!/usr/bin/env bash
# Make sure a headless Chromium from Debian's packages exists for the dashboard browser tests.
# Usage: scripts/ensure_browser.sh        (exit 0 when /usr/bin/chromium is ready)
# Override the path with CHROMIUM_PATH. Playwright's own browser download is not used: the
# project tests against Debian's chromium package (no network except package registries).
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    cat >&2 <<MSG
ERROR: $CHROMIUM is missing and this script is not running as root, so it cannot install it.
Install Debian's chromium package once, as root:
    sudo apt-get update && sudo apt-get install -y chromium
or point CHROMIUM_PATH at an existing Chromium binary. The browser tests are skipped until then.
MSG
    exit 2
  fi
else
  SUDO=""
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: apt-get not found; install Chromium with your system's package manager and set CHROMIUM_PATH." >&2
  exit 2
fi

echo "Installing Debian's chromium package (needed by the dashboard browser tests)..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "ERROR: chromium was installed but $CHROMIUM does not exist; set CHROMIUM_PATH." >&2
  exit 2
fi
echo "Chromium ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")" >&2
