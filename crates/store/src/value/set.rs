//! Set values: an `intset` (sorted `i64`s) while every member is a canonical integer and
//! there are at most `set-max-intset-entries` of them, else a `hashtable`.
//!
//! The `hashtable` encoding is the keyspace's own [`DenseMap`] with no values: O(1)
//! membership, O(1) random sampling (SPOP, SRANDMEMBER) and a SCAN cursor that survives
//! deletions, exactly as the keyspace map does (see `keyspace.rs`): the cursor walks indices
//! downwards and `swap_remove` only moves the last, already visited, member into the hole.
//! Members are [`Key`]s: up to 22 bytes inline, so a member of a large set costs a 24-byte
//! slot and a 5-byte index bucket.
//!
//! Like Redis 7.0, a set never converts back to `intset` when it shrinks; only a fresh build
//! ([`SetValue::from_members`], used by RDB load and the `*STORE` commands) picks the compact
//! encoding again.

use bytes::Bytes;
use rand::Rng;

use super::intset::Intset;
use super::{int_bytes, parse_canonical_i64};
use crate::config::StoreConfig;
use crate::dense_map::{DenseMap, Entries};
use crate::key::Key;

/// The `hashtable` encoding of a set.
pub type MemberSet = DenseMap<()>;

fn owned(member: &Key) -> Bytes {
    Bytes::copy_from_slice(member.as_slice())
}

#[derive(Debug, Clone)]
pub enum SetValue {
    /// Sorted, unique.
    Intset(Intset),
    /// Boxed, so an intset costs 32 bytes plus its elements instead of the table's 120.
    Table(Box<MemberSet>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(Intset::default())
    }
}

impl SetValue {
    pub fn encoding_name(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds a set with the encoding Redis picks for a fresh set holding `members`
    /// (duplicates are dropped): `intset` when every member is a canonical integer and there
    /// are at most `set-max-intset-entries` of them, else `hashtable`.
    pub fn from_members<I>(members: I, cfg: &StoreConfig) -> SetValue
    where
        I: IntoIterator<Item = Bytes>,
    {
        let members: Vec<Bytes> = members.into_iter().collect();
        let ints: Option<Vec<i64>> = members.iter().map(|m| parse_canonical_i64(m)).collect();
        if let Some(mut ints) = ints {
            ints.sort_unstable();
            ints.dedup();
            if ints.len() <= cfg.set_max_intset_entries {
                return SetValue::Intset(Intset::from_sorted(&ints));
            }
        }
        let mut set = MemberSet::default();
        set.reserve(members.len());
        for m in &members {
            set.insert(m, ());
        }
        SetValue::Table(Box::new(set))
    }

    /// The members of an `intset`-encoded set, ascending (for the RDB writer).
    pub fn intset(&self) -> Option<&Intset> {
        match self {
            SetValue::Intset(v) => Some(v),
            SetValue::Table(_) => None,
        }
    }

    /// Every member, in the encoding's order (ascending for `intset`).
    pub fn iter_bytes(&self) -> SetIter<'_> {
        match self {
            SetValue::Intset(v) => SetIter::Ints(v, 0..v.len()),
            SetValue::Table(s) => SetIter::Table(s.entries()),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => {
                parse_canonical_i64(member).is_some_and(|i| v.binary_search(i).is_ok())
            }
            SetValue::Table(s) => s.contains_key(member),
        }
    }

    /// Adds `member`; converts to `hashtable` when it is not an integer or the intset grows
    /// past `set-max-intset-entries`. Returns whether the member was new.
    pub fn add(&mut self, member: &[u8], cfg: &StoreConfig) -> bool {
        match self {
            SetValue::Intset(v) => match parse_canonical_i64(member) {
                Some(i) => match v.binary_search(i) {
                    Ok(_) => false,
                    Err(pos) => {
                        v.insert(pos, i);
                        if v.len() > cfg.set_max_intset_entries {
                            self.convert_to_table();
                        }
                        true
                    }
                },
                None => {
                    self.convert_to_table();
                    self.add(member, cfg)
                }
            },
            SetValue::Table(s) => s.insert(member, ()).is_none(),
        }
    }

    /// Removes `member`. Returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => match parse_canonical_i64(member).map(|i| v.binary_search(i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            SetValue::Table(s) => s.swap_remove(member).is_some(),
        }
    }

    /// The member at position `i` of the encoding's order (`i < len`).
    pub fn member_at(&self, i: usize) -> Option<Bytes> {
        match self {
            SetValue::Intset(v) => v.get(i).map(int_bytes),
            SetValue::Table(s) => s.get_index(i).map(|(m, ())| owned(m)),
        }
    }

    /// A uniformly chosen member.
    pub fn random_member(&self, rng: &mut impl Rng) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        self.member_at(rng.gen_range(0..self.len()))
    }

    /// Removes and returns a uniformly chosen member.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..self.len());
        match self {
            SetValue::Intset(v) => Some(int_bytes(v.remove(i))),
            SetValue::Table(s) => s.swap_remove_index(i).map(|(m, ())| owned(&m)),
        }
    }

    /// One SSCAN step: `(next cursor, members)`. An `intset` is returned whole with cursor 0,
    /// as Redis does for compact encodings. For a `hashtable`, cursor `c > 0` means "the next
    /// index to visit is `c - 1`", walking downwards (see the module doc).
    pub fn scan_step(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        match self {
            SetValue::Intset(v) => (0, v.iter().map(int_bytes).collect()),
            SetValue::Table(s) => {
                let len = s.len();
                let mut next = if cursor == 0 || cursor > len as u64 {
                    len
                } else {
                    cursor as usize
                };
                let mut out = Vec::with_capacity(count.clamp(1, 1024));
                while next > 0 && out.len() < count.max(1) {
                    if let Some((m, ())) = s.get_index(next - 1) {
                        out.push(owned(m));
                    }
                    next -= 1;
                }
                (next as u64, out)
            }
        }
    }

    fn convert_to_table(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut s = MemberSet::default();
            s.reserve(v.len() + 1);
            for n in v.iter() {
                s.insert(&int_bytes(n), ());
            }
            *self = SetValue::Table(Box::new(s));
        }
    }
}

/// The decimal text of an intset member.
/// Iterator over a set's members (see [`SetValue::iter_bytes`]).
pub enum SetIter<'a> {
    /// An intset and the positions still to visit.
    Ints(&'a Intset, std::ops::Range<usize>),
    Table(Entries<'a, ()>),
}

impl Iterator for SetIter<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self {
            SetIter::Ints(set, it) => it.next().and_then(|i| set.get(i)).map(int_bytes),
            SetIter::Table(it) => it.next().map(|(m, ())| owned(m)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            SetIter::Ints(_, it) => it.size_hint(),
            SetIter::Table(it) => it.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn cfg(max: usize) -> StoreConfig {
        StoreConfig {
            set_max_intset_entries: max,
            ..StoreConfig::default()
        }
    }

    #[test]
    fn intset_until_a_non_integer_arrives() {
        let c = cfg(512);
        let mut s = SetValue::default();
        assert!(s.add(b"3", &c));
        assert!(s.add(b"-1", &c));
        assert!(!s.add(b"3", &c));
        assert_eq!(s.encoding_name(), "intset");
        assert_eq!(s.iter_bytes().collect::<Vec<_>>(), vec!["-1", "3"]);
        for not_int in ["007", "-0", "+1", "9223372036854775808", "a"] {
            let mut t = s.clone();
            assert!(t.add(not_int.as_bytes(), &c));
            assert_eq!(t.encoding_name(), "hashtable", "{not_int}");
            assert!(t.contains(b"3") && t.contains(not_int.as_bytes()));
            assert_eq!(t.len(), 3);
        }
    }

    #[test]
    fn intset_converts_past_max_entries() {
        let c = cfg(3);
        let mut s = SetValue::default();
        for i in 0..3 {
            s.add(i.to_string().as_bytes(), &c);
        }
        assert_eq!(s.encoding_name(), "intset");
        s.add(b"3", &c);
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.remove(b"3") && s.remove(b"2"));
        assert_eq!(s.encoding_name(), "hashtable", "never converts back");
    }

    #[test]
    fn from_members_picks_the_fresh_encoding() {
        let c = cfg(2);
        let b = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            SetValue::from_members(b(&["2", "1", "2"]), &c).encoding_name(),
            "intset"
        );
        assert_eq!(
            SetValue::from_members(b(&["2", "1", "3"]), &c).encoding_name(),
            "hashtable"
        );
        assert_eq!(
            SetValue::from_members(b(&["a"]), &c).encoding_name(),
            "hashtable"
        );
        assert_eq!(
            SetValue::from_members(b(&["2", "1", "2"]), &c)
                .intset()
                .map(Intset::to_vec),
            Some(vec![1, 2])
        );
    }

    #[test]
    fn pop_and_scan_cover_every_member() {
        let c = cfg(512);
        let mut rng = SmallRng::seed_from_u64(1);
        for members in [vec!["1", "2", "3"], vec!["a", "b", "c", "d"]] {
            let mut s = SetValue::default();
            for m in &members {
                s.add(m.as_bytes(), &c);
            }
            let (cursor, got) = s.scan_step(0, 100);
            assert_eq!(cursor, 0);
            assert_eq!(got.len(), members.len());
            let mut popped = Vec::new();
            while let Some(m) = s.pop_random(&mut rng) {
                popped.push(String::from_utf8(m.to_vec()).unwrap());
            }
            popped.sort();
            assert_eq!(popped, members);
        }
    }

    #[test]
    fn table_scan_survives_deletions() {
        let c = cfg(0);
        let mut s = SetValue::default();
        for i in 0..100 {
            s.add(format!("m{i}").as_bytes(), &c);
        }
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut steps) = (0, 0);
        loop {
            let (next, got) = s.scan_step(cursor, 7);
            seen.extend(got);
            for j in 50 + steps * 3..50 + steps * 3 + 3 {
                s.remove(format!("m{j}").as_bytes());
            }
            steps += 1;
            cursor = next;
            if cursor == 0 || steps > 1000 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "m{i} missing");
        }
    }
}
