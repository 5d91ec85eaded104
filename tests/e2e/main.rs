//! End-to-end tests of the `ferrokv-server` binary, one test target with one harness.
//!
//! - `harness`: server processes (ferrokv or real redis-server) on free ports, a RESP client,
//!   polling with deadlines, external tool discovery.
//! - `differential`: `scripts/*.redis` against real Redis and ferrokv, byte-exact replies.
//! - `cli`: the real `redis-cli` against ferrokv (commands, `--pipe`, INFO, reply formats).
//! - `client_lib`: the `redis` crate against ferrokv (pipelines, transactions, pub/sub, RESP3).
//! - `protocol`: malformed RESP, big pipelines and inline commands over raw TCP.
//! - `lifecycle`: config file and flags, restart, crash, side by side with redis-server.
//! - `monitor`: MONITOR's lines for the same traffic as redis-server's.
//! - `notify`: keyspace notifications across connections, expiry, eviction, MULTI.
//! - `server`: auth, maxmemory, blocking FIFO, WATCH, CLIENT, CONFIG, expiry, shutdown.
//! - `aof`: the multi-part AOF: redis-check-aof, cross-loading with Redis, BGREWRITEAOF,
//!   torn/corrupt files at startup, SIGKILL crash rounds per `appendfsync` policy.
//! - `snapshots`: BGSAVE point-in-time copies, crashes during a save, failing saves.
//! - `rdb`: RDB files and DUMP payloads exchanged with real Redis both ways, corrupt files.
//! - `failover`: FAILOVER (errors as Redis, hand-over under load, timeout/abort, interop).
//! - `tracking`: client-side caching across connections (redirects, BCAST, expiry, the
//!   table limit, a replica's clients).
//! - `partitions`: cut/slow links through a Toxiproxy-compatible proxy, crashes, and the
//!   acknowledged writes lost in each case.
//!
//! `E2E_SUBJECT=redis cargo test --test e2e` runs every test against real redis-server in
//! place of ferrokv, which checks the tests themselves.

mod aof;
mod cli;
mod client_lib;
mod differential;
mod failover;
mod harness;
mod lifecycle;
mod monitor;
mod notify;
mod partitions;
mod protocol;
mod rdb;
mod replication;
mod server;
mod snapshots;
mod tracking;
