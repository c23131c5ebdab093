# Release builds and packages of the two programs (the `server` and `agent`
# examples, shipped as oxmon-server and oxmon-agent).
#
#   make build                        release build for this machine
#   make agent                        the agent as shipped on Linux: small, static
#                                     (scripts/build-agent.sh; target/agent/examples/agent)
#   make package-local                ... and dist/oxmon-VERSION-HOST.tar.gz + dist/SHA256SUMS
#   make x86_64-unknown-linux-gnu     release build for one target (Linux: via cross if installed)
#   make aarch64-unknown-linux-gnu
#   make aarch64-apple-darwin         (on macOS)
#   make x86_64-apple-darwin          (on macOS)
#   make package TARGET=<triple>      package a target built before
#   make release                      build and package every target in RELEASE_TARGETS
#
# Variables: CARGO (cargo), CROSS (cross if installed; CROSS= forces cargo),
# DIST (dist), RELEASE_TARGETS (all four targets).

CARGO ?= cargo
CROSS ?= $(shell command -v cross 2>/dev/null)
DIST ?= dist
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
HOST := $(shell rustc -vV | sed -n 's/^host: //p')

LINUX_TARGETS := x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
APPLE_TARGETS := aarch64-apple-darwin x86_64-apple-darwin
RELEASE_TARGETS ?= $(LINUX_TARGETS) $(APPLE_TARGETS)

BUILD_ARGS := build --release --locked --example server --example agent

.PHONY: help build agent package-local package release version clean-dist $(LINUX_TARGETS) $(APPLE_TARGETS)

help:
	@sed -n 's/^#   //p' Makefile

version:
	@echo $(VERSION)

build:
	$(CARGO) $(BUILD_ARGS)

agent:
	bash scripts/build-agent.sh

package-local: build
	bash scripts/package.sh $(TARGET_DIR)/release/examples $(HOST) $(DIST) $(VERSION)

# Linux targets: cross (in Docker) when installed, else cargo with the target
# (which needs that target's linker for a foreign architecture).
$(LINUX_TARGETS):
	$(if $(CROSS),$(CROSS),$(CARGO)) $(BUILD_ARGS) --target $@

# macOS targets: native cargo on a Mac (rustup target add <triple>).
$(APPLE_TARGETS):
	$(CARGO) $(BUILD_ARGS) --target $@

package:
	@test -n "$(TARGET)" || { echo "usage: make package TARGET=<triple>" >&2; exit 2; }
	bash scripts/package.sh $(TARGET_DIR)/$(TARGET)/release/examples $(TARGET) $(DIST) $(VERSION)

release:
	@set -e; for t in $(RELEASE_TARGETS); do \
		$(MAKE) --no-print-directory $$t; \
		$(MAKE) --no-print-directory package TARGET=$$t; \
	done
	@echo "== $(DIST)/"; ls -l $(DIST); cat $(DIST)/SHA256SUMS

clean-dist:
	rm -rf $(DIST)
