#!/usr/bin/env bash
# Fuzzes every input reader for SECONDS (default 60): mutated seeds from tests/fuzz/corpus run in
# child processes; exits 1 when a reader panics, hangs or aborts (inputs saved in tests/fuzz/crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --example fuzz_inputs -- --seconds "${1:-60}" "${@:2}"
