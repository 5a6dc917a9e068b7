# mestream: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench lint clean system-deps

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
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mestream run configs/demo.yaml --tail

test: install system-deps
	$(BIN)/ruff check pipeline engines train tests
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/mestream bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
