# Microdeck — `make run` (the desktop app with the bundled cluster), `make test` (everything),
# `make bench` (speed and cost figures). Each installs what it needs first.

# Builds go where a plain `cargo build` puts them, the checkout's target/, so cargo, an editor's
# rust-analyzer and make share one build; set CARGO_TARGET_DIR to put them elsewhere.
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

# The profile `make run` builds with (Cargo.toml): optimised like release, without its LTO.
OPT_PROFILE := optimized
OPT_DIR     := $(CARGO_TARGET_DIR)/$(OPT_PROFILE)

.PHONY: test test-rust test-services test-deps build build-optimized

# Builds the engine, the CLI and the sample services (debug); the build also places the Python
# sample (mdk-analytics) next to them, where the engine looks for sample programs. No npm: the
# engine serves ui/dist at run time if it is built (`make ui`), and only the desktop app embeds it.
build:
	cargo build --bins

# The same, optimised, into $(OPT_DIR): `$(OPT_DIR)/microdeck up` runs the cluster headless.
build-optimized:
	cargo build --profile $(OPT_PROFILE) --bins

test: test-ui test-rust test-services test-bench test-e2e

test-rust: test-deps
	cargo test --workspace --no-fail-fast --exclude microdeck-tests -- --skip timing::
	# Wall-clock checks run one at a time, so a busy machine does not fail them: the `timing`
	# test modules, and the tests of real processes (children, CPU and memory figures).
	cargo test --workspace --no-fail-fast --exclude microdeck-tests -- --test-threads=1 timing::
	cargo test -p microdeck-tests --no-fail-fast -- --test-threads=1

# The Python sample's unit tests (the Rust samples' run under test-rust).
test-services:
	python3 -m unittest discover -s services/analytics -p 'test_*.py'

# The desktop app: `make run` (or, with no display, a pointer to `microdeck up`), `make test-desktop`.
include mk/desktop.mk

# Node things (the UI, the e2e suite) and the installs they need.
include mk/ui.mk

# The reference Prometheus parser checks `/metrics` (tests/tests/prometheus_text.rs).
test-deps:
	python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install --quiet prometheus_client

# make bench, make bench QUICK=1, test-bench (kept last so `build` stays the default goal).
include mk/bench.mk
