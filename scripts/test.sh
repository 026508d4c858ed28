#!/usr/bin/env bash
# `make test`: everything from a fresh Debian 12 machine to a verdict.
#   1. install what is missing (scripts/install-deps.sh)
#   2. start private RabbitMQ and PostgreSQL on loopback (scripts/services.sh), stopped on exit
#   3. swift build --build-tests
#   4. the normal tests, in parallel, skipping suites whose names contain "Disruptive"
#   5. the Disruptive suites (they restart or pause the servers) alone, one test at a time
#   6. static checks (schemas/), once there is something to check
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
disruptive="none"

say "normal tests: swift test --skip-build --skip Disruptive"
if swift test --skip-build --skip Disruptive; then
    normal="passed"
else
    normal="FAILED"; failed+=("normal tests")
fi

# A filter that matches nothing still "passes" with 0 tests: look first.
if swift test --skip-build --list-tests 2>/dev/null | grep -q 'Disruptive'; then
    say "disruptive tests, alone and one at a time: swift test --skip-build --filter Disruptive --no-parallel"
    if swift test --skip-build --filter Disruptive --no-parallel; then
        disruptive="passed"
    else
        disruptive="FAILED"; failed+=("disruptive tests")
    fi
fi

# --- HOOK: static checks ----------------------------------------------------------------------
# Message schemas (schemas/*.json) will be checked here with check-jsonschema (installed by
# install-deps.sh): each schema against its metaschema, and the examples against their schema.
# Nothing is checked yet; when there is something to check, a failure adds to "failed".
schemas="none"
if compgen -G "schemas/*.json" >/dev/null; then
    schemas="present, not checked yet (hook in scripts/test.sh)"
fi
# ----------------------------------------------------------------------------------------------

echo
if [ "${#failed[@]}" -eq 0 ]; then
    echo "make test: PASSED (normal tests: $normal; disruptive tests: $disruptive; schemas: $schemas)"
else
    echo "make test: FAILED: ${failed[*]} (normal tests: $normal; disruptive tests: $disruptive; schemas: $schemas)"
    exit 1
fi
