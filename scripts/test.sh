#!/usr/bin/env bash
# Bouncer's test command (the one the README gives and CI runs):
#   1. every Rust test: unit tests, and the integration tests on SQLite and on a PostgreSQL server they
#      start themselves (skipped with a printed reason when PostgreSQL is not installed; failed under CI=true);
#   2. schema-driven fuzzing: Schemathesis against the built binary and the spec it serves, as a plain user
#      and as the admin, with every check (scripts/schemathesis.sh; skipped with a printed reason without
#      PyPI; failed under CI=true; BOUNCER_SCHEMATHESIS=0 skips it while iterating);
#   3. the black-box contract suite (../shared/contract) against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets

cargo build --bin bouncer

# The Python package (clients/python: FastAPI/Starlette apps protected by Bouncer) against this
# binary; skipped with a printed reason without PyPI, failed under CI=true.
BOUNCER_BIN="$PWD/target/debug/bouncer" timeout --kill-after=30 600 clients/python/test.sh

# A gate: any failure fails the test command. About 70 s for both passes on two cores, plus the
# first install; at most ten minutes (ST_MAX_EXAMPLES and the rest: see the script's header).
if [ "${BOUNCER_SCHEMATHESIS:-1}" = "0" ] && [ "${CI:-}" != "true" ]; then
  echo "schema-driven fuzzing skipped (BOUNCER_SCHEMATHESIS=0)"
else
  BIN=target/debug/bouncer timeout --kill-after=30 600 ./scripts/schemathesis.sh
fi

contract=../shared/contract
if [ ! -d "$contract" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: $contract is missing (CI needs the shared contract suite beside the checkout)" >&2
    exit 1
  fi
  echo "skipping the contract suite: $contract not found beside this checkout"
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check pytest requests "pyjwt[crypto]" authlib

# Contract cases for routes that later issues add (refresh tokens, revocation, API keys, sessions,
# forward-auth); listed in one place so they are switched on by deleting their line.
pending=()
while IFS= read -r name; do
  case "$name" in ''|'#'*) continue ;; esac
  pending+=("$name")
done < scripts/contract-pending.txt
select=()
if [ ${#pending[@]} -gt 0 ]; then
  echo "contract cases pending later issues (${#pending[@]}): ${pending[*]}"
  expr=$(printf ' or %s' "${pending[@]}")
  select=(-k "not (${expr# or })")
fi

export BOUNCER_BIN="$PWD/target/debug/bouncer"
run_suites() {
  .venv/bin/python -m pytest "$contract" tests/interop -q -p no:cacheprovider "${select[@]}"
}

echo "== contract and interop suites on SQLite"
run_suites

# The same suites on PostgreSQL: a throwaway cluster on 127.0.0.1, as the postgres user when root.
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
  fi
  echo "skipping the suites on PostgreSQL: no /usr/lib/postgresql/*/bin"
  exit 0
fi
pgdir=$(mktemp -d /tmp/bouncer-contract-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pgdir"
  as_pg=(runuser -u postgres --)
fi
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop_pg() {
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap stop_pg EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-h 127.0.0.1 -p $pgport -k $pgdir -c fsync=off" start >/dev/null
echo "== contract and interop suites on PostgreSQL"
ACC_PG="postgres://postgres@127.0.0.1:$pgport/postgres" run_suites
