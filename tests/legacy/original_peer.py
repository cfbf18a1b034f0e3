#!/usr/bin/env python3
"""An emulator of an original C++ SimpleP2P peer, written from the protocol
description in issue 3 (the original's source is not used):

  discover <A>             every peer multicasts: discovered <A> <B>
  message <A> <text>       every peer but A multicasts: response <A>  <B> <text>

Every datagram goes to the group; a peer receives on one socket (the
original binds the wildcard address; this one binds the group address, which
hears the same group and not the groups of other tests on this host) and
sends from another, unbound one. All traffic stays on interface 127.0.0.1,
unless --kernel-interface: then, as the original does, it joins on the
interface the kernel picks and sends by the multicast route (only ever
inside a test's own network namespace).

  original_peer.py wait --port P          a peer; prints each message text
  original_peer.py send --port P TEXT --expect N [--timeout S]
                                          the original's sender: discover,
                                          message, count; PASS exits 0

Where the original waited a fixed second, this waits for N answers with a
deadline, so tests run fast; it prints "ready <uuid>" on stderr when it listens.
"""
import argparse
import socket
import sys
import time
import uuid

GROUP = "239.255.0.1"
LOOPBACK = "127.0.0.1"


INTERFACE = LOOPBACK


def open_sockets(port):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((GROUP, port))
    membership = socket.inet_aton(GROUP) + socket.inet_aton(INTERFACE)
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(INTERFACE))
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return rx, tx


def wait(port):
    me = str(uuid.uuid4())
    rx, tx = open_sockets(port)
    print(f"ready {me}", file=sys.stderr, flush=True)
    while True:
        data, _ = rx.recvfrom(65536)
        words = data.decode("ascii", "replace").split()
        if len(words) == 2 and words[0] == "discover":
            tx.sendto(f"discovered {words[1]} {me}".encode(), (GROUP, port))
        elif len(words) >= 3 and words[0] == "message" and words[1] != me:
            print(words[2], flush=True)
            tx.sendto(f"response {words[1]}  {me} {words[2]}".encode(), (GROUP, port))


def collect(rx, deadline, expect, accept):
    """Distinct answers accepted by `accept` until `expect` or the deadline."""
    seen = set()
    while len(seen) < expect:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        rx.settimeout(left)
        try:
            data, _ = rx.recvfrom(65536)
        except socket.timeout:
            break
        who = accept(data.decode("ascii", "replace").split())
        if who:
            seen.add(who)
    return seen


def send(port, text, expect, timeout):
    me = str(uuid.uuid4())
    rx, tx = open_sockets(port)
    deadline = time.monotonic() + timeout
    tx.sendto(f"discover {me}".encode(), (GROUP, port))
    found = collect(rx, deadline, expect, lambda w: len(w) == 3 and w[0] == "discovered"
                    and w[1] == me and w[2] != me and w[2])
    tx.sendto(f"message {me} {text}".encode(), (GROUP, port))
    answered = collect(rx, deadline, len(found), lambda w: len(w) == 4 and w[0] == "response"
                       and w[1] == me and w[2] != me and w[3] == text and w[2])
    print(f"discovered {len(found)} responded {len(answered)}")
    ok = len(found) > 0 and len(answered) == len(found)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["wait", "send"])
    parser.add_argument("text", nargs="?", default="hello_there")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--kernel-interface", action="store_true")
    args = parser.parse_args()
    if args.kernel_interface:
        global INTERFACE
        INTERFACE = "0.0.0.0"
    if args.mode == "wait":
        wait(args.port)
        return 0
    return send(args.port, args.text, args.expect, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
