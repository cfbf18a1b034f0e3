"""unittest cases for the Python binding's module-level functions, the
original's: one shared peer however many threads start it, the original's
return types, and wait() serving until Ctrl-C. Each runs in a process of
its own, pinned by its environment to 127.0.0.1 and a port of the test's
own."""
import os
import pydoc
import signal
import subprocess
import sys
import textwrap
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

# As a module: a TestCase imported by name would run here a second time.
import test_peer

free_port, loopback_peer, HANG = test_peer.free_port, test_peer.loopback_peer, test_peer.HANG


class ModuleTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.env = dict(os.environ, SIMPLEP2P_INTERFACE="127.0.0.1", SIMPLEP2P_PORT=str(self.port))

    def python(self, code, **kw):
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=self.env, capture_output=True, timeout=HANG, **kw
        )

    def test_eight_threads_calling_start_at_once_make_one_peer(self):
        # Once three peers came of it. Each Peer() here is slowed down, so
        # that without the lock every thread would get into it.
        out = self.python(
            """
            import threading, time
            import simplep2p

            made = []

            class Counting(simplep2p.Peer):
                def __init__(self, *args, **kw):
                    made.append(self)
                    time.sleep(0.1)
                    super().__init__(*args, **kw)

            simplep2p.Peer = Counting
            barrier = threading.Barrier(8)
            got = []

            def start():
                barrier.wait()
                got.append(simplep2p.start())

            threads = [threading.Thread(target=start) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(len(made), len(got), len(set(map(id, got))))
            """
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"1 8 1\n")

    def test_the_original_functions_keep_the_original_return_types(self):
        # get_peer_count and send_message_to_peers return ints; wait returns
        # None, here because another thread closed the module's peer (in
        # the original, when its io_service stopped).
        with loopback_peer(self.port, name="other") as other:
            out = self.python(
                """
                import threading
                import simplep2p as s

                count = s.get_peer_count()
                acked = s.send_message_to_peers("hello_there")
                print(type(count).__name__, count, type(acked).__name__, acked)
                threading.Timer(0.3, s.start().close).start()
                print("wait returned", repr(s.wait()))
                """
            )
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout, b"int 1 int 1\nwait returned None\n")
            self.assertEqual(other.recv(timeout=HANG).data, b"hello_there")

    def test_wait_stops_on_ctrl_c_even_where_sigint_was_ignored(self):
        # A script's background job starts with SIGINT ignored; the
        # original's wait() took Ctrl-C all the same, and so does this one.
        out, err, code = self.ctrl_c_to_waiting(
            "import signal, simplep2p as s\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "try:\n"
            "    s.wait()\n"
            "except KeyboardInterrupt:\n"
            "    print('KeyboardInterrupt; SIGINT ignored again:', signal.getsignal(signal.SIGINT) == signal.SIG_IGN)\n"
        )
        self.assertEqual((code, out), (0, b"KeyboardInterrupt; SIGINT ignored again: True\n"), err)

    def test_wait_leaves_a_programs_own_sigint_handler_alone(self):
        out, err, code = self.ctrl_c_to_waiting(
            "import signal, simplep2p as s\n"
            "signal.signal(signal.SIGINT, lambda *_: (print('mine', flush=True), s.start().close()))\n"
            "print('wait returned', s.wait())\n"
        )
        self.assertEqual((code, out), (0, b"mine\nwait returned None\n"), err)

    def ctrl_c_to_waiting(self, script):
        """Runs `script` (whose module peer waits) in a Python of its own,
        sends it SIGINT once it is found, and returns its stdout, stderr
        and exit code."""
        proc = subprocess.Popen(
            [sys.executable, "-c", script], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.addCleanup(test_peer.reap, proc)
        with loopback_peer(self.port) as probe:
            self.assertEqual(len(probe.peers(expect=1, timeout=HANG)), 1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HANG)
        return out, err, proc.returncode

    def test_wait_prints_each_message_on_one_line_escaped_as_the_cli_does(self):
        # Whatever standard output's encoding, the line is the message's UTF-8.
        [proc] = test_peer.start_scripts(self, dict(self.env, PYTHONIOENCODING="ascii"), "wait.py", 1)
        sent = [
            "plain text ✓".encode(),
            b"two\nlines\tand a\\backslash\r",
            b"\x00\x7f\xff not utf-8",
            "\u2028 \u202e \u200b \ufeff \x85".encode(),
        ]
        with loopback_peer(self.port) as me:
            me.peers(expect=1, timeout=HANG)
            for data in sent:
                self.assertEqual(len(me.send(data, timeout=HANG).acked), 1, data)
        printed = test_peer.read_lines(proc, len(sent))
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.communicate(timeout=HANG)[0], b"")
        self.assertEqual(
            [line.decode() for line in printed],
            [
                "plain text ✓\n",
                "two\\nlines\\tand a\\\\backslash\\r\n",
                "\\x00\\x7f\\xff not utf-8\n",
                "\\xe2\\x80\\xa8 \\xe2\\x80\\xae \\xe2\\x80\\x8b \\xef\\xbb\\xbf \\xc2\\x85\n",
            ],
        )

    def test_help_shows_the_original_functions_with_their_types(self):
        text = pydoc.render_doc(simplep2p, renderer=pydoc.plaintext)
        for line in [
            "simplep2p - SimpleP2P python module",
            "get_peer_count() -> int",
            "get a count of available peers",
            "send_message_to_peers(message: Union[str, bytes]) -> int",
            "send a message to all available peers",
            "wait() -> None",
            "wait for a message from a peer",
            "recv(self, timeout: Optional[float] = None) -> Optional[simplep2p.Message]",
            "events(self, timeout: Optional[float] = None) -> Iterator[simplep2p.Event]",
            "port: Optional[int] = None",
            "the exact bytes it sent",
        ]:
            self.assertIn(line, text)
        self.assertNotIn("Alias for field number", text)


if __name__ == "__main__":
    unittest.main()
