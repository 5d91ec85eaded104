//! A small blocking client for the Toxiproxy HTTP API, for tests.
//!
//! It speaks plain HTTP/1.1 over a `std::net::TcpStream`, one request per connection
//! (`Connection: close`), so it needs no runtime and works from any test thread. It talks to
//! `ferrokv-toxiproxy` and to a real Toxiproxy alike: point it at `TOXIPROXY_URL` with
//! [`ToxiClient::from_env`].
//!
//! ```no_run
//! use ferrokv_toxiproxy::{Latency, Stream, ToxiClient, Toxic, ToxicKind};
//! let toxi = ToxiClient::new("http://127.0.0.1:8474");
//! let proxy = toxi.create_proxy("primary", "127.0.0.1:0", "127.0.0.1:6379")?;
//! let slow = Toxic::new(Stream::Downstream, ToxicKind::Latency(Latency { latency: 200, jitter: 0 }));
//! toxi.add_toxic(&proxy.name, &slow)?;
//! toxi.set_enabled(&proxy.name, false)?; // hard partition
//! toxi.reset()?;
//! # Ok::<(), ferrokv_toxiproxy::ClientError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::model::{ErrorBody, Proxy, ProxyConfig, ProxyUpdate, Toxic, ToxicKind};

/// Largest response the client reads.
const MAX_RESPONSE: usize = 16 << 20;
/// Largest response head (status line and headers).
const MAX_HEAD: usize = 64 << 10;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to toxiproxy at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("i/o error talking to toxiproxy: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP response from toxiproxy: {0}")]
    MalformedResponse(&'static str),
    #[error("toxiproxy answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected JSON from toxiproxy: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A raw HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Blocking client for one Toxiproxy API server.
#[derive(Clone, Debug)]
pub struct ToxiClient {
    /// `host:port`.
    addr: String,
    timeout: Duration,
}

impl ToxiClient {
    /// `addr` is `http://host:port[/]` or `host:port`.
    pub fn new(addr: &str) -> Self {
        let trimmed = addr.trim();
        let no_scheme = trimmed.strip_prefix("http://").unwrap_or(trimmed);
        let host_port = no_scheme.split('/').next().unwrap_or(no_scheme);
        Self {
            addr: host_port.to_string(),
            timeout: Duration::from_secs(30),
        }
    }

    /// A client for `TOXIPROXY_URL`, if that is set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var("TOXIPROXY_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(|u| Self::new(&u))
    }

    /// Sets the connect/read/write timeout of each call (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `host:port` of the API.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET /version`: the server's version string.
    pub fn version(&self) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct V {
            version: String,
        }
        let v: V = self.call("GET", "/version", None, 200)?;
        Ok(v.version)
    }

    /// `GET /proxies`.
    pub fn proxies(&self) -> Result<BTreeMap<String, Proxy>, ClientError> {
        self.call("GET", "/proxies", None, 200)
    }

    /// `GET /proxies/{name}`.
    pub fn proxy(&self, name: &str) -> Result<Proxy, ClientError> {
        self.call("GET", &format!("/proxies/{}", encode(name)), None, 200)
    }

    /// `POST /proxies`: an enabled proxy. With a `listen` port of 0 the answer carries the
    /// port picked.
    pub fn create_proxy(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<Proxy, ClientError> {
        let body = serde_json::to_vec(&ProxyConfig::new(name, listen, upstream))?;
        self.call("POST", "/proxies", Some(&body), 201)
    }

    /// `POST /populate`: creates or replaces the proxies, answering them all.
    pub fn populate(&self, proxies: &[ProxyConfig]) -> Result<Vec<Proxy>, ClientError> {
        #[derive(Deserialize)]
        struct Populated {
            proxies: Option<Vec<Proxy>>,
        }
        let body = serde_json::to_vec(proxies)?;
        let p: Populated = self.call("POST", "/populate", Some(&body), 201)?;
        Ok(p.proxies.unwrap_or_default())
    }

    /// `POST /proxies/{name}` with `{"enabled":..}`: `false` closes the listener and cuts every
    /// open connection; `true` listens again on the same address.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<Proxy, ClientError> {
        self.update_proxy(
            name,
            &ProxyUpdate {
                enabled: Some(enabled),
                ..ProxyUpdate::default()
            },
        )
    }

    /// `POST /proxies/{name}` with the fields given.
    pub fn update_proxy(&self, name: &str, update: &ProxyUpdate) -> Result<Proxy, ClientError> {
        let body = serde_json::to_vec(update)?;
        self.call(
            "POST",
            &format!("/proxies/{}", encode(name)),
            Some(&body),
            200,
        )
    }

    /// `DELETE /proxies/{name}`.
    pub fn delete_proxy(&self, name: &str) -> Result<(), ClientError> {
        self.call_empty("DELETE", &format!("/proxies/{}", encode(name)), None)
    }

    /// `GET /proxies/{proxy}/toxics`.
    pub fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ClientError> {
        self.call(
            "GET",
            &format!("/proxies/{}/toxics", encode(proxy)),
            None,
            200,
        )
    }

    /// `POST /proxies/{proxy}/toxics`: applies at once, to open connections too.
    pub fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ClientError> {
        let body = serde_json::to_vec(toxic)?;
        self.call(
            "POST",
            &format!("/proxies/{}/toxics", encode(proxy)),
            Some(&body),
            200,
        )
    }

    /// `POST /proxies/{proxy}/toxics/{name}`: new attributes (and toxicity, if given).
    pub fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &ToxicKind,
        toxicity: Option<f32>,
    ) -> Result<Toxic, ClientError> {
        let mut body = serde_json::json!({ "attributes": kind.attributes() });
        if let Some(t) = toxicity {
            body["toxicity"] = serde_json::json!(t);
        }
        let body = serde_json::to_vec(&body)?;
        let path = format!("/proxies/{}/toxics/{}", encode(proxy), encode(name));
        self.call("POST", &path, Some(&body), 200)
    }

    /// `DELETE /proxies/{proxy}/toxics/{name}`.
    pub fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ClientError> {
        self.call_empty(
            "DELETE",
            &format!("/proxies/{}/toxics/{}", encode(proxy), encode(name)),
            None,
        )
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub fn reset(&self) -> Result<(), ClientError> {
        self.call_empty("POST", "/reset", None)
    }

    /// One raw request; `path` starts with `/`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<RawResponse, ClientError> {
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(|source| ClientError::Connect {
                addr: self.addr.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| ClientError::Connect {
                addr: self.addr.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "address resolved to nothing",
                ),
            })?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(|source| {
            ClientError::Connect {
                addr: self.addr.clone(),
                source,
            }
        })?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ferrokv-toxiproxy-client\r\n\
             Accept: application/json\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE as u64 + 1).read_to_end(&mut raw)?;
        if raw.len() > MAX_RESPONSE {
            return Err(ClientError::MalformedResponse("response too large"));
        }
        parse_response(&raw, method == "HEAD")
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        expect: u16,
    ) -> Result<T, ClientError> {
        let r = self.request(method, path, body)?;
        check(&r, expect)?;
        Ok(serde_json::from_slice(&r.body)?)
    }

    fn call_empty(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<(), ClientError> {
        let r = self.request(method, path, body)?;
        check(&r, 204)
    }
}

fn check(r: &RawResponse, expect: u16) -> Result<(), ClientError> {
    if r.status == expect {
        return Ok(());
    }
    let message = serde_json::from_slice::<ErrorBody>(&r.body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&r.body).trim().to_string());
    Err(ClientError::Api {
        status: r.status,
        message,
    })
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a whole HTTP/1.1 response read up to the server's close.
pub(crate) fn parse_response(raw: &[u8], head_only: bool) -> Result<RawResponse, ClientError> {
    let end = raw
        .windows(4)
        .take(MAX_HEAD)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(ClientError::MalformedResponse("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end])
        .map_err(|_| ClientError::MalformedResponse("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(ClientError::MalformedResponse(
            "not an HTTP/1.x status line",
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::MalformedResponse("bad status code"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or(ClientError::MalformedResponse("bad header line"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let rest = &raw[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ClientError::MalformedResponse("bad content-length"))?;
        rest.get(..len)
            .ok_or(ClientError::MalformedResponse(
                "body shorter than content-length",
            ))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    // Each round consumes at least the size line, so this ends.
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(ClientError::MalformedResponse("unterminated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| ClientError::MalformedResponse("chunk size not UTF-8"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ClientError::MalformedResponse("bad chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .ok_or(ClientError::MalformedResponse("truncated chunk"))?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or(ClientError::MalformedResponse("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_chunked_and_close_delimited_bodies() {
        let table: &[(&[u8], u16, &[u8])] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, b"{}"),
            (b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nabcdef", 201, b"abc"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 200, b"abcde"),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", 200, b"until close"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
        ];
        for &(raw, status, body) in table {
            let r = parse_response(raw, false).unwrap();
            assert_eq!((r.status, r.body.as_slice()), (status, body));
        }
    }

    #[test]
    fn rejects_broken_responses() {
        let table: &[&[u8]] = &[
            b"",
            b"HTTP/1.1 200 OK\r\n",
            b"SMTP 200 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nabc",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ];
        for raw in table {
            assert!(
                parse_response(raw, false).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn addresses_and_segments() {
        assert_eq!(
            ToxiClient::new("http://127.0.0.1:8474/").addr(),
            "127.0.0.1:8474"
        );
        assert_eq!(ToxiClient::new("localhost:1").addr(), "localhost:1");
        assert_eq!(encode("a b/c_d"), "a%20b%2Fc_d");
    }

    #[test]
    fn api_errors_carry_status_and_message() {
        let r = RawResponse {
            status: 404,
            headers: vec![],
            body: br#"{"error":"proxy not found","status":404}"#.to_vec(),
        };
        let e = check(&r, 200).unwrap_err();
        assert_eq!(e.status(), Some(404));
        assert!(e.to_string().contains("proxy not found"));
    }
}
