# Microdeck — `make run` (the desktop app with the bundled cluster), `make test` (everything),
# `make bench` (speed and cost figures). Each installs what it needs first.

# Builds live outside the clone so a fresh clone on the same machine reuses them.
CARGO_TARGET_DIR ?= /var/tmp/microdeck-target
export CARGO_TARGET_DIR

.PHONY: run test test-rust test-services build

# Builds the engine and the sample services; the build also places the Python sample
# (mdk-analytics) next to them, where the engine looks for sample programs.
build:
	cargo build --bins

run: build
	$(CARGO_TARGET_DIR)/debug/microdeck up

test: test-rust test-services test-bench

test-rust:
	cargo test --workspace --no-fail-fast --exclude microdeck-tests
	# Process-timing tests (real children, CPU and memory figures) run one at a time.
	cargo test -p microdeck-tests --no-fail-fast -- --test-threads=1

# The Python sample's unit tests (the Rust samples' run under test-rust).
test-services:
	python3 -m unittest discover -s services/analytics -p 'test_*.py'

# make bench, make bench QUICK=1, test-bench (kept last so `build` stays the default goal).
include mk/bench.mk
