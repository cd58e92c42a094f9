//! A hash map from short byte strings to ids, built for WordPiece's inner loop.
//!
//! Vocabulary tokens are short (bert-base-uncased: 99.99% ≤ 16 bytes, longest 18). Keys are
//! stored inline in their slot as little-endian `u64` words (zero padded), so a probe is one
//! multiply-shift hash and one or two integer compares: no pointer chase and no `memcmp`.
//! Keys of at most 8 bytes (most tokens, and the most frequent ones) live in their own table
//! of 16-byte slots, four to a cache line, so the hot part of the vocabulary stays in L2;
//! keys of 9 to 16 bytes in 24-byte slots; longer keys in an ordinary map. Open addressing,
//! linear probing, load factor ≤ 1/2 (misses, frequent in WordPiece's backoff, end at the
//! first empty slot, so the load factor is kept low).

use rustc_hash::FxHashMap;

/// Longest key stored inline.
pub const INLINE: usize = 16;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    lo: u64,
    hi: u64,
    /// Key length + 1; 0 marks an empty slot.
    len: u32,
    id: u32,
}

/// A slot of the table of keys of at most 8 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct ShortSlot {
    lo: u64,
    /// Key length + 1; 0 marks an empty slot.
    len: u32,
    id: u32,
}

/// An empty slot (length field 0: no key matches it).
const EMPTY_SLOT: ShortSlot = ShortSlot {
    lo: 0,
    len: 0,
    id: 0,
};

/// The home slot of a key (from [`KeyMap::start_ref`]).
#[derive(Clone, Copy, Debug)]
pub struct SlotRef<'a>(&'a ShortSlot);

impl SlotRef<'_> {
    /// An empty slot: holds no key.
    #[inline(always)]
    pub fn empty() -> SlotRef<'static> {
        SlotRef(&EMPTY_SLOT)
    }

    /// The id, if this slot holds `p` (it may still be further along the probe sequence, or
    /// in the table of longer keys: [`KeyMap::get_from`] decides those).
    #[inline(always)]
    pub fn id_of(self, p: Packed) -> Option<u32> {
        (self.0.lo == p.lo && self.0.len == p.len + 1).then_some(self.0.id)
    }
}

/// Open addressing over `Vec<T>` with a multiply-shift hash.
#[derive(Clone, Debug)]
struct Table<T> {
    slots: Vec<T>,
    shift: u32,
}

impl<T: Copy + Default> Table<T> {
    fn with_capacity(keys: usize, load_num: usize, load_den: usize) -> Self {
        let cap = (keys * load_den / load_num + 1).next_power_of_two().max(16);
        Table {
            slots: vec![T::default(); cap],
            shift: 64 - cap.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn home(&self, p: &Packed) -> usize {
        (p.hash() >> self.shift) as usize
    }
}

/// Short byte-string keys → `u32` ids.
#[derive(Clone, Debug)]
pub struct KeyMap {
    short: Table<ShortSlot>,
    mid: Table<Slot>,
    long: FxHashMap<Box<[u8]>, u32>,
    max_len: usize,
}

/// `PREFIX_MASKS[n]`: the low `n` bytes of a 16-byte key as two little-endian words (a table:
/// a 128-bit shift is a dozen instructions).
pub(crate) const PREFIX_MASKS: [[u64; 2]; INLINE + 1] = {
    let mut m = [[0u64; 2]; INLINE + 1];
    let mut n = 1;
    while n <= INLINE {
        m[n][0] = if n >= 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
        m[n][1] = if n >= 16 {
            u64::MAX
        } else if n > 8 {
            (1 << (8 * (n - 8))) - 1
        } else {
            0
        };
        n += 1;
    }
    m
};

/// A key of at most [`INLINE`] bytes, packed for comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed {
    lo: u64,
    hi: u64,
    len: u32,
}

impl Packed {
    /// Pack `key` (at most [`INLINE`] bytes) with overlapping loads: no copy through memory,
    /// so no store-to-load stall.
    #[inline]
    pub fn new(key: &[u8]) -> Packed {
        debug_assert!(key.len() <= INLINE);
        let n = key.len();
        let (lo, hi) = if n >= 8 {
            let lo = u64::from_le_bytes(key[..8].try_into().unwrap());
            let hi = if n > 8 {
                // The last 8 bytes, shifted so that byte 8 of the key lands in byte 0.
                u64::from_le_bytes(key[n - 8..].try_into().unwrap()) >> (8 * (16 - n))
            } else {
                0
            };
            (lo, hi)
        } else if n >= 4 {
            let a = u32::from_le_bytes(key[..4].try_into().unwrap()) as u64;
            let b = u32::from_le_bytes(key[n - 4..].try_into().unwrap()) as u64;
            (a | (b << (8 * (n - 4))), 0)
        } else if n > 0 {
            let (a, b, c) = (key[0] as u64, key[n / 2] as u64, key[n - 1] as u64);
            (a | (b << (8 * (n / 2))) | (c << (8 * (n - 1))), 0)
        } else {
            (0, 0)
        };
        Packed {
            lo,
            hi,
            len: n as u32,
        }
    }

    /// Pack the `n` bytes at `text[s..]` (1 to [`INLINE`]; `s + n <= text.len()`): the same
    /// key as [`Packed::new`], with one 16-byte load and a mask when 16 bytes are readable
    /// (no branch on the length, which varies from word to word and mispredicts).
    #[inline(always)]
    pub fn at(text: &[u8], s: usize, n: usize) -> Packed {
        debug_assert!((1..=INLINE).contains(&n) && s + n <= text.len());
        match text.get(s..s + 16) {
            Some(w) => {
                let [m_lo, m_hi] = PREFIX_MASKS[n];
                Packed {
                    lo: u64::from_le_bytes(w[..8].try_into().unwrap()) & m_lo,
                    hi: u64::from_le_bytes(w[8..].try_into().unwrap()) & m_hi,
                    len: n as u32,
                }
            }
            None => Packed::new(&text[s..s + n]),
        }
    }

    /// A key from its parts: `lo`/`hi` hold `len` bytes little-endian, zero beyond.
    #[inline(always)]
    pub fn from_parts(lo: u64, hi: u64, len: usize) -> Packed {
        debug_assert!(len <= INLINE);
        Packed {
            lo,
            hi,
            len: len as u32,
        }
    }

    /// [`Packed::from_parts`] for a `len` of up to `INLINE + 1`, where `INLINE + 1` gives a
    /// key that no map holds, as [`Packed::unmatchable_if`] does (`lo` and `hi` are then any
    /// bytes).
    #[inline(always)]
    pub fn from_parts_or_unmatchable(lo: u64, hi: u64, len: usize) -> Packed {
        debug_assert!(len <= INLINE + 1);
        Packed {
            lo,
            hi,
            len: len as u32,
        }
    }

    /// This key, or if `yes` a key that no map holds (its length is out of range: it is never
    /// found, and only [`KeyMap::start`] and [`KeyMap::get_from`] may be given it; its
    /// [`Packed::len`] is `INLINE + 1`).
    #[inline(always)]
    pub fn unmatchable_if(self, yes: bool) -> Packed {
        Packed {
            len: if yes { INLINE as u32 + 1 } else { self.len },
            ..self
        }
    }

    /// The key's two words (`len` bytes little-endian, zero beyond).
    #[inline(always)]
    pub fn words(self) -> (u64, u64) {
        (self.lo, self.hi)
    }

    /// The key's length in bytes.
    #[inline(always)]
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// True for the empty key.
    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The key's bytes: the first `len` of the result.
    #[inline(always)]
    pub fn to_bytes(self) -> ([u8; INLINE], usize) {
        let mut b = [0u8; INLINE];
        b[..8].copy_from_slice(&self.lo.to_le_bytes());
        b[8..].copy_from_slice(&self.hi.to_le_bytes());
        (b, self.len as usize)
    }

    /// The same key with ASCII letters lowercased (every byte must be ASCII).
    #[inline(always)]
    pub fn ascii_lowercase(self) -> Packed {
        use crate::rules::ascii_lowercase_u64 as lower;
        Packed {
            lo: lower(self.lo),
            hi: lower(self.hi),
            len: self.len,
        }
    }

    /// A slot index in a table of `n` entries (a power of two).
    #[inline]
    pub fn slot(&self, n: usize) -> usize {
        (self.hash() >> (64 - n.trailing_zeros())) as usize
    }

    #[inline]
    fn hash(&self) -> u64 {
        let h = (self.lo ^ (self.len as u64).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ self.hi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h ^ (h >> 31)
    }

    /// [`Packed::hash`] of a key of at most 8 bytes (`hi` is 0: one multiply fewer, same value).
    #[inline(always)]
    fn hash_short(&self) -> u64 {
        debug_assert!(self.len <= 8 && self.hi == 0);
        let h = (self.lo ^ (self.len as u64).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 31)
    }
}

impl KeyMap {
    /// Build from `(key, id)` pairs, each key once (a key given twice keeps the higher id).
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a [u8], u32)>) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        // Lowest ids first: vocabularies list frequent tokens first (BERT's by frequency,
        // BPE ranks by merge order), and with linear probing the keys inserted first sit in
        // their home slots, so the most frequent lookups take one probe. (Callers pass each
        // key once, so the order among equal ids does not matter.)
        entries.sort_unstable_by_key(|&(_, id)| id);
        let short_keys = entries.iter().filter(|(k, _)| k.len() <= 8).count();
        let mid_keys = entries
            .iter()
            .filter(|(k, _)| (9..=INLINE).contains(&k.len()))
            .count();
        let mut m = KeyMap {
            short: Table::with_capacity(short_keys, 1, 2),
            mid: Table::with_capacity(mid_keys, 1, 2),
            long: FxHashMap::default(),
            max_len: 0,
        };
        for (k, id) in entries {
            m.insert(k, id);
        }
        m
    }

    fn insert(&mut self, key: &[u8], id: u32) {
        self.max_len = self.max_len.max(key.len());
        if key.len() > INLINE {
            self.long.insert(key.into(), id);
            return;
        }
        let p = Packed::new(key);
        if p.len <= 8 {
            let t = &mut self.short;
            let mask = t.slots.len() - 1;
            let mut i = t.home(&p);
            loop {
                let s = &mut t.slots[i];
                if s.len == 0 || (s.len == p.len + 1 && s.lo == p.lo) {
                    *s = ShortSlot {
                        lo: p.lo,
                        len: p.len + 1,
                        id,
                    };
                    return;
                }
                i = (i + 1) & mask;
            }
        }
        let t = &mut self.mid;
        let mask = t.slots.len() - 1;
        let mut i = t.home(&p);
        loop {
            let s = &mut t.slots[i];
            if s.len == 0 || (s.len == p.len + 1 && s.lo == p.lo && s.hi == p.hi) {
                *s = Slot {
                    lo: p.lo,
                    hi: p.hi,
                    len: p.len + 1,
                    id,
                };
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The longest key, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Look up a packed short key.
    #[inline(always)]
    pub fn get_packed(&self, p: Packed) -> Option<u32> {
        if p.len <= 8 {
            let t = &self.short;
            let mask = t.slots.len() - 1;
            let mut i = t.home(&p);
            loop {
                let s = t.slots[i];
                if s.len == p.len + 1 && s.lo == p.lo {
                    return Some(s.id);
                }
                if s.len == 0 {
                    return None;
                }
                i = (i + 1) & mask;
            }
        }
        let t = &self.mid;
        let mask = t.slots.len() - 1;
        let mut i = t.home(&p);
        loop {
            let s = t.slots[i];
            if s.len == p.len + 1 && s.lo == p.lo && s.hi == p.hi {
                return Some(s.id);
            }
            if s.len == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The key's home slot (for [`KeyMap::get_from`]), prefetched: issued for a group of keys
    /// before their lookups, it brings the slots' cache lines in while the CPU does other
    /// work, and the lookups need not hash again.
    #[inline(always)]
    pub fn start(&self, p: Packed) -> usize {
        if p.len <= 8 {
            let i = (p.hash_short() >> self.short.shift) as usize;
            crate::scan::prefetch(&self.short.slots[i]);
            i
        } else {
            let i = self.mid.home(&p);
            crate::scan::prefetch(&self.mid.slots[i]);
            i
        }
    }

    /// [`KeyMap::start`], plus the home slot itself if `p` has at most 8 bytes (else an empty
    /// slot): [`SlotRef::id_of`] then checks it with no index arithmetic or bounds check.
    #[inline(always)]
    pub fn start_ref(&self, p: Packed) -> (usize, SlotRef<'_>) {
        if p.len <= 8 {
            let i = (p.hash_short() >> self.short.shift) as usize;
            let slot = &self.short.slots[i];
            crate::scan::prefetch(slot);
            (i, SlotRef(slot))
        } else {
            let i = self.mid.home(&p);
            crate::scan::prefetch(&self.mid.slots[i]);
            (i, SlotRef(&EMPTY_SLOT))
        }
    }

    /// [`KeyMap::get_packed`] from the home slot that [`KeyMap::start`] gave for `p`.
    #[inline(always)]
    pub fn get_from(&self, p: Packed, mut i: usize) -> Option<u32> {
        if p.len <= 8 {
            let t = &self.short;
            let mask = t.slots.len() - 1;
            loop {
                let s = t.slots[i];
                if s.lo == p.lo && s.len == p.len + 1 {
                    return Some(s.id);
                }
                if s.len == 0 {
                    return None;
                }
                i = (i + 1) & mask;
            }
        }
        let t = &self.mid;
        let mask = t.slots.len() - 1;
        loop {
            let s = t.slots[i];
            if s.lo == p.lo && s.hi == p.hi && s.len == p.len + 1 {
                return Some(s.id);
            }
            if s.len == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Read the key's home slot (its value is meaningless): issued for a batch of keys before
    /// the real lookups, it brings their cache lines in while the CPU does other work.
    #[inline(always)]
    pub fn touch(&self, p: Packed) -> u64 {
        if p.len <= 8 {
            self.short.slots[self.short.home(&p)].lo
        } else {
            self.mid.slots[self.mid.home(&p)].lo
        }
    }

    /// Look up any key.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        if key.len() > INLINE {
            return self.long.get(key).copied();
        }
        self.get_packed(Packed::new(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_at_an_offset_equals_packing_the_slice() {
        let text: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37) | 1).collect();
        for s in 0..text.len() {
            for n in 1..=INLINE.min(text.len() - s) {
                let p = Packed::at(&text, s, n);
                assert_eq!(p, Packed::new(&text[s..s + n]), "{s} {n}");
                let (b, len) = p.to_bytes();
                assert_eq!(&b[..len], &text[s..s + n]);
            }
        }
    }

    #[test]
    fn finds_every_key_and_no_other() {
        let keys: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("k{}{}", i, "x".repeat((i % 23) as usize)).into_bytes())
            .chain([b"".to_vec(), b"\0".to_vec(), b"\0\0".to_vec()])
            .collect();
        let m = KeyMap::new(keys.iter().enumerate().map(|(i, k)| (&k[..], i as u32)));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(i as u32), "{k:?}");
        }
        for miss in [&b"k"[..], b"k5000", b"\0\0\0", b"k1xx", b"zz"] {
            assert_eq!(m.get(miss), None, "{miss:?}");
        }
        // Every length packs like the zero-padded key.
        let bytes: Vec<u8> = (1..=16).collect();
        for n in 0..=16 {
            let mut buf = [0u8; 16];
            buf[..n].copy_from_slice(&bytes[..n]);
            let want = (
                u64::from_le_bytes(buf[..8].try_into().unwrap()),
                u64::from_le_bytes(buf[8..].try_into().unwrap()),
            );
            let p = Packed::new(&bytes[..n]);
            assert_eq!(
                (p.lo, p.hi, p.len),
                (want.0, want.1, n as u32),
                "length {n}"
            );
        }
    }
}
