//! The replication stream as the primary produces it: every write's propagation form,
//! encoded once as RESP, with a `SELECT` whenever the database changes, and fed to every
//! [`StreamTap`] (the backlog and attached replicas, the AOF).
//!
//! Offsets count bytes of this stream (`master_repl_offset`), exactly what Redis counts:
//! SELECT, MULTI/EXEC, PING and GETACK included.
//!
//! ## Replication-only commands (PUBLISH)
//!
//! Redis propagates PUBLISH to replicas but not to the AOF (`PROPAGATE_REPL`), and only when
//! there is something to replicate to (a primary with a backlog). Inside EXEC it still counts
//! when deciding to wrap the transaction in MULTI/EXEC, so `MULTI; PUBLISH; SET; EXEC` reaches
//! the AOF as `MULTI SET EXEC` and `MULTI; PUBLISH; PUBLISH; EXEC` as an empty `MULTI EXEC`
//! (captured from redis-server 7.0.15). Taps that take no such commands
//! ([`StreamTap::takes_replication_only`] false: the AOF) get a second encoding of the run
//! without them through [`StreamTap::feed_filtered`].

use bytes::{Bytes, BytesMut};
use ferrokv_proto::resp::encode_command;

/// Something that consumes the stream (backlog + replicas, AOF).
pub trait StreamTap {
    /// `bytes` is a complete run of commands; `db` is the database they apply to (after any
    /// SELECT included in `bytes`).
    fn feed(&mut self, bytes: &Bytes, db: usize);

    /// Whether this tap currently keeps what it is fed; the stream is not encoded at all
    /// while no tap is active.
    fn active(&self) -> bool {
        true
    }

    /// Whether this tap is the replication target (takes PUBLISH). The AOF is not.
    fn takes_replication_only(&self) -> bool {
        true
    }

    /// For taps that take no replication-only commands: a run with them left out. `bytes`
    /// may be empty; it ends in db `last_db`, while the stream itself is now on `stream_db`.
    fn feed_filtered(&mut self, bytes: &Bytes, last_db: usize, stream_db: usize) {
        let _ = last_db;
        if !bytes.is_empty() {
            self.feed(bytes, stream_db);
        }
    }
}

/// Who a propagated command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Replicas and the AOF.
    All,
    /// Replicas only (PUBLISH).
    Replication,
}

#[derive(Default)]
pub struct ReplStream {
    /// The database of the last command emitted; `None` forces a SELECT before the next one
    /// (after a full-sync setup or a promotion).
    selected_db: Option<usize>,
    pub taps: Vec<Box<dyn StreamTap>>,
    /// Commands propagated (for tests and INFO).
    pub commands: u64,
    /// Inside EXEC: commands collected until the transaction ends.
    pending: Option<Vec<(usize, Vec<Bytes>, Target)>>,
    buf: BytesMut,
}

impl ReplStream {
    /// Adds a consumer; the stream it sees starts with a SELECT.
    pub fn attach(&mut self, tap: Box<dyn StreamTap>) {
        self.taps.push(tap);
        self.selected_db = None;
    }

    /// Whether anything consumes the stream (a transaction being collected counts).
    pub fn has_consumers(&self) -> bool {
        self.pending.is_some() || self.taps.iter().any(|t| t.active())
    }

    /// Counts `n` commands nobody consumes (see `has_consumers`).
    pub fn skip(&mut self, n: usize) {
        self.commands += n as u64;
        self.selected_db = None;
    }

    /// Forces a SELECT before the next command.
    pub fn reset_selected_db(&mut self) {
        self.selected_db = None;
    }

    /// Starts collecting commands for one transaction (EXEC).
    pub fn begin_transaction(&mut self) {
        self.pending = Some(Vec::new());
    }

    /// Emits the collected transaction, wrapped in MULTI/EXEC when it has several commands.
    pub fn end_transaction(&mut self) {
        if let Some(items) = self.pending.take() {
            let wrap = items.len() > 1;
            self.emit(&items, wrap);
        }
    }

    /// Encodes `cmds` (wrapped in MULTI/EXEC when `wrap`) for `db` and feeds every tap.
    pub fn feed(&mut self, db: usize, cmds: &[Vec<Bytes>], wrap: bool) {
        if cmds.is_empty() {
            return;
        }
        if let Some(p) = self.pending.as_mut() {
            p.extend(cmds.iter().map(|c| (db, c.clone(), Target::All)));
            return;
        }
        if !self.taps.iter().any(|t| t.active()) {
            // Nobody consumes the stream (no replicas, no AOF): skip the encoding. The next
            // tap to attach starts with a SELECT (see `attach`).
            self.commands += cmds.len() as u64;
            self.selected_db = None;
            return;
        }
        let items: Vec<_> = cmds.iter().map(|c| (db, c.clone(), Target::All)).collect();
        self.emit(&items, wrap);
    }

    /// Feeds a command for replicas only (PUBLISH; see the module doc): dropped, and not
    /// counted in a transaction, unless a replication tap is active.
    pub fn feed_replication_only(&mut self, db: usize, cmd: &[Bytes]) {
        if !self
            .taps
            .iter()
            .any(|t| t.takes_replication_only() && t.active())
        {
            return;
        }
        let item = (db, cmd.to_vec(), Target::Replication);
        match self.pending.as_mut() {
            Some(p) => p.push(item),
            None => self.emit(&[item], false),
        }
    }

    /// Feeds one command without a SELECT before it (the stream's PING and GETACK, which
    /// Redis feeds with the current stream db).
    pub fn feed_unselected<A: AsRef<[u8]>>(&mut self, cmd: &[A]) {
        let mut buf = BytesMut::new();
        encode_command(cmd, &mut buf);
        let bytes = buf.freeze();
        let db = self.selected_db.unwrap_or(0);
        for t in &mut self.taps {
            t.feed(&bytes, db);
        }
    }

    fn emit(&mut self, items: &[(usize, Vec<Bytes>, Target)], wrap: bool) {
        let Some(&(first_db, _, _)) = items.first() else {
            return;
        };
        let before = self.selected_db;
        self.buf.clear();
        let mut selected = before;
        encode_run(
            &mut self.buf,
            &mut selected,
            items,
            wrap,
            Target::Replication,
        );
        self.selected_db = selected;
        self.commands += items.len() as u64;
        if self.taps.is_empty() {
            return;
        }
        let bytes = self.buf.split().freeze();
        let db = self.selected_db.unwrap_or(first_db);
        if items.iter().all(|i| i.2 == Target::All) {
            for t in &mut self.taps {
                t.feed(&bytes, db);
            }
            return;
        }
        let mut filtered = None;
        for t in &mut self.taps {
            if t.takes_replication_only() {
                t.feed(&bytes, db);
                continue;
            }
            let (bytes, last_db) = filtered.get_or_insert_with(|| {
                let mut buf = BytesMut::new();
                let mut selected = before;
                encode_run(&mut buf, &mut selected, items, wrap, Target::All);
                (buf.freeze(), selected.unwrap_or(db))
            });
            t.feed_filtered(bytes, *last_db, db);
        }
    }
}

/// Encodes `items` up to `target` (`Replication` = every item, `All` = only those for
/// every tap), wrapped in MULTI/EXEC when `wrap`, with a SELECT wherever the db differs
/// from `selected` (which it updates). The SELECT for the first item comes before MULTI.
fn encode_run(
    buf: &mut BytesMut,
    selected: &mut Option<usize>,
    items: &[(usize, Vec<Bytes>, Target)],
    wrap: bool,
    target: Target,
) {
    let mut select = |buf: &mut BytesMut, db: usize| {
        if *selected != Some(db) {
            let n = db.to_string();
            encode_command(&[&b"SELECT"[..], n.as_bytes()], buf);
            *selected = Some(db);
        }
    };
    if let Some(&(first_db, _, _)) = items.first() {
        if wrap {
            select(buf, first_db);
            encode_command(&[&b"MULTI"[..]], buf);
        }
    }
    for (db, c, t) in items {
        if target == Target::All && *t != Target::All {
            continue;
        }
        select(buf, *db);
        encode_command(c, buf);
    }
    if wrap {
        encode_command(&[&b"EXEC"[..]], buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Collect(Rc<RefCell<Vec<u8>>>);
    impl StreamTap for Collect {
        fn feed(&mut self, bytes: &Bytes, _db: usize) {
            self.0.borrow_mut().extend_from_slice(bytes);
        }
    }

    /// Like the AOF: no replication-only commands.
    struct NoRepl(Rc<RefCell<Vec<u8>>>);
    impl StreamTap for NoRepl {
        fn feed(&mut self, bytes: &Bytes, _db: usize) {
            self.0.borrow_mut().extend_from_slice(bytes);
        }
        fn takes_replication_only(&self) -> bool {
            false
        }
    }

    fn resp(cmds: &[&str]) -> String {
        let mut b = BytesMut::new();
        for c in cmds {
            encode_command(&argv(c), &mut b);
        }
        String::from_utf8(b.to_vec()).unwrap()
    }

    /// Runs one EXEC holding `cmds` (`PUBLISH ...` as replication-only).
    fn exec(s: &mut ReplStream, cmds: &[&str]) {
        s.begin_transaction();
        for c in cmds {
            if c.starts_with("PUBLISH") {
                s.feed_replication_only(0, &argv(c));
            } else {
                s.feed(0, &[argv(c)], false);
            }
        }
        s.end_transaction();
    }

    #[test]
    fn publish_counts_for_the_wrap_but_never_reaches_the_aof() {
        let (repl, aof) = (Rc::default(), Rc::default());
        let mut s = ReplStream::default();
        s.attach(Box::new(Collect(Rc::clone(&repl))));
        s.attach(Box::new(NoRepl(Rc::clone(&aof))));
        exec(&mut s, &["PUBLISH ch m", "SET a 1"]);
        exec(&mut s, &["PUBLISH ch m", "PUBLISH ch m2"]);
        s.feed_replication_only(0, &argv("PUBLISH ch x"));
        s.feed(0, &[argv("SET b 2")], false);
        let got = |c: &Rc<RefCell<Vec<u8>>>| String::from_utf8(c.borrow().clone()).unwrap();
        assert_eq!(
            got(&repl),
            resp(&[
                "SELECT 0",
                "MULTI",
                "PUBLISH ch m",
                "SET a 1",
                "EXEC",
                "MULTI",
                "PUBLISH ch m",
                "PUBLISH ch m2",
                "EXEC",
                "PUBLISH ch x",
                "SET b 2"
            ])
        );
        // What redis-server 7.0.15 wrote in its AOF for the same commands.
        assert_eq!(
            got(&aof),
            resp(&["SELECT 0", "MULTI", "SET a 1", "EXEC", "MULTI", "EXEC", "SET b 2"])
        );
    }

    #[test]
    fn publish_without_a_replication_target_is_not_propagated_at_all() {
        let aof = Rc::default();
        let mut s = ReplStream::default();
        s.attach(Box::new(NoRepl(Rc::clone(&aof))));
        exec(&mut s, &["PUBLISH ch m", "SET a 1"]);
        exec(&mut s, &["PUBLISH ch m", "PUBLISH ch m2"]);
        // Redis (no backlog): the lone SET is not wrapped, the PUBLISH-only EXEC leaves nothing.
        assert_eq!(
            String::from_utf8(aof.borrow().clone()).unwrap(),
            resp(&["SELECT 0", "SET a 1"])
        );
    }

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn select_only_when_db_changes_and_multi_wraps() {
        let out = Rc::new(RefCell::new(Vec::new()));
        let mut s = ReplStream::default();
        s.attach(Box::new(Collect(out.clone())));
        s.feed(0, &[argv("SET a 1")], false);
        s.feed(0, &[argv("DEL a")], false);
        s.feed(3, &[argv("SREM s x"), argv("SREM s y")], true);
        let got = String::from_utf8(out.borrow().clone()).unwrap();
        assert_eq!(
            got,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\na\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n\
             *3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$1\r\nx\r\n*3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$1\r\ny\r\n*1\r\n$4\r\nEXEC\r\n"
        );
    }
}
