#!/usr/bin/env bash
# The main job, on loopback: five background receivers, one send, their output.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/simplep2p}
. scripts/lib.sh

echo "== starting 5 receivers on 239.255.0.1:$PORT, interface 127.0.0.1"
start_peers 5
echo "== simplep2p send \"hello there\" --expect 5"
status=0
"$BIN" "${NET[@]}" send "hello there" --expect 5 || status=$?
stop_peers
for i in 1 2 3 4 5; do
    echo "== peer$i printed:"
    cat "$WORK/peer$i.out"
done
exit "$status"
