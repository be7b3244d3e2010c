# Warpaint: `make run` opens the editor on the sample document, `make test` runs
# the whole suite offscreen. Both create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench lint clean package package-smoke wheel-check interop

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/warpaint

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# Krita round trip: installs Debian's krita and xvfb when missing, then runs
# the tests marked `interop`; where Krita cannot be installed it says so and
# skips (exit 0). `make test` skips every Krita call.
interop: $(STAMP)
	@if sh tests/interop/ensure_krita.sh; then \
		QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m interop tests/interop; \
	else \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! make interop SKIPPED: Krita is not installed and could not be.    !!!"; \
		echo "!!! The Krita round-trip checks did NOT run.                          !!!"; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

demo: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/warpaint demo -o demo-out

bench: $(STAMP)
	$(BIN)/warpaint bench memory --json
	$(BIN)/warpaint bench cancel --json
	$(BIN)/warpaint bench preview-latency --json

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,dev]'
	$(BIN)/ruff check warpaint app engine gui tests tools
	$(BIN)/ruff format --check warpaint app engine gui tests tools
	# mypy cannot follow setuptools' package-dir mapping: give it a tree of links
	# named as the installed packages (the engine, and the app above it, are typed).
	rm -rf build/typecheck && mkdir -p build/typecheck/warpaint
	ln -sfn ../../../warpaint/__init__.py build/typecheck/warpaint/__init__.py
	ln -sfn ../../../app build/typecheck/warpaint/app
	ln -sfn ../../../engine build/typecheck/warpaint/engine
	MYPYPATH=build/typecheck $(BIN)/mypy -p warpaint.engine -p warpaint.app

# -- packaging (not part of `make test`) -----------------------------------
PACKAGE_DIR := dist/warpaint
APP_ID := io.warpaint.Warpaint

package: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,package]'
	rm -rf build/pyinstaller $(PACKAGE_DIR)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/warpaint.spec
	QT_QPA_PLATFORM=offscreen $(BIN)/python packaging/make_icons.py $(PACKAGE_DIR)/share/icons
	install -Dm644 packaging/linux/$(APP_ID).desktop $(PACKAGE_DIR)/share/applications/$(APP_ID).desktop
	install -Dm644 packaging/linux/$(APP_ID).metainfo.xml $(PACKAGE_DIR)/share/metainfo/$(APP_ID).metainfo.xml
	install -Dm644 packaging/linux/warpaint-openraster.xml $(PACKAGE_DIR)/share/mime/packages/warpaint-openraster.xml
	install -m755 packaging/install-linux.sh $(PACKAGE_DIR)/install-linux.sh
	du -sh $(PACKAGE_DIR)

package-smoke:
	$(BIN)/python packaging/smoke_test.py $(PACKAGE_DIR)/warpaint

# The wheel installs into a clean venv and works from there.
wheel-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,package]'
	rm -rf build/wheel-venv build/wheel-demo dist/warpaint-*.whl dist/warpaint-*.tar.gz
	$(BIN)/python -m build --outdir dist .
	$(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/python -m pip install --quiet -c constraints.txt dist/warpaint-*.whl
	build/wheel-venv/bin/warpaint --help > /dev/null
	cd build && QT_QPA_PLATFORM=offscreen wheel-venv/bin/warpaint demo --quick -o wheel-demo

clean:
	rm -rf $(VENV) demo-out build dist *.egg-info
