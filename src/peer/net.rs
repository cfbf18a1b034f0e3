//! The system side of a peer's sockets: opening them with errors a user
//! can act on, and the read the I/O thread makes.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

use crate::config::Config;
use crate::error::{Error, Result, io};

/// The group socket: bound to group:port, shared with every peer on the host
/// (SO_REUSEADDR), and joined on no interface yet ([`join`] does that).
/// Binding the group address rather than 0.0.0.0 keeps other groups on the
/// same port out.
pub(crate) fn group_socket(config: &Config) -> Result<UdpSocket> {
    if !config.group.is_multicast() {
        return Err(Error::BadGroup(config.group));
    }
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(io("open the group socket"))?;
    sock.set_reuse_address(true).map_err(io("set SO_REUSEADDR"))?;
    let addr = SocketAddrV4::new(config.group, config.port);
    sock.bind(&addr.into()).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => Error::PortInUse(config.port),
        _ => Error::Io { op: "bind the group socket", source: e },
    })?;
    // Linux delivers to a socket bound to a group every datagram for that
    // group on any interface some socket joined, unless this is off: a peer
    // hears only the interfaces it serves.
    sock.set_multicast_all_v4(false).map_err(io("turn off IP_MULTICAST_ALL"))?;
    Ok(sock.into())
}

/// Joins (or, with `on` false, leaves) the group on the interface with
/// this index.
pub(crate) fn join(sock: &UdpSocket, group: Ipv4Addr, index: u32, on: bool) -> io::Result<()> {
    let at = InterfaceIndexOrAddress::Index(index);
    let sock = SockRef::from(sock);
    if on { sock.join_multicast_v4_n(&group, &at) } else { sock.leave_multicast_v4_n(&group, &at) }
}

/// The unicast socket: sends everything (multicast goes out on each served
/// interface in turn) and takes the unicast replies, acks and
/// retransmissions. Bound to `bind` when the user gave one address, else
/// to every address, so the kernel picks the source that reaches each peer.
pub(crate) fn unicast_socket(config: &Config, bind: Option<Ipv4Addr>) -> Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(io("open the unicast socket"))?;
    let ip = bind.unwrap_or(Ipv4Addr::UNSPECIFIED);
    sock.bind(&SocketAddrV4::new(ip, 0).into()).map_err(|e| match e.kind() {
        io::ErrorKind::AddrNotAvailable => Error::BadInterface(ip),
        _ => Error::Io { op: "bind the unicast socket", source: e },
    })?;
    sock.set_multicast_ttl_v4(config.ttl).map_err(io("set the multicast TTL"))?;
    // A peer hears its own datagrams and drops them by UUID; loop must be on
    // so that peers on the same host hear each other.
    sock.set_multicast_loop_v4(true).map_err(io("enable multicast loopback"))?;
    Ok(sock.into())
}

/// The IPv6 group socket of one interface: bound to `[group%index]:port`,
/// which ties it to that interface (the kernel requires a scope id to bind
/// a link-scope address), shared with every peer on the host, and joined
/// there. One per interface, because Linux's IPV6_MULTICAST_ALL, unlike
/// IPv4's, does not look at the interface a group was joined on: a socket
/// bound to `[group]:port` without a scope would hear interfaces this peer
/// does not serve.
pub(crate) fn group6_socket(group: Ipv6Addr, port: u16, index: u32) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_only_v6(true)?;
    sock.set_reuse_address(true)?;
    sock.bind(&SocketAddrV6::new(group, port, 0, index).into())?;
    sock.join_multicast_v6(&group, index)?;
    Ok(sock.into())
}

/// The IPv6 unicast socket, as [`unicast_socket`] for IPv4: bound to the
/// one address given (with its scope), else to `[::]`, at `port` if that
/// is free (so a peer has one port in both families) or any. Multicast
/// leaves it towards `[group%index]`, the scope id choosing the interface.
pub(crate) fn unicast6_socket(
    config: &Config,
    bind: Option<(Ipv6Addr, u32)>,
    port: u16,
) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_only_v6(true)?;
    let (ip, scope) = bind.unwrap_or((Ipv6Addr::UNSPECIFIED, 0));
    if sock.bind(&SocketAddrV6::new(ip, port, 0, scope).into()).is_err() {
        sock.bind(&SocketAddrV6::new(ip, 0, 0, scope).into())?;
    }
    sock.set_multicast_hops_v6(config.ttl)?;
    sock.set_multicast_loop_v6(true)?;
    Ok(sock.into())
}

/// Sets the interface the next multicast leaves from, by its address.
pub(crate) fn multicast_from(sock: &UdpSocket, addr: Ipv4Addr) -> io::Result<()> {
    SockRef::from(sock).set_multicast_if_v4(&addr)
}

/// Maps a failed multicast send to the error a user can act on.
pub(crate) fn send_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::NetworkUnreachable => Error::NoMulticastRoute,
        _ => Error::Io { op: "send to the group", source: e },
    }
}

/// What one read returned.
pub(crate) enum Read {
    /// A datagram of this many bytes, from this address.
    Datagram(usize, SocketAddr),
    /// Nothing was waiting after all.
    Empty,
    /// Any other failure (an ICMP error from an earlier send): counted, and
    /// the thread carries on.
    Failed,
}

/// Reads one datagram if one is waiting, never blocking.
pub(crate) fn read(sock: &UdpSocket, buf: &mut [u8]) -> Read {
    match crate::ffi::recv_now(sock, buf) {
        Ok((n, Some(src))) => Read::Datagram(n, src),
        Ok((_, None)) => Read::Failed,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Empty,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Read::Empty,
        Err(_) => Read::Failed,
    }
}

/// The subnets directly connected to this host (routes with no gateway in
/// Linux's `/proc/net/route` and `/proc/net/ipv6_route`, and loopback), to
/// tell a source on the link from one a router forwarded: with TTL 1 a
/// real peer is always on the link, so anything else is not answered (as
/// mDNS does, RFC 6762 §11). An IPv6 link-local source is on a link by
/// definition: no router forwards it. Read again at most once a second;
/// without `/proc`, everyone is on-link.
#[derive(Debug)]
pub(crate) struct OnLink {
    /// When the tables were read, and their direct routes.
    cache: std::sync::Mutex<Option<(std::time::Instant, Routes)>>,
}

/// (network, mask) pairs per family, in host byte order.
#[derive(Debug, Default)]
struct Routes {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// The shortest IPv6 prefix taken for a link: LANs are /64, and a site
/// is at most /48.
const MIN_ON_LINK6: u32 = 48;

/// How long a reading of the routing table is trusted.
const ROUTES_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl OnLink {
    pub fn new() -> OnLink {
        OnLink { cache: std::sync::Mutex::new(None) }
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let on = |routes: &Routes| match ip {
            std::net::IpAddr::V4(ip) => {
                let ip = u32::from(ip);
                routes.v4.iter().any(|&(net, mask)| ip & mask == net)
            }
            std::net::IpAddr::V6(ip) => {
                let ip = u128::from(ip);
                routes.v6.iter().any(|&(net, mask)| ip & mask == net)
            }
        };
        match ip {
            std::net::IpAddr::V4(v4) if v4.is_loopback() => return true,
            std::net::IpAddr::V6(v6) if v6.is_loopback() || v6.is_unicast_link_local() => {
                return true;
            }
            _ => {}
        }
        let now = std::time::Instant::now();
        let mut cache = super::lock(&self.cache);
        if cache.as_ref().is_none_or(|(at, _)| now >= *at + ROUTES_FRESH) {
            let read = |path| std::fs::read_to_string(path).ok();
            *cache = match (read("/proc/net/route"), read("/proc/net/ipv6_route")) {
                (None, None) => None,
                (v4, v6) => Some((
                    now,
                    Routes {
                        v4: v4.map(|t| direct_routes(&t)).unwrap_or_default(),
                        v6: v6.map(|t| direct_routes6(&t)).unwrap_or_default(),
                    },
                )),
            };
        }
        cache.as_ref().is_none_or(|(_, routes)| on(routes))
    }
}

/// (network, mask) of every route without a gateway, in host byte order.
/// The file's addresses are hex in the kernel's (little-endian) order.
fn direct_routes(table: &str) -> Vec<(u32, u32)> {
    // Printed as the native u32 of a network-order value.
    let hex =
        |s: &str| u32::from_str_radix(s, 16).ok().map(|v| u32::from_be_bytes(v.to_ne_bytes()));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, gateway, mask) = (hex(f.get(1)?)?, hex(f.get(2)?)?, hex(f.get(7)?)?);
            (gateway == 0 && mask != 0).then_some((dest & mask, mask))
        })
        .collect()
}

/// As [`direct_routes`], from `/proc/net/ipv6_route`: destination (32 hex
/// digits, network order), prefix length, source and its length, next hop,
/// metric, counts, flags. A route through a gateway or a reject route
/// (an unreachable default) is left out, and so is one shorter than
/// [`MIN_ON_LINK6`]: a VPN's catch-all (`2000::/3 dev tun0`, `::/1 dev
/// wg0`) is direct too, and would make the whole Internet on-link.
fn direct_routes6(table: &str) -> Vec<(u128, u128)> {
    const RTF_GATEWAY: u32 = 0x2;
    const RTF_REJECT: u32 = 0x200;
    table
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u128::from_str_radix(f.first()?, 16).ok()?;
            let len = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let hop = u128::from_str_radix(f.get(4)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            let direct = hop == 0 && flags & (RTF_GATEWAY | RTF_REJECT) == 0;
            let mask = u128::MAX.checked_shl(128u32.checked_sub(len)?).unwrap_or(0);
            (direct && (MIN_ON_LINK6..=128).contains(&len)).then_some((dest & mask, mask))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_ipv6_routes_are_read_and_gateways_rejects_and_the_default_left_out() {
        let table = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                     00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n\
                     20010db8000000000000000000000000 20 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n\
                     20000000000000000000000000000000 03 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000003 00000000 00000001     tun0\n\
                     00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let routes = direct_routes6(table);
        let fd00: u128 = "fd00::".parse::<std::net::Ipv6Addr>().unwrap().into();
        assert_eq!(routes, [(fd00, u128::MAX << 64)]);
    }

    #[test]
    fn an_ipv6_link_local_source_is_on_link_and_a_routed_one_is_not() {
        let on = OnLink::new();
        assert!(on.contains("fe80::1".parse().unwrap()));
        assert!(on.contains("::1".parse().unwrap()));
        // Documentation's prefix: on no link of any test machine.
        assert!(!on.contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn direct_routes_are_read_in_host_order_and_gateways_left_out() {
        let table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n\
                     eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     sp0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
        let routes = direct_routes(table);
        let net = |a: [u8; 4]| u32::from(Ipv4Addr::from(a));
        assert_eq!(
            routes,
            [
                (net([192, 0, 2, 0]), net([255, 255, 255, 0])),
                (net([10, 77, 0, 0]), net([255, 255, 0, 0]))
            ]
        );
    }
}
