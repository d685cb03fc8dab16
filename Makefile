# The two commands of the README: `make run` and `make test`. Both bootstrap first
# (scripts/bootstrap.sh is idempotent and takes about a second when nothing changed).
SHELL := /bin/bash
BIN := .venv/bin
CORES ?= all
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-m 'not slow'"`.
PYTEST_ARGS ?=
# Test workers (pytest-xdist): one per core; a test file stays on one worker, so the
# module-scoped workflow run and the SLURM cluster start once; files go out in collection
# order, the longest first (tests/conftest.py, LONGEST_FIRST).
TEST_WORKERS ?= auto

.PHONY: run test bootstrap lint format report dag bench clean image

run: bootstrap
	scripts/run.sh --cores $(CORES)

test: bootstrap lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

bootstrap:
	scripts/bootstrap.sh

# The job image of containers/Dockerfile, built with podman on a Debian base made here;
# tagged asteroid-ml:<git short sha>, saved to build/image/ (docs/profiles.md, "The job image").
image:
	scripts/build-image.sh

# Static checks (part of `make test`): ruff, snakefmt, snakemake --lint.
lint: bootstrap
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/test.yaml --quiet

# Rewrite code into the house format.
format: bootstrap
	$(BIN)/ruff check --fix src tests workflow/scripts benchmarks
	$(BIN)/ruff format src tests workflow/scripts benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

report: bootstrap
	$(BIN)/snakemake --report results/report.html

dag: bootstrap
	$(BIN)/snakemake --rulegraph | dot -Tpng > results/rulegraph.png

bench: bootstrap
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf results/* .snakemake
