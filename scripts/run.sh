#!/usr/bin/env bash
# The README's run command: `bash scripts/run.sh [slawatch run options...]`.
#
# Sets up .venv (or $SLAWATCH_VENV) with slawatch, then `slawatch run`: starts a local
# Kafka broker from Maven Central jars unless one answers at $SLAWATCH_BROKER, creates
# the topics, starts a worker (metrics at http://127.0.0.1:6066/metrics) and the
# simulator feeding it. Ctrl-C stops the worker and the simulator, then the broker if
# this run started it (a broker that was already answering is left running).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SLAWATCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# -P: do not let ./slawatch (the core folder of this checkout) shadow the installed package.
if ! "$VENV/bin/python" -P -c "import slawatch.agents, slawatch._native, faust" 2>/dev/null || [ "${SLAWATCH_REINSTALL:-0}" = 1 ]; then
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
    echo "== installing slawatch (editable)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --config-settings editable_mode=strict -e ".[rocksdb]"
fi
exec "$VENV/bin/slawatch" run "$@"
