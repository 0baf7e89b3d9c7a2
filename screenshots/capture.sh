#!/usr/bin/env bash
# Regenerates the PNGs in screenshots/ from a real `drover demo` run: the TUI runs in a detached
# tmux session, each screen is captured with its colours (`capture-pane -e`) once the text that
# makes it worth showing is on it, and render.py draws the capture to a PNG.
#
# Usage: screenshots/capture.sh            (needs Docker, tmux, python3; installs Pillow if missing)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cols=150
rows=36
session="drover-shots-$$"
fleet="drover-shots"
# Its own image tag, so `--clean` at the end never removes the image of a demo of the user's.
image="drover-shots:$$"
work="$(mktemp -d)"

python3 -c 'import PIL' 2>/dev/null || python3 -m pip install --quiet --user pillow

cargo build --quiet --manifest-path "$root/Cargo.toml" --bin drover
drover="${CARGO_TARGET_DIR:-$root/target}/debug/drover"

cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    "$drover" demo --clean --dir "$work/demo" --fleet "$fleet" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

tmux new-session -d -s "$session" -x "$cols" -y "$rows" \
    "$drover demo --dir $work/demo --fleet $fleet --image $image 2>$work/demo.err"

# Polls the screen until it matches an extended regex (the terminal offers no event to await).
wait_for() {
    local pattern="$1" deadline=$((SECONDS + ${2:-90}))
    until tmux capture-pane -p -t "$session" | grep -Eq -- "$pattern"; do
        if ((SECONDS > deadline)); then
            echo "timed out waiting for /$pattern/ on screen:" >&2
            tmux capture-pane -p -t "$session" >&2
            cat "$work/demo.err" >&2 || true
            exit 1
        fi
        sleep 0.3
    done
}

# Like wait_for, but a screen that never gets there is still captured as it is.
wait_soft() {
    local pattern="$1" deadline=$((SECONDS + $2))
    until tmux capture-pane -p -t "$session" | grep -Eq -- "$pattern" || ((SECONDS > deadline)); do
        sleep 0.5
    done
}

# One key at a time: an Escape followed at once by a key would reach drover as Alt+key.
keys() {
    local k
    for k in "$@"; do
        tmux send-keys -t "$session" "$k"
        sleep 0.1
    done
}

shot() {
    local name="$1"
    sleep 0.4 # let the frame that follows the last key land (frames are at most 20 a second)
    tmux capture-pane -e -p -t "$session" >"$work/$name.ansi"
    python3 "$here/render.py" "$work/$name.ansi" "$here/$name.png" --cols="$cols" --rows="$rows"
    echo "screenshots/$name.png"
}

# The story needs a minute: blocked agents, claimed tasks, failing test runs, alerts.
wait_for '2 blocked'
wait_for 'worker-1 .*[✓✗] [0-9]+' 120
wait_for 'alerts' 120

# The fleet with a Blocked slot selected: its reason is on the table's bottom border (150
# columns leave no room for the REASON column beside the detail pane).
keys g j j j
wait_for '▶missing-env-1'
wait_for 'missing-env-1: never started'
shot fleet

keys G k k
wait_for '▶worker-1'
keys ']'
wait_for '\[Tests\]'
shot tests

keys '[' Enter / F A I L E D Enter
wait_for '/FAILED [0-9]+/[0-9]+'
shot logs-search

keys Escape Escape Escape 2
wait_for '\[2 Locks\]'
shot locks

keys 3
wait_for '\[3 PROGRESS.md\]'
wait_soft '(worker|flaky)-[0-9]+:' 150 # a finished task noted by an agent
shot progress

keys 4
wait_for '\[4 Alerts\]'
wait_soft 'loop' 60
shot alerts

keys 5
wait_for '\[5 Events\]'
shot events

keys 1 '?'
wait_for 'Everywhere'
shot help

keys Escape q
