//! The GPT-pattern piece finder: piece boundaries of the tiktoken patterns (gpt2, cl100k,
//! o200k) on ASCII text, 64 bytes at a time, by mask arithmetic.
//!
//! # Windows
//!
//! The finder looks at a window of 64 bytes that starts at a piece start (the patterns have no
//! look-behind, so the pieces from a piece start on depend only on the text from there). One
//! classification gives bitmasks (bit i = byte i): upper, lower, digit, whitespace, `\r`,
//! `\n`, space, `'`, `/`, non-ASCII. The piece starts are then computed with shifts, ands and
//! carry-propagating adds (below, `prev(x) = x << 1`: "the byte before has x", bit 0 sees
//! nothing before; `next(x) = x >> 1`). Only starts whose decision is made by bytes inside the
//! window are used: every start rule looks at most two bytes ahead, except those that depend
//! on where a whitespace run ends, so the window is cut at `lim = min(L0 - 3, start of a
//! whitespace run reaching L0)` where `L0` is the first non-ASCII byte (or 64). The pieces
//! between consecutive starts in `(0, lim]` are reported; the next window starts at the last
//! one. A window with no start in `(0, lim]` (a non-ASCII character close by, a piece of 60+
//! bytes) stops the finder: the caller's exact matcher takes over there.
//!
//! # The start rules (ASCII; L letters, N digits, W whitespace, O everything else, H = W
//! without `\r\n`)
//!
//! gpt2 (`'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`):
//! a start at the first byte of each L, N, O run unless a space precedes it (then the space
//! starts the piece); at the first byte of a W run and at its last byte (`\s+(?!\S)` leaves
//! it to what follows); a `'` that starts a piece (not after O or a space) and is followed by
//! a contraction splits the letter run after it.
//!
//! cl100k: letter runs take one preceding prefix byte that is not `\r\n` (H, or O when that O
//! is a run of one that starts a piece: not after a space, and not a contraction); digit runs
//! are cut every three digits; an O run takes a preceding space and the `\r\n` run after it
//! (`T`, filled with a carry-propagating add); a W run (after `T`) is cut after its last
//! `\r\n` and before its last byte when that is H; the start after the last `\r\n` needs the
//! H run after it to end the W run (computed on bit-reversed masks).
//!
//! o200k: as cl100k, plus: a letter run is also cut where an upper-case letter follows a
//! lower-case one; a contraction after letters joins the letter piece (not a new piece); the
//! tail after an O run is `[\r\n/]*` (a slash there is not a new O run).
//!
//! Each rule is derived from the pattern in `rules/gpt.rs` terms; the finder is tested against
//! the exact matcher (and so against `fancy-regex`) at every level on random text and on the
//! corpus (`tests/it/gpt.rs`).
#![allow(unsafe_code)]

use super::Level;

/// Which pattern's pieces to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GptKind {
    /// gpt2 / r50k / p50k.
    Gpt2,
    /// cl100k_base.
    Cl100k,
    /// o200k_base.
    O200k,
}

/// The byte classes of one 64-byte window, one bit per byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GptMasks {
    /// `A..=Z`.
    pub upper: u64,
    /// `a..=z`.
    pub lower: u64,
    /// `0..=9`.
    pub digit: u64,
    /// ASCII whitespace (`\t \n \x0B \x0C \r` and space).
    pub ws: u64,
    /// `\r`.
    pub cr: u64,
    /// `\n`.
    pub nl: u64,
    /// The space.
    pub space: u64,
    /// `'`.
    pub apos: u64,
    /// `/`.
    pub slash: u64,
    /// Bytes `>= 0x80`.
    pub high: u64,
}

/// The classifier every vector one must agree with.
pub fn classify_scalar(w: &[u8; 64]) -> GptMasks {
    let mut m = GptMasks::default();
    for (i, &b) in w.iter().enumerate() {
        let bit = 1u64 << i;
        if b.is_ascii_uppercase() {
            m.upper |= bit;
        }
        if b.is_ascii_lowercase() {
            m.lower |= bit;
        }
        if b.is_ascii_digit() {
            m.digit |= bit;
        }
        if b == b' ' || (0x09..=0x0D).contains(&b) {
            m.ws |= bit;
        }
        if b == b'\r' {
            m.cr |= bit;
        }
        if b == b'\n' {
            m.nl |= bit;
        }
        if b == b' ' {
            m.space |= bit;
        }
        if b == b'\'' {
            m.apos |= bit;
        }
        if b == b'/' {
            m.slash |= bit;
        }
        if b >= 0x80 {
            m.high |= bit;
        }
    }
    m
}

/// The masks pattern `kind` reads (what the classifiers compute for it): gpt2 and cl100k read
/// letters as one class (in `upper`, `lower` is 0) and no `/`; gpt2 reads no `\r`.
pub fn masks_for(kind: GptKind, mut m: GptMasks) -> GptMasks {
    if kind != GptKind::O200k {
        m.upper |= m.lower;
        m.lower = 0;
        m.slash = 0;
    }
    if kind == GptKind::Gpt2 {
        m.cr = 0;
    }
    m
}

const fn kind_of(k: u8) -> GptKind {
    match k {
        0 => GptKind::Gpt2,
        1 => GptKind::Cl100k,
        _ => GptKind::O200k,
    }
}

/// Bits of the runs of `x` that contain a bit of `seeds` at their first bit (each run at most
/// one seed, at its start), from that bit on.
#[inline(always)]
fn fill(seeds: u64, x: u64) -> u64 {
    (x.wrapping_add(seeds) ^ x) & x
}

/// The contraction after the `'` at `i` of `w`: its end. `fold` 0x20 for case-insensitive.
#[inline(always)]
fn contraction(w: &[u8; 64], i: usize, fold: u8) -> Option<usize> {
    let c1 = *w.get(i + 1)? | fold;
    match c1 {
        b's' | b'd' | b'm' | b't' => Some(i + 2),
        b'l' | b'v' | b'r' => {
            let c2 = *w.get(i + 2)? | fold;
            let want = if c1 == b'l' { b'l' } else { b'e' };
            (c2 == want).then_some(i + 3)
        }
        _ => None,
    }
}

/// The piece starts of the window (bit 0 is one) and the highest position whose start bit is
/// final (see the module docs; 0 when none is).
#[inline(always)]
pub fn starts(kind: GptKind, m: &GptMasks, w: &[u8; 64]) -> (u64, u32) {
    let p = |x: u64| x << 1;
    let n = |x: u64| x >> 1;
    let l0 = m.high.trailing_zeros(); // 64 when all ASCII
    let valid = if l0 == 64 { !0u64 } else { (1u64 << l0) - 1 };
    let mut lim = l0.saturating_sub(3);
    if l0 > 0 && (m.ws >> (l0 - 1)) & 1 != 0 {
        // A whitespace run reaches L0: its pieces depend on what follows it.
        let nonws = !m.ws & valid;
        let ws_start = if nonws == 0 {
            0
        } else {
            64 - nonws.leading_zeros()
        };
        lim = lim.min(ws_start);
    }
    let letter = m.upper | m.lower;
    let crlf = m.cr | m.nl;
    let other = !(letter | m.digit | m.ws);
    let mut s: u64 = 1;
    match kind {
        GptKind::Gpt2 => {
            let run_start = |x: u64| x & !p(x);
            s |= (run_start(letter) | run_start(m.digit) | run_start(other)) & !p(m.space);
            s |= run_start(m.ws);
            s |= m.ws & p(m.ws) & !n(m.ws);
            let mut cand = m.apos & !p(other | m.space) & n(letter);
            while cand != 0 {
                let i = cand.trailing_zeros() as usize;
                cand &= cand - 1;
                if let Some(e) = contraction(w, i, 0) {
                    s &= !(1u64 << (i + 1));
                    if e < 64 {
                        s |= letter & (1u64 << e);
                    }
                }
            }
        }
        GptKind::Cl100k | GptKind::O200k => {
            let o200k = kind == GptKind::O200k;
            // The tail after an O run: `[\r\n]*` (cl100k) or `[\r\n/]*` (o200k).
            let tail = if o200k {
                // The tail starts at the first \r or \n of a `[\r\n/]` run that follows an O
                // byte (a slash before it in the run is an O run of its own) and takes the
                // rest of the run.
                let x = crlf | m.slash;
                let seeds = crlf & p(other);
                let before = fill(x & !p(x) & !seeds, x & !seeds);
                x & !before
            } else {
                fill(crlf & p(other), crlf)
            };
            let other = other & !tail;
            let ws1 = m.ws & !tail;
            let h = m.ws & !crlf;
            // Whitespace: run starts (after the tail), the last byte when H, and the byte
            // after the last \r\n when the H run from there ends the whitespace run.
            s |= ws1 & !p(ws1);
            s |= h & !n(m.ws);
            let mut after_crlf = h & p(crlf);
            if after_crlf != 0 {
                // H runs followed by \r\n: filled from their last byte down.
                let bad = fill((h & n(crlf)).reverse_bits(), h.reverse_bits()).reverse_bits();
                after_crlf &= !bad;
                s |= after_crlf;
            }
            // Digits: run starts, every third digit, the byte after a run.
            let dstart = m.digit & !p(m.digit);
            s |= dstart | (!m.digit & p(m.digit));
            let d3 = m.digit & p(m.digit) & p(p(m.digit));
            let mut g = dstart;
            loop {
                g = p(p(p(g))) & d3;
                if g == 0 {
                    break;
                }
                s |= g;
            }
            // Contractions: cl100k's `'(?i:...)` at a piece start, o200k's suffix after
            // letters. `ap` are the quotes that are contractions.
            let mut ap = 0u64;
            // Start bits to clear (the letters a contraction covers) and to set (a letter
            // right after one).
            let mut clear = 0u64;
            let mut set = 0u64;
            if o200k {
                let mut cand = m.apos & p(letter) & n(letter);
                while cand != 0 {
                    let i = cand.trailing_zeros() as usize;
                    cand &= cand - 1;
                    // Not after the letter of an earlier contraction (that piece has ended).
                    if clear >> (i - 1) & 1 != 0 {
                        continue;
                    }
                    if let Some(e) = contraction(w, i, 0x20) {
                        ap |= 1u64 << i;
                        let covered = if e < 64 { (1u64 << e) - 1 } else { !0 };
                        clear |= covered & !((1u64 << i) - 1);
                        if e < 64 {
                            set |= letter & (1u64 << e);
                        }
                    }
                }
            } else {
                let mut cand = m.apos & !p(other | m.space) & n(letter);
                while cand != 0 {
                    let i = cand.trailing_zeros() as usize;
                    cand &= cand - 1;
                    if let Some(e) = contraction(w, i, 0x20) {
                        ap |= 1u64 << i;
                        let covered = if e < 64 { (1u64 << e) - 1 } else { !0 };
                        clear |= covered & !((1u64 << (i + 1)) - 1);
                        if e < 64 {
                            set |= letter & (1u64 << e);
                        }
                    }
                }
            }
            // O runs: their first byte unless after a space (which then starts the piece).
            s |= other & !p(other) & !p(m.space);
            // Letters: the prefix byte (H, or a one-byte O run that starts a piece and is not
            // a contraction), else the run start; the byte after a run.
            let prefix = n(letter) & (h | (other & !p(other) & !p(m.space) & !ap));
            s |= prefix;
            s |= letter & !p(letter) & !p(prefix);
            s |= !letter & p(letter);
            if o200k {
                s |= m.upper & p(m.lower);
            }
            s = (s & !clear) | set;
        }
    }
    (s, lim)
}

/// Piece ends found by [`GptFinder::find`]: `ends[k] & 0x7FFF_FFFF` is the end of piece k
/// (relative to the input), bit 31 says the piece contains `\n`. Piece 0 starts at 0, piece
/// k at the end of piece k - 1.
pub struct GptSpans {
    /// The ends.
    pub ends: Box<[u32]>,
    /// How many.
    pub len: usize,
}

/// Most pieces per call.
pub const GPT_MAX_SPANS: usize = 2048;

impl Default for GptSpans {
    fn default() -> Self {
        GptSpans {
            ends: vec![0; GPT_MAX_SPANS + 64].into_boxed_slice(),
            len: 0,
        }
    }
}

/// The result of one call: how far the pieces go, and where the caller should try again
/// after taking over (a hint; any position gives the same pieces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptStop {
    /// End of the last piece reported (0 if none).
    pub end: usize,
    /// Do not call again before this position (past a non-ASCII character nearby).
    pub retry: usize,
}

/// Classifies one 64-byte window. One implementation per instruction set.
trait GptClassify {
    /// [`masks_for`] the pattern numbered `K` (0 gpt2, 1 cl100k, 2 o200k).
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks;

    /// Append `base + i` for each set bit i of `bits` to `out` at `*len` (which must be at
    /// least 64 below `out.len()`), as `generic::flatten_scalar` does.
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn flatten(out: &mut [u32], len: &mut usize, base: u32, bits: u64) {
        super::generic::flatten_scalar(out, len, base, bits)
    }
}

struct Scalar;

impl GptClassify for Scalar {
    #[inline(always)]
    unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks {
        masks_for(kind_of(K), classify_scalar(w))
    }
}

/// The finder loop over windows, generic over the classifier.
///
/// # Safety
/// The CPU must support the target features of `C`.
#[inline(always)]
unsafe fn find_with<C: GptClassify>(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
    // One loop per pattern: the masks a pattern does not use are not computed.
    match kind {
        // SAFETY: forwarded from this function's contract.
        GptKind::Gpt2 => unsafe { find_kind::<C, 0>(input, out) },
        // SAFETY: forwarded from this function's contract.
        GptKind::Cl100k => unsafe { find_kind::<C, 1>(input, out) },
        // SAFETY: forwarded from this function's contract.
        GptKind::O200k => unsafe { find_kind::<C, 2>(input, out) },
    }
}

/// [`find_with`] for the pattern numbered `K` (0 gpt2, 1 cl100k, 2 o200k).
///
/// # Safety
/// The CPU must support the target features of `C`.
#[inline(always)]
unsafe fn find_kind<C: GptClassify, const K: u8>(input: &[u8], out: &mut GptSpans) -> GptStop {
    let kind = kind_of(K);
    let mut pos = 0usize;
    out.len = 0;
    let cap = out.ends.len() - 64;
    while pos + 64 <= input.len() && out.len < cap {
        let w: &[u8; 64] = input[pos..pos + 64].try_into().expect("64 bytes");
        // SAFETY: forwarded from this function's contract.
        let m = unsafe { C::classify::<K>(w) };
        // Through memory: else LLVM may keep the masks as vectors of booleans (the movemask
        // results) and do the shifts below byte by byte.
        let m = std::hint::black_box(m);
        let (s, lim) = starts(kind, &m, w);
        // Starts in (0, lim] (lim <= 61).
        let emit = s & !1 & ((2u64 << lim) - 1);
        if emit == 0 {
            let l0 = m.high.trailing_zeros() as usize;
            let retry = if l0 < 64 { pos + l0 + 64 } else { pos + 1 };
            return GptStop { end: pos, retry };
        }
        // The ends of pieces holding a `\n`: the first end after each `\n`, at the byte after
        // it or reached by a carry from there through the non-ends (several carries into one
        // run of non-ends make one carry out of it).
        let after_nl = m.nl << 1;
        let flags = (after_nl | (!emit).wrapping_add(after_nl & !emit)) & emit;
        let first = out.len;
        // SAFETY: forwarded from this function's contract; `out.len < cap` leaves 64 slots.
        unsafe { C::flatten(&mut out.ends, &mut out.len, pos as u32, emit) };
        let mut f = flags;
        while f != 0 {
            let b = f.trailing_zeros();
            out.ends[first + (emit & ((1u64 << b) - 1)).count_ones() as usize] |= 1 << 31;
            f &= f - 1;
        }
        pos += 63 - emit.leading_zeros() as usize;
    }
    GptStop {
        end: pos,
        retry: pos,
    }
}

type FindFn = fn(&[u8], GptKind, &mut GptSpans) -> GptStop;

/// The GPT piece finder bound to one implementation level.
#[derive(Clone, Copy)]
pub struct GptFinder {
    level: Level,
    f: Option<FindFn>,
}

impl std::fmt::Debug for GptFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GptFinder({})", self.level)
    }
}

fn find_scalar(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
    // SAFETY: the scalar classifier needs no CPU feature.
    unsafe { find_with::<Scalar>(input, kind, out) }
}

impl GptFinder {
    /// The finder of `level`: none for [`Level::Reference`] (the exact matcher alone), the
    /// portable classifier for [`Level::Scalar`], the vector classifier of the others.
    /// `None` if the CPU cannot run the level.
    pub fn with_level(level: Level) -> Option<GptFinder> {
        if !level.is_available() {
            return None;
        }
        let f: Option<FindFn> = match level {
            Level::Reference => None,
            Level::Scalar => Some(find_scalar),
            #[cfg(target_arch = "x86_64")]
            Level::Sse42 => Some(x86::find_sse42),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Some(x86::find_avx2),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Some(x86::find_avx512),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => Some(arm::find_neon),
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        Some(GptFinder { level, f })
    }

    /// The finder of the scanner level in use ([`super::Scanner::detect`]).
    pub fn detect() -> GptFinder {
        let level = super::Scanner::detect().level();
        GptFinder::with_level(level).unwrap_or(GptFinder {
            level: Level::Reference,
            f: None,
        })
    }

    /// The level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// False for [`Level::Reference`].
    pub fn is_active(&self) -> bool {
        self.f.is_some()
    }

    /// Pieces from the start of `input` (which must be a piece start): their ends go to
    /// `out` (cleared first). Every piece found is a piece of the exact matcher whatever
    /// follows `input`.
    #[inline]
    pub fn find(&self, input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        match self.f {
            Some(f) => f(input, kind, out),
            None => {
                out.len = 0;
                GptStop { end: 0, retry: 0 }
            }
        }
    }
}

/// The masks of every vector classifier this CPU runs, for tests.
pub fn classify_all_levels(w: &[u8; 64]) -> Vec<(Level, [GptMasks; 3])> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    x86::classify_all(w, &mut out);
    #[cfg(target_arch = "aarch64")]
    arm::classify_all(w, &mut out);
    let _ = w;
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{GptClassify, GptKind, GptMasks, GptSpans, GptStop, find_with};
    use crate::scan::Level;

    struct Sse42;
    struct Avx2;
    struct Avx512;

    impl GptClassify for Sse42 {
        #[inline(always)]
        unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks {
            // SAFETY: the caller guarantees SSE2 (contract of `GptClassify::classify`); every
            // load reads 16 bytes inside `w` (offsets 0, 16, 32, 48).
            unsafe {
                let mut m = GptMasks::default();
                for k in 0..4 {
                    let v = _mm_loadu_si128(w.as_ptr().add(16 * k).cast());
                    // Unsigned `x - lo <= n`.
                    let range = |x: __m128i, lo: u8, n: u8| {
                        let t = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
                        _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(n as i8)), t)
                    };
                    let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
                    let mm = |x: __m128i| (_mm_movemask_epi8(x) as u32 as u64) << (16 * k);
                    let space = eq(b' ');
                    if K == 2 {
                        m.upper |= mm(range(v, b'A', 25));
                        m.lower |= mm(range(v, b'a', 25));
                        m.slash |= mm(eq(b'/'));
                    } else {
                        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                        m.upper |= mm(range(folded, b'a', 25));
                    }
                    if K != 0 {
                        m.cr |= mm(eq(b'\r'));
                    }
                    m.digit |= mm(range(v, b'0', 9));
                    m.ws |= mm(_mm_or_si128(range(v, 0x09, 4), space));
                    m.nl |= mm(eq(b'\n'));
                    m.space |= mm(space);
                    m.apos |= mm(eq(b'\''));
                    m.high |= mm(v);
                }
                m
            }
        }
    }

    impl GptClassify for Avx2 {
        #[inline(always)]
        unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks {
            // SAFETY: the caller guarantees AVX2 (contract of `GptClassify::classify`); every
            // load reads 32 bytes inside `w` (offsets 0 and 32).
            unsafe {
                let mut m = GptMasks::default();
                for k in 0..2 {
                    let v = _mm256_loadu_si256(w.as_ptr().add(32 * k).cast());
                    let range = |x: __m256i, lo: u8, n: u8| {
                        let t = _mm256_sub_epi8(x, _mm256_set1_epi8(lo as i8));
                        _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(n as i8)), t)
                    };
                    let eq = |b: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8));
                    let mm = |x: __m256i| (_mm256_movemask_epi8(x) as u32 as u64) << (32 * k);
                    let space = eq(b' ');
                    if K == 2 {
                        m.upper |= mm(range(v, b'A', 25));
                        m.lower |= mm(range(v, b'a', 25));
                        m.slash |= mm(eq(b'/'));
                    } else {
                        let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
                        m.upper |= mm(range(folded, b'a', 25));
                    }
                    if K != 0 {
                        m.cr |= mm(eq(b'\r'));
                    }
                    m.digit |= mm(range(v, b'0', 9));
                    m.ws |= mm(_mm256_or_si256(range(v, 0x09, 4), space));
                    m.nl |= mm(eq(b'\n'));
                    m.space |= mm(space);
                    m.apos |= mm(eq(b'\''));
                    m.high |= mm(v);
                }
                m
            }
        }
    }

    impl GptClassify for Avx512 {
        #[inline(always)]
        unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks {
            // SAFETY: the caller guarantees AVX-512F/BW (contract of `GptClassify::classify`);
            // the load reads exactly the 64 bytes of `w`.
            unsafe {
                let v = _mm512_loadu_si512(w.as_ptr().cast());
                let range = |x: __m512i, lo: u8, n: u8| {
                    let t = _mm512_sub_epi8(x, _mm512_set1_epi8(lo as i8));
                    _mm512_cmple_epu8_mask(t, _mm512_set1_epi8(n as i8))
                };
                let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b as i8));
                let space = eq(b' ');
                let (upper, lower, slash) = if K == 2 {
                    (range(v, b'A', 25), range(v, b'a', 25), eq(b'/'))
                } else {
                    let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
                    (range(folded, b'a', 25), 0, 0)
                };
                GptMasks {
                    upper,
                    lower,
                    digit: range(v, b'0', 9),
                    ws: range(v, 0x09, 4) | space,
                    cr: if K != 0 { eq(b'\r') } else { 0 },
                    nl: eq(b'\n'),
                    space,
                    apos: eq(b'\''),
                    slash,
                    high: _mm512_movepi8_mask(v),
                }
            }
        }

        /// Compress the byte indices 0..63 by the mask (VBMI2, in a register), then widen
        /// sixteen at a time to u32 and add `base` (as the BERT finder's AVX-512 flatten).
        #[inline(always)]
        unsafe fn flatten(out: &mut [u32], len: &mut usize, base: u32, bits: u64) {
            const IOTA: [u8; 64] = {
                let mut t = [0u8; 64];
                let mut i = 0;
                while i < 64 {
                    t[i] = i as u8;
                    i += 1;
                }
                t
            };
            let count = bits.count_ones() as usize;
            assert!(*len + 64 <= out.len(), "span buffer without slack");
            // SAFETY: the caller guarantees AVX-512F/BW/VBMI2 (contract of
            // `GptClassify::flatten`); the IOTA load reads its 64 bytes; each store writes 16
            // u32 at `*len + 16 * k` for `16 * k < count <= 64`, so below
            // `*len + 64 <= out.len()` (checked above).
            unsafe {
                let idx =
                    _mm512_maskz_compress_epi8(bits, _mm512_loadu_si512(IOTA.as_ptr().cast()));
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
    fn sse42(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        // SAFETY: this function is compiled with the features `Sse42` needs.
        unsafe { find_with::<Sse42>(input, kind, out) }
    }

    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2,lzcnt")]
    fn avx2(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        // SAFETY: this function is compiled with the features `Avx2` needs.
        unsafe { find_with::<Avx2>(input, kind, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2,popcnt,bmi1,bmi2,lzcnt")]
    fn avx512(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        // SAFETY: this function is compiled with the features `Avx512` needs.
        unsafe { find_with::<Avx512>(input, kind, out) }
    }

    // The `GptFinder` holding these was built by `with_level`, which checked the level is
    // available; the asserts below are one cached atomic load each.

    pub(super) fn find_sse42(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        assert!(Level::Sse42.is_available());
        // SAFETY: the features were just checked.
        unsafe { sse42(input, kind, out) }
    }

    pub(super) fn find_avx2(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        assert!(Level::Avx2.is_available());
        // SAFETY: the features were just checked.
        unsafe { avx2(input, kind, out) }
    }

    pub(super) fn find_avx512(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        assert!(Level::Avx512.is_available());
        // SAFETY: the features were just checked.
        unsafe { avx512(input, kind, out) }
    }

    pub(super) fn classify_all(w: &[u8; 64], out: &mut Vec<(Level, [GptMasks; 3])>) {
        if Level::Sse42.is_available() {
            // SAFETY: checked above.
            out.push((Level::Sse42, unsafe {
                [
                    Sse42::classify::<0>(w),
                    Sse42::classify::<1>(w),
                    Sse42::classify::<2>(w),
                ]
            }));
        }
        if Level::Avx2.is_available() {
            // SAFETY: checked above.
            out.push((Level::Avx2, unsafe {
                [
                    Avx2::classify::<0>(w),
                    Avx2::classify::<1>(w),
                    Avx2::classify::<2>(w),
                ]
            }));
        }
        if Level::Avx512.is_available() {
            // SAFETY: checked above.
            out.push((Level::Avx512, unsafe {
                [
                    Avx512::classify::<0>(w),
                    Avx512::classify::<1>(w),
                    Avx512::classify::<2>(w),
                ]
            }));
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    use super::{GptClassify, GptKind, GptMasks, GptSpans, GptStop, find_with};
    use crate::scan::Level;

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
            let s0 = vpaddq_u8(vandq_u8(v[0], w), vandq_u8(v[1], w));
            let s1 = vpaddq_u8(vandq_u8(v[2], w), vandq_u8(v[3], w));
            let s0 = vpaddq_u8(s0, s1);
            let s0 = vpaddq_u8(s0, s0);
            vgetq_lane_u64(vreinterpretq_u64_u8(s0), 0)
        }
    }

    impl GptClassify for Neon {
        #[inline(always)]
        unsafe fn classify<const K: u8>(w: &[u8; 64]) -> GptMasks {
            // SAFETY: NEON is part of the aarch64 baseline; every load reads 16 bytes inside
            // `w` (offsets 0, 16, 32, 48).
            unsafe {
                let z = vdupq_n_u8(0);
                let mut c = [[z; 4]; 10];
                for k in 0..4 {
                    let v = vld1q_u8(w.as_ptr().add(16 * k));
                    let range = |x: uint8x16_t, lo: u8, n: u8| {
                        vcleq_u8(vsubq_u8(x, vdupq_n_u8(lo)), vdupq_n_u8(n))
                    };
                    let eq = |b: u8| vceqq_u8(v, vdupq_n_u8(b));
                    let space = eq(b' ');
                    if K == 2 {
                        c[0][k] = range(v, b'A', 25);
                        c[1][k] = range(v, b'a', 25);
                        c[8][k] = eq(b'/');
                    } else {
                        c[0][k] = range(vorrq_u8(v, vdupq_n_u8(0x20)), b'a', 25);
                    }
                    c[2][k] = range(v, b'0', 9);
                    c[3][k] = vorrq_u8(range(v, 0x09, 4), space);
                    if K != 0 {
                        c[4][k] = eq(b'\r');
                    }
                    c[5][k] = eq(b'\n');
                    c[6][k] = space;
                    c[7][k] = eq(b'\'');
                    c[9][k] = vcgeq_u8(v, vdupq_n_u8(0x80));
                }
                GptMasks {
                    upper: movemask64(c[0]),
                    lower: movemask64(c[1]),
                    digit: movemask64(c[2]),
                    ws: movemask64(c[3]),
                    cr: movemask64(c[4]),
                    nl: movemask64(c[5]),
                    space: movemask64(c[6]),
                    apos: movemask64(c[7]),
                    slash: movemask64(c[8]),
                    high: movemask64(c[9]),
                }
            }
        }
    }

    pub(super) fn find_neon(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { find_with::<Neon>(input, kind, out) }
    }

    pub(super) fn classify_all(w: &[u8; 64], out: &mut Vec<(Level, [GptMasks; 3])>) {
        // SAFETY: NEON is part of the aarch64 baseline.
        out.push((Level::Neon, unsafe {
            [
                Neon::classify::<0>(w),
                Neon::classify::<1>(w),
                Neon::classify::<2>(w),
            ]
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gpt_classifier_agrees_with_the_scalar_one() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut blocks: Vec<[u8; 64]> = (0..=255u8)
            .map(|b| std::array::from_fn(|i| b.wrapping_add((i as u8).wrapping_mul(37))))
            .collect();
        for _ in 0..20_000 {
            blocks.push(std::array::from_fn(|_| {
                let r = next();
                if r % 4 == 0 {
                    r as u8
                } else {
                    let pool = b" \n\t\r\x0b\x0c'/.aAzZ09@[`{\x80\xff";
                    pool[(r >> 8) as usize % pool.len()]
                }
            }));
        }
        for w in &blocks {
            let all = classify_scalar(w);
            let want = [GptKind::Gpt2, GptKind::Cl100k, GptKind::O200k].map(|k| masks_for(k, all));
            for (level, got) in classify_all_levels(w) {
                assert_eq!(got, want, "{level} on {w:?}");
            }
        }
    }
}
