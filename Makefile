# airchitect: every target runs inside .venv, built with the pinned CPU-only dependencies.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
CONSTRAINTS := constraints.txt

.PHONY: install test test-all lint demo bench validation clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	python3 -m venv $(VENV)
	$(PIP) install -c $(CONSTRAINTS) -e '.[dev,cluster]'
	touch $@

test: install  ## fast suite (a few minutes at most); slow tests are marked and skipped
	$(PY) -m pytest -q

test-all: install  ## everything, slow tests included
	$(PY) -m pytest -q -m ''

lint: install
	$(VENV)/bin/ruff check airchitect data_gen models serve tests bench
	$(VENV)/bin/ruff format --check airchitect data_gen models serve tests bench

demo: install  ## a real end-to-end command: ResNet-50 on a 16x16 weight-stationary design
	$(VENV)/bin/airchitect evaluate --model resnet50 --pe-rows 16 --pe-cols 16 --dataflow ws \
		--objective edp --top 10

bench: install  ## cost-model and mapper throughput; results go to BENCHMARKS.md by hand
	$(PY) bench/cost_model.py

validation: install  ## the model-vs-reference table of docs/validation.md
	$(PY) -m airchitect.cost.validation

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
