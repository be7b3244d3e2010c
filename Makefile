# Warpaint: `make run` opens the editor on the sample document, `make test` runs
# the whole suite offscreen. Both create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/warpaint

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

demo: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/warpaint demo -o demo-out

bench: $(STAMP)
	$(BIN)/warpaint bench memory --json
	$(BIN)/warpaint bench cancel --json
	$(BIN)/warpaint bench preview-latency --json

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,dev]'
	$(BIN)/ruff check engine gui tests
	$(BIN)/ruff format --check engine gui tests
	# mypy cannot follow setuptools' package-dir mapping: give it a symlinked tree.
	mkdir -p build/typecheck/warpaint && ln -sfn ../../../engine build/typecheck/warpaint/engine
	MYPYPATH=build/typecheck $(BIN)/mypy -p warpaint.engine --namespace-packages

clean:
	rm -rf $(VENV) demo-out build dist *.egg-info
