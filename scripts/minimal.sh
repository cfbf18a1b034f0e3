#!/usr/bin/env bash
# The build a constrained system vendors: no "crypto" feature, so no
# cryptography crates. Its own tests pass, and a key is refused with a
# one-line error naming the feature (exit 2), from the library and the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
DIR=target/minimal

$CARGO test -q --no-default-features --target-dir "$DIR" --lib
$CARGO build -q --no-default-features --target-dir "$DIR" --bin simplep2p
if $CARGO tree --no-default-features -e normal 2>/dev/null | grep -q chacha; then
    echo "FAIL: the minimal build still depends on chacha20poly1305" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key="$tmp/group.key"
"$DIR/debug/simplep2p" keygen --out "$key"
set +e
err=$("$DIR/debug/simplep2p" --interface 127.0.0.1 --key-file "$key" peers --timeout 10 2>&1 >/dev/null)
code=$?
set -e
if [[ $code -ne 2 || $err != *'"crypto" feature'* || $(wc -l <<<"$err") -ne 1 ]]; then
    echo "FAIL: --key-file without the crypto feature: exit $code, stderr: $err" >&2
    exit 1
fi
echo "minimal build: tests pass, no cryptography crates, --key-file refused: $err"
