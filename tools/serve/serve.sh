#!/usr/bin/env bash
# Serve both functions locally from the repo, on the bundled models, until Ctrl-C.
# `make serve` sets up .venv and runs this; it can also be run directly.
set -euo pipefail

# ---- settings (environment variables override these) --------------------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PYTHON="${PYTHON:-$VENV/bin/python}"
HOST="${HOST:-127.0.0.1}"                # 0.0.0.0 to serve other machines too
VERIFY_PORT="${VERIFY_PORT:-8080}"
GESTURE_PORT="${GESTURE_PORT:-8081}"
READY_TIMEOUT_S="${READY_TIMEOUT_S:-60}"
PHOTOS="${TEST_DATA_CACHE:-$HOME/.cache/tflite-functions-testdata}/face_recognition-1.3.0-test_images"

usage() {
  cat <<EOF
Usage: tools/serve.sh   (or: make serve)

Starts verify_face on http://$HOST:$VERIFY_PORT and predict_gesture on
http://$HOST:$GESTURE_PORT with functions-framework, straight from the repo, on the
bundled models in models/. Ctrl-C stops both.

Environment: VENV (default .venv), PYTHON, HOST (default 127.0.0.1), VERIFY_PORT
(8080), GESTURE_PORT (8081), READY_TIMEOUT_S (60), plus any setting the functions read
(see shared/settings.py), e.g. API_KEY=secret tools/serve.sh
EOF
}
case "${1:-}" in -h|--help) usage; exit 0 ;; "") ;; *) usage >&2; exit 2 ;; esac

die() { echo "serve: error: $*" >&2; exit 1; }
[[ -x "$PYTHON" ]] || die "$PYTHON not found: run 'make serve' (it creates $VENV) or set PYTHON"

port_free() {
  "$PYTHON" - "$HOST" "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is not "in use"
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}
wait_ready() {  # wait_ready <url> <pid>: poll GET (health) until it answers 200
  "$PYTHON" - "$1" "$2" "$READY_TIMEOUT_S" <<'EOF'
import os, sys, time, urllib.request
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"serve: the server for {url} exited during start-up (see its log above)")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit(f"serve: {url} did not answer within {timeout:.0f} s")
EOF
}

for port in "$VERIFY_PORT" "$GESTURE_PORT"; do
  port_free "$port" || die "port $port on $HOST is in use; stop what uses it or set VERIFY_PORT / GESTURE_PORT"
done

PIDS=()
stop() {
  trap - INT TERM EXIT
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
  echo "serve: stopped" >&2
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

start() {  # start <function> <port>
  "$PYTHON" -m functions_framework --target "$1" --source "$ROOT/functions/$1/main.py" --host "$HOST" --port "$2" &
  PIDS+=($!)
}
start verify_face "$VERIFY_PORT"
start predict_gesture "$GESTURE_PORT"
VERIFY_URL="http://$HOST:$VERIFY_PORT"
GESTURE_URL="http://$HOST:$GESTURE_PORT"
wait_ready "$VERIFY_URL" "${PIDS[0]}"
wait_ready "$GESTURE_URL" "${PIDS[1]}"

if [[ -f "$PHOTOS/obama.jpg" ]]; then P1="$PHOTOS/obama.jpg" P2="$PHOTOS/obama2.jpg"; else P1=photo1.jpg P2=photo2.jpg; fi
# A fingertip held still for the finger-gesture bundle's whole history: the Stop gesture.
STILL="$("$PYTHON" -c 'import json, sys; n = json.load(open(sys.argv[1]))["preprocessing"]["frames"]; print(json.dumps({"model": "finger-gesture", "features": [[0, 0]] * n}, separators=(",", ":")))' "$ROOT/models/finger-gesture/bundle.json" 2>/dev/null || echo '{"model":"finger-gesture","features":[[0,0],[0,0]]}')"
cat <<EOF

verify_face      $VERIFY_URL
predict_gesture  $GESTURE_URL

Health and model information:
  curl -s $VERIFY_URL
  curl -s $GESTURE_URL
Same person? (two photos as multipart files)
  curl -s -F img1=@$P1 -F img2=@$P2 $VERIFY_URL
Gesture from keypoint frames (JSON: features, or raw MediaPipe landmarks; see the README):
  curl -s -H 'Content-Type: application/json' -d '$STILL' $GESTURE_URL

Ctrl-C stops both.
EOF

# Stay up until Ctrl-C, until either server dies (bash 3.2 has no `wait -n`), or until
# whatever started us (make) is gone, so no server outlives it.
PARENT=$PPID
while kill -0 "${PIDS[0]}" 2>/dev/null && kill -0 "${PIDS[1]}" 2>/dev/null; do
  kill -0 "$PARENT" 2>/dev/null || exit 0
  sleep 1
done
die "a server exited unexpectedly (see its log above)"
