//! What a replica does: the sync client (handshake, RDB load, stream apply, ACK) and
//! durability. Depends on `proto` and `store` only.
pub mod persist;
