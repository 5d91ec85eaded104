//! Network partitions, crashes and slow links, measured: how many acknowledged writes survive.
//!
//! Every link that matters goes through a Toxiproxy-compatible proxy: clients -> primary and
//! each replica -> primary (replicas run `--replicaof 127.0.0.1 <proxy port>`). The proxy
//! server is `TOXIPROXY_URL` when set (a real Toxiproxy works), else an in-process
//! `ferrokv_toxiproxy::BackgroundServer` on loopback. Proxy names carry the test name and the
//! PID, so tests can share one server; a [`Cluster`] deletes its proxies when dropped.
//!
//! Each scenario prints what it counted (`writes acknowledged`, `present after healing`,
//! `lost`) and asserts the property; final datasets are compared key by key. The figures are
//! summarised in README.md, "Data loss under partitions".
//!
//! A "partition" here is a `timeout` toxic with timeout 0 on both directions of a link: bytes
//! are dropped and the connections stay open, as with a real network split (nobody sees a
//! FIN). Removing the toxics heals the link (the stuck connections close, new ones pass).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokv_toxiproxy::{BackgroundServer, Stream, ToxiClient, Toxic, ToxicKind};

use crate::harness::{eventually, free_port, Conn, Flavor, Frame, Server};

pub(crate) const SYNC_WAIT: Duration = Duration::from_secs(30);

/// The proxy server: the environment's, or one of our own for this test.
pub(crate) struct Toxi {
    pub client: ToxiClient,
    _own: Option<BackgroundServer>,
    names: Vec<String>,
    prefix: String,
}

impl Toxi {
    pub fn new(test: &str) -> Toxi {
        let prefix = format!("{test}-{}", std::process::id());
        match ToxiClient::from_env() {
            Some(client) => Toxi {
                client,
                _own: None,
                names: Vec::new(),
                prefix,
            },
            None => {
                let own = BackgroundServer::start("127.0.0.1:0", Default::default())
                    .expect("start the in-process proxy server");
                Toxi {
                    client: own.client(),
                    _own: Some(own),
                    names: Vec::new(),
                    prefix,
                }
            }
        }
    }

    /// A proxy `name` on a free loopback port forwarding to `upstream_port`. Returns its port.
    pub fn proxy(&mut self, name: &str, upstream_port: u16) -> u16 {
        let full = format!("{}-{name}", self.prefix);
        let p = self
            .client
            .create_proxy(&full, "127.0.0.1:0", &format!("127.0.0.1:{upstream_port}"))
            .expect("create proxy");
        self.names.push(full);
        p.listen
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("proxy port")
    }

    fn full(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Blackholes both directions of proxy `name` (a partition).
    pub fn cut(&self, name: &str) {
        for stream in [Stream::Upstream, Stream::Downstream] {
            let mut t = Toxic::new(
                stream,
                ToxicKind::Timeout(ferrokv_toxiproxy::Timeout { timeout: 0 }),
            );
            t.name = format!("cut_{}", stream.as_str());
            self.client
                .add_toxic(&self.full(name), &t)
                .expect("add timeout toxic");
        }
    }

    /// Removes every toxic of proxy `name` (stuck connections close, new ones pass).
    pub fn heal(&self, name: &str) {
        let full = self.full(name);
        for t in self.client.toxics(&full).expect("list toxics") {
            self.client
                .remove_toxic(&full, &t.name)
                .expect("remove toxic");
        }
    }

    pub fn add(&self, name: &str, stream: Stream, kind: ToxicKind) {
        self.client
            .add_toxic(&self.full(name), &Toxic::new(stream, kind))
            .expect("add toxic");
    }

    pub fn set_enabled(&self, name: &str, on: bool) {
        self.client
            .set_enabled(&self.full(name), on)
            .expect("enable/disable proxy");
    }

    pub fn set_upstream(&self, name: &str, port: u16) {
        self.client
            .update_proxy(
                &self.full(name),
                &ferrokv_toxiproxy::ProxyUpdate {
                    upstream: Some(format!("127.0.0.1:{port}")),
                    ..Default::default()
                },
            )
            .expect("update proxy");
    }
}

impl Drop for Toxi {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.client.delete_proxy(n);
        }
    }
}

// ---- small client helpers ------------------------------------------------------------------

pub(crate) fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Integer(i) => i.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

pub(crate) fn info_field(conn: &mut Conn, name: &str) -> Option<String> {
    let info = text(&conn.run("INFO"));
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}:"))
            .map(|v| v.trim().to_string())
    })
}

pub(crate) fn ok(conn: &mut Conn, line: &str) {
    let f = conn.run(line);
    assert!(!matches!(f, Frame::Error(_)), "{line}: {f:?}");
}

/// The whole keyspace of db 0 (the tests write strings only): key -> value.
pub(crate) fn dataset(conn: &mut Conn) -> BTreeMap<String, String> {
    let keys = match conn.run("KEYS *") {
        Frame::Array(v) => v.iter().map(text).collect::<Vec<_>>(),
        other => panic!("KEYS: {other:?}"),
    };
    let mut out = BTreeMap::new();
    for k in keys {
        let v = conn.cmd(&["GET", k.as_str()]);
        out.insert(k, text(&v));
    }
    out
}

/// Waits until `replica`'s link is up and it applied everything `primary` produced.
pub(crate) fn caught_up(primary: &mut Conn, replica: &mut Conn) {
    eventually(SYNC_WAIT, || {
        let link = info_field(replica, "master_link_status");
        let p = info_field(primary, "master_repl_offset");
        let r = info_field(replica, "slave_repl_offset");
        if link.as_deref() == Some("up") && p.is_some() && p == r {
            Ok(())
        } else {
            Err(format!("link {link:?} primary {p:?} replica {r:?}"))
        }
    });
}

/// Asserts that every node holds exactly `expected`, key by key.
pub(crate) fn assert_datasets(
    nodes: &mut [(&str, &mut Conn)],
    expected: &BTreeMap<String, String>,
) {
    for (name, c) in nodes.iter_mut() {
        let got = dataset(c);
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .take(5)
            .collect();
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && differ.is_empty(),
            "{name}: {} keys, expected {}; missing {missing:?} extra {extra:?} differ {differ:?}",
            got.len(),
            expected.len()
        );
    }
}

fn ferrokv(extra: &[&str]) -> Server {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    Server::start(Flavor::Ferrokv, &args)
}

fn replica_via(proxy_port: u16, extra: &[&str]) -> Server {
    let port = proxy_port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", port.as_str()];
    args.extend_from_slice(extra);
    ferrokv(&args)
}

/// One write's fate.
#[derive(Debug, Clone)]
struct Write {
    key: String,
    /// Seconds after the split when it was acknowledged (negative: before).
    at: f64,
    acked: bool,
    waited: Option<i64>,
}

/// Writes `SET <prefix><i> <i>` for `dur` (optionally followed by `WAIT 1 <ms>`), recording
/// each outcome relative to `split`.
fn write_for(
    conn: &mut Conn,
    prefix: &str,
    start: usize,
    dur: Duration,
    split: Instant,
    wait_ms: Option<u64>,
) -> Vec<Write> {
    let mut out = Vec::new();
    let end = Instant::now() + dur;
    let mut i = start;
    // Bounded by `dur`; each command returns quickly (errors do not block).
    while Instant::now() < end {
        let key = format!("{prefix}{i}");
        let r = conn.cmd(&["SET", key.as_str(), i.to_string().as_str()]);
        let acked = matches!(&r, Frame::Simple(s) if &s[..] == b"OK");
        let waited = match (acked, wait_ms) {
            (true, Some(ms)) => match conn.cmd(&["WAIT", "1", ms.to_string().as_str()]) {
                Frame::Integer(n) => Some(n),
                other => panic!("WAIT: {other:?}"),
            },
            _ => None,
        };
        let now = Instant::now();
        let at = if now >= split {
            (now - split).as_secs_f64()
        } else {
            -(split - now).as_secs_f64()
        };
        out.push(Write {
            key,
            at,
            acked,
            waited,
        });
        i += 1;
        if !acked {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    out
}

// ---- 1. primary isolated from its replicas -------------------------------------------------

/// Returns (acknowledged after the split, lost, seconds of the last acknowledged write).
fn isolated_primary_round(test: &str, primary_extra: &[&str]) -> (usize, usize, f64) {
    let mut toxi = Toxi::new(test);
    let mut p = ferrokv(primary_extra);
    let cp = toxi.proxy("client", p.port());
    let p1 = toxi.proxy("r1", p.port());
    let p2 = toxi.proxy("r2", p.port());
    let r1 = replica_via(p1, &[]);
    let r2 = replica_via(p2, &[]);
    let mut client = Conn::connect(([127, 0, 0, 1], cp).into()).expect("client via proxy");
    let (mut pc, mut c1, mut c2) = (p.conn(), r1.conn(), r2.conn());
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    let start = Instant::now();
    let before = write_for(
        &mut client,
        "pre:",
        0,
        Duration::from_millis(500),
        start,
        None,
    );
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);

    // Split: the primary keeps its clients, loses its replicas.
    toxi.cut("r1");
    toxi.cut("r2");
    let split = Instant::now();
    let after = write_for(&mut client, "post:", 0, Duration::from_secs(5), split, None);

    // Failover on the majority side: r1 promoted, r2 follows it (direct links).
    ok(&mut c1, "REPLICAOF NO ONE");
    ok(&mut c2, &format!("REPLICAOF 127.0.0.1 {}", r1.port()));
    caught_up(&mut c1, &mut c2);
    ok(&mut c1, "SET after-failover yes");

    // Heal; the old primary becomes a replica of the new one.
    toxi.heal("r1");
    toxi.heal("r2");
    ok(&mut pc, &format!("REPLICAOF 127.0.0.1 {}", r1.port()));
    caught_up(&mut c1, &mut pc);
    caught_up(&mut c1, &mut c2);

    let acked_after: Vec<&Write> = after.iter().filter(|w| w.acked).collect();
    let final_set = dataset(&mut c1);
    let lost = acked_after
        .iter()
        .filter(|w| !final_set.contains_key(&w.key))
        .count();
    let pre_lost = before
        .iter()
        .filter(|w| w.acked && !final_set.contains_key(&w.key))
        .count();
    let last = acked_after.iter().map(|w| w.at).fold(0.0, f64::max);
    println!(
        "partition[{test}] {primary_extra:?}: before split acknowledged {} (lost {pre_lost}); \
         after split attempted {}, acknowledged {}, present after healing {}, lost {lost}; \
         last acknowledged {last:.2}s after the split",
        before.iter().filter(|w| w.acked).count(),
        after.len(),
        acked_after.len(),
        acked_after.len() - lost,
    );
    assert_eq!(pre_lost, 0, "writes replicated before the split survive");
    assert_datasets(&mut [("r2", &mut c2), ("old primary", &mut pc)], &final_set);
    p.stop();
    (acked_after.len(), lost, last)
}

#[test]
fn isolated_primary_loses_its_acknowledged_writes() {
    let (acked, lost, _) = isolated_primary_round("iso-default", &[]);
    assert!(acked > 0, "the isolated primary kept acknowledging writes");
    assert!(
        lost > 0,
        "last failover wins: the isolated primary's writes are discarded"
    );
    assert_eq!(
        lost, acked,
        "nothing written after the split reached the new primary"
    );
}

#[test]
fn min_replicas_bounds_the_loss_window() {
    let max_lag = 2.0;
    let (acked, lost, last) = isolated_primary_round(
        "iso-minrep",
        &[
            "--min-replicas-to-write",
            "1",
            "--min-replicas-max-lag",
            "2",
        ],
    );
    assert!(lost <= acked);
    // An ACK counts while it is less than max-lag + 1 s old (whole seconds, as in Redis), the
    // last one came up to 1 s before the split, and good replicas are recounted once a
    // second: refusals start at most max-lag + 2 s after the split (+0.5 s of slack).
    assert!(
        last <= max_lag + 2.5,
        "acknowledged writes stopped {last:.2}s after the split (max-lag {max_lag}s)"
    );
}

// ---- 2. WAIT + promoting the most up-to-date replica ---------------------------------------

#[test]
fn wait_acknowledged_writes_survive_promoting_the_best_replica() {
    let mut toxi = Toxi::new("wait-best");
    let mut p = ferrokv(&[]);
    let cp = toxi.proxy("client", p.port());
    let p1 = toxi.proxy("r1", p.port());
    let p2 = toxi.proxy("r2", p.port());
    let r1 = replica_via(p1, &[]);
    let r2 = replica_via(p2, &[]);
    let mut client = Conn::connect(([127, 0, 0, 1], cp).into()).expect("client via proxy");
    let (mut pc, mut c1, mut c2) = (p.conn(), r1.conn(), r2.conn());
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    // r1 lags behind: 300 ms on its stream.
    toxi.add(
        "r1",
        Stream::Downstream,
        ToxicKind::Latency(ferrokv_toxiproxy::Latency {
            latency: 300,
            jitter: 0,
        }),
    );
    let start = Instant::now();
    let writes = write_for(
        &mut client,
        "w:",
        0,
        Duration::from_secs(3),
        start,
        Some(200),
    );
    p.kill();
    // Pick the replica with the highest offset, as sentinel does.
    let o1: u64 = info_field(&mut c1, "slave_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    let o2: u64 = info_field(&mut c2, "slave_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    let (best, other, bname) = if o1 > o2 {
        (&mut c1, &mut c2, "r1")
    } else {
        (&mut c2, &mut c1, "r2")
    };
    let best_port = if bname == "r1" { r1.port() } else { r2.port() };
    ok(best, "REPLICAOF NO ONE");
    ok(other, &format!("REPLICAOF 127.0.0.1 {best_port}"));
    caught_up(best, other);
    let final_set = dataset(best);
    let waited: Vec<&Write> = writes
        .iter()
        .filter(|w| w.waited.is_some_and(|n| n >= 1))
        .collect();
    let acked = writes.iter().filter(|w| w.acked).count();
    let lost_waited = waited
        .iter()
        .filter(|w| !final_set.contains_key(&w.key))
        .count();
    let lost_acked = writes
        .iter()
        .filter(|w| w.acked && !final_set.contains_key(&w.key))
        .count();
    println!(
        "partition[wait-best]: offsets r1 {o1} r2 {o2}, promoted {bname}; acknowledged {acked}, \
         WAIT>=1 {}, present after failover {}, lost (WAIT>=1) {lost_waited}, lost (any ack) {lost_acked}",
        waited.len(),
        acked - lost_acked
    );
    assert!(!waited.is_empty());
    assert_eq!(lost_waited, 0, "a WAIT-acknowledged write was lost");
    assert_datasets(&mut [("follower", other)], &final_set);
}

// ---- 3. a long-cut replica promoted after a crash ------------------------------------------

#[test]
fn stale_replica_promotion_loses_writes_healthy_one_does_not() {
    let mut toxi = Toxi::new("stale");
    let mut p = ferrokv(&[]);
    let cp = toxi.proxy("client", p.port());
    let p1 = toxi.proxy("r1", p.port());
    let p2 = toxi.proxy("r2", p.port());
    let r1 = replica_via(p1, &[]);
    let r2 = replica_via(p2, &[]);
    let mut client = Conn::connect(([127, 0, 0, 1], cp).into()).expect("client via proxy");
    let (mut pc, mut c1, mut c2) = (p.conn(), r1.conn(), r2.conn());
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    let start = Instant::now();
    let mut writes = write_for(
        &mut client,
        "a:",
        0,
        Duration::from_millis(500),
        start,
        Some(500),
    );
    caught_up(&mut pc, &mut c1);
    // r1 is cut off for the rest of the primary's life.
    toxi.cut("r1");
    writes.extend(write_for(
        &mut client,
        "b:",
        0,
        Duration::from_secs(5),
        start,
        Some(500),
    ));
    p.kill();
    let waited: Vec<&Write> = writes
        .iter()
        .filter(|w| w.waited.is_some_and(|n| n >= 1))
        .collect();
    let acked = writes.iter().filter(|w| w.acked).count();
    // Promoting r1 would keep exactly what it holds now (its primary is dead).
    let stale = dataset(&mut c1);
    let lost_if_stale = waited
        .iter()
        .filter(|w| !stale.contains_key(&w.key))
        .count();
    // Promote the healthy replica instead; r1 follows it once its link heals.
    ok(&mut c2, "REPLICAOF NO ONE");
    toxi.heal("r1");
    ok(&mut c1, &format!("REPLICAOF 127.0.0.1 {}", r2.port()));
    caught_up(&mut c2, &mut c1);
    let final_set = dataset(&mut c2);
    let lost_healthy = waited
        .iter()
        .filter(|w| !final_set.contains_key(&w.key))
        .count();
    println!(
        "partition[stale]: acknowledged {acked}, WAIT>=1 {}; promoting the replica cut off for 5 s \
         would lose {lost_if_stale}; promoting the healthy replica lost {lost_healthy}",
        waited.len()
    );
    assert!(
        lost_if_stale > 0,
        "the stale replica misses WAIT-acknowledged writes"
    );
    assert_eq!(lost_healthy, 0);
    assert_datasets(&mut [("r1", &mut c1)], &final_set);
}

// ---- 4. persistence-off primary restarted empty --------------------------------------------

#[test]
fn restarted_empty_primary_does_not_wipe_replicas() {
    let mut toxi = Toxi::new("empty");
    let port = free_port().to_string();
    let mut p = ferrokv(&["--port", port.as_str(), "--listen-ephemeral-port", "no"]);
    let p1 = toxi.proxy("r1", p.port());
    let p2 = toxi.proxy("r2", p.port());
    let r1 = replica_via(p1, &[]);
    // r2 opts out: Redis's behaviour.
    let r2 = replica_via(p2, &["--replica-accept-empty-fullsync", "yes"]);
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    {
        let mut pc = p.conn();
        for i in 0..500 {
            ok(&mut pc, &format!("SET k{i} {i}"));
        }
        caught_up(&mut pc, &mut c1);
        caught_up(&mut pc, &mut c2);
    }
    let expected = dataset(&mut c1);
    assert_eq!(expected.len(), 500);
    p.kill();
    p.restart();
    assert_eq!(p.port().to_string(), port, "restarted on the same port");
    toxi.set_upstream("r1", p.port());
    toxi.set_upstream("r2", p.port());
    // r2 accepts the empty primary (as Redis would) ...
    eventually(SYNC_WAIT, || match text(&c2.run("DBSIZE")).as_str() {
        "0" => Ok(()),
        n => Err(format!("r2 holds {n} keys")),
    });
    // ... r1 refuses, keeps its data, stays down, and keeps refusing on retries.
    eventually(SYNC_WAIT, || {
        if r1.log().contains("refusing to replace 500 keys") {
            Ok(())
        } else {
            Err("no refusal logged yet")
        }
    });
    std::thread::sleep(Duration::from_secs(6));
    let refusals = r1.log().matches("refusing to replace").count();
    assert_eq!(
        info_field(&mut c1, "master_link_status").as_deref(),
        Some("down")
    );
    assert_datasets(&mut [("r1", &mut c1)], &expected);
    println!(
        "partition[empty]: primary restarted empty; r1 (default) kept {} keys after {} refusal log lines; \
         r2 (replica-accept-empty-fullsync yes) holds 0",
        expected.len(),
        refusals
    );
    // The operator confirms: REPLICAOF again lets the empty sync through.
    let again = c1.run(&format!("REPLICAOF 127.0.0.1 {p1}"));
    assert!(!matches!(again, Frame::Error(_)), "{again:?}");
    eventually(SYNC_WAIT, || match text(&c1.run("DBSIZE")).as_str() {
        "0" => Ok(()),
        n => Err(format!("r1 holds {n} keys")),
    });
    let mut pc = p.conn();
    caught_up(&mut pc, &mut c1);
}

// ---- 5. slow and flaky links ---------------------------------------------------------------

#[test]
fn slow_and_flaky_links_converge_with_partial_resyncs() {
    let mut toxi = Toxi::new("flaky");
    let p = ferrokv(&["--repl-backlog-size", "4mb"]);
    let mut pc = p.conn();
    // Values that LZF cannot shrink much, so the payload is well over the 100 kB cut.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000 {
        let value: String = (0..100)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b"0123456789abcdef"[(seed >> 60) as usize])
            })
            .collect();
        pc.send(&["SET", format!("pre{i}").as_str(), value.as_str()])
            .unwrap();
    }
    for _ in 0..3000 {
        pc.read_reply().unwrap();
    }
    let p1 = toxi.proxy("r1", p.port());
    let p2 = toxi.proxy("r2", p.port());
    // r1's first transfers are cut after 100 kB (mid-RDB): it must retry.
    toxi.add(
        "r1",
        Stream::Downstream,
        ToxicKind::LimitData(ferrokv_toxiproxy::LimitData { bytes: 100_000 }),
    );
    // r2's stream arrives in small slices.
    toxi.add(
        "r2",
        Stream::Downstream,
        ToxicKind::Slicer(ferrokv_toxiproxy::Slicer {
            average_size: 64,
            size_variation: 32,
            delay: 200,
        }),
    );
    let r1 = replica_via(p1, &[]);
    let r2 = replica_via(p2, &[]);
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    eventually(SYNC_WAIT, || {
        if r1.log().contains("lost") {
            Ok(())
        } else {
            Err("r1 not cut yet")
        }
    });
    assert_eq!(
        info_field(&mut c1, "master_link_status").as_deref(),
        Some("down")
    );
    toxi.heal("r1");
    // Now slow: latency with jitter and 200 KB/s.
    toxi.add(
        "r1",
        Stream::Downstream,
        ToxicKind::Latency(ferrokv_toxiproxy::Latency {
            latency: 50,
            jitter: 20,
        }),
    );
    toxi.add(
        "r1",
        Stream::Downstream,
        ToxicKind::Bandwidth(ferrokv_toxiproxy::Bandwidth { rate: 200 }),
    );
    for i in 0..500 {
        ok(&mut pc, &format!("SET live{i} {i}"));
    }
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    let partial_before: u64 = info_field(&mut pc, "sync_partial_ok")
        .unwrap()
        .parse()
        .unwrap();
    // Short cuts inside the backlog: partial resyncs.
    for round in 0..2 {
        toxi.set_enabled("r1", false);
        toxi.set_enabled("r2", false);
        for i in 0..200 {
            ok(&mut pc, &format!("SET cut{round}:{i} {i}"));
        }
        toxi.set_enabled("r1", true);
        toxi.set_enabled("r2", true);
        caught_up(&mut pc, &mut c1);
        caught_up(&mut pc, &mut c2);
    }
    let partial_after: u64 = info_field(&mut pc, "sync_partial_ok")
        .unwrap()
        .parse()
        .unwrap();
    let full: u64 = info_field(&mut pc, "sync_full").unwrap().parse().unwrap();
    let expected = dataset(&mut pc);
    println!(
        "partition[flaky]: {} keys; sync_full {full}, sync_partial_ok {partial_before} -> {partial_after}",
        expected.len()
    );
    assert_eq!(
        partial_after - partial_before,
        4,
        "each cut inside the backlog resynced partially"
    );
    assert_datasets(&mut [("r1", &mut c1), ("r2", &mut c2)], &expected);
}

// ---- 6. repl-timeout on both ends -----------------------------------------------------------

/// A link that goes silent (blackholed both ways, no FIN) is detected by `repl-timeout` on
/// both ends. Two replicas behind two proxies: `r1` (timeout 2 s) must drop its link itself
/// ("MASTER timeout: no data nor PING received..."); `r2` (timeout 60 s) never does within the
/// test, so the primary (timeout 4 s) must find it silent and disconnect it ("Disconnecting
/// timedout replica"). After the heal both continue with a partial resync.
#[test]
fn repl_timeout_detects_a_silent_link_on_both_sides() {
    let mut toxi = Toxi::new("repltimeout");
    let p = ferrokv(&["--repl-timeout", "4", "--repl-ping-replica-period", "1"]);
    let mut pc = p.conn();
    let (port1, port2) = (toxi.proxy("r1", p.port()), toxi.proxy("r2", p.port()));
    let r1 = replica_via(port1, &["--repl-timeout", "2"]);
    let r2 = replica_via(port2, &["--repl-timeout", "60"]);
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    ok(&mut pc, "SET before 1");
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    assert_eq!(
        info_field(&mut pc, "connected_slaves").as_deref(),
        Some("2")
    );

    toxi.cut("r1");
    toxi.cut("r2");
    let cut = Instant::now();
    ok(&mut pc, "SET during 2");
    eventually(Duration::from_secs(15), || {
        match info_field(&mut c1, "master_link_status").as_deref() {
            Some("down") => Ok(()),
            other => Err(format!("r1 link {other:?}")),
        }
    });
    let replica_saw = cut.elapsed();
    eventually(Duration::from_secs(15), || {
        match info_field(&mut pc, "connected_slaves").as_deref() {
            Some("0") => Ok(()),
            other => Err(format!("primary connected_slaves {other:?}")),
        }
    });
    let primary_saw = cut.elapsed();
    eprintln!(
        "silent links detected: by r1 (repl-timeout 2) after {replica_saw:?}, \
         by the primary (repl-timeout 4) after {primary_saw:?}"
    );
    // Not before each side's timeout, and not much after it (the checks run once a second).
    assert!(
        replica_saw >= Duration::from_secs(2) && replica_saw < Duration::from_secs(4),
        "{replica_saw:?}"
    );
    assert!(
        primary_saw >= Duration::from_secs(4) && primary_saw < Duration::from_secs(8),
        "{primary_saw:?}"
    );
    assert!(
        r1.log()
            .contains("MASTER timeout: no data nor PING received..."),
        "{}",
        r1.log()
    );
    assert!(
        p.log().contains("Disconnecting timedout replica"),
        "{}",
        p.log()
    );

    toxi.heal("r1");
    toxi.heal("r2");
    caught_up(&mut pc, &mut c1);
    caught_up(&mut pc, &mut c2);
    assert_eq!(text(&c1.run("GET during")), "2");
    assert_eq!(text(&c2.run("GET during")), "2");
    assert_eq!(info_field(&mut pc, "sync_full").as_deref(), Some("2"));
    assert_eq!(info_field(&mut pc, "sync_partial_ok").as_deref(), Some("2"));
}
