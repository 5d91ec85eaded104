//! One attached replica as the primary sees it: its sync state, what it announced in
//! `REPLCONF`, its ACKs, and the stream bytes waiting for it.
//!
//! ## States and transitions
//!
//! ```text
//! WaitBgsaveStart --fork--> WaitBgsaveEnd --disk file ready--> SendBulk --sent--> Online
//!                                  |
//!                                  +--diskless payload sent--> WaitFirstAck --ACK--> Online
//! PSYNC accepted ------------------------------------------------------------------> Online
//! ```
//!
//! From `WaitBgsaveEnd` on, every stream byte is kept in `pending` until the replica is
//! online (a diskless replica only after its first `REPLCONF ACK`: it finds the end of the
//! payload by its last 40 bytes, so nothing may follow them before it answers).
//!
//! Output-buffer accounting: `queued` counts stream bytes handed to the connection task and
//! not yet written to the socket; `pending + queued` is checked against
//! `client-output-buffer-limit replica`.

use std::net::IpAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::client::{ClientId, Outbound};

/// Where a replica is in its sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for a fork (diskless delay, or another child running).
    WaitBgsaveStart,
    /// The child is producing the payload; stream bytes are buffered.
    WaitBgsaveEnd,
    /// The disk payload is being sent.
    SendBulk,
    /// Diskless payload sent; the stream is released at the first ACK.
    WaitFirstAck,
    Online,
}

impl ReplicaState {
    /// The `state=` value of INFO's `slaveN` line.
    pub fn info_name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::WaitFirstAck | ReplicaState::Online => "online",
        }
    }

    pub fn is_online(self) -> bool {
        matches!(self, ReplicaState::WaitFirstAck | ReplicaState::Online)
    }

    /// Whether stream bytes are buffered in `pending` rather than sent.
    fn buffers(self) -> bool {
        matches!(
            self,
            ReplicaState::WaitBgsaveEnd | ReplicaState::SendBulk | ReplicaState::WaitFirstAck
        )
    }
}

/// What a client announced with `REPLCONF` before `PSYNC`/`SYNC`.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    pub listening_port: u16,
    pub announced_ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// `REPLCONF rdb-only 1`: send the payload, then close (redis-cli --rdb).
    pub rdb_only: bool,
    /// `REPLCONF rdb-filter-only ""`: the payload is an empty RDB (redis-cli --replica).
    pub rdb_filter_empty: bool,
}

/// An attached replica.
#[derive(Debug)]
pub struct ReplicaLink {
    pub id: ClientId,
    pub tx: mpsc::UnboundedSender<Outbound>,
    pub peer_ip: IpAddr,
    pub hs: Handshake,
    /// False for the legacy `SYNC` (no ACKs expected, never timed out).
    pub psync: bool,
    pub state: ReplicaState,
    /// When the replica asked for a full sync (for `repl-diskless-sync-delay`).
    pub requested: Instant,
    /// Highest offset acknowledged.
    pub ack_off: u64,
    pub ack_time: Instant,
    /// Stream bytes held back until the replica is online.
    pub pending: BytesMut,
    /// Stream bytes handed to the connection task and not yet written.
    pub queued: usize,
    /// Since when the soft output-buffer limit has been exceeded.
    pub soft_since: Option<Instant>,
    /// Set once the replica was told to close.
    pub closing: bool,
}

impl ReplicaLink {
    pub fn new(
        id: ClientId,
        tx: mpsc::UnboundedSender<Outbound>,
        peer_ip: IpAddr,
        hs: Handshake,
        psync: bool,
    ) -> Self {
        let now = Instant::now();
        ReplicaLink {
            id,
            tx,
            peer_ip,
            hs,
            psync,
            state: ReplicaState::WaitBgsaveStart,
            requested: now,
            ack_off: 0,
            ack_time: now,
            pending: BytesMut::new(),
            queued: 0,
            soft_since: None,
            closing: false,
        }
    }

    /// The `ip=` INFO shows: the announced address, else the peer's.
    pub fn ip(&self) -> String {
        self.hs
            .announced_ip
            .clone()
            .unwrap_or_else(|| self.peer_ip.to_string())
    }

    /// Bytes not yet on the wire, for the output-buffer limit.
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.queued
    }

    /// Writes bytes outside the stream accounting (handshake lines, payload).
    pub fn send_raw(&self, bytes: Bytes) {
        let _ = self.tx.send(Outbound::Raw(bytes));
    }

    fn send_stream(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.queued += bytes.len();
        let _ = self.tx.send(Outbound::Stream(bytes));
    }

    /// Hands stream bytes to the replica according to its state.
    pub fn feed(&mut self, bytes: &Bytes) {
        if self.closing {
            return;
        }
        match self.state {
            ReplicaState::Online => self.send_stream(bytes.clone()),
            s if s.buffers() => self.pending.extend_from_slice(bytes),
            _ => {}
        }
    }

    /// The replica is online: releases the buffered stream.
    pub fn go_online(&mut self) {
        self.state = ReplicaState::Online;
        self.ack_time = Instant::now();
        let pending = self.pending.split().freeze();
        self.send_stream(pending);
    }

    /// Asks the connection to close.
    pub fn close(&mut self) {
        if !self.closing {
            self.closing = true;
            let _ = self.tx.send(Outbound::Close);
        }
    }

    /// Checks `client-output-buffer-limit replica <hard> <soft> <secs>`: over `hard`, or over
    /// `soft` continuously for `secs` seconds. 0 disables a limit.
    pub fn over_output_limit(
        &mut self,
        hard: u64,
        soft: u64,
        soft_secs: u64,
        now: Instant,
    ) -> bool {
        let used = self.buffered() as u64;
        if hard > 0 && used >= hard {
            return true;
        }
        if soft > 0 && used >= soft {
            let since = *self.soft_since.get_or_insert(now);
            return now.duration_since(since).as_secs() >= soft_secs;
        }
        self.soft_since = None;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn link() -> (ReplicaLink, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let l = ReplicaLink::new(
            1,
            tx,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Handshake::default(),
            true,
        );
        (l, rx)
    }

    #[test]
    fn stream_is_held_until_online() {
        let (mut l, mut rx) = link();
        l.feed(&Bytes::from_static(b"before-fork"));
        assert!(
            l.pending.is_empty(),
            "waiting for the fork: the snapshot will contain it"
        );
        l.state = ReplicaState::WaitBgsaveEnd;
        l.feed(&Bytes::from_static(b"abc"));
        l.state = ReplicaState::WaitFirstAck;
        l.feed(&Bytes::from_static(b"def"));
        assert!(rx.try_recv().is_err());
        l.go_online();
        match rx.try_recv().unwrap() {
            Outbound::Stream(b) => assert_eq!(&b[..], b"abcdef"),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.queued, 6);
        l.feed(&Bytes::from_static(b"g"));
        assert!(matches!(rx.try_recv().unwrap(), Outbound::Stream(_)));
    }

    #[test]
    fn output_limits_hard_and_soft() {
        let (mut l, _rx) = link();
        let now = Instant::now();
        l.queued = 100;
        assert!(l.over_output_limit(100, 0, 0, now));
        assert!(!l.over_output_limit(0, 0, 0, now));
        assert!(!l.over_output_limit(0, 50, 10, now));
        assert!(!l.over_output_limit(0, 50, 10, now + Duration::from_secs(5)));
        assert!(l.over_output_limit(0, 50, 10, now + Duration::from_secs(10)));
        l.queued = 10;
        assert!(!l.over_output_limit(0, 50, 10, now + Duration::from_secs(11)));
        assert!(l.soft_since.is_none());
    }

    #[test]
    fn info_states() {
        assert_eq!(ReplicaState::WaitBgsaveStart.info_name(), "wait_bgsave");
        assert_eq!(ReplicaState::SendBulk.info_name(), "send_bulk");
        assert_eq!(ReplicaState::WaitFirstAck.info_name(), "online");
    }
}
