//! x86-64 block classifiers: SSE4.2 (SSSE3 shuffles), AVX2 and AVX-512BW.
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

use super::Spans;
use super::class::{NIBBLE_HI, NIBBLE_LO, NIBBLE_PUNCT, NIBBLE_WS};
use super::generic::{self, BlockMasks, Classify};

pub(super) fn sse42_available() -> bool {
    is_x86_feature_detected!("sse4.2") && is_x86_feature_detected!("ssse3")
}

pub(super) fn avx2_available() -> bool {
    is_x86_feature_detected!("avx2")
}

pub(super) fn avx512_available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
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
}

#[target_feature(enable = "sse2,ssse3,sse4.2")]
fn pieces_sse42(input: &[u8], out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Sse42::classify` needs.
    unsafe { generic::ascii_pieces::<Sse42>(input, out) }
}

#[target_feature(enable = "avx2")]
fn pieces_avx2(input: &[u8], out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Avx2::classify` needs.
    unsafe { generic::ascii_pieces::<Avx2>(input, out) }
}

#[target_feature(enable = "avx512f,avx512bw")]
fn pieces_avx512(input: &[u8], out: &mut Spans) -> usize {
    // SAFETY: this function is compiled with the features `Avx512::classify` needs.
    unsafe { generic::ascii_pieces::<Avx512>(input, out) }
}

pub(super) fn ascii_pieces_sse42(input: &[u8], out: &mut Spans) -> usize {
    assert!(sse42_available(), "SSE4.2 is not available on this CPU");
    // SAFETY: the features were just checked.
    unsafe { pieces_sse42(input, out) }
}

pub(super) fn ascii_pieces_avx2(input: &[u8], out: &mut Spans) -> usize {
    assert!(avx2_available(), "AVX2 is not available on this CPU");
    // SAFETY: the features were just checked.
    unsafe { pieces_avx2(input, out) }
}

pub(super) fn ascii_pieces_avx512(input: &[u8], out: &mut Spans) -> usize {
    assert!(avx512_available(), "AVX-512BW is not available on this CPU");
    // SAFETY: the features were just checked.
    unsafe { pieces_avx512(input, out) }
}

/// Block masks of every vector level this CPU runs, for tests.
#[cfg(test)]
pub(super) fn classify_all(block: &[u8; 64]) -> Vec<(&'static str, BlockMasks)> {
    let mut out = Vec::new();
    if sse42_available() {
        // SAFETY: checked above.
        out.push(("sse4.2", unsafe { Sse42::classify(block) }));
    }
    if avx2_available() {
        // SAFETY: checked above.
        out.push(("avx2", unsafe { Avx2::classify(block) }));
    }
    if avx512_available() {
        // SAFETY: checked above.
        out.push(("avx512", unsafe { Avx512::classify(block) }));
    }
    out
}
