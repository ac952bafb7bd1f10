#!/usr/bin/env bash
# The cluster harness: many stateless quire instances behind nginx on this machine's loopback.
#
#   tests/cluster/run.sh [scenario ...]   (default: all; see SCENARIOS in cluster.py)
#
# Starts, on a fresh PostgreSQL database and a Redis prefix of its own: three
# `quire serve --role api`, two `quire worker`, and nginx (from Debian's packages, installed
# when missing) as the round-robin load balancer; runs each scenario through it; prints a table
# of results; stops everything and drops what it created. Every load is bounded in count and
# time. The instances reach PostgreSQL, Redis and the broker through TCP proxies of the
# harness, which the failure scenario cuts and restores. The services it needs come from the environment (defaults: this machine's):
#
#   QUIRE_CLUSTER_POSTGRES_URL  postgres://postgres@127.0.0.1:5432/postgres
#   QUIRE_CLUSTER_REDIS_URL     redis://127.0.0.1:6379/
#   QUIRE_CLUSTER_NATS_URL      nats://127.0.0.1:4222   (or QUIRE_CLUSTER_AMQP_URL for RabbitMQ)
#   QUIRE_SHARED_DIR            ../shared (the RealWorld Hurl suite)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
# The package starts a default server on port 80; the harness runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
# The scenarios' clients: Hurl for the RealWorld suite (as .ci/run installs it), websockets for
# GraphQL subscriptions, schemathesis for the contract fuzzing.
hurl_bin=$(command -v hurl || echo "$HOME/.cargo/bin/hurl")
if ! "$hurl_bin" --version 2>/dev/null | grep -q '^hurl 8\.0\.1'; then
  dpkg -s libclang-dev >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
  }
  cargo install --locked hurl@8.0.1
fi
python3 -c 'import websockets' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check 'websockets==15.0.1'
schemathesis --version 2>/dev/null | grep -q '4\.32\.5' \
  || python3 -m pip install -q --disable-pip-version-check 'schemathesis==4.32.5'
cargo build --release --locked --bin quire
exec python3 tests/cluster/cluster.py --quire "$CARGO_TARGET_DIR/release/quire" "$@"
