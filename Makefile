# Two commands for a newcomer: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every Python dependency is installed from a lock with hashes, nothing else (CONTRIBUTING.md,
# "Dependencies"): uv.lock for the project (demo, tests, lint, bench), locks/uv.txt for uv
# itself, locks/sam.txt for the SAM CLI, functions/requirements.txt for the Lambda zip.
UV_VENV ?= .tools/uv
UV := $(UV_VENV)/bin/uv
# uv uses this machine's interpreters and never downloads one.
export UV_PYTHON_DOWNLOADS := never
# SAM CLI pins old boto3/cfn-lint: it lives in its own virtualenv, never in $(VENV).
SAM_VENV ?= .tools/sam
SAM := $(SAM_VENV)/bin/sam
# `sam build` needs an interpreter named python3.13 (the Lambda runtime) on PATH. A pyenv
# shim is not enough (it hangs or fails without PYENV_VERSION): prefer a real one.
PY313 ?= $(shell ls -d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1)
PY313 := $(or $(PY313),$(shell command -v python3.13 2>/dev/null))
export SAM_CLI_TELEMETRY := 0
# The IAM evaluator of emulated AWS (Node, npm): the sources are committed beside the
# Python that starts it; node_modules goes here, outside the Lambda's CodeUri (functions/).
IAM_SIMULATOR_SRC := emulator/xregion_sync_emulator/iam_simulator
IAM_SIMULATOR ?= .tools/iam-simulator
# Tests in parallel, one worker per core (pytest-xdist); PYTEST_WORKERS=0 runs them in one process.
# loadgroup: the tests of an xdist_group share one worker, so a costly module fixture is
# computed once, not once per worker.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: install iam-simulator demo test test-fast test-exhaustive test-aws test-aws-sweep test-py313 test-latest lock lint typecheck sam-validate sam-build sam-build-check deploy deploy-forwarder check-forwarder-region bench schema config-docs clean

install: $(VENV)/.installed iam-simulator

iam-simulator: $(IAM_SIMULATOR)/.installed

$(IAM_SIMULATOR)/.installed: $(IAM_SIMULATOR_SRC)/package.json $(IAM_SIMULATOR_SRC)/package-lock.json
	@command -v npm >/dev/null || { echo "emulated AWS enforces IAM with a Node evaluator: install Node.js 20+ and npm"; exit 1; }
	mkdir -p $(IAM_SIMULATOR)
	cp $^ $(IAM_SIMULATOR)/
	cd $(IAM_SIMULATOR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# uv itself comes from a hashed requirements file, installed by the pip every Python has.
$(UV): locks/uv.txt
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r locks/uv.txt
	touch $@

# --frozen: install exactly uv.lock (hashes checked), never re-resolve.
$(VENV)/.installed: uv.lock pyproject.toml $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --frozen --extra dev --python $(PYTHON)
	touch $@

demo: install
	$(BIN)/xregion-sync demo

test: install
	$(PYTEST)

# The inner loop: every test that runs no emulated state machine.
test-fast: install
	$(PYTEST) -m 'not statemachine and not exhaustive'

# Slow checks outside `make test`: e.g. every IAM grant removed in turn, each run through
# the whole scenario suite (about 40 re-runs).
test-exhaustive: install
	$(PYTEST) -m exhaustive

# Opt-in, and it costs money (about US$1, 1.5-3 hours): the core scenarios against a real
# account, in a throwaway stack (docs/acceptance-on-aws.md). Runs only with AWS_PROFILE and
# XRS_AWS_ACCEPT_COSTS=1; never part of `make test` (acceptance/ is not in its testpaths).
test-aws: install sam-build
	$(BIN)/python -m pytest -p no:cacheprovider -s -rs acceptance

# Delete what an acceptance run that died left: make test-aws-sweep RUN_ID=xrs-acc-...
test-aws-sweep: install $(SAM)
	@test -n "$(RUN_ID)" || { echo "usage: make test-aws-sweep RUN_ID=<the id the run printed>"; exit 1; }
	$(BIN)/python -m acceptance sweep $(RUN_ID)

# The Lambda runtime is python3.13: the suite runs there too (CI runs both).
test-py313: iam-simulator $(UV)
	@test -n "$(PY313)" || { echo "test-py313 needs python3.13 on PATH or under pyenv"; exit 1; }
	UV_PROJECT_ENVIRONMENT=.venv313 $(UV) sync -q --frozen --extra dev --python $(PY313)
	.venv313/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -p no:cacheprovider

# The canary: a throwaway environment from the newest releases that pyproject.toml's ranges
# allow (the lock is ignored), running the whole suite. Green: `make lock` may move to them.
test-latest: iam-simulator $(UV)
	rm -rf .venv-latest
	$(UV) venv -q --python $(PYTHON) .venv-latest
	VIRTUAL_ENV=.venv-latest $(UV) pip install -q --upgrade --refresh -e '.[dev]'
	.venv-latest/bin/python -c 'import importlib.metadata as m; print("test-latest on", *(p + " " + m.version(p) for p in ("moto", "boto3", "cfn-lint", "aws-sam-translator")))'
	.venv-latest/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -p no:cacheprovider

# Re-resolve every lock to the newest releases within the ranges (pyproject.toml,
# locks/*.in), then `make test lint` and commit the changed locks.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) export -q --frozen --no-emit-project --no-dev --format requirements-txt \
		--output-file functions/requirements.txt
	$(UV) pip compile -q --upgrade --generate-hashes --universal --python-version 3.11 \
		locks/uv.in --output-file locks/uv.txt
	$(UV) pip compile -q --upgrade --generate-hashes --universal --python-version 3.11 \
		locks/sam.in --output-file locks/sam.txt

lint: install typecheck sam-validate sam-build-check
	$(BIN)/ruff check functions emulator tests bench acceptance
	$(BIN)/python -m xregion_sync_emulator.policy_lint

# mypy --strict on the package, the emulator and the acceptance harness; the settings are
# [tool.mypy] in pyproject.toml.
typecheck: install
	$(BIN)/mypy

# uv, not pip: pip's hash mode refuses the lock's boto3-stubs, which aws-sam-cli asks for with extras.
$(SAM): locks/sam.txt $(UV)
	rm -rf $(SAM_VENV)
	$(UV) venv -q --python $(PYTHON) $(SAM_VENV)
	VIRTUAL_ENV=$(SAM_VENV) $(UV) pip sync -q --require-hashes locks/sam.txt
	touch $@

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

# The same commit builds the same function code: two builds, every file's digest compared.
sam-build-check: $(SAM)
	@test -n "$(PY313)" || { echo "sam build needs python3.13 (the Lambda runtime) on PATH"; exit 1; }
	rm -rf .aws-sam/check && mkdir -p .aws-sam/check
	for build in one two; do \
		PATH="$(dir $(PY313)):$$PATH" $(SAM) build --build-dir .aws-sam/check/$$build < /dev/null > /dev/null && \
		(cd .aws-sam/check/$$build && find . -type f ! -name template.yaml -exec sha256sum {} + | sort -k 2) \
			> .aws-sam/check/$$build.sha256 || exit 1; \
	done
	cmp .aws-sam/check/one.sha256 .aws-sam/check/two.sha256
	@echo "sam build is reproducible: $$(wc -l < .aws-sam/check/one.sha256) files, identical in two builds"

# First deploy: asks for the stack name, region and parameters and saves them to
# samconfig.toml; later deploys reuse them (answer the prompts with Enter).
deploy: sam-build
	PATH="$(dir $(PY313)):$$PATH" $(SAM) deploy --guided

# The event forwarder, once in each source region other than the stack's (docs/deployment.md):
#   make deploy-forwarder REGION=eu-west-1 EVENT_BUS_ARN=<the stack's EventBusArn output>
# Refused in the stack's own region, whose rules already see its events.
deploy-forwarder: check-forwarder-region $(SAM)
	$(SAM) deploy --template-file forwarder/template.yaml --region $(REGION) \
		--stack-name xregion-sync-forwarder --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		--parameter-overrides TargetEventBusArn=$(EVENT_BUS_ARN)

check-forwarder-region:
	@test -n "$(REGION)" && test -n "$(EVENT_BUS_ARN)" || { echo "usage: make deploy-forwarder REGION=<a source region> EVENT_BUS_ARN=<the stack's EventBusArn output>"; exit 2; }
	@case "$(EVENT_BUS_ARN)" in arn:*:events:$(REGION):*) echo "$(REGION) is the stack's own region: its rules already see the events there, no forwarder is needed (deploy it in each other source region)"; exit 2;; esac

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

schema: install
	$(BIN)/python -m xregion_sync.schema > functions/xregion_sync/config.schema.json

# docs/configuration.md is generated from the options' definitions, as the schema is.
config-docs: install
	$(BIN)/python -m xregion_sync.config_docs > docs/configuration.md

clean:
	rm -rf $(VENV) .venv313 .venv-latest .tools .aws-sam .pytest_cache .mypy_cache
