# Two commands on a fresh machine: `make run` (the app) and `make test` (the test suite).
# Each creates or refreshes the virtual environment in .venv when requirements.txt changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
ARGS ?=

.PHONY: setup run test lint bench convert clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' || \
	  { echo "meshcam needs Python 3.10-3.12 (dataclass slots; mediapipe 0.10.21); found $$($(PYTHON) --version). Install python3.11."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
	  { echo "could not create a virtual environment: sudo apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .  # the `meshcam` command in .venv/bin
	$(PY) -c "import cv2, onnxruntime, mediapipe, PyQt6, pyqtgraph, av; print('environment ok: cv2', cv2.__version__, '| onnxruntime', onnxruntime.__version__)"
	@touch $(STAMP)

run: setup
	$(PY) main.py $(ARGS)

test: setup
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) main.py bench $(ARGS)

convert: setup
	$(PY) main.py convert --force

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
