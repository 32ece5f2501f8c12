# Two commands: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned to the CPU build this machine serves from disk, so CI never pulls a CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: demo test lint venv clean bench

venv: $(STAMP)

# The long step (torch, Ray, cobra, rdkit: a few minutes) shows pip's progress; the short ones stay quiet.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	@echo "== make: setting up $(VENV) (torch, ray, cobra, rdkit, ...): a few minutes the first time =="
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install $(TORCH_PIN)
	$(BIN)/pip install -e '.[dev]' $(TORCH_PIN)
	touch $(STAMP)
	@echo "== make: $(VENV) ready =="

demo: $(STAMP)
	$(BIN)/kingems-ray demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25

lint: $(STAMP)
	$(BIN)/ruff check kingems_ray tests scripts

clean:
	rm -rf demo_out .pytest_cache
