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

    /// `none` counts the run's pieces without a call per piece; the other formats write each
    /// piece (the default path).
    fn piece_run(&mut self, run: &crate::rules::PieceRun<'_>) -> crate::Result<()> {
        if self.format == Format::None && !self.in_piece && !run.is_empty() {
            self.pieces += run.len() as u64;
            // The last event is the last piece, or its last line end.
            self.in_line = !run.ends_with_line_end();
            return Ok(());
        }
        run.each(self)
    }

    /// `none` and `text` without a call per piece: they need only the bytes and the line
    /// ends (`jsonl` takes the default path, one [`Piece`] at a time).
    fn ascii_batch(&mut self, batch: &AsciiBatch<'_>) -> crate::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.in_piece {
            // A piece begun by raw fragments ends before this batch's first entry.
            return batch.each(self);
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
            _ => batch.each(self),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{PieceKind, PieceRun};

    /// A run taken whole writes what the pieces and line ends one at a time write, in every
    /// format, and leaves the writer in the same state (checked by what follows the run).
    #[test]
    fn a_piece_run_writes_what_its_pieces_write() {
        let text = b"Hello world\n\n  foo's 123\nbar\n";
        // Piece ends with the newline flag where the piece holds a `\n`.
        let cuts: [(u32, bool); 8] = [
            (5, false),
            (11, false),
            (13, true),
            (15, false),
            (19, false),
            (21, false),
            (25, true),
            (29, true),
        ];
        let ends: Vec<u32> = cuts
            .iter()
            .map(|&(e, nl)| e | if nl { PieceRun::NEWLINE } else { 0 })
            .collect();
        for n in 0..=ends.len() {
            let run = PieceRun {
                text,
                abs: 100,
                ends: &ends[..n],
            };
            for format in [Format::None, Format::Text, Format::Jsonl] {
                let after = |w: &mut PieceWriter<Vec<u8>>| {
                    let p = Piece {
                        start: 200,
                        end: 201,
                        raw: b"x",
                        normalized: b"",
                        align: &[],
                        chars: 0,
                        kind: PieceKind::Word,
                    };
                    w.piece(&p).unwrap();
                    w.line_end(201).unwrap();
                    w.line_end(202).unwrap();
                };
                let mut whole = PieceWriter::new(Vec::new(), format).unwrap();
                whole.piece_run(&run).unwrap();
                whole.line_end(150).unwrap();
                after(&mut whole);
                let mut each = PieceWriter::new(Vec::new(), format).unwrap();
                run.each(&mut each).unwrap();
                each.line_end(150).unwrap();
                after(&mut each);
                assert_eq!(whole.pieces(), each.pieces(), "{format} {n}");
                assert_eq!(
                    whole.finish().unwrap(),
                    each.finish().unwrap(),
                    "{format} {n}"
                );
            }
        }
    }
}
