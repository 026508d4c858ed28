# Shared by scripts/test.sh, bench.sh and demo.sh (sourced, not run).
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$REPO_ROOT/scripts/services.sh"
cd "$REPO_ROOT" || exit 1

# Swift 6.3.1 lives in /opt/swift on the project's machines.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

say() { printf '\n==> %s\n' "$*"; }

# Starts the private servers and exports their environment; they are stopped when the
# calling script exits, however it exits (success, failure, Ctrl-C, SIGTERM).
# SAMPARK_KEEP_SERVICES=1 leaves them running afterwards (for poking at them by hand).
start_services() {
    trap stop_services EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "starting private RabbitMQ and PostgreSQL (scripts/services.sh start)"
    "$SERVICES" start
    eval "$("$SERVICES" env)"
}

stop_services() {
    local status=$?
    if [ "${SAMPARK_KEEP_SERVICES:-0}" = 1 ]; then
        printf '\n==> leaving the services running (SAMPARK_KEEP_SERVICES=1); stop them with: make services-down\n'
    else
        printf '\n==> stopping the private servers\n'
        "$SERVICES" stop || true
    fi
    exit "$status"
}
