//! Streaming drivers: read → chunk → rules → (subword) → writer, in bounded memory.
//!
//! Two drivers give the same output for every input:
//!
//! * the sequential one ([`run_rules`], [`run_rules_bytes`] for text in memory, [`split_stream`],
//!   [`encode_stream`], [`encode_bytes`]):
//!   one thread, one engine fed every chunk in order; the reference the tests compare against;
//! * the parallel one ([`PipelineBuilder`] → [`Pipeline`]): a reader thread, N workers and
//!   in-order delivery (see `parallel.rs` for the threads and `jobs.rs` for how formatted
//!   output stays byte-identical when chunks start in the middle of a line).

mod builder;
pub mod command;
pub mod input;
mod jobs;
mod parallel;
pub mod reader;
pub mod repeat;

use std::io::{Read, Write};
use std::time::Instant;

pub use builder::{Encoder, FnSink, MAX_CHUNK_SIZE, Monitor, Pipeline, PipelineBuilder, Sink};
pub use input::InputStream;
pub use reader::ChunkReader;
pub use repeat::Repeat;

use crate::output::{PieceWriter, TokenWriter};
use crate::rules::{Piece, PieceSink, RuleSet, Splitter};
use crate::stats::Stats;
use crate::subword::{EncodeScratch, Model};

/// Default chunk size: large enough to amortize per-chunk work, small enough for the cache.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;

/// How a stream is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Bytes per chunk (output never depends on it).
    pub chunk_size: usize,
    /// Reject invalid UTF-8 instead of replacing it.
    pub strict_utf8: bool,
    /// Force a scanner level (tests, benchmarks); `None`: [`crate::scan::Scanner::detect`].
    pub scanner: Option<crate::scan::Scanner>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            strict_utf8: false,
            scanner: None,
        }
    }
}

/// A token with absolute byte offsets into the original stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// Token id.
    pub id: u32,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Feed `input` through `rules` into `sink`; returns bytes, lines and replacements.
pub fn run_rules<R: Read, S: PieceSink + ?Sized>(
    input: R,
    mut rules: Splitter,
    chunk_size: usize,
    sink: &mut S,
) -> crate::Result<Stats> {
    let t0 = Instant::now();
    let mut reader = ChunkReader::new(input, chunk_size);
    let mut stats = Stats::default();
    let mut last_byte = b'\n';
    while let Some((_, chunk)) = reader.next_chunk(|b| rules.safe_cut(b))? {
        stats.bytes += chunk.len() as u64;
        stats.lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        last_byte = *chunk.last().unwrap_or(&last_byte);
        rules.feed(chunk, sink)?;
    }
    finish_run(rules, sink, stats, last_byte, t0)
}

/// The end of a sequential run: finish the engine, end a last line without `\n`, take the
/// replacement counts and the time.
fn finish_run<S: PieceSink + ?Sized>(
    mut rules: Splitter,
    sink: &mut S,
    mut stats: Stats,
    last_byte: u8,
    t0: Instant,
) -> crate::Result<Stats> {
    rules.finish(sink)?;
    if last_byte != b'\n' {
        // A last line without '\n' ends with the stream.
        stats.lines += 1;
        sink.line_end(stats.bytes)?;
    }
    (stats.replaced, stats.first_replaced) = rules.replaced();
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(stats)
}

/// [`run_rules`] on text already in memory: the splitter reads `text` in place, with no copy
/// into chunk buffers (the same pieces: output never depends on the chunking).
pub fn run_rules_bytes<S: PieceSink + ?Sized>(
    text: &[u8],
    mut rules: Splitter,
    sink: &mut S,
) -> crate::Result<Stats> {
    let t0 = Instant::now();
    let stats = Stats {
        bytes: text.len() as u64,
        lines: memchr::memchr_iter(b'\n', text).count() as u64,
        ..Stats::default()
    };
    if !text.is_empty() {
        rules.feed(text, sink)?;
    }
    finish_run(rules, sink, stats, *text.last().unwrap_or(&b'\n'), t0)
}

/// `tokstream split`: pieces of `input` under `rules`, written by `writer`.
pub fn split_stream<R: Read, W: Write>(
    input: R,
    rules: RuleSet,
    opts: &StreamOptions,
    writer: &mut PieceWriter<W>,
) -> crate::Result<Stats> {
    let mut splitter = Splitter::for_split(rules, opts.strict_utf8);
    if let Some(s) = opts.scanner {
        splitter = splitter.with_scanner(s);
    }
    let mut stats = run_rules(input, splitter, opts.chunk_size, writer)?;
    stats.pieces = writer.pieces();
    Ok(stats)
}

/// Receives tokens (the output side of `encode`).
pub trait TokenSink {
    /// One token.
    fn token(&mut self, t: Token) -> crate::Result<()>;
    /// The end of an input line.
    fn line_end(&mut self) -> crate::Result<()> {
        Ok(())
    }
    /// False when [`TokenSink::line_end`] does nothing (binary id formats): encoders may then
    /// skip looking for the line ends inside their pieces.
    fn needs_line_ends(&self) -> bool {
        true
    }
    /// A run of tokens with no line end between them: the same as [`TokenSink::token`] on
    /// each. Encoders hand over their tokens in runs so that a sink pays its per-call costs
    /// (format dispatch, line-state bookkeeping) once per run rather than once per token.
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        for &t in ts {
            self.token(t)?;
        }
        Ok(())
    }
}

impl TokenSink for Vec<Token> {
    fn token(&mut self, t: Token) -> crate::Result<()> {
        self.push(t);
        Ok(())
    }
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        self.extend_from_slice(ts);
        Ok(())
    }
}

impl<W: Write> TokenSink for TokenWriter<W> {
    fn token(&mut self, t: Token) -> crate::Result<()> {
        TokenWriter::token(self, t.id, t.start, t.end)
    }
    fn line_end(&mut self) -> crate::Result<()> {
        TokenWriter::line_end(self)
    }
    fn needs_line_ends(&self) -> bool {
        TokenWriter::needs_line_ends(self)
    }
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        TokenWriter::tokens(self, ts)
    }
}

/// Turns pieces into tokens with a [`Model`].
pub struct EncodeSink<'m, T> {
    model: &'m Model,
    scratch: EncodeScratch,
    out: T,
    /// Counts of pieces, tokens and `[UNK]`.
    pub stats: Stats,
}

impl<'m, T: TokenSink> EncodeSink<'m, T> {
    /// Encode every piece with `model` into `out`.
    pub fn new(model: &'m Model, out: T) -> Self {
        EncodeSink {
            model,
            scratch: EncodeScratch::default(),
            out,
            stats: Stats::default(),
        }
    }

    /// The token sink.
    pub fn into_inner(self) -> T {
        self.out
    }
}

impl<'m, T> EncodeSink<'m, T> {
    /// The same sink writing to `out`, and the old token sink: the scratch space and the
    /// per-worker caches stay warm from chunk to chunk (the parallel workers keep one each).
    /// `stats` are carried over; reset them as needed.
    pub fn with_out<U>(self, out: U) -> (EncodeSink<'m, U>, T) {
        let EncodeSink {
            model,
            scratch,
            out: old,
            stats,
        } = self;
        let sink = EncodeSink {
            model,
            scratch,
            out,
            stats,
        };
        (sink, old)
    }
}

impl<T: TokenSink> PieceSink for EncodeSink<'_, T> {
    #[inline]
    fn piece(&mut self, p: &Piece<'_>) -> crate::Result<()> {
        self.model
            .encode_piece(p, &mut self.scratch, &mut self.out, &mut self.stats)
    }

    fn line_end(&mut self, _at: u64) -> crate::Result<()> {
        self.out.line_end()
    }

    #[inline]
    fn ascii_batch(&mut self, batch: &crate::rules::AsciiBatch<'_>) -> crate::Result<()> {
        self.model
            .encode_ascii_batch(batch, &mut self.scratch, &mut self.out, &mut self.stats)
    }

    #[inline]
    fn piece_run(&mut self, run: &crate::rules::PieceRun<'_>) -> crate::Result<()> {
        match self.model {
            Model::Bpe(b) => {
                Model::encode_bpe_run(b, run, &mut self.scratch, &mut self.out, &mut self.stats)
            }
            Model::WordPiece(_) => run.each(self),
        }
    }
}

/// `tokstream encode`: token ids of `input` under `model`, into `out`.
pub fn encode_stream<R: Read, T: TokenSink>(
    input: R,
    model: &Model,
    opts: &StreamOptions,
    out: &mut T,
) -> crate::Result<Stats> {
    let mut sink = EncodeSink::new(model, out);
    let mut splitter = model.splitter(opts.strict_utf8);
    if let Some(s) = opts.scanner {
        splitter = splitter.with_scanner(s);
    }
    let mut stats = run_rules(input, splitter, opts.chunk_size, &mut sink)?;
    stats.pieces = sink.stats.pieces;
    stats.tokens = sink.stats.tokens;
    stats.unk = sink.stats.unk;
    Ok(stats)
}

impl<T: TokenSink + ?Sized> TokenSink for &mut T {
    fn token(&mut self, t: Token) -> crate::Result<()> {
        (**self).token(t)
    }
    fn line_end(&mut self) -> crate::Result<()> {
        (**self).line_end()
    }
    fn needs_line_ends(&self) -> bool {
        (**self).needs_line_ends()
    }
    fn tokens(&mut self, ts: &[Token]) -> crate::Result<()> {
        (**self).tokens(ts)
    }
}

/// Encode a whole text in memory: the tokens of `text` with absolute byte offsets.
/// Invalid UTF-8 is replaced (lossy mode).
///
/// ```
/// let model = tokstream::subword::Model::WordPiece(tokstream::subword::WordPiece::bert_base_uncased());
/// let tokens = tokstream::pipeline::encode_bytes(&model, "Hello, world!".as_bytes())?;
/// let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
/// assert_eq!(ids, [7592, 1010, 2088, 999]);
/// assert_eq!((tokens[2].start, tokens[2].end), (7, 12));
/// # Ok::<(), tokstream::Error>(())
/// ```
pub fn encode_bytes(model: &Model, text: &[u8]) -> crate::Result<Vec<Token>> {
    let mut sink = EncodeSink::new(model, Vec::new());
    run_rules_bytes(text, model.splitter(false), &mut sink)?;
    Ok(sink.into_inner())
}
