//! Toxics and enable/disable on real sockets, through the built binary.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ferrokv_toxiproxy::{
    Bandwidth, Latency, LimitData, ResetPeer, Slicer, SlowClose, Stream, Timeout, Toxic, ToxicKind,
};

use crate::harness::{
    connect, pattern, proxy_to, read_n, read_once, read_to_end, round_trip, ReadEnd, ToxiProcess,
    Upstream,
};

fn latency(ms: i64) -> ToxicKind {
    ToxicKind::Latency(Latency {
        latency: ms,
        jitter: 0,
    })
}

#[test]
fn bytes_pass_through_both_ways() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "echo", echo.addr);
    let mut s = connect(&p.listen);
    let data = pattern(256 * 1024);
    let writer = {
        let mut w = s.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || w.write_all(&data).is_ok())
    };
    let mut back = vec![0u8; data.len()];
    std::io::Read::read_exact(&mut s, &mut back).unwrap();
    assert!(writer.join().unwrap());
    assert!(back == data, "echoed bytes differ");
}

#[test]
fn latency_applies_to_an_open_connection_and_goes_away_when_removed() {
    const LATENCY: Duration = Duration::from_millis(250);
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "lat", echo.addr);
    for trial in 0..12 {
        let stream = if trial % 2 == 0 {
            Stream::Downstream
        } else {
            Stream::Upstream
        };
        let mut s = connect(&p.listen);
        let (_, before) = round_trip(&mut s, b"ping");
        assert!(
            before < LATENCY / 2,
            "trial {trial}: {before:?} before the toxic"
        );

        let t = toxi
            .client
            .add_toxic(&p.name, &Toxic::new(stream, latency(250)))
            .unwrap();
        let (back, slow) = round_trip(&mut s, b"slow");
        assert_eq!(back, b"slow");
        assert!(
            slow >= LATENCY,
            "trial {trial} ({stream:?}): {slow:?} with the toxic"
        );

        toxi.client.remove_toxic(&p.name, &t.name).unwrap();
        let (_, after) = round_trip(&mut s, b"fast");
        assert!(
            after < LATENCY / 2,
            "trial {trial}: {after:?} after removal"
        );
    }
}

#[test]
fn removing_latency_releases_data_already_waiting_in_it() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "lat", echo.addr);
    let mut s = connect(&p.listen);
    let t = toxi
        .client
        .add_toxic(&p.name, &Toxic::new(Stream::Downstream, latency(5000)))
        .unwrap();
    let start = Instant::now();
    s.write_all(b"held").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    toxi.client.remove_toxic(&p.name, &t.name).unwrap();
    let mut back = [0u8; 4];
    std::io::Read::read_exact(&mut s, &mut back).unwrap();
    assert_eq!(&back, b"held");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn updating_a_toxic_changes_it_on_open_connections() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "lat", echo.addr);
    let mut s = connect(&p.listen);
    let t = toxi
        .client
        .add_toxic(&p.name, &Toxic::new(Stream::Downstream, latency(50)))
        .unwrap();
    let (_, d) = round_trip(&mut s, b"a");
    assert!(
        d >= Duration::from_millis(50) && d < Duration::from_millis(300),
        "{d:?}"
    );
    let u = toxi
        .client
        .update_toxic(&p.name, &t.name, &latency(400), None)
        .unwrap();
    assert_eq!(u.kind, latency(400));
    let (_, d) = round_trip(&mut s, b"b");
    assert!(d >= Duration::from_millis(400), "{d:?}");
}

#[test]
fn toxicity_zero_never_applies() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "lat", echo.addr);
    let toxic = Toxic::new(Stream::Downstream, latency(1000)).with_toxicity(0.0);
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    for _ in 0..3 {
        let mut s = connect(&p.listen);
        let (_, d) = round_trip(&mut s, b"x");
        assert!(d < Duration::from_millis(500), "{d:?}");
    }
}

#[test]
fn bandwidth_of_1_kb_per_second_paces_smoothly() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "bw", echo.addr);
    let mut s = connect(&p.listen);
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::Bandwidth(Bandwidth { rate: 1 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();

    let data = pattern(2000);
    let start = Instant::now();
    s.write_all(&data).unwrap();
    let mut got = Vec::new();
    let mut at_one_second = None;
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while got.len() < data.len() && start.elapsed() < Duration::from_secs(6) {
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if at_one_second.is_none() && start.elapsed() >= Duration::from_secs(1) {
            at_one_second = Some(got.len());
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(got, data);
    // 2000 bytes at 1000 B/s: 2 s.
    assert!(
        elapsed >= Duration::from_millis(1800) && elapsed < Duration::from_millis(3000),
        "{elapsed:?}"
    );
    let mid = at_one_second.expect("still reading at 1 s");
    assert!((700..=1300).contains(&mid), "{mid} bytes after 1 s");
    // The server is alive and well.
    assert!(toxi.client.version().is_ok());
}

#[test]
fn timeout_zero_blackholes_and_removal_unsticks_the_connection() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "bh", echo.addr);
    let mut s = connect(&p.listen);
    round_trip(&mut s, b"before");

    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::Timeout(Timeout { timeout: 0 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    s.write_all(b"lost").unwrap();
    assert_eq!(
        read_once(&mut s, Duration::from_millis(700)),
        ReadEnd::Silent,
        "blackholed"
    );

    // Removing it closes the stuck connection at once (as Toxiproxy does: the dropped bytes
    // make the stream unusable), and the link heals for new connections.
    let removed_at = Instant::now();
    toxi.client.remove_toxic(&p.name, &toxic.name).unwrap();
    let (_, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
    assert!(removed_at.elapsed() < Duration::from_secs(1));
    let mut fresh = connect(&p.listen);
    assert_eq!(round_trip(&mut fresh, b"healed").0, b"healed");
}

#[test]
fn reset_removes_a_blackhole_too() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "bh", echo.addr);
    let mut s = connect(&p.listen);
    let toxic = Toxic::new(Stream::Upstream, ToxicKind::Timeout(Timeout { timeout: 0 }));
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    s.write_all(b"lost").unwrap();
    assert_eq!(
        read_once(&mut s, Duration::from_millis(500)),
        ReadEnd::Silent
    );
    toxi.client.reset().unwrap();
    let (_, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
    let mut fresh = connect(&p.listen);
    assert_eq!(round_trip(&mut fresh, b"ok").0, b"ok");
}

#[test]
fn timeout_closes_the_connection_after_its_delay() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "to", echo.addr);
    let mut s = connect(&p.listen);
    let start = Instant::now();
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::Timeout(Timeout { timeout: 300 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    s.write_all(b"dropped").unwrap();
    let (got, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert!(got.is_empty());
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn disabling_cuts_open_connections_and_refuses_new_ones_until_enabled() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "part", echo.addr);
    let mut s = connect(&p.listen);
    round_trip(&mut s, b"up");

    let down = toxi.client.set_enabled(&p.name, false).unwrap();
    assert!(!down.enabled);
    let (_, end) = read_to_end(&mut s, Duration::from_secs(2));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
    let refused = TcpStream::connect(&p.listen).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let up = toxi.client.set_enabled(&p.name, true).unwrap();
    assert!(up.enabled);
    assert_eq!(up.listen, p.listen, "listens again on the same address");
    let mut again = connect(&p.listen);
    assert_eq!(round_trip(&mut again, b"back").0, b"back");
}

#[test]
fn limit_data_closes_after_that_many_bytes() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "lim", echo.addr);
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::LimitData(LimitData { bytes: 10 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    let mut s = connect(&p.listen);
    s.write_all(&pattern(25)).unwrap();
    let (got, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert_eq!(got, pattern(10));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
}

#[test]
fn reset_peer_resets_the_connection() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "rst", echo.addr);
    let mut s = connect(&p.listen);
    round_trip(&mut s, b"fine");
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::ResetPeer(ResetPeer { timeout: 200 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    let start = Instant::now();
    s.write_all(b"boom").unwrap();
    let (got, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert!(got.is_empty());
    assert_eq!(end, ReadEnd::Reset, "ECONNRESET expected");
    assert!(
        start.elapsed() >= Duration::from_millis(180),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn slicer_splits_writes_into_small_pieces() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "slice", echo.addr);
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::Slicer(Slicer {
            average_size: 100,
            size_variation: 0,
            delay: 20_000,
        }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    let mut s = connect(&p.listen);
    let data = pattern(1000);
    s.write_all(&data).unwrap();
    let mut got = Vec::new();
    let mut reads = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < data.len() && Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                reads.push(n);
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    assert_eq!(got, data);
    assert!(reads.len() >= 8, "reads: {reads:?}");
    assert!(reads.iter().all(|&n| n <= 200), "reads: {reads:?}");
}

#[test]
fn slow_close_holds_the_close_back() {
    let toxi = ToxiProcess::start();
    let greeter = Upstream::greeter();
    let p = proxy_to(&toxi.client, "slow", greeter.addr);
    let toxic = Toxic::new(
        Stream::Downstream,
        ToxicKind::SlowClose(SlowClose { delay: 500 }),
    );
    toxi.client.add_toxic(&p.name, &toxic).unwrap();
    let mut s = connect(&p.listen);
    let start = Instant::now();
    let (got, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert_eq!(got, b"bye");
    assert_eq!(end, ReadEnd::Eof);
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );

    toxi.client.remove_toxic(&p.name, &toxic.name).unwrap();
    let mut s = connect(&p.listen);
    let start = Instant::now();
    let (got, end) = read_to_end(&mut s, Duration::from_secs(3));
    assert_eq!((got.as_slice(), end), (&b"bye"[..], ReadEnd::Eof));
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn deleting_a_proxy_closes_its_connections_and_port() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "gone", echo.addr);
    let mut s = connect(&p.listen);
    round_trip(&mut s, b"x");
    toxi.client.delete_proxy(&p.name).unwrap();
    let (_, end) = read_to_end(&mut s, Duration::from_secs(2));
    assert!(matches!(end, ReadEnd::Eof | ReadEnd::Reset), "{end:?}");
    assert!(TcpStream::connect(&p.listen).is_err());
    assert_eq!(toxi.client.proxy(&p.name).unwrap_err().status(), Some(404));
}

#[test]
fn extreme_attributes_neither_crash_nor_hang_the_server() {
    let toxi = ToxiProcess::start();
    let echo = Upstream::echo();
    let p = proxy_to(&toxi.client, "wild", echo.addr);
    let mut s = connect(&p.listen);
    let kinds = [
        ToxicKind::Latency(Latency {
            latency: i64::MAX,
            jitter: i64::MAX,
        }),
        ToxicKind::Bandwidth(Bandwidth { rate: i64::MAX }),
        ToxicKind::Slicer(Slicer {
            average_size: 0,
            size_variation: i64::MAX,
            delay: i64::MAX,
        }),
        ToxicKind::LimitData(LimitData { bytes: i64::MAX }),
        ToxicKind::SlowClose(SlowClose { delay: -5 }),
    ];
    let mut names = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let t = Toxic::new(Stream::Downstream, kind).named(format!("wild{i}"));
        names.push(toxi.client.add_toxic(&p.name, &t).unwrap().name);
    }
    s.write_all(&pattern(3000)).unwrap();
    assert_eq!(
        read_once(&mut s, Duration::from_millis(300)),
        ReadEnd::Silent,
        "held by latency"
    );
    for name in &names {
        toxi.client.remove_toxic(&p.name, name).unwrap();
    }
    let got = read_n(&mut s, 3000, Duration::from_secs(5));
    assert_eq!(got, pattern(3000));
    assert!(toxi.client.version().is_ok());
}
