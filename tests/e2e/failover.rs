//! `FAILOVER`: error replies byte-exact with real Redis, a hand-over under a steady write load
//! without losing an acknowledged write, the timeout/abort paths, and interop with real
//! `redis-server` on either side of the hand-over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{eventually, require_redis, Conn, Flavor, Frame, Server};
use crate::partitions::{caught_up, dataset, info_field, ok, Toxi, SYNC_WAIT};

fn pair(flavor: Flavor, replica_flavor: Flavor) -> (Server, Server) {
    let p = Server::start(flavor, &["--repl-diskless-sync-delay", "0"]);
    let port = p.port().to_string();
    let r = Server::start(
        replica_flavor,
        &[
            "--replicaof",
            "127.0.0.1",
            port.as_str(),
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    (p, r)
}

fn replies(flavor: Flavor) -> Vec<String> {
    let lone = Server::start(flavor, &[] as &[&str]);
    let mut c = lone.conn();
    let mut out = Vec::new();
    for line in [
        "FAILOVER",
        "FAILOVER ABORT",
        "FAILOVER FORCE",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT -1",
        "FAILOVER TO 127.0.0.1 x",
        "FAILOVER TO 127.0.0.1",
        "FAILOVER BOGUS",
        "FAILOVER TIMEOUT 10 TIMEOUT 20",
        "FAILOVER ABORT x",
    ] {
        out.push(format!("{line} -> {:?}", c.run(line)));
    }
    let (p, r) = pair(flavor, flavor);
    let (mut pc, mut rc) = (p.conn(), r.conn());
    caught_up(&mut pc, &mut rc);
    out.push(format!("replica FAILOVER -> {:?}", rc.run("FAILOVER")));
    for (name, line) in [
        ("FAILOVER FORCE", "FAILOVER FORCE".to_string()),
        ("TO 1 FORCE", "FAILOVER TO 127.0.0.1 1 FORCE".to_string()),
        ("TO 1", "FAILOVER TO 127.0.0.1 1".to_string()),
        (
            "TO <replica> FORCE",
            format!("FAILOVER TO 127.0.0.1 {} FORCE", r.port()),
        ),
    ] {
        out.push(format!("{name} -> {:?}", pc.run(&line)));
    }
    out
}

#[test]
fn failover_errors_match_redis() {
    if !require_redis("failover_errors_match_redis") {
        return;
    }
    assert_eq!(replies(Flavor::Ferrokv), replies(Flavor::Redis));
}

#[test]
fn failover_hands_over_under_load_without_losing_acknowledged_writes() {
    let (p, r) = pair(Flavor::Ferrokv, Flavor::Ferrokv);
    let (mut pc, mut rc) = (p.conn(), r.conn());
    caught_up(&mut pc, &mut rc);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = p.addr();
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Conn::connect(addr).expect("writer");
            let (mut acked, mut refused) = (Vec::new(), 0usize);
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let key = format!("k{i}");
                match c.cmd(&["SET", key.as_str(), "v"]) {
                    Frame::Simple(s) if &s[..] == b"OK" => acked.push(key),
                    Frame::Error(e) if e.starts_with(b"READONLY") => refused += 1,
                    other => panic!("SET during failover: {other:?}"),
                }
                i += 1;
            }
            (acked, refused)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    ok(
        &mut pc,
        &format!("FAILOVER TO 127.0.0.1 {} TIMEOUT 10000", r.port()),
    );
    eventually(SYNC_WAIT, || match info_field(&mut rc, "role").as_deref() {
        Some("master") => Ok(()),
        other => Err(format!("target role {other:?}")),
    });
    eventually(SYNC_WAIT, || {
        let role = info_field(&mut pc, "role");
        let state = info_field(&mut pc, "master_failover_state");
        if role.as_deref() == Some("slave") && state.as_deref() == Some("no-failover") {
            Ok(())
        } else {
            Err(format!("old primary role {role:?} state {state:?}"))
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (acked, refused) = writer.join().expect("writer thread");
    caught_up(&mut rc, &mut pc);
    let final_set = dataset(&mut rc);
    let lost = acked.iter().filter(|k| !final_set.contains_key(*k)).count();
    let partial: u64 = info_field(&mut rc, "sync_partial_ok")
        .unwrap()
        .parse()
        .unwrap();
    println!(
        "failover: acknowledged {}, refused after hand-over (READONLY) {refused}, lost {lost}, \
         target sync_partial_ok {partial}",
        acked.len()
    );
    assert!(!acked.is_empty() && refused > 0);
    assert_eq!(lost, 0);
    assert_eq!(partial, 1, "the old primary continued with +CONTINUE");
    assert_eq!(dataset(&mut pc), final_set);
}

#[test]
fn failover_times_out_and_aborts_when_the_replica_lags() {
    let mut toxi = Toxi::new("fo-timeout");
    let p = Server::start(Flavor::Ferrokv, &["--repl-diskless-sync-delay", "0"]);
    let via = toxi.proxy("r", p.port()).to_string();
    let r = Server::start(Flavor::Ferrokv, &["--replicaof", "127.0.0.1", via.as_str()]);
    let (mut pc, mut rc) = (p.conn(), r.conn());
    caught_up(&mut pc, &mut rc);
    toxi.cut("r");
    ok(&mut pc, "SET moved yes");
    ok(&mut pc, "FAILOVER TIMEOUT 1500");
    assert_eq!(
        info_field(&mut pc, "master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    match pc.run("REPLICAOF NO ONE") {
        Frame::Error(e) => assert_eq!(&e[..], b"ERR REPLICAOF not allowed while failing over."),
        other => panic!("REPLICAOF during FAILOVER: {other:?}"),
    }
    // Writes wait during the failover, then go through once it aborted.
    let t = Instant::now();
    ok(&mut pc, "SET during yes");
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "the write was paused"
    );
    assert_eq!(
        info_field(&mut pc, "master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(info_field(&mut pc, "role").as_deref(), Some("master"));
    // ABORT of a fresh failover.
    ok(&mut pc, "FAILOVER");
    ok(&mut pc, "FAILOVER ABORT");
    ok(&mut pc, "SET after yes");
    toxi.heal("r");
    caught_up(&mut pc, &mut rc);
}

#[test]
fn failover_interoperates_with_real_redis() {
    if !require_redis("failover_interoperates_with_real_redis") {
        return;
    }
    for (primary, replica) in [
        (Flavor::Ferrokv, Flavor::Redis),
        (Flavor::Redis, Flavor::Ferrokv),
    ] {
        let (p, r) = pair(primary, replica);
        let (mut pc, mut rc) = (p.conn(), r.conn());
        for i in 0..100 {
            ok(&mut pc, &format!("SET k{i} {i}"));
        }
        caught_up(&mut pc, &mut rc);
        ok(&mut pc, "FAILOVER");
        eventually(SYNC_WAIT, || {
            let a = info_field(&mut rc, "role");
            let b = info_field(&mut pc, "role");
            let link = info_field(&mut pc, "master_link_status");
            if a.as_deref() == Some("master")
                && b.as_deref() == Some("slave")
                && link.as_deref() == Some("up")
            {
                Ok(())
            } else {
                Err(format!("target {a:?}, old primary {b:?} link {link:?}"))
            }
        });
        ok(&mut rc, "SET after failover");
        caught_up(&mut rc, &mut pc);
        let partial: u64 = info_field(&mut rc, "sync_partial_ok")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            partial, 1,
            "{primary:?} -> {replica:?}: hand-over by partial resync"
        );
        assert_eq!(
            dataset(&mut pc),
            dataset(&mut rc),
            "{primary:?} -> {replica:?}"
        );
    }
}
