//! The one mask-walking algorithm, generic over a per-ISA block classifier.
//!
//! `unsafe` here only forwards the target-feature contract of [`Classify::classify`].
#![allow(unsafe_code)]

use super::{MAX_SPANS, Spans};

/// Classes of the 64 bytes of one block, one bit per byte (bit i = byte i).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockMasks {
    /// ASCII whitespace that separates pieces: `\t \n \r` and space.
    pub ws: u64,
    /// ASCII punctuation.
    pub punct: u64,
    /// Bytes the piece finder does not handle: non-ASCII bytes and control characters.
    pub special: u64,
    /// `\n` (also in `ws`): reported as a one-byte span so the caller can report line ends.
    pub newline: u64,
}

/// Classifies one 64-byte block. Implemented once per instruction set.
pub(crate) trait Classify {
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks;
}

/// The scalar classifier: the definition every vector classifier must agree with.
#[cfg(test)]
pub(crate) struct ScalarClassify;

#[cfg(test)]
impl Classify for ScalarClassify {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        use super::class::{BYTE_CLASS, PUNCT, WORD, WS};
        let mut m = BlockMasks::default();
        for (i, &b) in block.iter().enumerate() {
            if b == b'\n' {
                m.newline |= 1 << i;
            }
            match BYTE_CLASS[b as usize] {
                WS => m.ws |= 1 << i,
                PUNCT => m.punct |= 1 << i,
                WORD => {}
                _ => m.special |= 1 << i,
            }
        }
        m
    }
}

/// Append the positions of the set bits of `bits`, plus `base`, to `out` from `*len` on.
///
/// simdjson's flatten: eight unconditional writes per step, so the only branch depends on the
/// popcount, not on each bit. Writes past the new length land in `out`'s slack (64 entries),
/// which the caller reserves.
#[inline(always)]
fn flatten(out: &mut [u32], len: &mut usize, base: u32, mut bits: u64) {
    let count = bits.count_ones() as usize;
    let mut i = *len;
    let end = i + count;
    while i < end {
        for _ in 0..8 {
            out[i] = base + bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            i += 1;
        }
    }
    *len = end;
}

/// See [`super::Scanner::ascii_pieces`].
///
/// # Safety
/// The CPU must support the target features `C::classify` needs.
#[inline(always)]
pub(crate) unsafe fn ascii_pieces<C: Classify>(input: &[u8], out: &mut Spans) -> usize {
    let n = input.len();
    // Piece starts and ends are written to separate arrays; they pair up because pieces
    // never overlap and every start before a stop position has its end before it too.
    let (starts, ends) = (&mut out.starts[..], &mut out.ends[..]);
    let (mut ns, mut ne) = (out.len, out.len);
    let mut pos = 0usize;
    // A word that started in an earlier block and has not ended yet.
    let mut in_word = false;
    let mut word_start = 0usize;
    // Bit 0 of the next block ends a one-byte span (punctuation or newline) at byte 63 of
    // this one.
    let mut single_carry = 0u64;
    let stop = loop {
        if ns + 64 > MAX_SPANS || pos >= n {
            if single_carry != 0 {
                ends[ne] = pos as u32; // the end of a one-byte span at byte 63 of the last block
                ne += 1;
            }
            if in_word {
                ns -= 1; // the unfinished word is the caller's
                break word_start;
            }
            break pos.min(n);
        }
        let m = if pos + 64 <= n {
            let block: &[u8; 64] = input[pos..pos + 64].try_into().unwrap();
            // SAFETY: forwarded from this function's contract.
            unsafe { C::classify(block) }
        } else {
            // The tail, padded with a special byte: a word touching the end stops there.
            let mut block = [0x80u8; 64];
            block[..n - pos].copy_from_slice(&input[pos..]);
            // SAFETY: forwarded from this function's contract.
            unsafe { C::classify(&block) }
        };
        let word = !(m.ws | m.punct | m.special);
        let carry = in_word as u64;
        let word_starts = word & !((word << 1) | carry);
        // Bit i: byte i is the first byte after a word.
        let word_ends = !word & ((word << 1) | carry);
        // One-byte spans: punctuation pieces, and newlines (line ends for the caller).
        let single = m.punct | m.newline;
        let piece_ends = (word_ends & !m.special) | (single << 1) | single_carry;
        // Stop at the first special byte: pieces before it are complete, except a word that
        // runs into it (the caller must see what follows it).
        let first_stop = m.special.trailing_zeros();
        let (upto, through) = if first_stop == 64 {
            (!0u64, !0u64)
        } else {
            let below = (1u64 << first_stop) - 1;
            (below, below | (1u64 << first_stop))
        };
        let mut piece_starts = (word_starts | single) & upto;
        let touching = (word_ends & m.special & through) != 0;
        let base = pos as u32;
        if touching {
            let own = word_starts & upto;
            let resume = if own != 0 {
                // The touching word is the last one to start in this block.
                let last = 63 - own.leading_zeros();
                piece_starts &= !(1u64 << last);
                pos + last as usize
            } else {
                ns -= 1; // the carried word touches it
                word_start
            };
            flatten(starts, &mut ns, base, piece_starts);
            flatten(ends, &mut ne, base, piece_ends & upto);
            break resume;
        }
        flatten(starts, &mut ns, base, piece_starts);
        flatten(ends, &mut ne, base, piece_ends & through);
        if first_stop != 64 {
            break (pos + first_stop as usize).min(n);
        }
        if word >> 63 == 1 {
            if !in_word || word_starts != 0 {
                word_start = pos + (63 - word_starts.leading_zeros()) as usize;
            }
            in_word = true;
        } else {
            in_word = false;
        }
        single_carry = single >> 63;
        pos += 64;
    };
    debug_assert_eq!(ns, ne, "every piece start has its end");
    out.len = ns.min(ne);
    stop
}

/// The scalar classifier, callable safely (tests compare every vector classifier with it).
#[cfg(test)]
pub(crate) fn classify_scalar(block: &[u8; 64]) -> BlockMasks {
    // SAFETY: the scalar classifier needs no target feature.
    unsafe { ScalarClassify::classify(block) }
}

/// The piece finder with the scalar classifier (used by tests to check the walk itself).
#[cfg(test)]
pub(crate) fn ascii_pieces_scalar_masks(input: &[u8], out: &mut Spans) -> usize {
    // SAFETY: the scalar classifier needs no target feature.
    unsafe { ascii_pieces::<ScalarClassify>(input, out) }
}
