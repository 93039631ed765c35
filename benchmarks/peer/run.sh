#!/usr/bin/env bash
# llmlingstral against llmlingua 0.2.2, side by side, in one command:
#
#   bash benchmarks/peer/run.sh            # full run (results in benchmarks/peer/results/)
#   bash benchmarks/peer/run.sh --quick    # small check
#
# 1. llmlingstral's environment: .venv (created from constraints.txt if missing), plus
#    matplotlib for the plot;
# 2. llmlingua's environment: .cache/peer-venv with llmlingua 0.2.2 and transformers 4
#    (benchmarks/peer/constraints.txt), rebuilt when the constraints change;
# 3. offline stand-ins for llmlingua's run-time downloads (tiktoken file, NLTK punkt data)
#    in .cache/peer-offline, built locally;
# 4. compare.py: both libraries on the same models and inputs, alternating.
# Any argument is passed on to compare.py (see `--help`).
#
# Environment: PYTHON (interpreter for new venvs, default python3; needs 3.11+),
# OURS_VENV (default .venv), PEER_VENV (default .cache/peer-venv).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
OURS_VENV="${OURS_VENV:-$ROOT/.venv}"
PEER_VENV="${PEER_VENV:-$ROOT/.cache/peer-venv}"
OFFLINE="$ROOT/.cache/peer-offline"
PEER_CONSTRAINTS="$HERE/constraints.txt"

say() { printf '[run.sh] %s\n' "$*" >&2; }

# 1. llmlingstral
if [ ! -x "$OURS_VENV/bin/python" ]; then
    say "creating $OURS_VENV (llmlingstral, editable)"
    "$PYTHON" -m venv "$OURS_VENV"
    "$OURS_VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT[bench]"
fi
if ! "$OURS_VENV/bin/python" -c "import llmlingstral, matplotlib" 2>/dev/null; then
    say "installing llmlingstral and matplotlib into $OURS_VENV"
    "$OURS_VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT[bench]"
fi

# 2. llmlingua 0.2.2
if ! cmp -s "$PEER_CONSTRAINTS" "$PEER_VENV/peer-constraints.txt" 2>/dev/null \
        || [ ! -x "$PEER_VENV/bin/python" ]; then
    say "creating $PEER_VENV (llmlingua 0.2.2, transformers 4)"
    rm -rf "$PEER_VENV"
    "$PYTHON" -m venv "$PEER_VENV"
    "$PEER_VENV/bin/pip" install -q -c "$PEER_CONSTRAINTS" \
        llmlingua torch transformers accelerate nltk tiktoken
    cp "$PEER_CONSTRAINTS" "$PEER_VENV/peer-constraints.txt"
fi

# 3. offline stand-ins (the tiktoken file needs mistral-common: built in llmlingstral's venv;
#    punkt needs nltk: built in llmlingua's venv)
"$OURS_VENV/bin/python" "$HERE/offline_data.py" tiktoken --out "$OFFLINE/tiktoken"
"$PEER_VENV/bin/python" "$HERE/offline_data.py" punkt --out "$OFFLINE/nltk_data"

# 4. the comparison
exec "$OURS_VENV/bin/python" "$HERE/compare.py" \
    --ours-python "$OURS_VENV/bin/python" --peer-python "$PEER_VENV/bin/python" \
    --offline-dir "$OFFLINE" "$@"
