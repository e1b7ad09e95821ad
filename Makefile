# Two commands for a newcomer: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# SAM CLI pins old boto3/cfn-lint: it lives in its own virtualenv, never in $(VENV).
SAM_VENV ?= .tools/sam
SAM_VERSION ?= 1.170.0
SAM := $(SAM_VENV)/bin/sam
# `sam build` needs an interpreter named python3.13 (the Lambda runtime) on PATH. A pyenv
# shim is not enough (it hangs or fails without PYENV_VERSION): prefer a real one.
PY313 ?= $(shell ls -d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1)
PY313 := $(or $(PY313),$(shell command -v python3.13 2>/dev/null))
export SAM_CLI_TELEMETRY := 0
# The IAM evaluator of emulated AWS (Node, npm): the sources are committed beside the
# Python that starts it; node_modules goes here, outside the Lambda's CodeUri (functions/).
IAM_SIMULATOR_SRC := functions/xregion_sync/local/iam_simulator
IAM_SIMULATOR ?= .tools/iam-simulator

.PHONY: install iam-simulator demo test test-exhaustive test-py313 lint typecheck sam-validate sam-build deploy bench schema clean

install: $(VENV)/.installed iam-simulator

iam-simulator: $(IAM_SIMULATOR)/.installed

$(IAM_SIMULATOR)/.installed: $(IAM_SIMULATOR_SRC)/package.json $(IAM_SIMULATOR_SRC)/package-lock.json
	@command -v npm >/dev/null || { echo "emulated AWS enforces IAM with a Node evaluator: install Node.js 20+ and npm"; exit 1; }
	mkdir -p $(IAM_SIMULATOR)
	cp $^ $(IAM_SIMULATOR)/
	cd $(IAM_SIMULATOR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: install
	$(BIN)/xregion-sync demo

test: install
	$(BIN)/python -m pytest

# Slow checks outside `make test`: e.g. every IAM grant removed in turn, each run through
# the whole scenario suite (about 40 re-runs).
test-exhaustive: install
	$(BIN)/python -m pytest -m exhaustive

# The Lambda runtime is python3.13: the suite runs there too (CI runs both).
test-py313: iam-simulator
	@test -n "$(PY313)" || { echo "test-py313 needs python3.13 on PATH or under pyenv"; exit 1; }
	test -x .venv313/bin/python || $(PY313) -m venv .venv313
	.venv313/bin/pip install -q --upgrade pip
	.venv313/bin/pip install -q -e '.[dev]'
	.venv313/bin/python -m pytest -p no:cacheprovider

lint: install typecheck sam-validate sam-build
	$(BIN)/ruff check functions tests bench
	$(BIN)/python -m xregion_sync.local.policy_lint

# mypy --strict on functions/xregion_sync; the settings are [tool.mypy] in pyproject.toml.
typecheck: install
	$(BIN)/mypy

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_VERSION)

# --lint (cfn-lint) and the plain translator catch different mistakes: run both, on the
# stack and on the event forwarder deployed in each source region.
sam-validate: $(SAM)
	$(SAM) validate --lint
	$(SAM) validate --region us-east-1
	$(SAM) validate --lint --template forwarder/template.yaml
	$(SAM) validate --region us-east-1 --template forwarder/template.yaml

sam-build: $(SAM)
	@test -n "$(PY313)" || { echo "sam build needs python3.13 (the Lambda runtime) on PATH"; exit 1; }
	PATH="$(dir $(PY313)):$$PATH" $(SAM) build < /dev/null

# First deploy: asks for the stack name, region and parameters and saves them to
# samconfig.toml; later deploys reuse them (answer the prompts with Enter).
deploy: sam-build
	PATH="$(dir $(PY313)):$$PATH" $(SAM) deploy --guided

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

schema: install
	$(BIN)/python -m xregion_sync.schema > functions/xregion_sync/config.schema.json

clean:
	rm -rf $(VENV) .venv313 .tools .aws-sam .pytest_cache .mypy_cache
