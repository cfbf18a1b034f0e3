"""unittest cases for live membership in the Python binding: members(),
events(), heartbeat= and fileno() for asyncio, against real peers on
loopback (interface 127.0.0.1, a port from the OS each)."""
import asyncio
import signal
import socket
import threading
import time
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

# Far longer than anything takes on a busy machine; only a failure waits it out.
HANG = 30


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_peer(port, **kw):
    return simplep2p.Peer(interface="127.0.0.1", port=port, **kw)


def next_settled(peer):
    """The next event that is not a suspicion or its refutation (which a
    loaded machine may cause without anything being wrong)."""
    for e in peer.events(timeout=HANG):
        if e.kind not in ("suspected", "alive"):
            return e
    raise AssertionError("no event within %d s" % HANG)


def readable(fd, timeout):
    import select

    return bool(select.select([fd], [], [], timeout)[0])


class MembersTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()

    def test_join_and_leave_are_events_and_members_lists_who_is_here(self):
        with loopback_peer(self.port, name="a") as a:
            before = time.time()
            b = loopback_peer(self.port, name="b", heartbeat=0.25)
            try:
                joined = next_settled(a)
                self.assertEqual((joined.kind, joined.member.name, joined.lagged), ("joined", "b", 0))
                self.assertGreaterEqual(joined.time, before - 1)
                self.assertLessEqual(joined.time, time.time() + 1)

                [m] = a.members()
                self.assertIsInstance(m, simplep2p.Member)
                self.assertEqual((m.id, m.name, m.heartbeat, m.suspected), (joined.member.id, "b", 0.25, False))
                self.assertEqual(len(m.id), 36)
                self.assertTrue(m.address.startswith("127.0.0.1:"), m.address)
                self.assertIsInstance(m.first_heard, float)
                self.assertLessEqual(m.first_heard, m.last_heard)
                # b learns of a too, with a's default heartbeat.
                deadline = time.monotonic() + HANG
                while not b.members() and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.assertEqual([(p.name, p.heartbeat) for p in b.members()], [("a", 1.0)])
            finally:
                b.close()
            left = next_settled(a)
            self.assertEqual((left.kind, left.member.id), ("left", m.id))
            self.assertEqual(a.members(), [])
            self.assertEqual(list(a.events(timeout=0)), [])

    def test_events_end_at_the_timeout_and_when_the_peer_closes(self):
        with loopback_peer(self.port) as a:
            start = time.monotonic()
            self.assertEqual(list(a.events(timeout=0.15)), [])
            took = time.monotonic() - start
            self.assertGreaterEqual(took, 0.15)
            self.assertLess(took, 5)
            # Closed from another thread: the iteration simply ends.
            forever = a.events()
            threading.Timer(0.1, a.close).start()
            self.assertEqual(list(forever), [])
        with self.assertRaises(simplep2p.SimpleP2PError) as e:
            a.events()
        self.assertEqual(e.exception.code, -7)

    def test_heartbeat_takes_seconds_none_for_the_default_and_0_for_off(self):
        for bad in (0.005, -1, 3601, float("nan"), True, "1"):
            with self.assertRaises(simplep2p.SimpleP2PError) as e:
                loopback_peer(self.port, heartbeat=bad)
            self.assertEqual(e.exception.code, -2, bad)
            self.assertIn("pass seconds from 0.01 to 3600, or 0 for none", str(e.exception))
        for fine in (0, False, 0.01, 3600, None):
            loopback_peer(self.port, heartbeat=fine).close()

    def test_ctrl_c_in_events_raises_promptly_and_the_peer_stays_usable(self):
        # As in test_peer: the tests may inherit SIGINT ignored.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        with loopback_peer(self.port) as a:
            timer = threading.Timer(0.1, signal.raise_signal, (signal.SIGINT,))
            start = time.monotonic()
            timer.start()
            with self.assertRaises(KeyboardInterrupt):
                for _ in a.events():
                    pass
            # Without its 50 ms slices the wait would never end; the bound
            # is only against that, generous for a loaded machine (the
            # timer thread itself may start late).
            late = time.monotonic() - start - 0.1
            self.assertLess(late, 2.0, "KeyboardInterrupt came %.0f ms after Ctrl-C" % (late * 1000))
            with loopback_peer(self.port, name="b"):
                self.assertEqual(next_settled(a).member.name, "b")

    def test_fileno_is_readable_exactly_while_something_waits(self):
        with loopback_peer(self.port, name="a") as a:
            fd = a.fileno()
            self.assertEqual(a.fileno(), fd)
            self.assertFalse(readable(fd, 0))
            with loopback_peer(self.port, name="b") as b:
                self.assertTrue(readable(fd, HANG))
                while list(a.events(timeout=0)) or a.recv(timeout=0):
                    pass
                if readable(fd, 0):  # only if something new came meanwhile
                    self.assertTrue(list(a.events(timeout=0)) or a.recv(timeout=0))
                self.assertEqual(len(b.send(b"x", timeout=HANG).acked), 1)
                self.assertTrue(readable(fd, HANG))
                self.assertEqual(a.recv(timeout=0).data, b"x")


class AsyncioTest(unittest.TestCase):
    def test_add_reader_on_fileno_wakes_for_a_message_and_for_an_event(self):
        asyncio.run(asyncio.wait_for(self.scenario(free_port()), HANG))

    async def scenario(self, port):
        loop = asyncio.get_running_loop()
        messages, events = asyncio.Queue(), asyncio.Queue()
        with loopback_peer(port, name="a") as a:

            def on_readable():
                # Take everything: the fd stays readable until then.
                for e in a.events(timeout=0):
                    events.put_nowait(e)
                while True:
                    m = a.recv(timeout=0)
                    if m is None:
                        break
                    messages.put_nowait(m)

            loop.add_reader(a.fileno(), on_readable)
            try:
                with loopback_peer(port, name="b") as b:
                    while True:
                        e = await events.get()
                        if e.kind == "joined":
                            break
                    self.assertEqual(e.member.name, "b")
                    # A blocking send, in a thread, so that the loop keeps running.
                    result = await loop.run_in_executor(None, b.send, b"to the loop")
                    self.assertEqual(len(result.acked), 1)
                    self.assertEqual((await messages.get()).data, b"to the loop")
                while True:
                    e = await events.get()
                    if e.kind == "left":
                        break
                self.assertEqual(e.member.name, "b")
            finally:
                loop.remove_reader(a.fileno())


if __name__ == "__main__":
    unittest.main()
