# Microdeck — `make run` (the desktop app with the bundled cluster), `make test` (everything),
# `make bench` (speed and cost figures). Each installs what it needs first.

# Builds live outside the clone so a fresh clone on the same machine reuses them.
CARGO_TARGET_DIR ?= /var/tmp/microdeck-target
export CARGO_TARGET_DIR

.PHONY: run test test-rust test-deps build

build:
	cargo build --bins

run: build
	$(CARGO_TARGET_DIR)/debug/microdeck up

test: test-rust

# The reference Prometheus parser checks `/metrics` (tests/tests/prometheus_text.rs).
test-deps:
	python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install --quiet prometheus_client

test-rust: test-deps
	cargo test --workspace --no-fail-fast
