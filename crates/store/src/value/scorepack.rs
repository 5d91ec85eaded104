//! `ScorePack`: the `listpack` encoding of a sorted set. Members with their scores packed in
//! one buffer in (score, member) order, as Redis keeps a small zset in one listpack: a few
//! bytes of overhead per element instead of a slot each, and one allocation for the set.
//! Lookups and inserts are linear, which `zset-max-listpack-entries` bounds.
//!
//! Each element is one [packed](super::packed) entry whose body is the score, then the
//! member. The score takes one byte when it is an integer from 0 to 239 (the common
//! "counter" or "timestamp bucket" case is short too), else a tag byte and either a
//! zigzag LEB128 integer or the 8 bytes of the `f64`:
//!
//! ```text
//! 0x00..=0xEF      the score is this value
//! 0xF0 varint      an integer score, |score| <= 2^53 (exact as an f64)
//! 0xF1 f64 (LE)    any other score
//! ```

use std::cmp::Ordering;

use super::packed::{entry_at, entry_len_of, read_varint, write_entry, Entries};
use super::zset::cmp_entry;

const SMALL_MAX: u8 = 0xEF;
const TAG_INT: u8 = 0xF0;
const TAG_F64: u8 = 0xF1;
/// Integers up to this magnitude convert to `f64` and back exactly.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScorePack {
    buf: Vec<u8>,
    len: usize,
}

/// The score's bytes (at most 11: a tag and a 10-byte varint, or a tag and 8 bytes).
fn encode_score(score: f64, out: &mut [u8; 11]) -> usize {
    if score.fract() == 0.0 && score.abs() <= EXACT_INT {
        let i = score as i64;
        if (0..=i64::from(SMALL_MAX)).contains(&i) {
            out[0] = i as u8;
            return 1;
        }
        out[0] = TAG_INT;
        let mut z = ((i << 1) ^ (i >> 63)) as u64;
        let mut n = 1;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out[n] = b;
                return n + 1;
            }
            out[n] = b | 0x80;
            n += 1;
        }
    }
    out[0] = TAG_F64;
    out[1..9].copy_from_slice(&score.to_le_bytes());
    9
}

/// Splits an entry body into (member, score).
fn decode(body: &[u8]) -> (&[u8], f64) {
    match body[0] {
        t if t <= SMALL_MAX => (&body[1..], f64::from(t)),
        TAG_INT => {
            let (z, p) = read_varint(body, 1);
            let i = (z >> 1) as i64 ^ -((z & 1) as i64);
            (&body[p..], i as f64)
        }
        _ => {
            let mut f = [0; 8];
            f.copy_from_slice(&body[1..9]);
            (&body[9..], f64::from_le_bytes(f))
        }
    }
}

/// A member located by [`ScorePack::find`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub rank: usize,
    pub score: f64,
    span: (usize, usize),
}

/// (member, score) pairs of a [`ScorePack`]: ascending, or descending when `rev`.
#[derive(Debug, Clone)]
pub struct PackIter<'a> {
    entries: Entries<'a>,
    rev: bool,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self.rev {
            false => self.entries.next(),
            true => self.entries.next_back(),
        }
        .map(decode)
    }
}

impl DoubleEndedIterator for PackIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self.rev {
            false => self.entries.next_back(),
            true => self.entries.next(),
        }
        .map(decode)
    }
}

impl ScorePack {
    /// A pack of pairs already in (score, member) order with unique members.
    /// One allocation of the exact size (RDB load and the `*STORE` commands build many).
    pub fn from_sorted<'a>(pairs: impl IntoIterator<Item = (&'a [u8], f64)> + Clone) -> ScorePack {
        let mut enc = [0; 11];
        let size: usize = pairs
            .clone()
            .into_iter()
            .map(|(m, s)| {
                let n = encode_score(s, &mut enc);
                entry_len_of(&[&enc[..n], m])
            })
            .sum();
        let mut buf = vec![0; size];
        let (mut at, mut len) = (0, 0);
        for (m, s) in pairs {
            let n = encode_score(s, &mut enc);
            let entry = entry_len_of(&[&enc[..n], m]);
            write_entry(&mut buf[at..at + entry], &[&enc[..n], m]);
            at += entry;
            len += 1;
        }
        ScorePack { buf, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated (MEMORY USAGE).
    pub fn allocated_bytes(&self) -> usize {
        self.buf.capacity()
    }

    fn entries(&self, front: usize, back: usize, rev: bool) -> PackIter<'_> {
        PackIter {
            entries: Entries {
                buf: &self.buf,
                front,
                back,
            },
            rev,
        }
    }

    /// Every pair, ascending.
    pub fn iter(&self) -> PackIter<'_> {
        self.entries(0, self.buf.len(), false)
    }

    /// Byte offset of the element at rank `rank` (the end when `rank >= len`).
    fn offset_of(&self, rank: usize) -> usize {
        let mut pos = 0;
        for _ in 0..rank.min(self.len) {
            pos = entry_at(&self.buf, pos).2;
        }
        pos
    }

    /// Pairs from rank `rank` upwards, or from it downwards when `rev` (none when the rank
    /// is past the end).
    pub fn iter_from(&self, rank: usize, rev: bool) -> PackIter<'_> {
        if rev {
            let end = if rank < self.len {
                self.offset_of(rank + 1)
            } else {
                0
            };
            self.entries(0, end, true)
        } else {
            self.entries(self.offset_of(rank), self.buf.len(), false)
        }
    }

    /// Where `member` is: its rank, score and entry bytes (one scan serves a lookup and the
    /// removal that may follow).
    pub fn find(&self, member: &[u8]) -> Option<Found> {
        let mut pos = 0;
        for rank in 0..self.len {
            let (body, body_end, next) = entry_at(&self.buf, pos);
            let (m, s) = decode(&self.buf[body..body_end]);
            if m == member {
                return Some(Found {
                    rank,
                    score: s,
                    span: (pos, next),
                });
            }
            pos = next;
        }
        None
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|f| f.score)
    }

    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        self.find(member).map(|f| f.rank)
    }

    /// Removes the entry [`ScorePack::find`] found (nothing changed in between).
    pub fn remove_found(&mut self, found: Found) {
        self.buf.drain(found.span.0..found.span.1);
        self.len -= 1;
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let found = self.find(member)?;
        let score = found.score;
        self.remove_found(found);
        Some(score)
    }

    /// Inserts a member known to be absent at its place in the order.
    pub fn insert_new(&mut self, member: &[u8], score: f64) {
        let mut pos = 0;
        for _ in 0..self.len {
            let (body, body_end, next) = entry_at(&self.buf, pos);
            let (m, s) = decode(&self.buf[body..body_end]);
            if cmp_entry(s, m, score, member) != Ordering::Less {
                break;
            }
            pos = next;
        }
        self.put(pos, member, score);
    }

    /// Writes the entry for (member, score) at byte offset `at`.
    fn put(&mut self, at: usize, member: &[u8], score: f64) {
        let mut enc = [0; 11];
        let n = encode_score(score, &mut enc);
        let size = entry_len_of(&[&enc[..n], member]);
        super::reserve_small(&mut self.buf, size);
        self.buf.splice(at..at, std::iter::repeat_n(0, size));
        write_entry(&mut self.buf[at..at + size], &[&enc[..n], member]);
        self.len += 1;
    }

    /// How many elements come before the first one for which `before` is false.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.iter().take_while(|&(m, s)| before(s, m)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_in_every_form() {
        for score in [
            0.0,
            1.0,
            239.0,
            240.0,
            -1.0,
            1.5,
            -2.25,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            EXACT_INT,
            -EXACT_INT,
            EXACT_INT * 2.0,
            i64::MIN as f64,
            5e-324,
        ] {
            let mut enc = [0; 11];
            let n = encode_score(score, &mut enc);
            let mut body = enc[..n].to_vec();
            body.extend_from_slice(b"member");
            let (m, s) = decode(&body);
            assert_eq!(
                (m, s.to_bits()),
                (&b"member"[..], score.to_bits()),
                "{score}"
            );
        }
        let mut enc = [0; 11];
        assert_eq!(encode_score(7.0, &mut enc), 1);
        assert_eq!(encode_score(-7.0, &mut enc), 2);
        assert_eq!(encode_score(0.5, &mut enc), 9);
    }

    proptest::proptest! {
        #[test]
        fn matches_a_sorted_vector(ops in proptest::collection::vec(
            (proptest::bool::weighted(0.7), 0u8..20, -3i32..300, proptest::bool::ANY),
            0..120,
        )) {
            let mut pack = ScorePack::default();
            let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
            for (add, m, s, frac) in ops {
                let member = format!("m{m}").repeat(m as usize % 4 + 1).into_bytes();
                let score = f64::from(s) + if frac { 0.5 } else { 0.0 };
                let at = model.iter().position(|(x, _)| *x == member);
                if add {
                    if let Some(i) = at {
                        model.remove(i);
                        pack.remove(&member);
                    }
                    pack.insert_new(&member, score);
                    model.push((member, score));
                    model.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
                } else {
                    proptest::prop_assert_eq!(pack.remove(&member), at.map(|i| model.remove(i).1));
                }
                proptest::prop_assert_eq!(pack.len(), model.len());
                let want: Vec<(&[u8], f64)> = model.iter().map(|(m, s)| (&m[..], *s)).collect();
                proptest::prop_assert_eq!(pack.iter().collect::<Vec<_>>(), want.clone());
                proptest::prop_assert_eq!(
                    pack.iter().rev().collect::<Vec<_>>(),
                    want.iter().rev().copied().collect::<Vec<_>>()
                );
                for r in 0..=model.len() {
                    proptest::prop_assert_eq!(pack.iter_from(r, false).collect::<Vec<_>>(), want[r..].to_vec());
                    let down: Vec<_> = want[..(r + 1).min(want.len())].iter().rev().copied().collect();
                    let down = if r < want.len() { down } else { Vec::new() };
                    proptest::prop_assert_eq!(pack.iter_from(r, true).collect::<Vec<_>>(), down);
                }
                for (i, (m, s)) in model.iter().enumerate() {
                    proptest::prop_assert_eq!(pack.rank(m), Some(i));
                    proptest::prop_assert_eq!(pack.score(m), Some(*s));
                }
                proptest::prop_assert_eq!(pack.count_before(|s, _| s < 100.0), model.iter().filter(|(_, s)| *s < 100.0).count());
            }
            let rebuilt = ScorePack::from_sorted(model.iter().map(|(m, s)| (&m[..], *s)));
            proptest::prop_assert!(rebuilt.iter().eq(pack.iter()));
        }
    }
}
