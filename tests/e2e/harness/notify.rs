//! `Watcher`: a server's keyspace notifications (and keyspace hit/miss counters), collected
//! command by command.

use super::conn::Conn;
use super::Server;

/// Collects a server's keyspace notifications: `sub` is pattern-subscribed to them and to a
/// marker channel; after a command, `ctl` publishes a numbered marker, and every
/// notification `sub` reads before that marker was raised by the command (a server
/// delivers a subscriber's messages in the order it published them).
pub struct Watcher {
    sub: Conn,
    ctl: Conn,
    marks: u64,
}

const MARKER: &str = "differential-marker";

impl Watcher {
    pub fn start(server: &Server) -> Watcher {
        let mut sub = Conn::connect(server.addr()).expect("connect watcher");
        sub.send(&["PSUBSCRIBE", "__key*__:*"]).unwrap();
        sub.read_reply().unwrap();
        sub.send(&["SUBSCRIBE", MARKER]).unwrap();
        sub.read_reply().unwrap();
        let ctl = Conn::connect(server.addr()).expect("connect watcher control");
        Watcher { sub, ctl, marks: 0 }
    }

    /// The notifications since the last call, each as `channel message`.
    pub fn events(&mut self) -> Result<Vec<String>, String> {
        self.marks += 1;
        let mark = self.marks.to_string();
        self.ctl
            .try_cmd(&["PUBLISH", MARKER, &mark])
            .map_err(|e| format!("marker: {e}"))?;
        let mut out = Vec::new();
        loop {
            let reply = self.sub.read_reply().map_err(|e| format!("watcher: {e}"))?;
            let parts: Vec<String> = reply
                .children
                .iter()
                .map(|c| String::from_utf8_lossy(&c.body).into_owned())
                .collect();
            match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["message", MARKER, m] if m == mark => return Ok(out),
                ["pmessage", _, channel, message] => out.push(format!("{channel} {message}")),
                _ => return Err(format!("watcher read {reply:?}")),
            }
        }
    }

    /// INFO's `keyspace_hits` and `keyspace_misses`, read on the control connection.
    pub fn keyspace_stats(&mut self) -> Result<(u64, u64), String> {
        let info = self
            .ctl
            .try_cmd(&["INFO", "stats"])
            .map_err(|e| format!("INFO: {e}"))?;
        let text = String::from_utf8_lossy(&super::inspect::text(&info)).into_owned();
        let field = |name: &str| -> Result<u64, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no {name} in INFO stats"))
        };
        Ok((field("keyspace_hits")?, field("keyspace_misses")?))
    }
}
