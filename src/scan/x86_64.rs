//! x86-64 block classifiers: SSE4.2 (SSSE3 shuffles), AVX2 and AVX-512BW (+ VBMI2 for the
//! index compression).
//!
//! Each classifier computes, for 64 bytes:
//!
//! ```text
//! c       = shuffle(NIBBLE_LO, b & 0x0F) & shuffle(NIBBLE_HI, b >> 4)
//! ws      = c & NIBBLE_WS != 0
//! punct   = c & NIBBLE_PUNCT != 0
//! special = (b >= 0x80) | ((b < 0x20 | b == 0x7F) & !ws)
//! newline = b == '\n'
//! ```
//!
//! The entry points check the CPU feature (a cached atomic load) before calling the
//! `#[target_feature]` code, so they are safe to call on any x86-64 CPU.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::class::{NIBBLE_HI, NIBBLE_LO, NIBBLE_PUNCT, NIBBLE_WS};
use super::generic::{self, BlockMasks, Classify, Utf8Masks};
use super::{CharTable, Spans};

/// The byte indices 0..63, compressed by the AVX-512 flattens (here and in the GPT finder).
pub(super) const IOTA: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

// Every level also needs the bit instructions of its CPU generation (popcnt with SSE4.2;
// BMI1/BMI2/LZCNT with AVX2): the mask walk counts and scans bits all the time.

pub(super) fn sse42_available() -> bool {
    is_x86_feature_detected!("sse4.2")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("popcnt")
}

pub(super) fn avx2_available() -> bool {
    sse42_available()
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("bmi1")
        && is_x86_feature_detected!("bmi2")
        && is_x86_feature_detected!("lzcnt")
}

pub(super) fn avx512_available() -> bool {
    avx2_available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vbmi2")
}

struct Sse42;

impl Classify for Sse42 {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        // SAFETY: the caller guarantees SSE2/SSSE3 (contract of `Classify::classify`); every
        // load reads 16 bytes inside `block` (offsets 0, 16, 32, 48) or a 16-byte table.
        unsafe {
            let lo_t = _mm_loadu_si128(NIBBLE_LO.as_ptr().cast());
            let hi_t = _mm_loadu_si128(NIBBLE_HI.as_ptr().cast());
            let low4 = _mm_set1_epi8(0x0F);
            let zero = _mm_setzero_si128();
            let mut m = BlockMasks::default();
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
                let lo = _mm_and_si128(v, low4);
                let hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
                let c = _mm_and_si128(_mm_shuffle_epi8(lo_t, lo), _mm_shuffle_epi8(hi_t, hi));
                let ws_z = _mm_cmpeq_epi8(_mm_and_si128(c, _mm_set1_epi8(NIBBLE_WS as i8)), zero);
                let p_z = _mm_cmpeq_epi8(_mm_and_si128(c, _mm_set1_epi8(NIBBLE_PUNCT as i8)), zero);
                let ws = !(_mm_movemask_epi8(ws_z) as u32) & 0xFFFF;
                let punct = !(_mm_movemask_epi8(p_z) as u32) & 0xFFFF;
                let high = _mm_movemask_epi8(v) as u32;
                let le1f = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
                let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
                let ctl = _mm_movemask_epi8(_mm_or_si128(le1f, del)) as u32;
                let special = high | (ctl & !ws);
                let nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32;
                m.newline |= (nl as u64) << (16 * k);
                m.ws |= (ws as u64) << (16 * k);
                m.punct |= (punct as u64) << (16 * k);
                m.special |= (special as u64) << (16 * k);
            }
            m
        }
    }
    #[inline(always)]
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks {
        // SAFETY: the caller guarantees SSE2 (contract of `Classify::utf8`); every load reads
        // 16 bytes inside `block` (offsets 0, 16, 32, 48).
        unsafe {
            let mut u = Utf8Masks::default();
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
                let top2 = _mm_and_si128(v, _mm_set1_epi8(0xC0u8 as i8));
                let cont = _mm_cmpeq_epi8(top2, _mm_set1_epi8(0x80u8 as i8));
                let t = _mm_sub_epi8(v, _mm_set1_epi8(0xE5u8 as i8));
                let lead = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t);
                let e4 = _mm_cmpeq_epi8(v, _mm_set1_epi8(0xE4u8 as i8));
                let ge = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0xB8u8 as i8)), v);
                let sh = 16 * k;
                u.cont |= (_mm_movemask_epi8(cont) as u32 as u64) << sh;
                u.lead_cjk |= (_mm_movemask_epi8(lead) as u32 as u64) << sh;
                u.lead_e4 |= (_mm_movemask_epi8(e4) as u32 as u64) << sh;
                u.ge_b8 |= (_mm_movemask_epi8(ge) as u32 as u64) << sh;
            }
            u
        }
    }
}

struct Avx2;

impl Classify for Avx2 {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        // SAFETY: the caller guarantees AVX2 (contract of `Classify::classify`); every load
        // reads 32 bytes inside `block` (offsets 0 and 32) or a 16-byte table.
        unsafe {
            let lo_t = _mm256_broadcastsi128_si256(_mm_loadu_si128(NIBBLE_LO.as_ptr().cast()));
            let hi_t = _mm256_broadcastsi128_si256(_mm_loadu_si128(NIBBLE_HI.as_ptr().cast()));
            let low4 = _mm256_set1_epi8(0x0F);
            let zero = _mm256_setzero_si256();
            let mut m = BlockMasks::default();
            for k in 0..2 {
                let v = _mm256_loadu_si256(block.as_ptr().add(32 * k).cast());
                let lo = _mm256_and_si256(v, low4);
                let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                let c =
                    _mm256_and_si256(_mm256_shuffle_epi8(lo_t, lo), _mm256_shuffle_epi8(hi_t, hi));
                let ws_bits = _mm256_and_si256(c, _mm256_set1_epi8(NIBBLE_WS as i8));
                let p_bits = _mm256_and_si256(c, _mm256_set1_epi8(NIBBLE_PUNCT as i8));
                let ws = !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(ws_bits, zero)) as u32);
                let punct = !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(p_bits, zero)) as u32);
                let high = _mm256_movemask_epi8(v) as u32;
                let le1f = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v);
                let del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F));
                let ctl = _mm256_movemask_epi8(_mm256_or_si256(le1f, del)) as u32;
                let special = high | (ctl & !ws);
                let nl = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\n' as i8)));
                m.newline |= (nl as u32 as u64) << (32 * k);
                m.ws |= (ws as u64) << (32 * k);
                m.punct |= (punct as u64) << (32 * k);
                m.special |= (special as u64) << (32 * k);
            }
            m
        }
    }
    #[inline(always)]
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks {
        // SAFETY: the caller guarantees AVX2 (contract of `Classify::utf8`); every load reads
        // 32 bytes inside `block` (offsets 0 and 32).
        unsafe {
            let mut u = Utf8Masks::default();
            for k in 0..2 {
                let v = _mm256_loadu_si256(block.as_ptr().add(32 * k).cast());
                let top2 = _mm256_and_si256(v, _mm256_set1_epi8(0xC0u8 as i8));
                let cont = _mm256_cmpeq_epi8(top2, _mm256_set1_epi8(0x80u8 as i8));
                let t = _mm256_sub_epi8(v, _mm256_set1_epi8(0xE5u8 as i8));
                let lead = _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(4)), t);
                let e4 = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0xE4u8 as i8));
                let ge = _mm256_cmpeq_epi8(_mm256_max_epu8(v, _mm256_set1_epi8(0xB8u8 as i8)), v);
                let sh = 32 * k;
                u.cont |= (_mm256_movemask_epi8(cont) as u32 as u64) << sh;
                u.lead_cjk |= (_mm256_movemask_epi8(lead) as u32 as u64) << sh;
                u.lead_e4 |= (_mm256_movemask_epi8(e4) as u32 as u64) << sh;
                u.ge_b8 |= (_mm256_movemask_epi8(ge) as u32 as u64) << sh;
            }
            u
        }
    }
}

struct Avx512;

impl Classify for Avx512 {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        // SAFETY: the caller guarantees AVX-512F/BW (contract of `Classify::classify`); the
        // load reads exactly the 64 bytes of `block`, the table loads 16 bytes each.
        unsafe {
            let lo_t = _mm512_broadcast_i32x4(_mm_loadu_si128(NIBBLE_LO.as_ptr().cast()));
            let hi_t = _mm512_broadcast_i32x4(_mm_loadu_si128(NIBBLE_HI.as_ptr().cast()));
            let low4 = _mm512_set1_epi8(0x0F);
            let v = _mm512_loadu_si512(block.as_ptr().cast());
            let lo = _mm512_and_si512(v, low4);
            let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            let c = _mm512_and_si512(_mm512_shuffle_epi8(lo_t, lo), _mm512_shuffle_epi8(hi_t, hi));
            let ws = _mm512_test_epi8_mask(c, _mm512_set1_epi8(NIBBLE_WS as i8));
            let punct = _mm512_test_epi8_mask(c, _mm512_set1_epi8(NIBBLE_PUNCT as i8));
            let high = _mm512_movepi8_mask(v);
            let ctl = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20))
                | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7F));
            let newline = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8));
            BlockMasks {
                ws,
                punct,
                special: high | (ctl & !ws),
                newline,
            }
        }
    }
    #[inline(always)]
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks {
        // SAFETY: the caller guarantees AVX-512F/BW (contract of `Classify::utf8`); the load
        // reads exactly the 64 bytes of `block`.
        unsafe {
            let v = _mm512_loadu_si512(block.as_ptr().cast());
            let top2 = _mm512_and_si512(v, _mm512_set1_epi8(0xC0u8 as i8));
            let t = _mm512_sub_epi8(v, _mm512_set1_epi8(0xE5u8 as i8));
            Utf8Masks {
                cont: _mm512_cmpeq_epi8_mask(top2, _mm512_set1_epi8(0x80u8 as i8)),
                lead_cjk: _mm512_cmple_epu8_mask(t, _mm512_set1_epi8(4)),
                lead_e4: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0xE4u8 as i8)),
                ge_b8: _mm512_cmpge_epu8_mask(v, _mm512_set1_epi8(0xB8u8 as i8)),
            }
        }
    }

    /// Compress the byte indices 0..63 by the mask (VBMI2, in a register: a compress to
    /// memory is slow on some CPUs), then widen sixteen at a time to u32 and add `base`.
    #[inline(always)]
    unsafe fn flatten(out: &mut [u32], len: &mut usize, base: u32, bits: u64) {
        let count = bits.count_ones() as usize;
        assert!(*len + 64 <= out.len(), "span buffer without slack");
        // SAFETY: the caller guarantees AVX-512F/BW/VBMI2 (contract of `Classify::flatten`);
        // the IOTA load reads its 64 bytes; each store writes 16 u32 at `*len + 16 * k` for
        // `16 * k < count <= 64`, so below `*len + 64 <= out.len()` (checked above).
        unsafe {
            let idx = _mm512_maskz_compress_epi8(bits, _mm512_loadu_si512(IOTA.as_ptr().cast()));
            let base_v = _mm512_set1_epi32(base as i32);
            let dst = out.as_mut_ptr().add(*len);
            let mut k = 0;
            while 16 * k < count {
                let part = match k {
                    0 => _mm512_castsi512_si128(idx),
                    1 => _mm512_extracti32x4_epi32::<1>(idx),
                    2 => _mm512_extracti32x4_epi32::<2>(idx),
                    _ => _mm512_extracti32x4_epi32::<3>(idx),
                };
                let wide = _mm512_add_epi32(_mm512_cvtepu8_epi32(part), base_v);
                _mm512_storeu_si512(dst.add(16 * k).cast(), wide);
                k += 1;
            }
        }
        *len += count;
    }
}

#[target_feature(enable = "sse2,ssse3,sse4.2,popcnt")]
fn pieces_sse42(input: &[u8], singles: Option<&CharTable>, out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Sse42` needs.
    unsafe { generic::find_pieces::<Sse42>(input, singles, out) }
}

#[target_feature(enable = "avx2,popcnt,bmi1,bmi2,lzcnt")]
fn pieces_avx2(input: &[u8], singles: Option<&CharTable>, out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { generic::find_pieces::<Avx2>(input, singles, out) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2,popcnt,bmi1,bmi2,lzcnt")]
fn pieces_avx512(input: &[u8], singles: Option<&CharTable>, out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { generic::find_pieces::<Avx512>(input, singles, out) }
}

pub(super) fn find_pieces_sse42(
    input: &[u8],
    singles: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    assert!(sse42_available(), "SSE4.2 is not available on this CPU");
    // SAFETY: the features were just checked.
    unsafe { pieces_sse42(input, singles, out) }
}

pub(super) fn find_pieces_avx2(
    input: &[u8],
    singles: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    assert!(avx2_available(), "AVX2 is not available on this CPU");
    // SAFETY: the features were just checked.
    unsafe { pieces_avx2(input, singles, out) }
}

pub(super) fn find_pieces_avx512(
    input: &[u8],
    singles: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    assert!(
        avx512_available(),
        "AVX-512BW/VBMI2 is not available on this CPU"
    );
    // SAFETY: the features were just checked.
    unsafe { pieces_avx512(input, singles, out) }
}

/// Block masks of every vector level this CPU runs, for tests.
#[cfg(test)]
pub(super) fn classify_all(block: &[u8; 64]) -> Vec<(&'static str, BlockMasks, Utf8Masks)> {
    let mut out = Vec::new();
    if sse42_available() {
        // SAFETY: checked above.
        let (m, u) = unsafe { (Sse42::classify(block), Sse42::utf8(block)) };
        out.push(("sse4.2", m, u));
    }
    if avx2_available() {
        // SAFETY: checked above.
        let (m, u) = unsafe { (Avx2::classify(block), Avx2::utf8(block)) };
        out.push(("avx2", m, u));
    }
    if avx512_available() {
        // SAFETY: checked above.
        let (m, u) = unsafe { (Avx512::classify(block), Avx512::utf8(block)) };
        out.push(("avx512", m, u));
    }
    out
}

/// Ask for the cache line holding `*p` without waiting for it (`prefetcht0`): unlike a load,
/// a prefetch retires at once, so a group of them never fills the reorder buffer.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    // SAFETY: SSE is part of the x86-64 baseline; a prefetch never faults and `p` is a valid
    // reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast::<i8>(),
        )
    }
}
