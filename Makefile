# dnnc — the two commands of the quick start:
#   make demo   create .venv, install everything, compile and train the reference MNIST network
#   make test   create .venv, install everything, run the whole test suite
#
# PyTorch's CPU build is installed first, pinned, so that pip never pulls the multi-GB CUDA build.
# On a machine whose PyPI mirror serves only CUDA wheels, point pip at PyTorch's CPU index:
#   make demo TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DNNC := $(VENV)/bin/dnnc
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
DEMO_SPEC ?= examples/mnist_bn_dropout.toml
DEMO_BACKEND ?= torch
PYTEST_ARGS ?=

# Use the bundled datasets of a checkout with ../shared beside it (CI); otherwise dnnc looks in
# its cache and system locations and downloads MNIST / Fashion-MNIST with checksums.
ifneq ($(wildcard ../shared/datasets),)
export DNNC_DATA_DIR ?= $(abspath ../shared/datasets)
endif

.PHONY: venv demo test test-fast bench bench-phases conformance-report clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml examples/plugins/dnnc-numpy/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e ".[all,test]"
	$(PY) -m pip install --quiet -e examples/plugins/dnnc-numpy
	touch $@

demo: venv
	$(DNNC) backends
	$(DNNC) validate $(DEMO_SPEC)
	$(DNNC) build $(DEMO_SPEC) --backend keras -o runs/demo/model.keras
	$(DNNC) build $(DEMO_SPEC) --backend torch -o runs/demo/model.pt
	$(DNNC) train $(DEMO_SPEC) --backend $(DEMO_BACKEND) --out runs/demo/train-$(DEMO_BACKEND)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) benchmarks/train_speed.py

bench-phases: venv
	$(PY) benchmarks/process_phases.py --threads 1

conformance-report: venv
	$(PY) benchmarks/conformance_report.py

clean:
	rm -rf $(VENV) runs .pytest_cache
