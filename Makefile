# The two commands a new user needs: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench sandbox screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pm-prefect demo

test: lint
	$(BIN)/pytest -n 2

# mypy and import-linter read files, so they run on the package laid out as installed.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/lint_tree.py build/lint
	$(BIN)/mypy
	cd build/lint && ../../$(BIN)/lint-imports ../../.importlinter

# The docs site, strictly (a broken link or a docstring griffe cannot read fails it), into
# build/site. mkdocstrings reads the package as installed, so lay that out first.
docs: $(STAMP)
	$(BIN)/python .ci/lint_tree.py build/lint
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -f docs/mkdocs.yml

bench: $(STAMP)
	$(BIN)/python -m bench

sandbox: $(STAMP)
	$(BIN)/pm-prefect sandbox

# The operator's forms in Prefect's UI as PNGs under screenshots/ (needs: apt-get install chromium).
screenshots: $(STAMP)
	$(BIN)/python tests/screenshot_forms.py --out screenshots
	$(BIN)/python tests/screenshot_review.py --out screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .demo screenshots
