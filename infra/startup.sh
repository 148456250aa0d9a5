#!/usr/bin/env bash
# App Service (Linux, Python 3.11) startup command: `bash infra/startup.sh`, run from the
# deployed app's root (the repository root: pyproject.toml, bot/, infra/ ...).
#
# Dependencies go into a virtual environment under /home (persistent across restarts and
# shared by instances), reinstalled only when pyproject.toml changes; the code itself is
# then imported from the deployed tree. Then the bot replaces this shell (`exec`), so
# App Service's stop signal reaches it directly.
set -euo pipefail

cd "$(dirname "$0")/.."

VENV="${CRMCARD_VENV:-/home/site/crmcard-venv}"
STAMP="$VENV/.crmcard-pyproject.sha256"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"

# Instances share /home: one installs, the others wait for it.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

if [ ! -x "$VENV/bin/python" ] \
    || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ] \
    || ! "$VENV/bin/python" -m pip show crmcard >/dev/null 2>&1; then
    echo "startup: installing crmcard into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --no-cache-dir --upgrade pip
    "$VENV/bin/python" -m pip install --no-cache-dir .
    echo "$WANT" > "$STAMP"
fi
exec 9>&-

export PATH="$VENV/bin:$PATH"
exec python -m bot serve
