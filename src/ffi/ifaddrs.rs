//! getifaddrs(3) copied into owned values: one entry per interface and per
//! address of this host's network namespace. Reading it sends nothing.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One node of the list: an interface, with one of its addresses or none
/// (the link itself, `AF_PACKET`, which every interface has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The interface's name; an alias label ("eth0:1") is cut back to the
    /// interface it labels, and bytes that are not UTF-8 are replaced.
    pub name: String,
    /// From if_nametoindex(3); 0 when the interface went away meanwhile.
    pub index: u32,
    /// The link's `IFF_*` flags.
    pub flags: u32,
    pub addr: Option<Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addr {
    V4(Ipv4Addr),
    /// With its scope id: the interface's index for a link-local address.
    V6(Ipv6Addr, u32),
}

/// Frees the list however the copy ends.
struct List(*mut libc::ifaddrs);

impl Drop for List {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful getifaddrs and is
        // freed only here, once.
        unsafe { libc::freeifaddrs(self.0) };
    }
}

/// Every interface and address, in the order the kernel listed them.
///
/// # Errors
/// The system's error when the list cannot be read (out of memory or file
/// descriptors, or no netlink in this sandbox).
pub(crate) fn entries() -> io::Result<Vec<Entry>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs only writes the head of a list it allocated.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = List(head);
    // An interface appears once per address: look each name up once.
    let mut indexes: Vec<(Vec<u8>, u32)> = Vec::new();
    let mut out = Vec::new();
    let mut at = list.0;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list, which lives until `list`
        // drops at the end of this function; nodes are only read.
        let node = unsafe { &*at };
        at = node.ifa_next;
        if node.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_name is a NUL-terminated string in the list.
        let label = unsafe { CStr::from_ptr(node.ifa_name) }.to_bytes();
        let name = label.split(|&b| b == b':').next().unwrap_or(label);
        let index = match indexes.iter().find(|(n, _)| n == name) {
            Some(&(_, index)) => index,
            None => {
                let index = index_of(name);
                indexes.push((name.to_vec(), index));
                index
            }
        };
        out.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            index,
            flags: node.ifa_flags,
            // SAFETY: ifa_addr is null or points to a sockaddr in the list
            // whose family says how long it is.
            addr: unsafe { address(node.ifa_addr) },
        });
    }
    Ok(out)
}

fn index_of(name: &[u8]) -> u32 {
    // Cut from a C string, so it holds no NUL; 0 means "no such interface".
    let Ok(name) = CString::new(name) else { return 0 };
    // SAFETY: `name` is a valid C string for the length of the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// # Safety
/// `sa` is null or points to a sockaddr at least as long as its family's
/// own struct.
unsafe fn address(sa: *const libc::sockaddr) -> Option<Addr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller's promise; read_unaligned because nothing says
    // how the list aligned it.
    match i32::from(unsafe { std::ptr::read_unaligned(sa) }.sa_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(Addr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes())))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let sin6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(Addr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr), sin6.sin6_scope_id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_index_and_address() {
        let all = entries().unwrap();
        let lo: Vec<&Entry> =
            all.iter().filter(|e| e.flags & libc::IFF_LOOPBACK as u32 != 0).collect();
        assert!(!lo.is_empty(), "no loopback in {all:?}");
        assert!(lo.iter().all(|e| e.index != 0 && e.index == lo[0].index), "{lo:?}");
        assert!(lo.iter().any(|e| e.addr == Some(Addr::V4(Ipv4Addr::LOCALHOST))), "{lo:?}");
    }
}
