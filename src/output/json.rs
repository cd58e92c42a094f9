//! A JSON string written in pieces: bytes may arrive cut inside a UTF-8 character.

use std::io::{self, Write};

use crate::scan::utf8::{Decoded, decode};

/// Escapes bytes into the body of a JSON string (without the quotes). Invalid UTF-8 becomes
/// U+FFFD, exactly as `String::from_utf8_lossy` would replace it.
#[derive(Default)]
pub(crate) struct JsonStr {
    carry: [u8; 4],
    carry_len: usize,
}

impl JsonStr {
    pub(crate) fn push(&mut self, w: &mut impl Write, mut bytes: &[u8]) -> io::Result<()> {
        while self.carry_len > 0 && !bytes.is_empty() {
            // Complete the character cut at the previous call.
            let t = self.carry_len;
            let take = bytes.len().min(4 - t);
            let mut buf = [0u8; 4];
            buf[..t].copy_from_slice(&self.carry[..t]);
            buf[t..t + take].copy_from_slice(&bytes[..take]);
            match decode(&buf[..t + take]) {
                Decoded::Incomplete => {
                    self.carry = buf;
                    self.carry_len = t + take;
                    return Ok(());
                }
                Decoded::Char(c, n) => {
                    write_char(w, c)?;
                    self.carry_len = 0;
                    bytes = &bytes[n - t..];
                }
                Decoded::Invalid(n) => {
                    w.write_all("\u{FFFD}".as_bytes())?;
                    // Bytes of the invalid sequence beyond the carry come from `bytes`;
                    // carried bytes after it are re-examined.
                    if n >= t {
                        self.carry_len = 0;
                        bytes = &bytes[n - t..];
                    } else {
                        self.carry.copy_within(n..t, 0);
                        self.carry_len = t - n;
                    }
                }
            }
        }
        let mut i = 0;
        let mut plain = 0; // start of a run of bytes that need no escaping
        while i < bytes.len() {
            let b = bytes[i];
            if b >= 0x20 && b != b'"' && b != b'\\' && b < 0x80 {
                i += 1;
                continue;
            }
            w.write_all(&bytes[plain..i])?;
            if b < 0x80 {
                write_char(w, b as char)?;
                i += 1;
            } else {
                match decode(&bytes[i..]) {
                    Decoded::Char(c, n) => {
                        write_char(w, c)?;
                        i += n;
                    }
                    Decoded::Invalid(n) => {
                        w.write_all("\u{FFFD}".as_bytes())?;
                        i += n;
                    }
                    Decoded::Incomplete => {
                        let t = bytes.len() - i;
                        self.carry[..t].copy_from_slice(&bytes[i..]);
                        self.carry_len = t;
                        return Ok(());
                    }
                }
            }
            plain = i;
        }
        w.write_all(&bytes[plain..])
    }

    /// End of the string: a character still incomplete is replaced.
    pub(crate) fn finish(&mut self, w: &mut impl Write) -> io::Result<()> {
        if self.carry_len > 0 {
            self.carry_len = 0;
            w.write_all("\u{FFFD}".as_bytes())?;
        }
        Ok(())
    }
}

fn write_char(w: &mut impl Write, c: char) -> io::Result<()> {
    match c {
        '"' => w.write_all(b"\\\""),
        '\\' => w.write_all(b"\\\\"),
        '\n' => w.write_all(b"\\n"),
        '\r' => w.write_all(b"\\r"),
        '\t' => w.write_all(b"\\t"),
        c if (c as u32) < 0x20 => write!(w, "\\u{:04x}", c as u32),
        c => {
            let mut buf = [0u8; 4];
            w.write_all(c.encode_utf8(&mut buf).as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape_in_parts(b: &[u8], cut: usize) -> String {
        let mut out = Vec::new();
        let mut s = JsonStr::default();
        for part in b.chunks(cut) {
            s.push(&mut out, part).unwrap();
        }
        s.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_serde_json_whatever_the_cuts() {
        let inputs: &[&[u8]] = &[
            "plain ascii".as_bytes(),
            "quote\" back\\ tab\t nl\n cr\r bell\x07 é 世界 😀".as_bytes(),
            b"bad \xFF here \xE2\x82 and \xF0\x9F\x98",
            b"\xE2\x82\xAC\xC3",
        ];
        for b in inputs {
            let want = serde_json::to_string(&String::from_utf8_lossy(b)).unwrap();
            let want = &want[1..want.len() - 1];
            for cut in 1..=b.len() {
                assert_eq!(escape_in_parts(b, cut), want, "{b:?} cut {cut}");
            }
        }
    }
}
