//! One proxied TCP connection: two pumps (client -> upstream, upstream -> client) that pass
//! every chunk through the proxy's *current* toxics.
//!
//! # How a pump works
//!
//! A pump is two futures joined in one task. The *reader* reads the source socket into 16 KiB
//! chunks stamped with their arrival [`Instant`] and queues them (at most [`CHUNK_QUEUE`]), so
//! latency is measured from arrival and back-to-back chunks do not add their delays up. The
//! *processor* takes one chunk at a time and walks it through the toxics:
//!
//! 1. Before each step it re-reads the proxy's toxic list from a `watch` channel (`refresh`),
//!    so a toxic added, updated or removed through the API takes effect on the very next step
//!    of an already-open connection.
//! 2. The next toxic for a piece is the first one of this stream, in the list's order, that
//!    applies to this link (its `toxicity` roll) and that the piece has not passed yet (each
//!    piece carries the ids of the toxics it passed). Ids survive list changes, so adding or
//!    removing a toxic while a piece is half-way never applies a toxic twice or skips one.
//! 3. A toxic either forwards the piece, drops it, splits it (pieces go back on a LIFO work
//!    stack so bytes stay in order), or waits. Every wait also watches the toxic list: if the
//!    toxic it waits for is removed or updated, the wait ends at once and the piece moves on
//!    (Toxiproxy's "interrupt": data is never dropped by a removal).
//! 4. A piece that passed every toxic is written to the destination; an end-of-stream marker
//!    that passed every toxic ends the pump, and with it the whole connection.
//!
//! `timeout` toxics add a per-link deadline (from the moment the link saw the toxic) that every
//! wait also watches; removing a `timeout` toxic that applied to the link closes the link, as
//! Toxiproxy's cleanup does, because the bytes it dropped leave the stream unusable.
//!
//! Whatever ends first (either pump, or the proxy's cancel token) ends the connection: both
//! sockets are dropped, with `SO_LINGER 0` (an RST) when `reset_peer` fired.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::{Stream, ToxicKind};

/// Bytes asked for per socket read.
const READ_BUF: usize = 16 * 1024;
/// Chunks a reader may queue ahead of its processor (so at most 4 MiB per direction).
const CHUNK_QUEUE: usize = 256;
/// How long we try to reach the upstream before giving up on a new client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bandwidth pieces carry at most this much time's worth of bytes, so pacing stays smooth.
const BANDWIDTH_SLICE_MS: u64 = 100;
/// Longest wait any toxic attribute can ask for (a year: "forever" in a test).
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// A toxic as links see it: the API's toxic plus identity for change detection.
#[derive(Clone, Debug)]
pub(crate) struct ActiveToxic {
    /// Unique per toxic for the proxy's lifetime; kept across updates.
    pub id: u64,
    /// Changes on every update.
    pub revision: u64,
    pub toxic: crate::model::Toxic,
}

/// The toxic list a proxy publishes to its links, in insertion order.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToxicSet {
    pub toxics: Vec<ActiveToxic>,
}

/// What a link needs from its proxy.
pub(crate) struct LinkContext {
    pub upstream: Arc<str>,
    pub toxics: watch::Receiver<Arc<ToxicSet>>,
    pub cancel: CancellationToken,
    pub seed: u64,
}

/// Why a pump (and so the connection) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkEnd {
    /// End of stream reached the destination (source closed, or a toxic closed the stream).
    Closed,
    /// A `timeout` toxic's deadline passed, or one that applied was removed.
    TimedOut,
    /// `reset_peer` fired: close with an RST.
    Reset,
    /// Writing to the destination failed.
    WriteFailed,
    /// The proxy was stopped or deleted.
    ProxyGone,
}

/// Runs one accepted client until either side or a toxic ends it, or the proxy stops.
pub(crate) async fn run_connection(mut client: TcpStream, ctx: LinkContext) {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*ctx.upstream));
    let mut upstream = tokio::select! {
        _ = ctx.cancel.cancelled() => return,
        r = connect => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(upstream = %ctx.upstream, error = %e, "Unable to open connection to upstream");
                return;
            }
            Err(_) => {
                tracing::warn!(upstream = %ctx.upstream, "Timed out connecting to upstream");
                return;
            }
        },
    };
    // Go's net package sets TCP_NODELAY by default; without it small replies would wait.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let end = {
        let (client_r, client_w) = client.split();
        let (upstream_r, upstream_w) = upstream.split();
        let up = pump(
            client_r,
            upstream_w,
            Direction::new(Stream::Upstream, &ctx, 0),
        );
        let down = pump(
            upstream_r,
            client_w,
            Direction::new(Stream::Downstream, &ctx, 1),
        );
        tokio::select! {
            _ = ctx.cancel.cancelled() => LinkEnd::ProxyGone,
            e = up => e,
            e = down => e,
        }
    };
    tracing::debug!(?end, "Connection closed");
    if end == LinkEnd::Reset {
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
}

/// One chunk read from a source: data, or `None` for end of stream.
struct Chunk {
    data: Option<Bytes>,
    at: Instant,
}

async fn pump<R, W>(mut src: R, mut dst: W, mut dir: Direction) -> LinkEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNK_QUEUE);
    let reader = async move {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            // A read error ends the stream like EOF does, as in Toxiproxy.
            let data = match src.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(Bytes::copy_from_slice(&buf[..n])),
            };
            let eof = data.is_none();
            if tx
                .send(Chunk {
                    data,
                    at: Instant::now(),
                })
                .await
                .is_err()
                || eof
            {
                return;
            }
        }
    };
    let processor = dir.run(&mut rx, &mut dst);
    tokio::pin!(reader, processor);
    tokio::select! {
        end = &mut processor => end,
        () = &mut reader => processor.await,
    }
}

/// What travels through the toxics.
enum Item {
    Data(Bytes),
    Eof,
    /// A slicer's pause between two slices; skipped if that toxic goes away.
    Pause {
        pause: Duration,
        id: u64,
        revision: u64,
    },
}

struct Piece {
    item: Item,
    /// When the bytes arrived (advanced by each latency they pass).
    at: Instant,
    /// Ids of the toxics this piece has passed.
    passed: Vec<u64>,
}

/// What a link remembers about one toxic.
struct Seen {
    revision: u64,
    /// The toxicity roll for this link.
    applies: bool,
    /// When this link first saw this revision.
    since: Instant,
    kind: ToxicKind,
    /// `limit_data`: bytes passed so far (kept across updates, as Toxiproxy keeps state).
    sent: u64,
    /// `bandwidth`: when the link is free to send again.
    next_free: Option<Instant>,
}

/// The processor side of one pump.
struct Direction {
    stream: Stream,
    rx: watch::Receiver<Arc<ToxicSet>>,
    current: Arc<ToxicSet>,
    seen: HashMap<u64, Seen>,
    rng: SmallRng,
}

enum Waited {
    Elapsed,
    /// The toxic being waited on was removed or updated.
    Gone,
}

impl Direction {
    fn new(stream: Stream, ctx: &LinkContext, salt: u64) -> Self {
        Self {
            stream,
            rx: ctx.toxics.clone(),
            current: Arc::default(),
            seen: HashMap::new(),
            rng: SmallRng::seed_from_u64(ctx.seed.wrapping_mul(2).wrapping_add(salt)),
        }
    }

    async fn run<W: AsyncWrite + Unpin>(
        &mut self,
        rx: &mut mpsc::Receiver<Chunk>,
        dst: &mut W,
    ) -> LinkEnd {
        if let Err(end) = self.sync() {
            return end;
        }
        loop {
            let chunk = match self.guard(rx.recv()).await {
                Ok(Some(c)) => c,
                // The reader only stops after queueing Eof, so this is unreachable in
                // practice; ending the link is the safe answer anyway.
                Ok(None) => return LinkEnd::Closed,
                Err(end) => return end,
            };
            let item = match chunk.data {
                Some(b) => Item::Data(b),
                None => Item::Eof,
            };
            if let Err(end) = self
                .process(
                    Piece {
                        item,
                        at: chunk.at,
                        passed: Vec::new(),
                    },
                    dst,
                )
                .await
            {
                return end;
            }
        }
    }

    /// Takes the newest toxic list into account. Fails when a `timeout` toxic that applied to
    /// this link is gone (Toxiproxy's cleanup closes such links).
    fn sync(&mut self) -> Result<(), LinkEnd> {
        let set = self.rx.borrow_and_update().clone();
        let now = Instant::now();
        let stream = self.stream;
        let mut timeout_removed = false;
        self.seen.retain(|id, seen| {
            let keep = set.toxics.iter().any(|t| t.id == *id);
            if !keep && seen.applies && matches!(seen.kind, ToxicKind::Timeout(_)) {
                timeout_removed = true;
            }
            keep
        });
        for t in set.toxics.iter().filter(|t| t.toxic.stream == stream) {
            match self.seen.get_mut(&t.id) {
                Some(s) if s.revision == t.revision => {}
                Some(s) => {
                    s.revision = t.revision;
                    s.applies = self.rng.gen::<f32>() < t.toxic.toxicity;
                    s.since = now;
                    s.kind = t.toxic.kind;
                }
                None => {
                    self.seen.insert(
                        t.id,
                        Seen {
                            revision: t.revision,
                            applies: self.rng.gen::<f32>() < t.toxic.toxicity,
                            since: now,
                            kind: t.toxic.kind,
                            sent: 0,
                            next_free: None,
                        },
                    );
                }
            }
        }
        self.current = set;
        if timeout_removed {
            Err(LinkEnd::TimedOut)
        } else {
            Ok(())
        }
    }

    fn refresh(&mut self) -> Result<(), LinkEnd> {
        match self.rx.has_changed() {
            Ok(true) => self.sync(),
            Ok(false) => Ok(()),
            Err(_) => Err(LinkEnd::ProxyGone),
        }
    }

    /// The earliest close deadline of the `timeout` toxics applying to this link.
    fn timeout_deadline(&self) -> Option<Instant> {
        self.seen
            .values()
            .filter(|s| s.applies)
            .filter_map(|s| match s.kind {
                ToxicKind::Timeout(t) if t.timeout > 0 => Some(later(s.since, millis(t.timeout))),
                _ => None,
            })
            .min()
    }

    fn is_live(&self, id: u64, revision: u64) -> bool {
        self.seen.get(&id).is_some_and(|s| s.revision == revision)
    }

    /// Runs `fut` while following toxic changes; fails if the link must close meanwhile.
    async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, LinkEnd> {
        tokio::pin!(fut);
        loop {
            let deadline = self.timeout_deadline();
            tokio::select! {
                biased;
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return Err(LinkEnd::ProxyGone);
                    }
                    self.sync()?;
                }
                () = sleep_until_opt(deadline) => return Err(LinkEnd::TimedOut),
                out = &mut fut => return Ok(out),
            }
        }
    }

    /// Waits until `until` on behalf of toxic `id`; ends early if that toxic changes.
    async fn wait_for_toxic(
        &mut self,
        until: Instant,
        id: u64,
        revision: u64,
    ) -> Result<Waited, LinkEnd> {
        loop {
            if !self.is_live(id, revision) {
                return Ok(Waited::Gone);
            }
            if Instant::now() >= until {
                return Ok(Waited::Elapsed);
            }
            let deadline = self.timeout_deadline();
            tokio::select! {
                biased;
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return Err(LinkEnd::ProxyGone);
                    }
                    self.sync()?;
                }
                () = sleep_until_opt(deadline) => return Err(LinkEnd::TimedOut),
                () = tokio::time::sleep_until(until) => return Ok(Waited::Elapsed),
            }
        }
    }

    /// The next toxic `passed` has not gone through, among those applying to this link.
    fn next_toxic(&self, passed: &[u64]) -> Option<(u64, u64, ToxicKind)> {
        self.current
            .toxics
            .iter()
            .filter(|t| t.toxic.stream == self.stream && !passed.contains(&t.id))
            .find(|t| self.seen.get(&t.id).is_some_and(|s| s.applies))
            .map(|t| (t.id, t.revision, t.toxic.kind))
    }

    async fn process<W: AsyncWrite + Unpin>(
        &mut self,
        first: Piece,
        dst: &mut W,
    ) -> Result<(), LinkEnd> {
        let mut stack = vec![first];
        while let Some(piece) = stack.pop() {
            if let Item::Pause {
                pause,
                id,
                revision,
            } = piece.item
            {
                self.wait_for_toxic(later(Instant::now(), pause), id, revision)
                    .await?;
                continue;
            }
            self.refresh()?;
            let Some((id, revision, kind)) = self.next_toxic(&piece.passed) else {
                match piece.item {
                    Item::Data(bytes) => match self.guard(dst.write_all(&bytes)).await? {
                        Ok(()) => continue,
                        Err(_) => return Err(LinkEnd::WriteFailed),
                    },
                    Item::Eof => return Err(LinkEnd::Closed),
                    Item::Pause { .. } => continue,
                }
            };
            self.apply(id, revision, kind, piece, &mut stack).await?;
        }
        Ok(())
    }

    /// Runs one toxic on one piece, pushing what comes out onto `stack`.
    async fn apply(
        &mut self,
        id: u64,
        revision: u64,
        kind: ToxicKind,
        piece: Piece,
        stack: &mut Vec<Piece>,
    ) -> Result<(), LinkEnd> {
        let Piece {
            item,
            mut at,
            passed: before,
        } = piece;
        let mut passed = before.clone();
        passed.push(id);
        match (kind, item) {
            (ToxicKind::Latency(l), Item::Data(bytes)) => {
                let mut delay = l.latency;
                if l.jitter > 0 {
                    delay = delay.saturating_add(self.rng.gen_range(-l.jitter..l.jitter));
                }
                let target = later(at, millis(delay));
                if let Waited::Elapsed = self.wait_for_toxic(target, id, revision).await? {
                    at = at.max(target);
                }
                stack.push(Piece {
                    item: Item::Data(bytes),
                    at,
                    passed,
                });
            }
            (ToxicKind::Bandwidth(b), Item::Data(mut bytes)) if b.rate > 0 => {
                let rate = b.rate.unsigned_abs(); // bytes per millisecond
                let slice = rate.saturating_mul(BANDWIDTH_SLICE_MS).max(1);
                let take = usize::try_from(slice)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let head = bytes.split_to(take);
                if !bytes.is_empty() {
                    // The rest comes back to this toxic after `head` went out.
                    stack.push(Piece {
                        item: Item::Data(bytes),
                        at,
                        passed: before,
                    });
                }
                let now = Instant::now();
                let cost = Duration::from_micros(((head.len() as u64).saturating_mul(1000)) / rate);
                let send_at = match self.seen.get_mut(&id) {
                    Some(seen) => {
                        let at = later(seen.next_free.map_or(now, |t| t.max(now)), cost);
                        seen.next_free = Some(at);
                        at
                    }
                    None => now,
                };
                self.wait_for_toxic(send_at, id, revision).await?;
                stack.push(Piece {
                    item: Item::Data(head),
                    at,
                    passed,
                });
            }
            (ToxicKind::SlowClose(s), Item::Eof) => {
                let until = later(Instant::now(), millis(s.delay));
                self.wait_for_toxic(until, id, revision).await?;
                stack.push(Piece {
                    item: Item::Eof,
                    at,
                    passed,
                });
            }
            (ToxicKind::Timeout(_), Item::Data(_)) => {} // dropped on the floor
            (ToxicKind::ResetPeer(r), item) => {
                let until = later(Instant::now(), millis(r.timeout));
                match self.wait_for_toxic(until, id, revision).await? {
                    Waited::Elapsed => return Err(LinkEnd::Reset),
                    Waited::Gone => stack.push(Piece { item, at, passed }),
                }
            }
            (ToxicKind::Slicer(s), Item::Data(bytes)) => {
                let cuts =
                    slice_points(bytes.len(), s.average_size, s.size_variation, &mut self.rng);
                let pause = Duration::from_micros(s.delay.max(0).unsigned_abs()).min(MAX_WAIT);
                // Pushed last-first so the first slice comes off the stack first; a pause
                // sits between two slices and starts when the slice before it went out.
                for k in (0..cuts.len()).rev() {
                    let start = if k == 0 { 0 } else { cuts[k - 1] };
                    let slice = bytes.slice(start..cuts[k]);
                    stack.push(Piece {
                        item: Item::Data(slice),
                        at,
                        passed: passed.clone(),
                    });
                    if k > 0 && !pause.is_zero() {
                        let item = Item::Pause {
                            pause,
                            id,
                            revision,
                        };
                        stack.push(Piece {
                            item,
                            at,
                            passed: Vec::new(),
                        });
                    }
                }
            }
            (ToxicKind::LimitData(l), Item::Data(mut bytes)) => {
                let limit = l.bytes.max(0).unsigned_abs();
                let Some(seen) = self.seen.get_mut(&id) else {
                    stack.push(Piece {
                        item: Item::Data(bytes),
                        at,
                        passed,
                    });
                    return Ok(());
                };
                let remaining = limit.saturating_sub(seen.sent);
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                bytes.truncate(take);
                seen.sent += take as u64;
                if seen.sent >= limit {
                    stack.push(Piece {
                        item: Item::Eof,
                        at,
                        passed: passed.clone(),
                    });
                }
                if !bytes.is_empty() {
                    stack.push(Piece {
                        item: Item::Data(bytes),
                        at,
                        passed,
                    });
                }
            }
            // Everything else passes unchanged: noop, an unlimited bandwidth, end of stream
            // through latency/bandwidth/slicer/limit_data/timeout, data through slow_close.
            (_, item) => stack.push(Piece { item, at, passed }),
        }
        Ok(())
    }
}

/// Milliseconds from an API attribute: negative counts as 0.
fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0).unsigned_abs())
}

/// `at + d`, with waits capped at [`MAX_WAIT`] so no attribute can overflow an `Instant`.
fn later(at: Instant, d: Duration) -> Instant {
    let d = d.min(MAX_WAIT);
    at.checked_add(d).unwrap_or(at)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// End offsets of the slices a slicer cuts `len` bytes into: halves, recursively, until a
/// piece is within `variation` of `average`, each cut moved by up to ±`variation` at random.
/// Every slice is at least one byte; the last offset is `len`. Bounded: at most `len` slices.
pub(crate) fn slice_points(
    len: usize,
    average: i64,
    variation: i64,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let average = usize::try_from(average.max(1)).unwrap_or(usize::MAX);
    let variation = usize::try_from(variation.max(0)).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    // Depth-first over [start, end) ranges; right halves wait on the stack.
    let mut todo = vec![(0usize, len)];
    while let Some((start, end)) = todo.pop() {
        let size = end - start;
        if size == 0 {
            continue;
        }
        if size <= 1 || size.saturating_sub(average) <= variation {
            out.push(end);
            continue;
        }
        let mut mid = start + size / 2;
        if variation > 0 {
            let shift = rng.gen_range(0..variation.saturating_mul(2));
            mid = (mid + shift).saturating_sub(variation);
        }
        let mid = mid.clamp(start + 1, end - 1);
        todo.push((mid, end));
        todo.push((start, mid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_points_cover_every_byte_in_order() {
        let mut rng = SmallRng::seed_from_u64(7);
        let table = [
            (0usize, 10i64, 0i64),
            (1, 10, 0),
            (1000, 100, 0),
            (1000, 100, 50),
            (1000, 0, 0),
            (1000, -5, 3000),
            (16384, 1, 0),
            (5, 100, 0),
        ];
        for (len, avg, var) in table {
            let cuts = slice_points(len, avg, var, &mut rng);
            let mut prev = 0;
            for &c in &cuts {
                assert!(c > prev, "{len} {avg} {var}: {cuts:?}");
                prev = c;
            }
            assert_eq!(prev, len, "{len} {avg} {var}");
            assert!(cuts.len() <= len.max(1));
        }
    }

    #[test]
    fn slice_points_aim_at_the_average_size() {
        let mut rng = SmallRng::seed_from_u64(1);
        let cuts = slice_points(1000, 100, 0, &mut rng);
        let mut prev = 0;
        for c in cuts {
            assert!((50..=100).contains(&(c - prev)), "slice of {}", c - prev);
            prev = c;
        }
    }
}
