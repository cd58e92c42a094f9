//! The byte-class table for ASCII: the single source of truth for what an ASCII byte is to the
//! BERT rules. Non-ASCII bytes are classified per character by [`crate::unicode`].

/// ASCII whitespace that always separates pieces: `\t \n \r` and space.
pub const WS: u8 = 1;
/// ASCII punctuation (`!`–`/`, `:`–`@`, `[`–`` ` ``, `{`–`~`): always its own piece.
pub const PUNCT: u8 = 2;
/// ASCII letters and digits.
pub const WORD: u8 = 3;
/// C0 controls other than `\t \n \r`, and DEL. Deleted by BERT's clean_text (`\x0B` and `\x0C`
/// are White_Space but also Cc, and HF deletes them before mapping whitespace).
pub const CONTROL: u8 = 4;
/// The first byte of a non-ASCII character (or an invalid byte).
pub const HIGH: u8 = 5;

const fn build() -> [u8; 256] {
    let mut t = [HIGH; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c == b'\t' || c == b'\n' || c == b'\r' || c == b' ' {
            WS
        } else if c.is_ascii_punctuation() {
            PUNCT
        } else if c.is_ascii_alphanumeric() {
            WORD
        } else {
            CONTROL
        };
        b += 1;
    }
    t
}

/// Class of every byte value.
pub static BYTE_CLASS: [u8; 256] = build();

// Nibble tables for vector classification (simdjson's technique): for an ASCII byte b,
// `NIBBLE_LO[b & 15] & NIBBLE_HI[b >> 4]` has a WS bit iff b is WS, a PUNCT bit iff b is PUNCT.
// Each bit is one "rectangle" of the 16×16 byte grid: a set of high nibbles × a set of low
// nibbles. Bytes >= 0x80 get 0 (NIBBLE_HI[8..] is 0).

/// Rectangles: (bit, high nibbles, low nibbles) as bit sets.
const RECTANGLES: [(u8, u16, u16); 7] = [
    (0, 1 << 0, (1 << 0x9) | (1 << 0xA) | (1 << 0xD)), // \t \n \r
    (1, 1 << 2, 1 << 0x0),                             // space
    (2, 1 << 2, 0xFFFE),                               // ! " # ... /
    (3, 1 << 3, 0xFC00),                               // : ; < = > ?
    (4, (1 << 4) | (1 << 6), 1 << 0x0),                // @ `
    (5, (1 << 5) | (1 << 7), 0x7800),                  // [ \ ] ^ { | } ~
    (6, 1 << 5, 1 << 0xF),                             // _
];

/// Bits of a nibble lookup result that mean whitespace.
pub const NIBBLE_WS: u8 = 0b0000_0011;
/// Bits of a nibble lookup result that mean punctuation.
pub const NIBBLE_PUNCT: u8 = 0b0111_1100;

const fn nibble_table(high: bool) -> [u8; 16] {
    let mut t = [0u8; 16];
    let mut r = 0;
    while r < RECTANGLES.len() {
        let (bit, hi, lo) = RECTANGLES[r];
        let set = if high { hi } else { lo };
        let mut n = 0;
        while n < 16 {
            if set & (1 << n) != 0 {
                t[n] |= 1 << bit;
            }
            n += 1;
        }
        r += 1;
    }
    t
}

/// Low-nibble lookup table.
pub static NIBBLE_LO: [u8; 16] = nibble_table(false);
/// High-nibble lookup table.
pub static NIBBLE_HI: [u8; 16] = nibble_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_agrees_with_char_predicates() {
        for b in 0u8..128 {
            let c = b as char;
            let want = match () {
                _ if matches!(c, '\t' | '\n' | '\r' | ' ') => WS,
                _ if c.is_ascii_punctuation() => PUNCT,
                _ if c.is_ascii_alphanumeric() => WORD,
                _ => {
                    assert!(c.is_control(), "{b:#x}");
                    CONTROL
                }
            };
            assert_eq!(BYTE_CLASS[b as usize], want, "{b:#x}");
        }
        assert!(BYTE_CLASS[128..].iter().all(|&c| c == HIGH));
    }

    #[test]
    fn nibble_tables_agree_with_the_class_table() {
        for b in 0..=255u8 {
            let c = NIBBLE_LO[(b & 15) as usize] & NIBBLE_HI[(b >> 4) as usize];
            assert_eq!(c & NIBBLE_WS != 0, BYTE_CLASS[b as usize] == WS, "{b:#x}");
            assert_eq!(
                c & NIBBLE_PUNCT != 0,
                BYTE_CLASS[b as usize] == PUNCT,
                "{b:#x}"
            );
        }
    }
}
