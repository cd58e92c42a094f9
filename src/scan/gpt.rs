//! The GPT-pattern piece finder: piece boundaries of the tiktoken patterns (gpt2, cl100k,
//! o200k), 64 characters at a time, by mask arithmetic.
//!
//! # Windows
//!
//! The finder looks at a window that starts at a piece start (the patterns have no
//! look-behind, so the pieces from a piece start on depend only on the text from there). One
//! classification of 64 bytes gives bitmasks (bit i = byte i): upper, lower, digit,
//! whitespace, `\r`, `\n`, space, `'`, `/`, non-ASCII. The piece starts are then computed with
//! shifts, ands and carry-propagating adds (below, `prev(x) = x << 1`: "the character before
//! has x", bit 0 sees nothing before; `next(x) = x >> 1`). Only starts whose decision is made
//! by characters inside the window are used: every start rule looks at most two characters
//! ahead, except those that depend on where a whitespace run ends, so the window is cut at
//! `lim = min(L0 - 3, start of a whitespace run reaching L0)` where `L0` is the first stop (or
//! the window's end). The pieces between consecutive starts in `(0, lim]` are reported; the
//! next window starts at the last one. A window with no start in `(0, lim]` (a stop close by,
//! a piece of 60+ characters) stops the finder: the caller's exact matcher takes over there.
//!
//! # Non-ASCII text: windows of characters
//!
//! A window whose first 64 bytes hold a non-ASCII byte works on characters instead (`widen`,
//! `wide_window`): its three-byte characters are found by vector masks (lead byte
//! `E1..=EF` but `ED`, two continuation bytes: always well-formed); those with lead `E4..=E9`
//! (U+4000..U+9FFF) are letters (`Lo`) except U+4DC0..U+4DFF (lead `E4`, then `B7`: symbols),
//! the other three-byte characters take one lookup in the class table, and any other
//! non-ASCII character is decoded and looked up. Letters go to the letter mask (o200k: `Lu`/`Lt`
//! upper, `Ll` lower, `Lm`/`Lo` a third class `both`), `\p{N}` to the digits (every rule reads
//! `\p{N}`), White_Space to the whitespace (never `\r\n` or the space), everything else is
//! "other". Each mask is then compressed to one bit per character (`pext` by the mask of
//! first bytes) and up to four blocks of 64 bytes are concatenated until the window holds 48
//! to 64 characters (21 per block in Chinese); the start rules run unchanged on characters,
//! and the starts go back to bytes by `pdep` per block. Stops (the exact matcher takes over):
//! invalid UTF-8, o200k's marks (`\p{M}` is both a prefix character and a letter there), `ſ`
//! (`(?i:'s)` matches `'ſ`), and in o200k an upper-case letter after a `Lo`/`Lm` letter in an
//! upper-case phase (see below). The pieces of one call are all from ASCII windows or all
//! from windows of characters ([`GptSpans::wide`]); the caller reports each call's pieces
//! as one `PieceRun`.
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
//! tail after an O run is `[\r\n/]*` (a slash there is not a new O run). With `Lo`/`Lm`
//! letters B (in both of o200k's classes U and W): a piece's letters are `U*` and then, if a
//! `Ll` follows, the W run from there, so the W phase (from a `Ll`, taking the B after it) ends
//! at an upper-case letter, which starts a piece; in a U phase, an upper-case letter after a
//! B makes the piece end after the last B unless a `Ll` follows the phase (a decision at the
//! phase's end): such letters are stops.
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
    /// Bytes `>= 0x80` (in a window with non-ASCII characters, after `widen`: the
    /// characters the finder does not take, and everything after the first of them).
    pub high: u64,
    /// o200k: letters in both of its case classes (`\p{Lo}`, `\p{Lm}`); 0 from the
    /// classifiers (set by `widen` only).
    pub both: u64,
}

/// Byte masks of the non-ASCII bytes of a window, for `widen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GptHigh {
    /// Continuation bytes `0x80..=0xBF`.
    pub cont: u64,
    /// Lead bytes `0xE4..=0xE9` (U+4000..U+9FFF: CJK ideographs).
    pub cjk: u64,
    /// `0xE4`.
    pub e4: u64,
    /// `0xB7` (after `0xE4`: U+4DC0..U+4DFF, the Yijing hexagram symbols, not letters).
    pub b7: u64,
    /// Lead bytes `0xE1..=0xEF` except `0xED`: with any two continuation bytes a
    /// well-formed character (U+1000..U+FFFF less the surrogates).
    pub e3: u64,
}

/// The non-ASCII classifier every vector one must agree with.
pub fn classify_high_scalar(w: &[u8; 64]) -> GptHigh {
    let mut h = GptHigh::default();
    for (i, &b) in w.iter().enumerate() {
        let bit = 1u64 << i;
        if (0x80..=0xBF).contains(&b) {
            h.cont |= bit;
        }
        if (0xE4..=0xE9).contains(&b) {
            h.cjk |= bit;
        }
        if b == 0xE4 {
            h.e4 |= bit;
        }
        if b == 0xB7 {
            h.b7 |= bit;
        }
        if (0xE1..=0xEF).contains(&b) && b != 0xED {
            h.e3 |= bit;
        }
    }
    h
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

/// The masks that move through [`GptClassify::compact`] (all of them).
macro_rules! each_mask {
    ($m:expr, $f:expr) => {{
        let m = &mut $m;
        let f = $f;
        m.upper = f(m.upper);
        m.lower = f(m.lower);
        m.digit = f(m.digit);
        m.ws = f(m.ws);
        m.cr = f(m.cr);
        m.nl = f(m.nl);
        m.space = f(m.space);
        m.apos = f(m.apos);
        m.slash = f(m.slash);
        m.high = f(m.high);
        m.both = f(m.both);
    }};
}

/// Portable `pext`/`pdep` by one mask (Hacker's Delight 7-4 and 7-5, 64 bits): the shift
/// masks are computed once per mask and shared by every value.
#[derive(Clone, Copy)]
pub struct SoftPext {
    m: u64,
    mv: [u64; 6],
}

impl SoftPext {
    /// The moves for mask `m`.
    #[inline(always)]
    pub fn new(m: u64) -> Self {
        let mut mask = m;
        let mut mk = !m << 1;
        let mut mv = [0u64; 6];
        for (i, v) in mv.iter_mut().enumerate() {
            let mut mp = mk ^ (mk << 1);
            mp ^= mp << 2;
            mp ^= mp << 4;
            mp ^= mp << 8;
            mp ^= mp << 16;
            mp ^= mp << 32;
            let t = mp & mask;
            *v = t;
            mask = (mask ^ t) | (t >> (1 << i));
            mk &= !mp;
        }
        SoftPext { m, mv }
    }

    /// The bits of `x` under the mask, packed to the bottom (`pext`).
    #[inline(always)]
    pub fn compress(&self, x: u64) -> u64 {
        let mut x = x & self.m;
        for (i, &v) in self.mv.iter().enumerate() {
            let t = x & v;
            x = (x ^ t) | (t >> (1 << i));
        }
        x
    }

    /// The low bits of `x` spread to the mask's positions (`pdep`).
    #[inline(always)]
    pub fn expand(&self, x: u64) -> u64 {
        let mut x = x;
        for i in (0..6).rev() {
            let v = self.mv[i];
            let t = x << (1 << i);
            x = (x & !v) | (t & v);
        }
        x & self.m
    }
}

/// A window holding non-ASCII bytes, in byte space: resolves its characters (CJK ideographs
/// U+4000..U+9FFF except U+4DC0..U+4DFF from the vector masks `h`, any other well-formed
/// character by decoding it and looking up its class) into the masks of pattern `K`, and
/// returns the mask of the first byte of each character and the end of the last whole one
/// (64, or the start of a character that runs past the block). A character the finder does
/// not take (invalid UTF-8, o200k's marks, `ſ` which `(?i:'s)` matches) is a stop: it and
/// every byte after it go to `high` (so `L0` is there).
///
/// Classes (`rules/gpt.rs`'s table): `\p{L}` letters (gpt2/cl100k: one class in `upper`;
/// o200k: `Lu`/`Lt` in `upper`, `Ll` in `lower`, `Lm`/`Lo` in `both`), `\p{N}` with the
/// digits (every rule reads `\p{N}`), White_Space with the whitespace (never `\r\n` or the
/// space), the rest "other" (in no mask).
#[inline(always)]
fn widen<const K: u8>(w: &[u8; 64], h: GptHigh, m: &mut GptMasks) -> (u64, usize) {
    use crate::scan::utf8::{Decoded, decode, sequence_len};
    use crate::unicode::gpt_tables::gpt_class;
    // Three-byte characters from the vector masks; the CJK ideographs among them need no
    // lookup, the others one table lookup each.
    let three = h.e3 & (h.cont >> 1) & (h.cont >> 2);
    let cjk = three & h.cjk & !(h.e4 & (h.b7 >> 1));
    let tails = (three << 1) | (three << 2);
    let mut lead = !tails;
    // The other characters' bits by slot (see `SLOTS`).
    let mut acc = [0u64; 8];
    let mut t = three & !cjk;
    while t != 0 {
        let i = t.trailing_zeros() as usize;
        t &= t - 1;
        let cp = u32::from(w[i] & 0x0F) << 12
            | u32::from(w[i + 1] & 0x3F) << 6
            | u32::from(w[i + 2] & 0x3F);
        acc[usize::from(SLOTS[K as usize][usize::from(gpt_class(cp) & 63)])] |= 1u64 << i;
    }
    let mut rest = m.high & !three & !tails;
    let mut end = 64;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        let bit = 1u64 << i;
        let b0 = w[i];
        if (0xC2..=0xF4).contains(&b0) && i + sequence_len(b0) > 64 {
            // Runs past the block (or is invalid there): the next block starts with it.
            end = i;
            lead &= bit - 1;
            break;
        }
        let (cp, n) = match decode(&w[i..]) {
            Decoded::Char(c, n) => (c as u32, n),
            Decoded::Incomplete => {
                end = i;
                lead &= bit - 1;
                break;
            }
            Decoded::Invalid(_) => {
                acc[SLOT_STOP] |= bit;
                break;
            }
        };
        let tail = ((1u64 << (n - 1)) - 1) << (i + 1);
        lead &= !tail;
        rest &= !(bit | tail);
        let slot = if cp == 0x17F {
            SLOT_STOP
        } else {
            SLOTS[K as usize][usize::from(gpt_class(cp) & 63)] as usize
        };
        acc[slot] |= bit;
        if slot == SLOT_STOP {
            break;
        }
    }
    if K == 2 {
        m.both |= cjk | acc[3];
        m.lower |= acc[2];
    } else {
        m.upper |= cjk;
    }
    m.upper |= acc[1];
    m.digit |= acc[4];
    m.ws |= acc[5];
    // The first stop.
    let stop = acc[SLOT_STOP] & acc[SLOT_STOP].wrapping_neg();
    m.high = if stop == 0 { 0 } else { !(stop - 1) };
    (lead, end)
}

/// The slot of a character that stops the finder.
const SLOT_STOP: usize = 6;

/// The mask slot of each class byte (`gpt_tables` bits) for each pattern: 0 other, 1
/// `upper` (gpt2, cl100k: every letter), 2 `lower`, 3 `both`, 4 digits, 5 whitespace,
/// [`SLOT_STOP`] (o200k's marks).
static SLOTS: [[u8; 64]; 3] = {
    use crate::unicode::gpt_tables::{L, LO, M, N, S, UP};
    let mut t = [[0u8; 64]; 3];
    let mut k = 0;
    while k < 3 {
        let mut c = 0;
        while c < 64 {
            let b = c as u8;
            t[k][c] = if b & L != 0 {
                if k != 2 || b & LO == 0 {
                    1
                } else if b & UP == 0 {
                    2
                } else {
                    3
                }
            } else if k == 2 && b & M != 0 {
                SLOT_STOP as u8
            } else if b & N != 0 {
                4
            } else if b & S != 0 {
                5
            } else {
                0
            };
            c += 1;
        }
        k += 1;
    }
    t
};

/// The contraction after the `'` at `i` of `w`: its end. `fold` 0x20 for case-insensitive.
#[inline(always)]
fn contraction(w: &[u8], i: usize, fold: u8) -> Option<usize> {
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

/// The last position whose start bit is final when the first stop is at `l0`.
#[inline(always)]
fn limit(m: &GptMasks, l0: u32) -> u32 {
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
    lim
}

/// The piece starts of the window (bit 0 is one), the highest position whose start bit is
/// final (see the module docs; 0 when none is), and the first stop `L0`. Positions are
/// characters (bytes in an ASCII window); `con(i, fold)` is the end of the contraction after
/// the `'` at position `i`, if there is one.
#[inline(always)]
fn starts(
    kind: GptKind,
    m: &GptMasks,
    con: impl Fn(usize, u8) -> Option<usize>,
) -> (u64, u32, u32) {
    let p = |x: u64| x << 1;
    let n = |x: u64| x >> 1;
    let mut l0 = m.high.trailing_zeros(); // 64 when all ASCII
    let mut lim = limit(m, l0);
    let letter = m.upper | m.lower | m.both;
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
                if let Some(e) = con(i, 0) {
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
                    if let Some(e) = con(i, 0x20) {
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
                    if let Some(e) = con(i, 0x20) {
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
                if m.both == 0 {
                    s |= m.upper & p(m.lower);
                } else {
                    // With `Lo`/`Lm` letters B (in both classes, U and W below): a piece's
                    // letters are `U*` then, if a `Ll` follows, `W*`; the W phase (from a
                    // `Ll` on, taking the B after it) ends at an upper-case letter, which
                    // starts the next piece. The letters a contraction covers end their
                    // piece (the one after starts afresh, `set`).
                    let lw = m.lower & !clear;
                    let wphase = lw | fill(p(lw) & m.both, m.both);
                    s |= m.upper & p(wphase);
                    // In a U phase with a B followed (later in the phase) by an upper-case
                    // letter, the piece ends after the last B when no `Ll` follows the
                    // phase: a decision at the phase's end. Those letters are stops.
                    let uphase = letter & !clear & !wphase;
                    let bu = m.both & uphase;
                    let region = (uphase & !uphase.wrapping_add(bu)) | bu;
                    let bad = m.upper & region;
                    if bad != 0 && bad.trailing_zeros() < l0 {
                        l0 = bad.trailing_zeros();
                        lim = limit(m, l0);
                    }
                }
            }
            s = (s & !clear) | set;
        }
    }
    (s, lim, l0)
}

/// Piece ends found by [`GptFinder::find`]: `ends[k] & 0x7FFF_FFFF` is the end of piece k
/// (relative to the input), bit 31 says the piece contains `\n`. Piece 0 starts at 0, piece
/// k at the end of piece k - 1.
pub struct GptSpans {
    /// The ends.
    pub ends: Box<[u32]>,
    /// How many.
    pub len: usize,
    /// The pieces are from windows holding non-ASCII bytes (they may hold non-ASCII
    /// characters); else all are ASCII. One call reports pieces of one kind.
    pub wide: bool,
}

/// Most pieces per call.
pub const GPT_MAX_SPANS: usize = 2048;

impl Default for GptSpans {
    fn default() -> Self {
        GptSpans {
            ends: vec![0; GPT_MAX_SPANS + 128].into_boxed_slice(),
            len: 0,
            wide: false,
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

    /// The non-ASCII byte masks ([`classify_high_scalar`]).
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn classify_high(w: &[u8; 64]) -> GptHigh {
        classify_high_scalar(w)
    }

    /// Every mask of `m` compressed to the bits of `lead` (`pext`).
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn compact(m: &mut GptMasks, lead: u64) {
        let x = SoftPext::new(lead);
        each_mask!(*m, |v| x.compress(v));
    }

    /// The low bits of `x` spread to the bits of `lead` (`pdep`).
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn deposit(x: u64, lead: u64) -> u64 {
        SoftPext::new(lead).expand(x)
    }

    /// Append `base + i` for each set bit i of `bits` to `out` at `*len` (which must be at
    /// least 64 below `out.len()`), with the newline flag ([`GptSpans`]) on the pieces whose
    /// end bit is in `flags` (a subset of `bits`).
    ///
    /// # Safety
    /// The CPU must support the target features of the implementing type.
    #[inline(always)]
    unsafe fn flatten_flagged(out: &mut [u32], len: &mut usize, base: u32, bits: u64, flags: u64) {
        flatten_flagged_scalar(out, len, base, bits, flags);
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
    let cap = out.ends.len() - 128;
    while pos + 64 <= input.len() && out.len < cap {
        let w: &[u8; 64] = input[pos..pos + 64].try_into().expect("64 bytes");
        // SAFETY: forwarded from this function's contract.
        let m = unsafe { C::classify::<K>(w) };
        // Opaque: else LLVM may keep the masks as vectors of booleans (the movemask results)
        // and do the shifts below byte by byte.
        let m = opaque::<K>(m);
        // One call reports pieces of one kind of window (the caller reports those of ASCII
        // windows as a run): stop where the kind changes.
        let wide = m.high != 0;
        if wide != out.wide {
            if out.len > 0 {
                return GptStop {
                    end: pos,
                    retry: pos,
                };
            }
            out.wide = wide;
        }
        if wide {
            // SAFETY: forwarded from this function's contract.
            match unsafe { wide_window::<C, K>(input, pos, m, out) } {
                Ok(next) => {
                    pos = next;
                    continue;
                }
                Err(stop) => return stop,
            }
        }
        let (s, lim, _) = starts(kind, &m, |i, fold| contraction(w, i, fold));
        // Starts in (0, lim] (lim <= 61).
        let emit = s & !1 & ((2u64 << lim) - 1);
        if emit == 0 {
            // A piece of 60 or more bytes: the caller takes it.
            return GptStop {
                end: pos,
                retry: pos + 1,
            };
        }
        // The ends of pieces holding a `\n`: the first end after each `\n`, at the byte after
        // it or reached by a carry from there through the non-ends (several carries into one
        // run of non-ends make one carry out of it).
        let after_nl = m.nl << 1;
        let flags = (after_nl | (!emit).wrapping_add(after_nl & !emit)) & emit;
        // SAFETY: forwarded from this function's contract; `out.len < cap` leaves 128 slots.
        unsafe { C::flatten_flagged(&mut out.ends, &mut out.len, pos as u32, emit, flags) };
        pos += 63 - emit.leading_zeros() as usize;
    }
    GptStop {
        end: pos,
        retry: pos,
    }
}

/// The masks of a classifier's `m` for the pattern numbered `K`, each in a general-purpose
/// register that the optimizer cannot see through (an empty `asm!`; `black_box` went through
/// memory: a store and a reload on the way to the next window). The masks the classifiers
/// leave 0 for `K` ([`masks_for`]; `both` always) are literal zeros, so the start rules fold
/// them away.
#[inline(always)]
fn opaque<const K: u8>(mut m: GptMasks) -> GptMasks {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    each_mask!(m, |mut v: u64| {
        // SAFETY: an empty template: no instruction, no memory access, no stack use; the
        // value stays in its register.
        unsafe { std::arch::asm!("/* {0} */", inout(reg) v, options(pure, nomem, nostack)) };
        v
    });
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        m = std::hint::black_box(m);
    }
    debug_assert!(m.both == 0 && (K == 2 || m.lower | m.slash == 0) && (K != 0 || m.cr == 0));
    m.both = 0;
    if K != 2 {
        m.lower = 0;
        m.slash = 0;
    }
    if K == 0 {
        m.cr = 0;
    }
    m
}

/// `generic::flatten_scalar` with the newline flag of the pieces whose end bit is in `flags`
/// set in the same store (setting it afterwards, a byte store into a slot the compiler had
/// just written with a vector store, waited for that store on every window with a newline).
/// Volatile stores: else LLVM packs each eight values into a vector with `vpinsrd`, a serial
/// chain slower than the eight stores.
#[inline(always)]
fn flatten_flagged_scalar(out: &mut [u32], len: &mut usize, base: u32, bits: u64, flags: u64) {
    if flags == 0 {
        flatten_steps::<false>(out, len, base, bits, 0);
    } else {
        flatten_steps::<true>(out, len, base, bits, flags);
    }
}

/// [`flatten_flagged_scalar`], the flags read only when `FLAGS`.
#[inline(always)]
fn flatten_steps<const FLAGS: bool>(
    out: &mut [u32],
    len: &mut usize,
    base: u32,
    mut bits: u64,
    flags: u64,
) {
    let count = bits.count_ones() as usize;
    let mut i = *len;
    let end = i + count;
    // Whole steps of eight from `*len`: every write is below `*len + 64`.
    assert!(*len + 64 <= out.len(), "span buffer without slack");
    let dst = out.as_mut_ptr();
    while i < end {
        for _ in 0..8 {
            let b = bits.trailing_zeros();
            // Bit 0 of `flags >> b` to bit 31 (past the last piece `b` is 64: any value, the
            // slot is slack).
            let flag = if FLAGS {
                ((flags >> (b & 63)) as u32) << 31
            } else {
                0
            };
            // SAFETY: `i < *len + 64 <= out.len()` (checked above): the loop stops at the
            // first multiple of eight steps that reaches `end <= *len + 64`; `dst` is `out`'s,
            // which is borrowed mutably for this whole function.
            unsafe { dst.add(i).write_volatile((base + b) | flag) };
            bits &= bits.wrapping_sub(1);
            i += 1;
        }
    }
    *len = end;
}

/// One 64-byte block of a window of characters.
#[derive(Clone, Copy, Default)]
struct Block {
    /// Its first byte, from the window's.
    off: usize,
    /// The first byte of each of its characters (that are in the window).
    lead: u64,
    /// The position of its first character in the window.
    first: u32,
}

/// A window of characters takes up to this many blocks...
const MAX_BLOCKS: usize = 4;
/// ...while it has fewer characters than this.
const WIDE_CHARS: u32 = 48;

/// `win |= m << k`, every mask (`k < 64`).
#[inline(always)]
fn or_shifted(win: &mut GptMasks, m: &GptMasks, k: u32) {
    win.upper |= m.upper << k;
    win.lower |= m.lower << k;
    win.digit |= m.digit << k;
    win.ws |= m.ws << k;
    win.cr |= m.cr << k;
    win.nl |= m.nl << k;
    win.space |= m.space << k;
    win.apos |= m.apos << k;
    win.slash |= m.slash << k;
    win.high |= m.high << k;
    win.both |= m.both << k;
}

/// The byte (from the window's first) of character `i` of a window of characters.
#[inline]
fn byte_of(blocks: &[Block], i: usize) -> usize {
    let b = blocks
        .iter()
        .rev()
        .find(|b| b.first as usize <= i)
        .expect("block 0 starts at 0");
    let mut l = b.lead;
    for _ in 0..i - b.first as usize {
        l &= l - 1;
    }
    b.off + l.trailing_zeros() as usize
}

/// A window holding non-ASCII characters (its first block classified as `m`): the masks
/// of up to 64 characters from up to [`MAX_BLOCKS`] blocks of 64 bytes, each compressed to
/// one bit per character, then the start rules as for bytes. Returns the next window's
/// position, or the stop.
///
/// # Safety
/// The CPU must support the target features of `C`; `out.len` at least 128 below its
/// capacity.
#[inline(always)]
unsafe fn wide_window<C: GptClassify, const K: u8>(
    input: &[u8],
    pos: usize,
    mut m: GptMasks,
    out: &mut GptSpans,
) -> Result<usize, GptStop> {
    let mut blocks = [Block::default(); MAX_BLOCKS];
    let mut nb = 0;
    let mut win = GptMasks::default();
    let mut total = 0u32;
    let mut off = 0usize;
    loop {
        let w: &[u8; 64] = input[pos + off..pos + off + 64]
            .try_into()
            .expect("64 bytes");
        let (mut lead, mut end, mut stopped) = (!0u64, 64usize, false);
        if m.high != 0 {
            // SAFETY: forwarded from this function's contract.
            let h = unsafe { C::classify_high(w) };
            (lead, end) = widen::<K>(w, h, &mut m);
            stopped = m.high != 0;
            // SAFETY: forwarded from this function's contract.
            unsafe { C::compact(&mut m, lead) };
        }
        // Only the characters that fit.
        let room = 64 - total;
        if lead.count_ones() > room {
            // SAFETY: forwarded from this function's contract.
            lead = unsafe { C::deposit((1u64 << room) - 1, lead) };
        }
        or_shifted(&mut win, &m, total);
        blocks[nb] = Block {
            off,
            lead,
            first: total,
        };
        nb += 1;
        total += lead.count_ones();
        if stopped || total >= WIDE_CHARS || nb == MAX_BLOCKS {
            break;
        }
        off += end;
        if pos + off + 64 > input.len() {
            break;
        }
        let w: &[u8; 64] = input[pos + off..pos + off + 64]
            .try_into()
            .expect("64 bytes");
        // SAFETY: forwarded from this function's contract.
        m = unsafe { C::classify::<K>(w) };
    }
    if total < 64 {
        win.high |= !0u64 << total;
    }
    let blocks = &blocks[..nb];
    let (s, lim, l0) = starts(kind_of(K), &win, |i, fold| {
        let b = pos + byte_of(blocks, i);
        // The contraction's letters are ASCII (`ſ` is a stop): one byte per character.
        contraction(input, b, fold).map(|e| i + (e - b))
    });
    let emit = s & !1 & ((2u64 << lim) - 1);
    if emit == 0 {
        // Past the stop (a character the finder does not take), or the next piece (one of
        // 60 or more characters).
        let retry = if l0 < total {
            pos + byte_of(blocks, l0 as usize) + 1
        } else {
            pos + 1
        };
        return Err(GptStop { end: pos, retry });
    }
    let after_nl = win.nl << 1;
    let flags = (after_nl | (!emit).wrapping_add(after_nl & !emit)) & emit;
    let mut next = pos;
    for b in blocks {
        let c = b.lead.count_ones();
        let chars = if c >= 64 { !0 } else { (1u64 << c) - 1 };
        let part = (emit >> b.first) & chars;
        // SAFETY: forwarded from this function's contract.
        let bytes = unsafe { C::deposit(part, b.lead) };
        if bytes == 0 {
            continue;
        }
        let fpart = (flags >> b.first) & chars;
        let fbytes = if fpart == 0 {
            0
        } else {
            // SAFETY: forwarded from this function's contract.
            unsafe { C::deposit(fpart, b.lead) }
        };
        let base = pos + b.off;
        // SAFETY: forwarded from this function's contract; at most 63 pieces per window.
        unsafe { C::flatten_flagged(&mut out.ends, &mut out.len, base as u32, bytes, fbytes) };
        next = base + 63 - bytes.leading_zeros() as usize;
    }
    Ok(next)
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

/// The non-ASCII masks of every vector classifier this CPU runs, for tests.
pub fn classify_high_all_levels(w: &[u8; 64]) -> Vec<(Level, GptHigh)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    x86::classify_high_all(w, &mut out);
    #[cfg(target_arch = "aarch64")]
    arm::classify_high_all(w, &mut out);
    let _ = w;
    out
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

    use super::{GptClassify, GptHigh, GptKind, GptMasks, GptSpans, GptStop, find_with};
    use crate::scan::Level;
    use crate::scan::x86_64::IOTA;

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

        #[inline(always)]
        unsafe fn classify_high(w: &[u8; 64]) -> GptHigh {
            // SAFETY: as in `classify`.
            unsafe {
                let mut h = GptHigh::default();
                for k in 0..4 {
                    let v = _mm_loadu_si128(w.as_ptr().add(16 * k).cast());
                    let range = |x: __m128i, lo: u8, n: u8| {
                        let t = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
                        _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(n as i8)), t)
                    };
                    let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
                    let mm = |x: __m128i| (_mm_movemask_epi8(x) as u32 as u64) << (16 * k);
                    h.cont |= mm(range(v, 0x80, 0x3F));
                    h.cjk |= mm(range(v, 0xE4, 5));
                    h.e4 |= mm(eq(0xE4));
                    h.b7 |= mm(eq(0xB7));
                    h.e3 |= mm(_mm_andnot_si128(eq(0xED), range(v, 0xE1, 14)));
                }
                h
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

        #[inline(always)]
        unsafe fn classify_high(w: &[u8; 64]) -> GptHigh {
            // SAFETY: as in `classify`.
            unsafe {
                let mut h = GptHigh::default();
                for k in 0..2 {
                    let v = _mm256_loadu_si256(w.as_ptr().add(32 * k).cast());
                    let range = |x: __m256i, lo: u8, n: u8| {
                        let t = _mm256_sub_epi8(x, _mm256_set1_epi8(lo as i8));
                        _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(n as i8)), t)
                    };
                    let eq = |b: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8));
                    let mm = |x: __m256i| (_mm256_movemask_epi8(x) as u32 as u64) << (32 * k);
                    h.cont |= mm(range(v, 0x80, 0x3F));
                    h.cjk |= mm(range(v, 0xE4, 5));
                    h.e4 |= mm(eq(0xE4));
                    h.b7 |= mm(eq(0xB7));
                    h.e3 |= mm(_mm256_andnot_si256(eq(0xED), range(v, 0xE1, 14)));
                }
                h
            }
        }

        #[inline(always)]
        unsafe fn compact(m: &mut GptMasks, lead: u64) {
            // SAFETY: the caller guarantees BMI2 (part of the AVX2 level).
            each_mask!(*m, |v| unsafe { _pext_u64(v, lead) });
        }

        #[inline(always)]
        unsafe fn deposit(x: u64, lead: u64) -> u64 {
            // SAFETY: the caller guarantees BMI2 (part of the AVX2 level).
            unsafe { _pdep_u64(x, lead) }
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
                    both: 0,
                }
            }
        }

        #[inline(always)]
        unsafe fn classify_high(w: &[u8; 64]) -> GptHigh {
            // SAFETY: as in `classify`.
            unsafe {
                let v = _mm512_loadu_si512(w.as_ptr().cast());
                let range = |lo: u8, n: u8| {
                    let t = _mm512_sub_epi8(v, _mm512_set1_epi8(lo as i8));
                    _mm512_cmple_epu8_mask(t, _mm512_set1_epi8(n as i8))
                };
                let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b as i8));
                GptHigh {
                    cont: range(0x80, 0x3F),
                    cjk: range(0xE4, 5),
                    e4: eq(0xE4),
                    b7: eq(0xB7),
                    e3: range(0xE1, 14) & !eq(0xED),
                }
            }
        }

        #[inline(always)]
        unsafe fn compact(m: &mut GptMasks, lead: u64) {
            // SAFETY: the caller guarantees BMI2 (part of the AVX-512 level).
            each_mask!(*m, |v| unsafe { _pext_u64(v, lead) });
        }

        #[inline(always)]
        unsafe fn deposit(x: u64, lead: u64) -> u64 {
            // SAFETY: the caller guarantees BMI2 (part of the AVX-512 level).
            unsafe { _pdep_u64(x, lead) }
        }

        /// Compress the byte indices 0..63 by the mask (VBMI2, in a register), then widen
        /// sixteen at a time to u32, add `base` and set the flags (`pext` of `flags` by
        /// `bits`: bit k for piece k) in the same stores (a byte store into a slot just
        /// written by a 64-byte store cannot be forwarded: it waited for the store).
        #[inline(always)]
        unsafe fn flatten_flagged(
            out: &mut [u32],
            len: &mut usize,
            base: u32,
            bits: u64,
            flags: u64,
        ) {
            let count = bits.count_ones() as usize;
            assert!(*len + 64 <= out.len(), "span buffer without slack");
            // SAFETY: the caller guarantees AVX-512F/BW/VBMI2 and BMI2 (contract of
            // `GptClassify::flatten_flagged`); the IOTA load reads its 64 bytes; each store writes 16
            // u32 at `*len + 16 * k` for `16 * k < count <= 64`, so below
            // `*len + 64 <= out.len()` (checked above).
            unsafe {
                let idx =
                    _mm512_maskz_compress_epi8(bits, _mm512_loadu_si512(IOTA.as_ptr().cast()));
                // Bit k: piece k's end holds a newline flag.
                let nl = _pext_u64(flags, bits);
                let base_v = _mm512_set1_epi32(base as i32);
                let flag_v = _mm512_set1_epi32(i32::MIN);
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
                    let wide = _mm512_mask_or_epi32(wide, (nl >> (16 * k)) as u16, wide, flag_v);
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

    pub(super) fn classify_high_all(w: &[u8; 64], out: &mut Vec<(Level, GptHigh)>) {
        if Level::Sse42.is_available() {
            // SAFETY: checked above.
            out.push((Level::Sse42, unsafe { Sse42::classify_high(w) }));
        }
        if Level::Avx2.is_available() {
            // SAFETY: checked above.
            out.push((Level::Avx2, unsafe { Avx2::classify_high(w) }));
        }
        if Level::Avx512.is_available() {
            // SAFETY: checked above.
            out.push((Level::Avx512, unsafe { Avx512::classify_high(w) }));
        }
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

    use super::{GptClassify, GptHigh, GptKind, GptMasks, GptSpans, GptStop, find_with};
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
                    both: 0,
                }
            }
        }

        #[inline(always)]
        unsafe fn classify_high(w: &[u8; 64]) -> GptHigh {
            // SAFETY: as in `classify`.
            unsafe {
                let z = vdupq_n_u8(0);
                let mut c = [[z; 4]; 5];
                for k in 0..4 {
                    let v = vld1q_u8(w.as_ptr().add(16 * k));
                    let range =
                        |lo: u8, n: u8| vcleq_u8(vsubq_u8(v, vdupq_n_u8(lo)), vdupq_n_u8(n));
                    c[0][k] = range(0x80, 0x3F);
                    c[1][k] = range(0xE4, 5);
                    c[2][k] = vceqq_u8(v, vdupq_n_u8(0xE4));
                    c[3][k] = vceqq_u8(v, vdupq_n_u8(0xB7));
                    c[4][k] = vbicq_u8(range(0xE1, 14), vceqq_u8(v, vdupq_n_u8(0xED)));
                }
                GptHigh {
                    cont: movemask64(c[0]),
                    cjk: movemask64(c[1]),
                    e4: movemask64(c[2]),
                    b7: movemask64(c[3]),
                    e3: movemask64(c[4]),
                }
            }
        }
    }

    pub(super) fn find_neon(input: &[u8], kind: GptKind, out: &mut GptSpans) -> GptStop {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { find_with::<Neon>(input, kind, out) }
    }

    pub(super) fn classify_high_all(w: &[u8; 64], out: &mut Vec<(Level, GptHigh)>) {
        // SAFETY: NEON is part of the aarch64 baseline.
        out.push((Level::Neon, unsafe { Neon::classify_high(w) }));
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

    /// `widen` takes every well-formed three-byte character with lead `E4..=E9` (U+4000..U+9FFF)
    /// as a letter in both of o200k's classes without a lookup, except `E4 B7 xx`
    /// (U+4DC0..U+4DFF): the class table (checked against regex-syntax in tests/it/gpt.rs)
    /// must agree on every one of them, and the slot table must file them as the ideographs.
    #[test]
    fn cjk_lead_bytes_are_letters_in_the_class_table() {
        use crate::unicode::gpt_tables::{L, LO, UP, gpt_class};
        for cp in 0x4000u32..=0x9FFF {
            let k = gpt_class(cp);
            if (0x4DC0..=0x4DFF).contains(&cp) {
                assert_eq!(k & L, 0, "U+{cp:04X} is not a letter");
            } else {
                assert_eq!(k & (L | UP | LO), L | UP | LO, "U+{cp:04X} must be Lo/Lm");
                assert_eq!(SLOTS[0][usize::from(k & 63)], 1, "U+{cp:04X}");
                assert_eq!(SLOTS[1][usize::from(k & 63)], 1, "U+{cp:04X}");
                assert_eq!(SLOTS[2][usize::from(k & 63)], 3, "U+{cp:04X}");
            }
        }
    }

    #[test]
    fn soft_pext_equals_the_bit_loop() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for k in 0..20_000 {
            let m = match k % 4 {
                0 => next(),
                1 => next() & next(),
                2 => !(next() & next() & next()),
                _ => [0, !0, 1, 1 << 63, 0x9249_2492_4924_9249][k / 4 % 5],
            };
            let v = next();
            let (mut want_c, mut want_e, mut j) = (0u64, 0u64, 0);
            for i in 0..64 {
                if m >> i & 1 != 0 {
                    want_c |= (v >> i & 1) << j;
                    want_e |= (v >> j & 1) << i;
                    j += 1;
                }
            }
            let p = SoftPext::new(m);
            assert_eq!(p.compress(v), want_c, "compress {v:#x} by {m:#x}");
            assert_eq!(p.expand(v), want_e, "expand {v:#x} by {m:#x}");
        }
    }

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
                    let pool = b" \n\t\r\x0b\x0c'/.aAzZ09@[`{\x80\xff\xe4\xe9\xb7\xbf\xe3\xea\xc0";
                    pool[(r >> 8) as usize % pool.len()]
                }
            }));
        }
        for w in &blocks {
            let high = classify_high_scalar(w);
            for (level, got) in classify_high_all_levels(w) {
                assert_eq!(got, high, "{level} (non-ASCII) on {w:?}");
            }
            let all = classify_scalar(w);
            let want = [GptKind::Gpt2, GptKind::Cl100k, GptKind::O200k].map(|k| masks_for(k, all));
            for (level, got) in classify_all_levels(w) {
                assert_eq!(got, want, "{level} on {w:?}");
            }
        }
    }
}
