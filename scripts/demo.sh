#!/usr/bin/env bash
# `make demo`, as it is today: the end-to-end demo (load data, build a call list, dispatch
# calls, aggregate feedback, publish reports) comes with the skeleton issue, once the workers
# exist. Until then this is a smoke run of the foundation: install what is missing, start the
# private servers, build the package, show that both servers answer, stop them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat <<'NOTE'
Sampark demo: the end-to-end demo (load -> list -> dispatch -> outcomes -> reports) arrives
with the skeleton issue, when the workers exist. Today this runs a smoke check of the
foundation: private RabbitMQ and PostgreSQL, a build of the package, and the server versions.
NOTE

say "installing what is missing (scripts/install-deps.sh)"
scripts/install-deps.sh

start_services

say "swift build"
swift build

say "the servers"
printf 'RabbitMQ:   %s (%s, TLS on %s)\n' \
    "$("$SERVICES" rabbitmqctl -q version)" "$SAMPARK_TEST_AMQP_URL" "$SAMPARK_TEST_AMQPS_URL"
printf 'PostgreSQL: %s (%s)\n' \
    "$(psql "$SAMPARK_TEST_POSTGRES_URL" -XAtc 'show server_version')" "$SAMPARK_TEST_POSTGRES_URL"
printf 'Extensions: %s\n' \
    "$(psql "$SAMPARK_TEST_POSTGRES_URL" -XAtc "select string_agg(extname || ' ' || extversion, ', ' order by extname) from pg_extension")"

echo
echo "make demo: OK (foundation smoke run; the end-to-end demo comes with the skeleton issue)"
