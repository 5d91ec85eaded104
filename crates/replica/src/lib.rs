//! What a replica does: the sync client (handshake, RDB load, stream apply, ACK) and
//! durability. Depends on `proto` and `store` only.
//!
//! - [`link`]: the sans-I/O replication protocol of one connection (frames in, actions out).
//! - [`driver`]: runs a [`link::Link`] on a TCP connection with timeouts, the 1 s ACK timer
//!   and reconnects, talking to the node through the [`driver::ReplicaHost`] trait (the
//!   server implements it; this crate never depends on the server).
//! - [`persist`]: durability: RDB files (SAVE/BGSAVE through the fork module), `save` rules.

pub mod driver;
pub mod link;
pub mod persist;

/// Why a replication link ended.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("Timeout connecting to the MASTER...")]
    Timeout,
    /// Nothing arrived from the primary for `repl-timeout` seconds (its pings included).
    #[error("MASTER timeout: no data nor PING received...")]
    Silent,
    #[error("MASTER closed the connection")]
    Closed,
    #[error("Protocol error: {0}")]
    Protocol(String),
    #[error("Master refused: {0}")]
    Refused(String),
    #[error("Unable to AUTH to MASTER: {0}")]
    AuthFailed(String),
    #[error("Failed trying to load the MASTER synchronization DB from disk: {0}")]
    Load(String),
    /// The target of our `PSYNC ... FAILOVER` answered with an error.
    #[error("Failover target rejected psync request: {0}")]
    FailoverRefused(String),
    /// Empty primary protection: the primary's history restarted behind ours and its payload
    /// holds no key while we hold `keys`; the dataset was kept.
    #[error("refusing to replace {keys} keys with the EMPTY dataset of a primary whose history restarted (replid {replid}, offset {offset}): it probably restarted without persistence")]
    EmptyPrimary {
        keys: u64,
        replid: String,
        offset: u64,
    },
}

impl ReplError {
    /// Whether the replica still holds a consistent dataset and offset, so the next attempt
    /// can ask for a partial resync. Only a failed load leaves nothing to continue from...
    /// and even then the old dataset was kept, so its offset is still valid.
    pub fn keeps_offset(&self) -> bool {
        true
    }
}
