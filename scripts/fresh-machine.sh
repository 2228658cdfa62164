#!/usr/bin/env bash
# Proves the README's first command on a fresh machine: builds Tollgate's release
# binary inside a minimal Debian root (mmdebstrap --variant=minbase, plus a C compiler
# and nothing else) and runs `cargo run --release -- serve --demo` there, then asks
# it for its discovery document and a client-credentials token from the host.
#
# The Rust toolchain and the cargo registry are bind-mounted from this machine (the
# root has no network access to crates.io of its own; `cargo fetch` runs here first,
# then the build is --offline). The sources are `git archive HEAD`, so uncommitted
# changes are not part of the proof.
#
# Usage: sudo scripts/fresh-machine.sh [WORKDIR]    (needs root for mmdebstrap/chroot;
#        Debian's mmdebstrap package; about 15 minutes on 2 cores)
# Environment: SUITE (default bookworm), MIRROR (default: this machine's Debian mirror),
#              PORT (default 18080), PACKAGES (default "gcc libc6-dev"),
#              KEEP_ROOT=1 (reuse WORKDIR's root and its target/ for a quicker re-run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/tollgate-fresh-machine}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
port=${PORT:-18080}
packages=${PACKAGES:-gcc libc6-dev}
root=$work/root
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}

command -v mmdebstrap >/dev/null || { echo "needs Debian's mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (mmdebstrap and chroot)" >&2; exit 2; }

cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  for m in opt/cargo opt/rustup proc dev; do
    mountpoint -q "$root/$m" && umount -l "$root/$m" || true
  done
}
trap cleanup EXIT

if [ "${KEEP_ROOT:-0}" = 1 ] && [ -x "$root/usr/bin/gcc" ]; then
  echo "== reusing the root in $root (KEEP_ROOT=1: new sources, the earlier build's target/)"
  find "$root/src" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
else
  rm -rf "$work"
  mkdir -p "$work"
  echo "== minimal Debian $suite root with: $packages"
  # shellcheck disable=SC2086
  mmdebstrap --variant=minbase --include="$(echo $packages | tr ' ' ',')" "$suite" "$root" "$mirror"
fi
echo "== packages in the root: $(chroot "$root" dpkg-query -W -f '${Package}\n' | wc -l)"
chroot "$root" sh -c 'for t in cc gcc g++ clang cmake make perl go pkg-config; do printf "%s: %s\n" "$t" "$(command -v $t || echo absent)"; done'

echo "== sources (git archive HEAD) and the crates they need"
mkdir -p "$root/src"
git -C "$repo" archive HEAD | tar -x -C "$root/src"
(cd "$root/src" && cargo fetch --locked)

mkdir -p "$root/opt/cargo" "$root/opt/rustup"
mount --bind "$cargo_home" "$root/opt/cargo"
mount --bind "$rustup_home" "$root/opt/rustup"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/opt/cargo/bin:/usr/bin:/bin \
    CARGO_HOME=/opt/cargo RUSTUP_HOME=/opt/rustup CARGO_NET_OFFLINE=true "$@"
}

echo "== cargo build --release (inside the root)"
start=$(date +%s)
in_root sh -c 'cd /src && cargo build --release --locked 2>&1 | tail -n 3'
echo "== built in $(( $(date +%s) - start )) s"

echo "== cargo run --release -- serve --demo (inside the root, on 127.0.0.1:$port)"
in_root sh -c "cd /src && TOLLGATE_SERVER__LISTEN=127.0.0.1:$port exec cargo run --release --locked -- serve --demo" \
  > "$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 1
done
head -n 20 "$work/serve.log"
echo "== discovery from the host"
curl -fsS "http://127.0.0.1:$port/.well-known/oauth-authorization-server" | head -c 300; echo
echo "== a token for the demo client"
secret=$(sed -n 's/^Demo client: demo \/ \([^ ]*\)$/\1/p' "$work/serve.log" | head -n1)
if [ -n "$secret" ]; then
  curl -fsS -u "demo:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth2/token" | head -c 200; echo
fi
echo "== OK: built and served in a minimal root with only: $packages"
