# Topic Lab: `make run` opens the app on the demo corpus; `make test` runs the whole suite.
# Both set everything up first from a plain Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test setup init lint browser spark java bench serve clean-store

run: init
	$(BIN)/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(PORT)

# Two pytest workers, each taking whole test files (module fixtures are built once), and
# beside them the real-browser tests in a process of their own, whose output is printed
# when both have finished. The two workers keep both cores busy; the browser tests mostly
# wait for the app and the browser (176 CPU s in 127 s alone), so running them alongside
# instead of afterwards shortens the suite (one local run: 440 s then 127 s; 485 s together).
TEST_WORKERS ?= 2
# The files that hold the real-browser tests: their process collects only these (all 50
# test modules took it ~17 CPU s to import); tests/test_environment.py checks the list.
BROWSER_TESTS := tests/test_browser.py tests/test_journey.py
test: setup browser spark
	$(BIN)/ruff check .
	@log=$$(mktemp); \
	$(BIN)/pytest -m browser -p no:cacheprovider $(BROWSER_TESTS) > $$log 2>&1 & browser=$$!; \
	trap 'kill $$browser 2>/dev/null' INT TERM; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not browser"; rest=$$?; \
	wait $$browser; seen=$$?; \
	echo "-- the real-browser tests (run alongside) --"; cat $$log; rm -f $$log; \
	exit $$(( rest || seen ))

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# The scoring service (HTTP/JSON API) on 127.0.0.1:$(SERVE_PORT); see docs/service.md.
# One worker meets every bench/serve.py target on 2 cores; SERVE_WORKERS=2 answers more
# requests at once; each worker has its own models and metrics, and the workers share each
# key's rate (one file of buckets).
SERVE_PORT ?= 8000
SERVE_WORKERS ?= 1
serve: init
	$(BIN)/python -m core serve --host 127.0.0.1 --port $(SERVE_PORT) --workers $(SERVE_WORKERS)

# Import the demo corpus and train a production model when the store is empty.
init: setup
	$(BIN)/python -m core init

lint: setup
	$(BIN)/ruff check .

# Debian's Chromium for the real-browser test (Playwright's own browser download is never used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "chromium is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; }

# The optional Spark engine (`--engine spark`): pyspark into the venv, and a Java 17 runtime
# (Debian's headless JRE) when `java` is missing. `make run` never needs it.
spark: setup java $(VENV)/.spark-installed

$(VENV)/.spark-installed: requirements-spark.txt
	$(BIN)/python -m pip install --quiet -r requirements-spark.txt
	touch $@

java:
	@command -v java >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			apt-get install -y -qq openjdk-17-jre-headless; \
		else echo "java is missing: run 'sudo apt-get install -y openjdk-17-jre-headless'" >&2; \
			exit 1; fi; }

bench: setup
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.neighbors
	$(BIN)/python -m bench.lookup

clean-store:
	rm -rf data/store
