#!/usr/bin/env bash
# The whole test suite: unit, snapshot, real-process, real-Temporal and
# real-terminal tests, plus fmt and clippy. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/venv/bin:$PATH"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
