# Node things: the dashboard (ui/, built into ui/dist) and the e2e suite (tests/e2e/), and what
# they need installed. Each install step runs only when its check says something is missing.

UI_DIR  := ui
E2E_DIR := tests/e2e
NPM     ?= npm
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Tauri's build and run dependencies on Debian (tauri.app's prerequisites), Xvfb and the WebDriver of
# WebKitGTK for the desktop target, Debian's Chromium and its driver for the web target.
SYSTEM_PACKAGES := libwebkit2gtk-4.1-dev build-essential curl wget file libssl-dev libxdo-dev \
  libayatana-appindicator3-dev librsvg2-dev pkg-config libgtk-3-dev libsoup-3.0-dev \
  libjavascriptcoregtk-4.1-dev xvfb xauth imagemagick webkit2gtk-driver dbus-x11 at-spi2-core \
  fonts-dejavu-core chromium chromium-driver
SYSTEM_COMMANDS := pkg-config cc Xvfb xauth import WebKitWebDriver dbus-launch chromium chromedriver

UI_SOURCES := $(shell find $(UI_DIR)/src -type f 2>/dev/null) $(UI_DIR)/index.html $(UI_DIR)/vite.config.ts \
  $(UI_DIR)/svelte.config.js $(UI_DIR)/tsconfig.json

.PHONY: deps deps-system deps-node deps-tauri-driver ui test-ui test-e2e

deps: deps-system deps-node deps-tauri-driver

deps-system:
	@missing=""; \
	pkg-config --exists webkit2gtk-4.1 2>/dev/null || missing="$$missing webkit2gtk-4.1"; \
	for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps-system: missing$$missing: installing Debian packages"; \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

# Vite 8 needs Node.js 20.19 or newer.
deps-node: $(UI_DIR)/node_modules/.mdk-installed $(E2E_DIR)/node_modules/.mdk-installed

%/node_modules/.mdk-installed: %/package-lock.json %/package.json
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("Node.js >= 20.19 is needed, found "+process.version); process.exit(1) }'
	cd $* && $(NPM) ci --no-audit --no-fund
	@touch $@

deps-tauri-driver:
	@command -v tauri-driver >/dev/null 2>&1 || { \
	  echo "deps-tauri-driver: installing tauri-driver"; \
	  CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)/tools cargo install tauri-driver --locked; }

# The built dashboard: the desktop shell embeds it at compile time and the web mode serves it.
ui: $(UI_DIR)/dist/index.html

$(UI_DIR)/dist/index.html: $(UI_DIR)/node_modules/.mdk-installed $(UI_SOURCES)
	cd $(UI_DIR) && $(NPM) run build

test-ui: $(UI_DIR)/node_modules/.mdk-installed
	cd $(UI_DIR) && $(NPM) run check && $(NPM) test

# Both targets of the WebDriver suite against the real binaries (built with the UI in them;
# --workspace: the desktop shell is a member but not a default one).
test-e2e: deps-system deps-node deps-tauri-driver ui
	cargo build --workspace --bins
	cd $(E2E_DIR) && node run.mjs

# The desktop shell compiles ui/dist into itself, so a Rust build that includes it (`--workspace`)
# needs the UI first; `make build` (engine, CLI, samples) does not.
test-rust: ui
