# The two set-up commands: `make demo` and `make test`. Both create .venv and install the
# project into it first, so a fresh machine with Python 3.11 needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test test-fast clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dask,facenet]"
	# face_recognition itself is only a test oracle (our encodings must equal its own); it
	# declares dlib as a source build, so it is installed without dependencies.
	$(BIN)/python -m pip install -q --no-deps face_recognition==1.3.0
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

clean:
	rm -rf $(VENV) demo_out examples/demo.mp4 .pytest_cache
