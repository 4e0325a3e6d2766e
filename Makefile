# airchitect: every target runs inside .venv, built with the pinned CPU-only dependencies.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
CONSTRAINTS := constraints.txt

.PHONY: install test test-all lint demo bench validation data train clean

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

bench: install  ## every benchmark of BENCHMARKS.md (the labeller one takes about 45 min)
	$(PY) bench/cost_model.py
	$(PY) bench/generate_throughput.py --n 2000 --workers 2
	$(PY) bench/labellers.py --workloads 50 --workers 2

data: install  ## the training dataset: 1e5 exact labels (about 50 min on 2 cores)
	$(VENV)/bin/airchitect generate --n 100000 --workloads zoo+llm+synthetic --out data/base

train: install  ## the recommender on data/base
	$(VENV)/bin/airchitect train --data data/base --out runs/base

validation: install  ## the model-vs-reference table of docs/validation.md
	$(PY) -m airchitect.cost.validation

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
