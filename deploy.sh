#!/usr/bin/env bash
# Stage and deploy the functions to Cloud Run functions (gen2) or Cloud Run services.
#
# Cloud Run functions build one folder per function, with main.py and requirements.txt
# at its top and no install step for local packages, so each function is staged into
# build/<function>/: its main.py, a copy of shared/, only the model bundles it uses,
# the runtime requirements.txt, LICENSE, THIRD_PARTY_NOTICES.md and a .gcloudignore.
# The container image (both functions) is built from build/image/, staged by the same
# code: the Dockerfile, .dockerignore, requirements.txt and app/ (functions/serve.py and <name>/main.py,
# shared/, every bundle, the notices). Cloud Run services deploy that folder (Cloud Build
# builds its Dockerfile) or an image already built from it (--image).
set -euo pipefail

# ---- settings (flags and environment variables override these) -------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
GCLOUD="${GCLOUD:-gcloud}"
PROJECT="${PROJECT:-}"
REGION="${REGION:-us-central1}"
RUNTIME="${RUNTIME:-python311}"
MEMORY="${MEMORY:-256Mi}"           # measured peak <= 170 MiB one request at a time (docs/benchmark.md)
CPU="${CPU:-}"                      # empty: the memory tier's default vCPU, at least 0.333
CONCURRENCY="${CONCURRENCY:-1}"
MIN_INSTANCES="${MIN_INSTANCES:-0}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
MODELS_BUCKET="${MODELS_BUCKET:-}"
PUBLIC=false
DRY_RUN=false
EXTRA_ENV=()                        # --env KEY=VALUE, repeatable
API_KEY_SECRET="${API_KEY_SECRET:-}"  # Secret Manager secret holding the API key
REDIS_URL_SECRET="${REDIS_URL_SECRET:-}"  # Secret Manager secret holding REDIS_URL
GALLERY_URL_SECRET="${GALLERY_URL_SECRET:-}"  # Secret Manager secret holding GALLERY_URL
GALLERY_KEYS_SECRET="${GALLERY_KEYS_SECRET:-}"  # Secret Manager secret holding GALLERY_KEYS
VPC_CONNECTOR="${VPC_CONNECTOR:-}"  # Serverless VPC Access connector (Memorystore is private)
SERVICE=false                       # --service: Cloud Run services instead of functions
IMAGE="${IMAGE:-}"                  # --image: deploy this image instead of building build/image
CPU_BOOST=true                      # services: startup CPU boost (a faster cold start)
STAGE_ONLY=false
# The Python that runs tools/publish/publish_bundle.py (needs google-cloud-storage).
if [[ -x "$ROOT/.venv/bin/python" ]]; then PUBLISH_PYTHON="${PUBLISH_PYTHON:-$ROOT/.venv/bin/python}"; else PUBLISH_PYTHON="${PUBLISH_PYTHON:-python3}"; fi

# Function (entry point) -> deployed name, and the bundles each one serves.
# (Functions, not associative arrays: macOS ships bash 3.2.)
ALL_FUNCTIONS=(verify_face predict_gesture)
name_of() { case "$1" in verify_face) echo verify-face ;; predict_gesture) echo predict-gesture ;; esac; }
bundles_of() {
  case "$1" in
    verify_face) echo "face-detector-short face-detector-full face-embedder-sface" ;;
    predict_gesture) echo "finger-gesture hand-sign hand-detector hand-landmarks" ;;
  esac
}

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [verify_face|predict_gesture|all] [options]          Cloud Run functions
       ./deploy.sh [verify_face|predict_gesture|all] --service [options]  Cloud Run services
       ./deploy.sh image --stage-only                                    the image's build context

Functions: stages build/<function>/ (main.py, shared/, that function's model bundles,
runtime requirements.txt, LICENSE, THIRD_PARTY_NOTICES.md, .gcloudignore) and deploys it
with `gcloud functions deploy --gen2`.
Services (--service): stages build/image/ (Dockerfile, .dockerignore, requirements.txt,
app/ with both functions and every bundle) and deploys it with `gcloud run deploy
--source` (Cloud Build builds the Dockerfile), or deploys --image IMAGE; FUNCTION_TARGET
picks the function in the image. Scales to zero (--min-instances 0), startup CPU boost on.
`image --stage-only` stages build/image/ only: then `docker build -t NAME build/image`.
Both are deployed as verify-face and predict-gesture. Default target: all.

Options:
  --project P           Google Cloud project (default: gcloud config get-value project)
  --region R            region (default: us-central1)
  --runtime R           python311 | python312 (default: python311)
  --memory M            memory tier, gcloud units: 256Mi, 512Mi, 1Gi ... (default: 256Mi);
                        also sets MEMORY_LIMIT_MB for the memory guard
  --cpu N               vCPUs, e.g. 0.333, 1, 2 (default: the tier's own, but at least
                        0.333, 512Mi's: 256Mi's 0.167 would double a cold start)
  --concurrency N       requests per instance (default: 1); also sets THREADS.
                        Cloud Run needs --cpu 1 or more for concurrency above 1
                        (services get 1 vCPU unless --cpu says otherwise)
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
  --redis-url-secret NAME
                        share the embedding cache and the rate limits through the Redis
                        whose redis:// URL is kept in the Secret Manager secret NAME
                        (mounted as REDIS_URL); with Memorystore, add --vpc-connector.
                        Limits: --env 'RATE_LIMITS=20/hour;100/day'
  --gallery-url-secret NAME
                        verify_face's galleries (enrol, identify, erase) in the Postgres
                        with pgvector whose postgresql:// URL is kept in the Secret Manager
                        secret NAME (mounted as GALLERY_URL); a private Cloud SQL address
                        needs --vpc-connector
  --gallery-keys-secret NAME
                        verify_face's per-tenant gallery keys (GALLERY_KEYS,
                        'shop-a=key1;shop-b=key2') from the Secret Manager secret NAME
                        (mounted as GALLERY_KEYS); never on the command line
  --vpc-connector NAME  reach private addresses (Memorystore) through this Serverless VPC
                        Access connector; only private ranges go through it
  --service             deploy Cloud Run services (from build/image/, or --image)
  --image IMAGE         with --service: deploy this image (built from build/image/)
  --no-cpu-boost        with --service: no startup CPU boost
  --stage-only          stage build/<function>/ (or build/image/ for the target `image`)
                        and stop
  --public              allow unauthenticated calls (default: private,
                        --no-allow-unauthenticated; call with an identity token)
  --build-dir DIR       where to stage (default: build/, or $BUILD_DIR)
  --dry-run             stage, then print the gcloud commands instead of running them
                        (gcloud is not needed)
  -h, --help            this help

Environment: PROJECT, REGION, RUNTIME, MEMORY, CPU, CONCURRENCY, MIN_INSTANCES,
MAX_INSTANCES, MODELS_BUCKET, API_KEY_SECRET, REDIS_URL_SECRET, GALLERY_URL_SECRET, GALLERY_KEYS_SECRET,
VPC_CONNECTOR, IMAGE,
BUILD_DIR, GCLOUD (gcloud binary), PUBLISH_PYTHON.
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
    --redis-url-secret) need_value "$@"; REDIS_URL_SECRET="$2"; shift 2 ;;
    --gallery-url-secret) need_value "$@"; GALLERY_URL_SECRET="$2"; shift 2 ;;
    --gallery-keys-secret) need_value "$@"; GALLERY_KEYS_SECRET="$2"; shift 2 ;;
    --vpc-connector) need_value "$@"; VPC_CONNECTOR="$2"; shift 2 ;;
    --image) need_value "$@"; IMAGE="$2"; shift 2 ;;
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --public) PUBLIC=true; shift ;;
    --service) SERVICE=true; shift ;;
    --no-cpu-boost) CPU_BOOST=false; shift ;;
    --stage-only) STAGE_ONLY=true; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --project=*|--region=*|--runtime=*|--memory=*|--cpu=*|--concurrency=*|--min-instances=*|--max-instances=*|--models-bucket=*|--env=*|--api-key-secret=*|--redis-url-secret=*|--gallery-url-secret=*|--gallery-keys-secret=*|--vpc-connector=*|--image=*|--build-dir=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$TARGET" ]] || die "one target only, got $TARGET and $1"; TARGET="$1"; shift ;;
  esac
done

case "${TARGET:-all}" in
  all) FUNCTIONS=("${ALL_FUNCTIONS[@]}") ;;
  verify_face|predict_gesture) FUNCTIONS=("$TARGET") ;;
  image) FUNCTIONS=() ;;
  *) die "unknown function '$TARGET'; expected verify_face, predict_gesture, all or image" ;;
esac
[[ "$TARGET" != image ]] || $STAGE_ONLY || die "the target 'image' only stages (add --stage-only); deploy the image with --service --image IMAGE"
[[ -z "$IMAGE" ]] || $SERVICE || die "--image needs --service (Cloud Run functions deploy source, not images)"
if $SERVICE && [[ -n "$MODELS_BUCKET" ]]; then die "--models-bucket is for Cloud Run functions; a service's image carries its bundles"; fi
# Cloud Run services get 1 vCPU by default (functions: the memory tier's share).
if $SERVICE && [[ -z "$CPU" ]]; then CPU=1; fi

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
(( MEMORY_MB >= 128 )) || die "--memory $MEMORY is ${MEMORY_MB} MiB; at least 128Mi is needed (256Mi recommended)"

# vCPUs as a decimal (gcloud also takes millicores such as 2000m).
if [[ -n "$CPU" ]]; then
  [[ "$CPU" =~ ^([0-9]*\.?[0-9]+)(m?)$ ]] || die "--cpu must be a number such as 0.333, 1 or 2, got '$CPU'"
  if [[ -n "${BASH_REMATCH[2]}" ]]; then CPU_VALUE=$(awk -v m="${BASH_REMATCH[1]}" 'BEGIN{print m/1000}'); else CPU_VALUE="${BASH_REMATCH[1]}"; fi
else
  # Cloud Run functions' default vCPU for each memory tier, but at least 512Mi's 0.333:
  # below 512Mi the functions need less memory, not less CPU (cold start is CPU-bound).
  CPU_VALUE=$(awk -v mb="$MEMORY_MB" 'BEGIN{
    if (mb <= 512) c = 0.333;
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
  [[ "$kv" != REDIS_URL=* ]] || die "REDIS_URL may hold a password: keep it in Secret Manager and pass --redis-url-secret NAME"
  [[ "$kv" != GALLERY_URL=* ]] || die "GALLERY_URL may hold a password: keep it in Secret Manager and pass --gallery-url-secret NAME"
  [[ "$kv" != GALLERY_KEYS=* ]] || die "GALLERY_KEYS holds API keys: keep it in Secret Manager and pass --gallery-keys-secret NAME"
done
for pair in "api-key-secret:$API_KEY_SECRET" "redis-url-secret:$REDIS_URL_SECRET" "gallery-url-secret:$GALLERY_URL_SECRET" "gallery-keys-secret:$GALLERY_KEYS_SECRET" "vpc-connector:$VPC_CONNECTOR"; do
  [[ -z "${pair#*:}" || "${pair#*:}" =~ ^[A-Za-z0-9/_.-]+$ ]] || die "--${pair%%:*} must be a resource name, got '${pair#*:}'"
done

# ---- gcloud: present, logged in, project known (skipped under --dry-run) -------------
if ! $DRY_RUN && ! $STAGE_ONLY; then
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
need_bundles() {  # need_bundles <who> <bundle...>: each has model.tflite and bundle.json
  local who="$1" bundle
  shift
  for bundle in "$@"; do
    [[ -f "$ROOT/models/$bundle/model.tflite" && -f "$ROOT/models/$bundle/bundle.json" ]] \
      || die "models/$bundle is incomplete (needs model.tflite and bundle.json); $who cannot be staged"
  done
}

# The library, the licence and notices, and the named bundles into <dest>.
copy_library() {  # copy_library <dest> <bundle...>
  local dest="$1" bundle
  shift
  mkdir -p "$dest"
  # The licence and the third-party notices ship with the code and models they cover.
  cp "$ROOT/LICENSE" "$ROOT/THIRD_PARTY_NOTICES.md" "$dest/"
  cp -R "$ROOT/shared" "$dest/shared"
  [[ $# -eq 0 ]] || mkdir -p "$dest/models"
  for bundle in "$@"; do cp -R "$ROOT/models/$bundle" "$dest/models/$bundle"; done
  # Caches and editor litter never ship.
  find "$dest" \( -name __pycache__ -o -name '*.pyc' -o -name '.DS_Store' -o -name '.pytest_cache' \) -prune -exec rm -rf {} +
}

stage() {  # stage <function> -> build/<function>/
  local fn="$1" dest="$BUILD_DIR/$1" bundles=()
  [[ -f "$ROOT/functions/$fn/main.py" ]] || die "functions/$fn/main.py is missing"
  # shellcheck disable=SC2207  # bundle names are single words
  [[ -n "$MODELS_BUCKET" ]] || bundles=($(bundles_of "$fn"))
  [[ ${#bundles[@]} -eq 0 ]] || need_bundles "$fn" "${bundles[@]}"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$ROOT/functions/$fn/main.py" "$dest/main.py"
  cp "$ROOT/requirements.txt" "$dest/requirements.txt"
  copy_library "$dest" ${bundles[@]+"${bundles[@]}"}
  cat > "$dest/.gcloudignore" <<'EOF'
# Staged by deploy.sh: everything here is needed at run time except these.
.gcloudignore
__pycache__/
*.pyc
EOF
  say "staged $dest ($(du -sk "$dest" | cut -f1) KiB)"
}

# build/image/: the container image's build context (see the Dockerfile), both functions.
stage_image() {
  local dest="$BUILD_DIR/image" fn bundles=()
  for fn in "${ALL_FUNCTIONS[@]}"; do
    [[ -f "$ROOT/functions/$fn/main.py" ]] || die "functions/$fn/main.py is missing"
    # shellcheck disable=SC2207
    bundles+=($(bundles_of "$fn"))
  done
  need_bundles "the image" "${bundles[@]}"
  rm -rf "$dest"
  mkdir -p "$dest/app/functions"
  cp "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/requirements.txt" "$dest/"
  cp "$ROOT/functions/serve.py" "$dest/app/functions/serve.py"  # the image's CMD
  for fn in "${ALL_FUNCTIONS[@]}"; do
    mkdir -p "$dest/app/functions/$fn"
    cp "$ROOT/functions/$fn/main.py" "$dest/app/functions/$fn/main.py"
  done
  copy_library "$dest/app" "${bundles[@]}"
  # gcloud run deploy --source uploads the folder: all of it is the build context.
  printf '%s\n' "# Staged by deploy.sh: the image's build context." "__pycache__/" "*.pyc" > "$dest/.gcloudignore"
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
        echo "FACE_EMBEDDER_MODEL=$base/face-embedder-sface" ;;
      predict_gesture)
        echo "GESTURE_MODEL=$base/finger-gesture,$base/hand-sign"
        echo "HAND_DETECTOR_MODEL=$base/hand-detector"
        echo "HAND_LANDMARK_MODEL=$base/hand-landmarks" ;;
    esac
  fi
  local kv
  for kv in ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}; do echo "$kv"; done
}

# Secret Manager secrets mounted as environment variables: one --set-secrets flag, or nothing.
secrets_flag() {
  local pairs=()
  [[ -z "$API_KEY_SECRET" ]] || pairs+=("API_KEY=$API_KEY_SECRET:latest")
  [[ -z "$REDIS_URL_SECRET" ]] || pairs+=("REDIS_URL=$REDIS_URL_SECRET:latest")
  # Only verify_face keeps galleries: predict_gesture never gets the database's URL or the tenants' keys.
  [[ -z "$GALLERY_URL_SECRET" || "${1:-}" != verify_face ]] || pairs+=("GALLERY_URL=$GALLERY_URL_SECRET:latest")
  [[ -z "$GALLERY_KEYS_SECRET" || "${1:-}" != verify_face ]] || pairs+=("GALLERY_KEYS=$GALLERY_KEYS_SECRET:latest")
  [[ ${#pairs[@]} -eq 0 ]] || (IFS=,; echo "--set-secrets=${pairs[*]}")
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
  local secrets
  secrets="$(secrets_flag "$fn")"
  [[ -z "$secrets" ]] || args+=("$secrets")
  [[ -z "$VPC_CONNECTOR" ]] || args+=("--vpc-connector=$VPC_CONNECTOR" --egress-settings=private-ranges-only)
  if $PUBLIC; then args+=(--allow-unauthenticated); else args+=(--no-allow-unauthenticated); fi

  if [[ -n "$MODELS_BUCKET" ]]; then
    for bundle in $(bundles_of "$fn"); do
      run "$PUBLISH_PYTHON" "$ROOT/tools/publish/publish_bundle.py" "$ROOT/models/$bundle" "$MODELS_BUCKET/$fn/$bundle"
    done
  fi
  run "$GCLOUD" "${args[@]}"
}

# One Cloud Run service: the image's FUNCTION_TARGET picks the function.
deploy_service() {
  local fn="$1" name="$(name_of "$1")" secrets
  local args=(run deploy "$name")
  if [[ -n "$IMAGE" ]]; then args+=("--image=$IMAGE"); else args+=("--source=$BUILD_DIR/image"); fi
  args+=("--memory=$MEMORY" "--cpu=$CPU" "--concurrency=$CONCURRENCY"
    "--min-instances=$MIN_INSTANCES" "--max-instances=$MAX_INSTANCES" --port=8080 "--region=$REGION")
  if $CPU_BOOST; then args+=(--cpu-boost); else args+=(--no-cpu-boost); fi
  [[ -z "$PROJECT" ]] || args+=("--project=$PROJECT")
  args+=("--set-env-vars=$({ echo "FUNCTION_TARGET=$fn"; function_env "$fn"; } | env_flag)")
  secrets="$(secrets_flag "$fn")"
  [[ -z "$secrets" ]] || args+=("$secrets")
  [[ -z "$VPC_CONNECTOR" ]] || args+=("--vpc-connector=$VPC_CONNECTOR" --vpc-egress=private-ranges-only)
  if $PUBLIC; then args+=(--allow-unauthenticated); else args+=(--no-allow-unauthenticated); fi
  run "$GCLOUD" "${args[@]}"
}

url_of() {
  local fn="$1" args
  if $SERVICE; then
    args=(run services describe "$(name_of "$1")" "--region=$REGION")
  else
    args=(functions describe "$(name_of "$1")" --gen2 "--region=$REGION")
  fi
  [[ -z "$PROJECT" ]] || args+=("--project=$PROJECT")
  if $SERVICE; then args+=("--format=value(status.url)"); else args+=("--format=value(serviceConfig.uri)"); fi
  if $DRY_RUN; then show "$GCLOUD" "${args[@]}"; else "$GCLOUD" "${args[@]}"; fi
}

if [[ "$TARGET" == image ]] || { $SERVICE && [[ -z "$IMAGE" ]]; }; then
  stage_image
elif ! $SERVICE; then
  for fn in "${FUNCTIONS[@]}"; do stage "$fn"; done
fi
if $STAGE_ONLY; then exit 0; fi
if $DRY_RUN; then
  if [[ -n "$PROJECT" ]]; then echo "# dry run: the commands deploy.sh would run"
  else echo "# dry run: the commands deploy.sh would run (no --project: gcloud's configured project applies)"; fi
fi
for fn in "${FUNCTIONS[@]}"; do
  if $SERVICE; then deploy_service "$fn"; else deploy_one "$fn"; fi
done

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
  if $SERVICE; then kind=services; else kind=functions; fi
  echo "Private $kind: call with an identity token, e.g."
  echo "  curl -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" <url>"
fi
