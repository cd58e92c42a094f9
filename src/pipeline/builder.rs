//! The library API of the parallel pipeline: [`PipelineBuilder`] → [`Pipeline`], fed any
//! [`Read`] or a byte slice, delivering to a push-model [`Sink`] in stream order.

use std::io::{Read, Write};

use super::jobs::{
    EncodeFormatted, EncodeTokens, Heads, LineState, SinkOut, SplitFormatted, WriteOut,
};
use super::parallel::{self, Job, Settings};
use super::{DEFAULT_CHUNK_SIZE, Token};
use crate::error::Error;
use crate::output::{Format, PieceWriter, TokenWriter};
use crate::rules::{RuleSet, Splitter};
use crate::stats::Stats;
use crate::subword::Model;

/// Largest chunk size accepted (1 GiB).
pub const MAX_CHUNK_SIZE: usize = 1 << 30;

/// Receives the tokens of a stream in order, on the thread that called [`Pipeline::encode`].
///
/// Push-model, like ripgrep's `Sink`: every call returns `Ok(true)` to go on, `Ok(false)` to
/// stop the pipeline cleanly (the run then returns `Ok` with the stats of what was delivered),
/// or an error to abort it (returned by the run). Pipeline errors (I/O, invalid UTF-8 in strict
/// mode, a worker panic) convert into the sink's error type.
pub trait Sink {
    /// The sink's error.
    type Error: From<Error>;

    /// The next tokens of the stream, with absolute byte offsets. Never empty.
    fn tokens(&mut self, tokens: &[Token]) -> Result<bool, Self::Error>;

    /// The end of an input line (after its tokens). A last line without `\n` ends too.
    fn line_end(&mut self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    type Error = S::Error;
    fn tokens(&mut self, tokens: &[Token]) -> Result<bool, S::Error> {
        (**self).tokens(tokens)
    }
    fn line_end(&mut self) -> Result<bool, S::Error> {
        (**self).line_end()
    }
}

/// Collects every token.
impl Sink for Vec<Token> {
    type Error = Error;
    fn tokens(&mut self, tokens: &[Token]) -> Result<bool, Error> {
        self.extend_from_slice(tokens);
        Ok(true)
    }
}

/// A [`Sink`] from a closure over token slices (line ends are ignored). The tokens of a line
/// never come in more than one call per chunk, and a call never spans a line end.
///
/// ```
/// use tokstream::pipeline::{FnSink, PipelineBuilder};
/// use tokstream::subword::{Model, WordPiece};
///
/// let model = Model::WordPiece(WordPiece::bert_base_uncased());
/// let mut ids = Vec::new();
/// let sink = FnSink(|tokens: &[tokstream::pipeline::Token]| {
///     ids.extend(tokens.iter().map(|t| t.id));
///     Ok::<bool, tokstream::Error>(ids.len() < 2) // stop after two ids
/// });
/// PipelineBuilder::new().build()?.encode_bytes(&model, b"a\nb\nc\nd", sink)?;
/// assert_eq!(ids, [1037, 1038]);
/// # Ok::<(), tokstream::Error>(())
/// ```
pub struct FnSink<F>(pub F);

impl<F, E> Sink for FnSink<F>
where
    F: FnMut(&[Token]) -> Result<bool, E>,
    E: From<Error>,
{
    type Error = E;
    fn tokens(&mut self, tokens: &[Token]) -> Result<bool, E> {
        (self.0)(tokens)
    }
}

/// Watches a run: called on the calling thread after every delivered batch and at least every
/// 100 ms, with the merged stats so far (`seconds` = wall time since the start). Returning
/// `false` stops the run cleanly, as a sink's `Ok(false)` does (the CLI's Ctrl-C does this).
pub trait Monitor {
    /// Progress so far; `false` stops the run.
    fn update(&mut self, so_far: &Stats) -> bool;
}

/// No monitoring.
impl Monitor for () {
    fn update(&mut self, _: &Stats) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug)]
struct Config {
    workers: usize,
    chunk_size: usize,
    strict_utf8: bool,
    panic_at_chunk: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            strict_utf8: false,
            panic_at_chunk: None,
        }
    }
}

/// Configures a [`Pipeline`]: a reader thread cutting the input into chunks at safe
/// boundaries, `workers` threads running the rules and the model, and in-order delivery on the
/// calling thread. Output never depends on the worker count or the chunk size.
///
/// ```
/// use tokstream::pipeline::{PipelineBuilder, Token};
/// use tokstream::subword::{Model, WordPiece};
///
/// let model = Model::WordPiece(WordPiece::bert_base_uncased());
/// let pipeline = PipelineBuilder::new().workers(2).chunk_size(4).build()?;
/// let mut tokens: Vec<Token> = Vec::new();
/// let stats = pipeline.encode(&model, "Hello, world!\nBye.".as_bytes(), &mut tokens)?;
/// let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
/// assert_eq!(ids, [7592, 1010, 2088, 999, 9061, 1012]);
/// assert_eq!((tokens[4].start, tokens[4].end), (14, 17)); // absolute byte offsets
/// assert_eq!((stats.lines, stats.tokens), (2, 6));
/// # Ok::<(), tokstream::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PipelineBuilder {
    config: Config,
}

impl PipelineBuilder {
    /// Defaults: one worker per available core, [`DEFAULT_CHUNK_SIZE`], lossy UTF-8.
    pub fn new() -> Self {
        PipelineBuilder::default()
    }

    /// Worker threads; `0` (the default) means one per available core.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.config.workers = n;
        self
    }

    /// Bytes per chunk (1 to [`MAX_CHUNK_SIZE`]). Memory is about `(workers + 2)` chunks of
    /// input plus the batches of output waiting to be delivered.
    pub fn chunk_size(&mut self, bytes: usize) -> &mut Self {
        self.config.chunk_size = bytes;
        self
    }

    /// Reject invalid UTF-8 (an error with its byte offset) instead of replacing it.
    pub fn strict_utf8(&mut self, yes: bool) -> &mut Self {
        self.config.strict_utf8 = yes;
        self
    }

    /// Test hook for the fault tests: the worker given chunk `seq` panics.
    #[doc(hidden)]
    pub fn inject_worker_panic(&mut self, seq: Option<u64>) -> &mut Self {
        self.config.panic_at_chunk = seq;
        self
    }

    /// The pipeline; fails on a chunk size out of range.
    pub fn build(&self) -> crate::Result<Pipeline> {
        let mut config = self.config;
        if !(1..=MAX_CHUNK_SIZE).contains(&config.chunk_size) {
            return Err(Error::config(format!(
                "chunk size {} is out of range (1 to {MAX_CHUNK_SIZE})",
                config.chunk_size
            )));
        }
        if config.workers == 0 {
            config.workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        Ok(Pipeline { config })
    }
}

/// A configured pipeline; reusable for any number of runs. See [`PipelineBuilder`].
#[derive(Clone, Debug)]
pub struct Pipeline {
    config: Config,
}

impl Pipeline {
    /// Worker threads per run.
    pub fn workers(&self) -> usize {
        self.config.workers
    }

    /// Bytes per chunk.
    pub fn chunk_size(&self) -> usize {
        self.config.chunk_size
    }

    fn settings(&self) -> Settings {
        Settings {
            workers: self.config.workers,
            chunk_size: self.config.chunk_size,
            panic_at_chunk: self.config.panic_at_chunk,
        }
    }

    /// Encode `input` with `model`, delivering tokens to `sink` in order; the merged stats.
    pub fn encode<R: Read + Send, S: Sink>(
        &self,
        model: &Model,
        input: R,
        sink: S,
    ) -> Result<Stats, S::Error> {
        self.encode_monitored(model, input, sink, &mut ())
    }

    /// [`Pipeline::encode`] with a [`Monitor`].
    pub fn encode_monitored<R: Read + Send, S: Sink>(
        &self,
        model: &Model,
        input: R,
        sink: S,
        monitor: &mut dyn Monitor,
    ) -> Result<Stats, S::Error> {
        let template = model.splitter(self.config.strict_utf8);
        let job = EncodeTokens { model };
        let mut out = SinkOut(sink);
        parallel::run(self.settings(), input, &template, &job, &mut out, monitor)
    }

    /// Encode a text in memory. A text that fits in one chunk is encoded on the calling thread
    /// (no threads are started). For many small documents, [`Pipeline::encoder`] also keeps the
    /// scratch space and word cache from one document to the next.
    pub fn encode_bytes<S: Sink>(
        &self,
        model: &Model,
        input: &[u8],
        sink: S,
    ) -> Result<Stats, S::Error> {
        self.encoder(model).encode_bytes(input, sink)
    }

    /// A reusable encoder for many texts in memory (documents): each one is encoded on the
    /// calling thread when it fits in one chunk, by the workers otherwise.
    ///
    /// ```
    /// use tokstream::pipeline::{PipelineBuilder, Token};
    /// use tokstream::subword::{Model, WordPiece};
    ///
    /// let model = Model::WordPiece(WordPiece::bert_base_uncased());
    /// let pipeline = PipelineBuilder::new().build()?;
    /// let mut encoder = pipeline.encoder(&model);
    /// for doc in ["First document.", "Second one."] {
    ///     let mut tokens: Vec<Token> = Vec::new();
    ///     encoder.encode_bytes(doc.as_bytes(), &mut tokens)?;
    ///     assert_eq!(tokens.last().map(|t| t.id), Some(1012)); // "."
    /// }
    /// # Ok::<(), tokstream::Error>(())
    /// ```
    pub fn encoder<'m>(&self, model: &'m Model) -> Encoder<'m> {
        let job = EncodeTokens { model };
        Encoder {
            pipeline: self.clone(),
            template: model.splitter(self.config.strict_utf8),
            local: job.local(),
            job,
        }
    }

    /// `tokstream encode`: token ids of `input` written to `out` in `format`, byte-identical to
    /// [`super::encode_stream`] into a [`TokenWriter`]. `out` is flushed at the end.
    pub fn write_encoded<R: Read + Send, W: Write>(
        &self,
        model: &Model,
        input: R,
        format: Format,
        out: W,
        monitor: &mut dyn Monitor,
    ) -> crate::Result<Stats> {
        // Checks the format against the vocabulary once (u16) before any thread starts.
        TokenWriter::new(std::io::sink(), format, model.vocab_size())?;
        let template = model.splitter(self.config.strict_utf8);
        let job = EncodeFormatted { model, format };
        let mut out = WriteOut {
            out,
            heads: Heads::tokens(format),
            state: LineState::default(),
        };
        let stats = parallel::run(self.settings(), input, &template, &job, &mut out, monitor)?;
        out.out.flush()?;
        Ok(stats)
    }

    /// `tokstream split`: pieces of `input` under `rules` written to `out` in `format`,
    /// byte-identical to [`super::split_stream`] into a [`PieceWriter`].
    pub fn write_split<R: Read + Send, W: Write>(
        &self,
        rules: RuleSet,
        input: R,
        format: Format,
        out: W,
        monitor: &mut dyn Monitor,
    ) -> crate::Result<Stats> {
        PieceWriter::new(std::io::sink(), format)?;
        let template = Splitter::for_split(rules, self.config.strict_utf8);
        let job = SplitFormatted { format };
        let mut out = WriteOut {
            out,
            heads: Heads::pieces(format),
            state: LineState::default(),
        };
        let stats = parallel::run(self.settings(), input, &template, &job, &mut out, monitor)?;
        out.out.flush()?;
        Ok(stats)
    }
}

/// Encodes texts in memory one after another with warm per-thread state; see
/// [`Pipeline::encoder`].
pub struct Encoder<'m> {
    pipeline: Pipeline,
    template: Splitter,
    job: EncodeTokens<'m>,
    local: <EncodeTokens<'m> as Job>::Local,
}

impl Encoder<'_> {
    /// Encode `input` (offsets start at 0), delivering its tokens to `sink` in order.
    pub fn encode_bytes<S: Sink>(&mut self, input: &[u8], sink: S) -> Result<Stats, S::Error> {
        let job = &self.job;
        if input.len() > self.pipeline.config.chunk_size {
            return self.pipeline.encode(job.model, input, sink);
        }
        let out = &mut SinkOut(sink);
        parallel::run_inline(input, &self.template, job, &mut self.local, out, &mut ())
    }
}
