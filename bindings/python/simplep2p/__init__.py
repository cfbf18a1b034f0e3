"""SimpleP2P python module

Find the programs on this network segment and exchange messages with them
over UDP multicast, with no server. A drop-in for the original SimpleP2P
module (get_peer_count, send_message_to_peers, wait), plus a Peer class.

The module-level functions share one peer per process, configured from the
environment: SIMPLEP2P_GROUP (default 239.255.0.1), SIMPLEP2P_PORT (default
30001) and SIMPLEP2P_INTERFACE (default 0.0.0.0, the kernel's choice;
127.0.0.1 keeps all traffic on this host).

Group keys: Peer(key_file=...) or Peer(key=...) seals every datagram, so
that only peers holding the key find, answer or hear this one; keygen()
makes a key. With neither, every peer (the module's too) uses the key file
named by SIMPLEP2P_KEY_FILE, if it is set and not empty, as the C library
and the CLI do.

Live membership: every Peer keeps a table of the members it hears
(members()) and a queue of what happens to them (events(): joined, left,
lost, ...), fed by heartbeats (Peer(heartbeat=seconds), default 1 s, 0 for
none). For asyncio or select, Peer.fileno() is readable while a message or
an event waits: take them with recv(timeout=0) and events(timeout=0).

Messages are bytes; a str is sent as UTF-8. The shared library is the one
installed inside this package (pip install builds it), or the file
SIMPLEP2P_LIB names, for a library built by hand; either must be
libsimplep2p of this module's version, or the import fails with an
ImportError that says what was found.

Arguments are checked before they reach the library, as the library checks
its own: a port outside 1..65535, a ttl outside 0..255, a negative expect,
or a timeout that is negative, not a number, or over the C API's 49.7 days
raises SimpleP2PError with code -2 (SP2P_ERR_ARG), as a bad group, name or
interface does, with a message that says the range. A timeout of None
means "no limit" everywhere: recv waits for ever, peers() and send() for
the C API's longest wait (2**32 - 1 ms, 49.7 days).
"""

import atexit
import collections
import ctypes
import glob
import math
import os
import sys
import time

#: The version of this module, which must be the library's (sp2p_version).
__version__ = "0.1.0"

__all__ = [
    "start",
    "get_peer_count",
    "send_message_to_peers",
    "wait",
    "Peer",
    "PeerInfo",
    "Message",
    "SendResult",
    "Member",
    "Event",
    "SimpleP2PError",
    "keygen",
    "ERR_KEY",
    "ERR_NO_CRYPTO",
]

MAX_MESSAGE = 16384
# Longest a blocking call waits inside the library before Python gets a
# chance to raise KeyboardInterrupt.
_SLICE_MS = 50
# Longest wait the C API can express (a uint32_t of milliseconds).
_MAX_MS = 2**32 - 1
# SP2P_ERR_ARG and SP2P_ERR_CLOSED.
_ERR_ARG = -2
_ERR_CLOSED = -7
#: SimpleP2PError.code when a key cannot be used: its key file is unreadable,
#: open to other users (chmod 600 it) or malformed, or there are over two keys.
ERR_KEY = -9
#: SimpleP2PError.code when a key is given to a library built without the
#: "crypto" feature.
ERR_NO_CRYPTO = -10
# Bytes of a key, and hex digits of one as text.
_KEY_BYTES = 32
_KEY_HEX = 64
# The heartbeat interval's range, in seconds (the library's, 10 ms to 1 h).
_MIN_HEARTBEAT = 0.01
_MAX_HEARTBEAT = 3600
# sp2p_event.kind to Event.kind.
_EVENT_KINDS = {1: "joined", 2: "left", 3: "lost", 4: "suspected", 5: "alive", 6: "updated", 7: "lagged"}


# What a shared library's file name ends with, on the systems cargo builds for.
_LIB_SUFFIXES = (".so", ".dylib", ".dll", ".pyd")


def _load_library():
    """The C library and its path: the file SIMPLEP2P_LIB names, else the
    one inside this package. Anything else is an ImportError saying what
    was found: never a silent fall-back to another copy."""
    named = os.environ.get("SIMPLEP2P_LIB")
    if named:
        # Absolute: a bare name would make dlopen search the system's paths.
        path = os.path.abspath(named)
        if not os.path.isfile(path):
            raise ImportError(
                "simplep2p: SIMPLEP2P_LIB=%s: no such file. Point it at a built libsimplep2p.so, "
                "or unset it to use the library installed with this package" % named
            )
        origin = "SIMPLEP2P_LIB=%s" % named
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        found = sorted(p for p in glob.glob(os.path.join(here, "libsimplep2p*")) if p.endswith(_LIB_SUFFIXES))
        if not found:
            raise ImportError(
                "simplep2p: the shared library is not inside the package (%s). Install simplep2p with pip "
                "(in a checkout of its repository: pip install ./bindings/python, which builds it), "
                "or set SIMPLEP2P_LIB to a built libsimplep2p.so" % here
            )
        path = origin = found[0]
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("simplep2p: %s is not a shared library this system can load: %s" % (origin, e)) from None
    try:
        version = lib.sp2p_version
    except AttributeError:
        raise ImportError("simplep2p: %s is not libsimplep2p: it has no sp2p_version" % origin) from None
    version.argtypes = []
    version.restype = ctypes.c_char_p
    found_version = (version() or b"?").decode("ascii", "replace")
    if found_version != __version__:
        raise ImportError(
            "simplep2p: %s is libsimplep2p %s, but this module is %s: install the two together "
            "(pip install), or point SIMPLEP2P_LIB at the library of the module's version"
            % (origin, found_version, __version__)
        )
    return lib, path


class _Config(ctypes.Structure):
    _fields_ = [
        ("group", ctypes.c_char_p),
        ("port", ctypes.c_uint16),
        ("interface", ctypes.c_char_p),
        ("ttl", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
    ]


class _PeerInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char * 37), ("address", ctypes.c_char * 48), ("name", ctypes.c_char * 65)]


class _Message(ctypes.Structure):
    _fields_ = [
        ("sender", ctypes.c_char * 37),
        ("address", ctypes.c_char * 48),
        ("name", ctypes.c_char * 65),
        ("len", ctypes.c_size_t),
    ]


class _Member(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_char * 37),
        ("address", ctypes.c_char * 72),
        ("name", ctypes.c_char * 65),
        ("first_heard_ms", ctypes.c_uint64),
        ("last_heard_ms", ctypes.c_uint64),
        ("heartbeat_ms", ctypes.c_uint32),
        ("suspected", ctypes.c_int32),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int32),
        ("member", _Member),
        ("time_ms", ctypes.c_uint64),
        ("lagged", ctypes.c_uint64),
    ]


_lib, _lib_path = _load_library()
_handle = ctypes.c_void_p
_options = ctypes.c_void_p
_lib.sp2p_options_new.argtypes = []
_lib.sp2p_options_new.restype = _options
_lib.sp2p_options_free.argtypes = [_options]
_lib.sp2p_options_free.restype = None
_lib.sp2p_options_set_ack_on_recv.argtypes = [_options, ctypes.c_int]
_lib.sp2p_options_set_ttl.argtypes = [_options, ctypes.c_uint32]
_lib.sp2p_options_set_heartbeat_ms.argtypes = [_options, ctypes.c_uint32]
_lib.sp2p_options_add_key_file.argtypes = [_options, ctypes.c_char_p]
_lib.sp2p_options_add_key.argtypes = [_options, ctypes.c_char_p]
_lib.sp2p_keygen.argtypes = [ctypes.c_char_p]
_lib.sp2p_stat_name.argtypes = [ctypes.c_size_t]
_lib.sp2p_stat_name.restype = ctypes.c_char_p
_lib.sp2p_stat.argtypes = [_handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]
_lib.sp2p_open.argtypes = [ctypes.POINTER(_Config), ctypes.POINTER(_handle)]
_lib.sp2p_open_with.argtypes = [ctypes.POINTER(_Config), _options, ctypes.POINTER(_handle)]
_lib.sp2p_close.argtypes = [_handle]
_lib.sp2p_close.restype = None
_lib.sp2p_discover.argtypes = [_handle, ctypes.c_int, ctypes.c_uint32]
_lib.sp2p_peers.argtypes = [_handle, ctypes.POINTER(_PeerInfo), ctypes.c_size_t]
_lib.sp2p_send.argtypes = [
    _handle,
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.c_uint32,
    ctypes.POINTER(ctypes.c_size_t),
]
_lib.sp2p_missing.argtypes = [_handle, ctypes.POINTER(_PeerInfo), ctypes.c_size_t]
_lib.sp2p_acked.argtypes = [_handle, ctypes.POINTER(_PeerInfo), ctypes.c_size_t]
_lib.sp2p_recv.argtypes = [_handle, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Message)]
_lib.sp2p_members.argtypes = [_handle, ctypes.POINTER(_Member), ctypes.c_size_t]
_lib.sp2p_next_event.argtypes = [_handle, ctypes.c_int32, ctypes.POINTER(_Event)]
_lib.sp2p_fd.argtypes = [_handle]
_lib.sp2p_last_error.restype = ctypes.c_char_p

PeerInfo = collections.namedtuple("PeerInfo", "id address name")
PeerInfo.__doc__ = "Another peer: its UUID, the address it takes unicast traffic on, its name."
Message = collections.namedtuple("Message", "sender address name data")
Message.__doc__ = "A message: the sender's UUID, address and name, and the bytes it sent."
SendResult = collections.namedtuple("SendResult", "acked missing")
SendResult.__doc__ = "What became of a send: the peers that acknowledged it, and those that did not."
Member = collections.namedtuple("Member", "id address name first_heard last_heard heartbeat suspected")
Member.__doc__ = """A member of the live table: its UUID (str), the address it takes unicast
traffic on (str, "ip:port"), its name (str), when this peer first and last
heard it (float, Unix seconds as time.time() gives), how often it says it
beats (float seconds, or None if it sends no heartbeats and so is never
lost), and whether it is suspected (bool: silent, and being pinged)."""
Event = collections.namedtuple("Event", "kind member time lagged")
Event.__doc__ = """Something that happened to the group. kind is "joined", "left", "lost",
"suspected", "alive" (a suspected member answered), "updated" (its name or
address changed) or "lagged"; member is the Member it is about (None for
"lagged"); time is when this peer saw it (float, Unix seconds); lagged is,
for "lagged", how many events were dropped because they were read too
slowly (re-read members() then), else 0."""


class SimpleP2PError(Exception):
    """A simplep2p failure; .code is the library's negative error code
    (-2 for a bad argument, -7 for a closed peer, ERR_KEY (-9) for a key or
    key file that cannot be used, ERR_NO_CRYPTO (-10) for a library built
    without keys)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _BadValue(SimpleP2PError, ValueError):
    """A bad argument (code -2) that is also a ValueError."""

    def __init__(self, message):
        super().__init__(_ERR_ARG, message)


class _BadType(SimpleP2PError, TypeError):
    """A bad argument (code -2) that is also a TypeError."""

    def __init__(self, message):
        super().__init__(_ERR_ARG, message)


def _one_or_two(name, value, single):
    """`value` as a list: one item (`single(value)` is true) or a list or
    tuple of one or two."""
    if single(value):
        return [value]
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 2:
            raise _BadValue("%s holds %d items: pass one or two (current and next)" % (name, len(value)))
        return list(value)
    return None


def _is_path(value):
    return isinstance(value, (str, bytes, os.PathLike))


def _is_key(value):
    return isinstance(value, (str, bytes, bytearray))


def _key_paths(key_file):
    """The key files of `key_file` (a path, or a list or tuple of one or two) as bytes."""
    paths = _one_or_two("key_file", key_file, _is_path)
    if paths is None or not all(_is_path(p) for p in paths):
        bad = key_file if paths is None else next(p for p in paths if not _is_path(p))
        raise _BadType(
            "key_file must be a path (str, bytes or os.PathLike) or a list of one or two, not %s"
            % type(bad).__name__
        )
    return [os.fsencode(p) for p in paths]


def _key_bytes(key):
    """The keys of `key` as 32 bytes each. A str is 64 hex digits, as
    keygen() returns; bytes are the 32 bytes themselves. Errors never
    show the key."""
    keys = _one_or_two("key", key, _is_key)
    if keys is None or not all(_is_key(k) for k in keys):
        bad = key if keys is None else next(k for k in keys if not _is_key(k))
        raise _BadType(
            "key must be 64 hex digits (str, as keygen() returns) or 32 bytes, or a list of one or two, not %s"
            % type(bad).__name__
        )
    out = []
    for k in keys:
        if isinstance(k, str):
            digits = k.strip()
            if len(digits) != _KEY_HEX or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise _BadValue("key is not 64 hex digits: pass one as keygen() returns it, or its 32 bytes")
            out.append(bytes.fromhex(digits))
        elif len(k) != _KEY_BYTES:
            raise _BadValue("key of %d bytes: a key is 32 bytes, or 64 hex digits as a str" % len(k))
        else:
            out.append(bytes(k))
    return out


def keygen():
    """A fresh random key: 64 hex digits, the line a key file holds. Keep it
    secret; write it to a file only its owner can read (mode 0600)."""
    out = ctypes.create_string_buffer(_KEY_HEX + 1)
    _check(_lib.sp2p_keygen(out))
    return out.value.decode("ascii")


def _int_in(name, value, low, high):
    """`value` if it is a whole number in low..high, else SimpleP2PError -2:
    checked here, before ctypes can wrap it into range."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        says = "%s %r is out of range: pass a whole number from %d to %d" % (name, value, low, high)
        raise SimpleP2PError(_ERR_ARG, says)
    return value


def _ms(timeout):
    """A timeout in seconds (None: no limit) as the C API's milliseconds,
    rounded up so that a short positive timeout is not 0."""
    if timeout is None:
        return _MAX_MS
    number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not number or not 0 <= timeout <= _MAX_MS / 1000:  # NaN fails this too
        says = "timeout %r is out of range: pass seconds from 0 to %.3f, or None" % (timeout, _MAX_MS / 1000)
        raise SimpleP2PError(_ERR_ARG, says)
    return min(math.ceil(timeout * 1000), _MAX_MS)


def _check(result):
    if result < 0:
        raise SimpleP2PError(result, _lib.sp2p_last_error().decode("utf-8", "replace"))
    return result


def _text(field):
    return field.decode("utf-8", "replace")


def _info(raw):
    return PeerInfo(_text(raw.id), _text(raw.address), _text(raw.name))


def _member(raw):
    return Member(
        _text(raw.id),
        _text(raw.address),
        _text(raw.name),
        raw.first_heard_ms / 1000,
        raw.last_heard_ms / 1000,
        raw.heartbeat_ms / 1000 if raw.heartbeat_ms else None,
        bool(raw.suspected),
    )


def _event(raw):
    kind = _EVENT_KINDS.get(raw.kind, "unknown")
    member = None if kind == "lagged" else _member(raw.member)
    return Event(kind, member, raw.time_ms / 1000, raw.lagged)


def _heartbeat_ms(heartbeat):
    """Peer(heartbeat=) in seconds as the C API's milliseconds; 0 or False: off."""
    if heartbeat is False:
        return 0
    number = isinstance(heartbeat, (int, float)) and not isinstance(heartbeat, bool)
    if not number or not (heartbeat == 0 or _MIN_HEARTBEAT <= heartbeat <= _MAX_HEARTBEAT):  # NaN fails too
        says = "heartbeat %r is out of range: pass seconds from %g to %d, or 0 for none" % (
            heartbeat,
            _MIN_HEARTBEAT,
            _MAX_HEARTBEAT,
        )
        raise SimpleP2PError(_ERR_ARG, says)
    return round(heartbeat * 1000)


def _bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


class Peer:
    """A member of a multicast group, usable as a context manager.

    It answers other peers' discovery and acknowledges their messages on its
    own threads from the moment it is created until close().
    """

    def __init__(
        self,
        group=None,
        port=None,
        interface=None,
        ttl=None,
        name=None,
        ack_on_recv=False,
        key_file=None,
        key=None,
        heartbeat=None,
    ):
        """Join `group` (default 239.255.0.1) on `port` (default 30001) via
        `interface` (default 0.0.0.0; 127.0.0.1 stays on this host), with
        multicast `ttl` 0..255 (default 1; 0 stays on this host).

        With `ack_on_recv`, a message is acknowledged only when recv()
        takes it, so that a sender's count means "their programs have it";
        by default, as soon as it is queued here.

        With a group key, every datagram is sealed and only peers holding
        the key find, answer or hear this one. `key_file` is a key file's
        path (one or two lines of 64 hex digits, mode 0600, re-read when it
        changes) or a list of two; `key` is a key in memory: a str of 64 hex
        digits, as keygen() returns, or its 32 bytes, or a list of two. At
        most two keys in all (current and next); key_file's come first, and
        the first seals. With neither, SIMPLEP2P_KEY_FILE names the key
        file, if set. A key file that cannot be used raises SimpleP2PError
        with code ERR_KEY, saying why; a bad `key_file` or `key` argument
        raises one with code -2 that is also a TypeError or ValueError.

        `heartbeat` is how often this peer tells the group it is alive, in
        seconds, 0.01 to 3600; None (not given) means the default, 1 s (not
        "no limit", as for timeouts); 0 or False turns heartbeats off, for
        minimal systems: then nobody learns of this peer from heartbeats,
        and it is never reported lost, only seen to leave.
        """
        self._handle = None  # so that __del__ works if opening fails
        heartbeat_ms = None if heartbeat is None else _heartbeat_ms(heartbeat)
        paths = [] if key_file is None else _key_paths(key_file)
        keys = [] if key is None else _key_bytes(key)
        # Zero means "the default" only in C's struct; here, as in Rust and
        # the CLI, port 0 is refused (peers meet on a fixed port).
        if port is not None and port == 0:
            raise SimpleP2PError(
                _ERR_ARG, "port 0 is not allowed: peers meet on a fixed port, pass one between 1 and 65535"
            )
        config = _Config(
            group.encode() if group else None,
            0 if port is None else _int_in("port", port, 1, 65535),
            interface.encode() if interface else None,
            0,  # the TTL goes in the options, where 0 means TTL 0
            name.encode("utf-8") if name else None,
        )
        options = _lib.sp2p_options_new()
        if not options:
            _check(-8)
        try:
            _check(_lib.sp2p_options_set_ack_on_recv(options, 1 if ack_on_recv else 0))
            if ttl is not None:
                _check(_lib.sp2p_options_set_ttl(options, _int_in("ttl", ttl, 0, 255)))
            if heartbeat_ms is not None:
                _check(_lib.sp2p_options_set_heartbeat_ms(options, heartbeat_ms))
            for path in paths:
                _check(_lib.sp2p_options_add_key_file(options, path))
            for raw in keys:
                _check(_lib.sp2p_options_add_key(options, raw))
            handle = _handle()
            _check(_lib.sp2p_open_with(ctypes.byref(config), options, ctypes.byref(handle)))
        finally:
            _lib.sp2p_options_free(options)
        self._handle = handle
        self._discovered = False

    def close(self):
        """Leave the group (other peers are told) and free the peer. Safe
        while another thread is in recv(), peers() or send() on this peer:
        that call raises SimpleP2PError -7 promptly, and an events()
        iterator simply ends. Closing twice does nothing. It closes
        fileno() too: take it out of an event loop first."""
        handle, self._handle = self._handle, None
        if handle:
            _lib.sp2p_close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the library may be gone already
            pass

    def _live(self):
        handle = self._handle
        if not handle:
            raise SimpleP2PError(_ERR_CLOSED, "the peer is closed")
        return handle

    def stats(self):
        """The peer's counters as a dict of name to count. Under a key,
        auth_failed counts datagrams that did not open (another key, none,
        or a forgery), replayed and stale those refused as replays, and
        key_reloads and key_errors changes to the key files used or refused."""
        handle = self._live()
        out = {}
        value = ctypes.c_uint64()
        index = 0
        while True:
            name = _lib.sp2p_stat_name(index)
            if name is None:
                return out
            _check(_lib.sp2p_stat(handle, name, ctypes.byref(value)))
            out[name.decode()] = value.value
            index += 1

    def peers(self, expect=None, timeout=1.0):
        """Discover the other peers and return them as a list of PeerInfo.

        Returns as soon as `expect` peers have answered or `timeout` seconds
        have passed; with no `expect` (None or 0), once none new has
        answered for 50 ms (or the timeout). They become the targets of
        send(). Ctrl-C is seen only once it returns.
        """
        expect = 0 if expect is None else _int_in("expect", expect, 0, 2**31 - 1)
        timeout_ms = _ms(timeout)
        handle = self._live()
        _check(_lib.sp2p_discover(handle, expect, timeout_ms))
        self._discovered = True
        return self._known()

    def _known(self):
        handle = self._live()
        total = _check(_lib.sp2p_peers(handle, None, 0))
        out = (_PeerInfo * max(total, 1))()
        count = _check(_lib.sp2p_peers(handle, out, total))
        return [_info(out[i]) for i in range(min(count, total))]

    def send(self, data, timeout=1.0):
        """Send `data` (bytes, or str as UTF-8) to the peers of the last
        peers() call (discovering first if there was none) and wait at most
        `timeout` seconds until each acknowledges it. Returns a SendResult.
        Ctrl-C is seen only once it returns.
        """
        timeout_ms = _ms(timeout)
        handle = self._live()
        payload = _bytes(data)
        _check(_lib.sp2p_send(handle, payload, len(payload), timeout_ms, None))
        return SendResult(self._report(_lib.sp2p_acked), self._report(_lib.sp2p_missing))

    def _report(self, call):
        # What the library says of the last send, not what peers() said:
        # a send with no peers known discovers its own targets.
        handle = self._live()
        total = _check(call(handle, None, 0))
        out = (_PeerInfo * max(total, 1))()
        count = _check(call(handle, out, total))
        return [_info(out[i]) for i in range(min(count, total))]

    def members(self):
        """The live table as a list of Member: every member heard lately
        (by heartbeat, discovery or traffic) from a proven address, not
        lost and not gone. A snapshot; events() says what changes."""
        handle = self._live()
        while True:
            total = _check(_lib.sp2p_members(handle, None, 0))
            out = (_Member * max(total, 1))()
            count = _check(_lib.sp2p_members(handle, out, total))
            if count <= total:  # else one joined between the calls: again
                return [_member(out[i]) for i in range(count)]

    def events(self, timeout=None):
        """An iterator over member events (Event): each is yielded as it
        happens. It ends once `timeout` seconds have passed since this call
        (None: no limit; 0: yield those already waiting, then end), or when
        the peer is closed, from this thread or another. Ctrl-C raises
        KeyboardInterrupt within 100 ms, as in recv(), and leaves the peer
        usable.

        Every peer has one queue of events, from the moment it was created,
        so none is missed between calls; several iterators share it (each
        event goes to one). Up to 1024 unread events are kept; beyond that
        they are dropped and the next is an Event of kind "lagged"."""
        if timeout is not None:
            _ms(timeout)  # checked as everywhere; the slices below do the waiting
        self._live()
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._events(deadline)

    def _events(self, deadline):
        raw = _Event()
        while True:
            handle = self._handle
            if not handle:
                return
            slice_ms = _SLICE_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                slice_ms = max(0, min(slice_ms, math.ceil(left * 1000)))
            # Short slices: Python raises KeyboardInterrupt between them.
            got = _lib.sp2p_next_event(handle, slice_ms, ctypes.byref(raw))
            if got == _ERR_CLOSED:
                return
            if _check(got):
                yield _event(raw)
            elif deadline is not None and time.monotonic() >= deadline:
                return

    def fileno(self):
        """A file descriptor for select, selectors or asyncio
        (loop.add_reader): readable exactly while a message waits for recv()
        or an event for events(). When it is, take them with
        recv(timeout=0) until it returns None and with
        list(events(timeout=0)); that makes it unreadable again unless more
        came meanwhile. The peer's own threads answer and acknowledge
        whether or not anyone waits on it. It belongs to the peer: never
        read or close it, and remove it from your loop before close()."""
        return _check(_lib.sp2p_fd(self._live()))

    def recv(self, timeout=None):
        """Wait for the next message and return it as a Message; None if
        `timeout` seconds pass first (None: wait for ever; 0: only look).
        Ctrl-C raises KeyboardInterrupt within 100 ms and leaves the peer
        usable. Several threads may wait at once; each message goes to one."""
        if timeout is not None:
            _ms(timeout)  # checked as everywhere; the slices below do the waiting
        handle = self._live()
        deadline = None if timeout is None else time.monotonic() + timeout
        buf = ctypes.create_string_buffer(MAX_MESSAGE)
        meta = _Message()
        while True:
            slice_ms = _SLICE_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                slice_ms = max(0, min(slice_ms, math.ceil(left * 1000)))
            # Short slices: Python raises KeyboardInterrupt between them.
            got = _check(_lib.sp2p_recv(handle, slice_ms, buf, len(buf), ctypes.byref(meta)))
            if got:
                data = buf.raw[: meta.len]
                return Message(_text(meta.sender), _text(meta.address), _text(meta.name), data)
            if deadline is not None and time.monotonic() >= deadline:
                return None


_default = None


def _default_peer():
    global _default
    if _default is None:
        _default = Peer(
            group=os.environ.get("SIMPLEP2P_GROUP"),
            port=int(os.environ["SIMPLEP2P_PORT"]) if os.environ.get("SIMPLEP2P_PORT") else None,
            interface=os.environ.get("SIMPLEP2P_INTERFACE"),
        )
    return _default


@atexit.register
def _leave():
    # Say goodbye at exit, so that other peers stop counting this one.
    if _default is not None:
        _default.close()


def start():
    """join the group now (the other functions do it on first use)

    Returns the module's peer."""
    return _default_peer()


def get_peer_count():

    """get a count of available peers"""
    return len(_default_peer().peers())


def send_message_to_peers(message):
    """send a message to all available peers

    Returns how many peers acknowledged it."""
    return len(_default_peer().send(message).acked)


def wait():
    """wait for a message from a peer

    Returns it as a Message(sender, address, name, data)."""
    return _default_peer().recv()


if __name__ == "__main__":
    import pydoc

    print(pydoc.render_doc(sys.modules[__name__], renderer=pydoc.plaintext))
