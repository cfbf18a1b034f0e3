#!/usr/bin/env python3
"""The original's test/wait.py, in Python 3: a peer that waits for messages
and prints each one. Ctrl-C (or SIGTERM) leaves the group cleanly, exit 0.

Prints "ready <uuid-less note>" on stderr once it has joined the group."""
import os
import signal
import sys

import simplep2p as s


def main():
    # SIGTERM as Ctrl-C, so that a script stopping this peer gets a goodbye too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Started in the background of a shell without job control, a program
    # inherits SIGINT ignored, and Python then leaves it so: Ctrl-C must
    # still end the wait.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        s.start()
        # Inside the try: Ctrl-C right after "ready" must still exit cleanly.
        print("ready", file=sys.stderr, flush=True)
        while True:
            msg = s.wait()
            print(msg.data.decode("utf-8", "backslashreplace"), flush=True)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
