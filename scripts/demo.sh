#!/usr/bin/env bash
# The crmcard demo on one machine, no Microsoft 365 tenant needed: installs what is
# missing, then runs the bot and the Microsoft 365 Agents Playground (a local Teams
# emulator) pointed at it. Open the printed URL, then simulate a call. Ctrl-C stops both.
#
# Environment (all optional):
#   CRMCARD_PORT      the bot's port (default 3978)
#   PLAYGROUND_PORT   the Playground's port (default 56150; it picks a free one if taken)
#   CRMCARD_DATA_DIR  where the bot keeps its state (default .crmcard in the repo)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

scripts/setup.sh

bot_port="${CRMCARD_PORT:-3978}"
playground_port="${PLAYGROUND_PORT:-56150}"
bot_url="http://127.0.0.1:${bot_port}"
run_dir="$repo/.crmcard/demo"
mkdir -p "$run_dir"
bot_log="$run_dir/bot.log"
playground_log="$run_dir/playground.log"

# Both processes are children of this script; stop them however it ends.
bot_pid=""
playground_pid=""
stop() {
    trap - EXIT INT TERM
    [[ -z "$bot_pid$playground_pid" ]] && return
    echo
    echo "Stopping the bot and the Playground..."
    for pid in $playground_pid $bot_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $playground_pid $bot_pid; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
http_ok() {
    .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$1" >/dev/null 2>&1
}

if port_busy "$bot_port"; then
    echo "Port $bot_port is already in use (another bot running?). Stop it or set CRMCARD_PORT." >&2
    exit 1
fi

# The bot: unauthenticated (no MicrosoftAppId), demo CRM and demo chat commands on.
# .m365agentsplayground.yml gives the Playground's tenant and user crmcard's local
# defaults (tenant demo-tenant, whose API key is demo-key; agent ...0000a1), so
# `python -m bot simulate` reaches the Playground user as is. Exported values beat a
# .env file, so one written for a real deployment does not break the demo.
export CRMCARD_HOST=127.0.0.1
export CRMCARD_PORT="$bot_port"
export CRMCARD_PUBLIC_URL="$bot_url"
export CRMCARD_DEFAULT_TENANT_ID="${CRMCARD_DEFAULT_TENANT_ID:-demo-tenant}"
demo_keys='{"demo-tenant": "demo-key"}'
export CRMCARD_API_KEYS="${CRMCARD_API_KEYS:-$demo_keys}"
export MicrosoftAppId="" MicrosoftAppPassword=""  # the Playground sends no token
.venv/bin/python -m bot serve >"$bot_log" 2>&1 &
bot_pid=$!

for _ in $(seq 1 150); do
    if http_ok "$bot_url/healthz"; then
        break
    fi
    if ! kill -0 "$bot_pid" 2>/dev/null; then
        echo "The bot exited; its log ($bot_log):" >&2
        cat "$bot_log" >&2
        exit 1
    fi
    sleep 0.2
done
http_ok "$bot_url/healthz" || { echo "The bot did not start; see $bot_log" >&2; exit 1; }

# The Playground reads .m365agentsplayground.yml from its working directory; the
# variables make that explicit and keep its log out of the repo root. Note that it
# listens on all interfaces (it has no option to bind to localhost only).
TEAMSAPPTESTER_BROWSER=none \
    M365_AGENTS_PLAYGROUND_CONFIG_PATH="$repo/.m365agentsplayground.yml" \
    M365_AGENTS_PLAYGROUND_LOGFILE="$run_dir/playground-internal.log" \
    node_modules/.bin/agentsplayground \
    --app-endpoint "$bot_url/api/messages" \
    --channel-id msteams \
    --port "$playground_port" \
    --disable-telemetry >"$playground_log" 2>&1 &
playground_pid=$!

actual_port=""
for _ in $(seq 1 300); do
    actual_port="$(sed -n 's/^Listening on \([0-9][0-9]*\).*/\1/p' "$playground_log" | head -n 1)"
    if [[ -n "$actual_port" ]] && http_ok "http://127.0.0.1:${actual_port}/_debug/ping"; then
        break
    fi
    if ! kill -0 "$playground_pid" 2>/dev/null; then
        echo "The Agents Playground exited; its log ($playground_log):" >&2
        cat "$playground_log" >&2
        exit 1
    fi
    sleep 0.2
done
if [[ -z "$actual_port" ]] || ! http_ok "http://127.0.0.1:${actual_port}/_debug/ping"; then
    echo "The Agents Playground did not start; see $playground_log" >&2
    exit 1
fi

simulate_url=""
[[ "$bot_port" != 3978 ]] && simulate_url=" --url $bot_url"

cat <<EOF

crmcard is running.

  1. Open the Teams emulator (Microsoft 365 Agents Playground) in your browser:

         http://localhost:${actual_port}

     You chat as Avery Agent; crmcard greets you with its welcome card. Open it
     before simulating a call: opening it installs crmcard for Avery, which is how
     the bot learns where to send the card.

  2. Simulate a call from a customer, either by typing in the chat

         call +1 555 0100

     or, as a contact-center platform would, from another terminal:

         cd $repo
         .venv/bin/python -m bot simulate assigned --customer "+1 555 0100"${simulate_url}

     Edward Ferrars' customer card appears in the chat. Link a record with "Link";
     type "end" and "acw" to finish the call.

  Logs: $bot_log
        $playground_log

Press Ctrl-C to stop.
EOF

# Returns when either process exits (or on Ctrl-C, through the traps).
wait -n "$bot_pid" "$playground_pid" || true
echo "A process exited unexpectedly; last lines of the logs:" >&2
tail -n 20 "$bot_log" "$playground_log" >&2
exit 1
