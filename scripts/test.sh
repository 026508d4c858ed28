#!/usr/bin/env bash
# `make test`: everything from a fresh Debian 12 machine to a verdict.
#   1. install what is missing (scripts/install-deps.sh)
#   2. start private RabbitMQ and PostgreSQL on loopback (scripts/services.sh), stopped on exit
#   3. swift build --build-tests
#   4. the normal tests, in parallel, skipping suites whose names contain "Disruptive" and the
#      system tests (SamparkEndToEndTests)
#   5. the system tests: the workers and CLI as real processes, one test at a time
#   6. the Disruptive suites (they restart or pause the servers) alone, one test at a time
#   7. static checks (scripts/check-static.sh): compose.yaml, Dockerfiles, Prometheus, Grafana,
#      message schemas, the AsyncAPI document and the broker definitions against the code
# Exits non-zero if any step fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

say "installing what is missing (scripts/install-deps.sh)"
scripts/install-deps.sh

start_services

say "swift build --build-tests"
if ! swift build --build-tests; then
    echo
    echo "make test: FAILED (swift build --build-tests failed; no test ran)"
    exit 1
fi

failed=()
normal="not run"
system="not run"
disruptive="none"

say "normal tests: swift test --skip-build --skip Disruptive --skip SamparkEndToEndTests"
if swift test --skip-build --skip Disruptive --skip SamparkEndToEndTests; then
    normal="passed"
else
    normal="FAILED"; failed+=("normal tests")
fi

# The system tests run the five workers and the CLI as real processes (a vhost and a database
# each): one at a time, so two clusters of processes never fight over the two cores.
say "system tests, one at a time: swift test --skip-build --filter SamparkEndToEndTests --skip Disruptive --no-parallel"
if swift test --skip-build --filter SamparkEndToEndTests --skip Disruptive --no-parallel; then
    system="passed"
else
    system="FAILED"; failed+=("system tests")
fi

# A filter that matches nothing still "passes" with 0 tests: look first. (The list goes into a
# variable: `swift test list | grep -q` would fail under pipefail when grep stops reading early.)
if ! test_list="$(swift test list --skip-build 2>/dev/null)"; then
    echo "make test: FAILED (could not list the tests)"
    exit 1
fi
if grep -q 'Disruptive' <<<"$test_list"; then
    say "disruptive tests, alone and one at a time: swift test --skip-build --filter Disruptive --no-parallel"
    if swift test --skip-build --filter Disruptive --no-parallel; then
        disruptive="passed"
    else
        disruptive="FAILED"; failed+=("disruptive tests")
    fi
else
    # The restart, pause and disconnect tests are part of the proof; never lose them quietly.
    disruptive="MISSING"; failed+=("no Disruptive suites were found")
fi

# Static checks: what no container engine here can run is at least validated, and what ops
# read is cross-checked with the code (scripts/check-static.sh lists them): compose.yaml (schema,
# users, ports, PostgreSQL's settings), Dockerfiles (hadolint), Prometheus's configuration and
# alerts (promtool), the Grafana dashboards, the message schemas against their metaschema, and
# schemas/asyncapi.yaml and deploy/rabbitmq/definitions.json against the topology the built
# `sampark` declares (step 3 built it). Each failed check is named in the verdict.
say "static checks: scripts/check-static.sh"
static="passed"
static_failed="$(mktemp)"
if ! scripts/check-static.sh --report "$static_failed"; then
    static="FAILED"
    mapfile -t static_names < "$static_failed"
    [ "${#static_names[@]}" -gt 0 ] || static_names=("static checks")
    failed+=("${static_names[@]}")
fi
rm -f "$static_failed"

echo
if [ "${#failed[@]}" -eq 0 ]; then
    echo "make test: PASSED (normal tests: $normal; system tests: $system; disruptive tests: $disruptive; static checks: $static)"
else
    echo "make test: FAILED: ${failed[*]} (normal tests: $normal; system tests: $system; disruptive tests: $disruptive; static checks: $static)"
    exit 1
fi
