//! SIGINT, SIGTERM and SIGHUP as a clean leave instead of a kill.

use std::ffi::c_int;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

use crate::Peer;

/// The write end of the wake-up pair of the peer to close on a signal
/// (-1 for none), and the byte that asks it to close.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static WAKE_BYTE: AtomicU8 = AtomicU8::new(0);
/// Set by the handler, for a caller that must act on a signal itself.
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// SIGHUP too: a closed terminal means "leave", not "die without a goodbye".
const SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(_signal: c_int) {
    TERMINATED.store(true, Ordering::Release);
    let fd = WAKE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let byte = WAKE_BYTE.load(Ordering::Acquire);
        // SAFETY: __errno_location is the calling thread's errno, which the
        // interrupted code may be about to read: kept as it was.
        let errno = unsafe { *libc::__errno_location() };
        // SAFETY: write(2) is async-signal-safe; `fd` belongs to a peer that
        // the SignalGuard's lifetime keeps open; `byte` lives for the call.
        // The pair is non-blocking: a full one is already readable.
        unsafe { libc::write(fd, std::ptr::from_ref(&byte).cast(), 1) };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }
}

/// While this lives, SIGINT, SIGTERM and SIGHUP close the peer it was made
/// for (as [`Peer::close`] does: goodbye, threads stopped, a blocked `recv`
/// returns [`crate::Error::Closed`]) instead of killing the process.
/// Dropping it restores the default actions.
#[derive(Debug)]
pub struct SignalGuard<'a> {
    peer: PhantomData<&'a Peer>,
}

impl SignalGuard<'_> {
    /// Whether one of the signals arrived. The close it asks for is carried
    /// out by the peer's I/O thread; a program whose delivery handler
    /// may block (writing to a full pipe, say) checks this while it waits
    /// and closes the peer itself.
    pub fn terminated(&self) -> bool {
        TERMINATED.load(Ordering::Acquire)
    }
}

/// Makes SIGINT, SIGTERM and SIGHUP close `peer` for as long as the returned
/// guard lives. One peer per process at a time: a second call replaces the
/// first.
///
/// # Errors
/// The system's error if a handler cannot be installed.
pub fn close_on_termination(peer: &Peer) -> io::Result<SignalGuard<'_>> {
    let closer = peer.closer();
    WAKE_BYTE.store(closer.byte, Ordering::Release);
    WAKE_FD.store(closer.fd, Ordering::Release);
    TERMINATED.store(false, Ordering::Release);
    for signal in SIGNALS {
        install(signal, on_signal as extern "C" fn(c_int) as libc::sighandler_t)?;
    }
    // Signals held by hold_termination_signals arrive now, to the handler.
    mask(libc::SIG_UNBLOCK)?;
    Ok(SignalGuard { peer: PhantomData })
}

/// Holds SIGINT, SIGTERM and SIGHUP pending on the calling thread, and on
/// the threads it starts from now on, until [`close_on_termination`] (called
/// on the same thread) installs its handler and lets them through. Call it
/// before [`Peer::start`]: a signal that arrives while the peer starts then
/// still closes it with a goodbye, rather than killing the process before
/// it can say one (a peer is heard by the group within a millisecond of
/// starting, so a script may well signal it that early).
///
/// # Errors
/// The system's error if the signal mask cannot be changed.
pub fn hold_termination_signals() -> io::Result<()> {
    mask(libc::SIG_BLOCK)
}

fn mask(how: c_int) -> io::Result<()> {
    // SAFETY: the set is initialised by sigemptyset before use, and
    // pthread_sigmask only reads it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigemptyset(&mut set) };
    for signal in SIGNALS {
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    let rc = unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }
}

impl Drop for SignalGuard<'_> {
    fn drop(&mut self) {
        for signal in SIGNALS {
            let _ = install(signal, libc::SIG_DFL);
        }
        WAKE_FD.store(-1, Ordering::Release);
    }
}

fn install(signal: c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags);
    // the fields set below are plain data.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // Interrupted calls restart (poll(2) does not, and returns: harmless).
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is initialised and outlives the call; the old
    // action is not asked for (null).
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
