#!/usr/bin/env bash
# The static checks of `make test` (step 7 of scripts/test.sh): what no container engine here
# can run is at least validated, and every artifact ops read is cross-checked with the code.
#
#   scripts/check-static.sh [--report FILE]
#
# --report FILE: the names of the checks that failed, one a line (test.sh lists them).
# The `sampark` binary (for `sampark topology --describe`) is $SAMPARK_BIN, else the debug build
# (`swift build --product sampark` if it is not there yet). Exits 1 if any check fails.
#
#   compose.yaml         the Compose specification's JSON Schema (check-jsonschema)
#   compose              scripts/static/check_compose.py: products, users, health checks,
#                        replicas, loopback ports, mounted files, env files, PostgreSQL settings
#   Dockerfiles          hadolint
#   prometheus           promtool check config (with its rule files), promtool test rules
#   dashboards           scripts/static/check_dashboards.py: Grafana JSON, data sources,
#                        metric names against the sources and RabbitMQ's, PromQL via promtool
#   message schemas      check-jsonschema --check-metaschema schemas/messages/*.json
#   asyncapi schema      schemas/asyncapi.yaml against AsyncAPI 3.0.0's JSON Schema (vendored)
#   definitions.json     scripts/static/check_definitions.py against `sampark topology --describe`
#   asyncapi             scripts/static/check_asyncapi.py against the schemas, the topology, the users
#   self-tests           each python check refuses deliberately broken copies (a check that
#                        cannot fail proves nothing)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

report=""
if [ "${1:-}" = "--report" ]; then report="${2:?--report needs a file}"; fi

failed=()
run() {   # run NAME COMMAND...: one check, its output as it comes
    local name=$1; shift
    printf '\n--- static: %s\n' "$name"
    if "$@"; then
        printf 'static: %s: passed\n' "$name"
    else
        printf 'static: %s: FAILED\n' "$name"
        failed+=("$name")
    fi
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

run "compose.yaml" check-jsonschema --builtin-schema vendor.compose-spec compose.yaml compose.tls.yaml
run "compose" python3 scripts/static/check_compose.py

mapfile -t dockerfiles < <(find . -path ./.build -prune -o -path ./.run -prune -o -name 'Dockerfile*' -type f -print)
if [ "${#dockerfiles[@]}" -gt 0 ]; then run "Dockerfiles" hadolint "${dockerfiles[@]}"; fi

# promtool resolves rule_files against the configuration's folder, as Prometheus does in the
# container (/etc/prometheus): the same relative paths work in both.
run "prometheus" bash -c 'promtool check config deploy/prometheus/prometheus.yml \
    && promtool test rules deploy/prometheus/alerts.test.yml'
run "dashboards" python3 scripts/static/check_dashboards.py

if compgen -G "schemas/messages/*.json" >/dev/null; then
    run "message schemas" bash -c 'check-jsonschema --check-metaschema schemas/messages/*.json'
fi
run "asyncapi schema" check-jsonschema --schemafile schemas/vendor/asyncapi-3.0.0.schema.json schemas/asyncapi.yaml

# The topology as the code declares it, without a broker.
describe() {
    local bin="${SAMPARK_BIN:-}"
    if [ -z "$bin" ]; then
        bin="$(swift build --show-bin-path)/sampark" || return 1
        if [ ! -x "$bin" ]; then
            echo "building sampark (swift build --product sampark)"
            swift build --product sampark || return 1
        fi
    fi
    "$bin" topology --describe > "$tmp/topology.json"
}
run "topology" describe
if [ -s "$tmp/topology.json" ]; then
    run "definitions.json" python3 scripts/static/check_definitions.py "$tmp/topology.json"
    run "asyncapi" python3 scripts/static/check_asyncapi.py "$tmp/topology.json"
    run "self-tests" bash -c "python3 scripts/static/check_compose.py --self-test \
        && python3 scripts/static/check_dashboards.py --self-test \
        && python3 scripts/static/check_definitions.py '$tmp/topology.json' --self-test \
        && python3 scripts/static/check_asyncapi.py '$tmp/topology.json' --self-test"
fi

echo
if [ -n "$report" ]; then
    : > "$report"
    if [ "${#failed[@]}" -gt 0 ]; then printf '%s\n' "${failed[@]}" > "$report"; fi
fi
if [ "${#failed[@]}" -eq 0 ]; then
    echo "static checks: passed"
else
    echo "static checks: FAILED: ${failed[*]}"
    exit 1
fi
