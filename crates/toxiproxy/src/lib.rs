//! `ferrokv-toxiproxy`: a TCP fault proxy that speaks Toxiproxy 2.x's HTTP API, for ferrokv's
//! partition tests, plus [`ToxiClient`], a blocking client for that API.
//!
//! Tests cut, slow and restore links (client -> primary, replica -> primary) through the API:
//! proxies, `enabled:false` for hard partitions, toxics (`latency`, `bandwidth`, `timeout`,
//! `slicer`, `limit_data`, `slow_close`, `reset_peer`, `noop`), `/populate`, `/reset`,
//! `/version`. The same tests run unchanged against a real Toxiproxy given by `TOXIPROXY_URL`.
//! The Go server can't be installed here, and the `noxious` crate panicked on low bandwidth
//! rates and left toxics stuck on open connections, hence this crate.
//!
//! # Design
//!
//! - [`model`]: the API's JSON shapes (shared with the client).
//! - `api`: routing of method + path to the registry, returning status + body; no HTTP library.
//! - `registry`: the proxies: create, populate, update, delete, toxics, reset; starting and
//!   stopping listeners. One async mutex serialises API calls.
//! - `link`: one proxied connection. Each direction re-reads the proxy's toxic list (a
//!   `tokio::sync::watch`) before every step of every chunk, so toxics added, updated or
//!   removed apply to already-open connections at once, and every wait a toxic makes (latency,
//!   bandwidth pacing, slicer pauses, slow_close, reset_peer) ends as soon as that toxic is
//!   removed. Disabling a proxy cancels a token that every connection of it watches.
//! - `server`: hyper 1 (http1 only) + hyper-util serving the API; [`BackgroundServer`] runs a
//!   server on its own thread for in-process tests. hyper rather than a hand-rolled parser:
//!   it is the maintained base of the Rust HTTP stack and handles keep-alive, pipelining and
//!   malformed requests; rather than axum: thirteen fixed routes need no router or middleware.
//! - [`client`]: blocking HTTP/1.1 over `std::net::TcpStream`, one request per connection.
//!
//! Toxic semantics (attributes in milliseconds unless said otherwise):
//!
//! | toxic        | attributes                                   | effect                                   |
//! |--------------|----------------------------------------------|------------------------------------------|
//! | `latency`    | `latency`, `jitter`                          | each chunk waits latency ± jitter from arrival |
//! | `bandwidth`  | `rate` (KB/s, 1 KB = 1000 B)                 | paced in ≤100 ms slices; any rate ≥ 1 works |
//! | `slow_close` | `delay`                                      | end of stream held back for `delay`      |
//! | `timeout`    | `timeout`                                    | data dropped; close after `timeout`, never if 0 |
//! | `slicer`     | `average_size`, `size_variation`, `delay` µs | chunks cut into small writes             |
//! | `limit_data` | `bytes`                                      | close once `bytes` passed                |
//! | `reset_peer` | `timeout`                                    | on data: wait, then RST (`SO_LINGER` 0)  |
//!
//! `toxicity` is the probability that a toxic applies to a connection's direction, rolled
//! when the link first sees the toxic (or a new revision of it), from a seeded RNG
//! (`-seed`, [`ServerConfig::seed`]).
//!
//! # Deviations
//!
//! Differences from Toxiproxy 2.12 (Go), each deliberate:
//!
//! - **Toxics on open connections.** Toxiproxy swaps toxic goroutines per link; we re-read the
//!   list per step. Same visible behaviour, minus its races (a toxic change can't get stuck).
//! - **Removing a `timeout` toxic closes the connections it applied to**, like Toxiproxy's
//!   cleanup. The data it dropped leaves the byte stream unusable, so a "heal" is: stuck
//!   connections close at once (nothing hangs) and new connections pass data.
//! - **`timeout` clock**: counts from when the link saw the toxic. Toxiproxy restarts its timer
//!   at every dropped chunk (a Go `select` quirk), so steady traffic there never times out.
//! - **`reset_peer` on open connections** resets them too; Toxiproxy sets `SO_LINGER 0` only
//!   on links that had the toxic when they started, so the others close with a FIN.
//! - **`bandwidth` with `rate <= 0`** is unlimited; Toxiproxy's loop then stalls the link.
//!   Pacing charges each slice's time before sending it: `n` bytes take `n / rate` ms.
//! - **`slicer`** never cuts an empty or out-of-range slice, whatever the attributes
//!   (Toxiproxy can recurse forever or panic on `average_size` 0 or a large variation).
//! - **Toxicity rolls** once per link and toxic revision; Toxiproxy re-rolls whenever another
//!   toxic is added after it.
//! - **One side closing closes the connection at once**, as in Toxiproxy, but bytes the other
//!   direction still holds in a toxic (say, a response waiting in `latency`) are dropped;
//!   Toxiproxy delivers those first.
//! - **`stream`** is stored lower-case (`"UpStream"` is accepted, shown as `"upstream"`).
//! - **`/version`** answers `2.12.0-ferrokv`, so a test can tell which server it talks to.
//! - **Error bodies** carry `Content-Type: application/json` (Go's `http.Error` says
//!   `text/plain`); the bytes are the same JSON plus newline.
//! - JSON field names are case-sensitive (Go's decoder also accepts `"Name"`).
//! - No `/metrics`, no `-runtime-metrics`/`-proxy-metrics`; no 25 s handler timeout.

pub mod client;
pub mod model;

mod api;
mod link;
mod registry;
mod server;

pub use api::VERSION;
pub use client::{ClientError, RawResponse, ToxiClient};
pub use model::{
    Bandwidth, ErrorBody, Latency, LimitData, Noop, Proxy, ProxyConfig, ProxyUpdate, ResetPeer,
    Slicer, SlowClose, Stream, Timeout, Toxic, ToxicKind, ToxicKindError,
};
pub use registry::ApiError;
pub use server::{BackgroundServer, Server, ServerConfig};
