#!/usr/bin/env bash
# The test command of the README. Installs anything the tests need that cargo
# does not fetch (nothing yet), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features "$@"
