//! Routing of Toxiproxy's HTTP API onto the [`Registry`], independent of the HTTP library.
//!
//! | method         | path                              | answer                        |
//! |----------------|-----------------------------------|-------------------------------|
//! | GET            | /proxies                          | 200 `{name: proxy}`           |
//! | POST           | /proxies                          | 201 proxy                     |
//! | POST           | /populate                         | 201 `{"proxies":[...]}`       |
//! | GET            | /proxies/{proxy}                  | 200 proxy                     |
//! | POST, PATCH    | /proxies/{proxy}                  | 200 proxy                     |
//! | DELETE         | /proxies/{proxy}                  | 204                           |
//! | GET            | /proxies/{proxy}/toxics           | 200 `[toxic]`                 |
//! | POST           | /proxies/{proxy}/toxics           | 200 toxic                     |
//! | GET            | /proxies/{proxy}/toxics/{toxic}   | 200 toxic                     |
//! | POST, PATCH    | /proxies/{proxy}/toxics/{toxic}   | 200 toxic                     |
//! | DELETE         | /proxies/{proxy}/toxics/{toxic}   | 204                           |
//! | POST           | /reset                            | 204                           |
//! | GET            | /version                          | 200 `{"version": "..."}`      |
//!
//! Errors answer `{"error":"...","status":N}`. An unknown path is a 404 and a known path with
//! the wrong method a 405, as gorilla/mux answers them; a browser user agent gets 403.

use serde::Serialize;

use crate::model::{ErrorBody, Proxy};
use crate::registry::{decode, ApiError, ProxyInput, Registry};

/// What `/version` reports: the Toxiproxy API level we follow, marked as ours.
pub const VERSION: &str = "2.12.0-ferrokv";

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// An HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                content_type: Some(JSON),
                body,
            },
            Err(e) => Self::error(&ApiError::BadRequestBody(e.to_string())),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some(TEXT),
            body: text.as_bytes().to_vec(),
        }
    }

    pub fn error(e: &ApiError) -> Self {
        let body = ErrorBody {
            error: e.to_string(),
            status: e.status(),
        };
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.push(b'\n'); // Go's http.Error ends the body with a newline
        Self {
            status: e.status(),
            content_type: Some(JSON),
            body: bytes,
        }
    }
}

fn answer<T: Serialize>(status: u16, r: Result<T, ApiError>) -> Reply {
    match r {
        Ok(v) => Reply::json(status, &v),
        Err(e) => Reply::error(&e),
    }
}

fn answer_empty(r: Result<(), ApiError>) -> Reply {
    match r {
        Ok(()) => Reply::empty(204),
        Err(e) => Reply::error(&e),
    }
}

/// Splits `/a/b%2Fc` into `["a", "b/c"]`; `None` if a segment is empty or badly escaped.
fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    rest.split('/')
        .map(|s| {
            if s.is_empty() {
                None
            } else {
                percent_decode(s)
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Answers one API request.
pub(crate) async fn route(
    registry: &Registry,
    method: &str,
    path: &str,
    user_agent: Option<&str>,
    body: &[u8],
) -> Reply {
    if user_agent.is_some_and(|ua| ua.starts_with("Mozilla/")) {
        return Reply::text(403, "User agent not allowed\n");
    }
    let Some(segs) = segments(path) else {
        return Reply::text(404, "404 page not found\n");
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let update = method == "POST" || method == "PATCH";
    match (segs.as_slice(), method) {
        (["reset"], "POST") => answer_empty(registry.reset().await),
        (["version"], "GET") => Reply {
            status: 200,
            content_type: Some("application/json;charset=utf-8"),
            body: format!("{{\"version\": \"{VERSION}\"}}\n").into_bytes(),
        },
        (["proxies"], "GET") => Reply::json(200, &registry.list().await),
        (["proxies"], "POST") => answer(
            201,
            async { registry.create(decode::<ProxyInput>(body)?).await }.await,
        ),
        (["populate"], "POST") => populate(registry, body).await,
        (["proxies", p], "GET") => answer(200, registry.get(p).await),
        (["proxies", p], _) if update => answer(
            200,
            async { registry.update(p, decode::<ProxyInput>(body)?).await }.await,
        ),
        (["proxies", p], "DELETE") => answer_empty(registry.delete(p).await),
        (["proxies", p, "toxics"], "GET") => answer(200, registry.toxics(p).await),
        (["proxies", p, "toxics"], "POST") => answer(200, registry.add_toxic(p, body).await),
        (["proxies", p, "toxics", t], "GET") => answer(200, registry.get_toxic(p, t).await),
        (["proxies", p, "toxics", t], _) if update => {
            answer(200, registry.update_toxic(p, t, body).await)
        }
        (["proxies", p, "toxics", t], "DELETE") => answer_empty(registry.remove_toxic(p, t).await),
        (["reset"] | ["version"] | ["proxies"] | ["populate"], _)
        | (["proxies", _] | ["proxies", _, "toxics"] | ["proxies", _, "toxics", _], _) => {
            Reply::empty(405)
        }
        _ => Reply::text(404, "404 page not found\n"),
    }
}

/// `POST /populate`: `{"proxies":[...]}` on success; on failure the error's status with
/// `{"error":..,"status":..,"proxies":[those handled before the error]}`. Like Go, an empty
/// list of proxies is `null`.
async fn populate(registry: &Registry, body: &[u8]) -> Reply {
    #[derive(Serialize)]
    struct Answer {
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        proxies: Option<Vec<Proxy>>,
    }
    let (proxies, err) = match decode::<Vec<ProxyInput>>(body) {
        Ok(inputs) => registry.populate(inputs).await,
        Err(e) => (Vec::new(), Some(e)),
    };
    let status = err.as_ref().map_or(201, ApiError::status);
    let answer = Answer {
        error: err.as_ref().map(ToString::to_string),
        status: err.as_ref().map(ApiError::status),
        proxies: if proxies.is_empty() {
            None
        } else {
            Some(proxies)
        },
    };
    Reply::json(status, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn error_bodies_and_status_codes_match_toxiproxy() {
        let reg = Registry::new(1);
        let table: &[(&str, &str, &str, u16, Option<&str>)] = &[
            ("GET", "/proxies/nope", "", 404, Some("proxy not found")),
            ("DELETE", "/proxies/nope", "", 404, Some("proxy not found")),
            ("POST", "/proxies", "{", 400, None),
            ("POST", "/proxies", "", 400, Some("bad request body: EOF")),
            (
                "POST",
                "/proxies",
                r#"{"upstream":"x:1"}"#,
                400,
                Some("missing required field: name"),
            ),
            (
                "POST",
                "/proxies",
                r#"{"name":"a"}"#,
                400,
                Some("missing required field: upstream"),
            ),
            (
                "POST",
                "/populate",
                r#"[{"upstream":"x:1"}]"#,
                400,
                Some("missing required field: name at proxy 1"),
            ),
            (
                "GET",
                "/proxies/nope/toxics/t",
                "",
                404,
                Some("proxy not found"),
            ),
            ("GET", "/nothing", "", 404, None),
            ("PUT", "/proxies", "", 405, None),
            ("GET", "/proxies/", "", 404, None),
        ];
        for &(method, path, req, status, message) in table {
            let r = route(&reg, method, path, None, req.as_bytes()).await;
            assert_eq!(r.status, status, "{method} {path} {req}");
            if let Some(m) = message {
                let b = body(&r);
                assert_eq!(b["error"], m, "{method} {path}");
                assert_eq!(b["status"], status);
            }
        }
    }

    #[tokio::test]
    async fn toxic_lifecycle_follows_toxiproxy_rules() {
        let reg = Registry::new(1);
        let p = r#"{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","enabled":false}"#;
        let r = route(&reg, "POST", "/proxies", None, p.as_bytes()).await;
        assert_eq!(r.status, 201);
        assert_eq!(body(&r)["enabled"], false);
        assert_eq!(
            route(&reg, "POST", "/proxies", None, p.as_bytes())
                .await
                .status,
            409
        );

        let add = |b: &'static str| route(&reg, "POST", "/proxies/p/toxics", None, b.as_bytes());
        let r = add(r#"{"type":"latency","attributes":{"latency":10}}"#).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            body(&r),
            json!({"attributes":{"latency":10,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1})
        );
        assert_eq!(add(r#"{"type":"latency"}"#).await.status, 409);
        assert_eq!(add(r#"{"type":"bogus"}"#).await.status, 400);
        assert_eq!(
            body(&add(r#"{"type":"latency","stream":"sideways"}"#).await)["error"],
            "stream was invalid, can be either upstream or downstream"
        );
        assert_eq!(
            add(r#"{"type":"bandwidth","attributes":{"rate":1.5}}"#)
                .await
                .status,
            400
        );
        let r = add(r#"{"type":"timeout","stream":"upstream","name":"cut","toxicity":0.5}"#).await;
        assert_eq!(body(&r)["toxicity"], 0.5);

        // Upstream toxics are listed first.
        let r = route(&reg, "GET", "/proxies/p/toxics", None, b"").await;
        let names: Vec<String> = body(&r)
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["cut", "latency_downstream"]);

        let r = route(
            &reg,
            "POST",
            "/proxies/p/toxics/latency_downstream",
            None,
            br#"{"attributes":{"jitter":3}}"#,
        )
        .await;
        assert_eq!(body(&r)["attributes"], json!({"latency":10,"jitter":3}));
        assert_eq!(
            route(
                &reg,
                "DELETE",
                "/proxies/p/toxics/latency_downstream",
                None,
                b""
            )
            .await
            .status,
            204
        );
        assert_eq!(
            route(
                &reg,
                "DELETE",
                "/proxies/p/toxics/latency_downstream",
                None,
                b""
            )
            .await
            .status,
            404
        );

        let r = route(&reg, "POST", "/reset", None, b"").await;
        assert_eq!((r.status, r.body.len()), (204, 0));
        let r = route(&reg, "GET", "/proxies/p", None, b"").await;
        assert_eq!(body(&r)["enabled"], true);
        assert_eq!(body(&r)["toxics"], json!([]));
        reg.stop_all().await;
    }

    #[tokio::test]
    async fn populate_answers_like_go_including_null_for_nothing() {
        let reg = Registry::new(1);
        let r = route(&reg, "POST", "/populate", None, b"[]").await;
        assert_eq!((r.status, body(&r)), (201, json!({"proxies": null})));
        let r = route(&reg, "POST", "/populate", None, b"{}").await;
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["proxies"], Value::Null);
    }

    #[tokio::test]
    async fn browsers_are_refused_and_version_has_go_spacing() {
        let reg = Registry::new(1);
        assert_eq!(
            route(&reg, "GET", "/version", Some("Mozilla/5.0"), b"")
                .await
                .status,
            403
        );
        let r = route(&reg, "GET", "/version", Some("curl/8"), b"").await;
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            format!("{{\"version\": \"{VERSION}\"}}\n")
        );
    }

    #[test]
    fn segments_decode_and_reject_empty_parts() {
        assert_eq!(segments("/proxies/a%20b").unwrap(), ["proxies", "a b"]);
        assert!(segments("/proxies//toxics").is_none());
        assert!(segments("/proxies/%zz").is_none());
        assert!(segments("proxies").is_none());
    }
}
