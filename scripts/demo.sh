#!/usr/bin/env bash
# `make demo`: Sampark's main job end to end, on a fresh Debian 12 machine.
#
#   install what is missing → private RabbitMQ and PostgreSQL → build → migrate → topology →
#   the five workers as processes → load every sample file and the campaign material →
#   build call lists → desks work the calls the dispatcher paces → outcomes are aggregated →
#   the daily report is published and read back off the report exchange → everything stops.
#
# Worker logs (JSON lines) are kept in .run/demo/ for reading afterwards.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR="$REPO_ROOT/.run/demo"
WORKERS=(ingest-worker list-builder dialer-dispatcher feedback-aggregator reporter)
declare -A PIDS=()

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
# A rehearsal of today from 10:00 IST on a clock running 30 times faster (every process reads
# it: the dispatcher's calling-hours and silence rules, the desks, the report's day), so the
# demo calls within the lawful hours whenever it is run, and a call takes seconds.
SAMPARK_CLOCK_START="$(date -u -d '+5 hours 30 minutes' +%F)T10:00:00+05:30"
export SAMPARK_CLOCK_START SAMPARK_CLOCK_SPEED=30

say "sampark migrate"
"$SAMPARK" migrate

say "sampark topology"
"$SAMPARK" topology

say "starting the workers (logs in .run/demo/)"
mkdir -p "$DEMO_DIR"
port=58081
for worker in "${WORKERS[@]}"; do
    SAMPARK_HTTP_PORT=$port "$BIN/$worker" >"$DEMO_DIR/$worker.log" 2>&1 &
    PIDS[$worker]=$!
    echo "  $worker (pid ${PIDS[$worker]}, health on http://127.0.0.1:$port/health/ready)"
    port=$((port + 1))
done
for attempt in $(seq 1 60); do
    ready=0
    for p in 58081 58082 58083 58084 58085; do
        curl -fsS "http://127.0.0.1:$p/health/ready" >/dev/null 2>&1 && ready=$((ready + 1))
    done
    [ "$ready" = 5 ] && break
    sleep 0.5
done
echo "  $ready of 5 workers ready"

say "loading the sample files (each row inserted, updated, unchanged or rejected with its line, field and reason)"
for source in org_units people call_centres booth_results poll_calendar opt_outs contacts turnout_marks; do
    "$SAMPARK" load "$source" "samples/$source.csv"
done

say "loading contacts again: nothing changes (every accepted row unchanged)"
"$SAMPARK" load contacts samples/contacts.csv

say "the central team publishes campaign material (stored once per id and version)"
"$SAMPARK" material publish samples/material.json

say "building a beneficiary-feedback list for the state (samples/lists/scheme_feedback.json: one call per phone, every rule counted)"
"$SAMPARK" list build samples/lists/scheme_feedback.json --wait

say "the same request again: the same list comes back, no second one is built"
"$SAMPARK" list build samples/lists/scheme_feedback.json --wait

say "two people of every booth committee (samples/lists/committee_reach.json)"
"$SAMPARK" list build samples/lists/committee_reach.json --wait

say "a request naming a unit nobody loaded is refused at once, naming the field"
printf '%s' '{"kind": "weak_booth", "campaign": {"code": "DEMO-NOWHERE", "name": "Nowhere"}, "audience": {"scope": "AC-999", "election": "AE2023", "party": "BJP"}}' >"$DEMO_DIR/nowhere.json"
"$SAMPARK" list build "$DEMO_DIR/nowhere.json" --wait && { echo "a bad request was not refused"; exit 1; }

say "the agents of both centres log in and work the calls (sampark desk-sim; the dispatcher offers as they free up, lawfully)"
"$SAMPARK" desk-sim --centre DRG-01,RJN-01 --agents 4 --idle 8

say "every district's, the state's and the nation's daily report, published on sampark.reports; a queue bound like Chhattisgarh IT's (report.daily.CG.#) reads them"
"$SAMPARK" report tail --pattern 'report.daily.CG.#' --count 3 >"$DEMO_DIR/state-it.txt" &
tail_pid=$!
sleep 1
"$SAMPARK" report request --all
wait "$tail_pid"
cat "$DEMO_DIR/state-it.txt"

say "the nation's report as CSV (one row per figure)"
"$SAMPARK" report request --csv >"$DEMO_DIR/national.csv"
head -20 "$DEMO_DIR/national.csv"

say "the war room's one-click dossier of AC-62"
"$SAMPARK" report dossier --constituency AC-62 --party BJP --people 8

say "what the database says (the report must add up to this)"
psql "$SAMPARK_POSTGRES_URL" -X -q -c "
    SELECT c.code AS centre, count(*) AS calls,
           count(*) FILTER (WHERE a.result = 'connected') AS connected,
           count(*) FILTER (WHERE a.result = 'no_answer') AS no_answer,
           count(*) FILTER (WHERE a.result = 'busy') AS busy,
           count(*) FILTER (WHERE a.result IN ('switched_off', 'not_reachable')) AS unreachable,
           count(*) FILTER (WHERE a.result = 'wrong_number') AS wrong_number,
           count(*) FILTER (WHERE a.result NOT IN ('connected', 'no_answer', 'busy', 'switched_off', 'not_reachable', 'wrong_number')) AS other
    FROM attempts a JOIN call_centres c ON c.id = a.centre_id GROUP BY c.code ORDER BY c.code" \
    -c "SELECT state, coalesce(last_result, '') AS last_result, count(*) AS entries FROM list_entries GROUP BY 1, 2 ORDER BY 1, 2" \
    -c "SELECT reason AS refused_by, sum(calls) AS calls FROM dispatch_refusals GROUP BY 1 ORDER BY 1"

echo
echo "make demo: OK (worker logs in .run/demo/)"
