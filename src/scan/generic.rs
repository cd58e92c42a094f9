//! The one mask-walking algorithm, generic over a per-ISA block classifier.
//!
//! `unsafe` here only forwards the target-feature contract of [`Classify`].
#![allow(unsafe_code)]

use super::{CharTable, MAX_SPANS, Spans};

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

/// The UTF-8 byte classes the CJK part of the walk needs, one bit per byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Utf8Masks {
    /// Continuation bytes `0x80..=0xBF`.
    pub cont: u64,
    /// `0xE5..=0xE9`: leads of U+5000..U+9FFF, all CJK ideographs.
    pub lead_cjk: u64,
    /// `0xE4`: lead of U+4000..U+4FFF, CJK from U+4E00 on (second byte `>= 0xB8`).
    pub lead_e4: u64,
    /// Bytes `>= 0xB8`.
    pub ge_b8: u64,
}

/// Classifies one 64-byte block. Implemented once per instruction set.
pub(crate) trait Classify {
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks;

    /// # Safety
    /// The CPU must support the target features of the implementing type.
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks;

    /// [`flatten_scalar`], or a vector version with the same contract.
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn flatten(out: &mut [u32], len: &mut usize, base: u32, bits: u64) {
        flatten_scalar(out, len, base, bits)
    }
}

/// The scalar classifier: the definition every vector classifier must agree with (and the
/// one used for inputs shorter than a block).
pub(crate) struct ScalarClassify;

impl ScalarClassify {
    pub(crate) fn masks(block: &[u8; 64]) -> BlockMasks {
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

    pub(crate) fn utf8_masks(block: &[u8; 64]) -> Utf8Masks {
        let mut u = Utf8Masks::default();
        for (i, &b) in block.iter().enumerate() {
            u.cont |= ((b & 0xC0 == 0x80) as u64) << i;
            u.lead_cjk |= ((0xE5..=0xE9).contains(&b) as u64) << i;
            u.lead_e4 |= ((b == 0xE4) as u64) << i;
            u.ge_b8 |= ((b >= 0xB8) as u64) << i;
        }
        u
    }
}

impl Classify for ScalarClassify {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        ScalarClassify::masks(block)
    }

    #[inline(always)]
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks {
        ScalarClassify::utf8_masks(block)
    }
}

/// Append the positions of the set bits of `bits`, plus `base`, to `out` from `*len` on.
///
/// simdjson's flatten: eight unconditional writes per step, so the only branch depends on the
/// popcount, not on each bit. Writes past the new length land in `out`'s slack, which the
/// caller reserves: at most 64 entries are written.
#[inline(always)]
pub(crate) fn flatten_scalar(out: &mut [u32], len: &mut usize, base: u32, mut bits: u64) {
    let count = bits.count_ones() as usize;
    let mut i = *len;
    let end = i + count;
    // Whole steps of eight from `*len`: every write is below `*len + 64`.
    assert!(*len + 64 <= out.len(), "span buffer without slack");
    while i < end {
        for _ in 0..8 {
            // SAFETY: `i < *len + 64 <= out.len()` (checked above): the loop stops at the
            // first multiple of eight steps that reaches `end <= *len + 64`.
            *unsafe { out.get_unchecked_mut(i) } = base + bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            i += 1;
        }
    }
    *len = end;
}

/// Masks of an input shorter than one block, padded with `0xFF` (special, not a continuation).
#[cold]
#[inline(never)]
fn short_input_masks(input: &[u8]) -> (BlockMasks, Utf8Masks) {
    let mut block = [0xFFu8; 64];
    block[..input.len()].copy_from_slice(input);
    (
        ScalarClassify::masks(&block),
        ScalarClassify::utf8_masks(&block),
    )
}

/// The masks of `input[pos..pos + 64]`, bytes past the end counting as special.
///
/// # Safety
/// The CPU must support the target features `C` needs.
#[inline(always)]
unsafe fn masks_at<C: Classify>(input: &[u8], pos: usize, utf8: bool) -> (BlockMasks, Utf8Masks) {
    let n = input.len();
    if pos + 64 <= n {
        let block: &[u8; 64] = input[pos..pos + 64].try_into().unwrap();
        // SAFETY: forwarded from this function's contract.
        let m = unsafe { C::classify(block) };
        let u = if utf8 && m.special != 0 {
            // SAFETY: as above.
            unsafe { C::utf8(block) }
        } else {
            Utf8Masks::default()
        };
        (m, u)
    } else if n >= 64 {
        // The tail: classify the last full block and shift off the bytes already done.
        let block: &[u8; 64] = input[n - 64..].try_into().unwrap();
        let sh = 64 - (n - pos) as u32;
        // SAFETY: forwarded from this function's contract.
        let m = unsafe { C::classify(block) };
        // SAFETY: as above.
        let u = unsafe { C::utf8(block) };
        (
            BlockMasks {
                ws: m.ws >> sh,
                punct: m.punct >> sh,
                special: (m.special >> sh) | (!0u64 << (64 - sh)),
                newline: m.newline >> sh,
            },
            Utf8Masks {
                cont: u.cont >> sh,
                lead_cjk: u.lead_cjk >> sh,
                lead_e4: u.lead_e4 >> sh,
                ge_b8: u.ge_b8 >> sh,
            },
        )
    } else {
        short_input_masks(&input[pos..])
    }
}

/// Leads of the CJK ideographs U+4E00..U+9FFF whose two continuation bytes follow, in the
/// block at `pos` (its continuation bytes may lie in the next block).
#[inline(always)]
fn cjk_leads(input: &[u8], pos: usize, u: &Utf8Masks) -> u64 {
    let next = |i: usize| input.get(pos + 64 + i).copied().unwrap_or(0);
    let cont_next = ((next(0) & 0xC0 == 0x80) as u64) | (((next(1) & 0xC0 == 0x80) as u64) << 1);
    let cont1 = (u.cont >> 1) | (cont_next << 63);
    let cont2 = (u.cont >> 2) | (cont_next << 62);
    let ge_b8_1 = (u.ge_b8 >> 1) | (((next(0) >= 0xB8) as u64) << 63);
    (u.lead_cjk | (u.lead_e4 & ge_b8_1)) & cont1 & cont2
}

/// See [`super::Scanner::find_pieces`].
///
/// # Safety
/// The CPU must support the target features `C` needs.
#[inline(always)]
pub(crate) unsafe fn find_pieces<C: Classify>(
    input: &[u8],
    table: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    let n = input.len();
    let cjk = table.is_some_and(|t| t.has_cjk());
    // Piece starts and ends are written to separate arrays; they pair up because pieces
    // never overlap and every start before a stop position has its end before it too.
    let (starts, ends) = (&mut out.starts[..], &mut out.ends[..]);
    let (mut ns, mut ne) = (out.len, out.len);
    let mut line_ends = 0;
    let mut pos = 0usize;
    // A word that started in an earlier block and has not ended yet.
    let mut in_word = false;
    let mut word_start = 0usize;
    // Bit i: a piece of an earlier block ends at byte i of this one (a one-byte span at byte
    // 63, or a non-ASCII character whose bytes cross the block boundary).
    let mut end_carry = 0u64;
    // Bit i: byte i of this block belongs to a one-character piece of the previous one.
    let mut body_carry = 0u64;
    // Bit i: byte i of this block continues a non-ASCII word character of the previous one.
    let mut word_char_carry = 0u64;
    // Non-ASCII word characters were found (the caller counts characters only then).
    let mut multibyte_words = false;
    let stop = loop {
        if ns + 64 > MAX_SPANS || pos >= n {
            // SAFETY: forwarded from this function's contract.
            unsafe { C::flatten(ends, &mut ne, pos as u32, end_carry) };
            if in_word {
                ns -= 1; // the unfinished word is the caller's
                break word_start;
            }
            // Resume after the last piece, which may end inside the next block.
            let last_end = 64 - end_carry.leading_zeros() as usize;
            break (pos + last_end.saturating_sub(1)).min(n);
        }
        // SAFETY: forwarded from this function's contract.
        let (m, u) = unsafe { masks_at::<C>(input, pos, cjk) };
        let mut special = m.special & !(body_carry | word_char_carry);
        // Non-ASCII one-character pieces: their first bytes, all their bytes and their ends
        // (bits 64.. belong to the next block); and the bytes of non-ASCII word characters.
        let mut lead = 0u64;
        let mut body = 0u128;
        let mut piece_end = 0u128;
        let mut word_chars = 0u128;
        if cjk && special != 0 {
            // CJK ideographs, 21 per block of Chinese text: found with vector compares.
            lead = cjk_leads(input, pos, &u);
            body = lead as u128 * 0b111;
            piece_end = (lead as u128) << 3;
            special &= !(body as u64);
        }
        if let Some(t) = table {
            // The rest (punctuation such as `，` or `“`, word characters such as `１`) one at a
            // time from the first special byte on, until one is not in the table.
            while special != 0 {
                let f = special.trailing_zeros() as usize;
                let (len, is_word) = t.class_at(input, pos + f);
                if len == 0 {
                    break;
                }
                let bytes = ((1u128 << len) - 1) << f;
                if is_word {
                    word_chars |= bytes;
                } else {
                    lead |= 1 << f;
                    body |= bytes;
                    piece_end |= 1u128 << (f + len);
                }
                special &= !(bytes as u64);
            }
            multibyte_words |= word_chars != 0;
        }
        let body_bits = body as u64 | body_carry;
        let word = !(m.ws | m.punct | special | body_bits);
        let carry = in_word as u64;
        let word_starts = word & !((word << 1) | carry);
        // Bit i: byte i is the first byte after a word.
        let word_ends = !word & ((word << 1) | carry);
        // One-byte spans: punctuation pieces, and newlines (line ends for the caller).
        let single = m.punct | m.newline;
        let piece_ends = (word_ends & !special) | (single << 1) | piece_end as u64 | end_carry;
        // Stop at the first special byte: pieces before it are complete, except a word that
        // runs into it (the caller must see what follows it).
        let first_stop = special.trailing_zeros();
        let (upto, through) = if first_stop == 64 {
            (!0u64, !0u64)
        } else {
            let below = (1u64 << first_stop) - 1;
            (below, below | (1u64 << first_stop))
        };
        let mut piece_starts = (word_starts | single | lead) & upto;
        let touching = (word_ends & special & through) != 0;
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
            line_ends += (piece_starts & m.newline).count_ones() as usize;
            // SAFETY: forwarded from this function's contract.
            unsafe {
                C::flatten(starts, &mut ns, base, piece_starts);
                C::flatten(ends, &mut ne, base, piece_ends & upto);
            }
            break resume;
        }
        line_ends += (piece_starts & m.newline).count_ones() as usize;
        // SAFETY: forwarded from this function's contract.
        unsafe {
            C::flatten(starts, &mut ns, base, piece_starts);
            C::flatten(ends, &mut ne, base, piece_ends & through);
        }
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
        end_carry = (single >> 63) | (piece_end >> 64) as u64;
        body_carry = (body >> 64) as u64;
        word_char_carry = (word_chars >> 64) as u64;
        pos += 64;
    };
    debug_assert_eq!(ns, ne, "every piece start has its end");
    out.len = ns.min(ne);
    out.line_ends += line_ends;
    out.multibyte_words |= multibyte_words;
    stop
}

/// The scalar classifier, callable safely (tests compare every vector classifier with it).
#[cfg(test)]
pub(crate) fn classify_scalar(block: &[u8; 64]) -> (BlockMasks, Utf8Masks) {
    (
        ScalarClassify::masks(block),
        ScalarClassify::utf8_masks(block),
    )
}

/// The piece finder with the scalar classifier (used by tests to check the walk itself).
#[cfg(test)]
pub(crate) fn find_pieces_scalar_masks(
    input: &[u8],
    table: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    // SAFETY: the scalar classifier needs no target feature.
    unsafe { find_pieces::<ScalarClassify>(input, table, out) }
}
