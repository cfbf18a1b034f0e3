//! Which of this host's interfaces a peer serves: the list of them
//! ([`enumerate`]), the default rule and the user's choice by name or
//! address ([`select`]), the same choice again as interfaces come and go
//! ([`reselect`]), and what to tell a user whose host has no multicast
//! route ([`hint`]). Everything but [`enumerate`] is a pure function of the
//! list, so each rule is tested on made-up interfaces.
//!
//! Addresses that count, per family:
//! - IPv4: any but 0.0.0.0. A link-local 169.254/16 counts: a LAN without
//!   DHCP has nothing else, and multicast works there all the same.
//! - IPv6: link-local (fe80::/64, RFC 4291; the rest of fe80::/10 has no
//!   route on a link, so peers could not answer it) only, since a link-scope ff02:: group is
//!   what peers meet on and its answers go to link-local sources. Global
//!   and ULA addresses are listed but not used unless the user names one.
//!   Loopback has none: Linux routes no IPv6 multicast over `lo` (a send
//!   fails with "network unreachable"), so a peer on loopback is IPv4 only.
//!
//! An IPv6 address still tentative (duplicate address detection, about a
//! second after a link comes up) or found to be a duplicate is left out:
//! getifaddrs does not say, `/proc/net/if_inet6` does.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::ffi::ifaddrs::{self, Addr};

/// Interfaces served at most. A socket joins a group on at most
/// `net.ipv4.igmp_max_memberships` interfaces (20 by default), and each
/// interface costs a copy of every multicast sent; a host with more (a
/// container host's veths outside any bridge) serves the first 20 by index
/// and reports the rest as skipped.
pub const MAX_INTERFACES: usize = 20;

/// Longest interface name Linux allows (IFNAMSIZ less its NUL).
const MAX_NAME: usize = 15;

/// Items an error message lists before "and N more".
const MAX_LISTED: usize = 12;

/// The link flags that matter here, from `IFF_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Flags {
    /// Set up by an administrator (`ip link set X up`).
    pub up: bool,
    /// Has carrier: a cable, an associated radio, a bridge with a port.
    pub running: bool,
    pub multicast: bool,
    pub loopback: bool,
    pub point_to_point: bool,
}

impl Flags {
    fn from_bits(bits: u32) -> Flags {
        let has = |flag: libc::c_int| bits & flag as u32 != 0;
        Flags {
            up: has(libc::IFF_UP),
            running: has(libc::IFF_RUNNING),
            multicast: has(libc::IFF_MULTICAST),
            loopback: has(libc::IFF_LOOPBACK),
            point_to_point: has(libc::IFF_POINTOPOINT),
        }
    }
}

/// One interface of this host, with every address it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interface {
    pub name: String,
    pub index: u32,
    pub flags: Flags,
    /// In the kernel's order: the primary address first.
    pub v4: Vec<Ipv4Addr>,
    /// With the scope id the kernel gave (the index, for link-local).
    pub v6: Vec<(Ipv6Addr, u32)>,
    /// The bridge, bond, team or VRF this interface is a member of.
    pub master: Option<String>,
}

impl Interface {
    /// The addresses of `family` that count (see the module's docs).
    fn usable(&self, family: Family) -> (Vec<Ipv4Addr>, Vec<(Ipv6Addr, u32)>) {
        let v4 = if family.v4() {
            self.v4.iter().copied().filter(|a| !a.is_unspecified()).collect()
        } else {
            Vec::new()
        };
        let v6 = if family.v6() && !self.flags.loopback {
            self.v6.iter().copied().filter(|(a, _)| is_link_local(a)).collect()
        } else {
            Vec::new()
        };
        (v4, v6)
    }

    /// The addresses the user named here, with the kernel's scope ids.
    fn pinned(&self, pinned: &[IpAddr]) -> (Vec<Ipv4Addr>, Vec<(Ipv6Addr, u32)>) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in pinned {
            match a {
                IpAddr::V4(a) => v4.push(*a),
                IpAddr::V6(a) => v6.extend(self.v6.iter().filter(|(b, _)| b == a)),
            }
        }
        (v4, v6)
    }

    fn has_usable(&self, family: Family) -> bool {
        let (v4, v6) = self.usable(family);
        !v4.is_empty() || !v6.is_empty()
    }

    /// What the default rule serves, loopback aside. Running, not only up:
    /// an interface without carrier (docker0 with no container, an
    /// unplugged cable) reaches nobody, and re-enumeration adds it once it
    /// does.
    fn serves_by_default(&self, all: &[Interface], family: Family) -> bool {
        let f = self.flags;
        f.up && f.running
            && f.multicast
            && !f.loopback
            && !self.is_port(all)
            && self.has_usable(family)
    }

    /// A port of a bridge, bond or team, which is served through its
    /// master: the master carries the port's traffic and holds the
    /// addresses. A VRF's members are not ports in this sense: a VRF
    /// device has no MULTICAST flag and carries no multicast of its own.
    fn is_port(&self, all: &[Interface]) -> bool {
        let Some(master) = &self.master else { return false };
        all.iter().any(|m| m.name == *master && m.flags.multicast)
    }

    fn loopback_fallback(&self, family: Family) -> bool {
        self.flags.loopback && self.flags.up && self.has_usable(family)
    }

    /// A usable address of `family` to show a user, IPv4 first.
    fn shown_address(&self, family: Family) -> Option<String> {
        let (v4, v6) = self.usable(family);
        v4.first().map(ToString::to_string).or_else(|| v6.first().map(|(a, _)| a.to_string()))
    }
}

/// Every interface of this host (of its network namespace), sorted by
/// index. Only reads: getifaddrs and, for each interface, its `master`
/// link in sysfs. Cheap enough to run every second or two: one netlink
/// dump, and a read and a readlink in sysfs per interface.
///
/// # Errors
/// The system's error when the list cannot be read; retrying may help if
/// the host was out of memory or file descriptors.
pub(crate) fn enumerate() -> io::Result<Vec<Interface>> {
    let mut by_index: BTreeMap<u32, Interface> = BTreeMap::new();
    for entry in ifaddrs::entries()? {
        if entry.index == 0 {
            continue; // gone since the list was made
        }
        let interface = by_index.entry(entry.index).or_insert_with(|| Interface {
            name: entry.name,
            index: entry.index,
            flags: Flags::from_bits(entry.flags),
            v4: Vec::new(),
            v6: Vec::new(),
            master: None,
        });
        match entry.addr {
            Some(Addr::V4(a)) if !interface.v4.contains(&a) => interface.v4.push(a),
            Some(Addr::V6(a, scope)) if !interface.v6.contains(&(a, scope)) => {
                interface.v6.push((a, scope));
            }
            _ => {}
        }
    }
    let mut all: Vec<Interface> = by_index.into_values().collect();
    let unusable = std::fs::read_to_string("/proc/net/if_inet6")
        .map(|table| unusable_v6(&table))
        .unwrap_or_default();
    for interface in &mut all {
        interface.master = master(&interface.name, interface.index);
        interface.v6.retain(|(a, _)| !unusable.contains(&(*a, interface.index)));
    }
    Ok(all)
}

/// The IPv6 addresses (with their interface's index) that cannot be sent
/// from: tentative (`IFA_F_TENTATIVE`) or duplicate (`IFA_F_DADFAILED`).
/// `table` is `/proc/net/if_inet6`, this network namespace's: address (32
/// hex digits), index, prefix length, scope and flags (hex), name.
fn unusable_v6(table: &str) -> Vec<(Ipv6Addr, u32)> {
    const DADFAILED: u32 = 0x08;
    const TENTATIVE: u32 = 0x40;
    table
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = Ipv6Addr::from(u128::from_str_radix(f.first()?, 16).ok()?);
            let index = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(4)?, 16).ok()?;
            (flags & (DADFAILED | TENTATIVE) != 0).then_some((addr, index))
        })
        .collect()
}

/// The bridge, bond or team `name` is a port of, from the `master` link
/// the kernel keeps in sysfs: getifaddrs does not say, and asking netlink
/// would mean a second parser of kernel bytes for one attribute. Sysfs
/// shows the network namespace it was mounted in, which need not be ours
/// (a process moved by setns without a fresh /sys), so the entry counts
/// only if its index is this interface's; otherwise no master is known and
/// a port is served itself, which costs duplicates but loses nothing.
fn master(name: &str, index: u32) -> Option<String> {
    // Linux names hold no '/' and are never "." or "..", but the path
    // must not depend on that.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let seen = std::fs::read_to_string(dir.join("ifindex")).ok()?;
    if seen.trim().parse::<u32>().ok()? != index {
        return None;
    }
    let target = std::fs::read_link(dir.join("master")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Whether `a` is a link-local unicast address as RFC 4291 defines one:
/// in fe80::/64. Linux lets other fe80::/10 addresses be added, but other
/// hosts have no route to them.
fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[..4] == [0xfe80, 0, 0, 0]
}

/// The address families a peer serves ([`Config::family`]).
///
/// [`Config::family`]: crate::Config::family
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 and IPv6, each where an interface has an address of it: the
    /// default.
    #[default]
    Both,
    /// IPv4 only (`--ipv4-only`).
    V4Only,
    /// IPv6 only (`--ipv6-only`).
    V6Only,
}

impl Family {
    pub(crate) fn v4(self) -> bool {
        self != Family::V6Only
    }

    pub(crate) fn v6(self) -> bool {
        self != Family::V4Only
    }
}

/// An interface named by the user: by name, or by one of its addresses (an
/// IPv6 one possibly with `%zone`, a name or an index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr, Option<Zone>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Zone {
    Name(String),
    Index(u32),
}

impl FromStr for Selector {
    type Err = SelectError;

    fn from_str(text: &str) -> Result<Selector, SelectError> {
        let bad = || SelectError::BadSelector(text.to_owned());
        if let Ok(a) = text.parse::<Ipv4Addr>() {
            return Ok(Selector::V4(a));
        }
        if text.contains(':') {
            let (addr, zone) = match text.split_once('%') {
                Some((addr, zone)) => (addr, Some(zone)),
                None => (text, None),
            };
            let addr = addr.parse::<Ipv6Addr>().map_err(|_| bad())?;
            let zone = match zone {
                None => None,
                Some(z) if !z.is_empty() && z.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(Zone::Index(z.parse().map_err(|_| bad())?))
                }
                Some(z) if is_name(z) => Some(Zone::Name(z.to_owned())),
                Some(_) => return Err(bad()),
            };
            return Ok(Selector::V6(addr, zone));
        }
        if is_name(text) { Ok(Selector::Name(text.to_owned())) } else { Err(bad()) }
    }
}

/// What Linux accepts as an interface name (`dev_valid_name`), less '%',
/// which it reads as a template ("eth%d") and never leaves in a name, and
/// control characters, which no tool makes.
fn is_name(text: &str) -> bool {
    let refused = |c: char| matches!(c, '/' | ':' | '%') || c.is_whitespace() || c.is_control();
    !text.is_empty()
        && text.len() <= MAX_NAME
        && text != "."
        && text != ".."
        && !text.chars().any(refused)
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Name(n) => f.write_str(n),
            Selector::V4(a) => write!(f, "{a}"),
            Selector::V6(a, None) => write!(f, "{a}"),
            Selector::V6(a, Some(Zone::Name(z))) => write!(f, "{a}%{z}"),
            Selector::V6(a, Some(Zone::Index(z))) => write!(f, "{a}%{z}"),
        }
    }
}

impl Selector {
    /// The interfaces it names: by name at most one, by address every one
    /// holding it (within its zone, if given).
    fn matches(&self, all: &[Interface]) -> Vec<usize> {
        let zone_is = |i: &Interface, zone: &Option<Zone>| match zone {
            None => true,
            Some(Zone::Name(n)) => i.name == *n,
            Some(Zone::Index(x)) => i.index == *x,
        };
        let hit = |i: &Interface| match self {
            Selector::Name(n) => i.name == *n,
            Selector::V4(a) => i.v4.contains(a),
            Selector::V6(a, zone) => i.v6.iter().any(|(b, _)| b == a) && zone_is(i, zone),
        };
        (0..all.len()).filter(|&at| hit(&all[at])).collect()
    }

    /// Whether it names an address rather than an interface.
    pub(crate) fn is_address(&self) -> bool {
        !matches!(self, Selector::Name(_))
    }

    fn address(&self) -> Option<IpAddr> {
        match self {
            Selector::Name(_) => None,
            Selector::V4(a) => Some((*a).into()),
            Selector::V6(a, _) => Some((*a).into()),
        }
    }
}

/// An interface to serve and the addresses to use there, per family.
/// Equality is the change detector: a peer re-enumerates every second or
/// two and rebuilds its sockets only when the selection differs, exactly
/// (a hash could collide; the old set is kept anyway, to leave the groups
/// of interfaces that went).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Chosen {
    pub name: String,
    pub index: u32,
    /// Empty for a family not asked for, and while an interface the user
    /// named is down: it stays chosen, to be served again when it is up.
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<(Ipv6Addr, u32)>,
}

/// What [`select`] chose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Selection {
    /// By index.
    pub chosen: Vec<Chosen>,
    /// Interfaces that would be served but for [`MAX_INTERFACES`].
    pub skipped: Vec<String>,
    /// Only loopback is served, for want of anything else: the peer stays
    /// on this host, which a user should be told.
    pub loopback_fallback: bool,
}

/// Why no interface could be chosen. Retrying does not help, except where
/// an interface is still to come up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectError {
    /// Neither an interface name nor an address.
    BadSelector(String),
    /// No interface has this name; `here` lists those that exist.
    NoSuchName { name: String, here: Vec<String> },
    /// No interface holds this address; `here` lists the addresses that exist.
    NoSuchAddress { addr: String, here: Vec<String> },
    /// More than one interface holds this address.
    Ambiguous { addr: String, on: Vec<String> },
    /// An IPv6 address of loopback, where Linux has no IPv6 multicast.
    LoopbackV6(String),
    /// The address is of a family that was not asked for.
    WrongFamily(IpAddr),
    /// More interfaces named than [`MAX_INTERFACES`].
    TooMany(usize),
    /// Exclusions took every interface that would have been served.
    AllExcluded(Vec<String>),
    /// Nothing is up with a usable address, not even loopback; the text is
    /// [`hint`]'s.
    NothingUsable(String),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::BadSelector(text) => write!(
                f,
                "'{text}' is neither an interface name nor an address: pass a name such as eth0 \
                 (at most {MAX_NAME} characters, no '/', ':', '%' or spaces), an IPv4 address, or an \
                 IPv6 one such as fe80::1%eth0"
            ),
            SelectError::NoSuchName { name, here } => {
                write!(f, "no interface named '{name}'; this host has: {}", listing(here))
            }
            SelectError::NoSuchAddress { addr, here } => {
                write!(f, "no interface has address {addr}; addresses here: {}", listing(here))
            }
            SelectError::Ambiguous { addr, on } => {
                let zones: Vec<String> = on.iter().map(|n| format!("{addr}%{n}")).collect();
                if addr.contains(':') {
                    write!(
                        f,
                        "address {addr} is on {}: say which, e.g. {}",
                        on.join(" and "),
                        zones.join(" or ")
                    )
                } else {
                    write!(
                        f,
                        "address {addr} is on {}: pass the interface's name instead",
                        on.join(" and ")
                    )
                }
            }
            SelectError::LoopbackV6(addr) => write!(
                f,
                "{addr} is on loopback, where Linux has no IPv6 multicast: to stay on this host, \
                 pass 127.0.0.1 and allow IPv4 (no --ipv6-only)"
            ),
            SelectError::WrongFamily(addr) => {
                let (is, only) = if addr.is_ipv4() { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
                write!(
                    f,
                    "{addr} is an {is} address but only {only} is to be used: pass an {only} \
                     address or the interface's name, or allow both families"
                )
            }
            SelectError::TooMany(n) => write!(
                f,
                "{n} interfaces named, but at most {MAX_INTERFACES} are served: name fewer"
            ),
            SelectError::AllExcluded(names) => write!(
                f,
                "every interface that would be used is excluded ({}): exclude fewer",
                listing(names)
            ),
            SelectError::NothingUsable(hint) => {
                write!(f, "no interface is up with an address multicast can use: {hint}")
            }
        }
    }
}

impl std::error::Error for SelectError {}

/// `items` joined with commas, cut after [`MAX_LISTED`]: a host with
/// hundreds of veths must not fill a screen.
fn listing(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    let mut text = items.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    text
}

/// Chooses the interfaces to serve from `all` (as [`enumerate`] lists
/// them).
///
/// With nothing in `want`, the default rule: every interface that is up,
/// running, multicast-capable, not a bridge, bond or team port (its
/// master serves it), not loopback, with a usable address of `family`;
/// the first [`MAX_INTERFACES`] of them by index, the rest in `skipped`.
/// Loopback only when no interface at all would qualify, so that a host
/// without a network still finds its own peers.
///
/// With selectors in `want`, exactly those: a name serves every usable
/// address of its interface; an address names the interface that holds
/// it and, for its own family, is the address used there (a host may hold
/// several), used as given even if it is not link-local. What is named is
/// served without the multicast flag (Linux's `lo` has none, and
/// multicast on it works) or carrier; while down it stays chosen with no
/// addresses.
///
/// `exclude` takes interfaces out, by name or by any address they hold.
/// An exclusion that matches nothing is no error: it is a standing rule
/// for interfaces that come and go (a VPN's tun0 not up yet).
///
/// # Errors
/// A named interface or address that does not exist, an address on more
/// than one interface or of a family not asked for, more than
/// [`MAX_INTERFACES`] named, exclusions that take everything, or a host
/// with nothing usable; see [`SelectError`].
pub(crate) fn select(
    all: &[Interface],
    want: &[Selector],
    exclude: &[Selector],
    family: Family,
) -> Result<Selection, SelectError> {
    choose(all, want, exclude, family, true)
}

/// [`select`] again, for the periodic re-enumeration: where `select` has
/// an error because something is missing now (an interface named that was
/// unplugged, an address that went, nothing up), this leaves it out, and
/// what is left may be empty: the peer waits for it to come back. Call
/// `select` first, at start, so that mistakes in `want` are reported.
pub(crate) fn reselect(
    all: &[Interface],
    want: &[Selector],
    exclude: &[Selector],
    family: Family,
) -> Selection {
    choose(all, want, exclude, family, false).unwrap_or_default()
}

fn choose(
    all: &[Interface],
    want: &[Selector],
    exclude: &[Selector],
    family: Family,
    strict: bool,
) -> Result<Selection, SelectError> {
    let mut excluded = vec![false; all.len()];
    for at in exclude.iter().flat_map(|s| s.matches(all)) {
        excluded[at] = true;
    }
    if want.is_empty() {
        return by_default(all, &excluded, family, strict);
    }

    // Interface (by its place in `all`) → the addresses pinned there, or
    // None when it was named whole.
    let mut named: BTreeMap<usize, Option<Vec<IpAddr>>> = BTreeMap::new();
    for selector in want {
        let at = match resolve(all, selector, family) {
            Ok(at) => at,
            Err(e) if strict => return Err(e),
            Err(_) => continue,
        };
        let pins = named.entry(at).or_insert_with(|| Some(Vec::new()));
        match (selector.address(), pins.as_mut()) {
            (None, _) => *pins = None,
            (Some(a), Some(pinned)) if !pinned.contains(&a) => pinned.push(a),
            _ => {}
        }
    }
    let asked: Vec<String> = named.keys().map(|&at| all[at].name.clone()).collect();
    named.retain(|&at, _| !excluded[at]);
    if strict && named.is_empty() {
        return Err(SelectError::AllExcluded(asked));
    }
    if strict && named.len() > MAX_INTERFACES {
        return Err(SelectError::TooMany(named.len()));
    }
    let mut selection = Selection::default();
    for (at, pins) in named {
        let interface = &all[at];
        let (v4, v6) = match pins {
            _ if !interface.flags.up => (Vec::new(), Vec::new()),
            None => interface.usable(family),
            Some(pinned) => interface.pinned(&pinned),
        };
        selection.add(interface, v4, v6);
    }
    Ok(selection)
}

/// The interface one selector names, as its place in `all`.
fn resolve(all: &[Interface], selector: &Selector, family: Family) -> Result<usize, SelectError> {
    if let Some(addr) = selector.address() {
        let wrong = if addr.is_ipv4() { !family.v4() } else { !family.v6() };
        if wrong && addr.is_loopback() {
            return Err(SelectError::LoopbackV6(selector.to_string()));
        }
        if wrong {
            return Err(SelectError::WrongFamily(addr));
        }
    }
    match selector.matches(all).as_slice() {
        [at] if all[*at].flags.loopback && matches!(selector, Selector::V6(..)) => {
            Err(SelectError::LoopbackV6(selector.to_string()))
        }
        [at] => Ok(*at),
        [] => Err(match selector {
            Selector::Name(name) => SelectError::NoSuchName {
                name: name.clone(),
                here: all.iter().map(|i| i.name.clone()).collect(),
            },
            _ => SelectError::NoSuchAddress { addr: selector.to_string(), here: addresses(all) },
        }),
        many => Err(SelectError::Ambiguous {
            addr: selector.to_string(),
            on: many.iter().map(|&at| all[at].name.clone()).collect(),
        }),
    }
}

/// Every address of the host, as a user would type it to name one.
fn addresses(all: &[Interface]) -> Vec<String> {
    let mut here = Vec::new();
    for i in all {
        here.extend(i.v4.iter().map(|a| format!("{a} ({})", i.name)));
        for (a, _) in &i.v6 {
            if a.is_unicast_link_local() {
                here.push(format!("{a}%{}", i.name));
            } else {
                here.push(format!("{a} ({})", i.name));
            }
        }
    }
    here
}

fn by_default(
    all: &[Interface],
    excluded: &[bool],
    family: Family,
    strict: bool,
) -> Result<Selection, SelectError> {
    let pick = |rule: &dyn Fn(&Interface) -> bool| -> Vec<usize> {
        (0..all.len()).filter(|&at| !excluded[at] && rule(&all[at])).collect()
    };
    let lan = |i: &Interface| i.serves_by_default(all, family);
    let mut selection = Selection::default();
    let mut served = pick(&lan);
    // Loopback only for a host with nothing else, not for one whose other
    // interfaces the user excluded, or that has them in the family not
    // asked for: that user wants to hear so, not a peer that quietly stays
    // on this host.
    if served.is_empty() && !all.iter().any(|i| i.serves_by_default(all, Family::Both)) {
        served = pick(&|i| i.loopback_fallback(family));
        selection.loopback_fallback = !served.is_empty();
    }
    if strict && served.is_empty() {
        let lost: Vec<String> = (0..all.len())
            .filter(|&at| excluded[at] && (lan(&all[at]) || all[at].loopback_fallback(family)))
            .map(|at| all[at].name.clone())
            .collect();
        if lost.is_empty() {
            return Err(SelectError::NothingUsable(hint(all, family)));
        }
        return Err(SelectError::AllExcluded(lost));
    }
    for at in served {
        let (v4, v6) = all[at].usable(family);
        selection.add(&all[at], v4, v6);
    }
    Ok(selection)
}

impl Selection {
    /// Adds `interface`, or skips it past the cap.
    fn add(&mut self, interface: &Interface, v4: Vec<Ipv4Addr>, v6: Vec<(Ipv6Addr, u32)>) {
        if self.chosen.len() == MAX_INTERFACES {
            self.skipped.push(interface.name.clone());
        } else {
            let (name, index) = (interface.name.clone(), interface.index);
            self.chosen.push(Chosen { name, index, v4, v6 });
        }
    }
}

/// What to type, for a host where multicast has no route: its interfaces
/// that could be named, and an `--interface` that would serve one, e.g.
/// "pass --interface eth0 (interfaces here: eth0 192.168.1.5, wlan0
/// 10.0.0.3), or --interface lo to stay on this host".
pub(crate) fn hint(all: &[Interface], family: Family) -> String {
    let lan: Vec<&Interface> = all
        .iter()
        .filter(|i| !i.flags.loopback && i.flags.up && !i.is_port(all) && i.has_usable(family))
        .collect();
    let stay = all
        .iter()
        .find(|i| i.loopback_fallback(family))
        .map(|lo| format!("--interface {} to stay on this host", lo.name));
    // The first that would serve by default, else any with an address.
    let Some(best) = lan.iter().find(|i| i.serves_by_default(all, family)).or(lan.first()) else {
        // Interfaces with only the other family: say which, and how to use
        // them.
        let other: Vec<String> = all
            .iter()
            .filter(|i| !i.flags.loopback && i.flags.up && i.has_usable(Family::Both))
            .map(|i| format!("{} {}", i.name, i.shown_address(Family::Both).unwrap_or_default()))
            .collect();
        match family {
            Family::V6Only => {
                return format!(
                    "no interface up has an IPv6 link-local address (interfaces here: {}), and \
                     loopback has no IPv6 multicast: allow IPv4 (leave out --ipv6-only)",
                    listing(&other)
                );
            }
            Family::V4Only if !other.is_empty() => {
                return format!(
                    "no interface up has an IPv4 address (interfaces here: {}): allow IPv6 \
                     (leave out --ipv4-only)",
                    listing(&other)
                );
            }
            _ => {}
        }
        return match stay {
            Some(stay) => {
                format!("this host has no network interface up besides loopback: pass {stay}")
            }
            None => "this host has no network interface up: bring one up (ip link set NAME up)"
                .to_owned(),
        };
    };
    let shown: Vec<String> = lan
        .iter()
        .map(|i| format!("{} {}", i.name, i.shown_address(family).unwrap_or_default()))
        .collect();
    let mut text = format!("pass --interface {} (interfaces here: {})", best.name, listing(&shown));
    if let Some(stay) = stay {
        text.push_str(&format!(", or {stay}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// An Ethernet-like interface that the default rule serves: up, with
    /// carrier and multicast, `v4` and a link-local address.
    fn eth(name: &str, index: u32, v4: &str) -> Interface {
        let ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::try_from(index).unwrap());
        Interface {
            name: name.to_owned(),
            index,
            flags: Flags { up: true, running: true, multicast: true, ..Flags::default() },
            v4: vec![v4.parse().unwrap()],
            v6: vec![(ll, index)],
            master: None,
        }
    }

    /// Linux's loopback: no MULTICAST flag.
    fn lo() -> Interface {
        Interface {
            name: "lo".to_owned(),
            index: 1,
            flags: Flags { up: true, running: true, loopback: true, ..Flags::default() },
            v4: vec![Ipv4Addr::LOCALHOST],
            v6: vec![(Ipv6Addr::LOCALHOST, 0)],
            master: None,
        }
    }

    fn sel(texts: &[&str]) -> Vec<Selector> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn names(selection: &Selection) -> Vec<&str> {
        selection.chosen.iter().map(|c| c.name.as_str()).collect()
    }

    fn default_names(all: &[Interface]) -> Vec<String> {
        let selection = select(all, &[], &[], Family::Both).unwrap();
        names(&selection).into_iter().map(str::to_owned).collect()
    }

    fn error(all: &[Interface], want: &[&str], exclude: &[&str], family: Family) -> String {
        select(all, &sel(want), &sel(exclude), family).unwrap_err().to_string()
    }

    #[test]
    fn by_default_every_running_multicast_interface_with_an_address_but_loopback() {
        let all = [lo(), eth("eth0", 2, "192.168.1.5"), eth("wlan0", 3, "10.0.0.3")];
        let selection = select(&all, &[], &[], Family::Both).unwrap();
        assert_eq!(names(&selection), ["eth0", "wlan0"]);
        assert!(!selection.loopback_fallback && selection.skipped.is_empty());
        let eth0 = &selection.chosen[0];
        assert_eq!((eth0.index, eth0.v4.as_slice()), (2, &["192.168.1.5".parse().unwrap()][..]));
        assert_eq!(eth0.v6, [("fe80::2".parse().unwrap(), 2)]);
    }

    #[test]
    fn by_default_not_down_without_carrier_without_multicast_or_without_an_address() {
        let mut down = eth("down0", 3, "10.0.3.1");
        down.flags.up = false;
        let mut no_carrier = eth("docker0", 4, "172.17.0.1");
        no_carrier.flags.running = false;
        let mut wg = eth("wg0", 5, "10.0.5.1");
        wg.flags.multicast = false;
        wg.flags.point_to_point = true;
        let mut bare = eth("bare0", 6, "10.0.6.1");
        bare.v4 = vec![Ipv4Addr::UNSPECIFIED];
        bare.v6 = vec![("2001:db8::6".parse().unwrap(), 0)]; // global: not what ff02:: needs
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), down, no_carrier, wg, bare];
        assert_eq!(default_names(&all), ["eth0"]);
    }

    #[test]
    fn a_bridge_port_is_served_through_its_bridge() {
        let mut port = eth("veth1", 3, "10.0.3.1");
        port.master = Some("br0".to_owned());
        let all = [lo(), eth("br0", 2, "10.0.2.1"), port];
        assert_eq!(default_names(&all), ["br0"]);
        // A VRF's member is served itself: the VRF has no MULTICAST flag.
        let mut vrf = eth("vrf-blue", 5, "10.0.5.1");
        vrf.flags.multicast = false;
        let mut member = eth("eth0", 4, "10.0.4.1");
        member.master = Some("vrf-blue".to_owned());
        assert_eq!(default_names(&[lo(), member, vrf]), ["eth0"]);
        // Named, a port is served all the same.
        let named = select(&all, &sel(&["veth1"]), &[], Family::Both).unwrap();
        assert_eq!(names(&named), ["veth1"]);
    }

    #[test]
    fn tentative_and_duplicate_ipv6_addresses_are_read_from_proc() {
        let table = "fe800000000000000000000000000066 02 40 20 40     eth0\n\
                     fe800000000000000000000000000bad 02 40 20 08     eth0\n\
                     fe8000000000000000fc00fffe000001 02 40 20 80     eth0\n\
                     fd000000000000000000000000000002 03 40 00 04     eth1\n\
                     garbage\n";
        let ll = |last: u16| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last);
        assert_eq!(unusable_v6(table), [(ll(0x66), 2), (ll(0xbad), 2)]);
    }

    #[test]
    fn only_fe80_64_counts_as_link_local() {
        let mut eth0 = eth("eth0", 2, "10.0.2.1");
        let odd: Ipv6Addr = "fe80:1111::7777".parse().unwrap();
        eth0.v6.insert(0, (odd, 2));
        let selection = select(&[lo(), eth0], &[], &[], Family::Both).unwrap();
        // Linux takes fe80:1111::/64 on an interface, but no other host has
        // a route to it: it is not what peers are told to answer.
        assert_eq!(selection.chosen[0].v6, [("fe80::2".parse().unwrap(), 2)]);
    }

    #[test]
    fn loopback_only_when_nothing_else_qualifies() {
        let mut eth0 = eth("eth0", 2, "10.0.2.1");
        eth0.flags.up = false;
        let selection = select(&[lo(), eth0.clone()], &[], &[], Family::Both).unwrap();
        assert_eq!(names(&selection), ["lo"]);
        assert!(selection.loopback_fallback);
        assert_eq!(selection.chosen[0].v4, [Ipv4Addr::LOCALHOST]);
        // No IPv6 multicast over Linux's lo.
        assert!(selection.chosen[0].v6.is_empty());
        let e = error(&[lo(), eth0.clone()], &[], &[], Family::V6Only);
        assert!(e.starts_with("no interface is up with an address multicast can use"), "{e}");
        let e = error(&[lo(), eth0.clone()], &["::1"], &[], Family::Both);
        assert!(e.contains("no IPv6 multicast: to stay on this host, pass 127.0.0.1"), "{e}");
        let e = error(&[lo(), eth0.clone()], &["127.0.0.1"], &[], Family::V6Only);
        assert!(e.starts_with("127.0.0.1 is on loopback, where Linux has no IPv6"), "{e}");
        eth0.flags.up = true;
        let selection = select(&[lo(), eth0], &[], &[], Family::Both).unwrap();
        assert_eq!(names(&selection), ["eth0"]);
        assert!(!selection.loopback_fallback);
    }

    #[test]
    fn nothing_up_at_all_is_an_error_that_says_what_to_do() {
        let mut lo = lo();
        lo.flags.up = false;
        let e = error(&[lo], &[], &[], Family::Both);
        assert_eq!(
            e,
            "no interface is up with an address multicast can use: this host has no network \
             interface up: bring one up (ip link set NAME up)"
        );
    }

    #[test]
    fn past_the_cap_the_rest_are_skipped_and_reported() {
        let mut all = vec![lo()];
        let count = u32::try_from(MAX_INTERFACES).unwrap() + 5;
        all.extend((2..2 + count).map(|i| eth(&format!("veth{i}"), i, &format!("10.1.0.{i}"))));
        let selection = select(&all, &[], &[], Family::Both).unwrap();
        assert_eq!(selection.chosen.len(), MAX_INTERFACES);
        assert_eq!(selection.chosen[0].name, "veth2");
        let skipped: Vec<String> = (2 + count - 5..2 + count).map(|i| format!("veth{i}")).collect();
        assert_eq!(selection.skipped, skipped);
        // Named, that many is an error rather than a silent cut.
        let want: Vec<Selector> = all[1..].iter().map(|i| Selector::Name(i.name.clone())).collect();
        let e = select(&all, &want, &[], Family::Both).unwrap_err();
        assert_eq!(e, SelectError::TooMany(MAX_INTERFACES + 5));
        assert_eq!(e.to_string(), "25 interfaces named, but at most 20 are served: name fewer");
        // reselect cuts instead.
        assert_eq!(reselect(&all, &want, &[], Family::Both).skipped.len(), 5);
    }

    #[test]
    fn by_name_exactly_those_even_loopback_and_down_ones() {
        let mut down = eth("eth1", 3, "10.0.3.1");
        down.flags.up = false;
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), down];
        let selection = select(&all, &sel(&["lo", "eth1"]), &[], Family::Both).unwrap();
        assert_eq!(names(&selection), ["lo", "eth1"]);
        assert!(!selection.loopback_fallback);
        assert_eq!(selection.chosen[0].v4, [Ipv4Addr::LOCALHOST]);
        // Down, it stays chosen with nothing to use until it comes up.
        assert!(selection.chosen[1].v4.is_empty() && selection.chosen[1].v6.is_empty());
    }

    #[test]
    fn by_address_the_interface_holding_it_with_that_address_for_its_family() {
        let mut eth0 = eth("eth0", 2, "10.0.2.1");
        eth0.v4.push("10.0.2.2".parse().unwrap());
        let all = [lo(), eth0];
        let selection = select(&all, &sel(&["10.0.2.2"]), &[], Family::Both).unwrap();
        assert_eq!(names(&selection), ["eth0"]);
        assert_eq!(selection.chosen[0].v4, ["10.0.2.2".parse::<Ipv4Addr>().unwrap()]);
        assert!(selection.chosen[0].v6.is_empty());
        // Named by both name and address: the whole interface.
        let selection = select(&all, &sel(&["10.0.2.2", "eth0"]), &[], Family::Both).unwrap();
        assert_eq!(selection.chosen.len(), 1);
        assert_eq!(selection.chosen[0].v4.len(), 2);
        assert_eq!(selection.chosen[0].v6.len(), 1);
    }

    #[test]
    fn an_ipv6_address_on_two_links_needs_its_zone() {
        let mut eth0 = eth("eth0", 2, "10.0.2.1");
        let mut eth1 = eth("eth1", 3, "10.0.3.1");
        eth0.v6 = vec![("fe80::1".parse().unwrap(), 2)];
        eth1.v6 = vec![("fe80::1".parse().unwrap(), 3)];
        let all = [lo(), eth0, eth1];
        assert_eq!(
            error(&all, &["fe80::1"], &[], Family::Both),
            "address fe80::1 is on eth0 and eth1: say which, e.g. fe80::1%eth0 or fe80::1%eth1"
        );
        for text in ["fe80::1%eth1", "fe80::1%3"] {
            let selection = select(&all, &sel(&[text]), &[], Family::Both).unwrap();
            assert_eq!(names(&selection), ["eth1"], "{text}");
            assert_eq!(selection.chosen[0].v6, [("fe80::1".parse().unwrap(), 3)], "{text}");
            assert!(selection.chosen[0].v4.is_empty(), "{text}");
        }
        let e = error(&all, &["fe80::1%eth9"], &[], Family::Both);
        assert!(e.starts_with("no interface has address fe80::1%eth9; addresses here: "), "{e}");
    }

    #[test]
    fn exclusions_by_name_or_address_and_when_they_take_everything() {
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), eth("docker0", 3, "172.17.0.1")];
        let only = |exclude: &[&str]| {
            let selection = select(&all, &[], &sel(exclude), Family::Both).unwrap();
            names(&selection).join(" ")
        };
        assert_eq!(only(&["eth0"]), "docker0");
        assert_eq!(only(&["172.17.0.1"]), "eth0");
        assert_eq!(only(&["fe80::2%eth0"]), "docker0");
        assert_eq!(only(&["tun0"]), "eth0 docker0"); // not there yet: no error
        // Not loopback for a host whose interfaces were excluded.
        assert_eq!(
            error(&all, &[], &["eth0", "docker0"], Family::Both),
            "every interface that would be used is excluded (eth0, docker0): exclude fewer"
        );
        assert_eq!(
            error(&all, &["eth0"], &["10.0.2.1"], Family::Both),
            "every interface that would be used is excluded (eth0): exclude fewer"
        );
        // Exclusions win over what is named.
        let selection = select(&all, &sel(&["eth0", "lo"]), &sel(&["lo"]), Family::Both).unwrap();
        assert_eq!(names(&selection), ["eth0"]);
    }

    #[test]
    fn one_family_only() {
        let mut v4_only = eth("eth1", 3, "10.0.3.1");
        v4_only.v6.clear();
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), v4_only];
        let selection = select(&all, &[], &[], Family::V4Only).unwrap();
        assert_eq!(names(&selection), ["eth0", "eth1"]);
        assert!(selection.chosen.iter().all(|c| c.v6.is_empty() && c.v4.len() == 1));
        let selection = select(&all, &[], &[], Family::V6Only).unwrap();
        assert_eq!(names(&selection), ["eth0"]);
        assert!(selection.chosen[0].v4.is_empty() && selection.chosen[0].v6.len() == 1);
        assert_eq!(
            error(&all, &["10.0.2.1"], &[], Family::V6Only),
            "10.0.2.1 is an IPv4 address but only IPv6 is to be used: pass an IPv6 address or \
             the interface's name, or allow both families"
        );
        assert_eq!(
            error(&all, &["fe80::2%eth0"], &[], Family::V4Only),
            "fe80::2 is an IPv6 address but only IPv4 is to be used: pass an IPv4 address or \
             the interface's name, or allow both families"
        );
    }

    #[test]
    fn what_is_not_there_is_an_error_naming_what_is() {
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), eth("docker0", 3, "172.17.0.1")];
        assert_eq!(
            error(&all, &["eht0"], &[], Family::Both),
            "no interface named 'eht0'; this host has: lo, eth0, docker0"
        );
        assert_eq!(
            error(&all, &["10.9.9.9"], &[], Family::Both),
            "no interface has address 10.9.9.9; addresses here: 127.0.0.1 (lo), ::1 (lo), \
             10.0.2.1 (eth0), fe80::2%eth0, 172.17.0.1 (docker0), fe80::3%docker0"
        );
        assert_eq!(
            error(&all, &["10.0.2.1", "10.9.9.9"], &[], Family::Both),
            error(&all, &["10.9.9.9"], &[], Family::Both)
        );
        // A long list is cut.
        let mut many = vec![lo()];
        many.extend((2..40).map(|i| eth(&format!("veth{i}"), i, &format!("10.1.0.{i}"))));
        let e = error(&many, &["eht0"], &[], Family::Both);
        assert!(e.ends_with("veth12 and 27 more"), "{e}");
    }

    #[test]
    fn reselect_leaves_out_what_went_instead_of_failing() {
        let all = [lo(), eth("eth0", 2, "10.0.2.1")];
        let want = sel(&["wlan0", "eth0", "10.9.9.9"]);
        assert!(select(&all, &want, &[], Family::Both).is_err());
        assert_eq!(names(&reselect(&all, &want, &[], Family::Both)), ["eth0"]);
        assert_eq!(reselect(&all, &sel(&["wlan0"]), &[], Family::Both), Selection::default());
        let mut down = lo();
        down.flags.up = false;
        assert_eq!(reselect(&[down], &[], &[], Family::Both), Selection::default());
    }

    #[test]
    fn selectors_parse_names_and_addresses_and_refuse_the_rest() {
        assert_eq!("eth0".parse(), Ok(Selector::Name("eth0".to_owned())));
        assert_eq!("lo".parse(), Ok(Selector::Name("lo".to_owned())));
        assert_eq!("10.0.0.1".parse(), Ok(Selector::V4(Ipv4Addr::new(10, 0, 0, 1))));
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        assert_eq!("fe80::1".parse(), Ok(Selector::V6(ll, None)));
        assert_eq!("fe80::1%eth0".parse(), Ok(Selector::V6(ll, Some(Zone::Name("eth0".into())))));
        assert_eq!("fe80::1%2".parse(), Ok(Selector::V6(ll, Some(Zone::Index(2)))));
        for text in ["eth0", "10.0.0.1", "fe80::1", "fe80::1%eth0", "fe80::1%2", "2001:db8::1"] {
            assert_eq!(text.parse::<Selector>().unwrap().to_string(), text);
        }
        let bad = [
            "",
            " ",
            "eth 0",
            "a/b",
            ".",
            "..",
            "sixteen-chars-xx",
            "eth0:1",
            "fe80::zz",
            "fe80::1%",
            "fe80::1%a/b",
            "fe80::1%99999999999",
            "10.0.0.1%eth0",
            "[fe80::1]",
            "\u{0}",
            "eth%d",
        ];
        for text in bad {
            let e = text.parse::<Selector>().unwrap_err();
            assert_eq!(e, SelectError::BadSelector(text.to_owned()));
            assert!(e.to_string().starts_with(&format!("'{text}' is neither an interface name")));
        }
    }

    #[test]
    fn the_hint_names_an_interface_to_pass() {
        let mut port = eth("veth1", 4, "10.0.4.1");
        port.master = Some("br0".to_owned());
        let mut no_carrier = eth("docker0", 2, "172.17.0.1");
        no_carrier.flags.running = false;
        let all =
            [lo(), no_carrier, eth("eth0", 3, "192.168.1.5"), port, eth("br0", 5, "10.0.5.1")];
        assert_eq!(
            hint(&all, Family::Both),
            "pass --interface eth0 (interfaces here: docker0 172.17.0.1, eth0 192.168.1.5, \
             br0 10.0.5.1), or --interface lo to stay on this host"
        );
        assert_eq!(
            hint(&[lo()], Family::Both),
            "this host has no network interface up besides loopback: pass --interface lo to \
             stay on this host"
        );
    }

    #[test]
    fn equality_tells_a_changed_set_from_the_same_one() {
        let all = [lo(), eth("eth0", 2, "10.0.2.1"), eth("wlan0", 3, "10.0.3.1")];
        let before = select(&all, &[], &[], Family::Both).unwrap();
        assert_eq!(select(&all.clone(), &[], &[], Family::Both).unwrap(), before);
        let mut moved = all.clone();
        moved[2].v4 = vec!["10.0.3.2".parse().unwrap()];
        assert_ne!(select(&moved, &[], &[], Family::Both).unwrap(), before);
        let mut gone = all.clone();
        gone[2].flags.running = false;
        assert_ne!(select(&gone, &[], &[], Family::Both).unwrap(), before);
    }

    #[test]
    fn this_hosts_list_is_by_index_with_loopback_in_it() {
        // Only reads the host's interfaces: nothing is sent.
        let all = enumerate().unwrap();
        assert!(all.windows(2).all(|w| w[0].index < w[1].index), "{all:?}");
        let lo = all.iter().find(|i| i.flags.loopback).expect("a loopback interface");
        assert!(lo.v4.contains(&Ipv4Addr::LOCALHOST), "{lo:?}");
        for i in &all {
            assert!(i.index != 0 && !i.name.is_empty() && !i.name.contains(':'), "{i:?}");
            if let Some(master) = &i.master {
                assert!(all.iter().any(|m| m.name == *master), "{i:?}");
            }
        }
    }

    // The namespace test lives here, not in tests/: this module is
    // crate-private, and a #[doc(hidden)] pub hook would put test-only items
    // in the public API. As tests/common/netns.rs does, the lib's test
    // binary runs the one test again inside a namespace of its own, and a
    // mount namespace too, for a fresh /sys: sysfs shows the network
    // namespace it was mounted in, and `master` reads it.

    /// Set in the copy of a test that runs inside the namespace.
    const INSIDE: &str = "SIMPLEP2P_INSIDE_NETNS";

    /// In the test process: runs test `name` again in new network and mount
    /// namespaces and checks that it passed there; true in the copy inside.
    /// Without root, `unshare` or `ip` it says why and passes, unless
    /// SIMPLEP2P_REQUIRE_NETNS=1.
    fn inside_netns(name: &str) -> bool {
        if std::env::var_os(INSIDE).is_some() {
            return true;
        }
        let why = match Command::new("unshare").args(["-n", "-m", "true"]).output() {
            Ok(o) if o.status.success() => match Command::new("ip").arg("-V").output() {
                Ok(_) => None,
                Err(e) => Some(format!("ip: {e} (apt-get install iproute2)")),
            },
            Ok(o) => Some(format!("unshare -n -m: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Some(format!("unshare: {e}")),
        };
        if let Some(why) = why {
            assert!(
                std::env::var_os("SIMPLEP2P_REQUIRE_NETNS").is_none_or(|v| v != "1"),
                "SIMPLEP2P_REQUIRE_NETNS=1 but {why}"
            );
            eprintln!("skipped: {why}; run as root to test");
            return false;
        }
        // unshare -m makes every mount private: the fresh /sys stays inside.
        let script = r#"mount -t sysfs sysfs /sys && ip link set lo up && exec "$0" --exact "$1" --nocapture --test-threads=1"#;
        let out = Command::new("unshare")
            .args(["-n", "-m", "sh", "-c", script])
            .arg(std::env::current_exe().unwrap())
            .arg(name)
            .env(INSIDE, "1")
            .output()
            .expect("run unshare");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{name} failed inside the namespace");
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "{name} did not run");
        false
    }

    /// `ip` with `args`, only ever inside a private namespace.
    fn ip(args: &str) {
        assert!(std::env::var_os(INSIDE).is_some(), "ip {args} outside a private namespace");
        let out = Command::new("ip").args(args.split(' ')).output().expect("run ip");
        assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn in_a_namespace_a_bridge_port_is_left_to_its_bridge() {
        if !inside_netns(
            "peer::interfaces::tests::in_a_namespace_a_bridge_port_is_left_to_its_bridge",
        ) {
            return;
        }
        // Addresses that exist only in this namespace, which dies with it.
        for args in [
            "link add br-t type bridge",
            "link add vt0 type veth peer name vt1",
            "link set vt0 master br-t",
            "addr add 10.77.0.1/24 dev br-t",
            "addr add 10.77.0.9/24 dev br-t label br-t:9",
            "link set vt0 up",
            "link set vt1 up",
            "link set br-t up",
        ] {
            ip(args);
        }
        // The bridge has carrier once its port forwards (at once, STP off).
        let deadline = Instant::now() + Duration::from_secs(5);
        let all = loop {
            let all = enumerate().unwrap();
            let running = all.iter().any(|i| i.name == "br-t" && i.flags.running);
            if running || Instant::now() > deadline {
                break all;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let find = |name: &str| {
            all.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no {name} in {all:?}"))
        };
        let br = find("br-t");
        assert!(br.flags.up && br.flags.running && br.flags.multicast, "{br:?}");
        assert_eq!(find("vt0").master.as_deref(), Some("br-t"));
        assert_eq!((&br.master, &find("vt1").master, &find("lo").master), (&None, &None, &None));
        // The alias label is the bridge's second address, not an interface.
        let ours: Vec<Ipv4Addr> = ["10.77.0.1", "10.77.0.9"].map(|a| a.parse().unwrap()).into();
        assert_eq!(br.v4, ours);
        assert!(all.iter().all(|i| !i.name.contains(':')), "{all:?}");

        let v4 = select(&all, &[], &[], Family::V4Only).unwrap();
        assert_eq!(names(&v4), ["br-t"]);
        assert_eq!(v4.chosen[0].v4, ours);
        // vt1 may have its link-local address by now; the port never serves.
        let both = select(&all, &[], &[], Family::Both).unwrap();
        assert!(names(&both).contains(&"br-t") && !names(&both).contains(&"vt0"), "{both:?}");
        assert!(!both.loopback_fallback);
        // Named, it is served all the same.
        let named = select(&all, &sel(&["vt0"]), &[], Family::Both).unwrap();
        assert_eq!(names(&named), ["vt0"]);
    }
}
