//! The BPE pair table: `(left id, right id)` → rank and id of their merge.
//!
//! Merging a piece that is not one token looks up every adjacent pair, and on English most of
//! those lookups are for rare words whose pairs are not in any cache: the table's footprint
//! decides the time. hashbrown's `HashMap<u64, u64>` takes 16 bytes per bucket plus a control
//! byte in another array (two cache lines per lookup, 8.7 MB for cl100k's 233,378 pairs).
//! [`PairTable`] packs key and rank into one `u64` per slot (`left | right << 20 | rank << 40`),
//! open addressing with linear probing at a load of at most one half: one cache line per
//! lookup, 4 MiB for cl100k. Most lookups on Chinese are for pairs that do not merge: a
//! blocked Bloom filter (three bits in one `u64`, 256 KiB for cl100k, at home in L2) answers
//! most of those without touching the slots (hashbrown answers them from its control bytes).
//! Models whose ids or ranks do not fit those fields (none of the shipped ones) keep the hash
//! map.

use rustc_hash::FxHashMap;

/// Bits of each id in a packed key.
const ID_BITS: u32 = 20;
/// Mask of the key (both ids) in a slot.
const KEY_MASK: u64 = (1 << (2 * ID_BITS)) - 1;
/// Ranks must be below this to fit the slot's top 24 bits.
const RANK_LIMIT: u64 = 1 << (64 - 2 * ID_BITS);
/// An empty slot: its key part (all ones) is no pair of valid ids (ids are below 2^20 - 1).
const EMPTY: u64 = u64::MAX;

/// `rank << 32 | merged id` of a pair that merges (the encoding [`PairTable::get`] returns).
pub(crate) type Merge = u64;

/// No merge: ranks compare as `u64`, so this is above every `rank << 32 | id`.
pub(crate) const NO_MERGE: Merge = u64::MAX;

/// Which pairs merge, at what rank, into which id.
#[derive(Clone, Debug)]
pub(crate) enum PairTable {
    /// Packed open addressing (see the module doc).
    Packed(PackedPairs),
    /// Any ids and ranks.
    Map(FxHashMap<u64, u64>),
}

/// The packed table and its filter.
#[derive(Clone, Debug)]
pub(crate) struct PackedPairs {
    slots: Box<[u64]>,
    /// `64 - log2(slots.len())`: the hash's top bits index the table.
    shift: u32,
    /// Merged id by rank; empty when every merge's id is its rank (tiktoken files).
    ids: Box<[u32]>,
    /// Blocked Bloom filter of the keys: the [`filter_bits`] of a key's [`filter_hash`] are
    /// all set in word [`word_index`] if the key is in the table.
    filter: Box<[u64]>,
    /// `64 - log2(filter.len())`.
    filter_shift: u32,
}

#[inline(always)]
fn pair_key(a: u32, b: u32) -> u64 {
    u64::from(a) | u64::from(b) << ID_BITS
}

#[inline(always)]
fn home(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// The filter's hash of a key (another multiplier than [`home`]'s, so that the two are
/// independent): the top bits pick the word, the low 18 bits three bits in it.
#[inline(always)]
fn filter_hash(key: u64) -> u64 {
    key.wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

#[inline(always)]
fn word_index(h: u64, shift: u32) -> usize {
    // `shift` is 64 for a one-word filter: no shift by 64.
    h.checked_shr(shift).unwrap_or(0) as usize
}

#[inline(always)]
fn filter_bits(h: u64) -> u64 {
    1 << (h & 63) | 1 << ((h >> 6) & 63) | 1 << ((h >> 12) & 63)
}

impl PairTable {
    /// A table of `merges` (`(left, right, rank, merged id)`) of a vocabulary of `tokens`
    /// ids (every id [`PairTable::get`] will be asked about is below it); a repeated pair
    /// keeps its last entry, as Hugging Face's map does.
    pub(crate) fn new(merges: &[(u32, u32, u32, u32)], tokens: usize) -> PairTable {
        let fits = tokens < (1 << ID_BITS) - 1
            && merges.iter().all(|&(a, b, rank, _)| {
                (a.max(b) as usize) < tokens && u64::from(rank) < RANK_LIMIT
            });
        if fits {
            return PairTable::Packed(PackedPairs::new(merges));
        }
        let mut map = FxHashMap::default();
        map.reserve(merges.len());
        for &(a, b, rank, id) in merges {
            map.insert(
                u64::from(a) << 32 | u64::from(b),
                u64::from(rank) << 32 | u64::from(id),
            );
        }
        PairTable::Map(map)
    }

    /// `rank << 32 | id` of merging `a` and `b`, or [`NO_MERGE`].
    #[inline(always)]
    pub(crate) fn get(&self, a: u32, b: u32) -> Merge {
        match self {
            PairTable::Packed(t) => t.get(a, b),
            PairTable::Map(map) => map
                .get(&(u64::from(a) << 32 | u64::from(b)))
                .copied()
                .unwrap_or(NO_MERGE),
        }
    }
}

impl PackedPairs {
    /// The packed table of `merges`, whose ids and ranks fit the slot's fields.
    fn new(merges: &[(u32, u32, u32, u32)]) -> PackedPairs {
        let size = (merges.len() * 2).next_power_of_two().max(16);
        let shift = 64 - size.trailing_zeros();
        let mut slots = vec![EMPTY; size].into_boxed_slice();
        for &(a, b, rank, _) in merges {
            let key = pair_key(a, b);
            let mut i = home(key, shift);
            while slots[i] != EMPTY && slots[i] & KEY_MASK != key {
                i = (i + 1) & (size - 1);
            }
            slots[i] = key | u64::from(rank) << (2 * ID_BITS);
        }
        // About eight keys per 64-bit word: a false positive rate of a few per cent.
        let words = (merges.len() / 8).next_power_of_two().max(1);
        let filter_shift = 64 - words.trailing_zeros();
        let mut filter = vec![0u64; words].into_boxed_slice();
        for &(a, b, _, _) in merges {
            let h = filter_hash(pair_key(a, b));
            filter[word_index(h, filter_shift)] |= filter_bits(h);
        }
        let ids: Box<[u32]> = if merges.iter().all(|&(_, _, rank, id)| rank == id) {
            Box::default()
        } else {
            let top = merges.iter().map(|m| m.2 as usize + 1).max().unwrap_or(0);
            let mut ids = vec![0; top];
            // Slots hold each pair's last rank; the id of every rank is recorded.
            for &(_, _, rank, id) in merges {
                ids[rank as usize] = id;
            }
            ids.into_boxed_slice()
        };
        PackedPairs {
            slots,
            shift,
            ids,
            filter,
            filter_shift,
        }
    }

    #[inline(always)]
    fn get(&self, a: u32, b: u32) -> Merge {
        debug_assert!((a | b) < (1 << ID_BITS) - 1, "ids below `tokens`");
        let key = pair_key(a, b);
        let h = filter_hash(key);
        let bits = filter_bits(h);
        if self.filter[word_index(h, self.filter_shift)] & bits != bits {
            return NO_MERGE;
        }
        let mask = self.slots.len() - 1;
        let mut i = home(key, self.shift);
        loop {
            let s = self.slots[i];
            if s & KEY_MASK == key {
                let rank = s >> (2 * ID_BITS);
                let id = if self.ids.is_empty() {
                    rank
                } else {
                    u64::from(self.ids[rank as usize])
                };
                return rank << 32 | id;
            }
            if s == EMPTY {
                return NO_MERGE;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed table answers as a hash map of the same merges, for present and absent pairs
    /// and repeated pairs (last entry wins), with identity and non-identity ids.
    #[test]
    fn packed_table_agrees_with_a_map() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |m: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(m)) as u32
        };
        for identity in [true, false] {
            let mut merges = Vec::new();
            for rank in 0..20_000u32 {
                let (a, b) = (next(3000), next(3000));
                let id = if identity { rank } else { next(1 << 19) };
                merges.push((a, b, rank, id));
            }
            // Repeats of earlier pairs with a later rank.
            for k in 0..500 {
                let (a, b, _, _) = merges[k * 7];
                let rank = merges.len() as u32;
                merges.push((a, b, rank, if identity { rank } else { 7 }));
            }
            let table = PairTable::new(&merges, 1 << 19);
            assert!(matches!(table, PairTable::Packed(_)));
            let mut map = FxHashMap::default();
            for &(a, b, rank, id) in &merges {
                map.insert((a, b), u64::from(rank) << 32 | u64::from(id));
            }
            for a in 0..300 {
                for b in 0..300 {
                    let want = map.get(&(a, b)).copied().unwrap_or(NO_MERGE);
                    assert_eq!(table.get(a, b), want, "pair ({a}, {b})");
                }
            }
            for (&(a, b), &want) in &map {
                assert_eq!(table.get(a, b), want);
            }
            assert_eq!(table.get((1 << 19) - 1, 0), NO_MERGE);
        }
    }

    /// Ids or ranks too large for the packed slots fall back to the map, same answers.
    #[test]
    fn large_ids_use_the_map() {
        let merges = [(1u32 << 20, 5, 0, 7), (3, 4, 1, 1 << 25)];
        let table = PairTable::new(&merges, (1 << 25) + 1);
        assert!(matches!(table, PairTable::Map(_)));
        assert_eq!(table.get(1 << 20, 5), 7);
        assert_eq!(table.get(3, 4), 1 << 32 | 1 << 25);
        assert_eq!(table.get(4, 3), NO_MERGE);
        let ranks = [(1u32, 2, 1u32 << 24, 9)];
        assert!(matches!(PairTable::new(&ranks, 10), PairTable::Map(_)));
        assert!(matches!(
            PairTable::new(&[(1, 2, 3, 3)], 1 << 20),
            PairTable::Map(_)
        ));
        assert!(matches!(
            PairTable::new(&[(1, 2, 3, 3)], 10),
            PairTable::Packed(_)
        ));
    }
}
