#!/usr/bin/env bash
# `make demo`: Sampark's main job end to end, on a fresh Debian 12 machine, at the size of a
# state: a network shaped like Madhya Pradesh (10 divisions, 55 districts, 230 ACs, about
# 65,000 booths, committees and workers at every level, 1,000,000 voters and beneficiaries,
# past results, a three-phase poll calendar with phase 1 today, 30 call centres).
#
#   install what is missing → private RabbitMQ and PostgreSQL → build → migrate → topology →
#   `sampark generate` writes the state's files → the workers load them → the central team
#   publishes material → a list of every campaign kind → 30 centres × 36 agents (desk-sim)
#   work a calling day (09:00-21:00 IST) on a clock 300 times faster, the dispatcher pacing
#   them lawfully → outcomes aggregated → at 21:00 IST the reporter publishes every district's,
#   the state's and the nation's report by itself; a queue bound as the state's IT team's reads
#   them → the state's report, a district's, and a constituency dossier printed as tables.
#
# DEMO_VOTERS=200000 make demo   runs a smaller state (the default is 1,000,000).
# Worker logs (JSON lines) and the generated files are kept in .run/demo/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR="$REPO_ROOT/.run/demo"
VOTERS="${DEMO_VOTERS:-1000000}"
SPEED="${DEMO_SPEED:-300}"
declare -A PIDS=()
DEMO_STARTED=$SECONDS

stop_workers() {
    local status=$?
    if [ "${#PIDS[@]}" -gt 0 ]; then
        say "stopping the workers (SIGTERM: they finish what they hold, then exit)"
        for worker in "${!PIDS[@]}"; do kill -TERM "${PIDS[$worker]}" 2>/dev/null || true; done
        for worker in "${!PIDS[@]}"; do
            if wait "${PIDS[$worker]}"; then echo "  $worker exited 0"; else echo "  $worker exited $?"; status=1; fi
        done
        PIDS=()
    fi
    stop_services_with "$status"
}

stop_services_with() {
    (exit "$1")
    stop_services
}

say "installing what is missing (scripts/install-deps.sh)"
scripts/install-deps.sh

start_services
# From here on, stop the workers before the servers.
trap stop_workers EXIT

say "swift build (the five workers and the sampark CLI)"
swift build
BIN="$(swift build --show-bin-path)"
SAMPARK="$BIN/sampark"

# A virtual host and a database of the demo's own, made afresh on every run, so the report
# shows this run and nothing left from an earlier one.
say "a fresh RabbitMQ virtual host (sampark-demo) and database (sampark_demo)"
"$SERVICES" rabbitmqctl -q delete_vhost sampark-demo >/dev/null 2>&1 || true
"$SERVICES" rabbitmqctl -q add_vhost sampark-demo
"$SERVICES" rabbitmqctl -q set_permissions -p sampark-demo sampark '.*' '.*' '.*'
psql "$SAMPARK_TEST_POSTGRES_URL" -X -q -c "DROP DATABASE IF EXISTS sampark_demo WITH (FORCE)" -c "CREATE DATABASE sampark_demo"
export SAMPARK_AMQP_URL="${SAMPARK_TEST_AMQP_URL%/*}/sampark-demo"
export SAMPARK_POSTGRES_URL="${SAMPARK_TEST_POSTGRES_URL%/*}/sampark_demo"
export SAMPARK_OFFER_QUEUE_REFRESH=2
TODAY="$(TZ=Asia/Kolkata date +%F)"

say "sampark migrate"
"$SAMPARK" migrate

say "sampark topology"
"$SAMPARK" topology

# Each worker runs as its own PostgreSQL login, holding only its role's grants, as in
# production; the CLI stays the owner (docs/security.md).
say "each worker's own PostgreSQL login (sampark db-login)"
for worker in ingest-worker list-builder dialer-dispatcher feedback-aggregator reporter; do
    SAMPARK_DB_LOGIN_PASSWORD=demo-worker-password "$SAMPARK" db-login "demo_${worker//-/_}" --role "$worker"
done
worker_postgres_url() { echo "${SAMPARK_POSTGRES_URL/:\/\/sampark:sampark@/://demo_${1//-/_}:demo-worker-password@}"; }
# The phone keys: the sealing key and the keyed hash's secret (secrets in production).
export SAMPARK_PHONE_KEYS=1:ZGVtby1waG9uZS1rZXktbm90LWEtc2VjcmV0LTAxMjM=
export SAMPARK_PHONE_HASH_KEY=demo-phone-hash-key-not-a-secret-0123456789

mkdir -p "$DEMO_DIR"
start_worker() {   # name port [VAR=value ...]
    local worker=$1 port=$2
    shift 2
    env SAMPARK_HTTP_PORT="$port" SAMPARK_POSTGRES_URL="$(worker_postgres_url "$worker")" "$@" "$BIN/$worker" >"$DEMO_DIR/$worker.log" 2>&1 &
    PIDS[$worker]=$!
    echo "  $worker (pid ${PIDS[$worker]}, health on http://127.0.0.1:$port/health/ready)"
    for _ in $(seq 1 120); do
        curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "  $worker did not become ready; its log:"; tail -20 "$DEMO_DIR/$worker.log"; return 1
}

say "generating the state (sampark generate: $VOTERS voters and beneficiaries; phase 1 polls today, $TODAY)"
"$SAMPARK" generate --out "$DEMO_DIR/state" --voters "$VOTERS" --poll-date "$TODAY"

say "starting the ingest-worker, list-builder and feedback-aggregator (logs in .run/demo/)"
start_worker ingest-worker 58081
start_worker list-builder 58082
start_worker feedback-aggregator 58084

say "loading the state (each row inserted, updated, unchanged or rejected with its line, field and reason)"
for source in org_units people call_centres booth_results poll_calendar opt_outs contacts; do
    "$SAMPARK" load "$source" "$DEMO_DIR/state/$source.csv"
done

say "the central team publishes campaign material (stored once per id and version)"
"$SAMPARK" material publish "$DEMO_DIR/state/material.json"

say "a list of every campaign kind (relay, scheme feedback, committees, weak booths, today's turnout, candidates)"
for kind in relay scheme_feedback committee_reach weak_booth gotv candidates; do
    "$SAMPARK" list build "$DEMO_DIR/state/lists/$kind.json" --wait
done

say "a request naming a unit nobody loaded is refused at once, naming the field"
printf '%s' '{"kind": "weak_booth", "campaign": {"code": "DEMO-NOWHERE", "name": "Nowhere"}, "audience": {"scope": "AC-999", "election": "AE2023", "party": "BJP"}}' >"$DEMO_DIR/nowhere.json"
"$SAMPARK" list build "$DEMO_DIR/nowhere.json" --wait && { echo "a bad request was not refused"; exit 1; }

# The calling day: today from 09:00 IST, $SPEED times faster, one clock for every process that
# judges time (SAMPARK_CLOCK_ORIGIN: the real instant the clock reads 09:00): the dispatcher's
# calling hours and silence periods, the desks, the reporter's set time (21:00).
SAMPARK_CLOCK_START="${TODAY}T09:00:00+05:30"
SAMPARK_CLOCK_ORIGIN="$(date +%s)"
export SAMPARK_CLOCK_START SAMPARK_CLOCK_ORIGIN SAMPARK_CLOCK_SPEED="$SPEED"
export SAMPARK_REPORT_AT=21:00 SAMPARK_PARTY=BJP
say "the calling day begins: 09:00 IST on a clock $SPEED times faster; the dispatcher and the reporter start"
start_worker dialer-dispatcher 58083
start_worker reporter 58085

CENTRES="$(tail -n +2 "$DEMO_DIR/state/call_centres.csv" | cut -d, -f1 | paste -sd, -)"
"$SAMPARK" report tail --pattern 'report.daily.MP.#' --count 56 --json >"$DEMO_DIR/state-it-reports.jsonl" &
tail_pid=$!

say "30 centres x 36 agents in two shifts work the day (sampark desk-sim), until 21:00 IST"
"$SAMPARK" desk-sim --centre "$CENTRES" --agents 36 --shifts "09:00-15:00;15:00-21:00" --duration 43200 --idle 0 --quiet

say "21:00 IST: the reporter publishes every district's, the state's and the nation's daily report by itself"
for _ in $(seq 1 120); do kill -0 "$tail_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$tail_pid" 2>/dev/null; then
    kill "$tail_pid" 2>/dev/null || true
    echo "  the state IT queue had $(grep -c "^{" "$DEMO_DIR/state-it-reports.jsonl") of 56 reports after a minute"
    exit 1
fi
echo "  a queue bound as Madhya Pradesh IT's (report.daily.MP.#) received $(grep -c "^{" "$DEMO_DIR/state-it-reports.jsonl") reports: 55 districts and the state"

say "the state's daily report"
"$SAMPARK" report request --scope MP

say "one district's (Chhindwara, D23)"
"$SAMPARK" report request --scope D23

say "the nation's report as CSV (first rows; one row per figure)"
"$SAMPARK" report request --csv >"$DEMO_DIR/national.csv"
head -12 "$DEMO_DIR/national.csv"

say "the war room's one-click dossier of AC-100"
"$SAMPARK" report dossier --constituency AC-100 --people 10 | awk 'NR <= 60'

say "what the database says (the reports must add up to this)"
psql "$SAMPARK_POSTGRES_URL" -X -q -c "
    SELECT k.code AS campaign, count(*) AS calls,
           count(*) FILTER (WHERE a.result = 'connected') AS connected,
           count(*) FILTER (WHERE a.result = 'no_answer') AS no_answer,
           count(*) FILTER (WHERE a.result NOT IN ('connected', 'no_answer')) AS other
    FROM attempts a JOIN campaigns k ON k.id = a.campaign_id GROUP BY k.code ORDER BY k.code" \
    -c "SELECT reason AS refused_by, sum(calls) AS calls FROM dispatch_refusals GROUP BY 1 ORDER BY 1"

echo
echo "make demo: OK in $((SECONDS - DEMO_STARTED)) s (worker logs and the generated state in .run/demo/)"
