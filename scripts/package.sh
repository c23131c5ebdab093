#!/usr/bin/env bash
# Packages built binaries into a release tarball and refreshes SHA256SUMS.
#
#   scripts/package.sh BIN_DIR TARGET OUT_DIR [VERSION]
#
# BIN_DIR  the directory holding the `server` and `agent` example binaries,
#          e.g. target/release/examples or target/<triple>/release/examples
# TARGET   the target triple the binaries are for (names the tarball)
# OUT_DIR  where the tarball and SHA256SUMS go (created if missing)
# VERSION  default: the workspace version in Cargo.toml
#
# Writes OUT_DIR/oxmon-VERSION-TARGET.tar.gz holding one directory,
# oxmon-VERSION-TARGET/, with oxmon-server, oxmon-agent, config/*.example.toml,
# deploy/ (systemd units, PM2 example), README.md and LICENSE if present; then
# rewrites OUT_DIR/SHA256SUMS (sha256sum format) over every oxmon-*.tar.gz in
# OUT_DIR. Used by the Makefile and by tests/install.rs.
set -euo pipefail

die() {
  echo "package.sh: $*" >&2
  exit 1
}

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  die "usage: scripts/package.sh BIN_DIR TARGET OUT_DIR [VERSION]"
fi
bin_dir=$1
target=$2
out_dir=$3
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -eq 4 ]; then
  version=$4
else
  # The `version = "..."` line of [workspace.package].
  version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml")
fi
[ -n "$version" ] || die "cannot read the workspace version from $root/Cargo.toml"
case $target in
  *[!A-Za-z0-9_.-]* | "") die "invalid target triple: '$target'" ;;
esac

for bin in server agent; do
  [ -x "$bin_dir/$bin" ] || die "$bin_dir/$bin is missing; build it first (make build, or make $target)"
done

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$@"
  else
    shasum -a 256 "$@"
  fi
}

name="oxmon-$version-$target"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir="$stage/$name"
mkdir -p "$dir/config" "$dir/deploy/systemd" "$dir/deploy/pm2"
install -m 0755 "$bin_dir/server" "$dir/oxmon-server"
install -m 0755 "$bin_dir/agent" "$dir/oxmon-agent"
install -m 0644 "$root/config/server.example.toml" "$root/config/agent.example.toml" "$dir/config/"
install -m 0644 "$root"/deploy/systemd/*.service "$dir/deploy/systemd/"
install -m 0644 "$root"/deploy/pm2/* "$dir/deploy/pm2/"
install -m 0644 "$root/README.md" "$dir/"
if [ -f "$root/LICENSE" ]; then
  install -m 0644 "$root/LICENSE" "$dir/"
fi

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
tmp_tar="$out_dir/.$name.tar.gz.tmp"
tar -C "$stage" -czf "$tmp_tar" "$name"
mv -f "$tmp_tar" "$out_dir/$name.tar.gz"

(
  cd "$out_dir"
  shopt -s nullglob
  tarballs=(oxmon-*.tar.gz)
  sha256 "${tarballs[@]}" >.SHA256SUMS.tmp
  mv -f .SHA256SUMS.tmp SHA256SUMS
)
echo "$out_dir/$name.tar.gz"
