# One image, both functions: FUNCTION_TARGET (functions-framework's own variable) picks
# verify_face (the default) or predict_gesture; PORT is honoured (Cloud Run, Knative and
# Render set it).
#
# The build context is the staged tree, not the repo root:
#   ./deploy.sh image --stage-only                  # -> build/image/: this file, app/, requirements.txt
#   docker build -t tflite-functions build/image
#   docker run --rm -p 8080:8080 --memory=256m -e FUNCTION_TARGET=predict_gesture tflite-functions
#
# ENV below suits the 256 MiB tier with 1 vCPU (a Cloud Run service or a Knative pod at
# 256Mi; measured peak ~170 MiB one request at a time, ~155 MiB with two to four 12 MP
# photos at once: docs/benchmark.md); on a bigger host (Render's starter and ACI's 0.5 GB)
# set MEMORY_LIMIT_MB to the container's memory limit, and THREADS to the requests the
# platform sends at once (deploy.sh sets both).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv from wheels, and the app's bytecode --------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt /tmp/requirements.txt
# Wheels only: nothing is compiled, so no compiler is needed here or left in the image.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools
COPY app/ /app/
WORKDIR /app
# The model bundles verified now (the build fails on a model that is not the one its
# bundle.json names) and stamped, so that a start does not hash them again while they are
# unchanged (their size and modification second, bundle.json's bytes): shared/runtime/seal.py.
# Bytecode compiled now: a cold start never waits for it and a read-only image never writes
# it; unchecked-hash: used as is, whatever the file times the copy below leaves.
RUN python -m shared.runtime.seal models/* \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /app /opt/venv/lib

# ---- run: the slim base, the venv and the app, as an unprivileged user ---------------
FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FUNCTION_TARGET=verify_face \
    PORT=8080 \
    WORKERS=1 \
    THREADS=2 \
    MEMORY_LIMIT_MB=256 \
    MALLOC_ARENAS=2 \
    MALLOC_ARENA_MAX=2
USER 10001
EXPOSE 8080
# functions/serve.py serves FUNCTION_TARGET from functions/<target>/main.py (functions-framework's
# app) on gunicorn (WORKERS processes x THREADS threads) on PORT, each request read whole
# before a thread sees it (slow clients: README); exec: gunicorn gets the platform's SIGTERM.
CMD ["python", "functions/serve.py"]
