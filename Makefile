# The README's two commands are `make run` and `make test`; everything else is a convenience.
# Environments are installed by uv from lock files (uv.lock, envs/*/uv.lock: every package pinned
# with its hashes), never resolved at install time. With UV_OFFLINE=1 they install from uv's cache
# alone. uv itself comes from PyPI, pinned with hashes (envs/uv/requirements.txt).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := .venv-uv/bin/uv
# The deploy Lambda's dependencies, installed for its runtime (target lambda-deps).
LAMBDA_DEPS := .work/lambda-deps
# --locked: refuse to install if uv.lock no longer matches its pyproject.toml.
UV_SYNC := $(UV) sync --locked --quiet

.PHONY: run setup setup-run lambda-deps synth synth-cdktn cdktn-setup local test test-lambda check bench lock requirements add clean container-setup

## What synth and run-local run with: Python may cache the bytecode of what it imports even where
## PYTHONDONTWRITEBYTECODE is set, so each module is compiled once (by the first process that
## imports it) instead of in every process: synth, run-local and the training toolkit's
## subprocess import much of the same stack (`make setup` compiles the whole .venv instead).
RUN_PY := env -u PYTHONDONTWRITEBYTECODE $(PY)

## Set up the virtualenv (what synth and run-local import), synthesize every environment, and
## run the ML path locally.
run: setup-run
	$(RUN_PY) main.py synth
	$(RUN_PY) main.py run-local --workdir .work/local-run

## uv, from PyPI with the system python (hash-checked). With a pip of its own (>= 22.3) the system
## Python installs uv into a virtualenv created without pip (creating one with pip costs ~4 s of
## CPU, most of uv's bootstrap); without one, the virtualenv's own pip does.
PIP_INSTALL_UV := install --disable-pip-version-check --quiet --require-hashes --no-deps -r envs/uv/requirements.txt
$(UV): envs/uv/requirements.txt
	test -x .venv-uv/bin/python || $(PYTHON) -m venv --without-pip .venv-uv
	if $(PYTHON) -m pip --python .venv-uv/bin/python --version >/dev/null 2>&1; then \
	  $(PYTHON) -m pip --python .venv-uv/bin/python $(PIP_INSTALL_UV); \
	else \
	  .venv-uv/bin/python -m ensurepip --default-pip >/dev/null && .venv-uv/bin/python -m pip $(PIP_INSTALL_UV); \
	fi
	touch $@

## Project virtualenv: exactly the packages of uv.lock, every dependency group (re-run when it
## changes), with bytecode compiled (pyproject.toml: compile-bytecode).
setup: $(VENV)/.installed $(LAMBDA_DEPS)/.installed
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VENV) $(UV_SYNC) --python $(PYTHON)
	touch $@

## What `make run` needs: [project.dependencies] of uv.lock only, no dependency group (dev,
## sagemaker, monitor), and no bytecode compilation (about 80 s of CPU for the first install;
## `make setup` does it). --inexact: packages another target installed stay, so switching between
## `make run` and `make test` installs nothing twice.
setup-run: $(VENV)/.installed-run $(LAMBDA_DEPS)/.installed
$(VENV)/.installed-run: pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VENV) $(UV_SYNC) --python $(PYTHON) --no-default-groups --inexact --no-compile-bytecode
	touch $@

## What the deploy Lambda's zip ships beside lambda_deploy/ (docs/lambda-dependencies.md):
## envs/lambda-deps' wheels for its runtime (CPython 3.13, manylinux x86_64), hash-checked, never
## built here; the marker holds the hash of the requirements they were installed from (synth
## refuses a stale folder).
lambda-deps: $(LAMBDA_DEPS)/.installed
$(LAMBDA_DEPS)/.installed: envs/lambda-deps/requirements.txt $(UV)
	rm -rf $(LAMBDA_DEPS)
	$(UV) pip install --quiet --target $(LAMBDA_DEPS) --python-platform x86_64-manylinux_2_17 --python-version 3.13 --only-binary :all: --no-deps --require-hashes --no-compile --no-config -r envs/lambda-deps/requirements.txt
	sha256sum envs/lambda-deps/requirements.txt | cut -d' ' -f1 > $@

synth: setup-run
	$(RUN_PY) main.py synth

## The same app under CDK Terrain (cdktn + cdktn-provider-aws, .venv-cdktn from envs/cdktn), every
## environment into cdktn.out (README: Moving to CDK Terrain).
synth-cdktn: cdktn-setup
	MLOPS_CDK_FLAVOUR=cdktn .venv-cdktn/bin/python main.py synth --outdir cdktn.out

cdktn-setup: .venv-cdktn/.installed
.venv-cdktn/.installed: envs/cdktn/pyproject.toml envs/cdktn/uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-cdktn $(UV_SYNC) --project envs/cdktn --python $(PYTHON)
	touch $@

local: setup-run
	$(RUN_PY) main.py run-local --workdir .work/local-run

## The whole test suite (what CI runs), as two pytest processes on the two cores, and beside them
## the deploy Lambda's tests on its own runtime; all three must pass (the logs of the two run in
## the background follow). SUITE_PART_1 is the synthesized-stacks and IAM half: the tests that
## record AWS calls (tests/iam/declarations.py RECORDING_TESTS) run in the same process as the
## tests that judge them, and the session's synth is shared by every test that reads it. Part 2
## is every other test (tests/, less part 1's paths: nothing can fall between the two), mostly
## training, serving and the container. Both parts train the session's 20k-row model once.
## They share no files: each pytest has its own temporary folders; the Lambda's tests use moto
## in-process.
SUITE_PART_1 := tests/aws_clients tests/iam tests/infra tests/lambda_deploy tests/ops \
	tests/pipeline_src/jobs tests/test_checkov.py tests/test_seams.py tests/test_workflows.py
test: setup cli-setup checkov-setup cdktn-setup container-setup .venv-lambda/.installed
	@mkdir -p .work
	$(MAKE) --no-print-directory test-lambda > .work/test-lambda.log 2>&1 & lambda=$$!; \
	$(PY) -m pytest $(SUITE_PART_1) > .work/test-part-1.log 2>&1 & part1=$$!; \
	$(PY) -m pytest $(addprefix --ignore=,$(SUITE_PART_1)); part2=$$?; \
	wait $$part1; part1_status=$$?; \
	wait $$lambda; lambda_status=$$?; \
	echo "---- pytest $(SUITE_PART_1), run beside ----"; cat .work/test-part-1.log; \
	echo "---- make test-lambda (python3.13), run beside the suite ----"; cat .work/test-lambda.log; \
	test $$part1_status -eq 0 && test $$part2 -eq 0 && test $$lambda_status -eq 0

## The Lambda's runtime, python3.13 with the runtime's boto3 (envs/lambda-py313): its tests only;
## tests marked infra need the CDKTF app and run in the project environment.
test-lambda: .venv-lambda/.installed $(LAMBDA_DEPS)/.installed
	.venv-lambda/bin/python -m pytest -q tests/lambda_deploy -m "not infra"

## Fast inner loop: the suite without the tests that need the installed tools (cdktf and cdktn
## CLIs, .venv-cdktn, checkov).
check: setup
	$(PY) -m pytest -q -m "not tools"

## The SageMaker scikit-learn container's packages on Python 3.12 (envs/container-py312) and
## nginx, for tests/container and run-local: .venv-container, reinstalled when its lock changes.
container-setup: $(UV)
	UV=$(UV) scripts/container-env.sh

bench: setup container-setup cdktn-setup
	$(PY) bench/run_all.py

## Tool environments, each a uv project of its own under envs/ (pyproject.toml + uv.lock), with
## the Python it is for and where its requirements file is exported (default: beside it).
TOOL_ENVS := envs/checkov envs/cdktn envs/lambda-py313 envs/lambda-deps envs/jobs-py312 envs/monitor-py312 envs/container-py312
# python3.13 for the Lambda's environment, python3.12 for the CodeBuild jobs' and the scikit-learn
# container's: on PATH, else pyenv's.
PYTHON313 ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || ls -d "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
PYTHON312 ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || ls -d "$$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)
PYTHON_envs/checkov      = $(PYTHON)
PYTHON_envs/cdktn        = $(PYTHON)
PYTHON_envs/lambda-py313 = $(PYTHON313)
PYTHON_envs/lambda-deps  = $(PYTHON313)
PYTHON_envs/jobs-py312   = $(PYTHON312)
PYTHON_envs/monitor-py312 = $(PYTHON312)
PYTHON_envs/container-py312 = $(PYTHON312)
# The CodeBuild jobs install it from the source zip (pipeline_src/buildspecs).
EXPORT_envs/jobs-py312   = pipeline_src/requirements-jobs.txt
EXPORT_envs/monitor-py312 = pipeline_src/requirements-monitor.txt
export_of = $(or $(EXPORT_$(1)),$(1)/requirements.txt)

.venv-lambda/.installed: envs/lambda-py313/pyproject.toml envs/lambda-py313/uv.lock $(UV)
	@test -n "$(PYTHON313)" || { echo "error: python3.13 not found (the Lambda runtime's Python); install it or set PYTHON313" >&2; exit 2; }
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-lambda $(UV_SYNC) --project envs/lambda-py313 --python $(PYTHON313)
	touch $@

## Re-resolve every lock file within the pins of its pyproject.toml, then re-export requirements.
lock: $(UV)
	$(UV) lock --python $(PYTHON)
	$(foreach env,$(TOOL_ENVS),$(UV) lock --project $(env) --python $(PYTHON_$(env)) &&) true
	$(MAKE) requirements

## requirements.txt files for pip users, exported from the lock files (with hashes).
requirements: $(UV)
	$(UV) export --frozen --quiet --no-emit-project -o requirements.txt
	$(foreach env,$(TOOL_ENVS),$(UV) export --frozen --quiet --no-emit-project --project $(env) -o $(call export_of,$(env)) &&) true

## Add or change a dependency: make add PKG='name==1.2.3' [GROUP=dev] [ENV=envs/<name>]
add: $(UV)
	@test -n "$(PKG)" || { echo "usage: make add PKG='name==1.2.3' [GROUP=dev] [ENV=envs/<name>]" >&2; exit 2; }
	$(UV) add --no-sync $(if $(ENV),--project $(ENV) --python $(PYTHON_$(ENV)),--python $(PYTHON)) $(if $(GROUP),--group $(GROUP)) '$(PKG)'
	$(MAKE) requirements

clean:
	rm -rf cdktf.out cdktn.out .work .pytest_cache

## ---- Reviewing changes (docs/reviewing-changes.md) ----
.PHONY: cli-setup checkov-setup checkov diff
BASE ?= origin/main

## The cdktf and cdktn CLIs pinned by package-lock.json, built for the project's Node 24 (run them
## with scripts/cdktf.sh and scripts/cdktn.sh).
cli-setup: node_modules/.installed
node_modules/.installed: package.json package-lock.json | $(VENV)/.installed
	scripts/install-cli.sh
	touch $@

## checkov in its own virtualenv: its pins conflict with requirements.txt.
checkov-setup: .venv-checkov/.installed
.venv-checkov/.installed: envs/checkov/pyproject.toml envs/checkov/uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-checkov $(UV_SYNC) --project envs/checkov --python $(PYTHON)
	touch $@

## Security scan of every synthesized environment (.checkov.yaml; zero failed checks expected).
checkov: setup checkov-setup
	scripts/checkov.sh

## Review the change against a base ref or folder: make diff BASE=origin/main
diff: setup-run
	$(PY) main.py diff --base $(BASE)
