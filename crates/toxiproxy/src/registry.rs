//! The proxy collection: what each endpoint does, without HTTP.
//!
//! One async mutex guards every proxy, so API calls apply one at a time, in order, like
//! Toxiproxy's per-collection and per-proxy locks. Each proxy owns:
//!
//! - its fields (`listen`, `upstream`, `enabled`) and its toxics in insertion order;
//! - a `watch` channel on which it publishes the toxic list to its links after every change
//!   (see [`crate::link`]: links re-read it before every step of every chunk);
//! - while enabled, a [`Running`] listener: an accept task, a cancel token shared by the accept
//!   task and every connection, and a task tracker to wait for those connections.
//!
//! States and transitions of a proxy:
//!
//! ```text
//!   disabled --start: bind `listen`, record the bound address--> enabled
//!   enabled  --stop: cancel, await the accept task (port free), wait for links--> disabled
//! ```
//!
//! `stop` returns only after the listener is closed and the links are gone (bounded by
//! [`STOP_WAIT`]), so an API answer to `enabled:false` means new connections are refused and
//! open ones are cut.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::link::{run_connection, ActiveToxic, LinkContext, ToxicSet};
use crate::model::{default_toxic_name, Proxy, Stream, Toxic, ToxicKind, ToxicKindError};

/// How long `stop` waits for open connections to wind down after cancelling them.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// An API failure, with Toxiproxy's message and status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    #[error("missing required field: {0}")]
    MissingField(String),
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyAlreadyExists,
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("invalid toxic type")]
    InvalidToxicType,
    #[error("toxic already exists")]
    ToxicAlreadyExists,
    #[error("toxic not found")]
    ToxicNotFound,
    #[error("listen tcp {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("lookup {addr}: {source}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
}

impl ApiError {
    /// The HTTP status Toxiproxy answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequestBody(_)
            | Self::MissingField(_)
            | Self::InvalidStream
            | Self::InvalidToxicType => 400,
            Self::ProxyNotFound | Self::ToxicNotFound => 404,
            Self::ProxyAlreadyExists | Self::ToxicAlreadyExists => 409,
            // Toxiproxy answers errors without a status of their own with 500.
            Self::Listen { .. } | Self::Resolve { .. } => 500,
        }
    }
}

/// Decodes the first JSON value of a body, ignoring what follows, as Go's `json.Decoder` does.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<T>();
    match values.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ApiError::BadRequestBody(e.to_string())),
        None => Err(ApiError::BadRequestBody("EOF".into())),
    }
}

/// A proxy as given to `POST /proxies`, `POST /populate` or `POST /proxies/{proxy}`;
/// `null` and absent mean the same.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProxyInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ToxicInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    toxicity: Option<f32>,
    #[serde(default)]
    attributes: Value,
}

#[derive(Debug, Deserialize)]
struct ToxicUpdateInput {
    #[serde(default)]
    attributes: Value,
    #[serde(default)]
    toxicity: Option<f32>,
}

struct Running {
    cancel: CancellationToken,
    tracker: TaskTracker,
    accept: JoinHandle<()>,
}

struct ProxyEntry {
    name: String,
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: Vec<ActiveToxic>,
    tx: watch::Sender<Arc<ToxicSet>>,
    run: Option<Running>,
}

impl ProxyEntry {
    fn new(name: String, listen: String, upstream: String) -> Self {
        let (tx, _) = watch::channel(Arc::new(ToxicSet::default()));
        Self {
            name,
            listen,
            upstream,
            enabled: false,
            toxics: Vec::new(),
            tx,
            run: None,
        }
    }

    /// Toxiproxy lists the upstream chain first, then the downstream one.
    fn toxic_list(&self) -> Vec<Toxic> {
        let by_stream = |s: Stream| self.toxics.iter().filter(move |t| t.toxic.stream == s);
        by_stream(Stream::Upstream)
            .chain(by_stream(Stream::Downstream))
            .map(|t| t.toxic.clone())
            .collect()
    }

    fn view(&self) -> Proxy {
        Proxy {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.enabled,
            toxics: self.toxic_list(),
        }
    }

    fn publish(&self) {
        self.tx.send_replace(Arc::new(ToxicSet {
            toxics: self.toxics.clone(),
        }));
    }

    fn find_toxic(&self, name: &str) -> Option<usize> {
        self.toxics.iter().position(|t| t.toxic.name == name)
    }
}

struct State {
    proxies: BTreeMap<String, ProxyEntry>,
    /// Source of toxic ids and revisions.
    next_id: u64,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut ProxyEntry, ApiError> {
        self.proxies.get_mut(name).ok_or(ApiError::ProxyNotFound)
    }
}

/// All proxies of one server.
pub(crate) struct Registry {
    state: tokio::sync::Mutex<State>,
    /// Seeds each link's random source (toxicity rolls, jitter, slice sizes).
    seed: u64,
    links: Arc<AtomicU64>,
}

impl Registry {
    pub fn new(seed: u64) -> Self {
        Self {
            state: tokio::sync::Mutex::new(State {
                proxies: BTreeMap::new(),
                next_id: 0,
            }),
            seed,
            links: Arc::new(AtomicU64::new(0)),
        }
    }

    pub async fn list(&self) -> BTreeMap<String, Proxy> {
        let state = self.state.lock().await;
        state
            .proxies
            .iter()
            .map(|(k, p)| (k.clone(), p.view()))
            .collect()
    }

    pub async fn create(&self, input: ProxyInput) -> Result<Proxy, ApiError> {
        let name = input
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("name"))?;
        let upstream = input
            .upstream
            .filter(|u| !u.is_empty())
            .ok_or_else(|| missing("upstream"))?;
        let mut state = self.state.lock().await;
        if state.proxies.contains_key(&name) {
            return Err(ApiError::ProxyAlreadyExists);
        }
        let mut entry = ProxyEntry::new(name.clone(), input.listen.unwrap_or_default(), upstream);
        if input.enabled.unwrap_or(true) {
            self.start(&mut entry).await?;
        }
        let view = entry.view();
        state.proxies.insert(name, entry);
        Ok(view)
    }

    /// Creates or replaces proxies; answers those handled so far and the first error.
    pub async fn populate(&self, inputs: Vec<ProxyInput>) -> (Vec<Proxy>, Option<ApiError>) {
        for (i, p) in inputs.iter().enumerate() {
            if p.name.as_deref().is_none_or(str::is_empty) {
                return (
                    Vec::new(),
                    Some(missing(&format!("name at proxy {}", i + 1))),
                );
            }
            if p.upstream.as_deref().is_none_or(str::is_empty) {
                return (
                    Vec::new(),
                    Some(missing(&format!("upstream at proxy {}", i + 1))),
                );
            }
        }
        let mut done = Vec::with_capacity(inputs.len());
        let mut state = self.state.lock().await;
        for p in inputs {
            let name = p.name.unwrap_or_default();
            let listen = p.listen.unwrap_or_default();
            let upstream = p.upstream.unwrap_or_default();
            if let Some(existing) = state.proxies.get_mut(&name) {
                match differs(existing, &listen, &upstream).await {
                    Ok(false) => {
                        done.push(existing.view());
                        continue;
                    }
                    Ok(true) => stop(existing).await,
                    Err(e) => return (done, Some(e)),
                }
            }
            let mut entry = ProxyEntry::new(name.clone(), listen, upstream);
            if p.enabled.unwrap_or(true) {
                if let Err(e) = self.start(&mut entry).await {
                    return (done, Some(e));
                }
            }
            done.push(entry.view());
            state.proxies.insert(name, entry);
        }
        (done, None)
    }

    pub async fn get(&self, name: &str) -> Result<Proxy, ApiError> {
        let mut state = self.state.lock().await;
        Ok(state.get_mut(name)?.view())
    }

    /// `POST /proxies/{proxy}`: a changed `listen` or `upstream` restarts the proxy (cutting
    /// its connections); `enabled` starts or stops it.
    pub async fn update(&self, name: &str, input: ProxyInput) -> Result<Proxy, ApiError> {
        let mut state = self.state.lock().await;
        let entry = state.get_mut(name)?;
        let listen = input.listen.unwrap_or_else(|| entry.listen.clone());
        let upstream = input.upstream.unwrap_or_else(|| entry.upstream.clone());
        let enabled = input.enabled.unwrap_or(entry.enabled);
        if differs(entry, &listen, &upstream).await? {
            stop(entry).await;
            entry.listen = listen;
            entry.upstream = upstream;
        }
        if enabled != entry.enabled {
            if enabled {
                self.start(entry).await?;
            } else {
                stop(entry).await;
            }
        }
        Ok(entry.view())
    }

    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        let mut entry = state.proxies.remove(name).ok_or(ApiError::ProxyNotFound)?;
        stop(&mut entry).await;
        Ok(())
    }

    pub async fn toxics(&self, name: &str) -> Result<Vec<Toxic>, ApiError> {
        let mut state = self.state.lock().await;
        Ok(state.get_mut(name)?.toxic_list())
    }

    /// `POST /proxies/{proxy}/toxics`, checking in Toxiproxy's order: body, stream, type,
    /// name clash, attributes.
    pub async fn add_toxic(&self, proxy: &str, body: &[u8]) -> Result<Toxic, ApiError> {
        let mut state = self.state.lock().await;
        let id = state.next_id();
        let entry = state.get_mut(proxy)?;
        let input: ToxicInput = decode(body)?;
        let stream = match input.stream.as_deref() {
            None => Stream::Downstream,
            Some(s) => Stream::parse(s).ok_or(ApiError::InvalidStream)?,
        };
        let type_name = input.kind.unwrap_or_default();
        let name = input
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_toxic_name(&type_name, stream));
        if ToxicKind::from_parts(&type_name, &Value::Null).is_err() {
            return Err(ApiError::InvalidToxicType);
        }
        if entry.find_toxic(&name).is_some() {
            return Err(ApiError::ToxicAlreadyExists);
        }
        let kind = ToxicKind::from_parts(&type_name, &input.attributes).map_err(kind_error)?;
        let toxic = Toxic {
            name,
            stream,
            toxicity: input.toxicity.unwrap_or(1.0),
            kind,
        };
        entry.toxics.push(ActiveToxic {
            id,
            revision: id,
            toxic: toxic.clone(),
        });
        entry.publish();
        Ok(toxic)
    }

    pub async fn get_toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, ApiError> {
        let mut state = self.state.lock().await;
        let entry = state.get_mut(proxy)?;
        let i = entry.find_toxic(toxic).ok_or(ApiError::ToxicNotFound)?;
        Ok(entry.toxics[i].toxic.clone())
    }

    /// `POST /proxies/{proxy}/toxics/{toxic}`: new attributes merge into the old ones;
    /// `toxicity` keeps its value unless given.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        body: &[u8],
    ) -> Result<Toxic, ApiError> {
        let mut state = self.state.lock().await;
        let revision = state.next_id();
        let entry = state.get_mut(proxy)?;
        let i = entry.find_toxic(toxic).ok_or(ApiError::ToxicNotFound)?;
        let input: ToxicUpdateInput = decode(body)?;
        let active = &mut entry.toxics[i];
        active.toxic.kind = active
            .toxic
            .kind
            .patched(&input.attributes)
            .map_err(kind_error)?;
        if let Some(t) = input.toxicity {
            active.toxic.toxicity = t;
        }
        active.revision = revision;
        let out = active.toxic.clone();
        entry.publish();
        Ok(out)
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        let entry = state.get_mut(proxy)?;
        let i = entry.find_toxic(toxic).ok_or(ApiError::ToxicNotFound)?;
        entry.toxics.remove(i);
        entry.publish();
        Ok(())
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        for entry in state.proxies.values_mut() {
            if !entry.enabled {
                self.start(entry).await?;
            }
            entry.toxics.clear();
            entry.publish();
        }
        Ok(())
    }

    /// Stops every proxy (server shutdown).
    pub async fn stop_all(&self) {
        let mut state = self.state.lock().await;
        for entry in state.proxies.values_mut() {
            stop(entry).await;
        }
    }

    /// Binds the proxy's listen address and starts accepting. No-op when already enabled.
    async fn start(&self, entry: &mut ProxyEntry) -> Result<(), ApiError> {
        if entry.enabled {
            return Ok(());
        }
        let addr = resolve_listen(&entry.listen).await?;
        let listener = bind(addr).await.map_err(|source| ApiError::Listen {
            addr: addr.to_string(),
            source,
        })?;
        let bound = listener.local_addr().map_err(|source| ApiError::Listen {
            addr: addr.to_string(),
            source,
        })?;
        entry.listen = bound.to_string();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(
            accept_loop(AcceptLoop {
                listener,
                upstream: Arc::from(entry.upstream.as_str()),
                toxics: entry.tx.subscribe(),
                cancel: cancel.clone(),
                tracker: tracker.clone(),
                seed: self.seed,
                links: self.links.clone(),
            })
            .instrument(tracing::info_span!("proxy", name = %entry.name, listen = %bound)),
        );
        entry.run = Some(Running {
            cancel,
            tracker,
            accept,
        });
        entry.enabled = true;
        tracing::info!(name = %entry.name, listen = %bound, upstream = %entry.upstream, "Started proxy");
        Ok(())
    }
}

fn missing(field: &str) -> ApiError {
    ApiError::MissingField(field.to_string())
}

fn kind_error(e: ToxicKindError) -> ApiError {
    match e {
        ToxicKindError::UnknownType => ApiError::InvalidToxicType,
        ToxicKindError::Attributes(e) => ApiError::BadRequestBody(e.to_string()),
    }
}

/// Closes the listener and every connection; returns once they are gone (bounded).
async fn stop(entry: &mut ProxyEntry) {
    entry.enabled = false;
    let Some(run) = entry.run.take() else { return };
    run.cancel.cancel();
    // The accept task owns the listener: once it ends, the port is closed.
    let _ = run.accept.await;
    run.tracker.close();
    if tokio::time::timeout(STOP_WAIT, run.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(name = %entry.name, "Connections still closing after {STOP_WAIT:?}");
    }
    tracing::info!(name = %entry.name, "Terminated proxy");
}

/// Whether `listen`/`upstream` differ from the proxy's, comparing resolved listen addresses
/// (so `localhost:26379` equals a proxy listening on `127.0.0.1:26379`).
async fn differs(entry: &ProxyEntry, listen: &str, upstream: &str) -> Result<bool, ApiError> {
    if entry.upstream != upstream {
        return Ok(true);
    }
    if entry.listen == listen {
        return Ok(false);
    }
    Ok(resolve_listen(listen).await?.to_string() != entry.listen)
}

/// Resolves a listen address like Go's `net.ResolveTCPAddr`: an empty host means every
/// interface, and a host name resolves to its first IPv4 address if it has one.
async fn resolve_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    let full = if listen.is_empty() {
        "[::]:0".to_string()
    } else if listen.starts_with(':') {
        format!("[::]{listen}")
    } else {
        listen.to_string()
    };
    let err = |source| ApiError::Resolve {
        addr: listen.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&full).await.map_err(err)?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            ))
        })
}

/// Binds, falling back from `[::]` to `0.0.0.0` where IPv6 is off.
async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            TcpListener::bind(v4).await.map_err(|_| e)
        }
        r => r,
    }
}

struct AcceptLoop {
    listener: TcpListener,
    upstream: Arc<str>,
    toxics: watch::Receiver<Arc<ToxicSet>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    seed: u64,
    links: Arc<AtomicU64>,
}

async fn accept_loop(a: AcceptLoop) {
    loop {
        let accepted = tokio::select! {
            _ = a.cancel.cancelled() => break,
            r = a.listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::debug!(client = %peer, "Accepted client");
                let n = a.links.fetch_add(1, Ordering::Relaxed);
                let ctx = LinkContext {
                    upstream: a.upstream.clone(),
                    toxics: a.toxics.clone(),
                    cancel: a.cancel.clone(),
                    seed: a.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                };
                a.tracker.spawn(
                    run_connection(stream, ctx)
                        .instrument(tracing::debug_span!("conn", client = %peer)),
                );
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "Error while accepting client");
                tokio::select! {
                    _ = a.cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}
