#!/usr/bin/env bash
# Bouncer's test command (the one the README gives and CI runs):
#   1. every Rust test: unit tests, and the integration tests on SQLite and on a PostgreSQL server they
#      start themselves (skipped with a printed reason when PostgreSQL is not installed; failed under CI=true);
#   2. the black-box contract suite (../shared/contract) against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets

contract=../shared/contract
if [ ! -d "$contract" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: $contract is missing (CI needs the shared contract suite beside the checkout)" >&2
    exit 1
  fi
  echo "skipping the contract suite: $contract not found beside this checkout"
  exit 0
fi

cargo build --bin bouncer
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check pytest requests

# Contract cases for routes that later issues add (refresh tokens, revocation, API keys, sessions,
# forward-auth); listed in one place so they are switched on by deleting their line.
pending=()
while IFS= read -r name; do
  case "$name" in ''|'#'*) continue ;; esac
  pending+=(--deselect "$contract/test_seed_flows.py::$name")
done < scripts/contract-pending.txt
if [ ${#pending[@]} -gt 0 ]; then
  echo "contract cases pending later issues: $(grep -cv '^\(#\|$\)' scripts/contract-pending.txt)"
fi

BOUNCER_BIN="$PWD/target/debug/bouncer" .venv/bin/python -m pytest "$contract" -q -p no:cacheprovider "${pending[@]}"
