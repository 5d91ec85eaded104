//! The replication backlog: a ring of the most recent stream bytes, so a replica that
//! reconnects can continue from its offset (`PSYNC <replid> <offset>` -> `+CONTINUE`).
//!
//! Offsets are Redis's: `master_repl_offset` counts every stream byte ever produced;
//! the backlog holds the last `histlen` of them, so its first byte has offset
//! `master_repl_offset - histlen + 1`.
//!
//! Worked example: size 4, after feeding "abcdef" the offset is 6, histlen 4, the ring holds
//! "cdef" and first_byte_offset = 6 - 4 + 1 = 3 ('c' is byte 3, counting from 1). A replica
//! that has applied 4 bytes asks `PSYNC id 5` (the next byte it needs): we send bytes 5..=6,
//! "ef". `PSYNC id 7` gets nothing (it is up to date); `PSYNC id 2` needs byte 2, which is
//! gone: full sync.

use bytes::{Bytes, BytesMut};

use super::backlog_mem::BufferModel;

#[derive(Debug)]
pub struct Backlog {
    ring: Vec<u8>,
    /// Index in `ring` where the next byte goes.
    head: usize,
    /// Valid bytes in the ring (<= ring.len()).
    histlen: usize,
    /// Total stream bytes ever fed (`master_repl_offset`).
    offset: u64,
    /// What Redis's block list would cost for the same stream (`mem_replication_backlog`).
    redis_blocks: BufferModel,
}

impl Backlog {
    /// A backlog of `size` bytes whose next byte will have offset `offset + 1`.
    pub fn new(size: usize, offset: u64) -> Backlog {
        Backlog {
            ring: vec![0; size.max(1)],
            head: 0,
            histlen: 0,
            offset,
            redis_blocks: BufferModel::default(),
        }
    }

    pub fn size(&self) -> usize {
        self.ring.len()
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the oldest byte held (`repl_backlog_first_byte_offset`).
    pub fn first_byte_offset(&self) -> u64 {
        self.offset - self.histlen as u64 + 1
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        self.offset += data.len() as u64;
        self.redis_blocks.feed(data.len(), self.ring.len());
        let size = self.ring.len();
        if data.len() > size {
            data = &data[data.len() - size..];
        }
        let first = (size - self.head).min(data.len());
        self.ring[self.head..self.head + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        self.ring[..rest].copy_from_slice(&data[first..]);
        self.head = (self.head + data.len()) % size;
        self.histlen = (self.histlen + data.len()).min(size);
    }

    /// The bytes from offset `from` (the first byte the replica lacks) to the end, if the
    /// backlog still holds them. `from == offset + 1` gives an empty result.
    pub fn since(&self, from: u64) -> Option<Bytes> {
        if from < self.first_byte_offset() || from > self.offset + 1 {
            return None;
        }
        let len = (self.offset + 1 - from) as usize;
        let size = self.ring.len();
        let start = (self.head + size - len % size.max(1)) % size;
        let start = if len == size { self.head } else { start };
        let mut out = BytesMut::with_capacity(len);
        let first = (size - start).min(len);
        out.extend_from_slice(&self.ring[start..start + first]);
        out.extend_from_slice(&self.ring[..len - first]);
        Some(out.freeze())
    }

    /// Changes the size, keeping as much recent history as fits.
    pub fn resize(&mut self, size: usize) {
        let keep = self
            .since(self.offset + 1 - self.histlen.min(size) as u64)
            .unwrap_or_default();
        let offset = self.offset;
        let mut redis_blocks = std::mem::take(&mut self.redis_blocks);
        redis_blocks.trim(size.max(1));
        *self = Backlog::new(size, offset - keep.len() as u64);
        self.feed(&keep);
        self.redis_blocks = redis_blocks;
    }

    /// `INFO memory`'s `mem_replication_backlog`: what Redis 7.0 would report for this
    /// history ([`BufferModel`]), with or without replicas attached.
    pub fn reported_memory(&self, replicas_attached: bool) -> u64 {
        self.redis_blocks
            .reported(self.ring.len(), replicas_attached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example_from_the_module_doc() {
        let mut b = Backlog::new(4, 0);
        b.feed(b"abcdef");
        assert_eq!(b.offset(), 6);
        assert_eq!(b.histlen(), 4);
        assert_eq!(b.first_byte_offset(), 3);
        assert_eq!(b.since(5).as_deref(), Some(&b"ef"[..]));
        assert_eq!(b.since(3).as_deref(), Some(&b"cdef"[..]));
        assert_eq!(b.since(7).as_deref(), Some(&b""[..]));
        assert_eq!(b.since(2), None);
        assert_eq!(b.since(8), None);
    }

    #[test]
    fn empty_backlog_starts_after_offset() {
        let b = Backlog::new(16, 100);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.since(101).as_deref(), Some(&b""[..]));
        assert_eq!(b.since(100), None);
    }

    #[test]
    fn resize_keeps_recent_history() {
        let mut b = Backlog::new(8, 0);
        b.feed(b"0123456789");
        b.resize(4);
        assert_eq!(b.offset(), 10);
        assert_eq!(b.since(7).as_deref(), Some(&b"6789"[..]));
        b.resize(16);
        assert_eq!(b.since(7).as_deref(), Some(&b"6789"[..]));
        b.feed(b"ab");
        assert_eq!(b.since(7).as_deref(), Some(&b"6789ab"[..]));
    }

    proptest! {
        #[test]
        fn matches_a_plain_vector(size in 1usize..64, chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
            let mut b = Backlog::new(size, 0);
            let mut all = Vec::new();
            for c in &chunks {
                b.feed(c);
                all.extend_from_slice(c);
            }
            let n = all.len() as u64;
            prop_assert_eq!(b.offset(), n);
            for from in 1..=n + 1 {
                let expect = if from + (size as u64) > n { Some(all[(from - 1) as usize..].to_vec()) } else { None };
                prop_assert_eq!(b.since(from).map(|x| x.to_vec()), expect);
            }
        }
    }
}
