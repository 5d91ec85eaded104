//! The HTTP API's shapes and codes, compared with Toxiproxy's documented examples.

use serde_json::{json, Value};

use ferrokv_toxiproxy::{
    BackgroundServer, ProxyConfig, ServerConfig, Stream, ToxiClient, Toxic, ToxicKind,
};

use crate::harness::{connect, proxy_to, read_to_end, round_trip, ReadEnd, ToxiProcess, Upstream};

fn raw(client: &ToxiClient, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let r = client
        .request(method, path, body.map(str::as_bytes))
        .expect("request");
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body).expect("JSON body")
    };
    (r.status, v)
}

#[test]
fn version_answers_a_version_string() {
    let toxi = ToxiProcess::start();
    let r = toxi.client.request("GET", "/version", None).unwrap();
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["version"].as_str().is_some_and(|s| s.starts_with("2.")),
        "{v}"
    );
    assert_eq!(toxi.client.version().unwrap(), ferrokv_toxiproxy::VERSION);
}

#[test]
fn proxies_create_show_list_update_delete() {
    let toxi = ToxiProcess::start();
    let c = &toxi.client;
    let (status, created) = raw(
        c,
        "POST",
        "/proxies",
        Some(
            r#"{"name":"shopify_test_redis_master","listen":"127.0.0.1:0","upstream":"127.0.0.1:6379"}"#,
        ),
    );
    assert_eq!(status, 201);
    let listen = created["listen"].as_str().unwrap().to_string();
    assert!(
        listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"),
        "{listen}"
    );
    assert_eq!(
        created,
        json!({"name":"shopify_test_redis_master","listen":listen,"upstream":"127.0.0.1:6379","enabled":true,"toxics":[]})
    );

    let (status, dup) = raw(
        c,
        "POST",
        "/proxies",
        Some(r#"{"name":"shopify_test_redis_master","upstream":"x:1"}"#),
    );
    assert_eq!(
        (status, dup),
        (409, json!({"error":"proxy already exists","status":409}))
    );

    let (status, all) = raw(c, "GET", "/proxies", None);
    assert_eq!(status, 200);
    assert_eq!(all, json!({"shopify_test_redis_master": created}));

    let (status, updated) = raw(
        c,
        "POST",
        "/proxies/shopify_test_redis_master",
        Some(r#"{"enabled":false}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["listen"], listen.as_str());

    let (status, updated) = raw(
        c,
        "PATCH",
        "/proxies/shopify_test_redis_master",
        Some(r#"{"upstream":"127.0.0.1:6380","enabled":true}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (updated["enabled"].clone(), updated["upstream"].clone()),
        (json!(true), json!("127.0.0.1:6380"))
    );

    assert_eq!(
        raw(c, "DELETE", "/proxies/shopify_test_redis_master", None),
        (204, Value::Null)
    );
    assert_eq!(
        raw(c, "GET", "/proxies/shopify_test_redis_master", None),
        (404, json!({"error":"proxy not found","status":404}))
    );
}

#[test]
fn toxic_bodies_match_the_readme() {
    let toxi = ToxiProcess::start();
    let c = &toxi.client;
    let echo = Upstream::echo();
    let p = proxy_to(c, "redis", echo.addr);
    // `toxiproxy-cli toxic add -t latency -a latency=1000 redis` sends this body.
    let (status, t) = raw(
        c,
        "POST",
        "/proxies/redis/toxics",
        Some(r#"{"type":"latency","attributes":{"latency":1000}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        t,
        json!({"attributes":{"latency":1000,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1})
    );
    let (status, shown) = raw(c, "GET", "/proxies/redis/toxics/latency_downstream", None);
    assert_eq!((status, &shown), (200, &t));
    let (_, proxy) = raw(c, "GET", "/proxies/redis", None);
    assert_eq!(proxy["toxics"], json!([t]));
    assert_eq!(
        raw(
            c,
            "DELETE",
            "/proxies/redis/toxics/latency_downstream",
            None
        ),
        (204, Value::Null)
    );
    assert_eq!(
        raw(
            c,
            "DELETE",
            "/proxies/redis/toxics/latency_downstream",
            None
        ),
        (404, json!({"error":"toxic not found","status":404}))
    );
    assert_eq!(c.toxics(&p.name).unwrap(), vec![]);
}

#[test]
fn populate_creates_keeps_and_replaces() {
    let toxi = ToxiProcess::start();
    let c = &toxi.client;
    let first = c
        .populate(&[
            ProxyConfig::new("a", "127.0.0.1:0", "127.0.0.1:7001"),
            ProxyConfig::new("b", "127.0.0.1:0", "127.0.0.1:7002"),
        ])
        .unwrap();
    assert_eq!(first.len(), 2);
    let a_listen = first[0].listen.clone();

    // Same fields (with the bound address): kept as is, toxics included.
    let toxic = Toxic::new(
        Stream::Upstream,
        ToxicKind::Timeout(ferrokv_toxiproxy::Timeout { timeout: 0 }),
    );
    c.add_toxic("a", &toxic).unwrap();
    let body = json!([{"name":"a","listen":a_listen,"upstream":"127.0.0.1:7001"}]).to_string();
    let (status, kept) = raw(c, "POST", "/populate", Some(&body));
    assert_eq!(status, 201);
    assert_eq!(kept["proxies"][0]["listen"], a_listen.as_str());
    assert_eq!(kept["proxies"][0]["toxics"].as_array().unwrap().len(), 1);

    // A new upstream replaces the proxy (and drops its toxics).
    let replaced = c
        .populate(&[ProxyConfig::new("a", &a_listen, "127.0.0.1:7003")])
        .unwrap();
    assert_eq!(replaced[0].upstream, "127.0.0.1:7003");
    assert_eq!(replaced[0].listen, a_listen);
    assert!(replaced[0].toxics.is_empty());

    let (status, err) = raw(c, "POST", "/populate", Some(r#"[{"name":"c"}]"#));
    assert_eq!(status, 400);
    assert_eq!(
        err,
        json!({"error":"missing required field: upstream at proxy 1","status":400,"proxies":null})
    );
    assert_eq!(c.proxies().unwrap().len(), 2);
}

#[test]
fn reset_enables_every_proxy_and_removes_every_toxic() {
    let toxi = ToxiProcess::start();
    let c = &toxi.client;
    let echo = Upstream::echo();
    let p = proxy_to(c, "r", echo.addr);
    c.add_toxic(
        "r",
        &Toxic::new(
            Stream::Downstream,
            ToxicKind::Latency(ferrokv_toxiproxy::Latency {
                latency: 500,
                jitter: 0,
            }),
        ),
    )
    .unwrap();
    c.set_enabled("r", false).unwrap();
    assert_eq!(raw(c, "POST", "/reset", None), (204, Value::Null));
    let after = c.proxy("r").unwrap();
    assert!(after.enabled && after.toxics.is_empty(), "{after:?}");
    let mut s = connect(&p.listen);
    let (_, d) = round_trip(&mut s, b"quick");
    assert!(d < std::time::Duration::from_millis(250), "{d:?}");
}

#[test]
fn in_process_server_works_and_stops_on_drop() {
    let echo = Upstream::echo();
    let server = BackgroundServer::start("127.0.0.1:0", ServerConfig { seed: Some(1) }).unwrap();
    let c = server.client();
    let p = proxy_to(&c, "inproc", echo.addr);
    let mut s = connect(&p.listen);
    assert_eq!(round_trip(&mut s, b"hi").0, b"hi");
    drop(server);
    // Dropping the server stops its proxies and their connections. (The port itself may be
    // reused by a parallel test at once, so the open connection is what we check.)
    let (_, end) = read_to_end(&mut s, std::time::Duration::from_secs(3));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
}
