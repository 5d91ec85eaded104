//! The replication stream as the primary produces it: every write's propagation form,
//! encoded once as RESP, with a `SELECT` whenever the database changes, and fed to every
//! [`StreamTap`] (the backlog and attached replicas, the AOF).
//!
//! Offsets count bytes of this stream (`master_repl_offset`), exactly what Redis counts:
//! SELECT, MULTI/EXEC, PING and GETACK included.

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
    pending: Option<Vec<(usize, Vec<Bytes>)>>,
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
            p.extend(cmds.iter().map(|c| (db, c.clone())));
            return;
        }
        if !self.taps.iter().any(|t| t.active()) {
            // Nobody consumes the stream (no replicas, no AOF): skip the encoding. The next
            // tap to attach starts with a SELECT (see `attach`).
            self.commands += cmds.len() as u64;
            self.selected_db = None;
            return;
        }
        let items: Vec<(usize, Vec<Bytes>)> = cmds.iter().map(|c| (db, c.clone())).collect();
        self.emit(&items, wrap);
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

    fn emit(&mut self, items: &[(usize, Vec<Bytes>)], wrap: bool) {
        let Some(&(first_db, _)) = items.first() else {
            return;
        };
        self.buf.clear();
        self.select(first_db);
        if wrap {
            encode_command(&[&b"MULTI"[..]], &mut self.buf);
        }
        for (db, c) in items {
            self.select(*db);
            encode_command(c, &mut self.buf);
        }
        if wrap {
            encode_command(&[&b"EXEC"[..]], &mut self.buf);
        }
        self.commands += items.len() as u64;
        if self.taps.is_empty() {
            return;
        }
        let bytes = self.buf.split().freeze();
        let db = self.selected_db.unwrap_or(first_db);
        for t in &mut self.taps {
            t.feed(&bytes, db);
        }
    }

    fn select(&mut self, db: usize) {
        if self.selected_db != Some(db) {
            let n = db.to_string();
            encode_command(&[&b"SELECT"[..], n.as_bytes()], &mut self.buf);
            self.selected_db = Some(db);
        }
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
