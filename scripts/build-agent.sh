#!/usr/bin/env bash
# Builds the agent as shipped on Linux: the `agent` profile of Cargo.toml
# (optimised for size, fat LTO, one codegen unit), glibc linked statically
# (no shared libc, libm or dynamic loader mapped: about 1.3 MiB less
# resident, and the binary runs on any Linux of its architecture), and
# relative relocations packed (DT_RELR) where the toolchain supports them.
#
#   scripts/build-agent.sh [cargo options, e.g. --target x86_64-unknown-linux-gnu]
#
# Output: target/agent/examples/agent (target/<triple>/agent/examples/agent
# with --target). Host names still resolve through /etc/hosts and DNS: since
# glibc 2.34 both are part of libc itself, so a static binary needs no NSS
# module (other NSS sources, such as LDAP or mDNS, are not consulted).
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -s)" in
  Linux) ;;
  *) echo "build-agent.sh: static linking is for Linux; use cargo build --profile agent --example agent" >&2; exit 2 ;;
esac

flags=(-C target-feature=+crt-static)
# DT_RELR needs a linker that writes it (binutils 2.38) and a static glibc
# whose start-up code applies it (2.36); otherwise the relocations stay as
# they are (a few hundred KiB more read at start).
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || true
ld_help=$(ld --help 2>/dev/null) || true
if [[ $ld_help == *pack-relative-relocs* ]] \
  && [ -n "$glibc" ] && printf '2.36\n%s\n' "$glibc" | sort -V -C; then
  flags+=(-C link-arg=-Wl,-z,pack-relative-relocs)
fi

cargo rustc --locked --profile agent --example agent "$@" -- "${flags[@]}"
