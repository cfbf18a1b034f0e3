//! Where simplep2p meets C: the C ABI (`bindings/c/simplep2p.h` documents
//! it), the signal handler of [`signal`], the host's interface list
//! ([`ifaddrs`]) and `poll(2)` ([`poll`]). The only module allowed `unsafe`; each block says why it
//! is sound. Private: the `#[no_mangle]` symbols export from the cdylib all
//! the same, and the crate root re-exports what Rust users need of
//! [`signal`].
//!
//! Every exported function catches panics (none crosses the boundary), turns
//! null pointers and short buffers into error codes, and on failure leaves a
//! message for [`sp2p_last_error`] in the calling thread.
//!
//! A peer handle is not a pointer to anything: it is a number, the key of
//! the peer's entry in [`HANDLES`], cast to a pointer and never
//! dereferenced. Each call looks it up and holds an [`Arc`] to the peer for
//! as long as it runs, so `sp2p_close` in one thread while another is
//! inside a call is safe, and a handle that is closed or was never opened
//! is an error (`SP2P_ERR_CLOSED`), not a use after free. Numbers are never
//! reused.
#![allow(unsafe_code)]

pub(crate) mod ifaddrs;
mod pktinfo;
mod poll;
mod signal;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CStr, CString, OsStr, OsString, c_char, c_int};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::OsStrExt as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub(crate) use self::pktinfo::send_from;
pub(crate) use self::poll::{Poller, recv_now};
pub use self::signal::{SignalGuard, close_on_termination, hold_termination_signals};
use crate::peer::{Light, lock, unix_ms};
use crate::{
    Config, Error, Events, Family, InterfaceInfo, KEY_FILE_ENV, Key, MAX_KEYS, MAX_MEMBER_ADDRS,
    Member, MemberEvent, Message, Peer, PeerInfo, Stats, Uuid,
};

/// Success (or, for counts, zero).
pub const SP2P_OK: c_int = 0;
/// A required pointer was null.
pub const SP2P_ERR_NULL: c_int = -1;
/// An argument is invalid (not UTF-8, not an address, name too long, ...).
pub const SP2P_ERR_ARG: c_int = -2;
/// The network could not be set up (bad group, no route, bad interface, port held).
pub const SP2P_ERR_SETUP: c_int = -3;
/// The message is over the size limit; nothing was sent.
pub const SP2P_ERR_TOO_LARGE: c_int = -4;
/// The caller's buffer is too small; the message is kept for the next call.
pub const SP2P_ERR_SHORT_BUFFER: c_int = -5;
/// A socket or thread failed.
pub const SP2P_ERR_IO: c_int = -6;
/// The peer is closed, or the handle is not one `sp2p_open` gave.
pub const SP2P_ERR_CLOSED: c_int = -7;
/// A bug: simplep2p panicked. The peer should be closed.
pub const SP2P_ERR_PANIC: c_int = -8;
/// A key cannot be used: a key file that is unreadable, open to other
/// users or malformed, more than two keys, or a key with the original's protocol.
pub const SP2P_ERR_KEY: c_int = -9;
/// A key was given to a simplep2p built without the `crypto` feature.
pub const SP2P_ERR_NO_CRYPTO: c_int = -10;

/// `sp2p_config`: NULL strings and zero numbers mean the defaults. Its
/// layout is frozen: programs built against the first header pass it.
#[repr(C)]
#[derive(Debug)]
pub struct CConfig {
    group: *const c_char,
    port: u16,
    interface: *const c_char,
    ttl: u32,
    name: *const c_char,
}

/// `sp2p_options`: the settings `sp2p_config` has no field for, set one at
/// a time through functions, so that new ones never change a layout. C
/// owns it (`sp2p_options_new` .. `sp2p_options_free`), as it would a
/// `pthread_attr_t`.
#[derive(Debug, Default)]
pub struct COptions {
    ack_on_recv: bool,
    /// Overrides `sp2p_config.ttl`, whose 0 means "the default", so that
    /// TTL 0 can be asked for.
    ttl: Option<u32>,
    /// In the order added; the first key seals. None: `SIMPLEP2P_KEY_FILE`.
    keys: Vec<CKey>,
    /// `None`: the default; `Some(None)`: off.
    heartbeat: Option<Option<Duration>>,
    /// Interfaces to serve and not to, by name or address, as added.
    interfaces: Vec<String>,
    exclude: Vec<String>,
    /// `None`: the default, both.
    family: Option<Family>,
    /// `None`: the default, ff02::114. Checked when set.
    group6: Option<Ipv6Addr>,
}

/// A key added to `sp2p_options`. (`Key`'s Debug shows no key material.)
#[derive(Debug, Clone)]
enum CKey {
    Inline(Key),
    File(PathBuf),
}

/// `sp2p_peer`: what the handle C holds points to, as far as C knows. It
/// is never made and never read: the pointer's address is a key of
/// [`HANDLES`].
#[repr(C)]
#[derive(Debug)]
pub struct PeerHandle {
    _never_made: [u8; 0],
}

/// `sp2p_peer_info` (`A` = 48) and `sp2p_peer_info_wide` (`A` =
/// [`SP2P_ADDRESS_LEN`]): NUL-terminated text fields. The narrow one's
/// 48-byte address is frozen: one that does not fit is left empty
/// ([`put_whole`]), and the wide one has room for any.
#[repr(C)]
#[derive(Debug)]
pub struct CPeerInfoOf<const A: usize> {
    id: [c_char; 37],
    address: [c_char; A],
    name: [c_char; 65],
}

/// `sp2p_peer_info`.
pub type CPeerInfo = CPeerInfoOf<48>;

/// `sp2p_message` (`A` = 48) and `sp2p_message_wide` (`A` =
/// [`SP2P_ADDRESS_LEN`]): who sent the message written to the caller's
/// buffer.
#[repr(C)]
#[derive(Debug)]
pub struct CMessageOf<const A: usize> {
    sender: [c_char; 37],
    address: [c_char; A],
    name: [c_char; 65],
    /// Bytes of the message (also set when the buffer was too short).
    len: usize,
}

/// `sp2p_message`.
pub type CMessage = CMessageOf<48>;

/// Bytes of the address field of structs newer than `sp2p_peer_info`
/// (whose 48 are frozen): room for "[IPv6%zone]:port" and the NUL.
pub const SP2P_ADDRESS_LEN: usize = 72;

/// `sp2p_peer_info_wide`: `sp2p_peer_info` with room for any address.
pub type CPeerInfoWide = CPeerInfoOf<SP2P_ADDRESS_LEN>;

/// `sp2p_message_wide`: `sp2p_message` with room for any address.
pub type CMessageWide = CMessageOf<SP2P_ADDRESS_LEN>;

/// `sp2p_options_set_family`: IPv4 and IPv6, each where an interface has
/// an address of it (the default).
pub const SP2P_FAMILY_BOTH: c_int = 0;
/// IPv4 only.
pub const SP2P_FAMILY_IPV4: c_int = 4;
/// IPv6 only.
pub const SP2P_FAMILY_IPV6: c_int = 6;

/// `sp2p_interface`: an interface a peer serves, as `Peer::interfaces`
/// gives it. The text fields are as wide as the C constants for them
/// (`IF_NAMESIZE` with room for names that were not UTF-8, then
/// `INET_ADDRSTRLEN`, `INET6_ADDRSTRLEN`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CInterface {
    name: [c_char; 64],
    index: u32,
    /// The IPv4 address used there, or "".
    ipv4: [c_char; 16],
    /// The IPv6 address used there, without its zone (`index` is it), or "".
    ipv6: [c_char; 46],
}

impl CInterface {
    const EMPTY: CInterface = CInterface { name: [0; 64], index: 0, ipv4: [0; 16], ipv6: [0; 46] };
}

/// `sp2p_member`: one member of the live table.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CMember {
    id: [c_char; 37],
    address: [c_char; SP2P_ADDRESS_LEN],
    name: [c_char; 65],
    /// Unix time in milliseconds.
    first_heard_ms: u64,
    last_heard_ms: u64,
    /// 0: it sends no heartbeats.
    heartbeat_ms: u32,
    suspected: i32,
}

impl CMember {
    const EMPTY: CMember = CMember {
        id: [0; 37],
        address: [0; SP2P_ADDRESS_LEN],
        name: [0; 65],
        first_heard_ms: 0,
        last_heard_ms: 0,
        heartbeat_ms: 0,
        suspected: 0,
    };
}

/// `sp2p_event`: one member event.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CEvent {
    /// One of the `SP2P_EVENT_*` kinds.
    kind: i32,
    /// Zeroed for `SP2P_EVENT_LAGGED`.
    member: CMember,
    /// Unix time in milliseconds when this peer saw it (for
    /// `SP2P_EVENT_LAGGED`, when it was read).
    time_ms: u64,
    /// For `SP2P_EVENT_LAGGED`, how many events were dropped; else 0.
    lagged: u64,
}

/// `sp2p_event_kind`.
pub const SP2P_EVENT_JOINED: i32 = 1;
/// A member said goodbye.
pub const SP2P_EVENT_LEFT: i32 = 2;
/// A member fell silent and did not answer pings.
pub const SP2P_EVENT_LOST: i32 = 3;
/// A member missed a heartbeat and is being pinged.
pub const SP2P_EVENT_SUSPECTED: i32 = 4;
/// A suspected member answered.
pub const SP2P_EVENT_ALIVE: i32 = 5;
/// A member's name or address changed.
pub const SP2P_EVENT_UPDATED: i32 = 6;
/// Events were dropped: this reader was too slow.
pub const SP2P_EVENT_LAGGED: i32 = 7;

/// Messages that did not fit a caller's buffer, oldest first, with the
/// light that keeps `sp2p_fd` readable while one waits.
#[derive(Debug, Default)]
struct Kept {
    messages: VecDeque<Message>,
    light: Light,
}

impl Kept {
    fn pop_front(&mut self) -> Option<Message> {
        let m = self.messages.pop_front();
        self.light.set(!self.messages.is_empty());
        m
    }

    fn push(&mut self, m: Message, in_front: bool) {
        if in_front {
            self.messages.push_front(m);
        } else {
            self.messages.push_back(m);
        }
        self.light.set(true);
    }
}

/// An open peer, as the handle table holds it.
#[derive(Debug)]
struct CPeer {
    peer: Peer,
    /// The handle's own subscription, made at open so that no event is
    /// missed, read by `sp2p_next_event`.
    events: Events,
    /// Messages that did not fit a caller's buffer, kept for the next
    /// `sp2p_recv` in any thread. Locked only to take or put one, never
    /// while waiting for the network.
    kept: Mutex<Kept>,
    /// The peers that did not acknowledge the last send.
    missing: Mutex<Vec<PeerInfo>>,
    /// The peers that acknowledged the last send.
    acked: Mutex<Vec<PeerInfo>>,
}

/// The open peers, by handle number. No cap of its own: each entry is a
/// running peer (two sockets and a socket pair, one or two threads), and the system runs out of
/// those first, which `sp2p_open` reports as an error.
static HANDLES: Mutex<BTreeMap<usize, Arc<CPeer>>> = Mutex::new(BTreeMap::new());
/// The next handle number; 0 would be NULL. Never wraps (see [`new_handle`]).
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

type Failure = (c_int, String);

fn fail(code: c_int, message: impl Into<String>) -> Failure {
    (code, message.into())
}

fn code_of(e: &Error) -> c_int {
    match e {
        Error::BadGroup(_)
        | Error::BadGroup6(_)
        | Error::NoMulticastRoute
        | Error::BadInterface(_)
        | Error::Interface(_)
        | Error::PortInUse(_) => SP2P_ERR_SETUP,
        Error::NameTooLong(_)
        | Error::BadHeartbeat(_)
        | Error::NotLegacyText
        | Error::BadPort
        | Error::BadTtl(_)
        | Error::BadQueueCapacity(_)
        | Error::BadRate
        | Error::LegacyOff => SP2P_ERR_ARG,
        Error::BadKey | Error::KeyFile { .. } | Error::TooManyKeys(_) | Error::LegacyWithKey => {
            SP2P_ERR_KEY
        }
        Error::NoCrypto => SP2P_ERR_NO_CRYPTO,
        Error::MessageTooLarge(_) => SP2P_ERR_TOO_LARGE,
        Error::Closed => SP2P_ERR_CLOSED,
        _ => SP2P_ERR_IO,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        (code_of(&e), e.to_string())
    }
}

/// Runs `f`, catching panics, and records the message of a failure.
fn guard(f: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    let (code, message) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(n)) => return n,
        Ok(Err(failure)) => failure,
        Err(_) => fail(SP2P_ERR_PANIC, "internal error in simplep2p (a panic): please report it"),
    };
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
    code
}

/// Puts `peer` in the table under a number never given before.
fn new_handle(peer: CPeer) -> Result<*mut PeerHandle, Failure> {
    let next = NEXT_HANDLE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
    let id = next
        .map_err(|_| fail(SP2P_ERR_IO, "no peer handle numbers are left: restart the program"))?;
    lock(&HANDLES).insert(id, Arc::new(peer));
    Ok(std::ptr::without_provenance_mut(id))
}

/// The peer behind a handle, held for the length of one call: a close in
/// another thread meanwhile closes it (so that this call ends with
/// `SP2P_ERR_CLOSED`) but frees it only once this call lets go.
fn peer_of(handle: *const PeerHandle) -> Result<Arc<CPeer>, Failure> {
    if handle.is_null() {
        return Err(fail(SP2P_ERR_NULL, "peer is NULL"));
    }
    let id = handle.addr();
    let found = lock(&HANDLES).get(&id).cloned();
    found.ok_or_else(|| {
        let what = if id < NEXT_HANDLE.load(Ordering::Relaxed) {
            "was closed by sp2p_close"
        } else {
            "is not one sp2p_open gave"
        };
        fail(SP2P_ERR_CLOSED, format!("peer handle {handle:p} {what}: open a new peer"))
    })
}

/// Reads an optional C string.
///
/// SAFETY (for callers): `p` is null or points to a NUL-terminated string.
unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null and NUL-terminated, as the caller guarantees.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|_| fail(SP2P_ERR_ARG, format!("{what} is not UTF-8")))
}

fn parse_addr(text: Option<&str>, what: &str) -> Result<Option<Ipv4Addr>, Failure> {
    text.map(|t| {
        t.parse().map_err(|_| fail(SP2P_ERR_ARG, format!("{what} {t:?} is not an IPv4 address")))
    })
    .transpose()
}

/// Copies `s` into a fixed C field, cut to fit, always NUL-terminated.
fn put_str<const N: usize>(field: &mut [c_char; N], s: &str) {
    let mut end = s.len().min(N - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    for (dst, &src) in field.iter_mut().zip(&s.as_bytes()[..end]) {
        *dst = src as c_char;
    }
    field[end] = 0;
}

/// Copies `s` into a fixed C field whole and NUL-terminated, or, if it
/// does not fit, leaves the field empty ("") and returns false. For
/// addresses: one cut short is another address, or none, and a program
/// would use it; an empty one it cannot.
fn put_whole<const N: usize>(field: &mut [c_char; N], s: &str) -> bool {
    if s.len() >= N {
        field[0] = 0;
        return false;
    }
    put_str(field, s);
    true
}

impl<const A: usize> CPeerInfoOf<A> {
    fn fill(&mut self, p: &PeerInfo) {
        put_str(&mut self.id, &p.id.to_string());
        put_whole(&mut self.address, &p.addr.to_string());
        put_str(&mut self.name, &p.name);
    }
}

/// Writes up to `cap` peers to `out`; returns how many there are in all.
///
/// SAFETY (for callers): `out` is null (then `cap` must be 0) or points to
/// `cap` writable `CPeerInfoOf<A>`.
unsafe fn write_peers<const A: usize>(
    out: *mut CPeerInfoOf<A>,
    cap: usize,
    peers: &[PeerInfo],
) -> Result<c_int, Failure> {
    // SAFETY: as this function's own guarantee.
    unsafe { write_all(out, cap, peers, CPeerInfoOf::fill) }
}

/// Writes up to `cap` of `items` to `out` with `fill`; returns how many
/// there are in all.
///
/// SAFETY (for callers): `out` is null (then `cap` must be 0) or points to
/// `cap` writable `T`.
unsafe fn write_all<T, I>(
    out: *mut T,
    cap: usize,
    items: &[I],
    fill: impl Fn(&mut T, &I),
) -> Result<c_int, Failure> {
    if cap > 0 {
        if out.is_null() {
            return Err(fail(SP2P_ERR_NULL, "out is NULL but cap is not 0"));
        }
        // SAFETY: `out` points to `cap` writable elements, as the caller guarantees.
        let slots = unsafe { std::slice::from_raw_parts_mut(out, cap) };
        for (slot, item) in slots.iter_mut().zip(items) {
            fill(slot, item);
        }
    }
    Ok(c_int::try_from(items.len()).unwrap_or(c_int::MAX))
}

/// The settings of an `sp2p_config` (NULL: all defaults) and options
/// (NULL: none), which win where both say something.
///
/// SAFETY (for callers): `config` is NULL or points to a valid
/// `sp2p_config` whose strings are NULL or NUL-terminated; `options` is
/// NULL or from `sp2p_options_new`, not yet freed.
unsafe fn config_of(config: *const CConfig, options: *const COptions) -> Result<Config, Failure> {
    // SAFETY: as this function's own guarantee.
    unsafe { config_with_env(config, options, std::env::var_os(KEY_FILE_ENV)) }
}

/// As [`config_of`], with `env_key_file` in place of `SIMPLEP2P_KEY_FILE`
/// (so that tests need not set the variable): it applies when the options
/// add no key, whether they are NULL or not, as it does for the CLI.
///
/// SAFETY (for callers): as [`config_of`].
unsafe fn config_with_env(
    config: *const CConfig,
    options: *const COptions,
    env_key_file: Option<OsString>,
) -> Result<Config, Failure> {
    // SAFETY: NULL or a valid sp2p_config, as the caller guarantees.
    let mut cfg = unsafe { config_fields(config) }?;
    // SAFETY: NULL or live options, as the caller guarantees.
    if let Some(o) = unsafe { options.as_ref() } {
        cfg = cfg.ack_on_recv(o.ack_on_recv);
        if let Some(ttl) = o.ttl {
            cfg = cfg.ttl(ttl);
        }
        if let Some(heartbeat) = o.heartbeat {
            cfg = cfg.heartbeat(heartbeat);
        }
        if !o.interfaces.is_empty() {
            // Those added, after the one sp2p_config names, if any.
            let named = cfg.interface_list().to_vec();
            cfg = cfg.interfaces(named.into_iter().chain(o.interfaces.iter().cloned()));
        }
        cfg = cfg.exclude_interfaces(o.exclude.iter().cloned());
        if let Some(family) = o.family {
            cfg = cfg.family(family);
        }
        if let Some(group6) = o.group6 {
            cfg = cfg.group6(group6);
        }
        cfg = with_keys(cfg, &o.keys);
    }
    match env_key_file {
        Some(path) if !cfg.has_key() && !path.is_empty() => cfg = cfg.key_file(path),
        _ => {}
    }
    Ok(cfg)
}

fn with_keys(mut cfg: Config, keys: &[CKey]) -> Config {
    for k in keys {
        cfg = match k {
            CKey::Inline(key) => cfg.key(key.clone()),
            CKey::File(path) => cfg.key_file(path),
        };
    }
    cfg
}

/// The settings of an `sp2p_config` alone: NULL strings and zero numbers
/// leave the defaults.
///
/// SAFETY (for callers): as [`config_of`], for `config`.
unsafe fn config_fields(config: *const CConfig) -> Result<Config, Failure> {
    let mut cfg = Config::default();
    // SAFETY: NULL or a valid sp2p_config, as the caller guarantees.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return Ok(cfg);
    };
    // SAFETY: each string is NULL or NUL-terminated (caller's guarantee).
    let (group, interface, name) = unsafe {
        (opt_str(c.group, "group")?, opt_str(c.interface, "interface")?, opt_str(c.name, "name")?)
    };
    if let Some(g) = parse_addr(group, "group")? {
        cfg = cfg.group(g);
    }
    // An address, as before, or now a name.
    if let Some(i) = interface {
        cfg = match i.parse::<Ipv4Addr>() {
            Ok(addr) => cfg.interface(addr),
            Err(_) => {
                check_selector(i)?;
                cfg.interfaces([i])
            }
        };
    }
    if c.port != 0 {
        cfg = cfg.port(c.port);
    }
    if c.ttl != 0 {
        cfg = cfg.ttl(c.ttl);
    }
    if let Some(n) = name {
        cfg = cfg.name(n);
    }
    Ok(cfg)
}

/// Opens a peer; `config` may be NULL for all defaults. On success stores
/// the handle in `*out` and returns `SP2P_OK`. As `sp2p_open_with` with no
/// options.
///
/// # Safety
/// `config` is NULL or points to a valid `sp2p_config` whose strings are
/// NULL or NUL-terminated; `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_open(config: *const CConfig, out: *mut *mut PeerHandle) -> c_int {
    // SAFETY: the caller's guarantees are sp2p_open_with's; NULL options are allowed.
    unsafe { sp2p_open_with(config, std::ptr::null(), out) }
}

/// Opens a peer with `config` (NULL: all defaults) and `options` (NULL:
/// none). On success stores the handle in `*out` and returns `SP2P_OK`.
///
/// # Safety
/// As `sp2p_open`; `options` is NULL or from `sp2p_options_new`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_open_with(
    config: *const CConfig,
    options: *const COptions,
    out: *mut *mut PeerHandle,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(SP2P_ERR_NULL, "out is NULL"));
        }
        // SAFETY: `config` and `options` are NULL or valid, as the caller guarantees.
        let cfg = unsafe { config_of(config, options) }?;
        let peer = Peer::start(cfg)?;
        let events = peer.events();
        let handle = new_handle(CPeer {
            peer,
            events,
            kept: Mutex::default(),
            missing: Mutex::new(Vec::new()),
            acked: Mutex::new(Vec::new()),
        })?;
        // SAFETY: `out` is non-null and writable, as the caller guarantees.
        unsafe { *out = handle };
        Ok(SP2P_OK)
    })
}

/// A new set of options, all off; NULL only if simplep2p panicked.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_options_new() -> *mut COptions {
    let mut made = std::ptr::null_mut();
    guard(|| {
        made = Box::into_raw(Box::default());
        Ok(SP2P_OK)
    });
    made
}

/// Frees options from `sp2p_options_new`. NULL is ignored.
///
/// # Safety
/// `options` is NULL or from `sp2p_options_new`, not yet freed, and not in
/// use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_free(options: *mut COptions) {
    guard(|| {
        if !options.is_null() {
            // SAFETY: from Box::into_raw in sp2p_options_new, freed once, as
            // the caller guarantees.
            drop(unsafe { Box::from_raw(options) });
        }
        Ok(SP2P_OK)
    });
}

/// Runs `set` on live options.
///
/// SAFETY (for callers): `options` is NULL or from `sp2p_options_new`, not
/// yet freed, and not in use by another thread.
unsafe fn set_option(
    options: *mut COptions,
    set: impl FnOnce(&mut COptions) -> Result<(), Failure>,
) -> c_int {
    guard(|| {
        // SAFETY: NULL or live and ours alone, as the caller guarantees.
        let o =
            unsafe { options.as_mut() }.ok_or_else(|| fail(SP2P_ERR_NULL, "options is NULL"))?;
        set(o)?;
        Ok(SP2P_OK)
    })
}

/// Non-zero: acknowledge a message only when `sp2p_recv` takes it.
///
/// # Safety
/// As `sp2p_options_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_set_ack_on_recv(options: *mut COptions, on: c_int) -> c_int {
    // SAFETY: the caller's guarantee is set_option's.
    unsafe {
        set_option(options, |o| {
            o.ack_on_recv = on != 0;
            Ok(())
        })
    }
}

/// The multicast TTL, 0..=255, overriding `sp2p_config.ttl`; unlike there,
/// 0 here means TTL 0.
///
/// # Safety
/// As `sp2p_options_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_set_ttl(options: *mut COptions, ttl: u32) -> c_int {
    // SAFETY: the caller's guarantee is set_option's.
    unsafe {
        set_option(options, |o| {
            // The library's one check, so that the message is the same everywhere.
            Config::default().ttl(ttl).validate()?;
            o.ttl = Some(ttl);
            Ok(())
        })
    }
}

/// The heartbeat interval in milliseconds, 10..=3_600_000; 0 turns
/// heartbeats off.
///
/// # Safety
/// As `sp2p_options_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_set_heartbeat_ms(options: *mut COptions, ms: u32) -> c_int {
    // SAFETY: the caller's guarantee is set_option's.
    unsafe {
        set_option(options, |o| {
            let interval = (ms != 0).then(|| Duration::from_millis(ms.into()));
            // The library's one check, so that the message is the same everywhere.
            Config::default().heartbeat(interval).validate()?;
            o.heartbeat = Some(interval);
            Ok(())
        })
    }
}

/// Which address families to serve: `SP2P_FAMILY_BOTH`, `_IPV4` or `_IPV6`.
///
/// # Safety
/// As `sp2p_options_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_set_family(options: *mut COptions, family: c_int) -> c_int {
    // SAFETY: the caller's guarantee is set_option's.
    unsafe {
        set_option(options, |o| {
            o.family = Some(family_of(family)?);
            Ok(())
        })
    }
}

fn family_of(family: c_int) -> Result<Family, Failure> {
    match family {
        SP2P_FAMILY_BOTH => Ok(Family::Both),
        SP2P_FAMILY_IPV4 => Ok(Family::V4Only),
        SP2P_FAMILY_IPV6 => Ok(Family::V6Only),
        other => Err(fail(
            SP2P_ERR_ARG,
            format!(
                "family {other} is not one of SP2P_FAMILY_BOTH (0), SP2P_FAMILY_IPV4 (4) or SP2P_FAMILY_IPV6 (6)"
            ),
        )),
    }
}

/// The IPv6 group, of link-local scope (`ffX2::`), checked now.
///
/// # Safety
/// As `sp2p_options_free`; `group6` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_set_group6(
    options: *mut COptions,
    group6: *const c_char,
) -> c_int {
    // SAFETY: NULL or NUL-terminated, as the caller guarantees.
    let text = unsafe { opt_str(group6, "group6") };
    // SAFETY: the caller's guarantee is set_option's.
    unsafe {
        set_option(options, |o| {
            let text = text?.ok_or_else(|| fail(SP2P_ERR_NULL, "group6 is NULL"))?;
            o.group6 = Some(parse_group6(text)?);
            Ok(())
        })
    }
}

/// An IPv6 group's text, refused unless the library would take it (with
/// its message, `Error::BadGroup6`'s, as the CLI and Rust give it).
fn parse_group6(text: &str) -> Result<Ipv6Addr, Failure> {
    let group: Ipv6Addr = text.parse().map_err(|_| {
        fail(
            SP2P_ERR_ARG,
            format!(
                "IPv6 group {text:?} is not an IPv6 address: pass one in ffX2::/16, e.g. ff02::114"
            ),
        )
    })?;
    // The library's one check; refused here, not at open, so SP2P_ERR_ARG.
    Config::default().group6(group).validate().map_err(|e| fail(SP2P_ERR_ARG, e.to_string()))?;
    Ok(group)
}

/// Adds a key to the options, refused at once (with the message
/// `sp2p_open_with` would give) if it cannot be used: a key file is read
/// here and again when the peer opens.
fn add_key(o: &mut COptions, key: CKey) -> Result<(), Failure> {
    // The library's own check (the crypto feature), as for the TTL.
    with_keys(Config::default(), std::slice::from_ref(&key)).validate()?;
    let mut count = 0;
    for k in o.keys.iter().chain([&key]) {
        count += match k {
            CKey::Inline(_) => 1,
            CKey::File(path) => crate::read_key_file(path)?.len(),
        };
    }
    if count > MAX_KEYS {
        return Err(Error::TooManyKeys(count).into());
    }
    o.keys.push(key);
    Ok(())
}

/// Adds the keys of a key file (one or two lines of 64 hex digits, mode
/// 0600 or stricter), re-read while the peer runs when it changes.
///
/// # Safety
/// As `sp2p_options_free`; `path` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_add_key_file(
    options: *mut COptions,
    path: *const c_char,
) -> c_int {
    let add = |o: &mut COptions| {
        if path.is_null() {
            return Err(fail(SP2P_ERR_NULL, "path is NULL"));
        }
        // SAFETY: non-null and NUL-terminated, as the caller guarantees.
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        if bytes.is_empty() {
            return Err(fail(SP2P_ERR_ARG, "the key file path is empty: pass a file's path"));
        }
        add_key(o, CKey::File(OsStr::from_bytes(bytes).into()))
    };
    // SAFETY: the caller's guarantee is set_option's.
    unsafe { set_option(options, add) }
}

/// Adds an interface to serve, by name or address.
///
/// # Safety
/// As `sp2p_options_free`; `interface` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_add_interface(
    options: *mut COptions,
    interface: *const c_char,
) -> c_int {
    // SAFETY: NULL or NUL-terminated, as the caller guarantees.
    let text = unsafe { selector_arg(interface) };
    // SAFETY: the caller's guarantee is set_option's.
    unsafe { set_option(options, |o| add_selector(&mut o.interfaces, text?)) }
}

/// Adds an interface never to serve, by name or address.
///
/// # Safety
/// As `sp2p_options_free`; `interface` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_exclude_interface(
    options: *mut COptions,
    interface: *const c_char,
) -> c_int {
    // SAFETY: NULL or NUL-terminated, as the caller guarantees.
    let text = unsafe { selector_arg(interface) };
    // SAFETY: the caller's guarantee is set_option's.
    // Not capped: as in Rust and the CLI, exclusions are rules, not
    // interfaces served.
    unsafe {
        set_option(options, |o| {
            o.exclude.push(text?);
            Ok(())
        })
    }
}

/// An interface argument: its text, checked to be a name or an address.
///
/// SAFETY (for callers): `text` is NULL or NUL-terminated.
unsafe fn selector_arg(text: *const c_char) -> Result<String, Failure> {
    // SAFETY: as this function's own guarantee.
    let text = unsafe { opt_str(text, "interface") }?
        .ok_or_else(|| fail(SP2P_ERR_NULL, "interface is NULL"))?;
    check_selector(text)?;
    Ok(text.to_owned())
}

/// Refuses what is neither an interface name nor an address, with the
/// message Rust and the CLI give.
fn check_selector(text: &str) -> Result<(), Failure> {
    Config::default()
        .interfaces([text])
        .selectors()
        .map(drop)
        .map_err(|e| fail(SP2P_ERR_ARG, e.to_string()))
}

/// Adds `text` to `list`, refusing more than can be served.
fn add_selector(list: &mut Vec<String>, text: String) -> Result<(), Failure> {
    if list.len() >= crate::MAX_INTERFACES {
        let most = crate::MAX_INTERFACES;
        return Err(fail(SP2P_ERR_ARG, format!("at most {most} interfaces: add fewer")));
    }
    list.push(text);
    Ok(())
}

/// Adds a key from its 32 bytes.
///
/// # Safety
/// As `sp2p_options_free`; `key` is NULL or points to 32 readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_options_add_key(options: *mut COptions, key: *const u8) -> c_int {
    let add = |o: &mut COptions| {
        // SAFETY: NULL or 32 readable bytes, as the caller guarantees.
        let bytes = unsafe { key.cast::<[u8; 32]>().as_ref() }
            .ok_or_else(|| fail(SP2P_ERR_NULL, "key is NULL"))?;
        add_key(o, CKey::Inline(Key::from_bytes(*bytes)))
    };
    // SAFETY: the caller's guarantee is set_option's.
    unsafe { set_option(options, add) }
}

/// Writes a fresh key to `out` as 64 lowercase hex digits and a NUL.
///
/// # Safety
/// `out` is NULL or points to 65 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_keygen(out: *mut c_char) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(SP2P_ERR_NULL, "out is NULL"));
        }
        let hex = Key::generate()?.to_hex();
        // SAFETY: `out` has 65 writable bytes, as the caller guarantees.
        let field = unsafe { &mut *out.cast::<[c_char; 65]>() };
        put_str(field, &hex);
        Ok(SP2P_OK)
    })
}

/// The counters' names as C strings, in `Stats::named` order.
fn stat_names() -> &'static [CString] {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let names = Stats::default().named().map(|(name, _)| name);
        names.iter().map(|&n| CString::new(n).unwrap_or_default()).collect()
    })
}

/// The name of counter `index` (from 0), or NULL past the last: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_stat_name(index: usize) -> *const c_char {
    stat_names().get(index).map_or(std::ptr::null(), |n| n.as_ptr())
}

/// Writes the peer's counter `name` (as `sp2p_stat_name` gives) to `*value`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `value` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_stat(
    handle: *const PeerHandle,
    name: *const c_char,
    value: *mut u64,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: NULL or NUL-terminated, as the caller guarantees.
        let name =
            unsafe { opt_str(name, "name") }?.ok_or_else(|| fail(SP2P_ERR_NULL, "name is NULL"))?;
        // SAFETY: NULL or writable, as the caller guarantees.
        let value =
            unsafe { value.as_mut() }.ok_or_else(|| fail(SP2P_ERR_NULL, "value is NULL"))?;
        let stats = p.peer.stats().named();
        let found = stats.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            fail(SP2P_ERR_ARG, format!("no counter is named {name:?}: see sp2p_stat_name"))
        })?;
        *value = found.1;
        Ok(SP2P_OK)
    })
}

/// Closes the peer behind `handle` and forgets the handle: later calls with
/// it return `SP2P_ERR_CLOSED`. A call in flight in another thread ends
/// with `SP2P_ERR_CLOSED`; the peer is freed when the last such call
/// returns. NULL, and a handle already closed, are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_close(handle: *mut PeerHandle) {
    guard(|| {
        let removed = lock(&HANDLES).remove(&handle.addr());
        if let Some(p) = removed {
            // Before the drop: another thread may hold the peer, and its
            // blocked call must end now.
            p.peer.close();
            // Outside the table's lock: the last reference joins the peer's threads.
            drop(p);
        }
        Ok(SP2P_OK)
    });
}

/// Discovers the peers: returns how many answered (and remembers them as
/// the targets of `sp2p_send`), or a negative error. `expect` <= 0 means
/// "until the quiet window or the timeout".
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_discover(
    handle: *const PeerHandle,
    expect: c_int,
    timeout_ms: u32,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let expect = usize::try_from(expect).ok().filter(|&n| n > 0);
        let found = p.peer.discover_within(expect, Duration::from_millis(timeout_ms.into()))?;
        Ok(c_int::try_from(found.len()).unwrap_or(c_int::MAX))
    })
}

/// Writes up to `cap` of the peers the last discovery found (less those
/// that left) to `out`; returns how many there are in all.
///
/// # Safety
/// `out` is NULL with `cap` 0, or points to `cap` writable `sp2p_peer_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_peers(
    handle: *const PeerHandle,
    out: *mut CPeerInfo,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &p.peer.known_peers()) }
    })
}

/// Sends `len` bytes to the peers of the last discovery and waits at most
/// `timeout_ms` for their acknowledgements. Returns how many acknowledged;
/// `*targeted` (if not NULL) gets how many were sent to.
///
/// # Safety
/// `data` points to `len` readable bytes (or is NULL with `len` 0);
/// `targeted` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_send(
    handle: *const PeerHandle,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
    targeted: *mut usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(fail(SP2P_ERR_NULL, "data is NULL but len is not 0"));
        } else {
            // SAFETY: `data` points to `len` readable bytes, as the caller guarantees.
            unsafe { std::slice::from_raw_parts(data, len) }
        };
        let report = p.peer.send_within(bytes, Duration::from_millis(timeout_ms.into()))?;
        // SAFETY: NULL or writable, as the caller guarantees.
        if let Some(t) = unsafe { targeted.as_mut() } {
            *t = report.acked.len() + report.missing.len();
        }
        let acked = c_int::try_from(report.acked.len()).unwrap_or(c_int::MAX);
        *lock(&p.missing) = report.missing;
        *lock(&p.acked) = report.acked;
        Ok(acked)
    })
}

/// Writes up to `cap` of the peers that did not acknowledge the last
/// `sp2p_send` to `out`; returns how many there are in all.
///
/// # Safety
/// As `sp2p_peers`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_missing(
    handle: *const PeerHandle,
    out: *mut CPeerInfo,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let missing = lock(&p.missing).clone();
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &missing) }
    })
}

/// Writes up to `cap` of the peers that acknowledged the last `sp2p_send`
/// to `out`; returns how many there are in all. (The send may have
/// discovered its targets itself, so they need not be those of
/// `sp2p_peers`.)
///
/// # Safety
/// As `sp2p_peers`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_acked(
    handle: *const PeerHandle,
    out: *mut CPeerInfo,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let acked = lock(&p.acked).clone();
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &acked) }
    })
}

/// `sp2p_peers` with room for any address.
///
/// # Safety
/// `out` is NULL with `cap` 0, or points to `cap` writable `sp2p_peer_info_wide`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_peers_wide(
    handle: *const PeerHandle,
    out: *mut CPeerInfoWide,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &p.peer.known_peers()) }
    })
}

/// `sp2p_missing` with room for any address.
///
/// # Safety
/// As `sp2p_peers_wide`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_missing_wide(
    handle: *const PeerHandle,
    out: *mut CPeerInfoWide,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let missing = lock(&p.missing).clone();
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &missing) }
    })
}

/// `sp2p_acked` with room for any address.
///
/// # Safety
/// As `sp2p_peers_wide`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_acked_wide(
    handle: *const PeerHandle,
    out: *mut CPeerInfoWide,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        let acked = lock(&p.acked).clone();
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_peers(out, cap, &acked) }
    })
}

/// Waits at most `timeout_ms` (negative: forever) for the next message.
/// Returns 1 with the message in `buf` and its sender in `*meta`, 0 on
/// timeout, or a negative error. A message longer than `cap` gives
/// `SP2P_ERR_SHORT_BUFFER` with `meta->len` set, and is kept for the next
/// call. Several threads may wait at once: a kept message is taken first,
/// under a lock held only for that, and then each waits on the peer itself.
///
/// # Safety
/// `buf` points to `cap` writable bytes (or is NULL with `cap` 0); `meta`
/// points to a writable `sp2p_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_recv(
    handle: *const PeerHandle,
    timeout_ms: i32,
    buf: *mut u8,
    cap: usize,
    meta: *mut CMessage,
) -> c_int {
    // SAFETY: the caller's guarantees are recv_into's.
    unsafe { recv_into(handle, timeout_ms, buf, cap, meta) }
}

/// `sp2p_recv` with room for any address in `*meta`.
///
/// # Safety
/// As `sp2p_recv`, with `meta` a writable `sp2p_message_wide`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_recv_wide(
    handle: *const PeerHandle,
    timeout_ms: i32,
    buf: *mut u8,
    cap: usize,
    meta: *mut CMessageWide,
) -> c_int {
    // SAFETY: the caller's guarantees are recv_into's.
    unsafe { recv_into(handle, timeout_ms, buf, cap, meta) }
}

impl<const A: usize> CMessageOf<A> {
    fn fill(&mut self, m: &Message) {
        put_str(&mut self.sender, &m.sender.to_string());
        put_whole(&mut self.address, &m.addr.to_string());
        put_str(&mut self.name, &m.name);
        self.len = m.data.len();
    }
}

/// `sp2p_recv` and `sp2p_recv_wide`.
///
/// SAFETY (for callers): `buf` points to `cap` writable bytes (or is NULL
/// with `cap` 0); `meta` is NULL or points to a writable `CMessageOf<A>`.
unsafe fn recv_into<const A: usize>(
    handle: *const PeerHandle,
    timeout_ms: i32,
    buf: *mut u8,
    cap: usize,
    meta: *mut CMessageOf<A>,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: NULL or writable, as the caller guarantees.
        let meta = unsafe { meta.as_mut() }.ok_or_else(|| fail(SP2P_ERR_NULL, "meta is NULL"))?;
        if buf.is_null() && cap > 0 {
            return Err(fail(SP2P_ERR_NULL, "buf is NULL but cap is not 0"));
        }
        // The lock is a temporary: released before any wait below.
        let kept = lock(&p.kept).pop_front();
        let was_kept = kept.is_some();
        let msg = match kept {
            Some(m) => m,
            None => {
                let got = match u64::try_from(timeout_ms) {
                    Ok(ms) => p.peer.recv_timeout(Duration::from_millis(ms))?,
                    Err(_) => Some(p.peer.recv()?),
                };
                match got {
                    Some(m) => m,
                    None => return Ok(0),
                }
            }
        };
        meta.fill(&msg);
        if msg.data.len() > cap {
            let error = format!(
                "message of {} bytes does not fit the {cap}-byte buffer: it is kept, call again with a larger one",
                msg.data.len()
            );
            // Back where it was: ahead of newer ones if it had been kept, else last.
            lock(&p.kept).push(msg, was_kept);
            return Err(fail(SP2P_ERR_SHORT_BUFFER, error));
        }
        if !msg.data.is_empty() {
            // SAFETY: `buf` has `cap` >= len writable bytes (checked above).
            let out = unsafe { std::slice::from_raw_parts_mut(buf, msg.data.len()) };
            out.copy_from_slice(&msg.data);
        }
        Ok(1)
    })
}

fn fill_member(out: &mut CMember, m: &Member) {
    put_str(&mut out.id, &m.id.to_string());
    put_whole(&mut out.address, &m.addr.to_string());
    put_str(&mut out.name, &m.name);
    out.first_heard_ms = unix_ms(m.first_heard);
    out.last_heard_ms = unix_ms(m.last_heard);
    let heartbeat = m.heartbeat.map_or(0, |h| h.as_millis());
    out.heartbeat_ms = u32::try_from(heartbeat).unwrap_or(u32::MAX);
    out.suspected = m.suspected.into();
}

/// Writes up to `cap` members of the live table to `out`; returns how
/// many there are in all.
///
/// # Safety
/// `out` is NULL with `cap` 0, or points to `cap` writable `sp2p_member`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_members(
    handle: *const PeerHandle,
    out: *mut CMember,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_all(out, cap, &p.peer.members(), fill_member) }
    })
}

/// Writes up to `cap` addresses of the member `id` to `out`, its
/// `sp2p_member.address` first; returns how many it has (at most
/// `SP2P_MAX_MEMBER_ADDRS`), 0 if the live table has no member `id`.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out` is NULL with `cap` 0, or points
/// to `cap` writable `char[SP2P_ADDRESS_LEN]`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_member_addresses(
    handle: *const PeerHandle,
    id: *const c_char,
    out: *mut [c_char; SP2P_ADDRESS_LEN],
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: NULL or NUL-terminated, as the caller guarantees.
        let text =
            unsafe { opt_str(id, "id") }?.ok_or_else(|| fail(SP2P_ERR_NULL, "id is NULL"))?;
        let id: Uuid = text.parse().map_err(|_| {
            fail(
                SP2P_ERR_ARG,
                format!("id {text:?} is not a UUID: pass a member's id as sp2p_members gives it"),
            )
        })?;
        let addrs = p.peer.member(id).map_or(Vec::new(), |m| m.addrs);
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_all(out, cap, member_addrs(&addrs), put_addr) }
    })
}

/// A member's addresses as C gets them: at most `SP2P_MAX_MEMBER_ADDRS`,
/// the cap the header promises whatever the table holds.
fn member_addrs(addrs: &[SocketAddr]) -> &[SocketAddr] {
    &addrs[..addrs.len().min(MAX_MEMBER_ADDRS)]
}

/// An address's text in a wide field (room for any).
fn put_addr(field: &mut [c_char; SP2P_ADDRESS_LEN], addr: &SocketAddr) {
    put_whole(field, &addr.to_string());
}

fn fill_interface(out: &mut CInterface, i: &InterfaceInfo) {
    *out = CInterface::EMPTY;
    put_whole(&mut out.name, &i.name);
    out.index = i.index;
    if let Some(a) = i.ipv4 {
        put_whole(&mut out.ipv4, &a.to_string());
    }
    if let Some(a) = i.ipv6 {
        put_whole(&mut out.ipv6, &a.to_string());
    }
}

/// Writes up to `cap` of the interfaces the peer serves now to `out`;
/// returns how many there are in all (at most `SP2P_MAX_INTERFACES`).
///
/// # Safety
/// `out` is NULL with `cap` 0, or points to `cap` writable `sp2p_interface`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_interfaces(
    handle: *const PeerHandle,
    out: *mut CInterface,
    cap: usize,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: `out` and `cap` as the caller guarantees.
        unsafe { write_all(out, cap, &p.peer.interfaces(), fill_interface) }
    })
}

fn fill_event(out: &mut CEvent, e: &MemberEvent) {
    *out = CEvent { kind: 0, member: CMember::EMPTY, time_ms: 0, lagged: 0 };
    let (kind, at) = match e {
        MemberEvent::Joined(_, at) => (SP2P_EVENT_JOINED, *at),
        MemberEvent::Left(_, at) => (SP2P_EVENT_LEFT, *at),
        MemberEvent::Lost(_, at) => (SP2P_EVENT_LOST, *at),
        MemberEvent::Suspected(_, at) => (SP2P_EVENT_SUSPECTED, *at),
        MemberEvent::Alive(_, at) => (SP2P_EVENT_ALIVE, *at),
        MemberEvent::Updated(_, at) => (SP2P_EVENT_UPDATED, *at),
        MemberEvent::Lagged(n) => {
            out.lagged = *n;
            (SP2P_EVENT_LAGGED, std::time::SystemTime::now())
        }
    };
    out.kind = kind;
    out.time_ms = unix_ms(at);
    if let Some(m) = e.member() {
        fill_member(&mut out.member, m);
    }
}

/// Waits at most `timeout_ms` (negative: forever) for the handle's next
/// member event. Returns 1 with it in `*out`, 0 on timeout, or a negative
/// error: `SP2P_ERR_CLOSED` once the peer is closed and every event read.
///
/// # Safety
/// `out` points to a writable `sp2p_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp2p_next_event(
    handle: *const PeerHandle,
    timeout_ms: i32,
    out: *mut CEvent,
) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // SAFETY: NULL or writable, as the caller guarantees.
        let out = unsafe { out.as_mut() }.ok_or_else(|| fail(SP2P_ERR_NULL, "out is NULL"))?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        match p.events.next_timeout(timeout) {
            Some(e) => {
                fill_event(out, &e);
                Ok(1)
            }
            None if p.events.is_closed() => Err(Error::Closed.into()),
            None => Ok(0),
        }
    })
}

/// A file descriptor readable exactly while a message (for `sp2p_recv`)
/// or a member event (for `sp2p_next_event`) waits, and for good once the
/// peer is closed. The peer owns it.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_fd(handle: *const PeerHandle) -> c_int {
    guard(|| {
        let p = peer_of(handle)?;
        // One bell for the messages, the handle's events and a kept message.
        let bell = p.peer.bell()?;
        p.events.share_bell(bell);
        lock(&p.kept).light.attach(bell);
        Ok(bell.fd().as_raw_fd())
    })
}

/// The message of the last failure in this thread ("" if none). Valid until
/// the next failing call in this thread.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// The library's version, e.g. "0.1.0"; a static string.
#[unsafe(no_mangle)]
pub extern "C" fn sp2p_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    /// How long a test waits for what must happen before calling it a hang:
    /// far longer than anything takes on a busy machine.
    const HANG: Duration = Duration::from_secs(60);

    fn last_error() -> String {
        // SAFETY: sp2p_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(sp2p_last_error()) }.to_string_lossy().into_owned()
    }

    /// A handle from its number, as another thread gets it (pointers are not Send).
    fn handle(id: usize) -> *mut PeerHandle {
        std::ptr::without_provenance_mut(id)
    }

    fn open_named(port: u16, name: &CStr, options: *const COptions) -> *mut PeerHandle {
        let config = CConfig {
            group: std::ptr::null(),
            port,
            interface: c"127.0.0.1".as_ptr(),
            ttl: 0,
            name: name.as_ptr(),
        };
        let mut peer = std::ptr::null_mut();
        // SAFETY: valid config, options NULL or live, and out pointer.
        let rc = unsafe { sp2p_open_with(&config, options, &mut peer) };
        assert_eq!(rc, SP2P_OK, "{}", last_error());
        peer
    }

    fn open_loopback(port: u16) -> *mut PeerHandle {
        open_named(port, c"ffi", std::ptr::null())
    }

    fn free_port() -> u16 {
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// `sp2p_recv` into a fresh buffer: the code and the bytes received.
    fn recv(peer: *const PeerHandle, timeout_ms: i32) -> (c_int, Vec<u8>) {
        let mut buf = [0u8; 64];
        // SAFETY: all-zero is a valid sp2p_message (arrays and a length).
        let mut meta: CMessage = unsafe { std::mem::zeroed() };
        // SAFETY: `buf` has `buf.len()` writable bytes; `meta` is writable.
        let rc = unsafe { sp2p_recv(peer, timeout_ms, buf.as_mut_ptr(), buf.len(), &mut meta) };
        let len = if rc == 1 { meta.len } else { 0 };
        (rc, buf[..len].to_vec())
    }

    /// `sp2p_send`: (acknowledged, targeted).
    fn send(peer: *const PeerHandle, data: &[u8], timeout_ms: u32) -> (c_int, usize) {
        let mut targeted = 0;
        // SAFETY: `data` has `data.len()` readable bytes; `targeted` is writable.
        let rc = unsafe { sp2p_send(peer, data.as_ptr(), data.len(), timeout_ms, &mut targeted) };
        (rc, targeted)
    }

    fn missing_names(peer: *const PeerHandle) -> Vec<String> {
        let mut out: [CPeerInfo; 8] =
            std::array::from_fn(|_| CPeerInfo { id: [0; 37], address: [0; 48], name: [0; 65] });
        // SAFETY: `out` has 8 writable elements.
        let n = unsafe { sp2p_missing(peer, out.as_mut_ptr(), out.len()) };
        assert!(n >= 0, "{}", last_error());
        let names = out.iter().take(usize::try_from(n).unwrap());
        // SAFETY: put_str NUL-terminates every field written.
        names.map(|p| unsafe { CStr::from_ptr(p.name.as_ptr()) }.to_str().unwrap().into()).collect()
    }

    #[test]
    fn null_pointers_are_errors_with_a_message() {
        // SAFETY: every pointer is either null or valid; null is what is tested.
        unsafe {
            assert_eq!(sp2p_open(std::ptr::null(), std::ptr::null_mut()), SP2P_ERR_NULL);
            assert_eq!(last_error(), "out is NULL");
            assert_eq!(sp2p_discover(std::ptr::null(), 0, 1), SP2P_ERR_NULL);
            assert_eq!(last_error(), "peer is NULL");
            assert_eq!(sp2p_peers(std::ptr::null(), std::ptr::null_mut(), 0), SP2P_ERR_NULL);
            assert_eq!(sp2p_options_set_ack_on_recv(std::ptr::null_mut(), 1), SP2P_ERR_NULL);
            assert_eq!(last_error(), "options is NULL");
            sp2p_options_free(std::ptr::null_mut());
            sp2p_close(std::ptr::null_mut());
        }
    }

    #[test]
    fn bad_config_strings_are_argument_errors() {
        let config = CConfig {
            group: c"nope".as_ptr(),
            port: free_port(),
            interface: c"127.0.0.1".as_ptr(),
            ttl: 0,
            name: std::ptr::null(),
        };
        let mut peer = std::ptr::null_mut();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { sp2p_open(&config, &mut peer) }, SP2P_ERR_ARG);
        assert!(peer.is_null());
        assert!(last_error().contains("not an IPv4 address"), "{}", last_error());
    }

    #[test]
    fn a_ttl_over_255_is_an_argument_error_that_says_the_range() {
        let config = CConfig {
            group: std::ptr::null(),
            port: free_port(),
            interface: c"127.0.0.1".as_ptr(),
            ttl: 256,
            name: std::ptr::null(),
        };
        let mut peer = std::ptr::null_mut();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { sp2p_open(&config, &mut peer) }, SP2P_ERR_ARG);
        assert!(peer.is_null());
        assert!(last_error().contains("pass 0 to 255"), "{}", last_error());
        // The same check, and the same words, for the option.
        let options = sp2p_options_new();
        // SAFETY: live options from sp2p_options_new, freed once.
        unsafe {
            assert_eq!(sp2p_options_set_ttl(options, 256), SP2P_ERR_ARG);
            assert!(last_error().contains("pass 0 to 255"), "{}", last_error());
            assert_eq!(sp2p_options_set_ttl(options, 0), SP2P_OK);
            sp2p_options_free(options);
        }
    }

    #[test]
    fn options_win_over_the_config_and_a_ttl_of_0_can_be_asked_for() {
        let config = CConfig {
            group: std::ptr::null(),
            port: 0,
            interface: std::ptr::null(),
            ttl: 0,
            name: std::ptr::null(),
        };
        let options = sp2p_options_new();
        // SAFETY: valid config; live options from sp2p_options_new, freed once.
        unsafe {
            let plain = config_of(&config, std::ptr::null()).unwrap();
            assert_eq!((plain.ttl, plain.ack_when), (1, crate::peer::AckWhen::Queued));
            assert_eq!(sp2p_options_set_ttl(options, 0), SP2P_OK);
            assert_eq!(sp2p_options_set_ack_on_recv(options, 1), SP2P_OK);
            let set = config_of(&config, options).unwrap();
            assert_eq!((set.ttl, set.ack_when), (0, crate::peer::AckWhen::Taken));
            sp2p_options_free(options);
        }
    }

    #[test]
    fn a_short_buffer_keeps_the_message_for_the_next_call() {
        let port = free_port();
        let a = open_loopback(port);
        let b = open_loopback(port);
        let data = b"twelve bytes";
        // SAFETY: live handles, valid buffers of the stated sizes.
        unsafe {
            assert_eq!(sp2p_discover(b, 1, 2000), 1);
            let mut targeted = 0usize;
            assert_eq!(sp2p_send(b, data.as_ptr(), data.len(), 2000, &mut targeted), 1);
            assert_eq!(targeted, 1);
            let mut meta: CMessage = std::mem::zeroed();
            let mut small = [0u8; 4];
            let rc = sp2p_recv(a, 2000, small.as_mut_ptr(), small.len(), &mut meta);
            assert_eq!(rc, SP2P_ERR_SHORT_BUFFER);
            assert_eq!(meta.len, data.len());
            assert!(last_error().contains("it is kept"));
            let mut big = [0u8; 64];
            assert_eq!(sp2p_recv(a, 0, big.as_mut_ptr(), big.len(), &mut meta), 1);
            assert_eq!(&big[..meta.len], data);
            assert_eq!(CStr::from_ptr(meta.name.as_ptr()).to_str().unwrap(), "ffi");
            assert_eq!(sp2p_recv(a, 0, big.as_mut_ptr(), big.len(), &mut meta), 0);
            assert_eq!(sp2p_missing(b, std::ptr::null_mut(), 0), 0);
        }
        sp2p_close(a);
        sp2p_close(b);
    }

    #[test]
    fn a_closed_or_unknown_handle_is_an_error_not_a_use_after_free() {
        let peer = open_loopback(free_port());
        sp2p_close(peer);
        assert_eq!(recv(peer, 0).0, SP2P_ERR_CLOSED);
        assert!(last_error().contains("was closed by sp2p_close"), "{}", last_error());
        assert_eq!(sp2p_discover(peer, 1, 1), SP2P_ERR_CLOSED);
        assert_eq!(send(peer, b"x", 1).0, SP2P_ERR_CLOSED);
        // SAFETY: NULL out with cap 0.
        unsafe {
            assert_eq!(sp2p_peers(peer, std::ptr::null_mut(), 0), SP2P_ERR_CLOSED);
            assert_eq!(sp2p_missing(peer, std::ptr::null_mut(), 0), SP2P_ERR_CLOSED);
        }
        // Closing twice does nothing.
        sp2p_close(peer);
        // A handle that no sp2p_open gave is refused the same way.
        let forged = handle(usize::MAX);
        assert_eq!(sp2p_discover(forged, 1, 1), SP2P_ERR_CLOSED);
        assert!(last_error().contains("is not one sp2p_open gave"), "{}", last_error());
        sp2p_close(forged);
    }

    #[test]
    fn a_timed_recv_returns_while_another_thread_blocks_and_close_ends_both() {
        let peer = open_loopback(free_port()).addr();
        let (entering, entered) = mpsc::channel();
        let (blocked_tx, blocked_rx) = mpsc::channel();
        thread::spawn(move || {
            entering.send(()).unwrap();
            let _ = blocked_tx.send((recv(handle(peer), -1).0, last_error()));
        });
        entered.recv().unwrap();
        // Ten timed receives on the same handle, in a thread of their own so
        // that a hang fails the test instead of stopping it. Over a second
        // in all: the other thread is surely blocked by the later ones.
        let (timed_tx, timed_rx) = mpsc::channel();
        thread::spawn(move || {
            let codes: Vec<c_int> = (0..10).map(|_| recv(handle(peer), 100).0).collect();
            let _ = timed_tx.send(codes);
        });
        let codes = timed_rx.recv_timeout(HANG).expect(
            "sp2p_recv(p, 100) did not return while another thread was in sp2p_recv(p, -1)",
        );
        assert_eq!(codes, [0; 10]);
        assert!(blocked_rx.try_recv().is_err(), "sp2p_recv(p, -1) returned with no message");
        // Closing the handle ends the blocked receive, with SP2P_ERR_CLOSED.
        sp2p_close(handle(peer));
        let (code, error) =
            blocked_rx.recv_timeout(HANG).expect("sp2p_close did not end sp2p_recv(p, -1)");
        assert_eq!(code, SP2P_ERR_CLOSED, "{error}");
    }

    #[test]
    fn with_ack_on_recv_a_message_is_acknowledged_only_once_recv_takes_it() {
        let port = free_port();
        let options = sp2p_options_new();
        // SAFETY: live options from sp2p_options_new, freed once below.
        assert_eq!(unsafe { sp2p_options_set_ack_on_recv(options, 1) }, SP2P_OK);
        let taker = open_named(port, c"taker", options);
        // SAFETY: as above; the peer keeps no reference to them.
        unsafe { sp2p_options_free(options) };
        let queuer = open_named(port, c"queuer", std::ptr::null());
        let sender = open_loopback(port);
        assert_eq!(sp2p_discover(sender, 2, 10_000), 2, "{}", last_error());

        // Nobody calls recv: the default peer acknowledges on arrival, the
        // taker not at all, however long the sender waits.
        assert_eq!(send(sender, b"first", 2000), (1, 2));
        assert_eq!(missing_names(sender), ["taker"]);

        // Once it takes that one, and while it waits for the next, the next
        // is acknowledged (the sender repeats it until it is).
        assert_eq!(recv(taker, 10_000), (1, b"first".to_vec()));
        let taker_id = taker.addr();
        let waiting = thread::spawn(move || recv(handle(taker_id), 60_000));
        assert_eq!(send(sender, b"second", 60_000), (2, 2), "{:?}", missing_names(sender));
        assert_eq!(waiting.join().unwrap(), (1, b"second".to_vec()));
        for p in [taker, queuer, sender] {
            sp2p_close(p);
        }
    }

    /// Polls `cond` until it holds, failing the test after [`HANG`].
    #[cfg_attr(not(feature = "crypto"), allow(dead_code))] // for the keyed tests
    fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + HANG;
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "not within {HANG:?}: {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A fresh key, as `sp2p_keygen` writes it.
    fn keygen() -> String {
        let mut out = [1 as c_char; 65];
        // SAFETY: 65 writable bytes.
        assert_eq!(unsafe { sp2p_keygen(out.as_mut_ptr()) }, SP2P_OK, "{}", last_error());
        // SAFETY: put_str NUL-terminates it.
        unsafe { CStr::from_ptr(out.as_ptr()) }.to_str().unwrap().to_owned()
    }

    /// A scratch directory of this test's own, removed when dropped.
    #[cfg_attr(not(feature = "crypto"), allow(dead_code))] // for the keyed tests
    struct TempDir(std::path::PathBuf);

    #[cfg_attr(not(feature = "crypto"), allow(dead_code))] // for the keyed tests
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("sp2p-ffi-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// Writes `text` to `name` with `mode`; the path as a C string.
        fn file(&self, name: &str, text: &str, mode: u32) -> CString {
            use std::os::unix::fs::PermissionsExt as _;
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            CString::new(path.into_os_string().into_encoded_bytes()).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn stat(peer: *const PeerHandle, name: &CStr) -> u64 {
        let mut value = u64::MAX;
        // SAFETY: NUL-terminated name, writable value.
        let rc = unsafe { sp2p_stat(peer, name.as_ptr(), &mut value) };
        assert_eq!(rc, SP2P_OK, "{}", last_error());
        value
    }

    /// Options holding the keys of `file`, or `key` in memory.
    #[cfg_attr(not(feature = "crypto"), allow(dead_code))] // for the keyed tests
    fn keyed(file: Option<&CStr>, key: Option<&Key>) -> *mut COptions {
        let options = sp2p_options_new();
        // SAFETY: live options; a NUL-terminated path; 32 readable bytes.
        unsafe {
            if let Some(f) = file {
                assert_eq!(
                    sp2p_options_add_key_file(options, f.as_ptr()),
                    SP2P_OK,
                    "{}",
                    last_error()
                );
            }
            if let Some(k) = key {
                assert_eq!(
                    sp2p_options_add_key(options, k.bytes().as_ptr()),
                    SP2P_OK,
                    "{}",
                    last_error()
                );
            }
        }
        options
    }

    #[test]
    fn keygen_writes_64_hex_digits_and_a_nul_and_never_the_same_twice() {
        let (a, b) = (keygen(), keygen());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
        // SAFETY: NULL is what is tested.
        assert_eq!(unsafe { sp2p_keygen(std::ptr::null_mut()) }, SP2P_ERR_NULL);
    }

    #[cfg(feature = "crypto")]
    #[test]
    fn keyed_peers_talk_and_one_with_another_key_is_told_nothing() {
        let dir = TempDir::new("round-trip");
        let hex = keygen();
        let file = dir.file("group.key", &format!("{hex}\n"), 0o600);
        let port = free_port();
        // One peer reads the key from its file, the other holds it in memory.
        let from_file = keyed(Some(&file), None);
        let a = open_named(port, c"a", from_file);
        let in_memory = keyed(None, Some(&hex.parse().unwrap()));
        let b = open_named(port, c"b", in_memory);
        let other = keyed(None, Some(&Key::generate().unwrap()));
        let stranger = open_named(port, c"stranger", other);
        for o in [from_file, in_memory, other] {
            // SAFETY: from sp2p_options_new, freed once; the peers copied them.
            unsafe { sp2p_options_free(o) };
        }

        // Until none new answered for the quiet window: only a.
        assert_eq!(sp2p_discover(b, 0, 10_000), 1, "{}", last_error());
        assert_eq!(send(b, b"sealed", 5000), (1, 1));
        assert_eq!(recv(a, 5000), (1, b"sealed".to_vec()));

        // The stranger finds nobody, gets nothing, and counts what it could not open.
        assert_eq!(sp2p_discover(stranger, 1, 300), 0, "{}", last_error());
        assert_eq!(recv(stranger, 0), (0, vec![]));
        eventually("the stranger counts b's probes", || stat(stranger, c"auth_failed") > 0);
        assert_eq!(stat(stranger, c"malformed"), 0);
        // Its probes reached the group, which dropped them unread.
        eventually("a counts the stranger's probes", || stat(a, c"auth_failed") > 0);
        for p in [a, b, stranger] {
            sp2p_close(p);
        }
    }

    #[cfg(feature = "crypto")]
    #[test]
    fn key_errors_are_key_codes_with_messages_that_hold_no_key() {
        let dir = TempDir::new("errors");
        let (k1, k2) = (keygen(), keygen());
        let open_to_all = dir.file("open.key", &format!("{k1}\n"), 0o644);
        let bad_line = dir.file("bad.key", &format!("# comment\n{k1}x\n"), 0o600);
        let two = dir.file("two.key", &format!("{k1}\n{k2}\n"), 0o600);
        let options = sp2p_options_new();
        // SAFETY: live options from sp2p_options_new, freed once; C strings and 32 bytes.
        unsafe {
            assert_eq!(sp2p_options_add_key_file(options, open_to_all.as_ptr()), SP2P_ERR_KEY);
            let error = last_error();
            assert!(error.contains("(mode 0644): run 'chmod 600'"), "{error}");
            assert_eq!(sp2p_options_add_key_file(options, bad_line.as_ptr()), SP2P_ERR_KEY);
            let error = last_error();
            assert!(error.contains("line 2 is not a key"), "{error}");
            assert_eq!(
                sp2p_options_add_key_file(options, c"/nonexistent/k".as_ptr()),
                SP2P_ERR_KEY
            );
            assert_eq!(sp2p_options_add_key_file(options, c"".as_ptr()), SP2P_ERR_ARG);
            assert_eq!(sp2p_options_add_key_file(options, std::ptr::null()), SP2P_ERR_NULL);
            assert_eq!(sp2p_options_add_key(options, std::ptr::null()), SP2P_ERR_NULL);
            // Two keys in a file, then a third: refused, and the two stay.
            assert_eq!(sp2p_options_add_key_file(options, two.as_ptr()), SP2P_OK);
            let third = Key::generate().unwrap();
            assert_eq!(sp2p_options_add_key(options, third.bytes().as_ptr()), SP2P_ERR_KEY);
            let error = last_error();
            assert!(error.contains("at most two"), "{error}");
            assert_eq!((*options).keys.len(), 1);
            for e in [error, format!("{options:?}")] {
                assert!(![&k1, &k2, &third.to_hex()].iter().any(|k| e.contains(k.as_str())), "{e}");
            }
            sp2p_options_free(options);
        }
        assert_eq!(code_of(&Error::LegacyWithKey), SP2P_ERR_KEY);
        assert_eq!(code_of(&Error::NoCrypto), SP2P_ERR_NO_CRYPTO);
    }

    #[cfg(not(feature = "crypto"))]
    #[test]
    fn without_the_crypto_feature_a_key_is_refused_naming_it() {
        let options = sp2p_options_new();
        // SAFETY: live options, freed once; 32 readable bytes.
        unsafe {
            assert_eq!(sp2p_options_add_key(options, [7u8; 32].as_ptr()), SP2P_ERR_NO_CRYPTO);
            assert!(last_error().contains("\"crypto\" feature"), "{}", last_error());
            sp2p_options_free(options);
        }
    }

    #[test]
    fn the_key_file_variable_applies_only_when_no_key_was_added() {
        let config = CConfig {
            group: std::ptr::null(),
            port: 0,
            interface: std::ptr::null(),
            ttl: 0,
            name: std::ptr::null(),
        };
        let env = || Some(OsString::from("/from/the/environment"));
        let options = sp2p_options_new();
        // SAFETY: valid config; live options, freed once.
        unsafe {
            // NULL options, and options with no key: the variable's file.
            assert!(config_with_env(&config, std::ptr::null(), env()).unwrap().has_key());
            assert!(config_with_env(&config, options, env()).unwrap().has_key());
            // Set but empty, or unset: no key.
            assert!(!config_with_env(&config, options, Some("".into())).unwrap().has_key());
            assert!(!config_with_env(&config, options, None).unwrap().has_key());
            // A key added: the variable is ignored.
            (*options).keys.push(CKey::Inline(Key::from_bytes([1; 32])));
            let cfg = config_with_env(&config, options, env()).unwrap();
            assert_eq!(format!("{:?}", cfg.keys), "[Inline(Key(..))]");
            sp2p_options_free(options);
        }
    }

    #[test]
    fn counters_are_read_by_name() {
        let peer = open_loopback(free_port());
        let mut names = Vec::new();
        while let Some(p) = Some(sp2p_stat_name(names.len())).filter(|p| !p.is_null()) {
            // SAFETY: a static NUL-terminated string.
            names.push(unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned());
        }
        assert_eq!(names.len(), Stats::COUNT);
        for name in
            ["datagrams_in", "auth_failed", "replayed", "stale", "key_reloads", "key_errors"]
        {
            assert!(names.iter().any(|n| n == name), "{name} is not in {names:?}");
        }
        assert_eq!(stat(peer, c"auth_failed"), 0);
        let mut value = 0;
        // SAFETY: NUL-terminated names, a writable value or NULL.
        unsafe {
            assert_eq!(sp2p_stat(peer, c"nope".as_ptr(), &mut value), SP2P_ERR_ARG);
            assert!(last_error().contains("no counter is named \"nope\""), "{}", last_error());
            assert_eq!(sp2p_stat(peer, c"stale".as_ptr(), std::ptr::null_mut()), SP2P_ERR_NULL);
        }
        sp2p_close(peer);
    }

    /// Whether `fd` becomes readable within `timeout_ms` (0: now).
    fn readable(fd: c_int, timeout_ms: c_int) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the length of the call.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        n == 1 && p.revents & libc::POLLIN != 0
    }

    fn hang_ms() -> i32 {
        i32::try_from(HANG.as_millis()).unwrap()
    }

    fn text(field: &[c_char]) -> String {
        // SAFETY: put_str NUL-terminates every field it writes.
        unsafe { CStr::from_ptr(field.as_ptr()) }.to_str().unwrap().to_owned()
    }

    /// `sp2p_next_event`: the code and the event.
    fn next_event(peer: *const PeerHandle, timeout_ms: i32) -> (c_int, CEvent) {
        let mut e = CEvent { kind: -1, member: CMember::EMPTY, time_ms: 1, lagged: 1 };
        // SAFETY: `e` is writable.
        let rc = unsafe { sp2p_next_event(peer, timeout_ms, &mut e) };
        (rc, e)
    }

    /// The next event that is not a suspicion or its refutation (which a
    /// loaded machine may cause), within [`HANG`].
    fn next_settled(peer: *const PeerHandle) -> CEvent {
        loop {
            let (rc, e) = next_event(peer, hang_ms());
            assert_eq!(rc, 1, "no event within {HANG:?}: {}", last_error());
            if ![SP2P_EVENT_SUSPECTED, SP2P_EVENT_ALIVE].contains(&e.kind) {
                return e;
            }
        }
    }

    fn members(peer: *const PeerHandle) -> Vec<CMember> {
        let mut out = [CMember::EMPTY; 8];
        // SAFETY: `out` has 8 writable elements.
        let n = unsafe { sp2p_members(peer, out.as_mut_ptr(), out.len()) };
        assert!(n >= 0, "{}", last_error());
        out[..usize::try_from(n).unwrap()].to_vec()
    }

    fn ids(peer: *const PeerHandle) -> String {
        let mut out = [CMember::EMPTY; 1];
        // SAFETY: `out` has 1 writable element.
        assert_eq!(unsafe { sp2p_members(peer, out.as_mut_ptr(), 1) }, 1, "{}", last_error());
        text(&out[0].id)
    }

    #[test]
    fn c_peers_see_each_other_join_and_leave_and_list_the_members() {
        let port = free_port();
        let options = sp2p_options_new();
        // SAFETY: live options, freed once below; the peer copied them.
        assert_eq!(unsafe { sp2p_options_set_heartbeat_ms(options, 250) }, SP2P_OK);
        let a = open_named(port, c"a", std::ptr::null());
        let b = open_named(port, c"b", options);
        // SAFETY: as above.
        unsafe { sp2p_options_free(options) };

        let joined = next_settled(a);
        assert_eq!(joined.kind, SP2P_EVENT_JOINED);
        assert_eq!((text(&joined.member.name), joined.lagged), ("b".into(), 0));
        let now = unix_ms(std::time::SystemTime::now());
        assert!(joined.time_ms <= now && now - joined.time_ms < 600_000, "{}", joined.time_ms);

        let listed = members(a);
        assert_eq!(listed.len(), 1);
        let b_member = listed[0];
        assert_eq!(text(&b_member.id), text(&joined.member.id));
        assert_eq!(text(&b_member.name), "b");
        assert!(text(&b_member.address).starts_with("127.0.0.1:"), "{}", text(&b_member.address));
        assert_eq!(b_member.heartbeat_ms, 250);
        assert!(b_member.first_heard_ms <= b_member.last_heard_ms);
        assert!(b_member.first_heard_ms >= joined.time_ms.saturating_sub(1000));
        // b learns of a too, with a's default heartbeat.
        eventually("b lists a", || members(b).iter().any(|m| text(&m.name) == "a"));
        assert_eq!(members(b)[0].heartbeat_ms, 1000);
        // With room for none, the count alone.
        // SAFETY: NULL out with cap 0.
        assert_eq!(unsafe { sp2p_members(a, std::ptr::null_mut(), 0) }, 1);

        let b_id = ids(a);
        sp2p_close(b);
        let left = next_settled(a);
        assert_eq!((left.kind, text(&left.member.id)), (SP2P_EVENT_LEFT, b_id));
        assert!(members(a).is_empty());
        assert_eq!(next_event(a, 0).0, 0, "nothing more");

        // A closed handle: an error, as for every call.
        sp2p_close(a);
        assert_eq!(next_event(a, 0).0, SP2P_ERR_CLOSED);
        assert_eq!(sp2p_fd(a), SP2P_ERR_CLOSED);
        // SAFETY: NULL out with cap 0.
        assert_eq!(unsafe { sp2p_members(a, std::ptr::null_mut(), 0) }, SP2P_ERR_CLOSED);
    }

    #[test]
    fn the_fd_is_readable_exactly_while_a_message_or_an_event_waits() {
        let port = free_port();
        let a = open_named(port, c"a", std::ptr::null());
        let fd = sp2p_fd(a);
        assert!(fd >= 0, "{}", last_error());
        assert_eq!(sp2p_fd(a), fd, "the same one every time");
        assert!(!readable(fd, 0), "nothing waits yet");

        // An event: b joins.
        let b = open_named(port, c"b", std::ptr::null());
        assert!(readable(fd, hang_ms()), "b's join did not make the fd readable");
        // Taking everything makes it unreadable; readable again only with
        // something to take (a loaded machine may bring a suspicion).
        let drain = || {
            while next_event(a, 0).0 == 1 || recv(a, 0).0 == 1 {}
            if readable(fd, 0) {
                assert!(next_event(a, 0).0 == 1 || recv(a, 0).0 == 1, "readable over nothing");
            }
        };
        drain();

        // A message.
        assert_eq!(sp2p_discover(b, 1, 10_000), 1, "{}", last_error());
        assert_eq!(send(b, b"a message longer than 8", 10_000), (1, 1));
        assert!(readable(fd, hang_ms()), "a message did not make the fd readable");
        // One that does not fit is kept, and keeps it readable.
        let mut small = [0u8; 8];
        // SAFETY: all-zero is a valid sp2p_message.
        let mut meta: CMessage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `small` has 8 writable bytes; `meta` is writable.
            let rc = unsafe { sp2p_recv(a, 0, small.as_mut_ptr(), small.len(), &mut meta) };
            if rc == SP2P_ERR_SHORT_BUFFER {
                break;
            }
            assert_eq!(rc, 1, "the message is neither kept nor taken: {}", last_error());
        }
        assert!(readable(fd, 0), "a kept message waits");
        assert_eq!(recv(a, 0), (1, b"a message longer than 8".to_vec()));
        drain();

        // b leaves: an event again.
        sp2p_close(b);
        assert!(readable(fd, hang_ms()), "b's goodbye did not make the fd readable");
        assert_eq!(next_settled(a).kind, SP2P_EVENT_LEFT);
        sp2p_close(a);
    }

    #[test]
    fn events_wait_block_and_end_with_closed_when_the_handle_closes() {
        let a = open_loopback(free_port()).addr();
        // SAFETY: NULL is what is tested.
        assert_eq!(unsafe { sp2p_next_event(handle(a), 0, std::ptr::null_mut()) }, SP2P_ERR_NULL);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(next_event(handle(a), -1).0);
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "returned with no event");
        sp2p_close(handle(a));
        let code = rx.recv_timeout(HANG).expect("sp2p_close did not end sp2p_next_event(p, -1)");
        assert_eq!(code, SP2P_ERR_CLOSED);
    }

    #[test]
    fn the_heartbeat_option_takes_0_for_off_and_refuses_out_of_range() {
        let options = sp2p_options_new();
        let config = CConfig {
            group: std::ptr::null(),
            port: 0,
            interface: std::ptr::null(),
            ttl: 0,
            name: std::ptr::null(),
        };
        // SAFETY: live options, freed once; a valid config.
        unsafe {
            assert_eq!(
                config_of(&config, options).unwrap().heartbeat,
                Some(Duration::from_secs(1))
            );
            assert_eq!(sp2p_options_set_heartbeat_ms(options, 9), SP2P_ERR_ARG);
            assert!(last_error().contains("pass 10 to 3600000 ms"), "{}", last_error());
            assert_eq!(sp2p_options_set_heartbeat_ms(options, 3_600_001), SP2P_ERR_ARG);
            assert_eq!(sp2p_options_set_heartbeat_ms(options, 0), SP2P_OK);
            assert_eq!(config_of(&config, options).unwrap().heartbeat, None);
            assert_eq!(sp2p_options_set_heartbeat_ms(options, 10), SP2P_OK);
            let set = config_of(&config, options).unwrap().heartbeat;
            assert_eq!(set, Some(Duration::from_millis(10)));
            assert_eq!(sp2p_options_set_heartbeat_ms(std::ptr::null_mut(), 10), SP2P_ERR_NULL);
            sp2p_options_free(options);
        }
    }

    #[test]
    fn interfaces_by_name_or_address_from_the_config_and_the_options() {
        let options = sp2p_options_new();
        let mut config = CConfig {
            group: std::ptr::null(),
            port: free_port(),
            interface: c"lo".as_ptr(),
            ttl: 0,
            name: std::ptr::null(),
        };
        // SAFETY: live options, freed once; a valid config with live strings.
        unsafe {
            assert_eq!(config_of(&config, options).unwrap().interface_list(), ["lo"]);
            assert_eq!(sp2p_options_add_interface(options, c"127.0.0.1".as_ptr()), SP2P_OK);
            assert_eq!(sp2p_options_exclude_interface(options, c"eth9".as_ptr()), SP2P_OK);
            let cfg = config_of(&config, options).unwrap();
            assert_eq!(cfg.interface_list(), ["lo", "127.0.0.1"]);
            assert_eq!(sp2p_options_add_interface(options, c"lo/1".as_ptr()), SP2P_ERR_ARG);
            assert!(last_error().contains("neither an interface name nor an address"));
            assert_eq!(sp2p_options_add_interface(options, std::ptr::null()), SP2P_ERR_NULL);
            // One that is not on this host fails at open, naming those that are.
            config.interface = c"sp2p-none0".as_ptr();
            let mut peer = std::ptr::null_mut();
            assert_eq!(sp2p_open_with(&config, std::ptr::null(), &mut peer), SP2P_ERR_SETUP);
            assert!(last_error().starts_with("no interface named 'sp2p-none0'; this host has: "));
            sp2p_options_free(options);
        }
    }

    #[test]
    fn the_member_and_event_layouts_are_the_headers() {
        // tests/c/members.c checks the same numbers on the C side.
        assert_eq!(std::mem::size_of::<CMember>(), 200);
        assert_eq!(std::mem::offset_of!(CMember, first_heard_ms), 176);
        assert_eq!(std::mem::offset_of!(CMember, suspected), 196);
        assert_eq!(std::mem::size_of::<CEvent>(), 224);
        assert_eq!(std::mem::offset_of!(CEvent, member), 8);
        assert_eq!(std::mem::offset_of!(CEvent, lagged), 216);
        // Frozen since the first header.
        assert_eq!(std::mem::size_of::<CPeerInfo>(), 150);
        assert_eq!(std::mem::size_of::<CMessage>(), 160);
        assert_eq!(std::mem::offset_of!(CMessage, len), 152);
        // The wide twins and the interface, as tests/c/members.c checks them.
        assert_eq!(std::mem::size_of::<CPeerInfoWide>(), 174);
        assert_eq!(std::mem::offset_of!(CPeerInfoWide, name), 109);
        assert_eq!(std::mem::size_of::<CMessageWide>(), 184);
        assert_eq!(std::mem::offset_of!(CMessageWide, len), 176);
        assert_eq!(std::mem::size_of::<CInterface>(), 132);
        assert_eq!(std::mem::offset_of!(CInterface, index), 64);
        assert_eq!(std::mem::offset_of!(CInterface, ipv4), 68);
        assert_eq!(std::mem::offset_of!(CInterface, ipv6), 84);
    }

    /// The header's `#define NAME VALUE`, as a number.
    fn header_define(name: &str) -> i64 {
        const HEADER: &str = include_str!("../bindings/c/simplep2p.h");
        let line = HEADER
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["#define", name]))
            .unwrap_or_else(|| panic!("simplep2p.h does not #define {name}"));
        let value = line.split_whitespace().nth(2).unwrap();
        value.trim_matches(|c| c == '(' || c == ')').parse().unwrap()
    }

    #[test]
    fn the_headers_constants_are_the_librarys() {
        for (name, value) in [
            ("SP2P_ADDRESS_LEN", SP2P_ADDRESS_LEN as i64),
            ("SP2P_MAX_MEMBER_ADDRS", MAX_MEMBER_ADDRS as i64),
            ("SP2P_MAX_INTERFACES", crate::MAX_INTERFACES as i64),
            ("SP2P_MAX_MESSAGE", crate::wire::MAX_MESSAGE as i64),
            ("SP2P_FAMILY_BOTH", SP2P_FAMILY_BOTH.into()),
            ("SP2P_FAMILY_IPV4", SP2P_FAMILY_IPV4.into()),
            ("SP2P_FAMILY_IPV6", SP2P_FAMILY_IPV6.into()),
            ("SP2P_ERR_ARG", SP2P_ERR_ARG.into()),
            ("SP2P_ERR_SETUP", SP2P_ERR_SETUP.into()),
            ("SP2P_ERR_NO_CRYPTO", SP2P_ERR_NO_CRYPTO.into()),
        ] {
            assert_eq!(header_define(name), value, "{name}");
        }
    }

    #[test]
    fn long_text_is_cut_to_fit_and_terminated() {
        let mut field = [1 as c_char; 5];
        put_str(&mut field, "abcdefgh");
        assert_eq!(field.map(|c| c as u8), *b"abcd\0");
        put_str(&mut field, "é✓"); // cut at a character boundary
        assert_eq!(field[..3].iter().map(|&c| c as u8).collect::<Vec<_>>(), "é\0".as_bytes());
    }
    #[test]
    fn an_address_that_does_not_fit_is_left_empty_never_cut() {
        let mut narrow = [1 as c_char; 48];
        assert!(put_whole(&mut narrow, "127.0.0.1:30001"));
        assert_eq!(text(&narrow), "127.0.0.1:30001");
        assert!(!put_whole(&mut narrow, &"x".repeat(48)));
        assert_eq!(text(&narrow), "");
        assert!(put_whole(&mut narrow, &"x".repeat(47)));
    }

    /// A made-up peer at `addr`: loopback has no IPv6 multicast, so IPv6
    /// text is tested here rather than with live peers.
    fn at(addr: &str) -> PeerInfo {
        PeerInfo { id: Uuid::from_u128(7), addr: addr.parse().unwrap(), name: "v6".into() }
    }

    #[test]
    fn ipv6_addresses_are_written_whole_wide_and_narrow_only_when_they_fit() {
        // Link-local with its scope, and the longest text there is.
        let short = "[fe80::1%3]:4000";
        let longest = "[febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
        assert_eq!(at(longest).addr.to_string(), longest, "Rust's own text");
        assert!(longest.len() < SP2P_ADDRESS_LEN);
        // SAFETY: integers and arrays.
        let mut wide: CPeerInfoWide = unsafe { zeroed() };
        // SAFETY: integers and arrays.
        let mut narrow: CPeerInfo = unsafe { zeroed() };
        for addr in [short, longest] {
            wide.fill(&at(addr));
            assert_eq!((text(&wide.address), text(&wide.name)), (addr.into(), "v6".into()));
            narrow.fill(&at(addr));
            let expected = if addr.len() < 48 { addr } else { "" };
            assert_eq!(text(&narrow.address), expected);
            assert_eq!(text(&narrow.id), Uuid::from_u128(7).to_string());
        }
        // Messages, narrow and wide, the same way.
        let message = Message {
            sender: Uuid::from_u128(7),
            addr: longest.parse().unwrap(),
            name: "v6".into(),
            data: b"hi".to_vec(),
            sent_at: None,
            deadline: None,
            received_at: std::time::SystemTime::now(),
        };
        // SAFETY: integers and arrays.
        let mut meta: CMessage = unsafe { zeroed() };
        meta.fill(&message);
        assert_eq!((text(&meta.address), meta.len), (String::new(), 2));
        // SAFETY: integers and arrays.
        let mut meta: CMessageWide = unsafe { zeroed() };
        meta.fill(&message);
        assert_eq!((text(&meta.address), meta.len), (longest.into(), 2));
        // A member's list, and an interface's IPv6 address (no zone: the index is it).
        let mut slots = [[1 as c_char; SP2P_ADDRESS_LEN]; 2];
        let addrs = [longest.parse().unwrap(), "192.0.2.7:30001".parse().unwrap()];
        // SAFETY: `slots` has 2 writable elements.
        let n = unsafe { write_all(slots.as_mut_ptr(), 2, member_addrs(&addrs), put_addr) };
        assert_eq!(n, Ok(2));
        assert_eq!([text(&slots[0]), text(&slots[1])], [longest, "192.0.2.7:30001"]);
        let mut interface = CInterface::EMPTY;
        fill_interface(
            &mut interface,
            &InterfaceInfo {
                name: "eth0".into(),
                index: 3,
                ipv4: None,
                ipv6: Some("fe80::1:2:3:4".parse().unwrap()),
            },
        );
        assert_eq!((text(&interface.name), interface.index), ("eth0".into(), 3));
        assert_eq!(
            (text(&interface.ipv4), text(&interface.ipv6)),
            ("".into(), "fe80::1:2:3:4".into())
        );
        let widest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        fill_interface(
            &mut interface,
            &InterfaceInfo {
                name: "x".repeat(63),
                index: 1,
                ipv4: Some(Ipv4Addr::new(255, 255, 255, 255)),
                ipv6: Some(widest.parse().unwrap()),
            },
        );
        assert_eq!(text(&interface.ipv4), "255.255.255.255");
        assert_eq!((text(&interface.ipv6), text(&interface.name).len()), (widest.into(), 63));
    }

    /// A zeroed C struct of the ABI, or an array of them.
    ///
    /// SAFETY (for callers): `T` is made of integers and arrays of them,
    /// for which all-zero is valid.
    unsafe fn zeroed<T>() -> T {
        // SAFETY: as this function's own guarantee.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn family_and_group6_options_are_set_checked_and_refused_with_the_librarys_message() {
        let config = CConfig {
            group: std::ptr::null(),
            port: free_port(),
            interface: c"127.0.0.1".as_ptr(),
            ttl: 0,
            name: std::ptr::null(),
        };
        let options = sp2p_options_new();
        // SAFETY: live options, freed once; a valid config with live strings.
        unsafe {
            let cfg = config_of(&config, options).unwrap();
            assert_eq!((cfg.family, cfg.group6), (Family::Both, crate::DEFAULT_GROUP6));
            for (value, family) in [
                (SP2P_FAMILY_IPV4, Family::V4Only),
                (SP2P_FAMILY_IPV6, Family::V6Only),
                (SP2P_FAMILY_BOTH, Family::Both),
            ] {
                assert_eq!(sp2p_options_set_family(options, value), SP2P_OK);
                assert_eq!(config_of(&config, options).unwrap().family, family);
            }
            for bad in [1, 5, -1, 46] {
                assert_eq!(sp2p_options_set_family(options, bad), SP2P_ERR_ARG);
                assert!(last_error().starts_with(&format!("family {bad} is not one of")));
            }
            assert!(last_error().contains("SP2P_FAMILY_IPV6 (6)"), "{}", last_error());
            assert_eq!(sp2p_options_set_family(std::ptr::null_mut(), 0), SP2P_ERR_NULL);

            assert_eq!(sp2p_options_set_group6(options, c"ff12::1234".as_ptr()), SP2P_OK);
            let group6 = config_of(&config, options).unwrap().group6;
            assert_eq!(group6, "ff12::1234".parse::<Ipv6Addr>().unwrap());
            // The library's message, as the CLI gives it.
            let wrong_scope = Error::BadGroup6("ff05::1".parse().unwrap()).to_string();
            assert_eq!(sp2p_options_set_group6(options, c"ff05::1".as_ptr()), SP2P_ERR_ARG);
            assert_eq!(last_error(), wrong_scope);
            assert_eq!(sp2p_options_set_group6(options, c"239.255.0.1".as_ptr()), SP2P_ERR_ARG);
            assert!(last_error().contains("is not an IPv6 address: pass one in ffX2::/16"));
            assert_eq!(sp2p_options_set_group6(options, c"ff02::114%lo".as_ptr()), SP2P_ERR_ARG);
            assert_eq!(sp2p_options_set_group6(options, std::ptr::null()), SP2P_ERR_NULL);
            assert_eq!(last_error(), "group6 is NULL");
            // Refused values changed nothing.
            assert_eq!(config_of(&config, options).unwrap().group6, group6);

            // IPv4 only on loopback opens; IPv6 only cannot (no IPv6
            // multicast on lo), and says so at open. Nothing leaves the host.
            assert_eq!(sp2p_options_set_family(options, SP2P_FAMILY_IPV4), SP2P_OK);
            let mut peer = std::ptr::null_mut();
            assert_eq!(sp2p_open_with(&config, options, &mut peer), SP2P_OK, "{}", last_error());
            sp2p_close(peer);
            assert_eq!(sp2p_options_set_family(options, SP2P_FAMILY_IPV6), SP2P_OK);
            assert_eq!(sp2p_open_with(&config, options, &mut peer), SP2P_ERR_SETUP);
            assert!(last_error().contains("IPv6"), "{}", last_error());
            sp2p_options_free(options);
        }
    }

    #[test]
    fn a_loopback_peer_serves_lo_over_ipv4_alone() {
        let peer = open_loopback(free_port());
        let mut out = [CInterface::EMPTY; 4];
        // SAFETY: `out` has 4 writable elements; NULL with cap 0 or 1.
        unsafe {
            assert_eq!(sp2p_interfaces(peer, out.as_mut_ptr(), out.len()), 1, "{}", last_error());
            assert_eq!(sp2p_interfaces(peer, std::ptr::null_mut(), 0), 1);
            assert_eq!(sp2p_interfaces(peer, std::ptr::null_mut(), 1), SP2P_ERR_NULL);
        }
        let lo = out[0];
        assert_eq!(
            (text(&lo.name), text(&lo.ipv4), text(&lo.ipv6)),
            ("lo".into(), "127.0.0.1".into(), "".into())
        );
        // SAFETY: a NUL-terminated name.
        assert_eq!(lo.index, unsafe { libc::if_nametoindex(c"lo".as_ptr()) });
        sp2p_close(peer);
        // SAFETY: NULL out with cap 0.
        assert_eq!(unsafe { sp2p_interfaces(peer, std::ptr::null_mut(), 0) }, SP2P_ERR_CLOSED);
    }

    /// `sp2p_member_addresses` of `id`: the code and the addresses written.
    fn member_addresses(peer: *const PeerHandle, id: &str) -> (c_int, Vec<String>) {
        let id = CString::new(id).unwrap();
        let mut out = [[0 as c_char; SP2P_ADDRESS_LEN]; MAX_MEMBER_ADDRS];
        // SAFETY: a NUL-terminated id; `out` has MAX_MEMBER_ADDRS writable elements.
        let n = unsafe { sp2p_member_addresses(peer, id.as_ptr(), out.as_mut_ptr(), out.len()) };
        let written = usize::try_from(n).unwrap_or(0).min(out.len());
        (n, out[..written].iter().map(|a| text(a)).collect())
    }

    #[test]
    fn wide_calls_give_the_same_peers_and_messages_and_members_their_addresses() {
        let port = free_port();
        let a = open_named(port, c"a", std::ptr::null());
        let b = open_named(port, c"b", std::ptr::null());
        assert_eq!(sp2p_discover(a, 1, 10_000), 1, "{}", last_error());
        // SAFETY: integers and arrays.
        let mut narrow: [CPeerInfo; 2] = unsafe { zeroed() };
        // SAFETY: integers and arrays.
        let mut wide: [CPeerInfoWide; 2] = unsafe { zeroed() };
        // SAFETY: each array has 2 writable elements; NULL with cap 0.
        unsafe {
            assert_eq!(sp2p_peers(a, narrow.as_mut_ptr(), 2), 1);
            assert_eq!(sp2p_peers_wide(a, wide.as_mut_ptr(), 2), 1);
            assert_eq!(sp2p_peers_wide(a, std::ptr::null_mut(), 0), 1);
            assert_eq!(sp2p_peers_wide(a, std::ptr::null_mut(), 2), SP2P_ERR_NULL);
        }
        let b_addr = text(&wide[0].address);
        assert!(b_addr.starts_with("127.0.0.1:"), "{b_addr}");
        assert_eq!(
            (text(&narrow[0].address), text(&narrow[0].id)),
            (b_addr.clone(), text(&wide[0].id))
        );
        assert_eq!(text(&wide[0].name), "b");

        assert_eq!(send(a, b"wide", 10_000), (1, 1));
        // SAFETY: as above.
        unsafe {
            assert_eq!(sp2p_acked_wide(a, wide.as_mut_ptr(), 2), 1);
            assert_eq!(text(&wide[0].address), b_addr);
            assert_eq!(sp2p_missing_wide(a, wide.as_mut_ptr(), 2), 0);
        }
        let mut buf = [0u8; 8];
        // SAFETY: integers and arrays.
        let mut meta: CMessageWide = unsafe { zeroed() };
        // SAFETY: `buf` has 8 writable bytes; `meta` is writable.
        let rc = unsafe { sp2p_recv_wide(b, hang_ms(), buf.as_mut_ptr(), buf.len(), &mut meta) };
        assert_eq!(rc, 1, "{}", last_error());
        assert_eq!((&buf[..meta.len], text(&meta.name)), (&b"wide"[..], "a".into()));
        assert!(text(&meta.address).starts_with("127.0.0.1:"), "{}", text(&meta.address));
        // SAFETY: NULL meta is what is tested.
        let rc = unsafe { sp2p_recv_wide(b, 0, buf.as_mut_ptr(), 8, std::ptr::null_mut()) };
        assert_eq!(rc, SP2P_ERR_NULL);

        // b in a's live table: its addresses, its member address first.
        eventually("a lists b", || members(a).iter().any(|m| text(&m.name) == "b"));
        let member = members(a).into_iter().find(|m| text(&m.name) == "b").unwrap();
        let (n, addrs) = member_addresses(a, &text(&member.id));
        assert!((1..=MAX_MEMBER_ADDRS as c_int).contains(&n), "{n}: {}", last_error());
        assert_eq!(addrs[0], text(&member.address));
        assert_eq!(addrs.len(), usize::try_from(n).unwrap());
        let id = CString::new(text(&member.id)).unwrap();
        // SAFETY: a NUL-terminated id; NULL out with cap 0 or 1.
        unsafe {
            let none = std::ptr::null_mut();
            assert_eq!(sp2p_member_addresses(a, id.as_ptr(), none, 0), n);
            assert_eq!(sp2p_member_addresses(a, id.as_ptr(), none, 1), SP2P_ERR_NULL);
            assert_eq!(sp2p_member_addresses(a, std::ptr::null(), none, 0), SP2P_ERR_NULL);
            assert_eq!(last_error(), "id is NULL");
        }
        assert_eq!(member_addresses(a, &Uuid::from_u128(1).to_string()), (0, vec![]));
        assert_eq!(member_addresses(a, "b").0, SP2P_ERR_ARG);
        assert!(last_error().starts_with("id \"b\" is not a UUID"), "{}", last_error());
        sp2p_close(b);
        sp2p_close(a);
        assert_eq!(member_addresses(a, &text(&member.id)).0, SP2P_ERR_CLOSED);
    }
}
