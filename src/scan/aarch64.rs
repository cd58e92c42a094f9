//! aarch64 NEON block classifier (same algorithm as the x86-64 ones, see there).
//!
//! NEON has no movemask: four 16-byte compare results are reduced to one u64 with the
//! and-with-bit-weights-then-pairwise-add sequence simdjson uses.
#![allow(unsafe_code)]

use std::arch::aarch64::*;

use super::class::{NIBBLE_HI, NIBBLE_LO, NIBBLE_PUNCT, NIBBLE_WS};
use super::generic::{self, BlockMasks, Classify, Utf8Masks};
use super::{CharTable, Spans};

struct Neon;

/// Bit i of the result is set iff byte i of the 64 (four vectors of 0x00/0xFF) is set.
///
/// # Safety
/// NEON must be available (it always is on aarch64).
#[inline(always)]
unsafe fn movemask64(v: [uint8x16_t; 4]) -> u64 {
    const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: NEON is part of the aarch64 baseline; the load reads the 16-byte array.
    unsafe {
        let w = vld1q_u8(WEIGHTS.as_ptr());
        let t0 = vandq_u8(v[0], w);
        let t1 = vandq_u8(v[1], w);
        let t2 = vandq_u8(v[2], w);
        let t3 = vandq_u8(v[3], w);
        let s0 = vpaddq_u8(t0, t1);
        let s1 = vpaddq_u8(t2, t3);
        let s0 = vpaddq_u8(s0, s1);
        let s0 = vpaddq_u8(s0, s0);
        vgetq_lane_u64(vreinterpretq_u64_u8(s0), 0)
    }
}

impl Classify for Neon {
    #[inline(always)]
    unsafe fn classify(block: &[u8; 64]) -> BlockMasks {
        // SAFETY: NEON is part of the aarch64 baseline; every load reads 16 bytes inside
        // `block` (offsets 0, 16, 32, 48) or a 16-byte table.
        unsafe {
            let lo_t = vld1q_u8(NIBBLE_LO.as_ptr());
            let hi_t = vld1q_u8(NIBBLE_HI.as_ptr());
            let low4 = vdupq_n_u8(0x0F);
            let mut ws = [vdupq_n_u8(0); 4];
            let mut punct = [vdupq_n_u8(0); 4];
            let mut special = [vdupq_n_u8(0); 4];
            let mut newline = [vdupq_n_u8(0); 4];
            for k in 0..4 {
                let v = vld1q_u8(block.as_ptr().add(16 * k));
                let lo = vandq_u8(v, low4);
                let hi = vshrq_n_u8(v, 4);
                let c = vandq_u8(vqtbl1q_u8(lo_t, lo), vqtbl1q_u8(hi_t, hi));
                ws[k] = vtstq_u8(c, vdupq_n_u8(NIBBLE_WS));
                punct[k] = vtstq_u8(c, vdupq_n_u8(NIBBLE_PUNCT));
                let high = vcgeq_u8(v, vdupq_n_u8(0x80));
                let ctl = vorrq_u8(vcltq_u8(v, vdupq_n_u8(0x20)), vceqq_u8(v, vdupq_n_u8(0x7F)));
                special[k] = vorrq_u8(high, vbicq_u8(ctl, ws[k]));
                newline[k] = vceqq_u8(v, vdupq_n_u8(b'\n'));
            }
            BlockMasks {
                ws: movemask64(ws),
                punct: movemask64(punct),
                special: movemask64(special),
                newline: movemask64(newline),
            }
        }
    }

    #[inline(always)]
    unsafe fn utf8(block: &[u8; 64]) -> Utf8Masks {
        // SAFETY: NEON is part of the aarch64 baseline; every load reads 16 bytes inside
        // `block` (offsets 0, 16, 32, 48).
        unsafe {
            let mut cont = [vdupq_n_u8(0); 4];
            let mut lead = [vdupq_n_u8(0); 4];
            let mut e4 = [vdupq_n_u8(0); 4];
            let mut ge = [vdupq_n_u8(0); 4];
            for k in 0..4 {
                let v = vld1q_u8(block.as_ptr().add(16 * k));
                let top2 = vandq_u8(v, vdupq_n_u8(0xC0));
                cont[k] = vceqq_u8(top2, vdupq_n_u8(0x80));
                lead[k] = vcleq_u8(vsubq_u8(v, vdupq_n_u8(0xE5)), vdupq_n_u8(4));
                e4[k] = vceqq_u8(v, vdupq_n_u8(0xE4));
                ge[k] = vcgeq_u8(v, vdupq_n_u8(0xB8));
            }
            Utf8Masks {
                cont: movemask64(cont),
                lead_cjk: movemask64(lead),
                lead_e4: movemask64(e4),
                ge_b8: movemask64(ge),
            }
        }
    }
}

pub(super) fn find_pieces_neon(
    input: &[u8],
    singles: Option<&CharTable>,
    out: &mut Spans,
) -> usize {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { generic::find_pieces::<Neon>(input, singles, out) }
}

/// Block masks of the NEON level, for tests.
#[cfg(test)]
pub(super) fn classify_all(block: &[u8; 64]) -> Vec<(&'static str, BlockMasks, Utf8Masks)> {
    // SAFETY: NEON is part of the aarch64 baseline.
    let (m, u) = unsafe { (Neon::classify(block), Neon::utf8(block)) };
    vec![("neon", m, u)]
}
