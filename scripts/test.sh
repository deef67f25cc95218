#!/usr/bin/env bash
# The README's test command: `bash scripts/test.sh [pytest args...]`.
#
# Does its own set-up: a virtual environment in .venv (or $SLAWATCH_VENV) with the
# project and its test extras, then ruff, mypy and pytest. The integration tests use
# the broker named by SLAWATCH_TEST_BROKER, or start a Kafka broker of their own from
# Maven Central jars (java and mvn needed; the jars are cached in ~/.cache/slawatch).
# promtool/amtool tests need Debian's prometheus and prometheus-alertmanager packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SLAWATCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# The SLA engine is compiled Rust (native/): installing from source needs cargo (rustup
# puts it in ~/.cargo/bin, which a non-login shell may not have on its PATH).
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
    echo "error: slawatch's engine is written in Rust: install a Rust toolchain (cargo 1.82 or later," >&2
    echo "       e.g. from https://rustup.rs) and run this again" >&2
    exit 1
fi
echo "== installing slawatch with its test extras (editable)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=strict -e ".[test,rocksdb]"

echo "== ruff check"
"$VENV/bin/ruff" check .
echo "== ruff format --check"
"$VENV/bin/ruff" format --check .

echo "== cargo fmt --check and cargo clippy (the native engine)"
cargo fmt --manifest-path native/Cargo.toml --check
cargo clippy --quiet --release --manifest-path native/Cargo.toml -- -D warnings

echo "== mypy (strict) on the installed package"
# From another directory, so mypy sees the installed `slawatch` package (its streams/,
# agents/, metrics/ and dashboards/ are mapped into it) and not the folders at the top.
(cd "$VENV" && "$VENV/bin/mypy" --config-file "$ROOT/pyproject.toml" -p slawatch)

echo "== pytest (unit and integration tests)"
exec "$VENV/bin/pytest" "$@"
