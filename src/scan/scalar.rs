//! The obvious byte loop: the portable piece finder and the oracle for every vectorized one.

use super::class::{BYTE_CLASS, PUNCT, WORD, WS};
use super::{MAX_SPANS, Spans};

/// See [`super::Scanner::ascii_pieces`].
pub fn ascii_pieces(input: &[u8], out: &mut Spans) -> usize {
    let mut i = 0;
    while i < input.len() {
        if out.len >= MAX_SPANS {
            return i;
        }
        match BYTE_CLASS[input[i] as usize] {
            WS if input[i] == b'\n' => {
                out.push(i as u32, i as u32 + 1); // a line end for the caller
                i += 1;
            }
            WS => i += 1,
            PUNCT => {
                out.push(i as u32, i as u32 + 1);
                i += 1;
            }
            WORD => {
                let mut e = i + 1;
                while e < input.len() && BYTE_CLASS[input[e] as usize] == WORD {
                    e += 1;
                }
                if e == input.len() || !matches!(BYTE_CLASS[input[e] as usize], WS | PUNCT) {
                    return i; // touches the end or a special byte
                }
                out.push(i as u32, e as u32);
                i = e;
            }
            _ => return i,
        }
    }
    i
}
