//! Formats only: bytes <-> values.
//!
//! - [`resp`]: RESP2/RESP3 frames, the request decoder (multibulk and inline), the reply
//!   encoder and a tokio-util codec adapter.
//! - [`rdb`]: the RDB file format (version 10, as Redis 7.0 writes it), streaming encode and
//!   decode, CRC-64 (Redis's "Jones" polynomial).
//! - [`aof`]: AOF records and the Redis 7 multi-part manifest.
//!
//! This crate has no runtime, no sockets and no keyspace: it must never depend on tokio's
//! runtime or on any other ferrokv crate.

pub mod aof;
pub mod rdb;
pub mod resp;
