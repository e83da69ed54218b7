#!/usr/bin/env bash
# Podman's Docker-compatible API for the docker work pool, on a machine without a Docker engine.
#
#   eval "$(bash scripts/podman.sh start)"   # installs podman and runc if missing, starts the service,
#                                            # prints the export lines (DOCKER_HOST, CONTAINERS_CONF)
#   bash scripts/podman.sh env               # the export lines only
#   bash scripts/podman.sh stop              # stops the service this script started
#
# Idempotent: a service already answering on the socket is left alone. Everything lives under
# .baton-test/podman/ in the repository (git-ignored): the configuration, the socket, the service's
# pid and log. Images and containers stay in podman's own storage (/var/lib/containers as root), so
# an image built once is there for the next run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.baton-test/podman"
socket="$dir/podman.sock"
# A unix socket's path has room for 107 bytes: a deep checkout puts it in /tmp instead.
if [ ${#socket} -gt 100 ]; then socket="/tmp/baton-podman-$(echo "$root" | md5sum | cut -c1-12).sock"; fi
conf="$dir/containers.conf"
pidfile="$dir/service.pid"
logfile="$dir/service.log"

say() { echo "podman.sh: $*" >&2; }

exports() {
  echo "export CONTAINERS_CONF=$conf"
  echo "export DOCKER_HOST=unix://$socket"
}

# The Docker API answers on the socket (GET /_ping); node is there on any machine this project runs on.
answering() {
  [ -S "$socket" ] || return 1
  node -e '
    const request = require("node:http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (res) =>
      process.exit(res.statusCode === 200 ? 0 : 1));
    request.on("error", () => process.exit(1)).on("timeout", () => process.exit(1));
  ' "$socket"
}

install() {
  if command -v podman >/dev/null && command -v runc >/dev/null && [ -x /usr/libexec/podman/catatonit ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    say "podman, runc or catatonit is missing: install them (apt-get install podman runc catatonit) or run this as root"
    exit 1
  fi
  say "installing podman and runc"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # catatonit: the init process of containers created with Init (the docker adapter does so).
  apt-get install -y -qq podman runc catatonit >&2
}

write_conf() {
  mkdir -p "$dir"
  cat >"$conf.new" <<'EOF'
# Written by scripts/podman.sh; only what this kind of machine needs, everything else is podman's default
# (found by trying: the overlay storage driver, the cgroupfs cgroup manager and the file events logger
# are what podman picks by itself here, and they work).

[containers]
# The sandbox forbids raising rlimits: podman's default (a higher RLIMIT_NOFILE for every container)
# makes runc fail with "error setting rlimit type 7: operation not permitted".
default_ulimits = []

[engine]
# crun cannot handle this machine's cgroup layout (cgroup v1 with a memory cgroup of its own); runc can.
runtime = "runc"
EOF
  mv "$conf.new" "$conf"
}

start() {
  install
  write_conf
  export CONTAINERS_CONF="$conf"
  if answering; then
    say "the service already answers on $socket"
  else
    rm -f "$socket"
    # setsid: the service outlives this shell and is not hit by a Ctrl-C meant for the tests.
    setsid podman system service --time=0 "unix://$socket" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      answering && break
      sleep 0.1
    done
    if ! answering; then
      say "podman system service did not answer on $socket; its log ($logfile):"
      cat "$logfile" >&2
      exit 1
    fi
    say "podman's Docker API answers on $socket (pid $(cat "$pidfile"))"
  fi
  exports
}

stop() {
  if [ -f "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      say "stopped the service (pid $pid)"
    fi
    rm -f "$pidfile"
  fi
  rm -f "$socket"
}

# An image with nothing but this machine's node (no registry is reachable here, so no `FROM node`):
# FROM scratch, the node binary, the libraries `ldd` lists with the dynamic loader, and a few /etc files.
# Projects are mounted into its containers at run time (job variables `volumes` and `workingDir`), not
# copied. Rebuilt only when the node binary changes (a label records which one it holds).
image() {
  local name="${1:-baton-node:local}" cli node_bin stamp context
  cli="$(command -v podman || command -v docker)" || {
    say "neither podman nor docker is installed"
    exit 1
  }
  export CONTAINERS_CONF="$conf"
  [ -f "$conf" ] || write_conf
  node_bin="$(readlink -f "$(command -v node)")"
  stamp="$(node --version) $node_bin $(stat -c %s-%Y "$node_bin")"
  if [ "$("$cli" image inspect --format '{{ index .Config.Labels "baton.node" }}' "$name" 2>/dev/null)" = "$stamp" ]; then
    say "$name is up to date ($stamp)"
    return
  fi
  context="$(mktemp -d)"
  # shellcheck disable=SC2064 # expanded now, on purpose
  trap "rm -rf '$context'" EXIT
  mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc" "$context/rootfs/tmp"
  chmod 1777 "$context/rootfs/tmp"
  cp -L "$node_bin" "$context/rootfs/usr/local/bin/node"
  for library in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
    mkdir -p "$context/rootfs$(dirname "$library")"
    cp -L "$library" "$context/rootfs$library"
  done
  echo "root:x:0:0:root:/root:/usr/local/bin/node" >"$context/rootfs/etc/passwd"
  echo "root:x:0:" >"$context/rootfs/etc/group"
  echo "hosts: files dns" >"$context/rootfs/etc/nsswitch.conf"
  printf '%s\n' "FROM scratch" "COPY rootfs/ /" "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
    "LABEL baton.node=\"$stamp\"" >"$context/Containerfile"
  say "building $name from $node_bin ($(node --version))"
  "$cli" build --quiet --file "$context/Containerfile" --tag "$name" "$context" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) exports ;;
  image) image "${2:-}" ;;
  *)
    say "usage: $0 [start|stop|env|image [NAME]]"
    exit 2
    ;;
esac
