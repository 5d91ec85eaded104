//! The server process itself: config file plus flags, restart on the same directory, crash
//! by SIGKILL, and ferrokv next to real redis-server on one machine.

use std::time::Duration;

use crate::harness::{eventually, require_redis, Flavor, Frame, Server};

fn config_get(server: &Server, name: &str) -> Frame {
    server.conn().cmd(&["CONFIG", "GET", name])
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let server = Server::start_with_config(
        Flavor::subject(),
        "# test config\nmaxmemory 1mb\nhz 20\n",
        &["--hz", "15"],
    );
    assert_eq!(
        config_get(&server, "maxmemory"),
        Frame::bulks(["maxmemory", "1048576"])
    );
    assert_eq!(config_get(&server, "hz"), Frame::bulks(["hz", "15"]));
}

#[test]
fn save_then_restart_keeps_the_data() {
    let mut server = Server::ferrokv();
    let mut conn = server.conn();
    assert_eq!(conn.run("SET k \"survives restart\""), Frame::OK);
    assert_eq!(conn.run("RPUSH l a b c"), Frame::Integer(3));
    assert_eq!(conn.run("SAVE"), Frame::OK);
    assert!(
        server.dir().join("dump.rdb").exists(),
        "SAVE wrote no dump.rdb"
    );
    server.restart();
    let mut conn = server.conn();
    assert_eq!(conn.run("GET k"), Frame::bulk("survives restart"));
    assert_eq!(conn.run("LRANGE l 0 -1"), Frame::bulks(["a", "b", "c"]));
}

#[test]
fn sigkill_is_noticed() {
    let mut server = Server::ferrokv();
    let addr = server.addr();
    server.kill();
    assert!(server.exited());
    assert_eq!(server.pid(), None);
    eventually(
        Duration::from_secs(5),
        || match std::net::TcpStream::connect(addr) {
            Ok(_) => Err("port still accepts connections"),
            Err(_) => Ok(()),
        },
    );
}

#[test]
fn ferrokv_and_redis_run_side_by_side() {
    if !require_redis("ferrokv_and_redis_run_side_by_side") {
        return;
    }
    let ours = Server::ferrokv();
    let theirs = Server::redis();
    assert_ne!(ours.addr(), theirs.addr());
    for server in [&ours, &theirs] {
        let mut conn = server.conn();
        assert_eq!(conn.run("SET who am-i"), Frame::OK);
        assert_eq!(conn.run("DBSIZE"), Frame::Integer(1));
    }
}

/// Debian's stock `/etc/redis/redis.conf` (installed with redis-server) loads in ferrokv, and
/// every directive it sets reads back through CONFIG GET exactly as real Redis reads it.
#[test]
fn stock_redis_conf_loads_and_reads_back_like_redis() {
    if !require_redis("stock_redis_conf_loads_and_reads_back_like_redis") {
        return;
    }
    let Ok(text) = std::fs::read_to_string("/etc/redis/redis.conf") else {
        eprintln!(
            "skipping stock_redis_conf_loads_and_reads_back_like_redis: no /etc/redis/redis.conf"
        );
        return;
    };
    // Run in the foreground, log to stdout, no pidfile: what the harness needs.
    let args = ["--daemonize", "no", "--logfile", "", "--pidfile", ""];
    let redis = Server::start_with_config(Flavor::Redis, &text, &args);
    let ours = Server::start_with_config(Flavor::subject(), &text, &args);
    // Set by the harness on the command line (different per server).
    let harness = [
        "port",
        "bind",
        "dir",
        "save",
        "appendonly",
        "daemonize",
        "logfile",
        "pidfile",
    ];
    let mut names: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !harness.contains(n))
        .collect();
    names.dedup();
    assert!(
        names.len() > 40,
        "only {} directives in the stock file",
        names.len()
    );
    let mut differ = Vec::new();
    for name in names {
        let want = config_get(&redis, name);
        let got = config_get(&ours, name);
        if want != got {
            differ.push(format!("{name}: redis {want:?}, ferrokv {got:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "CONFIG GET differs:\n{}",
        differ.join("\n")
    );
}

/// CONFIG SET port moves the listener at run time, as in Redis 7.0: new connections go to the
/// new port, the old one closes, open connections stay. A port that cannot be bound is
/// refused with Redis's error and changes nothing.
#[test]
fn config_set_port_moves_the_listener() {
    use crate::harness::conn::Conn;
    for flavor in [Flavor::subject(), Flavor::Redis] {
        if flavor == Flavor::Redis && !require_redis("config_set_port_moves_the_listener") {
            continue;
        }
        let server = Server::start(flavor, &[] as &[&str]);
        let mut c = server.conn();
        let before = config_get(&server, "port");
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_port = busy.local_addr().unwrap().port().to_string();
        let refused = c.cmd(&["CONFIG", "SET", "port", &busy_port]);
        assert_eq!(
            refused,
            Frame::Error(
                "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
                    .into()
            ),
            "{}",
            flavor.name()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "port"]),
            before,
            "{}",
            flavor.name()
        );
        drop(busy);
        let port = crate::harness::free_port();
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "port", &port.to_string()]),
            Frame::OK,
            "{}",
            flavor.name()
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut moved = Conn::connect(addr).unwrap();
        assert_eq!(moved.cmd(&["PING"]), Frame::Simple("PONG".into()));
        let tcp_port = crate::harness::inspect::info_field(&mut moved, "server", "tcp_port");
        assert_eq!(tcp_port, Some(port.to_string()), "{}", flavor.name());
        eventually(
            Duration::from_secs(5),
            || match std::net::TcpStream::connect(server.addr()) {
                Err(_) => Ok(()),
                Ok(_) => Err("the old port still accepts".to_string()),
            },
        );
        // The connection made on the old port is still served.
        assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    }
}

/// The default `bind * -::*` listens on IPv4 and IPv6 alike (the IPv6 socket is IPv6-only,
/// as Redis makes it, so the two do not collide on the port).
#[test]
fn default_bind_serves_ipv4_and_ipv6() {
    use crate::harness::conn::Conn;
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping default_bind_serves_ipv4_and_ipv6: no IPv6 loopback here");
        return;
    }
    let server = Server::start(Flavor::subject(), &["--bind", "* -::*"]);
    let port = server.port();
    for ip in ["127.0.0.1", "::1"] {
        let addr = std::net::SocketAddr::new(ip.parse().unwrap(), port);
        let mut c = Conn::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}\n{}", server.log()));
        assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()), "{addr}");
    }
    assert!(
        !server.log().contains("Could not create"),
        "{}",
        server.log()
    );
}
