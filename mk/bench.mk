# make bench: Microdeck's speed and cost figures as one Markdown table, written to
# $(CARGO_TARGET_DIR)/bench/report.md (in the build folder, like every build output here).
# make bench QUICK=1: one short run of each figure, debug build, no peers (part of make test).

BENCH_REPORT := $(CARGO_TARGET_DIR)/bench/report.md
BENCH_ARGS ?=
# apt-get needs root; sudo only when not already root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: bench bench-peers test-bench

# P7 and P8 drive the desktop app and the dashboard: they need the UI, a browser and drivers.
# The workspace build makes the bench's binary too; building it alone (`-p`) would unify
# features differently and compile its dependencies a second time.
ifeq ($(QUICK),1)
bench: deps ui
	cargo build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/microdeck-bench --quick --bin-dir $(CARGO_TARGET_DIR)/debug --out $(BENCH_REPORT) $(BENCH_ARGS)
else
bench: deps ui bench-peers
	cargo build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/microdeck-bench --bin-dir $(CARGO_TARGET_DIR)/release --out $(BENCH_REPORT) $(BENCH_ARGS)
endif

# The peers, each installed only when missing: nginx and wrk from Debian, PM2 from npm.
# A fresh machine may have no package lists yet, hence the update before the install.
bench-peers:
	@command -v nginx >/dev/null && command -v wrk >/dev/null || { \
	  echo "bench-peers: installing nginx and wrk"; \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends nginx-light wrk; }
	@test -x bench/node_modules/.bin/pm2 || (cd bench && npm ci --no-audit --no-fund)

test-bench:
	$(MAKE) bench QUICK=1
