//! Sending over IPv6 from a chosen source address (`IPV6_PKTINFO`), so that
//! everything a peer sends on one link comes from the one address the
//! others challenged and proved. Linux picks a multicast's source and a
//! unicast's by different rules (RFC 6724's longest matching prefix counts
//! only for unicast), so on an interface with two link-local addresses
//! heartbeats could come from one and answers from the other, and the
//! address the others know would never be the one they hear.

use std::io::{self, IoSlice};
use std::mem::{MaybeUninit, offset_of, size_of};
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};

use socket2::{MsgHdr, SockAddr, SockRef};

/// The control message: a header, then the `in6_pktinfo` at the offset the
/// kernel reads it from (checked against libc's macros by a test).
#[repr(C)]
struct Control {
    header: libc::cmsghdr,
    info: libc::in6_pktinfo,
}

/// Sends `buf` to `to` from `from`, leaving on `to`'s interface (its scope
/// id). An error if `from` is not an address of this host (any more).
pub(crate) fn send_from(
    sock: &UdpSocket,
    buf: &[u8],
    to: SocketAddrV6,
    from: Ipv6Addr,
) -> io::Result<usize> {
    let len = offset_of!(Control, info) + size_of::<libc::in6_pktinfo>();
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr { s6_addr: from.octets() },
        ipi6_ifindex: to.scope_id(),
    };
    // Zeroed whole, then written field by field in place, so that every
    // byte, padding included, is initialised when it is read as bytes.
    let mut control = MaybeUninit::<Control>::zeroed();
    let at = control.as_mut_ptr();
    // SAFETY: `at` points to our own zeroed Control; each write stays
    // inside one of its fields (in6_pktinfo has no padding: 16 + 4 bytes).
    unsafe {
        (&raw mut (*at).header.cmsg_len).write(len as _);
        (&raw mut (*at).header.cmsg_level).write(libc::IPPROTO_IPV6);
        (&raw mut (*at).header.cmsg_type).write(libc::IPV6_PKTINFO);
        (&raw mut (*at).info).write(info);
    }
    // SAFETY: every byte of `control` is initialised (above), and it lives
    // until the send returns.
    let bytes = unsafe { std::slice::from_raw_parts(at.cast::<u8>(), size_of::<Control>()) };
    let addr = SockAddr::from(to);
    let bufs = [IoSlice::new(buf)];
    let msg = MsgHdr::new().with_addr(&addr).with_buffers(&bufs).with_control(bytes);
    SockRef::from(sock).sendmsg(&msg, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_one_the_kernel_reads() {
        let info = size_of::<libc::in6_pktinfo>() as libc::c_uint;
        // SAFETY: both only compute sizes.
        let (len, space) = unsafe { (libc::CMSG_LEN(info), libc::CMSG_SPACE(info)) };
        assert_eq!(offset_of!(Control, info) + size_of::<libc::in6_pktinfo>(), len as usize);
        assert_eq!(size_of::<Control>(), space as usize);
    }

    #[test]
    fn an_address_not_on_this_host_is_refused() {
        let Ok(sock) = UdpSocket::bind("[::1]:0") else {
            return eprintln!("no IPv6 loopback here: send_from not exercised");
        };
        let to = SocketAddrV6::new(Ipv6Addr::LOCALHOST, sock.local_addr().unwrap().port(), 0, 0);
        // From ::1 it goes; from an address nobody here holds, it does not.
        assert_eq!(send_from(&sock, b"x", to, Ipv6Addr::LOCALHOST).unwrap(), 1);
        let nowhere: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(send_from(&sock, b"x", to, nowhere).is_err());
    }
}
