//! The peers this peer knows: those the last discovery found, less those
//! that have said goodbye since. The default targets of a send.

use std::net::SocketAddr;
use std::sync::Mutex;

use uuid::Uuid;

use super::{PeerInfo, lock};

/// Capped by what one discovery can find, [`MAX_PEERS`](super::MAX_PEERS).
#[derive(Debug, Default)]
pub(crate) struct Members {
    known: Mutex<Vec<PeerInfo>>,
}

impl Members {
    /// Replaces the list with a discovery's result.
    pub fn set(&self, found: Vec<PeerInfo>) {
        *lock(&self.known) = found;
    }

    /// Forgets a peer that said goodbye from its own address, or from
    /// another address it has proven it receives at (`proven`: its other
    /// family). False when the peer is known at another address and `from`
    /// is not proven: the goodbye is a forgery.
    pub fn remove(&self, who: Uuid, from: SocketAddr, proven: bool) -> bool {
        let mut known = lock(&self.known);
        if !proven && known.iter().any(|p| p.id == who && p.addr != from) {
            return false;
        }
        known.retain(|p| p.id != who);
        true
    }

    pub fn snapshot(&self) -> Vec<PeerInfo> {
        lock(&self.known).clone()
    }
}
