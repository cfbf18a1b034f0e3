"""SimpleP2P python module

Find the programs on this network segment and exchange messages with them
over UDP multicast, with no server. A drop-in for the original SimpleP2P
module, whose three functions keep their return types:

    get_peer_count() -> int          discover the peers, return how many
    send_message_to_peers(m) -> int  send m, return how many acknowledged it
    wait() -> None                   serve until Ctrl-C, printing each message

plus a Peer class for everything else: choose the group, port, interfaces,
address families (IPv4, IPv6 or both) and keys; list peers (peers), send
bytes and learn who has them (send), take one message (recv), follow the
members (members, events), see the interfaces served (interfaces), plug
into select or asyncio (fileno).

Addresses are text: "192.0.2.7:30001" for IPv4, "[fe80::1%3]:30001" for
IPv6 (after % the interface index, the scope of a link-local address).

The module-level functions share one peer per process (start() returns
it), made on first use from the environment: SIMPLEP2P_GROUP (default
239.255.0.1), SIMPLEP2P_PORT (default 30001) and SIMPLEP2P_INTERFACE
(default 0.0.0.0, the kernel's choice; 127.0.0.1 keeps all traffic on this
host).

Group keys: Peer(key_file=...) or Peer(key=...) seals every datagram, so
that only peers holding the key find, answer or hear this one; keygen()
makes a key. With neither, every peer (the module's too) uses the key file
named by SIMPLEP2P_KEY_FILE, if it is set and not empty, as the C library
and the CLI do.

Arguments are checked before anything is opened or sent. A value of the
wrong type raises TypeError, one out of range ValueError, each naming the
argument and, for a range, saying it (port 1..65535, ttl 0..255, expect 0
or more, a timeout 0 to 49.7 days). Both are also SimpleP2PError with code
-2; a value the library itself refuses (a group that is not an address) is
a ValueError too. For every timeout and count, None
means "no limit": recv() and events() wait for ever, peers() and send() for
the C API's longest wait (2**32 - 1 ms, 49.7 days); peers(expect=None)
waits for no particular number. A timeout of 0 only looks.

Messages are bytes; a str is sent as UTF-8.

The shared library is the one installed inside this package (pip install
builds it), or the file SIMPLEP2P_LIB names, for a library built by hand;
either must be libsimplep2p of this module's version, or the import fails
with an ImportError that says what was found.
"""

import atexit
import contextlib
import ctypes
import glob
import math
import numbers
import os
import signal
import sys
import threading
import time
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

#: The version of this module, which must be the library's (sp2p_version).
__version__ = "0.1.0"

__all__ = [
    "get_peer_count",
    "send_message_to_peers",
    "wait",
    "start",
    "Peer",
    "PeerInfo",
    "Message",
    "SendResult",
    "Member",
    "Event",
    "Interface",
    "SimpleP2PError",
    "ArgumentTypeError",
    "ArgumentValueError",
    "keygen",
    "MAX_MESSAGE",
    "ERR_KEY",
    "ERR_NO_CRYPTO",
]

#: Largest message, in bytes.
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
# Peer(family=) to sp2p_options_set_family's SP2P_FAMILY_*.
_FAMILIES = {"both": 0, "ipv4": 4, "ipv6": 6}
# SP2P_ADDRESS_LEN and SP2P_MAX_MEMBER_ADDRS.
_ADDRESS_LEN = 72
_MAX_MEMBER_ADDRS = 4
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


# Peers and messages are read with the _wide calls, whose addresses have
# room for "[IPv6%zone]:port" (the older 48-byte fields may be left empty).
class _PeerInfoWide(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char * 37), ("address", ctypes.c_char * _ADDRESS_LEN), ("name", ctypes.c_char * 65)]


class _MessageWide(ctypes.Structure):
    _fields_ = [
        ("sender", ctypes.c_char * 37),
        ("address", ctypes.c_char * _ADDRESS_LEN),
        ("name", ctypes.c_char * 65),
        ("len", ctypes.c_size_t),
    ]


class _Interface(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 64),
        ("index", ctypes.c_uint32),
        ("ipv4", ctypes.c_char * 16),
        ("ipv6", ctypes.c_char * 46),
    ]


_Address = ctypes.c_char * _ADDRESS_LEN


class _Member(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_char * 37),
        ("address", ctypes.c_char * _ADDRESS_LEN),
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
# A library of this version built before these functions were: say so,
# rather than an AttributeError below.
for _name in ("sp2p_options_set_family", "sp2p_options_set_group6", "sp2p_peers_wide", "sp2p_recv_wide",
              "sp2p_member_addresses", "sp2p_interfaces"):
    if not hasattr(_lib, _name):
        raise ImportError(
            "simplep2p: %s has no %s: it was built from older sources than this module. Rebuild it "
            "(pip install ./bindings/python), or point SIMPLEP2P_LIB at a library built with it" % (_lib_path, _name)
        )
del _name
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
_lib.sp2p_options_add_interface.argtypes = [_options, ctypes.c_char_p]
_lib.sp2p_options_exclude_interface.argtypes = [_options, ctypes.c_char_p]
_lib.sp2p_options_set_family.argtypes = [_options, ctypes.c_int]
_lib.sp2p_options_set_group6.argtypes = [_options, ctypes.c_char_p]
_lib.sp2p_keygen.argtypes = [ctypes.c_char_p]
_lib.sp2p_stat_name.argtypes = [ctypes.c_size_t]
_lib.sp2p_stat_name.restype = ctypes.c_char_p
_lib.sp2p_stat.argtypes = [_handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]
_lib.sp2p_open.argtypes = [ctypes.POINTER(_Config), ctypes.POINTER(_handle)]
_lib.sp2p_open_with.argtypes = [ctypes.POINTER(_Config), _options, ctypes.POINTER(_handle)]
_lib.sp2p_close.argtypes = [_handle]
_lib.sp2p_close.restype = None
_lib.sp2p_discover.argtypes = [_handle, ctypes.c_int, ctypes.c_uint32]
_lib.sp2p_send.argtypes = [
    _handle,
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.c_uint32,
    ctypes.POINTER(ctypes.c_size_t),
]
_lib.sp2p_members.argtypes = [_handle, ctypes.POINTER(_Member), ctypes.c_size_t]
_lib.sp2p_peers_wide.argtypes = [_handle, ctypes.POINTER(_PeerInfoWide), ctypes.c_size_t]
_lib.sp2p_missing_wide.argtypes = [_handle, ctypes.POINTER(_PeerInfoWide), ctypes.c_size_t]
_lib.sp2p_acked_wide.argtypes = [_handle, ctypes.POINTER(_PeerInfoWide), ctypes.c_size_t]
_lib.sp2p_recv_wide.argtypes = [
    _handle,
    ctypes.c_int32,
    ctypes.c_char_p,
    ctypes.c_size_t,
    ctypes.POINTER(_MessageWide),
]
_lib.sp2p_member_addresses.argtypes = [_handle, ctypes.c_char_p, ctypes.POINTER(_Address), ctypes.c_size_t]
_lib.sp2p_interfaces.argtypes = [_handle, ctypes.POINTER(_Interface), ctypes.c_size_t]
_lib.sp2p_next_event.argtypes = [_handle, ctypes.c_int32, ctypes.POINTER(_Event)]
_lib.sp2p_fd.argtypes = [_handle]
_lib.sp2p_last_error.argtypes = []
_lib.sp2p_last_error.restype = ctypes.c_char_p


def _field_docs(cls, **docs):
    """Replaces the "Alias for field number N" that help() shows."""
    for field, doc in docs.items():
        getattr(cls, field).__doc__ = doc
    return cls


class PeerInfo(NamedTuple):
    """Another peer, as discovery found it."""

    id: str
    address: str
    name: str


_field_docs(
    PeerInfo,
    id="its UUID (str), new every time it starts",
    address='where it takes unicast traffic (str, "ip:port" or "[ipv6%zone]:port")',
    name='the name it gave itself (str, "" for none)',
)


class Message(NamedTuple):
    """A message another peer sent to this one."""

    sender: str
    address: str
    name: str
    data: bytes


_field_docs(
    Message,
    sender="the sender's UUID (str)",
    address='the address it was sent from (str, "ip:port" or "[ipv6%zone]:port")',
    name='the sender\'s name (str, "" for none)',
    data="the exact bytes it sent (a str was sent as UTF-8)",
)


class SendResult(NamedTuple):
    """What became of a send()."""

    acked: List[PeerInfo]
    missing: List[PeerInfo]


_field_docs(
    SendResult,
    acked="the peers that acknowledged it (list of PeerInfo)",
    missing="the peers sent to that did not, within the timeout (list of PeerInfo)",
)


class Member(NamedTuple):
    """A member of the live table (Peer.members(), Event.member)."""

    id: str
    address: str
    name: str
    first_heard: float
    last_heard: float
    heartbeat: Optional[float]
    suspected: bool
    addrs: Tuple[str, ...] = ()


_field_docs(
    Member,
    id="its UUID (str)",
    address='where it takes unicast traffic (str, "ip:port" or "[ipv6%zone]:port"); addrs[0]',
    name='its name (str, "" for none)',
    first_heard="when this peer first heard it (float, Unix seconds as time.time() gives)",
    last_heard="when this peer last heard it (float, Unix seconds)",
    heartbeat="how often it says it beats (float seconds), or None if it sends no heartbeats and so is never lost",
    suspected="True while it is silent and being pinged",
    addrs="every address it was heard at lately and proved it receives at (tuple of str, at most 4), "
    "address first: one per segment shared with this peer and per family (IPv4, IPv6). From members(), "
    "read just after the table (a member that left meanwhile has its address alone); in an Event, "
    "its address alone (the event carries one): call members() for them all",
)


class Event(NamedTuple):
    """Something that happened to the group (Peer.events())."""

    kind: str
    member: Optional[Member]
    time: float
    lagged: int


_field_docs(
    Event,
    kind='"joined", "left" (said goodbye), "lost" (silent and unanswering for three of its '
    'heartbeat intervals), "suspected" (missed a heartbeat, being pinged), "alive" (a suspected '
    'member answered), "updated" (its name or address changed) or "lagged"',
    member='the Member it is about (None for "lagged")',
    time="when this peer saw it (float, Unix seconds)",
    lagged='for "lagged", how many events were dropped because they were read too slowly '
    "(read members() again); else 0",
)


class Interface(NamedTuple):
    """An interface a peer serves (Peer.interfaces())."""

    name: str
    index: int
    ipv4: Optional[str]
    ipv6: Optional[str]


_field_docs(
    Interface,
    name='its name (str), e.g. "eth0" or "lo"',
    index="its index (int, if_nametoindex), the scope id of its link-local addresses",
    ipv4='the IPv4 address this peer uses there (str, e.g. "192.0.2.7"), or None if it serves no IPv4 there',
    ipv6='the IPv6 address this peer uses there (str, e.g. "fe80::1", without "%zone": index is it), '
    "or None if it serves no IPv6 there",
)


class SimpleP2PError(Exception):
    """A simplep2p failure; .code is the library's negative error code
    (-2 for a bad argument, -3 for a network set-up failure, -4 for a
    message over MAX_MESSAGE, -7 for a closed peer, ERR_KEY (-9) for a key
    or key file that cannot be used, ERR_NO_CRYPTO (-10) for a library
    built without keys)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ArgumentValueError(SimpleP2PError, ValueError):
    """An argument out of range, named in the message with the range: a
    ValueError, and a SimpleP2PError with code -2."""

    def __init__(self, message):
        super().__init__(_ERR_ARG, message)


class ArgumentTypeError(SimpleP2PError, TypeError):
    """An argument of the wrong type, named in the message: a TypeError,
    and a SimpleP2PError with code -2."""

    def __init__(self, message):
        super().__init__(_ERR_ARG, message)


def _check(result):
    if result < 0:
        message = _lib.sp2p_last_error().decode("utf-8", "replace")
        if result == _ERR_ARG:  # the library refused an argument's value, and named it
            raise ArgumentValueError(message)
        raise SimpleP2PError(result, message)
    return result


def _check_arg(name, result):
    """_check for a setter whose message may not use the argument's
    Python name: a refusal names it first."""
    if result == _ERR_ARG:
        raise ArgumentValueError("%s: %s" % (name, _lib.sp2p_last_error().decode("utf-8", "replace")))
    return _check(result)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_in(name, value, low, high):
    """`value` as an int if it is a whole number in low..high: checked here,
    before ctypes can wrap it into range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError("%s must be a whole number from %d to %d, not %s" % (name, low, high, type(value).__name__))
    if not low <= value <= high:
        raise ArgumentValueError("%s %r is out of range: pass a whole number from %d to %d" % (name, value, low, high))
    return int(value)


def _ms(timeout, name="timeout"):
    """A timeout in seconds (None: no limit) as the C API's milliseconds,
    rounded up so that a short positive timeout is not 0."""
    if timeout is None:
        return _MAX_MS
    if not _is_number(timeout):
        raise ArgumentTypeError("%s must be a number of seconds, or None for no limit, not %s" % (name, type(timeout).__name__))
    if not 0 <= timeout <= _MAX_MS / 1000:  # NaN fails this too
        says = "%s %r is out of range: pass seconds from 0 to %.3f, or None for no limit"
        raise ArgumentValueError(says % (name, timeout, _MAX_MS / 1000))
    return min(math.ceil(timeout * 1000), _MAX_MS)


def _deadline(timeout):
    """When a wait of `timeout` seconds (checked; None: no limit) ends, by
    time.monotonic(); None for never."""
    _ms(timeout)
    return None if timeout is None else time.monotonic() + timeout


def _text_arg(name, value):
    """An optional text argument (None: the default) as bytes for C."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ArgumentTypeError("%s must be a str or None, not %s" % (name, type(value).__name__))
    if "\0" in value:
        raise ArgumentValueError("%s contains a NUL character, which C would cut it at" % name)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ArgumentValueError("%s is not text that UTF-8 can encode (a lone surrogate?)" % name) from None


def _text_list(name, values):
    """An optional list of text arguments (None: none) as bytes for C."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ArgumentTypeError("%s must be a list of str or None, not %s" % (name, type(values).__name__))
    return [_text_arg("%s[%d]" % (name, i), v) for i, v in enumerate(values)]


def _payload(name, data):
    """A message as bytes: a str as UTF-8, bytes-like objects as they are."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise ArgumentValueError("%s is not text that UTF-8 can encode (a lone surrogate?): pass bytes" % name) from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise ArgumentTypeError("%s must be str or bytes, not %s" % (name, type(data).__name__))


def _family(family):
    """Peer(family=) as SP2P_FAMILY_*; None is the default, "both"."""
    if family is None:
        family = "both"
    if not isinstance(family, str):
        raise ArgumentTypeError('family must be "both", "ipv4" or "ipv6", not %s' % type(family).__name__)
    if family not in _FAMILIES:
        raise ArgumentValueError('family %r is not one of "both", "ipv4" or "ipv6"' % family)
    return _FAMILIES[family]


def _heartbeat_ms(heartbeat):
    """Peer(heartbeat=) in seconds as the C API's milliseconds; 0 or False: off."""
    says = "pass seconds from %g to %d, or 0 for none" % (_MIN_HEARTBEAT, _MAX_HEARTBEAT)
    if heartbeat is False:
        return 0
    if not _is_number(heartbeat):
        raise ArgumentTypeError("heartbeat must be a number: %s (not %s)" % (says, type(heartbeat).__name__))
    if not (heartbeat == 0 or _MIN_HEARTBEAT <= heartbeat <= _MAX_HEARTBEAT):  # NaN fails too
        raise ArgumentValueError("heartbeat %r is out of range: %s" % (heartbeat, says))
    return round(heartbeat * 1000)


def _one_or_two(name, value, single):
    """`value` as a list: one item (`single(value)` is true) or a list or
    tuple of one or two."""
    if single(value):
        return [value]
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 2:
            raise ArgumentValueError("%s holds %d items: pass one or two (current and next)" % (name, len(value)))
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
        raise ArgumentTypeError(
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
        raise ArgumentTypeError(
            "key must be 64 hex digits (str, as keygen() returns) or 32 bytes, or a list of one or two, not %s"
            % type(bad).__name__
        )
    out = []
    for k in keys:
        if isinstance(k, str):
            digits = k.strip()
            if len(digits) != _KEY_HEX or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ArgumentValueError("key is not 64 hex digits: pass one as keygen() returns it, or its 32 bytes")
            out.append(bytes.fromhex(digits))
        elif len(k) != _KEY_BYTES:
            raise ArgumentValueError("key of %d bytes: a key is 32 bytes, or 64 hex digits as a str" % len(k))
        else:
            out.append(bytes(k))
    return out


def keygen() -> str:
    """A fresh random key: 64 hex digits, the line a key file holds. Keep it
    secret; write it to a file only its owner can read (mode 0600)."""
    out = ctypes.create_string_buffer(_KEY_HEX + 1)
    _check(_lib.sp2p_keygen(out))
    return out.value.decode("ascii")


def _text(field):
    return field.decode("utf-8", "replace")


def _info(raw):
    return PeerInfo(_text(raw.id), _text(raw.address), _text(raw.name))


def _member(raw, addrs=None):
    """A Member from an sp2p_member and its addresses (None or none: its
    address alone)."""
    address = _text(raw.address)
    return Member(
        _text(raw.id),
        address,
        _text(raw.name),
        raw.first_heard_ms / 1000,
        raw.last_heard_ms / 1000,
        raw.heartbeat_ms / 1000 if raw.heartbeat_ms else None,
        bool(raw.suspected),
        tuple(addrs) if addrs else (address,),
    )


def _member_addresses(handle, member_id):
    """The addresses of the member `member_id` (bytes) now, as str; empty
    if it is no longer a member."""
    out = (_Address * _MAX_MEMBER_ADDRS)()
    count = _check(_lib.sp2p_member_addresses(handle, member_id, out, _MAX_MEMBER_ADDRS))
    return [_text(out[i].value) for i in range(min(count, _MAX_MEMBER_ADDRS))]


def _interface(raw):
    return Interface(_text(raw.name), raw.index, _text(raw.ipv4) or None, _text(raw.ipv6) or None)


def _event(raw):
    kind = _EVENT_KINDS.get(raw.kind, "unknown")
    member = None if kind == "lagged" else _member(raw.member)
    return Event(kind, member, raw.time_ms / 1000, raw.lagged)


_PathLike = Union[str, bytes, "os.PathLike[str]"]


class Peer:
    """A member of a multicast group, usable as a context manager.

    It answers other peers' discovery and acknowledges their messages on its
    own threads from the moment it is created until close().
    """

    def __init__(
        self,
        group: Optional[str] = None,
        port: Optional[int] = None,
        interface: Optional[str] = None,
        ttl: Optional[int] = None,
        name: Optional[str] = None,
        ack_on_recv: bool = False,
        key_file: Union[None, _PathLike, Sequence[_PathLike]] = None,
        key: Union[None, str, bytes, Sequence[Union[str, bytes]]] = None,
        heartbeat: Union[None, float, bool] = None,
        interfaces: Optional[Sequence[str]] = None,
        exclude_interfaces: Optional[Sequence[str]] = None,
        family: str = "both",
        group6: Optional[str] = None,
    ) -> None:
        """Join `group` (default 239.255.0.1) on `port` (1..65535, default
        30001) via `interface` (a name such as "eth0" or an address it
        holds; 127.0.0.1 stays on this host), with multicast `ttl` 0..255
        (default 1; 0 stays on this host), as `name` (at most 64 bytes of
        UTF-8; default none).

        By default every interface that is up with multicast and an IPv4
        or IPv6 link-local address is served (not a bridge port; loopback
        only if nothing else), followed as interfaces come and go.
        `interfaces` (a list of names or addresses) serves those too, after
        `interface`; `exclude_interfaces` never serves those. A name or
        address not on this host raises SimpleP2PError -3 listing those
        that are. interfaces() lists those served.

        `family` is "both" (the default: each interface over IPv4 if it has
        an IPv4 address and over IPv6 if it has a link-local one, a peer
        heard over both being one member), "ipv4" or "ipv6". Loopback is
        IPv4 only (Linux routes no IPv6 multicast there), so "ipv6" with
        interface 127.0.0.1 or lo raises SimpleP2PError -3. `group6` is the
        IPv6 group, of link-local scope (ff02::/16, or any ffX2:: group;
        default ff02::114), at the same port.

        With `ack_on_recv` (a bool), a message is acknowledged only when
        recv() takes it, so that a sender's count means "their programs
        have it"; by default, as soon as it is queued here.

        With a group key, every datagram is sealed and only peers holding
        the key find, answer or hear this one. `key_file` is a key file's
        path (one or two lines of 64 hex digits, mode 0600, re-read when it
        changes) or a list of two; `key` is a key in memory: a str of 64 hex
        digits, as keygen() returns, or its 32 bytes, or a list of two. At
        most two keys in all (current and next); key_file's come first, and
        the first seals. With neither, SIMPLEP2P_KEY_FILE names the key
        file, if set. A key file that cannot be used raises SimpleP2PError
        with code ERR_KEY, saying why.

        `heartbeat` is how often this peer tells the group it is alive, in
        seconds, 0.01 to 3600; None (not given) means the default, 1 s (it
        is a rate, not a limit); 0 or False turns heartbeats off, for
        minimal systems: then nobody learns of this peer from heartbeats,
        and it is never reported lost, only seen to leave.

        A bad argument raises TypeError or ValueError naming it (both also
        SimpleP2PError with code -2) before anything is opened; a group
        that is not multicast, or a port held, SimpleP2PError -3 (a group6
        that is not a link-local group is a ValueError).
        """
        self._handle = None  # so that __del__ works if opening fails
        # Every argument is checked before the library sees any.
        group_c = _text_arg("group", group)
        interface_c = _text_arg("interface", interface)
        name_c = _text_arg("name", name)
        # Zero means "the default" only in C's struct; here, as in Rust and
        # the CLI, port 0 is refused (peers meet on a fixed port).
        if port is not None and not isinstance(port, bool) and isinstance(port, numbers.Integral) and port == 0:
            raise ArgumentValueError("port 0 is not allowed: peers meet on a fixed port, pass one between 1 and 65535")
        port_c = 0 if port is None else _int_in("port", port, 1, 65535)
        ttl_c = None if ttl is None else _int_in("ttl", ttl, 0, 255)
        if not isinstance(ack_on_recv, bool):
            raise ArgumentTypeError("ack_on_recv must be True or False, not %s" % type(ack_on_recv).__name__)
        heartbeat_ms = None if heartbeat is None else _heartbeat_ms(heartbeat)
        paths = [] if key_file is None else _key_paths(key_file)
        wanted = _text_list("interfaces", interfaces)
        unwanted = _text_list("exclude_interfaces", exclude_interfaces)
        keys = [] if key is None else _key_bytes(key)
        family_c = _family(family)
        group6_c = _text_arg("group6", group6)

        config = _Config(group_c, port_c, interface_c, 0, name_c)  # the TTL goes in the options
        options = _lib.sp2p_options_new()
        if not options:
            _check(-8)
        try:
            _check(_lib.sp2p_options_set_ack_on_recv(options, 1 if ack_on_recv else 0))
            if ttl_c is not None:
                _check(_lib.sp2p_options_set_ttl(options, ttl_c))
            if heartbeat_ms is not None:
                _check(_lib.sp2p_options_set_heartbeat_ms(options, heartbeat_ms))
            for path in paths:
                _check(_lib.sp2p_options_add_key_file(options, path))
            for raw in keys:
                _check(_lib.sp2p_options_add_key(options, raw))
            for each in wanted:
                _check(_lib.sp2p_options_add_interface(options, each))
            for each in unwanted:
                _check(_lib.sp2p_options_exclude_interface(options, each))
            _check(_lib.sp2p_options_set_family(options, family_c))
            if group6_c is not None:
                _check_arg("group6", _lib.sp2p_options_set_group6(options, group6_c))
            handle = _handle()
            _check(_lib.sp2p_open_with(ctypes.byref(config), options, ctypes.byref(handle)))
        finally:
            _lib.sp2p_options_free(options)
        self._handle = handle

    def close(self) -> None:
        """Leave the group (other peers are told) and free the peer. Safe
        while another thread is in recv(), peers() or send() on this peer:
        that call raises SimpleP2PError -7 promptly, and an events()
        iterator simply ends. Closing twice does nothing. It closes
        fileno() too: take it out of an event loop first."""
        handle, self._handle = self._handle, None
        if handle:
            _lib.sp2p_close(handle)

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc) -> None:
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

    def stats(self) -> dict:
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

    def peers(self, expect: Optional[int] = None, timeout: Optional[float] = 1.0) -> List[PeerInfo]:
        """Discover the other peers and return them as a list of PeerInfo.

        Returns as soon as `expect` peers have answered or `timeout` seconds
        have passed; with no `expect` (None or 0), once none new has
        answered for 50 ms (or the timeout, if none answers at all). A
        timeout of None is no limit (at most 49.7 days, the C API's).
        They become the targets of send(). Ctrl-C is seen only once it
        returns.
        """
        expect_c = 0 if expect is None else _int_in("expect", expect, 0, 2**31 - 1)
        timeout_ms = _ms(timeout)
        handle = self._live()
        _check(_lib.sp2p_discover(handle, expect_c, timeout_ms))
        return self._list(_lib.sp2p_peers_wide)

    def send(self, data: Union[str, bytes, bytearray, memoryview], timeout: Optional[float] = 1.0) -> SendResult:
        """Send `data` (bytes, or str as UTF-8; at most MAX_MESSAGE bytes) to
        the peers of the last peers() call (discovering first if there was
        none) and wait at most `timeout` seconds (None: no limit, at most
        49.7 days) until each acknowledges it. Returns a SendResult. Ctrl-C
        is seen only once it returns.
        """
        payload = _payload("data", data)
        timeout_ms = _ms(timeout)
        handle = self._live()
        _check(_lib.sp2p_send(handle, payload, len(payload), timeout_ms, None))
        # What the library says of this send, not what peers() said: a send
        # with no peers known discovers its own targets.
        return SendResult(self._list(_lib.sp2p_acked_wide), self._list(_lib.sp2p_missing_wide))

    def _fetch(self, call, struct):
        """What a C list call fills (`call(handle, out, cap)` returns how
        many there are): counted, then filled, again if the list grew in
        between (one joined or came meanwhile)."""
        handle = self._live()
        while True:
            total = _check(call(handle, None, 0))
            out = (struct * max(total, 1))()
            count = _check(call(handle, out, total))
            if count <= total:
                return handle, out[:count]

    def _list(self, call):
        return [_info(raw) for raw in self._fetch(call, _PeerInfoWide)[1]]

    def members(self) -> List[Member]:
        """The live table as a list of Member: every member heard lately
        (by heartbeat, discovery or traffic) from a proven address, not
        lost and not gone, each with all its addresses (Member.addrs). A
        snapshot; events() says what changes."""
        handle, raws = self._fetch(_lib.sp2p_members, _Member)
        return [_member(raw, _member_addresses(handle, raw.id)) for raw in raws]

    def interfaces(self) -> List[Interface]:
        """The interfaces this peer serves now (joined to the group on, and
        multicasting on) as a list of Interface, with the addresses it uses
        on each. It follows interfaces that come, go or change address
        within 5 s, so two calls may differ."""
        return [_interface(raw) for raw in self._fetch(_lib.sp2p_interfaces, _Interface)[1]]

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
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
        deadline = _deadline(timeout)  # checked now, not at the first next()
        self._live()
        return self._events(deadline)

    def _events(self, deadline):
        raw = _Event()
        while True:
            handle = self._handle
            if not handle:
                return
            # Short slices: Python raises KeyboardInterrupt between them.
            got = _lib.sp2p_next_event(handle, _slice_ms(deadline), ctypes.byref(raw))
            if got == _ERR_CLOSED:
                return
            if _check(got):
                yield _event(raw)
            elif deadline is not None and time.monotonic() >= deadline:
                return

    def fileno(self) -> int:
        """A file descriptor for select, selectors or asyncio
        (loop.add_reader): readable exactly while a message waits for recv()
        or an event for events(). When it is, take them with
        recv(timeout=0) until it returns None and with
        list(events(timeout=0)); that makes it unreadable again unless more
        came meanwhile. The peer's own threads answer and acknowledge
        whether or not anyone waits on it. It belongs to the peer: never
        read or close it, and remove it from your loop before close()."""
        return _check(_lib.sp2p_fd(self._live()))

    def recv(self, timeout: Optional[float] = None) -> Optional[Message]:
        """Wait for the next message and return it as a Message; None if
        `timeout` seconds pass first (None: wait for ever; 0: only look).
        Ctrl-C raises KeyboardInterrupt within 100 ms and leaves the peer
        usable. Several threads may wait at once; each message goes to one."""
        deadline = _deadline(timeout)
        handle = self._live()
        buf = ctypes.create_string_buffer(MAX_MESSAGE)
        meta = _MessageWide()
        while True:
            # Short slices: Python raises KeyboardInterrupt between them.
            got = _check(_lib.sp2p_recv_wide(handle, _slice_ms(deadline), buf, len(buf), ctypes.byref(meta)))
            if got:
                data = buf.raw[: meta.len]
                return Message(_text(meta.sender), _text(meta.address), _text(meta.name), data)
            if deadline is not None and time.monotonic() >= deadline:
                return None


def _slice_ms(deadline):
    """How long the next wait inside the library may be: one slice, or
    what is left before `deadline` (None: no deadline)."""
    if deadline is None:
        return _SLICE_MS
    left = deadline - time.monotonic()
    return max(0, min(_SLICE_MS, math.ceil(left * 1000)))


# Hidden characters, as the CLI prints them: never raw, so that one message
# is one line for every reader (see the README's "The command").
def _hidden(o):
    return (
        o < 0x20
        or 0x7F <= o <= 0x9F
        or o in (0x2028, 0x2029, 0x061C, 0x200E, 0x200F, 0xFEFF)
        or 0x202A <= o <= 0x202E
        or 0x2066 <= o <= 0x2069
        or 0x200B <= o <= 0x200D
        or 0x2060 <= o <= 0x2064
    )


_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _line(data):
    """`data` as one line of text, escaped as the CLI's recv prints it:
    backslash, newline, tab and CR as \\\\, \\n, \\t, \\r; bytes that are
    not UTF-8 and hidden characters as \\xNN per byte."""
    out = []
    for c in data.decode("utf-8", "surrogateescape"):
        o = ord(c)
        if c in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[c])
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            out.append("\\x%02x" % (o - 0xDC00))
        elif _hidden(o):
            out.extend("\\x%02x" % b for b in c.encode("utf-8"))
        else:
            out.append(c)
    return "".join(out)


_default: Optional[Peer] = None
# Held while the module's peer is made, so that threads calling start() at
# once share one peer instead of each making its own.
_default_lock = threading.Lock()


def _env_port():
    raw = os.environ.get("SIMPLEP2P_PORT")
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise ArgumentValueError("SIMPLEP2P_PORT=%r is not a port: set a whole number from 1 to 65535" % raw) from None
    return _int_in("SIMPLEP2P_PORT", port, 1, 65535)


def _default_peer():
    global _default
    with _default_lock:
        if _default is None:
            _default = Peer(
                group=os.environ.get("SIMPLEP2P_GROUP") or None,
                port=_env_port(),
                interface=os.environ.get("SIMPLEP2P_INTERFACE") or None,
            )
        return _default


@atexit.register
def _leave():
    # Say goodbye at exit, so that other peers stop counting this one.
    if _default is not None:
        _default.close()


def start() -> Peer:
    """join the group now (the other functions do it on first use)

    Returns the module's peer, the one get_peer_count(),
    send_message_to_peers() and wait() use: one per process, however many
    threads call this at once. Closing it ends a wait() and leaves every
    later call failing with SimpleP2PError -7."""
    return _default_peer()


def get_peer_count() -> int:
    """get a count of available peers

    Discovers the peers (until none new answers for 50 ms, at most 1 s)
    and returns how many answered; they are the ones
    send_message_to_peers() sends to."""
    return len(_default_peer().peers())


def send_message_to_peers(message: Union[str, bytes]) -> int:
    """send a message to all available peers

    `message` is a str (sent as UTF-8) or bytes, at most MAX_MESSAGE bytes;
    anything else raises TypeError. Sends it to the peers the last
    get_peer_count() found (discovering first if it was never called),
    waits at most 1 s for their acknowledgements and returns how many
    acknowledged it."""
    payload = _payload("message", message)  # before the group is joined
    return len(_default_peer().send(payload).acked)


@contextlib.contextmanager
def _ctrl_c_interrupts():
    """For its duration, SIGINT raises KeyboardInterrupt even where it was
    ignored (a job a script started in the background), as the original's
    wait() made it; a program's own handler is left alone. Only the main
    thread can change handlers; elsewhere nothing changes."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGINT)
        if current in (signal.SIG_IGN, signal.SIG_DFL):
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def wait() -> None:
    """wait for a message from a peer

    Serves as the original's wait() did: joins the group (unless start()
    or another call already did), then answers discovery and takes
    messages until Ctrl-C, printing each on a line of its own to standard
    output, flushed: the message's text, escaped as the CLI's recv escapes
    it (a newline as \\n, bytes that are not UTF-8 as \\xNN), so that one
    message is always one line. Each message is acknowledged as it
    arrives, as the original did.

    Returns only by raising KeyboardInterrupt (Ctrl-C, or SIGINT: for the
    duration of the call it interrupts even a program that ignored it, as
    the original's did), or None if the module's peer is closed meanwhile
    (start().close() from another thread). To take one message and carry
    on, use Peer.recv()."""
    # Ctrl-C first: once the peer answers, it can be stopped.
    with _ctrl_c_interrupts():
        peer = _default_peer()
        while True:
            try:
                message = peer.recv()
            except SimpleP2PError as e:
                if e.code == _ERR_CLOSED:
                    return None
                raise
            _print_line(_line(message.data))


def _print_line(line):
    """`line` and a newline on standard output, flushed: as UTF-8 bytes
    where it takes bytes, whatever its encoding (the escapes leave only
    characters that came from UTF-8 in the message)."""
    out = sys.stdout
    if out is None:  # pythonw, or closed by the program
        return
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(line + "\n")
        out.flush()
        return
    out.flush()  # what the program printed before stays before
    buffer.write(line.encode("utf-8") + b"\n")
    buffer.flush()
