//! The attacker's view of the segment (loopback): a packet socket that
//! records every UDP datagram to or from the ports it is told to watch, and
//! a raw socket that sends any datagram again, from the source address it
//! was recorded with or from the attacker's own.
//!
//! Both need CAP_NET_RAW: root, as in CI, or root of a user namespace that
//! owns the network namespace (see `segment` in `keyed_attacks.rs`).

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// One UDP datagram as it crossed the segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub bytes: Vec<u8>,
}

/// Records the datagrams whose source or destination port is watched.
pub struct Recorder {
    ports: Arc<Mutex<HashSet<u16>>>,
    log: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Builds an `io::Error` from errno after a failed libc call.
fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn set_opt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live T and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_error("setsockopt")) }
}

fn socket(domain: i32, kind: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the descriptor is owned from here on.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(last_error("socket"));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Recorder {
    /// Opens a packet socket on `lo` and starts recording.
    pub fn start() -> io::Result<Recorder> {
        let proto = (libc::ETH_P_IP as u16).to_be();
        let fd = socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto))?;
        // SAFETY: a NUL-terminated name.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        if lo == 0 {
            return Err(last_error("if_nametoindex(lo)"));
        }
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = lo as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the given length.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(last_error("bind the packet socket to lo"));
        }
        // Room for bursts while the reader waits for a CPU (other tests'
        // traffic crosses lo too); the forced size needs CAP_NET_ADMIN.
        let size: libc::c_int = 32 << 20;
        if set_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
            set_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)?;
        }
        let timeout = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
        set_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;

        let ports = Arc::new(Mutex::new(HashSet::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, l, s) = (Arc::clone(&ports), Arc::clone(&log), Arc::clone(&stop));
        let thread = thread::spawn(move || record(&fd, &p, &l, &s));
        Ok(Recorder { ports, log, stop, thread: Some(thread) })
    }

    /// Records from now on what goes to or comes from `port`.
    pub fn watch(&self, port: u16) {
        self.ports.lock().unwrap().insert(port);
    }

    /// Every distinct datagram recorded so far, in the order seen; a copy
    /// of one seen earlier (a replay, or loopback's second sighting of a
    /// multicast) is left out, so each keeps the source it first had.
    pub fn recorded(&self) -> Vec<Datagram> {
        let log = self.log.lock().unwrap();
        let mut seen = HashSet::new();
        log.iter().filter(|d| seen.insert(&d.bytes)).cloned().collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn record(
    fd: &OwnedFd,
    ports: &Mutex<HashSet<u16>>,
    log: &Mutex<Vec<Datagram>>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Acquire) {
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are live and their lengths are given.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &raw mut len,
            )
        };
        // A timeout, to look at `stop`; or, on lo, our own copy of an
        // outgoing packet, which is seen again as it comes in.
        let Ok(n) = usize::try_from(n) else { continue };
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        let Some(d) = parse_udp(&buf[..n]) else { continue };
        let watched = {
            let ports = ports.lock().unwrap();
            ports.contains(&d.src.port()) || ports.contains(&d.dst.port())
        };
        if watched {
            log.lock().unwrap().push(d);
        }
    }
}

/// The UDP datagram in an IPv4 packet, if it is one (and not a fragment).
fn parse_udp(ip: &[u8]) -> Option<Datagram> {
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != libc::IPPROTO_UDP as u8 {
        return None;
    }
    if be16(ip, 6) & 0x3fff != 0 {
        return None; // a fragment: loopback's MTU leaves none
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = ip.get(ihl..)?;
    if udp.len() < 8 {
        return None;
    }
    let len = usize::from(be16(udp, 4));
    let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
    Some(Datagram {
        src: SocketAddrV4::new(addr(12), be16(udp, 0)),
        dst: SocketAddrV4::new(addr(16), be16(udp, 2)),
        bytes: udp.get(8..len)?.to_vec(),
    })
}

/// Sends UDP datagrams with any source address (IP_HDRINCL), the way an
/// attacker on the segment can.
pub struct Spoofer {
    fd: OwnedFd,
}

impl Spoofer {
    pub fn open() -> io::Result<Spoofer> {
        let fd = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
        // Multicast stays on loopback, as every peer's does.
        let lo = libc::in_addr { s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be() };
        set_opt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &lo)?;
        Ok(Spoofer { fd })
    }

    /// Sends `payload` from `src` to `dst`.
    pub fn send(&self, payload: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<()> {
        let total = 20 + 8 + payload.len();
        let mut pkt = Vec::with_capacity(total);
        // The kernel fills in the total length, the id and the checksum.
        pkt.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 1, libc::IPPROTO_UDP as u8, 0, 0]);
        pkt.extend_from_slice(&src.ip().octets());
        pkt.extend_from_slice(&dst.ip().octets());
        pkt.extend_from_slice(&src.port().to_be_bytes());
        pkt.extend_from_slice(&dst.port().to_be_bytes());
        pkt.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        pkt.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
        pkt.extend_from_slice(payload);
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr = libc::in_addr { s_addr: u32::from(*dst.ip()).to_be() };
        // SAFETY: `pkt` and `to` are live and their lengths are given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 { Err(last_error("sendto on the raw socket")) } else { Ok(()) }
    }
}
