# Set-up and everyday commands. Two of them do everything on a fresh machine:
#   make demo   - virtual environment + runtime install, then the app on its bundled default
#   make test   - system packages (Xvfb, Mesa, xdotool) + full environment + the MediaPipe teacher
#                 environment, then the whole test suite
# and for day-to-day work:
#   make test-fast - the linter and every test not marked slow (pyproject.toml, [tool.pytest.ini_options]
#                 markers), without the teacher environment: about 3 minutes
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Debian packages the tests need: a virtual X server, Mesa's software OpenGL/EGL,
# and the CMU motion clips (assimp-testmodels).
APT_PKGS := xvfb xauth xdotool libegl1 libegl-mesa0 libgl1-mesa-dri libglx-mesa0 libgl1 assimp-testmodels
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint sysdeps venv runtime dev teacher clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

venv: $(PY)

# Runtime only (no torch).
$(VENV)/.runtime: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

# Everything the tests use. torch first so pip takes the local CPU wheel.
$(VENV)/.dev: pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[train,dev]"
	touch $@

runtime: $(VENV)/.runtime
dev: $(VENV)/.dev

# The MediaPipe teacher for in-the-wild labels lives in its own environment (it pins numpy<2).
teacher: dev
	$(PY) -m trainer teacher-setup

sysdeps:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: runtime
	$(VENV)/bin/mocap demo

# The linter runs first (a finding fails the run); pytest's exit code 5 (no tests collected) counts as a
# failure like any other.
test: sysdeps dev teacher
	$(VENV)/bin/ruff check .
	@if [ -n "$$DISPLAY" ]; then run=""; else run='xvfb-run -a -s "-screen 0 1600x900x24"'; fi; \
	eval $$run $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

# The fast tier: the same suite without the tests marked slow (each over about 3 s here, or needing the
# teacher environment); `make test` stays the one command CI runs.
test-fast: sysdeps dev
	$(VENV)/bin/ruff check .
	@if [ -n "$$DISPLAY" ]; then run=""; else run='xvfb-run -a -s "-screen 0 1600x900x24"'; fi; \
	eval $$run $(PY) -m pytest -m "'not slow'" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests" >&2; fi; exit $$rc

# The linter alone (ruff; its rule set is [tool.ruff] in pyproject.toml); `test` runs it too.
lint: dev
	$(VENV)/bin/ruff check .

bench: dev
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .venv-teacher .pytest_cache .hypothesis
