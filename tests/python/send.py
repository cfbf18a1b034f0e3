#!/usr/bin/env python3
"""The original's test/send.py, in Python 3: count the peers, send
hello_there, PASS (exit 0) only when every peer answered and there was one."""
import os
import sys

import simplep2p as s

peer_count = s.get_peer_count()

if peer_count == 0:
    print("FAIL: no peers")
    sys.exit(1)

response_count = s.send_message_to_peers("hello_there")

if response_count == peer_count:
    print("PASS %d/%d" % (response_count, peer_count))
else:
    print("FAIL %d/%d" % (response_count, peer_count))
    sys.exit(1)
