//! Sorted set values: a `listpack` (small: members sorted by (score, member)) that converts to
//! a `skiplist` once it has more than `zset-max-listpack-entries` members or a member longer
//! than `zset-max-listpack-value` bytes.
//!
//! ## Order
//!
//! Elements are ordered by score, ties broken by member bytes (memcmp), as Redis orders them.
//! `-0.0` and `0.0` compare equal (IEEE), so the member decides between them. A `listpack`
//! stores scores as text and Redis writes `-0.0` there as `0`, so the listpack encoding keeps
//! `+0.0` where the skiplist keeps the sign.
//!
//! ## The `skiplist` encoding
//!
//! Redis pairs a member -> score dict with a skiplist whose links carry spans, which gives
//! O(log n) insert, delete, rank and select-by-rank. ferrokv keeps the same pair of indexes:
//!
//! - `map`: member -> score, the keyspace's [`DenseMap`] (O(1) lookups, O(1) random sampling
//!   for ZRANDMEMBER, and a ZSCAN cursor that survives deletions, like sets).
//! - `tree`: a [`ScoreTree`], a treap over (score, member) whose nodes count their subtree, so
//!   rank, select and range bounds are O(log n) expected and iterating k elements from a rank
//!   is O(log n + k). Nodes live in one vector (indices instead of pointers) and freed slots
//!   are reused; the vector is compacted when more than half of it is free. Updates are
//!   iterative and top-down; a score change keeps the member's node, changing only the
//!   score when the rank stays (as `zslUpdateScore` does), else unlinking and relinking it.
//!
//! Members are [`Key`]s in both encodings: up to 22 bytes inline (no allocation). The skiplist
//! encoding keeps a copy in the map and one in the tree node; a longer member is boxed twice.
//!
//! Like Redis 7.0, a zset never converts back to `listpack` when it shrinks; a fresh build
//! ([`ZSetValue::from_pairs`], used by RDB load and the `*STORE` commands) picks the encoding
//! from the data.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use super::scorepack::{PackIter, ScorePack};
use crate::config::StoreConfig;
use crate::dense_map::DenseMap;
use crate::key::Key;

/// Member -> score map of the `skiplist` encoding.
pub type ScoreMap = DenseMap<f64>;

/// An owned copy of a stored member (for replies).
fn owned(member: &[u8]) -> Bytes {
    Bytes::copy_from_slice(member)
}

/// The total order of a sorted set: score, then member bytes.
pub fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// Whether (score, member) comes before `node`'s element ([`cmp_entry`] reading the node's
/// member only on a score tie).
fn key_below(score: f64, member: &[u8], node: &Node) -> bool {
    // Plain `<`/`>` instead of `partial_cmp`: same answers (a NaN score is never stored), fewer
    // instructions on the hottest comparison.
    if score < node.score {
        true
    } else if score > node.score {
        false
    } else {
        member < node.member.as_slice()
    }
}

/// How a listpack stores a score: `-0.0` becomes `0` (see the module doc).
fn listpack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

#[derive(Debug, Clone)]
pub enum ZSetValue {
    /// Sorted by (score, member); members unique.
    Listpack(ScorePack),
    Skiplist(Box<SkipIndex>),
}

/// The `skiplist` encoding: both indexes always hold the same elements.
#[derive(Debug, Clone, Default)]
pub struct SkipIndex {
    pub map: ScoreMap,
    pub tree: ScoreTree,
}

impl SkipIndex {
    /// [`ZSetValue::upsert`] on the `skiplist` encoding: a changed score moves the member's
    /// tree node instead of replacing it.
    fn upsert<R>(
        &mut self,
        member: &[u8],
        decide: impl FnOnce(Option<f64>) -> (Option<f64>, R),
    ) -> R {
        let SkipIndex { map, tree } = self;
        match map.get_mut(member) {
            Some(cur) => {
                let old = *cur;
                let (new, out) = decide(Some(old));
                if let Some(score) = new {
                    *cur = score;
                    tree.update(member, old, score);
                }
                out
            }
            None => {
                let (new, out) = decide(None);
                if let Some(score) = new {
                    self.insert_new(member, score);
                }
                out
            }
        }
    }

    /// Adds a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        self.tree.insert(Key::new(member), score);
        self.map.insert(member, score);
    }
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(ScorePack::default())
    }
}

impl ZSetValue {
    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.len(),
            ZSetValue::Skiplist(s) => s.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds a zset with the encoding Redis picks for fresh data (RDB load, `*STORE`
    /// results): `listpack` when there are at most `zset-max-listpack-entries` members and
    /// none is longer than `zset-max-listpack-value`, else `skiplist`. A member given twice
    /// keeps its last score.
    pub fn from_pairs<I, M>(pairs: I, cfg: &StoreConfig) -> ZSetValue
    where
        I: IntoIterator<Item = (M, f64)>,
        M: AsRef<[u8]>,
    {
        let mut map = ScoreMap::default();
        for (m, s) in pairs {
            map.insert(m.as_ref(), s);
        }
        let compact = map.len() <= cfg.zset_max_listpack_entries
            && map
                .keys()
                .all(|m| m.as_slice().len() <= cfg.zset_max_listpack_value);
        if compact {
            let mut v: Vec<(Key, f64)> = map
                .into_iter()
                .map(|(m, s)| (m, listpack_score(s)))
                .collect();
            v.sort_by(|a, b| cmp_entry(a.1, a.0.as_slice(), b.1, b.0.as_slice()));
            ZSetValue::Listpack(ScorePack::from_sorted(
                v.iter().map(|(m, s)| (m.as_slice(), *s)),
            ))
        } else {
            let mut tree = ScoreTree::default();
            for (m, s) in map.iter() {
                tree.insert(m.clone(), *s);
            }
            ZSetValue::Skiplist(Box::new(SkipIndex { map, tree }))
        }
    }

    /// Every (member, score), ascending.
    pub fn iter(&self) -> ZIter<'_> {
        self.iter_from(0, false)
    }

    /// Iterates from ascending rank `rank`: upwards, or downwards when `rev` (then `rank` is
    /// the ascending rank of the first element yielded).
    pub fn iter_from(&self, rank: usize, rev: bool) -> ZIter<'_> {
        match self {
            ZSetValue::Listpack(v) => ZIter::Pack(v.iter_from(rank, rev)),
            ZSetValue::Skiplist(s) => {
                if rev {
                    ZIter::Tree(s.tree.iter_rev_from(rank))
                } else {
                    ZIter::Tree(s.tree.iter_from(rank))
                }
            }
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => v.score(member),
            ZSetValue::Skiplist(s) => s.map.get(member).copied(),
        }
    }

    /// Sets `member`'s score, adding it if missing (converting to `skiplist` first when the
    /// listpack limits would be exceeded). Returns whether the member was new.
    pub fn insert(&mut self, member: &[u8], score: f64, cfg: &StoreConfig) -> bool {
        self.upsert(member, cfg, |cur| (Some(score), cur.is_none()))
    }

    /// Looks `member` up once and lets `decide` choose from its current score (`None` when
    /// missing) what to store: `Some(score)` sets it, adding the member if missing (converting
    /// to `skiplist` first when the listpack limits would be exceeded); `None` leaves the set
    /// as it is. Returns what `decide` returned beside the score.
    pub fn upsert<R>(
        &mut self,
        member: &[u8],
        cfg: &StoreConfig,
        decide: impl FnOnce(Option<f64>) -> (Option<f64>, R),
    ) -> R {
        if let ZSetValue::Listpack(v) = self {
            match v.find(member) {
                Some(found) => {
                    let (new, out) = decide(Some(found.score));
                    if let Some(score) = new {
                        v.remove_found(found);
                        v.insert_new(member, listpack_score(score));
                    }
                    return out;
                }
                None => {
                    let (new, out) = decide(None);
                    let Some(score) = new else {
                        return out;
                    };
                    if v.len() < cfg.zset_max_listpack_entries
                        && member.len() <= cfg.zset_max_listpack_value
                    {
                        v.insert_new(member, listpack_score(score));
                        return out;
                    }
                    self.convert_to_skiplist();
                    if let ZSetValue::Skiplist(s) = self {
                        s.insert_new(member, score);
                    }
                    return out;
                }
            }
        }
        match self {
            ZSetValue::Skiplist(s) => s.upsert(member, decide),
            // Handled above.
            ZSetValue::Listpack(_) => decide(None).1,
        }
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => v.remove(member),
            ZSetValue::Skiplist(s) => {
                let score = s.map.swap_remove(member)?;
                s.tree.remove(member, score);
                Some(score)
            }
        }
    }

    /// Ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Listpack(v) => v.rank(member),
            ZSetValue::Skiplist(s) => {
                let score = *s.map.get(member)?;
                s.tree.rank(member, score)
            }
        }
    }

    /// The element at ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(Bytes, f64)> {
        self.iter_from(rank, false)
            .next()
            .map(|(m, s)| (owned(m), s))
    }

    /// How many elements come before the first one for which `before` is false. `before`
    /// must hold for a prefix of the order (e.g. "score < min").
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.count_before(before),
            ZSetValue::Skiplist(s) => s.tree.count_before(before),
        }
    }

    /// The element at position `i` of the member index (any fixed order; for sampling).
    pub fn entry_at(&self, i: usize) -> Option<(Bytes, f64)> {
        match self {
            ZSetValue::Listpack(v) => v.iter().nth(i).map(|(m, sc)| (owned(m), sc)),
            ZSetValue::Skiplist(s) => s.map.get_index(i).map(|(m, sc)| (owned(m.as_slice()), *sc)),
        }
    }

    /// One ZSCAN step: `(next cursor, pairs)`. A listpack is returned whole with cursor 0;
    /// a skiplist walks its member index downwards (see `SetValue::scan_step`).
    pub fn scan_step(&self, cursor: u64, count: usize) -> (u64, Vec<(Bytes, f64)>) {
        match self {
            ZSetValue::Listpack(v) => (0, v.iter().map(|(m, sc)| (owned(m), sc)).collect()),
            ZSetValue::Skiplist(s) => {
                let len = s.map.len();
                let mut next = if cursor == 0 || cursor > len as u64 {
                    len
                } else {
                    cursor as usize
                };
                let mut out = Vec::with_capacity(count.clamp(1, 1024));
                while next > 0 && out.len() < count.max(1) {
                    if let Some((m, sc)) = s.map.get_index(next - 1) {
                        out.push((owned(m.as_slice()), *sc));
                    }
                    next -= 1;
                }
                (next as u64, out)
            }
        }
    }

    /// Converts a listpack to the skiplist encoding (no-op if already one).
    pub fn convert_to_skiplist(&mut self) {
        if let ZSetValue::Listpack(v) = self {
            let mut idx = SkipIndex::default();
            idx.map.reserve(v.len() + 1);
            for (m, s) in v.iter() {
                idx.map.insert(m, s);
                idx.tree.insert(Key::new(m), s);
            }
            *self = ZSetValue::Skiplist(Box::new(idx));
        }
    }
}

/// Iterator over (member, score) pairs (see [`ZSetValue::iter_from`]).
pub enum ZIter<'a> {
    Pack(PackIter<'a>),
    Tree(TreeIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Pack(it) => it.next(),
            ZIter::Tree(it) => it.next(),
        }
    }
}

// ---- the order-statistic tree ------------------------------------------------------------

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    member: Key,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in this subtree, this one included.
    size: u32,
    /// Heap priority: a parent's is never below its children's.
    prio: u32,
}

/// A treap over (score, member) with subtree sizes. Callers keep members unique (the member
/// map of [`SkipIndex`] says whether one is present and with which score).
///
/// Every update is iterative and top-down: a search records its path in `path` (a scratch
/// vector kept to avoid an allocation per call) and subtree sizes are adjusted along it, so
/// no node off the path is read except the few that rotations and merges move.
#[derive(Debug, Clone)]
pub struct ScoreTree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    rng: u64,
    path: Vec<u32>,
}

impl Default for ScoreTree {
    fn default() -> Self {
        // Random priorities make the expected depth O(log n) whatever the insertion order; the
        // seed comes from std's randomly keyed hasher so that clients cannot predict it.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        ScoreTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: seed | 1,
            path: Vec::new(),
        }
    }
}

impl ScoreTree {
    pub fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// Points `parent`'s link that held `old` (the root when `parent` is `NIL`) at `new`.
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else {
            let p = &mut self.nodes[parent as usize];
            if p.left == old {
                p.left = new;
            } else {
                p.right = new;
            }
        }
    }

    /// Inserts (member, score); the caller guarantees the member is not in the tree.
    pub fn insert(&mut self, member: Key, score: f64) {
        let node = Node {
            member,
            score,
            left: NIL,
            right: NIL,
            size: 1,
            prio: self.next_prio(),
        };
        let n = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.link(n);
    }

    /// Links the detached node `n` (no children, size 1) into the tree, top-down:
    ///
    /// 1. descend from the root towards `n`'s key while the nodes passed outrank `n`'s
    ///    priority, counting `n` in each of their sizes (the key is new, so each of them gains
    ///    exactly `n`);
    /// 2. `n` takes the place of the first node it outranks, and that node's subtree splits
    ///    around `n`'s key into `n`'s children.
    fn link(&mut self, n: u32) {
        let (score, prio) = {
            let node = &self.nodes[n as usize];
            (node.score, node.prio)
        };
        // Moved out for the descent (the node is detached, nothing reads it meanwhile).
        let member = std::mem::take(&mut self.nodes[n as usize].member);
        let mut parent = NIL;
        let mut on_left = false;
        let mut t = self.root;
        while t != NIL {
            let cur = &mut self.nodes[t as usize];
            if cur.prio < prio {
                break;
            }
            cur.size += 1;
            on_left = key_below(score, member.as_slice(), cur);
            parent = t;
            t = if on_left { cur.left } else { cur.right };
        }
        let below = self.size(t);
        let (l, r) = self.split(t, score, member.as_slice());
        let node = &mut self.nodes[n as usize];
        node.left = l;
        node.right = r;
        node.size = below + 1;
        node.member = member;
        if parent == NIL {
            self.root = n;
        } else if on_left {
            self.nodes[parent as usize].left = n;
        } else {
            self.nodes[parent as usize].right = n;
        }
    }

    /// Splits the subtree `t` into (elements below (score, member), the others), top-down:
    /// each node on the search path goes to the side it belongs to, hung on the open inner
    /// link of that side; then the path's sizes are recomputed bottom-up.
    fn split(&mut self, mut t: u32, score: f64, member: &[u8]) -> (u32, u32) {
        self.path.clear();
        let (mut l_root, mut r_root) = (NIL, NIL);
        // The last node put on each side; its inner link (right for L, left for R) is open.
        let (mut l_hook, mut r_hook) = (NIL, NIL);
        while t != NIL {
            self.path.push(t);
            let node = &self.nodes[t as usize];
            let goes_left = !key_below(score, member, node);
            let next = if goes_left { node.right } else { node.left };
            if goes_left {
                if l_hook == NIL {
                    l_root = t;
                } else {
                    self.nodes[l_hook as usize].right = t;
                }
                l_hook = t;
            } else {
                if r_hook == NIL {
                    r_root = t;
                } else {
                    self.nodes[r_hook as usize].left = t;
                }
                r_hook = t;
            }
            t = next;
        }
        if l_hook != NIL {
            self.nodes[l_hook as usize].right = NIL;
        }
        if r_hook != NIL {
            self.nodes[r_hook as usize].left = NIL;
        }
        // A path node's children are off the path (sizes unchanged) or deeper on it.
        for i in (0..self.path.len()).rev() {
            let p = self.path[i] as usize;
            let (l, r) = (self.nodes[p].left, self.nodes[p].right);
            self.nodes[p].size = 1 + self.size(l) + self.size(r);
        }
        (l_root, r_root)
    }

    /// Finds the node holding (member, score), leaving the path from the root to its parent
    /// in `self.path`.
    fn find(&mut self, member: &[u8], score: f64) -> Option<u32> {
        self.path.clear();
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let next = if score < n.score {
                n.left
            } else if score > n.score {
                n.right
            } else {
                match member.cmp(n.member.as_slice()) {
                    Ordering::Equal => return Some(t),
                    Ordering::Less => n.left,
                    Ordering::Greater => n.right,
                }
            };
            self.path.push(t);
            t = next;
        }
        None
    }

    /// Detaches the node `t` found by [`find`](Self::find) (its path still in `self.path`):
    /// every ancestor loses one element and `t`'s place goes to the merge of its children.
    fn unlink(&mut self, t: u32) {
        for &p in &self.path {
            self.nodes[p as usize].size -= 1;
        }
        let (l, r) = (self.nodes[t as usize].left, self.nodes[t as usize].right);
        let merged = self.merge(l, r);
        let parent = self.path.last().copied().unwrap_or(NIL);
        self.replace_child(parent, t, merged);
        let node = &mut self.nodes[t as usize];
        node.left = NIL;
        node.right = NIL;
        node.size = 1;
    }

    /// Joins two treaps where every element of `a` is below every element of `b`, top-down:
    /// the root with the higher priority wins and absorbs the other tree's size, and the
    /// merge goes on in its inner subtree (right of `a`, left of `b`).
    fn merge(&mut self, mut a: u32, mut b: u32) -> u32 {
        let mut root = NIL;
        // Where the next merged subtree hangs: (parent, on its left side).
        let mut hook: Option<(u32, bool)> = None;
        loop {
            let (sub, done) = if a == NIL {
                (b, true)
            } else if b == NIL {
                (a, true)
            } else if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
                self.nodes[a as usize].size += self.nodes[b as usize].size;
                (a, false)
            } else {
                self.nodes[b as usize].size += self.nodes[a as usize].size;
                (b, false)
            };
            match hook {
                None => root = sub,
                Some((p, true)) => self.nodes[p as usize].left = sub,
                Some((p, false)) => self.nodes[p as usize].right = sub,
            }
            if done {
                return root;
            }
            if sub == a {
                hook = Some((a, false));
                a = self.nodes[a as usize].right;
            } else {
                hook = Some((b, true));
                b = self.nodes[b as usize].left;
            }
        }
    }

    /// Removes (member, score). Returns whether it was there.
    pub fn remove(&mut self, member: &[u8], score: f64) -> bool {
        let Some(t) = self.find(member, score) else {
            return false;
        };
        self.unlink(t);
        self.nodes[t as usize].member = Key::default();
        self.free.push(t);
        if self.free.len() > 64 && self.free.len() * 2 > self.nodes.len() {
            self.compact();
        }
        true
    }

    /// Moves `member` from score `old` to score `new`, reusing its node. When the element
    /// keeps its rank (its neighbours in the order still surround the new score) only the
    /// score changes, as Redis's `zslUpdateScore` does; otherwise the node is unlinked and
    /// linked again. Returns whether (member, old) was there.
    pub fn update(&mut self, member: &[u8], old: f64, new: f64) -> bool {
        let Some(t) = self.find(member, old) else {
            return false;
        };
        if self.keeps_rank(t, member, new) {
            self.nodes[t as usize].score = new;
            return true;
        }
        self.unlink(t);
        self.nodes[t as usize].score = new;
        self.link(t);
        true
    }

    /// Whether `t` (just found, its path in `self.path`) would stay between its predecessor
    /// and successor with score `new`.
    fn keeps_rank(&self, t: u32, member: &[u8], new: f64) -> bool {
        let (pred, succ) = self.neighbours(t);
        // How a neighbour compares with the moved element; a missing one never objects.
        let vs_new = |x: Option<u32>, missing: Ordering| match x {
            Some(x) => {
                let n = &self.nodes[x as usize];
                cmp_entry(n.score, n.member.as_slice(), new, member)
            }
            None => missing,
        };
        vs_new(pred, Ordering::Less) == Ordering::Less
            && vs_new(succ, Ordering::Greater) == Ordering::Greater
    }

    /// The in-order predecessor and successor of `t`, whose root path is in `self.path`.
    fn neighbours(&self, t: u32) -> (Option<u32>, Option<u32>) {
        let node = &self.nodes[t as usize];
        let mut pred = None;
        let mut succ = None;
        if node.left != NIL {
            let mut c = node.left;
            while self.nodes[c as usize].right != NIL {
                c = self.nodes[c as usize].right;
            }
            pred = Some(c);
        }
        if node.right != NIL {
            let mut c = node.right;
            while self.nodes[c as usize].left != NIL {
                c = self.nodes[c as usize].left;
            }
            succ = Some(c);
        }
        // The nearest ancestor reached by a right (left) step precedes (follows) `t`.
        let mut child = t;
        for &p in self.path.iter().rev() {
            if pred.is_some() && succ.is_some() {
                break;
            }
            if self.nodes[p as usize].right == child {
                pred = pred.or(Some(p));
            } else {
                succ = succ.or(Some(p));
            }
            child = p;
        }
        (pred, succ)
    }

    /// Rebuilds the node vector without free slots.
    fn compact(&mut self) {
        let live = self.len();
        let nodes = std::mem::take(&mut self.nodes);
        let mut free = std::mem::take(&mut self.free);
        free.sort_unstable();
        let mut free = free.into_iter().peekable();
        self.nodes = Vec::with_capacity(live);
        self.root = NIL;
        for (i, n) in nodes.into_iter().enumerate() {
            if free.next_if(|&f| f as usize == i).is_some() {
                continue;
            }
            self.insert(n.member, n.score);
        }
    }

    /// Ascending rank of (member, score), if present.
    pub fn rank(&self, member: &[u8], score: f64) -> Option<usize> {
        let mut t = self.root;
        let mut acc = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            match cmp_entry(score, member, n.score, n.member.as_slice()) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return Some(acc + self.size(n.left) as usize),
                Ordering::Greater => {
                    acc += self.size(n.left) as usize + 1;
                    t = n.right;
                }
            }
        }
        None
    }

    /// Number of leading elements for which `before` holds (see
    /// [`ZSetValue::count_before`]).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut acc = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if before(n.score, n.member.as_slice()) {
                acc += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        acc
    }

    /// In-order iterator starting at ascending rank `rank`.
    pub fn iter_from(&self, rank: usize) -> TreeIter<'_> {
        let mut stack = Vec::new();
        let mut t = self.root;
        let mut r = rank;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left) as usize;
            match r.cmp(&ls) {
                Ordering::Less => {
                    stack.push(t);
                    t = n.left;
                }
                Ordering::Equal => {
                    stack.push(t);
                    break;
                }
                Ordering::Greater => {
                    r -= ls + 1;
                    t = n.right;
                }
            }
        }
        TreeIter {
            tree: self,
            stack,
            rev: false,
        }
    }

    /// Reverse in-order iterator starting at ascending rank `rank` and going down.
    pub fn iter_rev_from(&self, rank: usize) -> TreeIter<'_> {
        let mut stack = Vec::new();
        if rank < self.len() {
            let mut t = self.root;
            let mut r = rank;
            while t != NIL {
                let n = &self.nodes[t as usize];
                let ls = self.size(n.left) as usize;
                match r.cmp(&ls) {
                    Ordering::Less => t = n.left,
                    Ordering::Equal => {
                        stack.push(t);
                        break;
                    }
                    Ordering::Greater => {
                        stack.push(t);
                        r -= ls + 1;
                        t = n.right;
                    }
                }
            }
        }
        TreeIter {
            tree: self,
            stack,
            rev: true,
        }
    }

    #[cfg(test)]
    fn check_invariants(&self) -> usize {
        fn walk(t: &ScoreTree, n: u32, depth: usize) -> (u32, usize) {
            if n == NIL {
                return (0, depth);
            }
            let node = &t.nodes[n as usize];
            for c in [node.left, node.right] {
                if c != NIL {
                    assert!(t.nodes[c as usize].prio <= node.prio, "heap order");
                }
            }
            let (ls, ld) = walk(t, node.left, depth + 1);
            let (rs, rd) = walk(t, node.right, depth + 1);
            assert_eq!(node.size, ls + rs + 1, "size");
            (node.size, ld.max(rd))
        }
        let (_, depth) = walk(self, self.root, 0);
        depth
    }
}

/// In-order iterator over the tree, upwards or (`rev`) downwards.
pub struct TreeIter<'a> {
    tree: &'a ScoreTree,
    /// Nodes still to yield, the next on top (each with its subtree on the far side).
    stack: Vec<u32>,
    rev: bool,
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.stack.pop()?;
        let nodes = &self.tree.nodes;
        let n = &nodes[t as usize];
        // The next element is the nearest one of the subtree on the iteration side.
        let (mut c, toward): (u32, fn(&Node) -> u32) = if self.rev {
            (n.left, |n| n.right)
        } else {
            (n.right, |n| n.left)
        };
        while c != NIL {
            self.stack.push(c);
            c = toward(&nodes[c as usize]);
        }
        Some((n.member.as_slice(), n.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(entries: usize, value: usize) -> StoreConfig {
        StoreConfig {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..StoreConfig::default()
        }
    }

    fn members(z: &ZSetValue) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap(), s))
            .collect()
    }

    #[test]
    fn listpack_converts_past_entries_or_long_member() {
        let c = cfg(2, 4);
        let mut z = ZSetValue::default();
        assert!(z.insert(b"a", 2.0, &c));
        assert!(z.insert(b"b", 1.0, &c));
        assert_eq!(z.encoding_name(), "listpack");
        assert!(!z.insert(b"a", 0.5, &c));
        assert_eq!(members(&z), vec![("a".into(), 0.5), ("b".into(), 1.0)]);
        assert!(z.insert(b"c", 3.0, &c));
        assert_eq!(z.encoding_name(), "skiplist");
        assert_eq!(
            members(&z),
            vec![("a".into(), 0.5), ("b".into(), 1.0), ("c".into(), 3.0)]
        );

        let mut long = ZSetValue::default();
        long.insert(b"abcde", 1.0, &c);
        assert_eq!(long.encoding_name(), "skiplist");
        long.remove(b"abcde");
        assert!(long.is_empty());
    }

    #[test]
    fn ties_order_by_member_and_negative_zero() {
        let c = cfg(128, 64);
        let mut z = ZSetValue::default();
        z.insert(b"b", -0.0, &c);
        z.insert(b"a", 0.0, &c);
        z.insert(b"c", 0.0, &c);
        let names: Vec<String> = members(&z).into_iter().map(|(m, _)| m).collect();
        assert_eq!(names, ["a", "b", "c"]);
        // A listpack stores -0 as 0; a skiplist keeps the sign.
        assert!(z.score(b"b").unwrap().is_sign_positive());
        let mut big = ZSetValue::default();
        big.convert_to_skiplist();
        big.insert(b"b", -0.0, &c);
        assert!(big.score(b"b").unwrap().is_sign_negative());
    }

    #[test]
    fn from_pairs_picks_the_fresh_encoding() {
        let c = cfg(2, 3);
        let p = |v: &[(&str, f64)]| {
            v.iter()
                .map(|(m, s)| (Bytes::from(m.to_string()), *s))
                .collect::<Vec<_>>()
        };
        let z = ZSetValue::from_pairs(p(&[("b", 1.0), ("a", 1.0)]), &c);
        assert_eq!(z.encoding_name(), "listpack");
        assert_eq!(members(&z), vec![("a".into(), 1.0), ("b".into(), 1.0)]);
        assert_eq!(
            ZSetValue::from_pairs(p(&[("a", 1.0), ("b", 1.0), ("c", 0.0)]), &c).encoding_name(),
            "skiplist"
        );
        assert_eq!(
            ZSetValue::from_pairs(p(&[("abcd", 1.0)]), &c).encoding_name(),
            "skiplist"
        );
        let z = ZSetValue::from_pairs(p(&[("a", 1.0), ("a", 5.0), ("b", 2.0), ("c", 3.0)]), &c);
        assert_eq!(
            members(&z),
            vec![("b".into(), 2.0), ("c".into(), 3.0), ("a".into(), 5.0)]
        );
    }

    #[test]
    fn rank_select_and_reverse_iteration_on_both_encodings() {
        for entries in [128, 0] {
            let c = cfg(entries, 64);
            let mut z = ZSetValue::default();
            for i in 0..50 {
                z.insert(format!("m{i:02}").as_bytes(), (i % 10) as f64, &c);
            }
            let all = members(&z);
            for (r, (m, s)) in all.iter().enumerate() {
                assert_eq!(z.rank(m.as_bytes()), Some(r));
                assert_eq!(
                    z.get_by_rank(r)
                        .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap(), s)),
                    Some((m.clone(), *s))
                );
                let rev: Vec<f64> = z.iter_from(r, true).map(|(_, s)| s).collect();
                assert_eq!(rev.len(), r + 1);
            }
            assert_eq!(z.count_before(|s, _| s < 3.0), 15);
            assert_eq!(z.iter_from(50, false).count(), 0);
            assert_eq!(z.iter_from(50, true).count(), 0);
        }
    }

    #[test]
    fn tree_compacts_after_mass_deletion() {
        let mut t = ScoreTree::default();
        for i in 0..1000 {
            t.insert(Key::new(format!("{i:04}").as_bytes()), i as f64);
        }
        for i in 0..990 {
            assert!(t.remove(format!("{i:04}").as_bytes(), i as f64));
        }
        assert!(t.nodes.len() < 200, "compacted: {}", t.nodes.len());
        assert_eq!(t.len(), 10);
        t.check_invariants();
        let left: Vec<(Vec<u8>, f64)> = t.iter_from(0).map(|(m, s)| (m.to_vec(), s)).collect();
        let want: Vec<(Vec<u8>, f64)> = (990..1000)
            .map(|i| (format!("{i:04}").into_bytes(), i as f64))
            .collect();
        assert_eq!(left, want);
    }

    #[test]
    fn tree_depth_stays_logarithmic_for_sorted_inserts() {
        let mut t = ScoreTree::default();
        for i in 0..100_000 {
            t.insert(Key::new(b"m"), i as f64);
        }
        assert!(t.check_invariants() < 100);
    }

    #[test]
    fn tree_update_in_place_or_moved_keeps_order() {
        let mut t = ScoreTree::default();
        for (m, s) in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0), ("e", 5.0)] {
            t.insert(Key::new(m.as_ref()), s);
        }
        let order = |t: &ScoreTree| -> Vec<(String, f64)> {
            t.iter_from(0)
                .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap(), s))
                .collect()
        };
        let slots = t.nodes.len();
        // Between its neighbours, and tied with them (the member decides): in place.
        for new in [3.5, 2.0, 4.0, 3.0] {
            assert!(t.update(b"c", t_score(&t, b"c"), new));
            assert_eq!(t.rank(b"c", new), Some(2), "score {new}");
        }
        // Past a neighbour: moved.
        assert!(t.update(b"c", 3.0, 1.0));
        assert_eq!(t.rank(b"c", 1.0), Some(1));
        assert!(t.update(b"c", 1.0, 0.5));
        assert_eq!(t.rank(b"c", 0.5), Some(0));
        assert!(t.update(b"a", 1.0, 9.0));
        assert!(!t.update(b"zz", 1.0, 2.0));
        assert_eq!(t.nodes.len(), slots, "nodes are reused");
        t.check_invariants();
        assert_eq!(
            order(&t),
            [("c", 0.5), ("b", 2.0), ("d", 4.0), ("e", 5.0), ("a", 9.0)]
                .map(|(m, s)| (m.to_string(), s))
        );
    }

    fn t_score(t: &ScoreTree, member: &[u8]) -> f64 {
        t.iter_from(0)
            .find(|&(m, _)| m == member)
            .map(|(_, s)| s)
            .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i8),
        /// Moves a member's score by a quarter, which mostly keeps its rank (in place).
        Nudge(u8, bool),
        Remove(u8),
        Rank(u8),
        Select(u16),
        Below(i8),
        Iter(u16, bool, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => (any::<u8>(), any::<bool>()).prop_map(|(m, up)| Op::Nudge(m, up)),
            2 => any::<u8>().prop_map(Op::Remove),
            1 => any::<u8>().prop_map(Op::Rank),
            1 => any::<u16>().prop_map(Op::Select),
            1 => any::<i8>().prop_map(Op::Below),
            1 => (any::<u16>(), any::<bool>(), any::<u8>()).prop_map(|(r, rev, k)| Op::Iter(r, rev, k)),
        ]
    }

    proptest! {
        /// The skiplist encoding against a sorted-Vec model (which is what the listpack
        /// encoding is), for random operation sequences.
        #[test]
        fn tree_matches_sorted_vec_model(ops in proptest::collection::vec(op(), 1..400)) {
            let c = cfg(0, 64);
            let mut z = ZSetValue::default();
            z.convert_to_skiplist();
            let mut model: Vec<(Bytes, f64)> = Vec::new();
            let key = |m: u8| Bytes::from(format!("m{}", m % 64));
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let m = key(m);
                        let s = (s % 16) as f64 / 2.0;
                        let was_new = !model.iter().any(|(x, _)| *x == m);
                        model.retain(|(x, _)| *x != m);
                        let pos = model.partition_point(|(x, y)| cmp_entry(*y, x, s, &m) == Ordering::Less);
                        model.insert(pos, (m.clone(), s));
                        prop_assert_eq!(z.insert(&m, s, &c), was_new);
                    }
                    Op::Nudge(m, up) => {
                        let m = key(m);
                        if let Some(i) = model.iter().position(|(x, _)| *x == m) {
                            let (m, s) = model.remove(i);
                            let s = if up { s + 0.25 } else { s - 0.25 };
                            let pos = model.partition_point(|(x, y)| cmp_entry(*y, x, s, &m) == Ordering::Less);
                            model.insert(pos, (m.clone(), s));
                            prop_assert!(!z.insert(&m, s, &c));
                        }
                    }
                    Op::Remove(m) => {
                        let m = key(m);
                        let want = model.iter().position(|(x, _)| *x == m).map(|i| model.remove(i).1);
                        prop_assert_eq!(z.remove(&m), want);
                    }
                    Op::Rank(m) => {
                        let m = key(m);
                        prop_assert_eq!(z.rank(&m), model.iter().position(|(x, _)| *x == m));
                    }
                    Op::Select(r) => {
                        let r = r as usize % (model.len() + 2);
                        prop_assert_eq!(z.get_by_rank(r), model.get(r).cloned());
                    }
                    Op::Below(s) => {
                        let s = (s % 16) as f64 / 2.0;
                        prop_assert_eq!(z.count_before(|x, _| x < s), model.partition_point(|(_, x)| *x < s));
                    }
                    Op::Iter(r, rev, k) => {
                        let r = r as usize % (model.len() + 2);
                        let got: Vec<(Bytes, f64)> = z.iter_from(r, rev).take(k as usize).map(|(m, s)| (owned(m), s)).collect();
                        let want: Vec<(Bytes, f64)> = if rev {
                            if r < model.len() { model[..=r].iter().rev().take(k as usize).cloned().collect() } else { Vec::new() }
                        } else {
                            model.iter().skip(r).take(k as usize).cloned().collect()
                        };
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(z.len(), model.len());
                if let ZSetValue::Skiplist(s) = &z {
                    s.tree.check_invariants();
                    prop_assert_eq!(s.tree.len(), s.map.len());
                }
            }
            let all: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (owned(m), s)).collect();
            prop_assert_eq!(all, model);
        }
    }
}
