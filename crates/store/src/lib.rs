//! The dataset: databases, value types with Redis's compact encodings, expiry (lazy and
//! active), eviction, and command execution.
//!
//! Main types: [`Keyspace`] (all databases), [`Value`], [`cmd::Spec`] / [`cmd::execute`]
//! (the command table), [`cmd::Executed`] (reply + propagation form).
//!
//! This crate depends on `proto` only; it never depends on the server or replica crates,
//! and it does no I/O except in `fork.rs` (the one module that forks).

pub mod cmd;
pub mod config;
pub mod dense_map;
pub mod evict;
pub mod expire;
pub mod fork;
pub mod glob;
pub mod key;
pub mod keyspace;
pub mod notify;
pub mod snapshot;
pub mod value;

pub use config::StoreConfig;
pub use key::Key;
pub use keyspace::{Db, Entry, ExpireMode, Keyspace};
pub use value::Value;
