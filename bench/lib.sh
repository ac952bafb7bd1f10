# Sourced by the bench scripts: the release binary to measure, and wrk when asked for.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"

# Sets `bin` to $QUIRE_BIN, or to a release build of quire made now.
quire_binary() {
  if [ -n "${QUIRE_BIN:-}" ]; then
    bin=$QUIRE_BIN
  else
    cargo build --release --locked --bin quire
    bin="$CARGO_TARGET_DIR/release/quire"
  fi
}

# Installs wrk with apt when it is missing.
need_wrk() {
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
  fi
}
