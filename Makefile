# Microdeck — `make run` (the desktop app with the bundled cluster), `make test` (everything),
# `make bench` (speed and cost figures). Each installs what it needs first.

# Builds live outside the clone so a fresh clone on the same machine reuses them.
CARGO_TARGET_DIR ?= /var/tmp/microdeck-target
export CARGO_TARGET_DIR

.PHONY: run test test-rust build

build:
	cargo build --bins

run: build
	$(CARGO_TARGET_DIR)/debug/microdeck up

test: test-ui test-rust

test-rust:
	cargo test --workspace --no-fail-fast

# Node things (the UI, the e2e suite) and the installs they need.
include mk/ui.mk
