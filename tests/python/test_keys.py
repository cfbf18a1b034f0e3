"""unittest cases for group keys in the Python binding, against real peers
on loopback (interface 127.0.0.1, a port from the OS for each test)."""
import os
import shutil
import signal
import tempfile
import time
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

# As a module: a TestCase imported by name would run here a second time.
import test_peer

free_port, loopback_peer = test_peer.free_port, test_peer.loopback_peer

# Longest a test waits for what must happen: a hang, not a speed.
HANG = 60


def eventually(what, cond):
    deadline = time.monotonic() + HANG
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("not within %d s: %s" % (HANG, what))
        time.sleep(0.005)


class KeyTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sp2p-py-keys-")
        self.addCleanup(shutil.rmtree, self.dir)

    def key_file(self, name, *keys, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("".join(k + "\n" for k in keys))
        os.chmod(path, mode)
        return path

    def test_keygen_gives_64_hex_digits_never_the_same(self):
        a, b = simplep2p.keygen(), simplep2p.keygen()
        self.assertEqual(len(a), 64)
        int(a, 16)
        self.assertNotEqual(a, b)

    def test_peers_with_one_key_talk_and_one_with_another_is_told_nothing(self):
        key = simplep2p.keygen()
        path = self.key_file("group.key", key)
        with loopback_peer(self.port, name="a", key_file=path) as a, loopback_peer(
            self.port, name="b", key=key
        ) as b, loopback_peer(self.port, name="stranger", key=simplep2p.keygen()) as stranger:
            # Until none new answered for the quiet window: only a.
            self.assertEqual([p.name for p in b.peers(timeout=10)], ["a"])
            result = b.send(b"sealed", timeout=10)
            self.assertEqual(([p.name for p in result.acked], result.missing), (["a"], []))
            msg = a.recv(timeout=10)
            self.assertEqual((msg.data, msg.name), (b"sealed", "b"))
            # The stranger finds nobody, receives nothing, and counts what
            # it could not open; the group drops its probes unread.
            self.assertEqual(stranger.peers(expect=1, timeout=0.3), [])
            self.assertIsNone(stranger.recv(timeout=0))
            eventually("the stranger counts auth_failed", lambda: stranger.stats()["auth_failed"] > 0)
            eventually("a counts the stranger's probes", lambda: a.stats()["auth_failed"] > 0)
            self.assertEqual(a.stats()["malformed"] + stranger.stats()["malformed"], 0)

    def test_two_keys_and_every_form_of_a_key_is_taken(self):
        old, new = simplep2p.keygen(), simplep2p.keygen()
        both = self.key_file("both.key", old, new)
        only_new = self.key_file("new.key", new)
        # Sealing with old, opening old and new: heard by a peer with new and old.
        with loopback_peer(self.port, name="a", key_file=[both]) as a, loopback_peer(
            self.port, name="b", key=(bytes.fromhex(new), bytearray.fromhex(old))
        ) as b, loopback_peer(self.port, name="c", key_file=(only_new, os.fsencode(self.key_file("old", old)))):
            self.assertEqual(sorted(p.name for p in a.peers(expect=2, timeout=10)), ["b", "c"])
            self.assertEqual(len(a.send("x", timeout=10).acked), 2)
            self.assertEqual(b.recv(timeout=10).data, b"x")

    def test_a_key_file_others_may_read_is_refused_saying_what_to_do(self):
        key = simplep2p.keygen()
        path = self.key_file("open.key", key, mode=0o644)
        with self.assertRaises(simplep2p.SimpleP2PError) as bad:
            loopback_peer(self.port, key_file=path)
        self.assertEqual(bad.exception.code, simplep2p.ERR_KEY)
        self.assertIn("(mode 0644): run 'chmod 600'", str(bad.exception))
        self.assertNotIn(key, str(bad.exception))
        for name, text in [("missing.key", None), ("bad.key", key + "x")]:
            target = os.path.join(self.dir, name) if text is None else self.key_file(name, text)
            with self.assertRaises(simplep2p.SimpleP2PError, msg=name) as bad:
                loopback_peer(self.port, key_file=target)
            self.assertEqual(bad.exception.code, simplep2p.ERR_KEY, name)
            self.assertNotIn(key, str(bad.exception))
        # A file of two keys and a third key: over the limit.
        two = self.key_file("two.key", key, simplep2p.keygen())
        with self.assertRaises(simplep2p.SimpleP2PError) as bad:
            loopback_peer(self.port, key_file=two, key=key)
        self.assertEqual(bad.exception.code, simplep2p.ERR_KEY)
        self.assertIn("at most two", str(bad.exception))

    def test_bad_key_arguments_are_type_and_value_errors_naming_them(self):
        secret = simplep2p.keygen()
        for kw, kind, says in [
            (dict(key_file=5), TypeError, "key_file must be a path"),
            (dict(key_file=["a", 5]), TypeError, "key_file must be a path"),
            (dict(key_file=["a", "b", "c"]), ValueError, "key_file holds 3 items"),
            (dict(key_file=[]), ValueError, "key_file holds 0 items"),
            (dict(key=5), TypeError, "key must be 64 hex digits"),
            (dict(key=secret[:-1]), ValueError, "key is not 64 hex digits"),
            (dict(key=secret[:-1] + "g"), ValueError, "key is not 64 hex digits"),
            (dict(key=b"x" * 31), ValueError, "key of 31 bytes"),
            (dict(key=[secret] * 3), ValueError, "key holds 3 items"),
        ]:
            with self.assertRaises(kind, msg=kw) as bad:
                loopback_peer(self.port, **kw)
            self.assertIsInstance(bad.exception, simplep2p.SimpleP2PError)
            self.assertEqual(bad.exception.code, -2, kw)
            self.assertIn(says, str(bad.exception))
            self.assertNotIn(secret[:-1], str(bad.exception))


class KeyFileEnvTest(unittest.TestCase):
    """SIMPLEP2P_KEY_FILE, for the module's own peer in wait.py."""

    def setUp(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sp2p-py-keys-")
        self.addCleanup(shutil.rmtree, self.dir)

    def test_the_module_peer_takes_its_key_from_simplep2p_key_file(self):
        key = simplep2p.keygen()
        path = os.path.join(self.dir, "group.key")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(key + "\n")
        env = dict(
            os.environ, SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=str(self.port), SIMPLEP2P_KEY_FILE=path
        )
        # Found by a peer with the key: so it has it.
        [proc] = test_peer.start_scripts(self, env, "wait.py", 1, key=key)
        # Without the key it is invisible; with it, it hears.
        with loopback_peer(self.port, key=simplep2p.keygen()) as stranger:
            self.assertEqual(stranger.peers(expect=1, timeout=0.3), [])
        with loopback_peer(self.port, key=key) as me:
            self.assertEqual(len(me.peers(expect=1, timeout=10)), 1)
            self.assertEqual(len(me.send("keyed_hello", timeout=10).acked), 1)
        # The ack says "queued"; the line follows when wait() takes it.
        self.assertEqual(test_peer.read_lines(proc, 1), [b"keyed_hello\n"])
        proc.send_signal(signal.SIGINT)
        printed, _ = proc.communicate(timeout=HANG)
        self.assertEqual(printed, b"")


if __name__ == "__main__":
    unittest.main()
