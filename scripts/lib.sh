# Helpers for the scripts: background peers on loopback, waited for by their
# ready line, and stopped by PID on exit. Source it; set BIN first.
# Every peer uses interface 127.0.0.1 and a port of the script's own, so no
# datagram leaves this host.

: "${BIN:?set BIN to the simplep2p binary}"
WORK=$(mktemp -d)
PIDS=()
trap 'stop_peers; rm -rf "$WORK"' EXIT

# A UDP port that is free right now, from the OS.
free_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=${PORT:-$(free_port)}
NET=(--interface 127.0.0.1 --port "$PORT")

# start_peers N [recv options...]: N background `recv` peers named peer1..N;
# returns once each has printed its ready line (at most 10 s each).
start_peers() {
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        "$BIN" "${NET[@]}" --name "peer$i" recv "$@" >"$WORK/peer$i.out" 2>"$WORK/peer$i.err" &
        PIDS+=($!)
    done
    for ((i = 1; i <= n; i++)); do
        wait_ready "$WORK/peer$i.err" "${PIDS[-n + i - 1]}" || return 1
    done
}

# wait_ready FILE PID [PATTERN]: waits for the ready line in FILE (by default
# simplep2p's), failing early if PID dies.
wait_ready() {
    local file=$1 pid=$2 pattern=${3:-^simplep2p: ready} deadline=$((SECONDS + 10))
    until grep -q "$pattern" "$file" 2>/dev/null; do

        if ! kill -0 "$pid" 2>/dev/null; then
            echo "peer $pid exited before it was ready: $(cat "$file")" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "peer $pid not ready after 10 s" >&2
            return 1
        fi
        sleep 0.01 # a poll of the file, bounded by the deadline above
    done
}

stop_peers() {
    ((${#PIDS[@]})) || return 0
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true # killed peers exit 143
    PIDS=()
}

# check NAME COMMAND...: counts a pass (in $passed) when the command
# succeeds, else a failure (in $failed), and says which.
passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
    fi
}

# has_line REGEX TEXT: whether a line of TEXT matches.
has_line() { grep -qE "$1" <<<"$2"; }
