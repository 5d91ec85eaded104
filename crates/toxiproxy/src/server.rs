//! The HTTP side: hyper 1 serving [`crate::api::route`], and ways to run a whole server.
//!
//! [`Server::serve`] runs on a caller's runtime (the binary); [`BackgroundServer`] owns a
//! runtime on its own thread, for tests that want a proxy inside their process.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::{route, Reply};
use crate::model::Proxy;
use crate::registry::{decode, ApiError, ProxyInput, Registry};

/// Largest request body accepted (a `/populate` of thousands of proxies fits).
const MAX_BODY: usize = 1 << 20;
/// Like Toxiproxy's `ReadTimeout`: a client must send its headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// Server settings.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Seed for toxicity rolls, jitter and slice sizes; `None` picks one from the clock.
    pub seed: Option<u64>,
}

/// A Toxiproxy-compatible server: the proxies and their API.
pub struct Server {
    registry: Arc<Registry>,
}

impl Server {
    pub fn new(config: ServerConfig) -> Self {
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Self {
            registry: Arc::new(Registry::new(seed)),
        }
    }

    /// Creates or replaces proxies from a JSON array, as `POST /populate` and Toxiproxy's
    /// `-config` file do.
    pub async fn populate_json(&self, json: &[u8]) -> Result<Vec<Proxy>, ApiError> {
        let inputs: Vec<ProxyInput> = decode(json)?;
        match self.registry.populate(inputs).await {
            (proxies, None) => Ok(proxies),
            (_, Some(e)) => Err(e),
        }
    }

    /// Serves the API on `listener` until `shutdown` completes, then stops every proxy.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "Error accepting API client");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let registry = self.registry.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(registry.clone(), req));
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(client = %peer, error = %e, "API connection ended");
                }
            });
        }
        self.registry.stop_all().await;
        Ok(())
    }
}

async fn handle(
    registry: Arc<Registry>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let user_agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => {
            route(
                &registry,
                &method,
                &path,
                user_agent.as_deref(),
                &body.to_bytes(),
            )
            .await
        }
        Err(e) => Reply::error(&ApiError::BadRequestBody(e.to_string())),
    };
    tracing::debug!(%method, %path, status = reply.status, "API request");
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = reply.content_type {
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(ct),
        );
    }
    Ok(response)
}

/// A server running on its own thread and runtime; stops (closing every proxy) on drop.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds the API on `api_addr` (e.g. `127.0.0.1:0`) and starts serving.
    pub fn start(api_addr: &str, config: ServerConfig) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrokv-toxiproxy")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(api_addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ferrokv-toxiproxy-api".into())
            .spawn(move || {
                let server = Server::new(config);
                let result = runtime.block_on(server.serve(listener, async {
                    let _ = stopped.await;
                }));
                if let Err(e) = result {
                    tracing::error!(error = %e, "toxiproxy server failed");
                }
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The API's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the form `TOXIPROXY_URL` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this server.
    pub fn client(&self) -> crate::ToxiClient {
        crate::ToxiClient::new(&self.url())
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
