//! The `encode` writer: token ids in every format.

use std::io::Write;

use super::Format;

/// Ids buffered for the binary formats before one `write_all`.
const BINARY_BATCH: usize = 16 * 1024;

/// Writes token ids in a [`Format`].
///
/// * `text`: ids in decimal separated by one space, one output line per input line.
/// * `jsonl`: `{"tokens":[[id,start,end],...]}` per input line, offsets absolute.
/// * `u32` / `u16`: raw little-endian ids, no separators (nanoGPT-style `.bin`).
/// * `none`: nothing.
pub struct TokenWriter<W: Write> {
    out: W,
    format: Format,
    in_line: bool,
    ids32: Vec<u32>,
    ids16: Vec<u16>,
}

impl<W: Write> TokenWriter<W> {
    /// A writer of `format` into `out`, for a vocabulary of `vocab_size` ids.
    pub fn new(out: W, format: Format, vocab_size: usize) -> crate::Result<Self> {
        if format == Format::U16 && vocab_size > 1 << 16 {
            return Err(crate::Error::config(format!(
                "--format u16 cannot hold this model's {vocab_size} ids (at most 65,536): use u32"
            )));
        }
        // Full size from the start: the pipeline makes a writer per chunk, and growing the
        // buffer by doubling each time cost a copy of every id.
        let cap = |f| if format == f { BINARY_BATCH } else { 0 };
        Ok(TokenWriter {
            out,
            format,
            in_line: false,
            ids32: Vec::with_capacity(cap(Format::U32)),
            ids16: Vec::with_capacity(cap(Format::U16)),
        })
    }

    /// Write one token with its absolute byte offsets.
    #[inline]
    pub fn token(&mut self, id: u32, start: u64, end: u64) -> crate::Result<()> {
        match self.format {
            Format::Text => {
                if self.in_line {
                    self.out.write_all(b" ")?;
                }
                write_decimal(&mut self.out, id)?;
            }
            Format::Jsonl => {
                let sep: &[u8] = if self.in_line { b"," } else { b"{\"tokens\":[" };
                self.out.write_all(sep)?;
                write!(self.out, "[{id},{start},{end}]")?;
            }
            Format::U32 => {
                self.ids32.push(id.to_le());
                if self.ids32.len() >= BINARY_BATCH {
                    self.flush_ids()?;
                }
            }
            Format::U16 => {
                // Checked against the vocabulary size in `new`.
                self.ids16.push((id as u16).to_le());
                if self.ids16.len() >= BINARY_BATCH {
                    self.flush_ids()?;
                }
            }
            Format::None => {}
        }
        self.in_line = true;
        Ok(())
    }

    /// Write a run of tokens (no line end between them): the same bytes as
    /// [`TokenWriter::token`] on each, with the format decided once.
    #[inline]
    pub fn tokens(&mut self, ts: &[crate::pipeline::Token]) -> crate::Result<()> {
        match self.format {
            Format::U32 if self.ids32.is_empty() => {
                // Straight to the output, 64 ids per write (no staging buffer: the pipeline's
                // output is a `Vec<u8>`, where a write is a copy).
                for run in ts.chunks(64) {
                    let mut bytes = [0u8; 4 * 64];
                    for (b, t) in bytes.chunks_exact_mut(4).zip(run) {
                        b.copy_from_slice(&t.id.to_le_bytes());
                    }
                    self.out.write_all(&bytes[..4 * run.len()])?;
                }
            }
            Format::U32 => {
                self.ids32.extend(ts.iter().map(|t| t.id.to_le()));
                if self.ids32.len() >= BINARY_BATCH {
                    self.flush_ids()?;
                }
            }
            Format::U16 => {
                // Checked against the vocabulary size in `new`.
                self.ids16.extend(ts.iter().map(|t| (t.id as u16).to_le()));
                if self.ids16.len() >= BINARY_BATCH {
                    self.flush_ids()?;
                }
            }
            Format::None => {}
            Format::Text | Format::Jsonl => {
                for t in ts {
                    self.token(t.id, t.start, t.end)?;
                }
                return Ok(());
            }
        }
        self.in_line |= !ts.is_empty();
        Ok(())
    }

    /// False for the binary formats and `none`, where [`TokenWriter::line_end`] writes
    /// nothing.
    pub fn needs_line_ends(&self) -> bool {
        matches!(self.format, Format::Text | Format::Jsonl)
    }

    /// The end of an input line.
    pub fn line_end(&mut self) -> crate::Result<()> {
        match self.format {
            Format::Text => self.out.write_all(b"\n")?,
            Format::Jsonl if self.in_line => self.out.write_all(b"]}\n")?,
            Format::Jsonl => self.out.write_all(b"{\"tokens\":[]}\n")?,
            _ => {}
        }
        self.in_line = false;
        Ok(())
    }

    fn flush_ids(&mut self) -> std::io::Result<()> {
        self.out.write_all(bytemuck::cast_slice(&self.ids32))?;
        self.out.write_all(bytemuck::cast_slice(&self.ids16))?;
        self.ids32.clear();
        self.ids16.clear();
        Ok(())
    }

    /// Flush and return the inner writer.
    pub fn finish(mut self) -> crate::Result<W> {
        self.flush_ids()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Write `n` in decimal (the `text` format's hot path: no formatting machinery).
#[inline]
fn write_decimal(out: &mut impl Write, mut n: u32) -> std::io::Result<()> {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.write_all(&buf[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_formats_are_little_endian() {
        let mut w = TokenWriter::new(Vec::new(), Format::U32, 30522).unwrap();
        w.token(0x0102_0304, 0, 1).unwrap();
        w.token(7, 1, 2).unwrap();
        assert_eq!(w.finish().unwrap(), [4, 3, 2, 1, 7, 0, 0, 0]);
        let mut w = TokenWriter::new(Vec::new(), Format::U16, 30522).unwrap();
        w.token(0x0102, 0, 1).unwrap();
        assert_eq!(w.finish().unwrap(), [2, 1]);
        assert!(TokenWriter::new(Vec::new(), Format::U16, 100_256).is_err());
        assert!(TokenWriter::new(Vec::new(), Format::U16, 65_536).is_ok());
    }

    /// Runs of tokens (written straight out) and single tokens (staged) interleave in order,
    /// in every format, with the same bytes as one token at a time.
    #[test]
    fn runs_and_single_tokens_keep_their_order() {
        use crate::pipeline::Token;
        let toks: Vec<Token> = (0..300u32)
            .map(|i| Token {
                id: i * 7 + 1,
                start: u64::from(i),
                end: u64::from(i) + 1,
            })
            .collect();
        for format in [Format::U32, Format::U16, Format::Text, Format::Jsonl] {
            let mut one = TokenWriter::new(Vec::new(), format, 30522).unwrap();
            for t in &toks {
                one.token(t.id, t.start, t.end).unwrap();
            }
            let mut mixed = TokenWriter::new(Vec::new(), format, 30522).unwrap();
            let (a, rest) = toks.split_at(5);
            let (b, rest) = rest.split_at(1);
            let (c, rest) = rest.split_at(150);
            mixed.tokens(a).unwrap();
            mixed.token(b[0].id, b[0].start, b[0].end).unwrap();
            mixed.tokens(c).unwrap();
            mixed.tokens(&[]).unwrap();
            mixed.tokens(rest).unwrap();
            assert_eq!(mixed.finish().unwrap(), one.finish().unwrap(), "{format}");
        }
    }

    #[test]
    fn text_and_jsonl_lines() {
        let mut w = TokenWriter::new(Vec::new(), Format::Text, 10).unwrap();
        w.token(1, 0, 1).unwrap();
        w.token(23, 2, 4).unwrap();
        w.line_end().unwrap();
        w.line_end().unwrap();
        assert_eq!(w.finish().unwrap(), b"1 23\n\n");
        let mut w = TokenWriter::new(Vec::new(), Format::Jsonl, 10).unwrap();
        w.token(1, 0, 1).unwrap();
        w.token(23, 2, 4).unwrap();
        w.line_end().unwrap();
        w.line_end().unwrap();
        assert_eq!(
            w.finish().unwrap(),
            b"{\"tokens\":[[1,0,1],[23,2,4]]}\n{\"tokens\":[]}\n"
        );
    }
}
