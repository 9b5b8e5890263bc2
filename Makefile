# The two set-up commands: `make demo` and `make test`. Both create .venv and install the
# project into it first, so a fresh machine with Python 3.11 needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test test-fast test-latest lock clean docs

# The test environment is installed from the committed lock (requirements/ci.txt): every package,
# direct and transitive, at an exact version, checked by hash, nothing resolved here. So a new
# upstream release cannot change what `make test` and CI run; `make lock` refreshes the lock on
# purpose and `make test-latest` tries the newest versions that pyproject.toml allows.
LOCK := requirements/ci.txt
ORACLE := requirements/oracle.txt
LOCK_INPUTS := pyproject.toml requirements/build.in requirements/oracle.in

$(STAMP): pyproject.toml $(LOCK) $(ORACLE)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	# The project itself: no build isolation, so its build backend is the locked setuptools.
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	# face_recognition is only a test oracle (our encodings must equal its own); it declares
	# dlib as a source build, so it is installed without dependencies.
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(ORACLE)
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/python examples/make_demo_clip.py examples/demo.mp4
	$(BIN)/clusterpipe run examples/demo.mp4 --out demo_out

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The edit loop: everything but the slow end-to-end and browser tests, on two processes
# (pytest-xdist; under 40 s on 2 cores). CI runs the whole suite in one.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow and not browser" -q -n 2

# The architecture notes and the API reference (mkdocs + mkdocstrings, from the docstrings, read
# statically: the docs environment has none of the package's dependencies) into site/; open
# site/index.html. Its own venv, from its own hashed lock.
DOCS_VENV := .venv-docs
$(DOCS_VENV)/.installed: requirements/docs.txt
	rm -rf $(DOCS_VENV)
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q --require-hashes --no-deps -r requirements/docs.txt
	touch $@

docs: $(DOCS_VENV)/.installed
	$(DOCS_VENV)/bin/mkdocs build -q

# Refresh the lock from pyproject.toml's ranges (needs the package index). uv resolves for every
# platform (--universal) from Python 3.11 on; commit the result after `make test` passes on it.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q "uv>=0.5"
	.venv-lock/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --extra test --extra dask --extra facenet \
		pyproject.toml requirements/build.in -o $(LOCK)
	.venv-lock/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --no-deps requirements/oracle.in -o $(ORACLE)
	.venv-lock/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" requirements/docs.in -o requirements/docs.txt

# Not in CI: the newest versions pyproject.toml allows, in a venv of their own, and the fast
# tests, so that an upstream release that breaks clusterpipe is seen on purpose. `pip list`
# in .venv-latest shows what was tried.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade -e ".[test,dask,facenet]"
	.venv-latest/bin/python -m pip install -q --no-deps face_recognition
	.venv-latest/bin/python -m pip list --format freeze > .venv-latest/versions.txt
	.venv-latest/bin/python -m pytest -m "not slow and not browser" -q -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) .venv-latest .venv-lock .venv-docs site demo_out examples/demo.mp4 .pytest_cache
