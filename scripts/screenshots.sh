#!/usr/bin/env bash
# Regenerates screenshots/*.svg from real runs: the real Temporal for
# "running", "help" and "workflows", the fault fixture for "crash-loop" and for
# "clean-preview" (leader kill -9ed, its children left holding the lock).
# Each scene: tmux runs `stigmer dash`, capture-pane -e, rich renders SVG.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
.tools/venv/bin/pip install --quiet --disable-pip-version-check "rich==14.*"
cargo build --release --locked --quiet --bins
# Neutral paths on screen: binaries are linked into one demo folder.
work=/tmp/stigmer-demo
rm -rf "$work"; mkdir -p "$work/bin"
ln -s "$root/.tools/venv/bin/temporal" "$work/bin/temporal"
cp "$root/target/release/stigmer" "$root/target/release/stigmer-fixture" "$work/bin/"
export PATH="$work/bin:$PATH"
BIN="$work/bin/stigmer"
FIXTURE="$work/bin/stigmer-fixture"
sock="stigmer-shots-$$"
W=120; H=36
port=29233

cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  for home in "$work"/*/; do [ "$home" = "$work/bin/" ] && continue; "$BIN" --home "$home" --port "$port" local kill >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # wait_for TEXT SECONDS
  for _ in $(seq 1 $(( $2 * 20 ))); do
    tmux -L "$sock" capture-pane -p -t shot | grep -qF -- "$1" && return 0
    sleep 0.05
  done
  echo "screenshots: never saw '$1'" >&2; tmux -L "$sock" capture-pane -p -t shot >&2; return 1
}

shot() { # shot NAME TITLE
  tmux -L "$sock" capture-pane -e -p -t shot > "$work/$1.ansi"
  .tools/venv/bin/python scripts/ansi_to_svg.py "$work/$1.ansi" "screenshots/$1.svg" "$2" "$W"
  echo "screenshots/$1.svg"
}

dash() { # dash HOME
  tmux -L "$sock" kill-server 2>/dev/null || true
  for _ in 1 2 3 4 5; do # a server that is still exiting refuses new sessions
    sleep 0.3
    tmux -L "$sock" new-session -d -s shot -x "$W" -y "$H" "$BIN --home $1 --port $port dash --no-start" 2>/dev/null && return 0
  done
  echo "screenshots: tmux would not start" >&2; return 1
}

fixture_home() { # fixture_home NAME ARGS... -> prints home
  local home="$work/$1"; shift
  mkdir -p "$home"
  local args='"--grpc", "{grpc}", "--http", "{http}"'
  for a in "$@"; do args="$args, \"$a\""; done
  printf 'temporal_bin = "%s"\nargs = [%s]\ngrace_secs = 2.0\n[restart]\ninitial_ms = 400\nmax_failures = 4\n' "$FIXTURE" "$args" > "$home/config.toml"
  echo "$home"
}

# 1. Running: the real Temporal, started from the dash, one crash survived.
home="$work/running"; mkdir -p "$home"
dash "$home"; wait_for "STOPPED" 10
tmux -L "$sock" send-keys -t shot s; wait_for "→ 200" 30
pid=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['pid'])" "$home/temporal.pid")
kill -9 "$pid"; wait_for "killed by SIGKILL" 10; wait_for "→ 200" 30; sleep 1.2
shot running "stigmer dash — running (after a kill -9)"
tmux -L "$sock" send-keys -t shot '?'; wait_for "Keys" 5
shot help "stigmer dash — help"
tmux -L "$sock" send-keys -t shot Escape; sleep 0.3
# The workflows screen: two workflows on a queue nobody polls, one of them
# terminated; the running one looked at closely.
tctl() { "$work/bin/temporal" "$@" --address "127.0.0.1:$port" >/dev/null; }
tctl workflow start --type Greet --task-queue hello --workflow-id order-1042 --input '"Ada"'
tctl workflow start --type Greet --task-queue hello --workflow-id order-1043 --input '"Bob"'
tctl workflow terminate --workflow-id order-1043 --reason "demo"
tmux -L "$sock" send-keys -t shot e; wait_for "Workflows · all · 2 of 2" 20
tmux -L "$sock" send-keys -t shot Enter; wait_for "stack trace (__stack_trace)" 20; sleep 0.5
shot workflows "stigmer dash — workflows (e), one looked at"
tmux -L "$sock" send-keys -t shot Escape; sleep 0.3
tmux -L "$sock" send-keys -t shot e; sleep 0.3 # ESC then Q at once would read as Alt-Q
tmux -L "$sock" send-keys -t shot Q
for _ in $(seq 1 200); do [ -e "$home/temporal.pid" ] || break; sleep 0.1; done

# 2. Crash loop: a program that exits at once, again and again.
home=$(fixture_home crashloop --exit-after-ms 150 --exit-code 3)
dash "$home"; wait_for "STOPPED" 10
tmux -L "$sock" send-keys -t shot s; wait_for "crash loop" 20; sleep 1.2
shot crash-loop "stigmer dash — crash loop"

# 3. Stale state: the leader was kill -9ed, its children hold the lock on
# (started unsupervised: a supervisor would have reaped them and restarted).
home=$(fixture_home orphans --children 2)
"$BIN" --home "$home" --port "$port" local start --unsupervised >/dev/null
pid=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['pid'])" "$home/temporal.pid")
kill -9 "$pid"; sleep 0.3
dash "$home"; wait_for "ORPH" 10; sleep 1.2
tmux -L "$sock" send-keys -t shot c; wait_for "exactly this will be done" 5
shot clean-preview "stigmer dash — clean preview"
tmux -L "$sock" send-keys -t shot y; wait_for "Processes · none" 10
