//! MONITOR, side by side with redis-server: the same traffic runs against both, and the
//! lines each monitor receives must be the same once timestamps and client addresses are
//! masked. The traffic covers what MONITOR shows (commands with their reply, whatever it
//! is; transactions; blocking commands; the db after SELECT; quoting of binary arguments;
//! redacted passwords) and what it leaves out (refused commands, queued ones, admin
//! commands and subcommands).

use std::time::Duration;

use ferrokv_proto::resp::Frame;

use crate::harness::conn::Conn;
use crate::harness::inspect::text;
use crate::harness::{require_redis, Flavor, Server};

/// Replaces the timestamp and the `ip:port` of a monitor line with what is comparable:
/// `+[db who] args`, `who` being `c` for `c_addr`, `d` for `d_addr`.
fn masked(line: &str, c_addr: &str, d_addr: &str) -> String {
    let rest = line
        .split_once(' ')
        .map(|(ts, rest)| {
            assert!(
                ts.starts_with('+')
                    && ts[1..].split_once('.').is_some_and(|(s, us)| {
                        s.parse::<u64>().is_ok() && us.len() == 6 && us.parse::<u32>().is_ok()
                    }),
                "timestamp of {line:?}"
            );
            rest
        })
        .unwrap_or_else(|| panic!("not a monitor line: {line:?}"));
    rest.replacen(c_addr, "c", 1).replacen(d_addr, "d", 1)
}

fn local_addr(c: &mut Conn) -> String {
    let info = String::from_utf8_lossy(&text(&c.run("CLIENT INFO"))).into_owned();
    info.split_whitespace()
        .find_map(|kv| kv.strip_prefix("addr=").map(str::to_owned))
        .expect("addr= in CLIENT INFO")
}

/// Runs the traffic against `server` and returns what its monitor saw, masked.
fn monitored(server: &Server) -> Vec<String> {
    let mut m = server.conn();
    assert_eq!(m.run("MONITOR"), Frame::OK);
    let mut c = server.conn();
    let mut d = server.conn();
    let (c_addr, d_addr) = (local_addr(&mut c), local_addr(&mut d));
    for line in [
        "SET k v",
        "GET k",
        "INCR k",
        "NOSUCHCOMMAND a",
        "GET",
        "SET \"bin\\x00\\xff\" \"quote\\\" and\\nnewline\"",
        "SELECT 3",
        "SET in3 x",
        "SELECT 0",
        "MULTI",
        "SET t 1",
        "GET t",
        "EXEC",
        "MULTI",
        "GET t",
        "DISCARD",
        "AUTH secret",
        "AUTH user secret",
        "HELLO 2 AUTH default secret",
        "HELLO 2 SETNAME me",
        "CLIENT ID",
        "CLIENT SETNAME name",
        "CLIENT LIST",
        "CONFIG GET maxmemory",
        "DEBUG SLEEP 0",
        "INFO server",
        "PING",
        "ECHO \"a b\"",
    ] {
        c.run(line);
    }
    // A blocking command is shown when it blocks; the push that serves it is d's.
    c.send(&["BLPOP", "q", "5"]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(d.run("RPUSH q x"), Frame::Integer(1));
    assert!(matches!(
        c.read_reply().unwrap().to_frame(),
        Frame::Array(_)
    ));
    // The monitor's own commands follow their replies; a second MONITOR gets no reply.
    m.send(&["MONITOR"]).unwrap();
    m.send(&["ECHO", "own"]).unwrap();
    let m_addr = local_addr_of(&mut d, &c_addr, &d_addr);
    let mut lines = Vec::new();
    let mut ended = false;
    for _ in 0..200 {
        let reply = m
            .read_reply()
            .unwrap_or_else(|e| panic!("{e} after {lines:#?}"));
        if reply.kind != b'+' {
            assert_eq!(reply.to_frame(), Frame::bulk("own"));
            lines.push("reply own".to_owned());
            assert_eq!(d.run("ECHO end"), Frame::bulk("end"));
            continue;
        }
        let line = String::from_utf8_lossy(&reply.raw)
            .trim_end()
            .replace(&m_addr, "m");
        let line = masked(&line, &c_addr, &d_addr);
        ended = line.ends_with("\"ECHO\" \"end\"");
        lines.push(line);
        if ended {
            break;
        }
    }
    assert!(ended, "{lines:#?}");
    // RESET ends monitoring, and the monitor is an ordinary client again.
    assert_eq!(m.run("RESET"), Frame::simple("RESET"));
    assert_eq!(d.run("ECHO after"), Frame::bulk("after"));
    assert_eq!(m.run("PING"), Frame::simple("PONG"));
    lines
}

/// The address of the third client (the monitor): the one in CLIENT LIST that is neither
/// `c` nor `d`; its flags must say `O` while it monitors.
fn local_addr_of(d: &mut Conn, c_addr: &str, d_addr: &str) -> String {
    let list = String::from_utf8_lossy(&text(&d.run("CLIENT LIST"))).into_owned();
    let line = list
        .lines()
        .find(|l| {
            !l.contains(&format!("addr={c_addr} ")) && !l.contains(&format!("addr={d_addr} "))
        })
        .unwrap_or_else(|| panic!("no monitor in {list}"));
    assert!(line.contains(" flags=O "), "{line}");
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("addr=").map(str::to_owned))
        .expect("addr=")
}

#[test]
fn monitor_shows_what_redis_shows() {
    if !require_redis("monitor_shows_what_redis_shows") {
        return;
    }
    let redis = Server::redis();
    let subject = Server::start(Flavor::subject(), &[] as &[&str]);
    let want = monitored(&redis);
    let got = monitored(&subject);
    assert!(want.len() > 20, "{want:#?}");
    assert_eq!(got, want);
}
