# The desktop app (src-tauri/, crate microdeck-desktop): `make run` opens it with the bundled
# sample cluster, built optimised (the $(OPT_PROFILE) profile, Cargo.toml); `make test-desktop` runs
# its tests (command tests on Tauri's mock runtime, and the real app under Xvfb: closing its window
# or SIGTERM leaves no service process running).
# `ui` and `deps-system` come from mk/ui.mk, OPT_PROFILE and OPT_DIR from the Makefile.

DESKTOP_BIN := $(OPT_DIR)/microdeck-desktop

.PHONY: run desktop test-desktop

# The app, and what it runs beside it: the `microdeck` shim/CLI and the sample programs (the
# Python one included), all in one profile folder, as the app looks for them next to its own
# executable. One cargo run for all, so the app and the shim share one feature resolution
# (building the app alone with -p would compile the engine a second time).
desktop: deps-system ui
	cargo build --profile $(OPT_PROFILE) --workspace --exclude microdeck-bench --bins

# With no display there is no window to open: say so, and point to the headless mode.
run:
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
	  echo "make run: no display (\$$DISPLAY and \$$WAYLAND_DISPLAY are empty), so the desktop app cannot open."; \
	  echo "Run the cluster headless instead, with its dashboard in a browser (make ui builds the dashboard):"; \
	  echo "  make build-optimized && $(OPT_DIR)/microdeck up    # prints http://127.0.0.1:PORT/#token=..."; \
	  exit 1; \
	fi
	@$(MAKE) --no-print-directory desktop
	$(DESKTOP_BIN)

test-desktop: deps-system ui
	cargo test -p microdeck-desktop

# `cargo test --workspace` builds and tests the desktop crate too (webkit, Xvfb).
test-rust: deps-system
