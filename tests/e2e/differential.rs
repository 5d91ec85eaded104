//! Differential tests: every `tests/e2e/scripts/*.redis` file runs against real `redis-server`
//! (the specification) and against ferrokv, and the raw reply frames must be equal.
//!
//! For each file both servers are fresh, get `FLUSHALL`, and files named `*.resp3.redis`
//! first send `HELLO 3` to both. Each line's replies are compared as the line asks (see
//! [`Compare`]): exact bytes, multisets (`!unordered `) or kind and length (`!shape `). All
//! mismatches of a file are collected before the test fails, each with file:line, the
//! command and both replies, followed by `differential: N commands, M mismatches`.
//!
//! Every reply of real Redis also goes through `ferrokv_proto`'s `FrameDecoder` and `encode`,
//! which must give back the same bytes: a free check of the proto crate against real output.
//! Such failures are reported as `proto round trip`.
//!
//! Keyspace notifications are compared too: both servers start with
//! `notify-keyspace-events AKEnm`, a [`Watcher`] connection pattern-subscribes to every
//! notification channel, and after each line the events it raised must be the same, in the
//! same order (a script may change the setting; both servers follow it). So must INFO's
//! `keyspace_hits` and `keyspace_misses` after each line.
//!
//! `E2E_SCRIPTS=string,hash` runs only the named files (without `.redis`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use ferrokv_proto::resp::{encode, FrameDecoder, Limits, Protocol};

use crate::harness::notify::Watcher;
use crate::harness::reply::show;
use crate::harness::script::{parse_script, Compare, Line};
use crate::harness::{require_redis, Conn, Flavor, Reply, Server};

const SCRIPTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/scripts");

/// What running one script gave.
#[derive(Debug, Default)]
struct FileOutcome {
    commands: usize,
    mismatches: Vec<String>,
}

#[test]
fn differential_scripts() {
    if !require_redis("differential_scripts") {
        return;
    }
    let files = script_files(Path::new(SCRIPTS_DIR));
    assert!(
        !files.is_empty(),
        "no *.redis scripts in {SCRIPTS_DIR} (E2E_SCRIPTS={:?})",
        std::env::var("E2E_SCRIPTS").ok()
    );
    let mut commands = 0;
    let mut report = String::new();
    let mut mismatches = 0;
    for file in &files {
        let name = file_name(file);
        let outcome = run_file(file);
        eprintln!(
            "differential {name}: {} commands, {} mismatches",
            outcome.commands,
            outcome.mismatches.len()
        );
        commands += outcome.commands;
        mismatches += outcome.mismatches.len();
        for m in &outcome.mismatches {
            report.push_str(m);
        }
    }
    eprintln!(
        "differential: {} files, {commands} commands, {mismatches} mismatches",
        files.len()
    );
    assert!(
        mismatches == 0,
        "{report}\ndifferential: {commands} commands, {mismatches} mismatches"
    );
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS on every line of every script, as text: the keys
/// and their access flags (from the key specs) or the error must be redis-server's. The
/// scripts hold every command in valid and broken forms (wrong arity, bad counts), which
/// is what the key search has to get right.
#[test]
fn command_getkeys_matches_redis() {
    if !require_redis("command_getkeys_matches_redis") {
        return;
    }
    let ours = Server::start(Flavor::subject(), &[] as &[&str]);
    let redis = Server::start(Flavor::Redis, &[] as &[&str]);
    let (mut a, mut b) = (ours.conn(), redis.conn());
    let (mut asked, mut differ) = (0, Vec::new());
    for file in script_files(Path::new(SCRIPTS_DIR)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in parse_script(&text).unwrap() {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut argv: Vec<&[u8]> = vec![b"COMMAND", sub.as_bytes()];
                argv.extend(line.argv.iter().map(Vec::as_slice));
                let (want, got) = (b.cmd(&argv), a.cmd(&argv));
                asked += 1;
                if want != got {
                    differ.push(format!(
                        "{}:{}: COMMAND {sub} {}\n  redis   {want:?}\n  ferrokv {got:?}",
                        file_name(&file),
                        line.number,
                        line.text
                    ));
                }
            }
        }
    }
    assert!(asked > 4000, "only {asked} lines");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The script files, sorted, filtered by `E2E_SCRIPTS`.
fn script_files(dir: &Path) -> Vec<PathBuf> {
    let only: Option<Vec<String>> = std::env::var("E2E_SCRIPTS").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "redis"));
    if let Some(only) = &only {
        files.retain(|p| {
            only.iter()
                .any(|o| file_name(p).trim_end_matches(".redis") == o)
        });
    }
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run_file(path: &Path) -> FileOutcome {
    let name = file_name(path);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {name}: {e}"));
    let lines = match parse_script(&text) {
        Ok(lines) => lines,
        Err(e) => {
            return FileOutcome {
                commands: 0,
                mismatches: vec![format!("{name}: {e}\n")],
            };
        }
    };
    let resp3 = name.ends_with(".resp3.redis");
    let mut reference = Side::reference(resp3);
    let mut subject = Side::subject(resp3);
    run_lines(&name, &lines, &mut reference, &mut subject)
}

/// One server and our connection to it.
struct Side {
    server: Server,
    conn: Option<Conn>,
    resp3: bool,
    reference: bool,
    watcher: Watcher,
    /// `keyspace_hits` and `keyspace_misses` after the previous line.
    keyspace: (u64, u64),
}

/// A reply, or what happened instead.
#[derive(Debug)]
enum Answer {
    Reply(Reply),
    /// The connection closed or failed; the text says how.
    Broken(String),
}

impl Side {
    /// The reference: real redis-server.
    fn reference(resp3: bool) -> Side {
        Side::start(Flavor::Redis, resp3, true)
    }

    /// The server under test.
    fn subject(resp3: bool) -> Side {
        Side::start(Flavor::subject(), resp3, false)
    }

    fn start(flavor: Flavor, resp3: bool, reference: bool) -> Side {
        let server = Server::start(flavor, &["--notify-keyspace-events", "AKEnm"]);
        let watcher = Watcher::start(&server);
        let mut side = Side {
            server,
            conn: None,
            resp3,
            reference,
            watcher,
            keyspace: (0, 0),
        };
        match side.ask(&[b"FLUSHALL".to_vec()]) {
            Answer::Reply(r) if r.raw == b"+OK\r\n" => {}
            other => panic!("FLUSHALL on {}: {other:?}", flavor.name()),
        }
        side
    }

    /// The label in reports: `redis` for the reference, `ferrokv` (or `subject` when
    /// `E2E_SUBJECT=redis`) for the server under test.
    fn name(&self) -> &'static str {
        match (self.reference, self.server.flavor()) {
            (true, _) => "redis",
            (false, Flavor::Ferrokv) => "ferrokv",
            (false, Flavor::Redis) => "subject",
        }
    }

    /// A connection, opened (with `HELLO 3` for RESP3 scripts) when there is none.
    fn conn(&mut self) -> Result<&mut Conn, String> {
        if self.conn.is_none() {
            let mut conn =
                Conn::connect(self.server.addr()).map_err(|e| format!("connect: {e}"))?;
            if self.resp3 {
                match conn.raw_cmd(&["HELLO", "3"]) {
                    Ok(r) if r.kind == b'%' => {}
                    other => return Err(format!("HELLO 3 failed: {other:?}")),
                }
            }
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_owned())
    }

    /// The keyspace hits and misses counted since the last call (a reset counts from zero).
    fn keyspace_delta(&mut self) -> Result<(u64, u64), String> {
        let now = self.watcher.keyspace_stats()?;
        let before = std::mem::replace(&mut self.keyspace, now);
        let since = |n: u64, b: u64| if n >= b { n - b } else { n };
        Ok((since(now.0, before.0), since(now.1, before.1)))
    }

    fn ask(&mut self, argv: &[Vec<u8>]) -> Answer {
        let result = self
            .conn()
            .and_then(|c| c.raw_cmd(argv).map_err(|e| e.to_string()));
        match result {
            Ok(reply) => Answer::Reply(reply),
            Err(e) => {
                // The next command reconnects (after QUIT, a kill, a protocol error).
                self.conn = None;
                Answer::Broken(e)
            }
        }
    }
}

fn run_lines(name: &str, lines: &[Line], reference: &mut Side, subject: &mut Side) -> FileOutcome {
    let mut outcome = FileOutcome::default();
    for line in lines {
        outcome.commands += 1;
        let want = reference.ask(&line.argv);
        let got = subject.ask(&line.argv);
        if let Answer::Reply(reply) = &want {
            if let Err(e) = proto_round_trip(reply, reference.resp3) {
                outcome.mismatches.push(format!(
                    "{name}:{}: {}\n    proto round trip of redis's reply {}: {e}\n",
                    line.number,
                    line.text,
                    show(&reply.raw)
                ));
            }
        }
        let same = match (&want, &got) {
            (Answer::Reply(a), Answer::Reply(b)) => equal(line.compare, a, b),
            // Both closed the connection (e.g. QUIT after its +OK was read): same behaviour.
            (Answer::Broken(_), Answer::Broken(_)) => true,
            _ => false,
        };
        // What this line added to each server's counters.
        let want_stats = reference.keyspace_delta();
        let got_stats = subject.keyspace_delta();
        let (want_events, got_events) = (reference.watcher.events(), subject.watcher.events());
        let side_effects = [
            (
                "keyspace (hits, misses)",
                format!("{want_stats:?}"),
                format!("{got_stats:?}"),
            ),
            (
                "notifications",
                format!("{want_events:?}"),
                format!("{got_events:?}"),
            ),
        ];
        for (what, want, got) in side_effects {
            if want != got {
                outcome.mismatches.push(format!(
                    "{name}:{}: {}\n    {what}\n    {:<8} {want}\n    {:<8} {got}\n",
                    line.number,
                    line.text,
                    reference.name(),
                    subject.name(),
                ));
            }
        }
        if same {
            continue;
        }
        let mut m = format!("{name}:{}: {}", line.number, line.text);
        if line.compare != Compare::Exact {
            let _ = write!(m, "   ({:?})", line.compare);
        }
        let _ = write!(
            m,
            "\n    {:<8} {}\n    {:<8} {}\n",
            reference.name(),
            answer_text(&want),
            subject.name(),
            answer_text(&got)
        );
        outcome.mismatches.push(m);
        if subject.server.exited() {
            let log = subject.server.stop();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            outcome.mismatches.push(format!(
                "{name}:{}: {} exited; rest of the file skipped. Log tail:\n{}\n",
                line.number,
                subject.name(),
                tail.join("\n")
            ));
            break;
        }
    }
    outcome
}

fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Reply(r) => show(&r.raw),
        Answer::Broken(e) => format!("<connection broken: {e}>"),
    }
}

/// Decodes `reply` with `ferrokv_proto` and encodes it again: both must be exact.
fn proto_round_trip(reply: &Reply, resp3: bool) -> Result<(), String> {
    let mut buf = BytesMut::from(&reply.raw[..]);
    let decoded = FrameDecoder::new(Limits::default())
        .decode_frame(&mut buf)
        .map_err(|e| format!("FrameDecoder failed: {e}"))?
        .ok_or("FrameDecoder wants more bytes")?;
    if decoded.wire_len != reply.raw.len() || !buf.is_empty() {
        return Err(format!(
            "wire_len {} of {} bytes",
            decoded.wire_len,
            reply.raw.len()
        ));
    }
    let protocol = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = BytesMut::new();
    encode(&decoded.frame, protocol, &mut out);
    if out[..] != reply.raw[..] {
        return Err(format!("encode gave {}", show(&out)));
    }
    Ok(())
}

/// Whether two replies are the same under `compare`.
fn equal(compare: Compare, a: &Reply, b: &Reply) -> bool {
    match compare {
        Compare::Exact => a.raw == b.raw,
        Compare::Unordered => canonical(a) == canonical(b),
        Compare::Shape => {
            a.kind == b.kind
                && match a.kind {
                    // Aggregates: same length; bulks: both nil or both not.
                    b'*' | b'%' | b'~' | b'>' => a.len == b.len,
                    b'$' => (a.len < 0) == (b.len < 0),
                    _ => true,
                }
        }
    }
}

/// A form of `reply` in which aggregates list their elements (map entries as pairs) in
/// sorted order, recursively, so two replies differing only in order compare equal.
fn canonical(reply: &Reply) -> Vec<u8> {
    if !reply.is_aggregate() || reply.len < 0 {
        return reply.raw.clone();
    }
    let mut items: Vec<Vec<u8>> = if reply.kind == b'%' {
        reply
            .children
            .chunks(2)
            .map(|kv| kv.iter().flat_map(canonical).collect())
            .collect()
    } else {
        reply.children.iter().map(canonical).collect()
    };
    items.sort();
    let mut out = vec![reply.kind];
    out.extend_from_slice(format!("{}\r\n", reply.len).as_bytes());
    for item in items {
        out.extend(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::reply::parse;

    fn r(wire: &str) -> Reply {
        parse(wire.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn exact_compares_bytes() {
        assert!(equal(Compare::Exact, &r(":1\r\n"), &r(":1\r\n")));
        assert!(!equal(Compare::Exact, &r("+1\r\n"), &r(":1\r\n")));
        assert!(!equal(
            Compare::Exact,
            &r("*2\r\n:1\r\n:2\r\n"),
            &r("*2\r\n:2\r\n:1\r\n")
        ));
    }

    #[test]
    fn unordered_compares_multisets_recursively() {
        let u = |a, b| equal(Compare::Unordered, &r(a), &r(b));
        assert!(u("*2\r\n:1\r\n:2\r\n", "*2\r\n:2\r\n:1\r\n"));
        assert!(!u("*2\r\n:1\r\n:1\r\n", "*2\r\n:1\r\n:2\r\n"));
        assert!(!u("*2\r\n:1\r\n:1\r\n", "*3\r\n:1\r\n:1\r\n:1\r\n"));
        assert!(u(
            "*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n",
            "*2\r\n:3\r\n*2\r\n:2\r\n:1\r\n"
        ));
        assert!(u("~2\r\n+a\r\n+b\r\n", "~2\r\n+b\r\n+a\r\n"));
        assert!(!u("~2\r\n+a\r\n+b\r\n", "*2\r\n+b\r\n+a\r\n"));
        // Maps keep their pairs together.
        assert!(u(
            "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
            "%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n"
        ));
        assert!(!u(
            "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
            "%2\r\n+a\r\n:2\r\n+b\r\n:1\r\n"
        ));
        assert!(!u("*-1\r\n", "*0\r\n"));
        assert!(u("$1\r\nx\r\n", "$1\r\nx\r\n"));
    }

    #[test]
    fn shape_compares_kind_and_length() {
        let s = |a, b| equal(Compare::Shape, &r(a), &r(b));
        assert!(s("*2\r\n:1\r\n:2\r\n", "*2\r\n$1\r\nx\r\n:5\r\n"));
        assert!(!s("*2\r\n:1\r\n:2\r\n", "*1\r\n:1\r\n"));
        assert!(s("$1\r\na\r\n", "$3\r\nabc\r\n"));
        assert!(!s("$1\r\na\r\n", "$-1\r\n"));
        assert!(!s(":1\r\n", "$1\r\n1\r\n"));
        assert!(s("-ERR a\r\n", "-ERR b\r\n"));
    }

    /// Runs the runner itself with real redis on both sides: deterministic lines agree, and
    /// a line whose reply differs between two servers (INFO's run_id) is reported.
    #[test]
    fn runner_reports_only_real_differences() {
        if !require_redis("runner_reports_only_real_differences") {
            return;
        }
        let script = "\
            # self-test\n\
            SET k \"a b\\x00\"\n\
            GET k\n\
            SADD s a b c d e f g h\n\
            !unordered SMEMBERS s\n\
            !shape SRANDMEMBER s 3\n\
            INCR k\n\
            !shape INFO server\n\
            INFO server\n\
            QUIT\n\
            PING\n";
        let lines = parse_script(script).unwrap();
        let mut a = Side::reference(false);
        let mut b = Side::start(Flavor::Redis, false, false);
        let outcome = run_lines("self", &lines, &mut a, &mut b);
        assert_eq!(outcome.commands, 10);
        assert_eq!(outcome.mismatches.len(), 1, "{:#?}", outcome.mismatches);
        assert!(
            outcome.mismatches[0].starts_with("self:9: INFO server\n"),
            "{}",
            outcome.mismatches[0]
        );
    }

    #[test]
    fn resp3_scripts_speak_resp3() {
        if !require_redis("resp3_scripts_speak_resp3") {
            return;
        }
        let lines = parse_script("HSET h a 1\nHGETALL h\n").unwrap();
        let mut a = Side::reference(true);
        let mut b = Side::start(Flavor::Redis, true, false);
        assert!(run_lines("self.resp3", &lines, &mut a, &mut b)
            .mismatches
            .is_empty());
        match a.ask(&[b"HGETALL".to_vec(), b"h".to_vec()]) {
            Answer::Reply(reply) => assert_eq!(reply.raw, b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"),
            other => panic!("{other:?}"),
        }
    }
}
