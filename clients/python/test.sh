#!/usr/bin/env bash
# bouncer-auth: creates clients/python/.venv, installs the package (as `pip install ./clients/python`
# would, with its test extras), type-checks it (mypy --strict) and runs its tests against the real
# Bouncer binary: $BOUNCER_BIN, else a private copy of target/debug/bouncer (so that a concurrent
# cargo build cannot swap it mid-run). Without a binary the integration tests skip, saying why; under
# CI=true they fail (as does an install from PyPI that fails, which elsewhere skips, saying why).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "$here[test]"; then
    if [ "${CI:-}" = "true" ]; then
        echo "bouncer-auth: could not install the package and its test dependencies from PyPI" >&2
        exit 1
    fi
    echo "bouncer-auth tests skipped: could not install the package and its test dependencies from PyPI"
    exit 0
fi

if [ -z "${BOUNCER_BIN:-}" ] && [ -x "$root/target/debug/bouncer" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cp "$root/target/debug/bouncer" "$tmp/bouncer"
    export BOUNCER_BIN="$tmp/bouncer"
fi

cd "$here"
"$venv/bin/python" -m mypy
"$venv/bin/python" -m pytest -q "$@"
