//! Streaming-safe UTF-8 decoding with the exact replacement policy of
//! `String::from_utf8_lossy`: each *maximal subpart* of an ill-formed sequence (Unicode §3.9,
//! "U+FFFD substitution of maximal subparts") becomes one U+FFFD.

/// The result of decoding one character at the start of a byte slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A valid character and its encoded length in bytes.
    Char(char, usize),
    /// An ill-formed sequence of this many bytes (1..=3), replaced by one U+FFFD.
    Invalid(usize),
    /// The slice ends inside a sequence that is valid so far: more bytes are needed.
    Incomplete,
}

/// Length of the UTF-8 sequence a well-formed character with first byte `lead` has (1 for
/// ASCII; for a continuation or invalid byte the answer is meaningless).
#[inline(always)]
pub fn sequence_len(lead: u8) -> usize {
    match lead {
        0..0xC0 => 1,
        0xC0..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

/// Decode the character at the start of `b` (which must not be empty).
#[inline(always)]
pub fn decode(b: &[u8]) -> Decoded {
    let b0 = b[0];
    if b0 < 0x80 {
        return Decoded::Char(b0 as char, 1);
    }
    // Fast paths for well-formed 2- and 3-byte sequences (all of CJK is 3 bytes).
    if b.len() >= 3 && b0 & 0xF0 == 0xE0 && b[1] & 0xC0 == 0x80 && b[2] & 0xC0 == 0x80 {
        let cp = (b0 as u32 & 0x0F) << 12 | (b[1] as u32 & 0x3F) << 6 | (b[2] as u32 & 0x3F);
        // Not overlong, not a surrogate.
        if cp >= 0x800
            && let Some(c) = char::from_u32(cp)
        {
            return Decoded::Char(c, 3);
        }
    } else if b.len() >= 2 && (0xC2..=0xDF).contains(&b0) && b[1] & 0xC0 == 0x80 {
        let cp = (b0 as u32 & 0x1F) << 6 | (b[1] as u32 & 0x3F);
        return Decoded::Char(char::from_u32(cp).unwrap_or('\u{FFFD}'), 2);
    }
    decode_general(b)
}

/// The general case of [`decode`]: 4-byte sequences, errors and incomplete input.
#[inline(never)]
fn decode_general(b: &[u8]) -> Decoded {
    let b0 = b[0];
    // Expected length and the valid range of the second byte (Table 3-7 of the standard).
    let (len, lo, hi) = match b0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return Decoded::Invalid(1),
    };
    let Some(&b1) = b.get(1) else {
        return Decoded::Incomplete;
    };
    if !(lo..=hi).contains(&b1) {
        return Decoded::Invalid(1);
    }
    let mut cp = ((b0 as u32) & (0x7F >> len)) << 6 | (b1 as u32 & 0x3F);
    for i in 2..len {
        let Some(&bi) = b.get(i) else {
            return Decoded::Incomplete;
        };
        if bi & 0xC0 != 0x80 {
            return Decoded::Invalid(i);
        }
        cp = cp << 6 | (bi as u32 & 0x3F);
    }
    match char::from_u32(cp) {
        Some(c) => Decoded::Char(c, len),
        // Unreachable given the ranges above; treat defensively as one bad byte.
        None => Decoded::Invalid(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode a whole slice with our decoder the way the engine does.
    fn lossy(b: &[u8]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            match decode(&b[i..]) {
                Decoded::Char(c, n) => {
                    out.push(c);
                    i += n;
                }
                Decoded::Invalid(n) => {
                    out.push('\u{FFFD}');
                    i += n;
                }
                Decoded::Incomplete => {
                    out.push('\u{FFFD}');
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn matches_std_lossy_on_tricky_sequences() {
        let cases: &[&[u8]] = &[
            b"abc",
            "héllo 世界 😀".as_bytes(),
            b"\xFF",
            b"\xC0\x80",
            b"\xE0\x80\x80",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xF0\x9F\x98",
            b"\xF0\x9F\x98a",
            b"\xE2\x82",
            b"a\xE2\x82\xACb\x80\x80c",
            b"\xF5\xF8\xFC\xFE",
            b"\xC2",
        ];
        for c in cases {
            assert_eq!(lossy(c), String::from_utf8_lossy(c), "{c:?}");
        }
    }

    #[test]
    fn matches_std_lossy_on_all_short_sequences() {
        // Every 1- and 2-byte string, and 3-byte strings over an interesting byte set.
        let interesting = [
            0x00u8, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1,
            0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
        ];
        for a in 0..=255u8 {
            assert_eq!(lossy(&[a]), String::from_utf8_lossy(&[a]));
            for b in 0..=255u8 {
                assert_eq!(lossy(&[a, b]), String::from_utf8_lossy(&[a, b]));
                for &c in &interesting {
                    for &d in &interesting {
                        let s = [a, b, c, d];
                        assert_eq!(lossy(&s), String::from_utf8_lossy(&s), "{s:x?}");
                    }
                }
            }
        }
    }
}
