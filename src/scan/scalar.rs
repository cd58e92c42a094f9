//! The obvious byte loop: the portable piece finder and the oracle for every vectorized one.

use super::class::{BYTE_CLASS, PUNCT, WORD, WS};
use super::{CharTable, MAX_SPANS, Spans};

/// See [`super::Scanner::find_pieces`].
pub fn find_pieces(input: &[u8], table: Option<&CharTable>, out: &mut Spans) -> usize {
    // (length, is a word character) of a non-ASCII character the table knows, else length 0.
    let class_at = |i: usize| table.map_or((0, false), |t| t.class_at(input, i));
    // Length of the word character at `i` (ASCII letter or digit, or from the table), or 0.
    let word_char_at = |i: usize| match input.get(i) {
        Some(&b) if b < 0x80 => (BYTE_CLASS[b as usize] == WORD) as usize,
        Some(_) => match class_at(i) {
            (len, true) => len,
            _ => 0,
        },
        None => 0,
    };
    let mut i = 0;
    while i < input.len() {
        if out.len >= MAX_SPANS {
            return i;
        }
        let b = input[i];
        if b < 0x80 && BYTE_CLASS[b as usize] != WORD {
            match BYTE_CLASS[b as usize] {
                WS if b == b'\n' => {
                    out.push(i as u32, i as u32 + 1); // a line end for the caller
                    out.line_ends += 1;
                }
                WS => {}
                PUNCT => out.push(i as u32, i as u32 + 1),
                _ => return i, // a control character
            }
            i += 1;
            continue;
        }
        match class_at(i) {
            (len, false) if len > 0 => {
                out.push(i as u32, (i + len) as u32); // a single
                i += len;
                continue;
            }
            (0, _) if b >= 0x80 => return i,
            _ => {}
        }
        // A word: ASCII letters and digits and the table's word characters.
        let mut e = i;
        let mut multibyte = false;
        loop {
            let len = word_char_at(e);
            if len == 0 {
                break;
            }
            multibyte |= len > 1;
            e += len;
        }
        let ends_here = match input.get(e) {
            Some(&c) if c < 0x80 => matches!(BYTE_CLASS[c as usize], WS | PUNCT),
            Some(_) => matches!(class_at(e), (len, false) if len > 0),
            None => false,
        };
        if !ends_here {
            return i; // touches the end or a byte the caller must see
        }
        out.push(i as u32, e as u32);
        out.multibyte_words |= multibyte;
        i = e;
    }
    i
}
