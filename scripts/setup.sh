#!/usr/bin/env bash
# Installs everything crmcard needs on a fresh Debian machine: the Python venv,
# the npm tools (Agents Playground, Azurite), the admin console's bundle, PostgreSQL
# (the tests start their own server) and, for the browser tests, Chromium.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[[ "${1:-}" == "--with-browser" ]] && want_browser=1

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [[ ! -f "$stamp" ]]; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e '.[dev]'
    touch "$stamp"
fi

if [[ ! -d node_modules/azurite || package.json -nt node_modules/.package-lock.json ]]; then
    npm install --no-audit --no-fund --loglevel=error
fi

# The admin console and the API reference page (console/dist), rebuilt when a source is newer.
if [[ ! -f console/dist/console.js ]] || [[ -n "$(find console/src console/api-docs console/build.mjs bot/i18n/locales \
        package-lock.json -newer console/dist/console.js -print -quit)" ]]; then
    npm run --silent build:console
fi

sudo_cmd=""
[[ $(id -u) != 0 ]] && sudo_cmd=sudo

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql
fi

if ! command -v wrk >/dev/null; then  # the load generator of bench/production.py
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq wrk
fi

if [[ $want_browser == 1 ]] && ! command -v chromium >/dev/null; then
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-noto-color-emoji
fi
