//! `poll(2)` over a peer's descriptors, so that one I/O thread can wait on
//! all its sockets and its wake-up pair at once, with a timer's deadline.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use socket2::SockRef;

/// The descriptors one thread waits on, and which were ready last time.
#[derive(Debug)]
pub(crate) struct Poller {
    fds: Vec<libc::pollfd>,
}

impl Poller {
    /// Watches `fds` for reading, in this order ([`Poller::ready`] takes the index).
    pub fn new(fds: &[BorrowedFd<'_>]) -> Poller {
        let fds = fds
            .iter()
            .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        Poller { fds }
    }

    /// Waits until one is readable (or in error: a read then says why), at
    /// most `timeout` (`None`: for ever), rounded up to a millisecond so a
    /// timer is never woken early over and over. A signal ends the wait
    /// early, with nothing ready.
    ///
    /// # Errors
    /// A descriptor that is not open (`POLLNVAL`) is a bug in the caller and
    /// reported as `EBADF`, so that a loop cannot spin on it.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = timeout.map_or(-1, |t| {
            let ms = t.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        });
        for fd in &mut self.fds {
            fd.revents = 0;
        }
        let n = libc::nfds_t::try_from(self.fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: the pointer and length describe our own initialised Vec of
        // pollfd, which poll(2) only reads and writes within. The
        // descriptors are borrowed from sockets the caller keeps open.
        let rc = unsafe { libc::poll(self.fds.as_mut_ptr(), n, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
        }
        if self.fds.iter().any(|fd| fd.revents & libc::POLLNVAL != 0) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        Ok(())
    }

    /// Whether descriptor `i` was readable (or in error) after the last wait.
    pub fn ready(&self, i: usize) -> bool {
        self.fds.get(i).is_some_and(|fd| fd.revents != 0)
    }
}

/// Reads one datagram if one is waiting, without blocking whatever the
/// socket's mode (`MSG_DONTWAIT`): `poll` may call a socket readable whose
/// datagram then fails its checksum. The address is `None` when the kernel
/// gives none.
///
/// # Errors
/// `WouldBlock` when nothing is waiting; any error the socket had queued.
pub(crate) fn recv_now(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, Option<SocketAddr>)> {
    // SAFETY: MaybeUninit<u8> has u8's layout, and an initialised byte is a
    // valid MaybeUninit; socket2 only writes bytes into the slice.
    let uninit = unsafe { &mut *(std::ptr::from_mut(buf) as *mut [MaybeUninit<u8>]) };
    let (n, addr) = SockRef::from(sock).recv_from_with_flags(uninit, libc::MSG_DONTWAIT)?;
    Ok((n, addr.as_socket()))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::fd::AsFd as _;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    use super::*;

    #[test]
    fn says_which_is_readable_and_times_out_when_none_is() {
        let (a_rx, mut a_tx) = UnixStream::pair().unwrap();
        let (b_rx, _b_tx) = UnixStream::pair().unwrap();
        let mut poller = Poller::new(&[a_rx.as_fd(), b_rx.as_fd()]);
        let start = Instant::now();
        poller.wait(Some(Duration::from_millis(20))).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!poller.ready(0) && !poller.ready(1));
        a_tx.write_all(&[1]).unwrap();
        poller.wait(None).unwrap();
        assert!(poller.ready(0) && !poller.ready(1) && !poller.ready(2));
    }
}
