#!/usr/bin/env bash
# Installs the oxmon server or agent from a release tarball.
#
#   curl -fsSL https://raw.githubusercontent.com/oxmon/oxmon/main/scripts/install.sh | bash -s -- server
#   curl -fsSL .../install.sh | bash -s -- agent --server-endpoint 10.0.1.100:9090
#   bash scripts/install.sh server --from-dir dist        # from `make package-local`
#
# Run with --help for the options. Downloads (or takes from --from-dir) the
# tarball oxmon-VERSION-TARGET.tar.gz, checks it against SHA256SUMS, installs
# the binary, and writes a configuration file only if there is none (an
# existing one is kept as it is). Writes no secret: the server generates its
# API signing secret and first admin password at first start; an agent's token
# comes from the server's whitelist API. Optionally writes a PM2 process file
# (and starts it) or a systemd unit. Needs root only for directories the
# current user cannot write, and for --systemd.
set -euo pipefail

RELEASES_URL="${OXMON_RELEASES_URL:-https://github.com/oxmon/oxmon/releases}"

usage() {
  cat <<'EOF'
usage: install.sh server|agent [options]

  --version V             release to install (default: latest)
  --install-dir DIR       where the binary goes (default: /usr/local/bin)
  --config-dir DIR        where server.toml / agent.toml go (default: /etc/oxmon)
  --data-dir DIR          server only: the data directory (default: /var/lib/oxmon)
  --agent-id ID           agent only: this host's id (default: the host name)
  --server-endpoint H:P   agent only: the server's gRPC address (default: 127.0.0.1:9090)
  --setup-pm2             write a PM2 process file and start it with pm2
  --pm2-only              only write the PM2 process file (with --setup-pm2: and
                          start it) for an existing installation; no download
  --systemd               write a systemd unit (root; creates the user `oxmon`)
  --from-dir DIR          take the tarball and SHA256SUMS from DIR (as written
                          by `make package-local`) instead of downloading
  --target TRIPLE         the release's target (default: this machine's, e.g.
                          x86_64-unknown-linux-gnu)
  -h, --help              this text

The configuration file is written only if it does not exist.
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

# --- arguments ---------------------------------------------------------------

component=""
version="latest"
install_dir="/usr/local/bin"
config_dir="/etc/oxmon"
data_dir="/var/lib/oxmon"
agent_id=""
server_endpoint="127.0.0.1:9090"
setup_pm2=0
pm2_only=0
systemd=0
from_dir=""
target=""
data_dir_set=0
agent_id_set=0
endpoint_set=0

need_value() {
  # $1 option, $2 number of remaining arguments
  [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"
}

while [ $# -gt 0 ]; do
  arg=$1
  value=""
  case $arg in
    --*=*)
      value=${arg#*=}
      arg=${arg%%=*}
      set -- "$arg" "$value" "${@:2}"
      ;;
  esac
  case $arg in
    server | agent)
      [ -z "$component" ] || die "give server or agent once"
      component=$arg
      shift
      ;;
    --version)
      need_value "$arg" $#
      version=$2
      shift 2
      ;;
    --install-dir)
      need_value "$arg" $#
      install_dir=$2
      shift 2
      ;;
    --config-dir)
      need_value "$arg" $#
      config_dir=$2
      shift 2
      ;;
    --data-dir)
      need_value "$arg" $#
      data_dir=$2
      data_dir_set=1
      shift 2
      ;;
    --agent-id)
      need_value "$arg" $#
      agent_id=$2
      agent_id_set=1
      shift 2
      ;;
    --server-endpoint)
      need_value "$arg" $#
      server_endpoint=$2
      endpoint_set=1
      shift 2
      ;;
    --from-dir)
      need_value "$arg" $#
      from_dir=$2
      shift 2
      ;;
    --target)
      need_value "$arg" $#
      target=$2
      shift 2
      ;;
    --setup-pm2)
      setup_pm2=1
      shift
      ;;
    --pm2-only)
      pm2_only=1
      shift
      ;;
    --systemd)
      systemd=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      die "unknown argument '$arg' (see --help)"
      ;;
  esac
done

[ -n "$component" ] || {
  usage >&2
  die "say what to install: server or agent"
}
if [ "$component" = agent ]; then
  [ "$data_dir_set" = 0 ] || die "--data-dir is for the server only (the agent keeps no data on disk)"
else
  [ "$agent_id_set" = 0 ] || die "--agent-id is for the agent only"
  [ "$endpoint_set" = 0 ] || die "--server-endpoint is for the agent only"
fi
if [ "$pm2_only" = 1 ]; then
  [ "$systemd" = 0 ] || die "--pm2-only and --systemd exclude each other"
  [ -z "$from_dir" ] || die "--pm2-only installs nothing, so --from-dir has no use"
fi
if [ "$setup_pm2" = 1 ] && [ "$systemd" = 1 ]; then
  die "choose one supervisor: --setup-pm2 or --systemd"
fi
# Values end up in TOML, JavaScript and unit files: no control characters.
for v in "$version" "$install_dir" "$config_dir" "$data_dir" "$agent_id" "$server_endpoint" "$from_dir" "$target"; do
  case $v in
    *[[:cntrl:]]*) die "arguments must not contain control characters" ;;
  esac
done

binary_name="oxmon-$component"
config_file_name="$component.toml"

# --- helpers -----------------------------------------------------------------

# An absolute path for $1 (which need not exist yet).
absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$(pwd)" "${1#./}" ;;
  esac
}

# $1 as the inside of a double-quoted TOML or JavaScript string.
quote() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '%s' "$s"
}

# $1 escaped for the replacement side of a sed `s|...|...|`.
sed_replacement() {
  printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum found: cannot verify the download"
  fi
}

# Creates directory $1 (with parents) and checks that it is writable.
ensure_dir() {
  mkdir -p "$1" 2>/dev/null || die "cannot create $1: run as root (sudo) or choose another directory"
  [ -w "$1" ] || die "$1 is not writable: run as root (sudo) or choose another directory"
}

# Fails early, before any download, when directory $1 could not be created
# or written: checks it, or its nearest existing parent.
check_writable() {
  local d=$1
  while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  [ -d "$d" ] || die "$1: $d is not a directory"
  [ -w "$d" ] || die "cannot write $1: run as root (sudo) or choose another directory"
}

detect_target() {
  local os arch
  case $(uname -s) in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    *) die "no release for $(uname -s); build from source (see the README)" ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "no release for the architecture $(uname -m); build from source (see the README)" ;;
  esac
  printf '%s-%s' "$arch" "$os"
}

fetch() {
  # $1 URL, $2 destination file
  curl -fsSL --retry 3 -o "$2" "$1" || die "download failed: $1"
}

default_agent_id() {
  local h
  h=$(hostname 2>/dev/null || uname -n)
  printf '%s' "${h:-localhost}"
}

# --- checks before changing anything ------------------------------------------

if [ "$setup_pm2" = 1 ] && ! command -v pm2 >/dev/null 2>&1; then
  die "pm2 not found: install Node.js and then 'npm install -g pm2', or leave out --setup-pm2 (or use --systemd)"
fi
if [ "$systemd" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "--systemd needs root: it writes /etc/systemd/system and creates the user oxmon"
fi
if [ "$component" = agent ]; then
  [ "$agent_id_set" = 1 ] || agent_id=$(default_agent_id)
  case $agent_id in
    "" | *[[:space:]]*) die "invalid agent id '$agent_id': no spaces; use letters, digits, '-', '_', '.'" ;;
  esac
  [ "${#agent_id}" -le 128 ] || die "agent id longer than 128 characters"
  case $server_endpoint in
    *:[0-9]*) ;;
    *) die "--server-endpoint '$server_endpoint' needs a port, e.g. 10.0.1.100:9090" ;;
  esac
fi

install_dir=$(absolute "$install_dir")
config_dir=$(absolute "$config_dir")
data_dir=$(absolute "$data_dir")
binary="$install_dir/$binary_name"
config_file="$config_dir/$config_file_name"
if [ "$pm2_only" = 1 ] && [ ! -x "$binary" ]; then
  die "$binary not found: install first (without --pm2-only), or pass --install-dir"
fi
check_writable "$config_dir"
[ "$pm2_only" = 1 ] || check_writable "$install_dir"
[ "$component" = agent ] || check_writable "$data_dir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the tarball ---------------------------------------------------------------

release_dir="" # the unpacked oxmon-VERSION-TARGET directory

if [ "$pm2_only" = 0 ]; then
  [ -n "$target" ] || target=$(detect_target)
  version=${version#v}
  if [ -n "$from_dir" ]; then
    [ -d "$from_dir" ] || die "--from-dir $from_dir: no such directory"
    if [ "$version" = latest ]; then
      tarball=$(find "$from_dir" -maxdepth 1 -name "oxmon-*-$target.tar.gz" -print | sort -V | tail -n 1)
      [ -n "$tarball" ] || die "no oxmon-*-$target.tar.gz in $from_dir"
    else
      tarball="$from_dir/oxmon-$version-$target.tar.gz"
      [ -f "$tarball" ] || die "$tarball not found"
    fi
    sums="$from_dir/SHA256SUMS"
    [ -f "$sums" ] || die "$sums not found: cannot verify $tarball"
  else
    command -v curl >/dev/null 2>&1 || die "curl is needed to download releases (or use --from-dir)"
    if [ "$version" = latest ]; then
      # /releases/latest redirects to /releases/tag/vX.Y.Z.
      latest_url=$(curl -fsSL -o /dev/null -w '%{url_effective}' "$RELEASES_URL/latest") ||
        die "cannot reach $RELEASES_URL/latest"
      version=${latest_url##*/}
      version=${version#v}
      case $version in
        "" | latest | releases) die "cannot tell the latest release from $latest_url; pass --version" ;;
      esac
    fi
    tarball="$work/oxmon-$version-$target.tar.gz"
    sums="$work/SHA256SUMS"
    say "Downloading oxmon $version for $target"
    fetch "$RELEASES_URL/download/v$version/oxmon-$version-$target.tar.gz" "$tarball"
    fetch "$RELEASES_URL/download/v$version/SHA256SUMS" "$sums"
  fi

  tarball_name=$(basename "$tarball")
  expected=$(awk -v f="$tarball_name" '$2 == f || $2 == "*" f { print $1; exit }' "$sums")
  [ -n "$expected" ] || die "$tarball_name is not listed in $sums: refusing to install it"
  actual=$(sha256_of "$tarball")
  if [ "$expected" != "$actual" ]; then
    die "checksum mismatch for $tarball_name: SHA256SUMS says $expected, the file is $actual; refusing to install it"
  fi
  say "Checksum OK: $tarball_name"

  tar -xzf "$tarball" -C "$work" || die "cannot unpack $tarball_name"
  release_dir="$work/${tarball_name%.tar.gz}"
  [ -x "$release_dir/$binary_name" ] || die "$tarball_name holds no $binary_name"
  version=${tarball_name#oxmon-}
  version=${version%-"$target".tar.gz}
fi

# --- the configuration file -------------------------------------------------------

write_server_config() {
  cat <<EOF
# oxmon server configuration, written by install.sh. Edit freely: the
# installer never overwrites this file. Every field and its default:
# server.example.toml next to this file, and docs/configuration.md.
#
# No secret is set here. At first start the server generates the API signing
# secret (kept in data_dir/jwt.secret, mode 0600) and prints the password of
# the first user \`admin\` once, in its log (journalctl -u oxmon-server, or
# pm2 logs oxmon-server). To choose that password instead, start it the first
# time with the environment variable OXMON_ADMIN_PASSWORD set.

# gRPC port for agents (all interfaces: agents are remote).
grpc_port = 9090
grpc_bind = "0.0.0.0"

# REST API. It carries passwords and tokens, so it listens on this host only;
# put a TLS reverse proxy in front of it, or set "0.0.0.0" on a trusted network.
http_port = 8080
http_bind = "127.0.0.1"

data_dir = "$(quote "$data_dir")"
retention_days = 7

# Only agents whitelisted through the REST API, with their token, may report.
# Whitelist an agent (on this host, with a token from POST /v1/auth/login):
#   curl -X POST http://127.0.0.1:8080/v1/agents/whitelist \\
#     -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
#     -d '{"agent_id": "web-server-01"}'
# and put the returned token in that agent's agent.toml (auth_token).
require_agent_auth = true

# true: collect this host's metrics inside the server, without an agent here.
[local_agent]
enabled = false

[log]
level = "info"
format = "text"
EOF
}

write_agent_config() {
  cat <<EOF
# oxmon agent configuration, written by install.sh. Edit freely: the
# installer never overwrites this file. Every field and its default:
# agent.example.toml next to this file, and docs/configuration.md.

agent_id = "$(quote "$agent_id")"
server_endpoint = "$(quote "$server_endpoint")"
tls = false

# The token of this agent, required when the server has
# require_agent_auth = true (as install.sh's server.toml has). On the server
# host, log in as admin and whitelist this agent; the token is shown once:
#   TOKEN=\$(curl -s -X POST http://127.0.0.1:8080/v1/auth/login \\
#     -H 'Content-Type: application/json' \\
#     -d '{"username": "admin", "password": "<the admin password>"}' | jq -r .token)
#   curl -s -X POST http://127.0.0.1:8080/v1/agents/whitelist \\
#     -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
#     -d '{"agent_id": "$(quote "$agent_id")"}'
# Then uncomment the next line, paste the "token" value between the quotes and
# restart the agent. A lost token is replaced with
# POST /v1/agents/whitelist/<agent_id>/token.
# auth_token = ""

collection_interval_secs = 10
buffer_max_size = 1000

[log]
level = "info"
format = "text"
EOF
}

ensure_dir "$config_dir"
config_written=0
if [ -e "$config_file" ]; then
  say "Keeping the existing $config_file"
else
  if [ "$component" = server ]; then
    write_server_config >"$work/$config_file_name"
  else
    write_agent_config >"$work/$config_file_name"
  fi
  config_written=1
fi

# The server checks its configuration before anything is replaced: a new
# release that refuses the existing file must not be installed over the old one.
check_binary="$binary"
[ -z "$release_dir" ] || check_binary="$release_dir/$binary_name"
if [ "$component" = server ] && [ -x "$check_binary" ]; then
  to_check=$config_file
  [ "$config_written" = 0 ] || to_check="$work/$config_file_name"
  if ! check_output=$("$check_binary" "$to_check" --check-config 2>&1); then
    die "the server refuses $config_file:
$check_output"
  fi
fi

# --- install ------------------------------------------------------------------------

if [ "$pm2_only" = 0 ]; then
  ensure_dir "$install_dir"
  # Copy, then rename: replacing a running binary this way is safe.
  cp "$release_dir/$binary_name" "$install_dir/.$binary_name.new.$$"
  chmod 0755 "$install_dir/.$binary_name.new.$$"
  mv -f "$install_dir/.$binary_name.new.$$" "$binary"
  say "Installed $binary ($version, $target)"
  # The commented reference of every field, refreshed on every install.
  cp "$release_dir/config/$component.example.toml" "$config_dir/$component.example.toml"
fi

if [ "$component" = server ]; then
  ensure_dir "$data_dir"
fi

if [ "$config_written" = 1 ]; then
  (umask 027 && cp "$work/$config_file_name" "$config_file")
  say "Wrote $config_file"
fi

# --- PM2 ---------------------------------------------------------------------------

pm2_file="$config_dir/$binary_name.pm2.config.js"
if [ "$setup_pm2" = 1 ] || [ "$pm2_only" = 1 ]; then
  cwd_line=""
  [ "$component" = agent ] || cwd_line="      cwd: \"$(quote "$data_dir")\","
  {
    cat <<EOF
// PM2 process file for $binary_name, written by install.sh.
//   pm2 start $pm2_file && pm2 save && pm2 startup
// TZ: time zone of the log timestamps (and of the server's silence windows
// when server.toml sets no [notification] timezone); change it to yours.
module.exports = {
  apps: [
    {
      name: "$binary_name",
      script: "$(quote "$binary")",
      args: ["$(quote "$config_file")"],
      interpreter: "none",
EOF
    [ -z "$cwd_line" ] || printf '%s\n' "$cwd_line"
    cat <<EOF
      autorestart: true,
      // Exit code 2 is a configuration error: restarting will not fix it.
      stop_exit_codes: [2],
      // PM2 stops with SIGINT; the process flushes first. Allow it 30 s.
      kill_timeout: 30000,
      log_date_format: "YYYY-MM-DD HH:mm:ss Z",
      env: { TZ: "Asia/Shanghai" },
    },
  ],
};
EOF
  } >"$pm2_file"
  say "Wrote $pm2_file"
  if [ "$setup_pm2" = 1 ]; then
    pm2 startOrRestart "$pm2_file"
    pm2 save
    say "Started $binary_name with PM2. To start it at boot, run 'pm2 startup' and the command it prints."
  else
    say "Start it with: pm2 start $pm2_file && pm2 save"
  fi
fi

# --- systemd ------------------------------------------------------------------------

if [ "$systemd" = 1 ]; then
  unit_dir="${OXMON_SYSTEMD_DIR:-/etc/systemd/system}"
  unit="$unit_dir/$binary_name.service"
  if ! id oxmon >/dev/null 2>&1; then
    useradd --system --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin oxmon ||
      die "cannot create the user oxmon"
    say "Created the system user oxmon"
  fi
  if [ "$component" = server ]; then
    chown oxmon:oxmon "$data_dir"
    chmod 0750 "$data_dir"
  fi
  # The service reads its configuration as oxmon; others may not (tokens, passwords).
  chgrp oxmon "$config_file"
  chmod 0640 "$config_file"
  ensure_dir "$unit_dir"
  # The template has the default paths; markers first, so that a new path
  # containing another default is not replaced twice.
  sed -e 's|/usr/local/bin|@OXMON_BIN@|g' -e 's|/etc/oxmon|@OXMON_ETC@|g' \
    -e 's|/var/lib/oxmon|@OXMON_DATA@|g' \
    "$release_dir/deploy/systemd/$binary_name.service" |
    sed -e "s|@OXMON_BIN@|$(sed_replacement "$install_dir")|g" \
      -e "s|@OXMON_ETC@|$(sed_replacement "$config_dir")|g" \
      -e "s|@OXMON_DATA@|$(sed_replacement "$data_dir")|g" >"$unit"
  say "Wrote $unit"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
  say "Start it with: systemctl enable --now $binary_name"
fi

# --- what next -------------------------------------------------------------------------

if [ "$component" = server ]; then
  say ""
  say "Next: start the server ($binary $config_file, or with PM2 / systemd)."
  say "At first start it prints the password of the user 'admin' once; log in with"
  say "POST http://127.0.0.1:8080/v1/auth/login. Agents must be whitelisted (see $config_file)."
else
  say ""
  say "Next: whitelist '$agent_id' on the server and put its token in $config_file"
  say "(the comments there show how), then start $binary $config_file."
fi
