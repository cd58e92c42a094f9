#!/usr/bin/env bash
# tokstream and its peers (tokenizers, tiktoken, gigatoken, fastokens, riptoken, bpe-openai)
# side by side on the same inputs: see scripts/peers.py for what it does and its options.
#   scripts/peers.sh --mb 16            # venv in target/peers-venv (or $PEERS_VENV)
# Writes target/peers.json, docs/img/peers.svg and the peers section of docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/peers.py "$@"
