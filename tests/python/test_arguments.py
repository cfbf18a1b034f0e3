"""unittest cases for the Python binding's argument checks: every argument
of the wrong type is a TypeError, every one out of range a ValueError, each
naming the argument, before anything is opened or sent; None means "no
limit" for every timeout and count. Peers are on 127.0.0.1 and a port from
the OS for each test."""
import math
import os
import time
import unittest
import unittest.mock

import simplep2p  # the installed package (make test installs it in target/pyenv)

# As a module: a TestCase imported by name would run here a second time.
import test_peer

free_port, loopback_peer = test_peer.free_port, test_peer.loopback_peer


class ArgumentTest(test_peer.Refusals, unittest.TestCase):
    def setUp(self):
        self.port = free_port()

    def test_interfaces_by_name_are_served_and_checked(self):
        # Only loopback is ever named: nothing leaves this host.
        with simplep2p.Peer(port=self.port, interfaces=["lo"]) as a:
            with simplep2p.Peer(port=self.port, interface="lo") as b:
                self.assertEqual(len(a.peers(expect=1, timeout=5.0)), 1)
                self.assertEqual(len(a.send(b"over lo", timeout=5.0).acked), 1)
                self.assertEqual(b.recv(timeout=5.0).data, b"over lo")
        self.refused(TypeError, "interfaces", lambda: simplep2p.Peer(port=self.port, interfaces="lo"))
        self.refused(TypeError, "exclude_interfaces[0]",
                     lambda: simplep2p.Peer(port=self.port, interfaces=["lo"], exclude_interfaces=[5]))
        self.refused(ValueError, "neither an interface name nor an address",
                     lambda: simplep2p.Peer(port=self.port, interfaces=["lo/1"]))
        with self.assertRaises(simplep2p.SimpleP2PError) as gone:
            simplep2p.Peer(port=self.port, interfaces=["lo"], exclude_interfaces=["lo"])
        self.assertEqual(gone.exception.code, -3)
        self.assertIn("excluded", str(gone.exception))

    def test_a_port_out_of_range_is_a_value_error_naming_port_not_a_wrapped_port(self):
        # 70000 once wrapped to 4464, and -1 was accepted.
        for port in (70000, 65536, -1, 0):
            self.refused(ValueError, "port", lambda: loopback_peer(port), "65535")

    def test_a_port_that_is_no_whole_number_is_a_type_error(self):
        for port in ("30001", 30001.0, True, b"1"):
            self.refused(TypeError, "port", lambda: loopback_peer(port))

    def test_every_config_argument_is_checked_by_type(self):
        for kw, argument in [
            (dict(group=5), "group"),
            (dict(group=b"239.255.0.1"), "group"),
            (dict(name=5), "name"),
            (dict(ttl="1"), "ttl"),
            (dict(ttl=1.5), "ttl"),
            (dict(ack_on_recv="yes"), "ack_on_recv"),
            (dict(ack_on_recv=1), "ack_on_recv"),
            (dict(heartbeat="1"), "heartbeat"),
            (dict(heartbeat=True), "heartbeat"),
            (dict(key_file=5), "key_file"),
            (dict(key=5), "key"),
        ]:
            self.refused(TypeError, argument, lambda: loopback_peer(self.port, **kw))
        self.refused(TypeError, "interface", lambda: simplep2p.Peer(interface=127, port=self.port))

    def test_every_config_argument_is_checked_by_value(self):
        for kw, argument in [
            (dict(ttl=256), "ttl"),
            (dict(ttl=-1), "ttl"),
            (dict(heartbeat=-1), "heartbeat"),
            (dict(heartbeat=math.nan), "heartbeat"),
            (dict(name="a\0b"), "name"),
            (dict(key="00"), "key"),
        ]:
            self.refused(ValueError, argument, lambda: loopback_peer(self.port, **kw))
        self.refused(ValueError, "group", lambda: simplep2p.Peer(group="239.255.0.1\0", interface="127.0.0.1"))

    def test_values_the_library_refuses_are_value_errors_too(self):
        for kw, argument in [
            (dict(group="not-an-address", interface="127.0.0.1"), "group"),
            (dict(group="", interface="127.0.0.1"), "group"),
            (dict(interface="127.0.0.1", name="n" * 65), "name"),
        ]:
            self.refused(ValueError, argument, lambda: simplep2p.Peer(port=self.port, **kw))

    def test_a_message_that_is_not_text_or_bytes_is_a_type_error_not_nul_bytes(self):
        # send(5) once sent five NUL bytes (bytes(5)).
        with loopback_peer(self.port) as a:
            for data in (5, None, 1.5, ["x"], {"x": 1}):
                self.refused(TypeError, "data", lambda: a.send(data, timeout=0))
            # Bytes-like objects are bytes.
            with loopback_peer(self.port) as b:
                a.peers(expect=1, timeout=test_peer.HANG)
                for data in (bytearray(b"ba"), memoryview(b"mv")):
                    self.assertEqual(len(a.send(data, timeout=test_peer.HANG).acked), 1)
                    self.assertEqual(b.recv(timeout=test_peer.HANG).data, bytes(data))

    def test_negative_timeouts_are_value_errors_naming_timeout_everywhere(self):
        # peers(expect=3, timeout=-0.001) once waited ~49 days.
        with loopback_peer(self.port) as a:
            for what, call in [
                ("peers", lambda: a.peers(expect=3, timeout=-0.001)),
                ("send", lambda: a.send(b"x", timeout=-1)),
                ("recv", lambda: a.recv(timeout=-1)),
                ("events", lambda: a.events(timeout=-1)),
                ("peers nan", lambda: a.peers(timeout=math.nan)),
                ("send over 49.7 days", lambda: a.send(b"x", timeout=2**32)),
            ]:
                self.refused(ValueError, "timeout", call, "out of range")

    def test_timeouts_that_are_no_number_are_type_errors(self):
        with loopback_peer(self.port) as a:
            for call in [
                lambda: a.peers(timeout="1"),
                lambda: a.send(b"x", timeout="1"),
                lambda: a.recv(timeout="1"),
                lambda: a.events(timeout=[1]),
                lambda: a.recv(timeout=True),
            ]:
                self.refused(TypeError, "timeout", call)

    def test_a_negative_or_fractional_expect_is_refused(self):
        with loopback_peer(self.port) as a:
            self.refused(ValueError, "expect", lambda: a.peers(expect=-1))
            self.refused(TypeError, "expect", lambda: a.peers(expect=1.5))
            self.refused(TypeError, "expect", lambda: a.peers(expect="3"))

    def test_none_means_no_limit_for_every_timeout_and_count(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port) as b:
            # expect=None: no particular number, so the quiet window ends it;
            # timeout=None: no limit, so it waits for the one peer there is.
            self.assertEqual([p.name for p in b.peers(expect=None, timeout=None)], ["a"])
            self.assertEqual([p.name for p in b.peers(expect=1, timeout=None)], ["a"])
            self.assertEqual(len(b.send(b"none", timeout=None).acked), 1)
            self.assertEqual(a.recv(timeout=None).data, b"none")
            # events(None): an iterator with no end but the peer's.
            joined = a.events(timeout=None)
            with loopback_peer(self.port, name="c"):
                for event in joined:
                    if event.kind == "joined" and event.member.name == "c":
                        break

    def test_an_argument_is_checked_before_anything_is_sent(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port) as b:
            b.peers(expect=1, timeout=test_peer.HANG)
            with self.assertRaises(ValueError):
                b.send(b"never", timeout=-1)
            with self.assertRaises(TypeError):
                b.send(5)
            self.assertIsNone(a.recv(timeout=0.2))

    def test_the_module_functions_check_their_arguments_before_joining(self):
        # Were one made after all, it would be on loopback and a port of
        # this test's own.
        pinned = dict(SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=str(self.port), SIMPLEP2P_GROUP="")
        with unittest.mock.patch.dict(os.environ, pinned):
            before = simplep2p._default
            try:
                for message in (5, None, 2.5):
                    self.refused(TypeError, "message", lambda: simplep2p.send_message_to_peers(message))
                self.assertIs(simplep2p._default, before, "a peer was made for a refused message")
            finally:
                if simplep2p._default is not before:
                    simplep2p._default.close()
                    simplep2p._default = before

    def test_a_bad_simplep2p_port_names_the_variable(self):
        import subprocess
        import sys

        for value, says in [("abc", "is not a port"), ("70000", "out of range")]:
            env = dict(os.environ, SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=value)
            code = "import simplep2p\ntry:\n    simplep2p.start()\nexcept ValueError as e:\n    print(e)\n"
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=test_peer.HANG)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(b"SIMPLEP2P_PORT", out.stdout)
            self.assertIn(says.encode(), out.stdout)

    def test_a_refused_timeout_takes_no_time(self):
        with loopback_peer(self.port) as a:
            start = time.monotonic()
            with self.assertRaises(ValueError):
                a.peers(expect=3, timeout=-0.001)
            self.assertLess(time.monotonic() - start, 5)


if __name__ == "__main__":
    unittest.main()
