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
}
