//! `Intset`: the sorted integers of an `intset`-encoded set, each stored in the smallest
//! width (2, 4 or 8 bytes, little-endian) that fits every member, as Redis's intset does. A
//! member that needs a wider width upgrades the whole set; the width never shrinks back
//! (Redis does not downgrade either). Ten members below 32,768 take 20 bytes, not 80.

/// Sorted, unique `i64`s packed at a common width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intset {
    width: u8,
    buf: Vec<u8>,
}

impl Default for Intset {
    fn default() -> Self {
        Intset {
            width: 2,
            buf: Vec::new(),
        }
    }
}

/// The width `n` needs.
fn width_for(n: i64) -> u8 {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

fn read(bytes: &[u8]) -> i64 {
    match bytes.len() {
        2 => i64::from(i16::from_le_bytes([bytes[0], bytes[1]])),
        4 => i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        _ => {
            let mut b = [0; 8];
            b.copy_from_slice(bytes);
            i64::from_le_bytes(b)
        }
    }
}

fn write(n: i64, width: u8, out: &mut [u8]) {
    out.copy_from_slice(&n.to_le_bytes()[..width as usize]);
}

impl Intset {
    /// An intset of `sorted` (ascending, unique).
    pub fn from_sorted(sorted: &[i64]) -> Intset {
        let width = sorted.iter().map(|&n| width_for(n)).max().unwrap_or(2);
        let mut buf = vec![0; sorted.len() * width as usize];
        for (n, out) in sorted.iter().zip(buf.chunks_exact_mut(width as usize)) {
            write(*n, width, out);
        }
        Intset { width, buf }
    }

    pub fn len(&self) -> usize {
        self.buf.len() / self.width as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes allocated (MEMORY USAGE).
    pub fn allocated_bytes(&self) -> usize {
        self.buf.capacity()
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        let w = self.width as usize;
        self.buf.get(i * w..(i + 1) * w).map(read)
    }

    /// Members, ascending.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.buf.chunks_exact(self.width as usize).map(read)
    }

    pub fn to_vec(&self) -> Vec<i64> {
        self.iter().collect()
    }

    /// `Ok(position)` of `n`, or `Err(where it would go)`.
    pub fn binary_search(&self, n: i64) -> Result<usize, usize> {
        if width_for(n) > self.width {
            // Wider than every member: below or above them all.
            return Err(if n < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).map(|m| m.cmp(&n)) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Greater) => hi = mid,
                _ => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Inserts `n` at `pos` (from [`Intset::binary_search`]), widening every member first if
    /// `n` needs it.
    pub fn insert(&mut self, pos: usize, n: i64) {
        let need = width_for(n);
        if need > self.width {
            let members = self.to_vec();
            let mut wider = Intset {
                width: need,
                buf: Vec::with_capacity((members.len() + 1) * need as usize),
            };
            wider.buf.resize(members.len() * need as usize, 0);
            for (m, out) in members
                .iter()
                .zip(wider.buf.chunks_exact_mut(need as usize))
            {
                write(*m, need, out);
            }
            *self = wider;
        }
        let w = self.width as usize;
        super::reserve_small(&mut self.buf, w);
        let at = pos * w;
        self.buf.splice(at..at, std::iter::repeat_n(0, w));
        write(n, self.width, &mut self.buf[at..at + w]);
    }

    /// Removes and returns the member at `pos` (< len).
    pub fn remove(&mut self, pos: usize) -> i64 {
        let w = self.width as usize;
        let n = read(&self.buf[pos * w..(pos + 1) * w]);
        self.buf.drain(pos * w..(pos + 1) * w);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn matches_a_sorted_vector(ops in proptest::collection::vec(
            (proptest::bool::weighted(0.7), proptest::prop_oneof![
                -300i64..300,
                proptest::num::i64::ANY,
                -3_000_000i64..3_000_000,
            ]),
            0..100,
        )) {
            use proptest::prop_assert_eq;
            use proptest::prop_assert;
            let mut set = Intset::default();
            let mut model: Vec<i64> = Vec::new();
            for (add, n) in ops {
                let got = set.binary_search(n);
                let want = model.binary_search(&n);
                prop_assert_eq!(got, want);
                match (add, got) {
                    (true, Err(pos)) => {
                        set.insert(pos, n);
                        model.insert(pos, n);
                    }
                    (false, Ok(pos)) => {
                        prop_assert_eq!(set.remove(pos), model.remove(pos));
                    }
                    _ => {}
                }
                prop_assert_eq!(set.to_vec(), model.clone());
                prop_assert_eq!(set.len(), model.len());
                let widest = model.iter().map(|&m| width_for(m)).max().unwrap_or(2);
                prop_assert!(set.width >= widest);
            }
            prop_assert_eq!(Intset::from_sorted(&model).to_vec(), model);
        }
    }

    #[test]
    fn widths_follow_the_members() {
        let mut s = Intset::from_sorted(&[1, 2, 3]);
        assert_eq!(s.allocated_bytes(), 6);
        let pos = s.binary_search(100_000).unwrap_err();
        s.insert(pos, 100_000);
        assert_eq!((s.width, s.len()), (4, 4));
        let pos = s.binary_search(i64::MIN).unwrap_err();
        s.insert(pos, i64::MIN);
        assert_eq!(s.width, 8);
        assert_eq!(s.to_vec(), [i64::MIN, 1, 2, 3, 100_000]);
        assert_eq!(s.get(5), None);
    }
}
