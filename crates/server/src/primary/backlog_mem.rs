//! What Redis 7.0's replication buffer would hold for the stream this node's backlog holds:
//! the figure `INFO memory` reports as `mem_replication_backlog`.
//!
//! ferrokv keeps the backlog as one ring of `repl-backlog-size` bytes; Redis 7.0 keeps a
//! list of blocks shared by the backlog and the replicas' output buffers, and reports what
//! those blocks cost. This model replays Redis's allocation on block sizes only (no bytes):
//!
//! 1. Stream bytes first fill the tail block; the rest goes into one new block whose
//!    requested size is `len` clamped to `[16 KiB, max(16 KiB, backlog_size / 16)]`, plus a
//!    40-byte block header, rounded up to the allocator's size class (jemalloc: four classes
//!    per power of two). The block's capacity is that class minus the header, and it
//!    costs the class plus a 24-byte list node.
//! 2. After a new block, blocks are freed from the head while more than one remains and
//!    freeing the first still leaves more than `backlog_size` bytes of history.
//! 3. Every 64th block is indexed in a rax; the report adds the rax's nodes (4 bytes
//!    each) and its entries (8 bytes each).
//! 4. The report is the blocks' cost, capped at `backlog_size` while replicas are attached
//!    (Redis then counts the excess as the replicas' output buffers), plus the rax.
//!
//! Worked example (1 MiB backlog): the first 7-byte write allocates a 16,384 + 40 byte
//! block, which jemalloc serves from its 20,480-byte class: capacity 20,440, cost 20,504,
//! report 20,504 + 4 (an empty rax's head node) = 20,508, as redis-server 7.0 shows.
//!
//! Deviation: a replica that lags keeps Redis's head block alive (its reference count); the
//! model assumes every replica keeps up and frees blocks as the backlog alone allows.

use std::collections::VecDeque;

/// Redis's `PROTO_REPLY_CHUNK_BYTES`: the smallest block.
const MIN_BLOCK: usize = 16 * 1024;
/// `sizeof(replBufBlock)`: refcount, id, repl_offset, size, used.
const BLOCK_HEADER: usize = 40;
/// `sizeof(listNode)`.
const LIST_NODE: usize = 24;
/// `REPL_BACKLOG_INDEX_PER_BLOCKS`.
const INDEX_EVERY: u64 = 64;
/// `sizeof(raxNode)` and a rax entry's pointer.
const RAX_NODE: u64 = 4;
const RAX_ENTRY: u64 = 8;

#[derive(Debug, Clone, Copy)]
struct Block {
    capacity: usize,
    used: usize,
    indexed: bool,
}

/// Redis's replication buffer blocks for the same stream (see the module doc).
#[derive(Debug, Default, Clone)]
pub struct BufferModel {
    blocks: VecDeque<Block>,
    /// Bytes the blocks hold (Redis's `repl_backlog->histlen`).
    histlen: usize,
    /// Blocks created since the last indexed one.
    unindexed: u64,
}

impl BufferModel {
    /// `len` stream bytes appended, with `backlog_size` the configured `repl-backlog-size`.
    pub fn feed(&mut self, mut len: usize, backlog_size: usize) {
        if let Some(tail) = self.blocks.back_mut() {
            let copy = (tail.capacity - tail.used).min(len);
            tail.used += copy;
            self.histlen += copy;
            len -= copy;
        }
        // Each round allocates a block of at least one byte: bounded by `len`.
        let mut added = false;
        while len > 0 {
            let limit = (backlog_size / 16).max(MIN_BLOCK);
            let want = len.clamp(MIN_BLOCK, limit);
            let capacity = jemalloc_usable(want + BLOCK_HEADER) - BLOCK_HEADER;
            let used = capacity.min(len);
            self.unindexed += 1;
            let indexed = self.unindexed >= INDEX_EVERY;
            if indexed {
                self.unindexed = 0;
            }
            self.blocks.push_back(Block {
                capacity,
                used,
                indexed,
            });
            self.histlen += used;
            len -= used;
            added = true;
        }
        if added {
            self.trim(backlog_size);
        }
    }

    /// Step 2 of the module doc (also after `repl-backlog-size` shrinks).
    pub fn trim(&mut self, backlog_size: usize) {
        while self.blocks.len() > 1 && self.histlen > backlog_size {
            let first = self.blocks[0];
            if self.histlen - first.capacity <= backlog_size {
                break;
            }
            self.histlen -= first.capacity;
            self.blocks.pop_front();
        }
    }

    /// `mem_replication_backlog` (step 4 of the module doc).
    pub fn reported(&self, backlog_size: usize, replicas_attached: bool) -> u64 {
        let blocks: u64 = self
            .blocks
            .iter()
            .map(|b| (b.capacity + BLOCK_HEADER + LIST_NODE) as u64)
            .sum();
        let held = if replicas_attached && blocks > backlog_size as u64 {
            backlog_size as u64
        } else {
            blocks
        };
        let entries = self.blocks.iter().filter(|b| b.indexed).count() as u64;
        // An empty rax is its head node; each 8-byte key adds about one node.
        held + (entries + 1) * RAX_NODE + entries * RAX_ENTRY
    }
}

/// The usable size jemalloc gives a request of `n` bytes: its size class (8, 16, then
/// multiples of 16 up to 128, then four classes per power of two).
fn jemalloc_usable(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let lg = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (lg - 2);
    n.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn size_classes_match_jemalloc() {
        for (n, class) in [
            (1, 8),
            (9, 16),
            (100, 112),
            (129, 160),
            (16_384, 16_384),
            (16_424, 20_480),
            (65_576, 81_920),
            (20_481, 24_576),
        ] {
            assert_eq!(jemalloc_usable(n), class, "{n}");
        }
    }

    /// The figures redis-server 7.0.15 reported for this sequence (1 MiB backlog, then a
    /// 16 KiB one with thirty 3,000-byte writes).
    #[test]
    fn reports_like_redis() {
        let mut m = BufferModel::default();
        assert_eq!(m.reported(MIB, true), 4);
        m.feed(23 + 27, MIB);
        assert_eq!(m.reported(MIB, true), 20_508);
        for _ in 0..30 {
            m.feed(3_036, 16_384);
        }
        // Attached: capped at the backlog's size; alone: the two blocks it still holds.
        assert_eq!(m.reported(16_384, true), 16_388);
        assert_eq!(m.reported(16_384, false), 41_012);
    }

    #[test]
    fn a_replica_of_a_big_backlog_keeps_every_block() {
        let mut m = BufferModel::default();
        for _ in 0..30 {
            m.feed(3_036, MIB);
        }
        // 91,130 bytes in 20,440-byte blocks: five of them.
        assert_eq!(m.reported(MIB, false), 5 * 20_504 + 4);
    }

    #[test]
    fn big_writes_take_blocks_up_to_a_sixteenth_of_the_backlog() {
        let mut m = BufferModel::default();
        m.feed(200_000, MIB);
        // 64 KiB + 40 bytes -> the 81,920 class: capacity 81,880, twice; the last 36,240
        // bytes ask for 36,280 -> the 40,960 class.
        let caps: Vec<usize> = m.blocks.iter().map(|b| b.capacity).collect();
        assert_eq!(caps, [81_880, 81_880, 40_920]);
        assert_eq!(m.histlen, 200_000);
        assert_eq!(m.reported(MIB, true), 81_944 * 2 + 40_984 + 4);
    }
}
