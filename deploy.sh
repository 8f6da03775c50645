#!/usr/bin/env bash
# Stage and deploy the functions to Cloud Run functions (gen2), one source folder each.
#
# Cloud Run functions build one folder per function, with main.py and requirements.txt
# at its top and no install step for local packages, so each function is staged into
# build/<function>/: its main.py, a copy of shared/, only the model bundles it uses,
# the runtime requirements.txt, LICENSE, THIRD_PARTY_NOTICES.md and a .gcloudignore.
# That folder is what gets deployed (and what the container image is built from).
set -euo pipefail

# ---- settings (flags and environment variables override these) -------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
GCLOUD="${GCLOUD:-gcloud}"
PROJECT="${PROJECT:-}"
REGION="${REGION:-us-central1}"
RUNTIME="${RUNTIME:-python311}"
MEMORY="${MEMORY:-512Mi}"
CPU="${CPU:-}"                      # empty: Cloud Run functions' default for the memory tier
CONCURRENCY="${CONCURRENCY:-1}"
MIN_INSTANCES="${MIN_INSTANCES:-0}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
MODELS_BUCKET="${MODELS_BUCKET:-}"
PUBLIC=false
DRY_RUN=false
EXTRA_ENV=()                        # --env KEY=VALUE, repeatable
API_KEY_SECRET="${API_KEY_SECRET:-}"  # Secret Manager secret holding the API key
# The Python that runs tools/publish/publish_bundle.py (needs google-cloud-storage).
if [[ -x "$ROOT/.venv/bin/python" ]]; then PUBLISH_PYTHON="${PUBLISH_PYTHON:-$ROOT/.venv/bin/python}"; else PUBLISH_PYTHON="${PUBLISH_PYTHON:-python3}"; fi

# Function (entry point) -> deployed name, and the bundles each one serves.
# (Functions, not associative arrays: macOS ships bash 3.2.)
ALL_FUNCTIONS=(verify_face predict_gesture)
name_of() { case "$1" in verify_face) echo verify-face ;; predict_gesture) echo predict-gesture ;; esac; }
bundles_of() {
  case "$1" in
    verify_face) echo "face-detector-short face-detector-full face-embedder-dlib" ;;
    predict_gesture) echo "finger-gesture hand-sign hand-detector hand-landmarks" ;;
  esac
}

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [verify_face|predict_gesture|all] [options]

Stages build/<function>/ (main.py, shared/, that function's model bundles, runtime
requirements.txt, LICENSE, THIRD_PARTY_NOTICES.md, .gcloudignore) and deploys it with
`gcloud functions deploy --gen2`.
Functions are deployed as verify-face and predict-gesture. Default target: all.

Options:
  --project P           Google Cloud project (default: gcloud config get-value project)
  --region R            region (default: us-central1)
  --runtime R           python311 | python312 (default: python311)
  --memory M            memory tier, gcloud units: 512Mi, 1Gi, 2Gi ... (default: 512Mi);
                        also sets MEMORY_LIMIT_MB for the memory guard
  --cpu N               vCPUs, e.g. 0.333, 1, 2 (default: the tier's own, 0.333 at 512Mi)
  --concurrency N       requests per instance (default: 1); also sets THREADS.
                        Cloud Run needs --cpu 1 or more for concurrency above 1
  --min-instances N     instances kept warm (default: 0, scale to zero)
  --max-instances N     instance cap (default: 10)
  --models-bucket gs://BUCKET[/PREFIX]
                        publish the bundles to gs://BUCKET/PREFIX/<function>/<bundle>
                        with tools/publish/publish_bundle.py and point the function at them
                        (FACE_*_MODEL / GESTURE_MODEL) instead of bundling them
  --env KEY=VALUE       extra environment variable for the function (repeatable),
                        e.g. --env API_KEY=... or --env VERIFY_THRESHOLD=0.5
  --api-key-secret NAME require an X-API-Key header whose value is kept in the
                        Secret Manager secret NAME (mounted as API_KEY, latest version);
                        for teams that must expose a --public URL
  --public              allow unauthenticated calls (default: private,
                        --no-allow-unauthenticated; call with an identity token)
  --build-dir DIR       where to stage (default: build/, or $BUILD_DIR)
  --dry-run             stage, then print the gcloud commands instead of running them
                        (gcloud is not needed)
  -h, --help            this help

Environment: PROJECT, REGION, RUNTIME, MEMORY, CPU, CONCURRENCY, MIN_INSTANCES,
MAX_INSTANCES, MODELS_BUCKET, BUILD_DIR, GCLOUD (gcloud binary), PUBLISH_PYTHON.
EOF
}

die() { echo "deploy.sh: error: $*" >&2; exit 1; }
say() { echo "==> $*" >&2; }

# Print a command the way a shell would read it back (quotes only where needed).
show() {
  local out="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="$arg "; else out+="'${arg//\'/\'\\\'\'}' "; fi
  done
  echo "${out% }"
}

# Run a command, or only print it under --dry-run.
run() {
  if $DRY_RUN; then show "$@"; else show "$@" >&2; "$@"; fi
}

# ---- arguments ---------------------------------------------------------------------
TARGET=""
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --project) need_value "$@"; PROJECT="$2"; shift 2 ;;
    --region) need_value "$@"; REGION="$2"; shift 2 ;;
    --runtime) need_value "$@"; RUNTIME="$2"; shift 2 ;;
    --memory) need_value "$@"; MEMORY="$2"; shift 2 ;;
    --cpu) need_value "$@"; CPU="$2"; shift 2 ;;
    --concurrency) need_value "$@"; CONCURRENCY="$2"; shift 2 ;;
    --min-instances) need_value "$@"; MIN_INSTANCES="$2"; shift 2 ;;
    --max-instances) need_value "$@"; MAX_INSTANCES="$2"; shift 2 ;;
    --models-bucket) need_value "$@"; MODELS_BUCKET="$2"; shift 2 ;;
    --env) need_value "$@"; EXTRA_ENV+=("$2"); shift 2 ;;
    --api-key-secret) need_value "$@"; API_KEY_SECRET="$2"; shift 2 ;;
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --public) PUBLIC=true; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --project=*|--region=*|--runtime=*|--memory=*|--cpu=*|--concurrency=*|--min-instances=*|--max-instances=*|--models-bucket=*|--env=*|--api-key-secret=*|--build-dir=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$TARGET" ]] || die "one target only, got $TARGET and $1"; TARGET="$1"; shift ;;
  esac
done

case "${TARGET:-all}" in
  all) FUNCTIONS=("${ALL_FUNCTIONS[@]}") ;;
  verify_face|predict_gesture) FUNCTIONS=("$TARGET") ;;
  *) die "unknown function '$TARGET'; expected verify_face, predict_gesture or all" ;;
esac

# ---- validation ---------------------------------------------------------------------
[[ "$RUNTIME" =~ ^python31[12]$ ]] || die "--runtime must be python311 or python312, got '$RUNTIME'"
for pair in "concurrency:$CONCURRENCY" "min-instances:$MIN_INSTANCES" "max-instances:$MAX_INSTANCES"; do
  [[ "${pair#*:}" =~ ^[0-9]+$ ]] || die "--${pair%%:*} must be a whole number, got '${pair#*:}'"
done
(( CONCURRENCY >= 1 && CONCURRENCY <= 1000 )) || die "--concurrency must be between 1 and 1000, got $CONCURRENCY"
(( MAX_INSTANCES >= 1 )) || die "--max-instances must be at least 1"
(( MIN_INSTANCES <= MAX_INSTANCES )) || die "--min-instances ($MIN_INSTANCES) exceeds --max-instances ($MAX_INSTANCES)"

# Memory in gcloud's units (k M G = powers of 1000, Ki Mi Gi = powers of 1024; a
# trailing b/B means bytes) -> MiB, what MEMORY_LIMIT_MB and the guard count in.
[[ "$MEMORY" =~ ^([0-9]+)(k|M|G|Ki|Mi|Gi)?[bB]?$ ]] || die "--memory must look like 512Mi, 1Gi or 2G, got '$MEMORY'"
case "${BASH_REMATCH[2]}" in
  k) bytes=$(( BASH_REMATCH[1] * 1000 )) ;;       M) bytes=$(( BASH_REMATCH[1] * 1000**2 )) ;;
  G) bytes=$(( BASH_REMATCH[1] * 1000**3 )) ;;    Ki) bytes=$(( BASH_REMATCH[1] * 1024 )) ;;
  Mi) bytes=$(( BASH_REMATCH[1] * 1024**2 )) ;;   Gi) bytes=$(( BASH_REMATCH[1] * 1024**3 )) ;;
  *) bytes=$(( BASH_REMATCH[1] )) ;;
esac
MEMORY_MB=$(( bytes / 1024**2 ))
(( MEMORY_MB >= 128 )) || die "--memory $MEMORY is ${MEMORY_MB} MiB; at least 128Mi is needed (512Mi recommended)"

# vCPUs as a decimal (gcloud also takes millicores such as 2000m).
if [[ -n "$CPU" ]]; then
  [[ "$CPU" =~ ^([0-9]*\.?[0-9]+)(m?)$ ]] || die "--cpu must be a number such as 0.333, 1 or 2, got '$CPU'"
  if [[ -n "${BASH_REMATCH[2]}" ]]; then CPU_VALUE=$(awk -v m="${BASH_REMATCH[1]}" 'BEGIN{print m/1000}'); else CPU_VALUE="${BASH_REMATCH[1]}"; fi
else
  # Cloud Run functions' default vCPU for each memory tier.
  CPU_VALUE=$(awk -v mb="$MEMORY_MB" 'BEGIN{
    if (mb <= 128) c = 0.083; else if (mb <= 256) c = 0.167; else if (mb <= 512) c = 0.333;
    else if (mb <= 1024) c = 0.583; else if (mb <= 2048) c = 1; else if (mb <= 8192) c = 2;
    else if (mb <= 16384) c = 4; else c = 8; print c }')
fi
if (( CONCURRENCY > 1 )) && awk -v c="$CPU_VALUE" 'BEGIN{exit !(c < 1)}'; then
  die "--concurrency $CONCURRENCY needs at least 1 vCPU: Cloud Run only serves one request at a time on a fractional CPU (this deployment would get $CPU_VALUE vCPU). Add --cpu 1 (or --memory 2Gi), or keep --concurrency 1."
fi

if [[ -n "$MODELS_BUCKET" ]]; then
  [[ "$MODELS_BUCKET" =~ ^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$ ]] || die "--models-bucket must be gs://BUCKET[/PREFIX], got '$MODELS_BUCKET'"
  MODELS_BUCKET="${MODELS_BUCKET%/}"
fi
for kv in ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}; do
  [[ "$kv" =~ ^[A-Z_][A-Z0-9_]*=.*$ ]] || die "--env expects KEY=VALUE with an upper-case KEY, got '$kv'"
done

# ---- gcloud: present, logged in, project known (skipped under --dry-run) -------------
if ! $DRY_RUN; then
  command -v "$GCLOUD" >/dev/null 2>&1 || die "gcloud not found on PATH. Install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), run 'gcloud auth login', then retry. Use --dry-run to see the commands without gcloud."
  account="$("$GCLOUD" auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null || true)"
  [[ -n "$account" ]] || die "gcloud is not logged in (no active account). Run 'gcloud auth login' and retry."
  if [[ -z "$PROJECT" ]]; then
    PROJECT="$("$GCLOUD" config get-value project 2>/dev/null || true)"
    [[ "$PROJECT" != "(unset)" ]] || PROJECT=""
  fi
  [[ -n "$PROJECT" ]] || die "no Google Cloud project: pass --project P or run 'gcloud config set project P'."
  say "deploying as $account to project $PROJECT, region $REGION"
fi

# ---- staging ------------------------------------------------------------------------
stage() {  # stage <function> -> build/<function>/
  local fn="$1" dest="$BUILD_DIR/$1" bundle
  [[ -f "$ROOT/functions/$fn/main.py" ]] || die "functions/$fn/main.py is missing"
  if [[ -z "$MODELS_BUCKET" ]]; then
    for bundle in $(bundles_of "$fn"); do
      [[ -f "$ROOT/models/$bundle/model.tflite" && -f "$ROOT/models/$bundle/bundle.json" ]] \
        || die "models/$bundle is incomplete (needs model.tflite and bundle.json); $fn cannot be staged"
    done
  fi
  rm -rf "$dest"
  mkdir -p "$dest/models"
  cp "$ROOT/functions/$fn/main.py" "$dest/main.py"
  cp "$ROOT/requirements.txt" "$dest/requirements.txt"
  # The licence and the third-party notices ship with the code and models they cover.
  cp "$ROOT/LICENSE" "$ROOT/THIRD_PARTY_NOTICES.md" "$dest/"
  cp -R "$ROOT/shared" "$dest/shared"
  if [[ -z "$MODELS_BUCKET" ]]; then
    for bundle in $(bundles_of "$fn"); do
      cp -R "$ROOT/models/$bundle" "$dest/models/$bundle"
    done
  else
    rmdir "$dest/models"
  fi
  # Caches and editor litter never ship.
  find "$dest" \( -name __pycache__ -o -name '*.pyc' -o -name '.DS_Store' -o -name '.pytest_cache' \) -prune -exec rm -rf {} +
  cat > "$dest/.gcloudignore" <<'EOF'
# Staged by deploy.sh: everything here is needed at run time except these.
.gcloudignore
__pycache__/
*.pyc
EOF
  say "staged $dest ($(du -sk "$dest" | cut -f1) KiB)"
}

# Environment for one function: memory tier, threads, models, extras.
function_env() {  # function_env <function> -> KEY=VALUE lines
  local fn="$1" base="$MODELS_BUCKET/$1"
  echo "MEMORY_LIMIT_MB=$MEMORY_MB"
  # functions-framework's gunicorn runs THREADS threads (default cpu x 4); match the
  # requests Cloud Run sends at once so no request queues inside the instance.
  echo "THREADS=$CONCURRENCY"
  if [[ -n "$MODELS_BUCKET" ]]; then
    case "$fn" in
      verify_face)
        echo "FACE_DETECTOR_MODEL=$base/face-detector-short"
        echo "FACE_DETECTOR_FALLBACK_MODEL=$base/face-detector-full"
        echo "FACE_EMBEDDER_MODEL=$base/face-embedder-dlib" ;;
      predict_gesture)
        echo "GESTURE_MODEL=$base/finger-gesture,$base/hand-sign"
        echo "HAND_DETECTOR_MODEL=$base/hand-detector"
        echo "HAND_LANDMARK_MODEL=$base/hand-landmarks" ;;
    esac
  fi
  local kv
  for kv in ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}; do echo "$kv"; done
}

# KEY=VALUE lines -> one --set-env-vars value. gcloud splits on commas, so when a value
# holds one (GESTURE_MODEL's list) use its alternate-delimiter syntax: ^@^K=V@K=V.
env_flag() {
  local lines joined
  lines="$(cat)"
  if [[ "$lines" == *,* ]]; then
    [[ "$lines" != *@* ]] || die "environment values may not contain both ',' and '@'"
    joined="^@^$(paste -sd@ - <<<"$lines")"
  else
    joined="$(paste -sd, - <<<"$lines")"
  fi
  echo "$joined"
}

deploy_one() {
  local fn="$1" name="$(name_of "$1")" source="$BUILD_DIR/$1" bundle
  local args=(functions deploy "$name" --gen2 "--runtime=$RUNTIME" "--source=$source"
    "--entry-point=$fn" --trigger-http "--memory=$MEMORY")
  if [[ -n "$CPU" ]]; then args+=("--cpu=$CPU"); else args+=("--cpu=$CPU_VALUE"); fi
  args+=("--concurrency=$CONCURRENCY" "--min-instances=$MIN_INSTANCES" "--max-instances=$MAX_INSTANCES"
    "--region=$REGION")
  [[ -z "$PROJECT" ]] || args+=("--project=$PROJECT")
  args+=("--set-env-vars=$(function_env "$fn" | env_flag)")
  [[ -z "$API_KEY_SECRET" ]] || args+=("--set-secrets=API_KEY=$API_KEY_SECRET:latest")
  if $PUBLIC; then args+=(--allow-unauthenticated); else args+=(--no-allow-unauthenticated); fi

  if [[ -n "$MODELS_BUCKET" ]]; then
    for bundle in $(bundles_of "$fn"); do
      run "$PUBLISH_PYTHON" "$ROOT/tools/publish/publish_bundle.py" "$ROOT/models/$bundle" "$MODELS_BUCKET/$fn/$bundle"
    done
  fi
  run "$GCLOUD" "${args[@]}"
}

url_of() {
  local fn="$1" args=(functions describe "$(name_of "$1")" --gen2 "--region=$REGION")
  [[ -z "$PROJECT" ]] || args+=("--project=$PROJECT")
  args+=("--format=value(serviceConfig.uri)")
  if $DRY_RUN; then show "$GCLOUD" "${args[@]}"; else "$GCLOUD" "${args[@]}"; fi
}

for fn in "${FUNCTIONS[@]}"; do stage "$fn"; done
if $DRY_RUN; then
  if [[ -n "$PROJECT" ]]; then echo "# dry run: the commands deploy.sh would run"
  else echo "# dry run: the commands deploy.sh would run (no --project: gcloud's configured project applies)"; fi
fi
for fn in "${FUNCTIONS[@]}"; do deploy_one "$fn"; done

if $DRY_RUN; then
  for fn in "${FUNCTIONS[@]}"; do url_of "$fn"; done
  exit 0
fi
echo
for fn in "${FUNCTIONS[@]}"; do
  url="$(url_of "$fn")"
  echo "$fn: $url"
done
if ! $PUBLIC; then
  echo "Private functions: call with an identity token, e.g."
  echo "  curl -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" <url>"
fi
