#!/usr/bin/env bash
# Runs every test: installs what is missing first (venv, npm tools, Chromium), then
# pytest. Azurite, the Agents Playground and the bot are started by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-browser
exec .venv/bin/pytest -q "$@"
