"""unittest cases for the Python binding's IPv6-era API: Peer(family=,
group6=) checked like every argument, interfaces(), Member.addrs, and
peers, acknowledgements and messages read at full address width. Every
peer is on loopback (interface 127.0.0.1 or lo) and a port from the OS for
each test; loopback has no IPv6 multicast, so IPv6 itself is not
exercised here (the Rust tests of src/ffi.rs format IPv6 addresses)."""
import socket
import time
import unittest

import simplep2p  # the installed package (make test installs it in target/pyenv)

# As a module: a TestCase imported by name would run here a second time.
import test_peer

free_port, loopback_peer, HANG = test_peer.free_port, test_peer.loopback_peer, test_peer.HANG


def members_named(peer, name):
    """`peer`'s members named `name`, once there is one (within HANG)."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        found = [m for m in peer.members() if m.name == name]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError("no member named %r within %d s" % (name, HANG))


class FamilyTest(test_peer.Refusals, unittest.TestCase):
    def setUp(self):
        self.port = free_port()

    def test_family_takes_both_ipv4_or_ipv6_and_refuses_anything_else(self):
        for fine in ("both", "ipv4", None):
            loopback_peer(self.port, family=fine).close()
        for bad in (4, b"ipv4", True):
            self.refused(TypeError, "family", lambda: loopback_peer(self.port, family=bad), '"both", "ipv4" or "ipv6"')
        for bad in ("v6", "IPv4", "", "inet6"):
            self.refused(ValueError, "family", lambda: loopback_peer(self.port, family=bad), '"both", "ipv4" or "ipv6"')
        # Loopback is IPv4 only: IPv6 alone has nothing to serve there.
        for interface in ("lo", "127.0.0.1"):
            with self.assertRaises(simplep2p.SimpleP2PError) as raised:
                simplep2p.Peer(interface=interface, port=self.port, family="ipv6")
            self.assertEqual(raised.exception.code, -3, interface)
            self.assertIn("IPv6", str(raised.exception))

    def test_group6_takes_a_link_local_group_and_refuses_others_with_the_librarys_message(self):
        for fine in ("ff02::114", "ff02::1:2", "ff12::1234", None):
            loopback_peer(self.port, group6=fine).close()
        for bad in (5, b"ff02::114", ["ff02::114"]):
            self.refused(TypeError, "group6", lambda: loopback_peer(self.port, group6=bad))
        # The library's message (the CLI's for --group6), after the argument's name.
        e = self.refused(ValueError, "group6", lambda: loopback_peer(self.port, group6="ff05::1"))
        self.assertTrue(str(e).startswith("group6: IPv6 group ff05::1 is not a multicast address of link-local scope"), e)
        for bad in ("239.255.0.1", "nope", "ff02::114%lo", "fe80::1"):
            self.refused(ValueError, "group6", lambda: loopback_peer(self.port, group6=bad), "e.g. ff02::114")


class InterfacesTest(unittest.TestCase):
    def test_a_loopback_peer_serves_lo_over_ipv4_alone(self):
        for interface in ("127.0.0.1", "lo"):
            with simplep2p.Peer(interface=interface, port=free_port()) as a:
                served = a.interfaces()
                self.assertEqual(served, [simplep2p.Interface("lo", socket.if_nametoindex("lo"), "127.0.0.1", None)])
                [lo] = served
                self.assertEqual((lo.name, lo.ipv4, lo.ipv6), ("lo", "127.0.0.1", None))
                self.assertIsInstance(lo.index, int)
            with self.assertRaises(simplep2p.SimpleP2PError) as closed:
                a.interfaces()
            self.assertEqual(closed.exception.code, -7)
        self.assertIn("Interface", simplep2p.__all__)


class AddressesTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()

    def test_a_members_addrs_are_its_proven_addresses_its_address_first(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port, name="b") as b:
            [m] = members_named(a, "b")
            self.assertIsInstance(m.addrs, tuple)
            self.assertTrue(1 <= len(m.addrs) <= 4, m.addrs)
            self.assertEqual(m.addrs[0], m.address)
            self.assertTrue(m.address.startswith("127.0.0.1:"), m.address)
            self.assertTrue(all(isinstance(x, str) for x in m.addrs), m.addrs)
            # An event carries the one address.
            joined = next(e for e in a.events(timeout=HANG) if e.kind == "joined")
            self.assertEqual((joined.member.id, joined.member.addrs), (m.id, (m.address,)))
            b.close()
            left = next(e for e in a.events(timeout=HANG) if e.kind == "left")
            self.assertEqual(left.member.addrs, (m.address,))

    def test_a_member_made_by_hand_the_old_way_still_works(self):
        # Seven fields, as before addrs: it defaults to none.
        m = simplep2p.Member("id", "127.0.0.1:1", "n", 1.0, 2.0, None, False)
        self.assertEqual(m.addrs, ())

    def test_peers_acks_and_messages_carry_the_addresses_the_members_have(self):
        with loopback_peer(self.port, name="a") as a, loopback_peer(self.port, name="b") as b:
            [found] = a.peers(expect=1, timeout=HANG)
            result = a.send(b"full width", timeout=HANG)
            self.assertEqual((result.acked, result.missing), ([found], []))
            message = b.recv(timeout=HANG)
            self.assertEqual((message.data, message.name), (b"full width", "a"))
            # Each side's view of the other is one address, whole.
            [b_seen_by_a] = members_named(a, "b")
            [a_seen_by_b] = members_named(b, "a")
            self.assertEqual(found.address, b_seen_by_a.address)
            self.assertEqual(message.address, a_seen_by_b.address)
            for address in (found.address, message.address):
                host, _, port = address.rpartition(":")
                self.assertEqual(host, "127.0.0.1")
                self.assertTrue(1 <= int(port) <= 65535, address)


if __name__ == "__main__":
    unittest.main()
