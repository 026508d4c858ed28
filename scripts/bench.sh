#!/usr/bin/env bash
# `make bench`: the system benchmark (sampark-bench, release build) against private servers,
# beside a plain rabbitmq-c program (Benchmarks/rabbitmq-c-baseline.c) and `psql \copy` as the baselines.
# Extra arguments for sampark-bench: BENCH_ARGS="--rounds 5 --only amqp" make bench
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASELINE_SRC=Benchmarks/rabbitmq-c-baseline.c
BASELINE_BIN="$REPO_ROOT/.build/rabbitmq-c-baseline"

# Fail before anything slow when the baseline is not there.
if [ ! -f "$BASELINE_SRC" ]; then
    echo "make bench: FAILED: $BASELINE_SRC is missing (the C baseline the figures are compared with)" >&2
    exit 1
fi

say "installing what is missing (scripts/install-deps.sh)"
scripts/install-deps.sh

say "building the rabbitmq-c baseline: $BASELINE_SRC"
mkdir -p "$(dirname "$BASELINE_BIN")"
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
cc -O2 -o "$BASELINE_BIN" "$BASELINE_SRC" $(pkg-config --cflags --libs librabbitmq)

# Everything in release: the ingest figure runs the release `sampark` and `ingest-worker`.
say "swift build -c release"
swift build -c release
BENCH_BIN="$(swift build -c release --show-bin-path)/sampark-bench"

start_services

read -r -a bench_args <<<"${BENCH_ARGS:-}"
say "running $BENCH_BIN ${bench_args[*]:-}"
SAMPARK_BENCH_RABBITMQ_C="$BASELINE_BIN" SAMPARK_BENCH_PSQL="$(command -v psql)" "$BENCH_BIN" "${bench_args[@]}"
