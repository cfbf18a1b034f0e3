//! A file descriptor for event loops: readable exactly while one of the
//! queues it watches has something to take (or has closed), so that
//! `poll`, `epoll` or Python's `loop.add_reader` can wait on it and then
//! take what is there without blocking.
//!
//! It is one end of a Unix socket pair (from std: no `unsafe`) holding at
//! most one byte. Each queue it watches is *lit* while it is not empty or
//! is closed; the bell counts its lit queues, writes the byte when the
//! count leaves 0 and reads it back when the count returns to 0. Every
//! change of a queue's light happens under that queue's own lock, and the
//! bell's count under its own (always taken second), so no wake-up is lost
//! and the descriptor never stays readable over empty queues.

use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock};

use super::lock;
use crate::error::Result;

#[derive(Debug)]
pub(crate) struct Bell {
    /// What the caller waits on.
    rx: UnixStream,
    tx: UnixStream,
    /// How many watched queues are lit.
    lit: Mutex<usize>,
}

impl Bell {
    pub fn new() -> Result<Bell> {
        let (rx, tx) = UnixStream::pair().map_err(crate::error::io("make an event fd"))?;
        for end in [&rx, &tx] {
            end.set_nonblocking(true).map_err(crate::error::io("make an event fd"))?;
        }
        Ok(Bell { rx, tx, lit: Mutex::new(0) })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    fn up(&self) {
        let mut lit = lock(&self.lit);
        *lit += 1;
        if *lit == 1 {
            // Cannot fill: at most one byte is ever in the pair.
            let _ = (&self.tx).write(&[1]);
        }
    }

    fn down(&self) {
        let mut lit = lock(&self.lit);
        *lit = lit.saturating_sub(1);
        if *lit == 0 {
            let mut buf = [0; 8];
            loop {
                match (&self.rx).read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break, // WouldBlock: empty
                }
            }
        }
    }
}

/// One queue's side of a bell, kept under the queue's lock: whether the
/// queue is lit, and the bell (if any) to tell.
#[derive(Debug, Default)]
pub(crate) struct Light {
    on: bool,
    bell: Option<Arc<Bell>>,
}

impl Light {
    /// Says whether the queue has something to take (or is closed).
    pub fn set(&mut self, on: bool) {
        if on == self.on {
            return;
        }
        self.on = on;
        if let Some(bell) = &self.bell {
            if on { bell.up() } else { bell.down() }
        }
    }

    /// Starts telling `bell`, once; a second bell is ignored.
    pub fn attach(&mut self, bell: &Arc<Bell>) {
        if self.bell.is_some() {
            return;
        }
        if self.on {
            bell.up();
        }
        self.bell = Some(Arc::clone(bell));
    }
}

impl Drop for Light {
    /// A queue that goes away while lit no longer keeps a shared bell ringing.
    fn drop(&mut self) {
        self.set(false);
    }
}

/// The bell of something that makes one when first asked (its descriptors
/// cost two file descriptors, so only users of event loops pay them).
#[derive(Debug, Default)]
pub(crate) struct LazyBell(OnceLock<Arc<Bell>>);

impl LazyBell {
    /// The bell, made now if need be; `fresh` is told of it once, by the
    /// thread that made it, to attach it to its queues.
    pub fn get(&self, fresh: impl FnOnce(&Arc<Bell>)) -> Result<&Arc<Bell>> {
        if let Some(bell) = self.0.get() {
            return Ok(bell);
        }
        let made = Arc::new(Bell::new()?);
        let mut ours = false;
        let bell = self.0.get_or_init(|| {
            ours = true;
            made
        });
        if ours {
            fresh(bell);
        }
        Ok(bell)
    }

    /// Uses `bell` (another queue's) unless one was made already.
    pub fn share(&self, bell: &Arc<Bell>) -> bool {
        self.0.set(Arc::clone(bell)).is_ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::mem::MaybeUninit;

    use super::*;

    /// Whether `fd` is readable now, without taking the byte.
    pub fn readable(fd: BorrowedFd<'_>) -> bool {
        let sock = socket2::Socket::from(fd.try_clone_to_owned().unwrap());
        let mut buf = [MaybeUninit::uninit(); 1];
        // The pair is non-blocking: an empty one says WouldBlock at once.
        matches!(sock.peek(&mut buf), Ok(1))
    }

    #[test]
    fn readable_while_any_watched_queue_is_lit() {
        let bell = Arc::new(Bell::new().unwrap());
        let (mut a, mut b) = (Light::default(), Light::default());
        a.set(true); // lit before it was watched: counts once attached
        assert!(!readable(bell.fd()));
        a.attach(&bell);
        b.attach(&bell);
        assert!(readable(bell.fd()));
        b.set(true);
        a.set(false);
        assert!(readable(bell.fd()), "b still has something");
        b.set(true); // no change: counted once
        b.set(false);
        assert!(!readable(bell.fd()));
        a.set(true);
        assert!(readable(bell.fd()));
        drop(a);
        assert!(!readable(bell.fd()), "a dropped queue does not keep it ringing");
    }
}
