# The two commands of the README: `make paper` (main job) and `make test` (tests).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lilbench-installed
DEVSTAMP := $(VENV)/.lilbench-dev-installed

.PHONY: setup data paper test lint bench

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# The test and lint tools (and ray, pandas, pyarrow for the tests) only where they are used,
# so that `make paper` installs what the main job needs and no more.
$(DEVSTAMP): $(STAMP)
	bash scripts/setup.sh dev
	touch $(DEVSTAMP)

setup: $(STAMP)

data: $(STAMP)
	$(BIN)/lilbench data prepare mnist

# The paper's MNIST experiment end to end: train every beta, attack, write the report.
paper: data
	$(BIN)/lilbench run suites/paper-mnist.yaml
	$(BIN)/lilbench report suites/paper-mnist.yaml

test: data $(DEVSTAMP)
	$(BIN)/pytest -q -rs

lint: $(DEVSTAMP)
	$(BIN)/ruff check lilbench tests benchmarks
	$(BIN)/ruff format --check lilbench tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet

bench: data
	$(BIN)/python benchmarks/train_bench.py
	$(BIN)/python benchmarks/attack_bench.py
