//! End-to-end tests of the `ferrokv-server` binary, one test target with one harness.
//!
//! - `harness`: server processes (ferrokv or real redis-server) on free ports, a RESP client,
//!   polling with deadlines, external tool discovery.
//! - `differential`: `scripts/*.redis` against real Redis and ferrokv, byte-exact replies.
//! - `cli`: the real `redis-cli` against ferrokv (commands, `--pipe`, INFO, reply formats).
//! - `client_lib`: the `redis` crate against ferrokv (pipelines, transactions, pub/sub, RESP3).
//! - `protocol`: malformed RESP, big pipelines and inline commands over raw TCP.
//! - `lifecycle`: config file and flags, restart, crash, side by side with redis-server.
//! - `server`: auth, maxmemory, blocking FIFO, WATCH, CLIENT, CONFIG, expiry, shutdown.
//! - `snapshots`: BGSAVE point-in-time copies, crashes during a save, failing saves.
//!
//! `E2E_SUBJECT=redis cargo test --test e2e` runs every test against real redis-server in
//! place of ferrokv, which checks the tests themselves.

mod cli;
mod client_lib;
mod differential;
mod harness;
mod lifecycle;
mod protocol;
mod replication;
mod rdb;
mod server;
mod snapshots;
