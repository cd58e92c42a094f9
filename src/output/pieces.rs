//! The `split` writer: prints pieces as their original bytes.

use std::io::Write;

use super::Format;
use super::json::JsonStr;
use crate::rules::{AsciiBatch, Piece, PieceSink};

/// Writes pre-token pieces in a [`Format`] and counts them.
///
/// * `text`: the original bytes of each piece, separated by one space, one output line per
///   input line (a piece never contains ASCII whitespace).
/// * `jsonl`: `{"pieces":[["text",start,end],...]}` per input line, offsets absolute.
/// * `none`: nothing.
pub struct PieceWriter<W: Write> {
    out: W,
    format: Format,
    in_line: bool,
    in_piece: bool,
    json: JsonStr,
    pieces: u64,
}

impl<W: Write> PieceWriter<W> {
    /// A writer of `format` (`text`, `jsonl` or `none`) into `out`.
    pub fn new(out: W, format: Format) -> crate::Result<Self> {
        if matches!(format, Format::U32 | Format::U16) {
            return Err(crate::Error::config(format!(
                "--format {format} writes token ids: use it with `tokstream encode`"
            )));
        }
        Ok(PieceWriter {
            out,
            format,
            in_line: false,
            in_piece: false,
            json: JsonStr::default(),
            pieces: 0,
        })
    }

    /// Pieces written so far.
    pub fn pieces(&self) -> u64 {
        self.pieces
    }

    /// Flush and return the inner writer.
    pub fn finish(mut self) -> crate::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn open_piece(&mut self) -> std::io::Result<()> {
        if self.in_piece {
            return Ok(());
        }
        self.in_piece = true;
        match self.format {
            Format::Text if self.in_line => self.out.write_all(b" ")?,
            Format::Jsonl if self.in_line => self.out.write_all(b",[\"")?,
            Format::Jsonl => self.out.write_all(b"{\"pieces\":[[\"")?,
            _ => {}
        }
        self.in_line = true;
        Ok(())
    }

    /// The default batch path: one [`Piece`] or line end at a time.
    fn ascii_batch_each(&mut self, batch: &AsciiBatch<'_>) -> crate::Result<()> {
        let mut buf = Vec::new();
        for k in 0..batch.len() {
            if batch.is_line_end(k) {
                self.line_end(batch.abs + batch.starts[k] as u64)?;
            } else {
                self.piece(&batch.piece(k, &mut buf))?;
            }
        }
        Ok(())
    }

    fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.format {
            Format::Text => self.out.write_all(bytes),
            Format::Jsonl => self.json.push(&mut self.out, bytes),
            _ => Ok(()),
        }
    }
}

impl<W: Write> PieceSink for PieceWriter<W> {
    fn raw_fragment(&mut self, _start: u64, bytes: &[u8]) -> crate::Result<()> {
        self.open_piece()?;
        self.write_raw(bytes)?;
        Ok(())
    }

    fn piece(&mut self, p: &Piece<'_>) -> crate::Result<()> {
        self.pieces += 1;
        self.open_piece()?;
        self.write_raw(p.raw)?;
        if self.format == Format::Jsonl {
            self.json.finish(&mut self.out)?;
            write!(self.out, "\",{},{}]", p.start, p.end)?;
        }
        self.in_piece = false;
        Ok(())
    }

    /// `none` and `text` without a call per piece: they need only the bytes and the line
    /// ends (`jsonl` takes the default path, one [`Piece`] at a time).
    fn ascii_batch(&mut self, batch: &AsciiBatch<'_>) -> crate::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.in_piece {
            // A piece begun by raw fragments ends before this batch's first entry.
            return self.ascii_batch_each(batch);
        }
        match self.format {
            Format::None => {
                self.pieces += (batch.len() - batch.line_ends) as u64;
                self.in_line = !batch.is_line_end(batch.len() - 1);
                Ok(())
            }
            Format::Text => {
                for k in 0..batch.len() {
                    let (s, e) = (batch.starts[k] as usize, batch.ends[k] as usize);
                    if batch.text[s] == b'\n' {
                        self.out.write_all(b"\n")?;
                        self.in_line = false;
                    } else {
                        if self.in_line {
                            self.out.write_all(b" ")?;
                        }
                        self.out.write_all(&batch.text[s..e])?;
                        self.in_line = true;
                        self.pieces += 1;
                    }
                }
                Ok(())
            }
            _ => self.ascii_batch_each(batch),
        }
    }

    fn line_end(&mut self, _at: u64) -> crate::Result<()> {
        match self.format {
            Format::Text => self.out.write_all(b"\n")?,
            Format::Jsonl if self.in_line => self.out.write_all(b"]}\n")?,
            Format::Jsonl => self.out.write_all(b"{\"pieces\":[]}\n")?,
            _ => {}
        }
        self.in_line = false;
        Ok(())
    }
}
