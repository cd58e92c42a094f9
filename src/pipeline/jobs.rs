//! What the workers produce per chunk, and how the ordered side writes it.
//!
//! ## Formatted output and the line state
//!
//! Workers format their chunk's output themselves (decimal ids, JSON, raw pieces) with the
//! ordinary writers ([`TokenWriter`], [`PieceWriter`]) over a recycled `Vec<u8>`, so the
//! ordered side only copies bytes. The writers keep per-line state, and a chunk cut after a
//! space starts in the middle of a line (and, after a forced cut, in the middle of a piece),
//! which its worker cannot know. So every worker starts a *fresh* writer and records, in a
//! [`LineTrack`], the first writer-state-sensitive event of its chunk (a token or piece opening
//! a line, or a line end) and the state it leaves behind. The ordered side carries the true
//! [`LineState`] from batch to batch and, when it differs from "fresh", replaces the few head
//! bytes that the fresh writer wrote for that first event (the opening `{"tokens":[` becomes
//! `,`, `{"tokens":[]}\n` becomes `]}\n`, and so on; see [`Heads`]). Everything after the first
//! event is already right because the worker's writer was in the true state from then on.
//! The result is byte-identical to one writer run over the whole stream (tests/it/pipeline.rs
//! checks every format, chunk size and worker count).

use std::io::Write;

use super::parallel::{Deliver, Job};
use super::{EncodeSink, Sink, Token, TokenSink};
use crate::output::{Format, PieceWriter, TokenWriter};
use crate::rules::{Piece, PieceSink, Splitter};
use crate::stats::Stats;
use crate::subword::Model;

/// The first writer-state-sensitive event of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum First {
    /// A token, a piece or the first raw fragment of a piece.
    Open,
    /// A line end.
    LineEnd,
}

/// What a chunk's events did to the writer's line state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LineTrack {
    first: Option<First>,
    saw_line_end: bool,
    /// Something was written on the current line (since the last line end of this chunk).
    open: bool,
    /// The last event was a raw fragment: a piece continues into the next chunk.
    in_piece: bool,
}

impl LineTrack {
    #[inline]
    fn on_open(&mut self, fragment: bool) {
        self.first.get_or_insert(First::Open);
        self.open = true;
        self.in_piece = fragment;
    }

    #[inline]
    fn on_line_end(&mut self) {
        self.first.get_or_insert(First::LineEnd);
        self.saw_line_end = true;
        self.open = false;
        self.in_piece = false;
    }
}

/// The writer's state between two batches, carried by the ordered side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineState {
    /// The current output line has content.
    pub in_line: bool,
    /// A piece's bytes are being written (split only, after a forced cut).
    pub in_piece: bool,
}

impl LineState {
    /// The state after a batch with `t`.
    fn after(self, t: &LineTrack) -> LineState {
        if t.first.is_none() {
            return self;
        }
        LineState {
            in_line: if t.saw_line_end {
                t.open
            } else {
                self.in_line || t.open
            },
            in_piece: t.in_piece,
        }
    }
}

/// The bytes a writer writes at the start of a line's first item and at a line end, for a
/// fresh line and for a line that already has content (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    open_fresh: &'static [u8],
    open_in_line: &'static [u8],
    end_fresh: &'static [u8],
    end_in_line: &'static [u8],
}

impl Heads {
    const NONE: Heads = Heads {
        open_fresh: b"",
        open_in_line: b"",
        end_fresh: b"",
        end_in_line: b"",
    };
    const TEXT: Heads = Heads {
        open_fresh: b"",
        open_in_line: b" ",
        end_fresh: b"\n",
        end_in_line: b"\n",
    };

    /// What [`TokenWriter`] writes.
    pub(crate) fn tokens(format: Format) -> Heads {
        match format {
            Format::Text => Heads::TEXT,
            Format::Jsonl => Heads {
                open_fresh: b"{\"tokens\":[",
                open_in_line: b",",
                end_fresh: b"{\"tokens\":[]}\n",
                end_in_line: b"]}\n",
            },
            Format::U32 | Format::U16 | Format::None => Heads::NONE,
        }
    }

    /// What [`PieceWriter`] writes.
    pub(crate) fn pieces(format: Format) -> Heads {
        match format {
            Format::Text => Heads::TEXT,
            Format::Jsonl => Heads {
                open_fresh: b"{\"pieces\":[[\"",
                open_in_line: b",[\"",
                end_fresh: b"{\"pieces\":[]}\n",
                end_in_line: b"]}\n",
            },
            Format::U32 | Format::U16 | Format::None => Heads::NONE,
        }
    }

    /// How many head bytes the fresh writer wrote for `first`, and what to write instead in
    /// `state`.
    fn fix(&self, first: Option<First>, state: LineState) -> (&'static [u8], &'static [u8]) {
        match first {
            None => (b"", b""),
            Some(First::Open) if state.in_piece => (self.open_fresh, b""),
            Some(First::Open) if state.in_line => (self.open_fresh, self.open_in_line),
            Some(First::Open) => (self.open_fresh, self.open_fresh),
            Some(First::LineEnd) if state.in_line => (self.end_fresh, self.end_in_line),
            Some(First::LineEnd) => (self.end_fresh, self.end_fresh),
        }
    }
}

/// A batch of formatted output and what it did to the line state.
#[derive(Default)]
pub(crate) struct Formatted {
    bytes: Vec<u8>,
    track: LineTrack,
}

/// A sink wrapper recording the line-state events it forwards.
struct Tracked<'t, S> {
    inner: S,
    track: &'t mut LineTrack,
}

impl<S: TokenSink> TokenSink for Tracked<'_, S> {
    #[inline]
    fn token(&mut self, t: Token) -> crate::Result<()> {
        self.track.on_open(false);
        self.inner.token(t)
    }
    fn line_end(&mut self) -> crate::Result<()> {
        self.track.on_line_end();
        self.inner.line_end()
    }
    /// The line state only decides the heads the ordered side writes between chunks, and
    /// formats without line ends have none.
    fn needs_line_ends(&self) -> bool {
        self.inner.needs_line_ends()
    }
    #[inline]
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        if !ts.is_empty() {
            self.track.on_open(false);
        }
        self.inner.tokens(ts)
    }
}

impl<S: PieceSink> PieceSink for Tracked<'_, S> {
    #[inline]
    fn piece(&mut self, p: &Piece<'_>) -> crate::Result<()> {
        self.track.on_open(false);
        self.inner.piece(p)
    }
    fn raw_fragment(&mut self, start: u64, bytes: &[u8]) -> crate::Result<()> {
        self.track.on_open(true);
        self.inner.raw_fragment(start, bytes)
    }
    fn line_end(&mut self, at: u64) -> crate::Result<()> {
        self.track.on_line_end();
        self.inner.line_end(at)
    }

    /// The line state after a batch depends only on its first entry, whether it has a line
    /// end, and its last entry: replay those three instead of every piece.
    fn ascii_batch(&mut self, batch: &crate::rules::AsciiBatch<'_>) -> crate::Result<()> {
        let n = batch.len();
        if n > 0 {
            let mut replay = |line_end: bool| {
                if line_end {
                    self.track.on_line_end();
                } else {
                    self.track.on_open(false);
                }
            };
            replay(batch.is_line_end(0));
            if batch.line_ends > 0 {
                replay(true);
            }
            replay(batch.is_line_end(n - 1));
        }
        self.inner.ascii_batch(batch)
    }

    /// As for a batch: the line state after a run depends only on its first piece, whether
    /// it has a line end, and its last piece (a piece holding `\n` ends with a line end).
    fn piece_run(&mut self, run: &crate::rules::PieceRun<'_>) -> crate::Result<()> {
        if !run.is_empty() {
            self.track.on_open(false);
            if run.has_line_end() {
                self.track.on_line_end();
            }
            self.track.on_open(false);
            if run.ends_with_line_end() {
                self.track.on_line_end();
            }
        }
        self.inner.piece_run(run)
    }
}

/// Feed one chunk (and finish the stream after the last one).
fn feed<S: PieceSink + ?Sized>(
    splitter: &mut Splitter,
    chunk: &[u8],
    last: bool,
    sink: &mut S,
) -> crate::Result<()> {
    splitter.feed(chunk, sink)?;
    if last {
        splitter.finish(sink)?;
    }
    Ok(())
}

/// `encode` into formatted bytes.
pub(crate) struct EncodeFormatted<'m> {
    pub model: &'m Model,
    pub format: Format,
}

/// A worker's encoder between chunks: model, scratch and word cache, output detached.
type Parked<'m> = Option<EncodeSink<'m, Vec<Token>>>;

/// Run `f` with the worker's encoder attached to `out`; returns `out` afterwards.
fn with_encoder<'m, T: TokenSink, R>(
    parked: &mut Parked<'m>,
    out: T,
    stats: &mut Stats,
    f: impl FnOnce(&mut EncodeSink<'m, T>) -> R,
) -> (R, T) {
    let (mut sink, spare) = parked
        .take()
        .expect("parked after every chunk")
        .with_out(out);
    sink.stats = Stats::default();
    let r = f(&mut sink);
    stats.pieces += sink.stats.pieces;
    stats.tokens += sink.stats.tokens;
    stats.unk += sink.stats.unk;
    let (back, out) = sink.with_out(spare);
    *parked = Some(back);
    (r, out)
}

impl<'m> Job for EncodeFormatted<'m> {
    type Body = Formatted;
    type Local = Parked<'m>;

    fn local(&self) -> Parked<'m> {
        Some(EncodeSink::new(self.model, Vec::new()))
    }

    fn process(
        &self,
        parked: &mut Parked<'m>,
        splitter: &mut Splitter,
        chunk: &[u8],
        last: bool,
        body: &mut Formatted,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        body.bytes.clear();
        body.track = LineTrack::default();
        let bytes = std::mem::take(&mut body.bytes);
        let writer = TokenWriter::new(bytes, self.format, self.model.vocab_size())?;
        let tracked = Tracked {
            inner: writer,
            track: &mut body.track,
        };
        let (r, tracked) = with_encoder(parked, tracked, stats, |sink| {
            feed(splitter, chunk, last, sink)
        });
        // Keep what was written before an error: the ordered side writes it, as the
        // sequential path would have.
        body.bytes = tracked.inner.finish()?;
        r
    }
}

/// `split` into formatted bytes.
pub(crate) struct SplitFormatted {
    pub format: Format,
}

impl Job for SplitFormatted {
    type Body = Formatted;
    type Local = ();

    fn local(&self) {}

    fn process(
        &self,
        _: &mut (),
        splitter: &mut Splitter,
        chunk: &[u8],
        last: bool,
        body: &mut Formatted,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        body.bytes.clear();
        body.track = LineTrack::default();
        let bytes = std::mem::take(&mut body.bytes);
        let mut sink = Tracked {
            inner: PieceWriter::new(bytes, self.format)?,
            track: &mut body.track,
        };
        let r = feed(splitter, chunk, last, &mut sink);
        stats.pieces += sink.inner.pieces();
        body.bytes = sink.inner.finish()?;
        r
    }
}

/// Writes formatted batches in order, fixing the head of each for the carried line state.
pub(crate) struct WriteOut<W> {
    pub out: W,
    pub heads: Heads,
    pub state: LineState,
}

impl<W: Write> Deliver<Formatted> for WriteOut<W> {
    type Error = crate::Error;

    fn batch(&mut self, body: &mut Formatted) -> crate::Result<bool> {
        let (fresh, head) = self.heads.fix(body.track.first, self.state);
        debug_assert!(
            body.bytes.starts_with(fresh),
            "a writer's head bytes changed: update pipeline::jobs::Heads"
        );
        if !head.is_empty() {
            self.out.write_all(head)?;
        }
        self.out.write_all(&body.bytes[fresh.len()..])?;
        self.state = self.state.after(&body.track);
        Ok(true)
    }

    fn final_line_end(&mut self, _at: u64) -> crate::Result<bool> {
        let end = if self.state.in_line {
            self.heads.end_in_line
        } else {
            self.heads.end_fresh
        };
        self.out.write_all(end)?;
        self.state = LineState::default();
        Ok(true)
    }
}

/// Tokens of one chunk for a library [`Sink`]: ids with offsets, and where lines end.
#[derive(Default)]
pub(crate) struct TokenBatch {
    tokens: Vec<Token>,
    /// `tokens.len()` at each line end.
    line_ends: Vec<usize>,
}

impl TokenSink for TokenBatch {
    #[inline]
    fn token(&mut self, t: Token) -> crate::Result<()> {
        self.tokens.push(t);
        Ok(())
    }
    fn line_end(&mut self) -> crate::Result<()> {
        self.line_ends.push(self.tokens.len());
        Ok(())
    }
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        self.tokens.extend_from_slice(ts);
        Ok(())
    }
}

/// `encode` into token batches.
pub(crate) struct EncodeTokens<'m> {
    pub model: &'m Model,
}

impl<'m> Job for EncodeTokens<'m> {
    type Body = TokenBatch;
    type Local = Parked<'m>;

    fn local(&self) -> Parked<'m> {
        Some(EncodeSink::new(self.model, Vec::new()))
    }

    fn process(
        &self,
        parked: &mut Parked<'m>,
        splitter: &mut Splitter,
        chunk: &[u8],
        last: bool,
        body: &mut TokenBatch,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        body.tokens.clear();
        body.line_ends.clear();
        let (r, _) = with_encoder(parked, &mut *body, stats, |sink| {
            feed(splitter, chunk, last, sink)
        });
        r
    }
}

/// Hands token batches to a library [`Sink`], line by line.
pub(crate) struct SinkOut<S>(pub S);

impl<S: Sink> Deliver<TokenBatch> for SinkOut<S> {
    type Error = S::Error;

    fn batch(&mut self, b: &mut TokenBatch) -> Result<bool, S::Error> {
        let mut from = 0;
        for &at in &b.line_ends {
            if at > from && !self.0.tokens(&b.tokens[from..at])? {
                return Ok(false);
            }
            from = at;
            if !self.0.line_end()? {
                return Ok(false);
            }
        }
        if from < b.tokens.len() {
            return self.0.tokens(&b.tokens[from..]);
        }
        Ok(true)
    }

    fn final_line_end(&mut self, _at: u64) -> Result<bool, S::Error> {
        self.0.line_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head bytes in [`Heads`] are what the writers really write.
    #[test]
    fn heads_match_the_writers() {
        for format in [Format::Text, Format::Jsonl, Format::U32, Format::None] {
            let h = Heads::tokens(format);
            let write = |events: &[Option<u32>]| {
                let mut w = TokenWriter::new(Vec::new(), format, 100).unwrap();
                for e in events {
                    match e {
                        Some(id) => w.token(*id, 0, 1).unwrap(),
                        None => w.line_end().unwrap(),
                    }
                }
                w.finish().unwrap()
            };
            let one = write(&[Some(7)]);
            let two = write(&[Some(7), Some(7)]);
            assert!(one.starts_with(h.open_fresh), "{format}");
            let item = &one[h.open_fresh.len()..];
            assert_eq!(
                two,
                [one.as_slice(), h.open_in_line, item].concat(),
                "{format}"
            );
            assert_eq!(write(&[None]), h.end_fresh, "{format}");
            assert_eq!(write(&[Some(7), None]), [&one, h.end_in_line].concat());
        }
        for format in [Format::Text, Format::Jsonl, Format::None] {
            let h = Heads::pieces(format);
            let write = |n: usize, end: bool| {
                let mut w = PieceWriter::new(Vec::new(), format).unwrap();
                for _ in 0..n {
                    w.raw_fragment(0, b"a").unwrap();
                    let p = Piece {
                        start: 0,
                        end: 2,
                        raw: b"b",
                        normalized: b"ab",
                        align: &[],
                        chars: 2,
                        kind: crate::rules::PieceKind::Word,
                    };
                    w.piece(&p).unwrap();
                }
                if end {
                    w.line_end(2).unwrap();
                }
                w.finish().unwrap()
            };
            let one = write(1, false);
            assert!(one.starts_with(h.open_fresh), "{format}");
            let item = &one[h.open_fresh.len()..];
            let two = write(2, false);
            assert_eq!(
                two,
                [one.as_slice(), h.open_in_line, item].concat(),
                "{format}"
            );
            assert_eq!(write(0, true), h.end_fresh, "{format}");
            assert_eq!(write(1, true), [&one, h.end_in_line].concat());
        }
    }

    /// Taking a GPT piece run whole leaves the same line track as its events one by one.
    #[test]
    fn line_track_of_a_piece_run() {
        use crate::rules::PieceRun;
        struct Nothing;
        impl PieceSink for Nothing {
            fn piece(&mut self, _p: &Piece<'_>) -> crate::Result<()> {
                Ok(())
            }
        }
        let text = b"ab\ncd ef\n\ngh";
        let all: [u32; 5] = [2, 3 | PieceRun::NEWLINE, 5, 8, 11 | PieceRun::NEWLINE];
        for a in 0..all.len() {
            for b in a..=all.len() {
                // Runs that start at piece `a` (ends relative to its start).
                let base = if a == 0 {
                    0
                } else {
                    all[a - 1] & PieceRun::END
                };
                let ends: Vec<u32> = all[a..b].iter().map(|&v| v - base).collect();
                let run = PieceRun {
                    text: &text[base as usize..],
                    abs: 0,
                    ends: &ends,
                };
                let (mut t1, mut t2) = (LineTrack::default(), LineTrack::default());
                let mut whole = Tracked {
                    inner: Nothing,
                    track: &mut t1,
                };
                whole.piece_run(&run).unwrap();
                let mut each = Tracked {
                    inner: Nothing,
                    track: &mut t2,
                };
                run.each(&mut each).unwrap();
                for s in [
                    LineState::default(),
                    LineState {
                        in_line: true,
                        in_piece: false,
                    },
                ] {
                    assert_eq!(s.after(&t1), s.after(&t2), "{a}..{b}");
                }
                assert_eq!(t1.first, t2.first, "{a}..{b}");
            }
        }
    }

    #[test]
    fn line_state_after_a_batch() {
        let s0 = LineState::default();
        let mut t = LineTrack::default();
        assert_eq!(s0.after(&t), s0);
        t.on_open(false);
        let open = LineState {
            in_line: true,
            in_piece: false,
        };
        assert_eq!(s0.after(&t), open);
        t.on_line_end();
        assert_eq!(open.after(&t), s0);
        let mut frag = LineTrack::default();
        frag.on_open(true);
        assert!(s0.after(&frag).in_piece);
    }
}
