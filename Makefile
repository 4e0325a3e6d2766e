# airchitect: every target runs inside .venv, built with the pinned CPU-only dependencies.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
CONSTRAINTS := constraints.txt

.PHONY: install test test-all lint demo bench validation data train model v2 clean

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

demo: install  ## the main job: a design for ResNet-50 from the shipped model, under 40 mm²
	$(VENV)/bin/airchitect recommend --model resnet50 --area-mm2 40 --objective edp --top 10

bench: install  ## every benchmark of BENCHMARKS.md (the labeller one takes about 45 min; HTTP uses wrk where installed)
	$(PY) bench/cost_model.py
	$(PY) bench/generate_throughput.py --n 2000 --workers 2
	$(PY) bench/labellers.py --workloads 50 --workers 2
	$(PY) bench/serve_latency.py
	$(PY) bench/whole_network.py --repeats 5
	$(PY) bench/eyeriss_compare.py
	$(PY) bench/http_load.py --client $$(command -v wrk >/dev/null && echo wrk || echo python) --clients 50 --seconds 20 --workers 2 --think-ms 1000

data: install  ## the base dataset: 1e5 exact labels of zoo + synthetic layers, 32 runners-up each (~65 min, 2 cores)
	$(VENV)/bin/airchitect generate --n 100000 --workloads zoo+synthetic --seed 0 --top-k 32 --out data/base

train: data  ## the recommender on data/base with the shipped configuration
	$(VENV)/bin/airchitect train --data data/base --out runs/base --config models/configs/default.yaml

model: train  ## the shipped serving bundle (ONNX + faiss), rebuilt from scratch with fixed seeds
	$(VENV)/bin/airchitect export --model runs/base --data data/base --out serve/bundles/default

# the two public AIrchitect v2 files (MIT; a copy in ../shared/data/airchitect-v2, or point V2_DATA
# at the release's dse_dataset/ folder)
V2_DATA ?= ../shared/data/airchitect-v2

v2: install  ## AIrchitect v2 parity: per release file, import, train on the published split, print exact ConfigID at batch 1 (~10 min, 1 core)
	$(PY) bench/airchitect_v2.py --csv $(V2_DATA)/conv_dataset_100k.csv
	$(PY) bench/airchitect_v2.py --csv $(V2_DATA)/gemm_dataset_100k.csv

validation: install  ## the model-vs-reference table of docs/validation.md
	$(PY) -m airchitect.cost.validation

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
