//! `WAIT numreplicas timeout` and the min-replicas "good replica" count.
//!
//! A replica acknowledges an offset with `REPLCONF ACK <offset>`; WAIT counts online replicas
//! whose acknowledged offset reached the offset the waiting client needs. A blocked WAIT is
//! re-checked on every ACK and by the cron (for its deadline), and makes the primary send
//! `REPLCONF GETACK *` so replicas answer at once instead of at their next 1 s ACK.
//!
//! "Good" replicas for `min-replicas-to-write`: online, last ACK at most
//! `min-replicas-max-lag` seconds ago.
//!
//! The offset a WAIT waits for is the client's own last write (`Client::woff`, Redis's
//! `c->woff`): a client that wrote nothing gets the count of online replicas at once.

use std::time::Instant;

use super::ReplicaLink;
use crate::client::ClientId;

/// A client blocked in WAIT.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub id: ClientId,
    pub offset: u64,
    pub numreplicas: usize,
    /// Unix ms; `None` waits forever (timeout 0).
    pub deadline_ms: Option<i64>,
}

/// Online replicas that acknowledged at least `offset`.
pub fn replicas_acked<'a>(replicas: impl Iterator<Item = &'a ReplicaLink>, offset: u64) -> usize {
    replicas
        .filter(|r| r.state.is_online() && r.ack_off >= offset)
        .count()
}

/// Online replicas whose last ACK is at most `max_lag` seconds old.
pub fn good_replicas<'a>(
    replicas: impl Iterator<Item = &'a ReplicaLink>,
    max_lag: u64,
    now: Instant,
) -> usize {
    replicas
        .filter(|r| {
            r.state.is_online() && now.saturating_duration_since(r.ack_time).as_secs() <= max_lag
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primary::{Handshake, ReplicaState};
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    fn replica(state: ReplicaState, ack: u64, ack_age: u64, now: Instant) -> ReplicaLink {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = ReplicaLink::new(
            1,
            tx,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Handshake::default(),
            true,
        );
        r.state = state;
        r.ack_off = ack;
        r.ack_time = now - Duration::from_secs(ack_age);
        r
    }

    #[test]
    fn counts_only_online_replicas_at_the_offset() {
        let now = Instant::now();
        let rs = [
            replica(ReplicaState::Online, 100, 0, now),
            replica(ReplicaState::Online, 99, 0, now),
            replica(ReplicaState::WaitBgsaveEnd, 500, 0, now),
        ];
        assert_eq!(replicas_acked(rs.iter(), 100), 1);
        assert_eq!(replicas_acked(rs.iter(), 0), 2);
    }

    #[test]
    fn good_replicas_respect_the_lag() {
        let now = Instant::now() + Duration::from_secs(100);
        let rs = [
            replica(ReplicaState::Online, 0, 3, now),
            replica(ReplicaState::Online, 0, 11, now),
            replica(ReplicaState::SendBulk, 0, 0, now),
        ];
        assert_eq!(good_replicas(rs.iter(), 10, now), 1);
        assert_eq!(good_replicas(rs.iter(), 20, now), 2);
    }
}
