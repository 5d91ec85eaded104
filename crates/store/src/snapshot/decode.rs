//! The decoding half of a load: RDB bytes to values ready to store.
//!
//! Loading an RDB file is two kinds of work. *Decoding* reads the bytes, inflates LZF
//! strings, walks listpacks and builds each [`Value`] with its allocations; *storing* puts the
//! keys into the database's hash table, where at millions of keys nearly every insert misses
//! the CPU cache. [`Decoder`] does the first, [`Loader`](super::Loader) the second, and also
//! turns the decoded [`RdbValue`] into our in-memory [`Value`](crate::value::Value): with
//! the conversion on the storing side the two threads are about equally busy (measured on a
//! million keys of mixed types: 52/48; with it on the decoding side, 67/33).
//!
//! [`Source::spawn`] runs the decoder on its own thread and hands over batches through a
//! bounded channel, so the two halves overlap on two cores (the server loads its files this
//! way: at startup, a full sync's payload, an AOF base); [`Source::inline`] decodes on the
//! caller's thread (small inputs, tests, readers that are not `Send`). Both give the same
//! items in the same order, and a decoding error arrives in order after every item before it.
//!
//! The decoding thread never touches the keyspace (DESIGN.md, "Threading and fork"): it owns
//! the file reader and hands over plain [`RdbValue`]s; the keyspace thread builds and stores
//! the values. It lives only while a file loads, and nothing forks during a load.

use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver};

use bytes::Bytes;
use ferrokv_proto::rdb::{Checksum, KeyMeta, RdbEntry, RdbError, RdbItem, RdbReader, RdbValue};

use super::{LoadError, LoadOptions};

/// Items per batch handed from the decoding thread (large enough that the channel's
/// synchronisation is noise, small enough that the storing side starts at once).
const BATCH_ITEMS: usize = 512;

/// Batches in flight between the threads: bounds the memory decoded ahead of storing.
const BATCHES_AHEAD: usize = 8;

/// One decoded item.
pub(super) enum Item {
    Aux {
        key: Bytes,
        value: Bytes,
    },
    SelectDb {
        db: u64,
        at: u64,
    },
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    Key {
        at: u64,
        key: Bytes,
        value: RdbValue,
        meta: KeyMeta,
    },
    /// A key dropped because it had already expired (loading as a primary).
    Expired,
    Eof(Checksum),
}

/// Decoded items, and the file offset reached after the last of them.
pub(super) struct Batch {
    pub items: Vec<Item>,
    pub offset: u64,
}

pub(super) struct Decoder<R> {
    reader: RdbReader<R>,
    opts: LoadOptions,
    done: bool,
}

impl<R: BufRead> Decoder<R> {
    /// Reads the signature; fails on a file that is not RDB version 1 to 10.
    pub fn new(input: R, opts: LoadOptions) -> Result<Decoder<R>, LoadError> {
        Ok(Decoder {
            reader: RdbReader::new(input)?,
            opts,
            done: false,
        })
    }

    pub fn version(&self) -> u16 {
        self.reader.version()
    }

    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// Decodes up to `max` items; the batch ends early at the EOF opcode.
    fn batch(&mut self, max: usize) -> Result<Batch, LoadError> {
        let mut items = Vec::with_capacity(max.min(BATCH_ITEMS));
        while items.len() < max.max(1) && !self.done {
            let at = self.reader.offset();
            let Some(item) = self.reader.next_item()? else {
                // `next_item` ends only after Eof or an error.
                return Err(RdbError::Truncated {
                    offset: at,
                    expected: "the EOF opcode",
                }
                .into());
            };
            items.push(match item {
                RdbItem::Aux { key, value } => Item::Aux { key, value },
                RdbItem::SelectDb(db) => Item::SelectDb { db, at },
                RdbItem::ResizeDb {
                    db_size,
                    expires_size,
                } => Item::ResizeDb {
                    db_size,
                    expires_size,
                },
                RdbItem::Entry(entry) => self.value(entry, at),
                RdbItem::Eof(sum) => {
                    self.done = true;
                    Item::Eof(sum)
                }
            });
        }
        Ok(Batch {
            items,
            offset: self.reader.offset(),
        })
    }

    fn value(&self, e: RdbEntry, at: u64) -> Item {
        let RdbEntry {
            key, value, meta, ..
        } = e;
        if meta
            .expire_ms
            .is_some_and(|exp| self.opts.drop_expired && exp < self.opts.now_ms)
        {
            return Item::Expired;
        }
        Item::Key {
            at,
            key,
            value,
            meta,
        }
    }
}

/// Where a [`Loader`](super::Loader) gets its items.
pub(super) enum Source<R> {
    Inline(Box<Decoder<R>>),
    Thread {
        rx: Receiver<Result<Batch, LoadError>>,
        /// Offset reached by the batches received so far.
        offset: u64,
    },
}

impl<R: BufRead> Source<R> {
    pub fn inline(decoder: Decoder<R>) -> Source<R> {
        Source::Inline(Box::new(decoder))
    }

    /// The next batch of at least one item (`want` is a hint for the inline decoder; the
    /// thread sends fixed-size batches). `None` once the EOF item was handed out.
    pub fn next(&mut self, want: usize) -> Result<Batch, LoadError> {
        match self {
            Source::Inline(d) => d.batch(want),
            Source::Thread { rx, offset } => match rx.recv() {
                Ok(batch) => {
                    let batch = batch?;
                    *offset = batch.offset;
                    Ok(batch)
                }
                // The thread ends after sending EOF or an error, and the loader stops asking
                // then; anything else means it died.
                Err(_) => Err(LoadError::DecoderStopped { offset: *offset }),
            },
        }
    }
}

impl<R: BufRead + Send + 'static> Source<R> {
    /// Runs `decoder` on a thread of its own. If the thread cannot be started (the process
    /// is out of threads), the error says so and nothing was read past the signature.
    pub fn spawn(mut decoder: Decoder<R>) -> Result<Source<R>, LoadError> {
        let offset = decoder.offset();
        let (tx, rx) = sync_channel(BATCHES_AHEAD);
        std::thread::Builder::new()
            .name("rdb-decode".into())
            .spawn(move || loop {
                let batch = decoder.batch(BATCH_ITEMS);
                let last = batch.is_err() || decoder.done;
                // A send fails when the loader was dropped (load aborted): stop reading.
                if tx.send(batch).is_err() || last {
                    return;
                }
            })
            .map_err(|source| LoadError::Rdb(RdbError::Io { offset, source }))?;
        Ok(Source::Thread { rx, offset })
    }
}
