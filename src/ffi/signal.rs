//! SIGINT and SIGTERM as a clean leave instead of a kill.

use std::ffi::c_int;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::Peer;

/// The group socket of the peer to close on a signal; -1 for none.
static CLOSE_FD: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn on_signal(_signal: c_int) {
    let fd = CLOSE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: shutdown(2) is async-signal-safe, and `fd` belongs to a
        // peer that the SignalGuard's lifetime keeps open.
        unsafe { libc::shutdown(fd, libc::SHUT_RD) };
    }
}

/// While this lives, SIGINT and SIGTERM close the peer it was made for (as
/// [`Peer::close`] does: goodbye, threads stopped, a blocked `recv` returns
/// [`crate::Error::Closed`]) instead of killing the process. Dropping it
/// restores the default actions.
#[derive(Debug)]
pub struct SignalGuard<'a> {
    peer: PhantomData<&'a Peer>,
}

/// Makes SIGINT and SIGTERM close `peer` for as long as the returned guard
/// lives. One peer per process at a time: a second call replaces the first.
///
/// # Errors
/// The system's error if a handler cannot be installed.
pub fn close_on_termination(peer: &Peer) -> io::Result<SignalGuard<'_>> {
    CLOSE_FD.store(peer.closer().fd(), Ordering::Release);
    for signal in SIGNALS {
        install(signal, on_signal as extern "C" fn(c_int) as libc::sighandler_t)?;
    }
    Ok(SignalGuard { peer: PhantomData })
}

impl Drop for SignalGuard<'_> {
    fn drop(&mut self) {
        for signal in SIGNALS {
            let _ = install(signal, libc::SIG_DFL);
        }
        CLOSE_FD.store(-1, Ordering::Release);
    }
}

fn install(signal: c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags);
    // the fields set below are plain data.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // Interrupted reads restart; a read on the shut-down socket then returns.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is initialised and outlives the call; the old
    // action is not asked for (null).
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
