"""unittest cases for the Python binding, against real peers on loopback.

Every peer uses interface 127.0.0.1 and a port from the OS, so nothing
leaves this host and parallel runs never hear each other."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP = "239.255.0.1"
# Longest a test waits for what must happen: a hang, not a speed.
HANG = 60


class Refusals:
    """For test cases: `refused(error, argument, call)` checks that `call()`
    raises `error` (TypeError or ValueError), which is also a
    SimpleP2PError with code -2, naming `argument`; it returns the error."""

    def refused(self, error, argument, call, says=None):
        with self.assertRaises(error, msg=argument) as raised:
            call()
        self.assertIsInstance(raised.exception, simplep2p.SimpleP2PError)
        self.assertEqual(raised.exception.code, -2, argument)
        self.assertIn(argument, str(raised.exception))
        if says:
            self.assertIn(says, str(raised.exception))
        return raised.exception


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_peer(port, **kw):
    return simplep2p.Peer(interface="127.0.0.1", port=port, **kw)


def reap(proc):
    proc.kill()
    proc.communicate()


def start_scripts(test, env, script, count, **probe_kw):
    """`count` processes running tests/python/`script` with `env` (its
    SIMPLEP2P_PORT a port of the test's own), returned once a probe peer
    (Peer keywords `probe_kw`, for a key) has found them all: the
    original's wait.py prints nothing until a message comes. The probe is
    closed before this returns, so no later discovery counts it."""
    procs = []
    for _ in range(count):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        test.addCleanup(reap, proc)
        procs.append(proc)
    deadline = time.monotonic() + HANG
    with loopback_peer(int(env["SIMPLEP2P_PORT"]), **probe_kw) as probe:
        while len(probe.peers(expect=count, timeout=0.5)) < count:
            for proc in procs:
                if proc.poll() is not None:
                    test.fail("%s exited %s: %s" % (script, proc.returncode, proc.communicate()[1].decode()))
            if time.monotonic() > deadline:
                test.fail("%d %s peers not found within %d s" % (count, script, HANG))
    return procs


def read_lines(proc, count):
    """The next `count` lines `proc` prints (bytes, each with its newline),
    failing if they take over HANG seconds."""
    lines = []

    def read():
        for _ in range(count):
            lines.append(proc.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(HANG)
    if reader.is_alive():
        raise AssertionError("%d of %d lines within %d s: %r" % (len(lines), count, HANG, lines))
    return lines


def group_listener(port):
    """A socket joined to the group on loopback, to watch the datagrams."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((GROUP, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(GROUP) + socket.inet_aton("127.0.0.1"))
    return s


class PeerTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()

    def test_bytes_round_trip_exactly(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port) as b:
            self.assertEqual([p.name for p in b.peers(expect=1)], ["a"])
            data = bytes(range(256)) + b" spaces and\nnewlines"
            result = b.send(data)
            self.assertEqual(([p.name for p in result.acked], result.missing), (["a"], []))
            msg = a.recv(timeout=2)
            self.assertEqual(msg.data, data)
            self.assertEqual(len(msg.sender), 36)

    def test_str_is_sent_as_utf8(self):
        with loopback_peer(self.port) as a, loopback_peer(self.port) as b:
            b.peers(expect=1)
            self.assertEqual(len(b.send("héllo ✓").acked), 1)
            self.assertEqual(a.recv(timeout=2).data, "héllo ✓".encode("utf-8"))

    def test_recv_times_out_with_none(self):
        with loopback_peer(self.port) as a:
            start = time.monotonic()
            self.assertIsNone(a.recv(timeout=0.15))
            took = time.monotonic() - start
            self.assertGreaterEqual(took, 0.15)
            self.assertLess(took, 1.0)

    def test_several_peers_each_get_it_once(self):
        others = [loopback_peer(self.port) for _ in range(4)]
        try:
            with loopback_peer(self.port) as me:
                self.assertEqual(len(me.peers(expect=4)), 4)
                result = me.send(b"to all")
                self.assertEqual((len(result.acked), result.missing), (4, []))
                for p in others:
                    self.assertEqual(p.recv(timeout=2).data, b"to all")
                    self.assertIsNone(p.recv(timeout=0.01))
        finally:
            for p in others:
                p.close()

    def test_a_killed_peer_is_reported_missing(self):
        env = dict(os.environ, SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=str(self.port))
        [victim] = start_scripts(self, env, "wait.py", 1)
        with loopback_peer(self.port, name="stays") as stays, loopback_peer(self.port) as me:
            self.assertEqual(len(me.peers(expect=2)), 2)
            victim.send_signal(signal.SIGKILL)  # no goodbye
            victim.wait()
            start = time.monotonic()
            result = me.send(b"x", timeout=0.3)
            self.assertLess(time.monotonic() - start, 1.0)
            self.assertEqual([p.name for p in result.acked], ["stays"])
            self.assertEqual(len(result.missing), 1)
            self.assertEqual(stays.recv(timeout=1).data, b"x")

    def test_send_reports_who_acked_even_when_it_discovered_them_itself(self):
        with loopback_peer(self.port) as alice:
            self.assertEqual(alice.peers(timeout=0.05), [])
            with loopback_peer(self.port, name="bob") as bob:
                result = alice.send("hello", timeout=5.0)
                self.assertEqual([p.name for p in result.acked], ["bob"])
                self.assertEqual(result.missing, [])
                self.assertEqual(bob.recv(timeout=5.0).data, b"hello")

    def test_errors_are_exceptions_with_codes(self):
        with loopback_peer(self.port) as a:
            with self.assertRaises(simplep2p.SimpleP2PError) as big:
                a.send(b"x" * (simplep2p.MAX_MESSAGE + 1))
            self.assertEqual(big.exception.code, -4)
            self.assertIn("nothing was sent", str(big.exception))
        with self.assertRaises(simplep2p.SimpleP2PError) as bad:
            simplep2p.Peer(group="10.0.0.1", interface="127.0.0.1", port=self.port)
        self.assertEqual(bad.exception.code, -3)
        self.assertIn("224.0.0.0/4", str(bad.exception))
        with self.assertRaises(simplep2p.SimpleP2PError) as bad:
            simplep2p.Peer(interface="not an address", port=self.port)
        self.assertEqual(bad.exception.code, -2)
        self.assertIn("neither an interface name nor an address", str(bad.exception))
        with self.assertRaises(simplep2p.SimpleP2PError) as bad:
            simplep2p.Peer(interface="sp2p-none0", port=self.port)
        self.assertEqual(bad.exception.code, -3)
        self.assertIn("no interface named 'sp2p-none0'; this host has: ", str(bad.exception))
        closed = loopback_peer(self.port)
        closed.close()
        with self.assertRaises(simplep2p.SimpleP2PError):
            closed.recv(timeout=0.01)

    def test_config_is_refused_as_in_rust_c_and_the_cli(self):
        for kw, says in [
            (dict(port=0), "between 1 and 65535"),
            (dict(port=self.port, ttl=256), "0 to 255"),
            (dict(port=self.port, name="n" * 65), "64 bytes"),
        ]:
            with self.assertRaises(simplep2p.SimpleP2PError, msg=kw) as bad:
                simplep2p.Peer(interface="127.0.0.1", **kw)
            self.assertEqual(bad.exception.code, -2, kw)
            self.assertIn(says, str(bad.exception))

    def test_out_of_range_arguments_are_refused_before_ctypes_wraps_them(self):
        # Each would have been wrapped: port 65536 to 0 (the default port),
        # -1 ms to 49.7 days, and so on.
        for kw, says in [
            (dict(port=-1), "1 to 65535"),
            (dict(port=65536), "1 to 65535"),
            (dict(port=self.port, ttl=-1), "0 to 255"),
            (dict(port=self.port, ttl=256), "0 to 255"),
        ]:
            with self.assertRaises(simplep2p.SimpleP2PError, msg=kw) as bad:
                simplep2p.Peer(interface="127.0.0.1", **kw)
            self.assertEqual(bad.exception.code, -2, kw)
            self.assertIn(says, str(bad.exception))
        with loopback_peer(self.port) as a:
            for what, call in [
                ("peers(expect=3, timeout=-0.001)", lambda: a.peers(expect=3, timeout=-0.001)),
                ("peers(expect=-1)", lambda: a.peers(expect=-1)),
                ("peers(timeout=nan)", lambda: a.peers(timeout=float("nan"))),
                ("send(timeout=-1)", lambda: a.send(b"x", timeout=-1)),
                ("send(timeout=2**32)", lambda: a.send(b"x", timeout=2**32)),
                ("recv(timeout=-1)", lambda: a.recv(timeout=-1)),
            ]:
                with self.assertRaises(simplep2p.SimpleP2PError, msg=what) as bad:
                    call()
                self.assertEqual(bad.exception.code, -2, what)
                self.assertIn("out of range", str(bad.exception), what)

    def test_a_timeout_of_none_means_no_limit_and_0_looks_once(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port) as b:
            # Returns once the one peer there is has answered.
            self.assertEqual([p.name for p in b.peers(expect=1, timeout=None)], ["a"])
            self.assertEqual(len(b.send(b"queued", timeout=None).acked), 1)
            # Acknowledged, so queued: a zero timeout finds it.
            self.assertEqual(a.recv(timeout=0).data, b"queued")
            self.assertIsNone(a.recv(timeout=0))

    def test_ttl_0_is_allowed_as_in_rust_and_the_cli(self):
        with loopback_peer(self.port, ttl=0, name="a") as a, loopback_peer(self.port, ttl=255) as b:
            self.assertEqual([p.name for p in b.peers(expect=1, timeout=10)], ["a"])

    def test_with_ack_on_recv_only_what_recv_takes_is_acknowledged(self):
        with loopback_peer(self.port, name="taker", ack_on_recv=True) as taker, loopback_peer(
            self.port, name="queuer"
        ), loopback_peer(self.port) as me:
            self.assertEqual(len(me.peers(expect=2, timeout=10)), 2)
            # Nobody calls recv: the default peer acknowledges on arrival,
            # the taker not at all, however long the sender waits.
            first = me.send(b"first", timeout=2)
            self.assertEqual(([p.name for p in first.acked], [p.name for p in first.missing]), (["queuer"], ["taker"]))
            self.assertEqual(taker.recv(timeout=10).data, b"first")
            # While the taker waits in recv, the next one is acknowledged
            # (the sender repeats it until it is).
            got = []
            waiting = threading.Thread(target=lambda: got.append(taker.recv(timeout=60)))
            waiting.start()
            second = me.send(b"second", timeout=60)
            waiting.join(60)
            self.assertEqual((sorted(p.name for p in second.acked), second.missing), (["queuer", "taker"], []))
            self.assertEqual(got[0].data, b"second")

    def test_a_closed_handle_is_an_error_even_in_another_thread(self):
        a = loopback_peer(self.port)
        handle = a._handle.value
        errors = []
        entering = threading.Event()

        def wait():
            entering.set()
            try:
                a.recv()
            except simplep2p.SimpleP2PError as e:
                errors.append(e)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        entering.wait()
        a.close()
        waiter.join(60)
        self.assertFalse(waiter.is_alive(), "close() did not end recv() in another thread")
        self.assertEqual([e.code for e in errors], [-7])
        a.close()  # twice: nothing happens
        # The library itself refuses the old handle: no use after free.
        meta = simplep2p._MessageWide()
        rc = simplep2p._lib.sp2p_recv_wide(handle, 0, None, 0, simplep2p.ctypes.byref(meta))
        self.assertEqual(rc, -7)
        self.assertIn(b"was closed by sp2p_close", simplep2p._lib.sp2p_last_error())

    def test_ctrl_c_in_recv_raises_promptly_and_the_peer_stays_usable(self):
        # Run in the background of a shell without job control, the tests
        # inherit SIGINT ignored; Ctrl-C must reach Python here all the same.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        with loopback_peer(self.port) as a, loopback_peer(self.port) as b:
            timer = threading.Timer(0.1, signal.raise_signal, (signal.SIGINT,))
            start = time.monotonic()
            timer.start()
            with self.assertRaises(KeyboardInterrupt):
                a.recv()
            # Only against a wait that never ends: generous for a loaded
            # machine (the timer thread itself may start late).
            late = time.monotonic() - start - 0.1
            self.assertLess(late, 2.0, "KeyboardInterrupt came %.0f ms after Ctrl-C" % (late * 1000))
            b.peers(expect=1)
            self.assertEqual(len(b.send(b"after").acked), 1)
            self.assertEqual(a.recv(timeout=2).data, b"after")


class ScriptsTest(unittest.TestCase):
    """The original's wait.py and send.py (tests/python), as processes of
    their own: wait.py serves until Ctrl-C."""

    def setUp(self):
        self.port = free_port()
        self.env = dict(os.environ, SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=str(self.port))

    def send_py(self):
        return subprocess.run(
            [sys.executable, os.path.join(HERE, "send.py")], env=self.env, capture_output=True, timeout=HANG
        )

    def test_wait_py_ends_on_ctrl_c_with_keyboard_interrupt_and_says_goodbye(self):
        watcher = group_listener(self.port)
        self.addCleanup(watcher.close)
        [proc] = start_scripts(self, self.env, "wait.py", 1)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        # As the original's: wait() ends only by raising KeyboardInterrupt,
        # which wait.py does not catch, so Python dies of SIGINT, after its
        # exit handlers (the module's goodbye among them) have run.
        self.assertEqual(proc.wait(timeout=HANG), -signal.SIGINT)
        took = time.monotonic() - start
        self.assertIn(b"KeyboardInterrupt", proc.communicate()[1])
        watcher.settimeout(HANG)
        kinds = []
        while 5 not in kinds:  # a goodbye
            data = watcher.recv(65536)
            if data[:4] == b"SP2P":
                kinds.append(data[5])
        # The interrupt lands within one 50 ms slice; the bound is only
        # against a wait that ignores Ctrl-C, generous for a loaded machine.
        print("wait.py ended %.0f ms after SIGINT" % (took * 1000), file=sys.stderr)
        self.assertLess(took, 10.0, "exit took %.0f ms" % (took * 1000))

    def test_wait_py_serves_until_ctrl_c_and_prints_every_message(self):
        [proc] = start_scripts(self, self.env, "wait.py", 1)
        with loopback_peer(self.port) as me:
            self.assertEqual(len(me.peers(expect=1, timeout=HANG)), 1)
            for data in (b"first", b"second line\nand more", b"third \xff"):
                self.assertEqual(len(me.send(data, timeout=HANG).acked), 1, data)
                time.sleep(0.05)  # still there, still answering, between sends
        # Acknowledged on arrival, as the original did; printed once taken.
        self.assertEqual(read_lines(proc, 3), [b"first\n", b"second line\\nand more\n", b"third \\xff\n"])
        proc.send_signal(signal.SIGINT)
        printed, _ = proc.communicate(timeout=HANG)
        self.assertEqual(printed, b"")

    def test_send_py_passes_against_wait_py_peers(self):
        waiters = start_scripts(self, self.env, "wait.py", 3)
        out = self.send_py()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout, b"PASS\n")
        for w in waiters:
            self.assertEqual(read_lines(w, 1), [b"hello_there\n"])
            w.send_signal(signal.SIGINT)
            printed, _ = w.communicate(timeout=HANG)
            self.assertEqual(printed, b"")

    def test_send_py_fails_with_no_peers(self):
        out = self.send_py()
        self.assertEqual((out.returncode, out.stdout), (1, b"FAIL: no peers\n"))


if __name__ == "__main__":
    unittest.main()
