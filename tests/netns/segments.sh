#!/usr/bin/env bash
# Two segments in namespaces this script creates (and deletes): host H on
# both (10.71.0.1 on a, 10.72.0.1 on b) with one peer pinned to each, host A
# on a, host B on b. Addresses exist only inside these namespaces.
# Usage: segments.sh BIN PORT; prints what A, B and B from an off-link
# address (10.99.0.5, which H reaches only through a router) see.
set -u
BIN=$1; PORT=$2; T=sp$$
H=${T}h; A=${T}a; B=${T}b
cleanup() { for n in $H $A $B; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $n 2>/dev/null; done; }
trap cleanup EXIT
for n in $H $A $B; do ip netns add $n; ip -n $n link set lo up; done
ip link add ${T}a0 netns $H type veth peer name ${T}a1 netns $A
ip link add ${T}b0 netns $H type veth peer name ${T}b1 netns $B
ip -n $H addr add 10.71.0.1/24 dev ${T}a0; ip -n $H link set ${T}a0 up
ip -n $H addr add 10.72.0.1/24 dev ${T}b0; ip -n $H link set ${T}b0 up
ip -n $A addr add 10.71.0.2/24 dev ${T}a1; ip -n $A link set ${T}a1 up
ip -n $B addr add 10.72.0.2/24 dev ${T}b1; ip -n $B link set ${T}b1 up
ip -n $B addr add 10.99.0.5/32 dev ${T}b1
ip -n $H route add 10.99.0.0/24 via 10.72.0.2
ip -n $A route add 224.0.0.0/4 dev ${T}a1
ip -n $B route add 224.0.0.0/4 dev ${T}b1
ready() { n=0; until grep -q ready "$1"; do n=$((n+1)); [ $n -lt 1000 ] || { echo "not ready: $(cat $1)"; exit 9; }; sleep 0.01; done; }
D=$(mktemp -d)
ip netns exec $H $BIN --interface 10.71.0.1 --port $PORT --name pinned-a recv >/dev/null 2>$D/pa & 
ip netns exec $H $BIN --interface 10.72.0.1 --port $PORT --name pinned-b recv >/dev/null 2>$D/pb &
ready $D/pa; ready $D/pb
echo "A sees:"; ip netns exec $A $BIN --port $PORT peers --timeout 1000 --quiet 200
echo "B sees:"; ip netns exec $B $BIN --port $PORT peers --timeout 1000 --quiet 200
echo "B from off-link sees:"; ip netns exec $B $BIN --interface 10.99.0.5 --port $PORT peers --timeout 1000 --quiet 200
rm -rf $D
