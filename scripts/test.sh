#!/usr/bin/env bash
# `make test`: everything from a fresh Debian 12 machine to a verdict.
#   1. install what is missing (scripts/install-deps.sh)
#   2. start private RabbitMQ and PostgreSQL on loopback (scripts/services.sh), stopped on exit
#   3. swift build --build-tests
#   4. the normal tests, in parallel, skipping suites whose names contain "Disruptive" and the
#      system tests (SamparkEndToEndTests)
#   5. the system tests: the workers and CLI as real processes, one test at a time
#   6. the Disruptive suites (they restart or pause the servers) alone, one test at a time
#   7. static checks: compose.yaml, Dockerfiles, message schemas
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

# Static checks: what no container engine here can run is at least validated.
#   compose.yaml against the Compose specification's JSON Schema (check-jsonschema);
#   every Dockerfile with hadolint; message schemas (schemas/messages/*.json, from the
#   skeleton issue on) against their metaschema, and their examples against them.
say "static checks: compose.yaml, Dockerfiles, message schemas"
static="passed"
if ! check-jsonschema --builtin-schema vendor.compose-spec compose.yaml; then
    static="FAILED"; failed+=("compose.yaml")
fi
# Beyond the schema: every Sampark service runs an executable the package really builds.
if ! python3 - <<'PY'
import re, sys
from ruamel.yaml import YAML   # comes with check-jsonschema
products = set(re.findall(r'\.executable\(name: "([^"]+)"', open("Package.swift").read()))
bad = []
for name, service in YAML(typ="safe").load(open("compose.yaml"))["services"].items():
    if service.get("image") == "sampark:latest":
        command = service.get("command", [])
        program = command[2].split()[0] if command[:2] == ["sh", "-c"] else command[0]
        if program not in products:
            bad.append(f"{name}: {program}")
if bad:
    print("compose.yaml runs programs the package does not build: " + ", ".join(bad))
    sys.exit(1)
print("compose.yaml: every Sampark service runs a product of Package.swift")
PY
then
    static="FAILED"; failed+=("compose.yaml commands")
fi
mapfile -t dockerfiles < <(find . -path ./.build -prune -o -path ./.run -prune -o -name 'Dockerfile*' -type f -print)
if [ "${#dockerfiles[@]}" -gt 0 ] && ! hadolint "${dockerfiles[@]}"; then
    static="FAILED"; failed+=("Dockerfiles")
fi
if compgen -G "schemas/messages/*.json" >/dev/null; then
    if ! check-jsonschema --check-metaschema schemas/messages/*.json; then
        static="FAILED"; failed+=("message schemas")
    fi
fi

echo
if [ "${#failed[@]}" -eq 0 ]; then
    echo "make test: PASSED (normal tests: $normal; system tests: $system; disruptive tests: $disruptive; static checks: $static)"
else
    echo "make test: FAILED: ${failed[*]} (normal tests: $normal; system tests: $system; disruptive tests: $disruptive; static checks: $static)"
    exit 1
fi
