//! The parallel engine: a reader thread, N worker threads and in-order delivery on the calling
//! thread, connected by crossbeam channels.
//!
//! ```text
//!  reader ──Chunk──▶ workers × N ──Batch──▶ caller thread (reorder by seq, deliver, monitor)
//!    ▲   ◀──input buffers (free)──┘                 │
//!    └────────────── tickets (recycled batch bodies) ┘
//! ```
//!
//! * The reader fills recycled buffers to the chunk size and cuts each at the rule set's last
//!   safe cut; the tail is copied into the next buffer. A full buffer without a safe cut (one
//!   giant word) is cut at its end and the next chunk is flagged to *continue* the engine: the
//!   reader creates a bounded(1) channel per forced cut; the worker of chunk k sends its
//!   `Splitter` through it after feeding, the worker of chunk k+1 receives it and feeds on.
//!   This cannot deadlock: workers take chunks in `seq` order from one FIFO channel, so chunk k
//!   is always held by a worker that is running (or itself waiting on k-1, and so on down).
//! * The reader always sends a final chunk flagged `last` (possibly empty); only its worker
//!   calls `finish`, so a pending word is always flushed.
//! * Memory: at most `workers + 2` input buffers ever exist (the reader allocates lazily up to
//!   that and then waits for returned ones), and at most `tickets` chunks are between the reader
//!   and delivery, which bounds the reorder buffer and the batch bodies.
//! * Faults: a worker panic is caught and becomes an error for its chunk; an error (or a stop
//!   asked by the sink or the monitor) drops the caller's channel ends and raises `stop`, which
//!   every thread notices at its next channel operation, so nothing hangs.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{self as channel, Receiver, RecvTimeoutError, Sender};

use super::Monitor;
use crate::error::Error;
use crate::rules::Splitter;
use crate::stats::Stats;

/// The monitor is called at least this often, even when no batch arrives.
const TICK: Duration = Duration::from_millis(100);

/// What workers do with each chunk, for one kind of output.
pub(crate) trait Job: Sync {
    /// What one chunk produces; recycled between chunks (the worker clears it).
    type Body: Send + Default;
    /// Per-worker scratch state.
    type Local;

    /// A worker's scratch state.
    fn local(&self) -> Self::Local;

    /// Feed `chunk` through `splitter` into `body` (cleared first), counting pieces and tokens
    /// into `stats`; with `finish` (the last chunk, or any chunk that ends at a safe cut),
    /// also `finish` the splitter.
    fn process(
        &self,
        local: &mut Self::Local,
        splitter: &mut Splitter,
        chunk: &[u8],
        last: bool,
        body: &mut Self::Body,
        stats: &mut Stats,
    ) -> crate::Result<()>;
}

/// The ordered side: receives the batch bodies in stream order, on the calling thread.
pub(crate) trait Deliver<B> {
    /// The error of the destination (pipeline errors convert into it).
    type Error: From<Error>;
    /// The next batch in stream order. `Ok(false)` stops the pipeline cleanly.
    fn batch(&mut self, body: &mut B) -> Result<bool, Self::Error>;
    /// The end of a last line without `\n`, at stream offset `at` (the end of the stream).
    fn final_line_end(&mut self, at: u64) -> Result<bool, Self::Error>;
}

/// Settings of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub workers: usize,
    pub chunk_size: usize,
    /// Test hook: the worker processing this chunk panics (see `PipelineBuilder`).
    pub panic_at_chunk: Option<u64>,
}

/// One chunk of the input on its way to a worker.
struct Chunk<B> {
    seq: u64,
    abs_offset: u64,
    /// The chunk is `buf[..len]`; `buf` goes back to the reader afterwards.
    buf: Vec<u8>,
    len: usize,
    /// A recycled body for the result (taking it is the reader's ticket).
    body: B,
    /// `Some` iff the previous chunk was cut without a safe cut (`starts_mid_piece`): the
    /// engine of the previous chunk arrives here.
    handoff_in: Option<Receiver<Splitter>>,
    /// `Some` iff this chunk was cut without a safe cut: send the engine on through it.
    handoff_out: Option<Sender<Splitter>>,
    last: bool,
    /// With `last`: the stream is non-empty and its last byte is not `\n`.
    final_line_end: bool,
}

/// A worker's result for one chunk.
struct Batch<B> {
    seq: u64,
    body: B,
    stats: Stats,
    /// An error stops delivery after this batch's (partial) body is delivered.
    result: crate::Result<()>,
    last: bool,
    final_line_end: bool,
}

/// Sets the stop flag when the caller leaves `run`, also by unwinding.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Run the whole pipeline: returns the merged stats of everything delivered.
pub(crate) fn run<R, J, D>(
    settings: Settings,
    input: R,
    template: &Splitter,
    job: &J,
    out: &mut D,
    monitor: &mut dyn Monitor,
) -> Result<Stats, D::Error>
where
    R: Read + Send,
    J: Job,
    D: Deliver<J::Body>,
{
    let t0 = Instant::now();
    let workers = settings.workers.max(1);
    let tickets = 2 * workers + 2;
    let stop = AtomicBool::new(false);
    let (work_tx, work_rx) = channel::bounded::<Chunk<J::Body>>(workers);
    let (done_tx, done_rx) = channel::unbounded::<Batch<J::Body>>();
    let (free_tx, free_rx) = channel::unbounded::<Vec<u8>>();
    let (ticket_tx, ticket_rx) = channel::bounded::<J::Body>(tickets);
    for _ in 0..tickets {
        ticket_tx.send(J::Body::default()).expect("receiver alive");
    }
    std::thread::scope(|s| {
        let _stop_guard = StopOnDrop(&stop);
        {
            let done_tx = done_tx.clone();
            let stop = &stop;
            // Each thread gets its own engine of the rule set (only `Send` is required).
            let template = template.fresh_at(0);
            s.spawn(move || {
                let reader = Reader {
                    chunk_size: settings.chunk_size.max(1),
                    pool_cap: workers + 2,
                    allocated: 0,
                    free_rx,
                };
                reader.run(input, &template, work_tx, ticket_rx, done_tx, stop);
            });
        }
        for _ in 0..workers {
            let (work_rx, done_tx, free_tx) = (work_rx.clone(), done_tx.clone(), free_tx.clone());
            let stop = &stop;
            let template = template.fresh_at(0);
            s.spawn(move || worker(settings, &template, job, work_rx, done_tx, free_tx, stop));
        }
        drop((work_rx, done_tx, free_tx));
        // Leaving: `done_rx` and `ticket_tx` are dropped, `stop` is raised by the guard, and
        // every thread sees a closed channel or the flag at its next step.
        deliver_in_order(done_rx, ticket_tx, out, monitor, t0)
    })
}

/// The caller's side: reorder, deliver, recycle bodies, call the monitor.
fn deliver_in_order<B, D: Deliver<B>>(
    done_rx: Receiver<Batch<B>>,
    ticket_tx: Sender<B>,
    out: &mut D,
    monitor: &mut dyn Monitor,
    t0: Instant,
) -> Result<Stats, D::Error> {
    let mut pending: BTreeMap<u64, Batch<B>> = BTreeMap::new();
    let mut next = 0u64;
    let mut total = Stats::default();
    loop {
        match done_rx.recv_timeout(TICK) {
            Ok(b) => {
                pending.insert(b.seq, b);
            }
            Err(RecvTimeoutError::Timeout) => {
                total.seconds = t0.elapsed().as_secs_f64();
                if !monitor.update(&total) {
                    return Ok(total);
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Every thread is gone and the last chunk never came: a thread died outside
                // the guarded sections (should not happen; never hang on it).
                return Err(Error::from(io::Error::other(
                    "the pipeline stopped before the end of the input (a thread died)",
                ))
                .into());
            }
        }
        while let Some(mut b) = pending.remove(&next) {
            next += 1;
            total += b.stats;
            total.seconds = t0.elapsed().as_secs_f64();
            let go_on = out.batch(&mut b.body)?;
            if let Err(e) = b.result {
                // A stop asked by the monitor (Ctrl-C) takes precedence over the error it
                // caused (a cancelled read of stdin).
                if !monitor.update(&total) {
                    return Ok(total);
                }
                return Err(e.into());
            }
            // The ticket goes back to the reader (it may already be gone: fine).
            let _ = ticket_tx.send(b.body);
            if !go_on {
                return Ok(total);
            }
            if b.last {
                if b.final_line_end {
                    total.lines += 1;
                    out.final_line_end(total.bytes)?;
                }
                monitor.update(&total);
                return Ok(total);
            }
            if !monitor.update(&total) {
                return Ok(total);
            }
        }
    }
}

/// The reader thread's state.
struct Reader {
    chunk_size: usize,
    /// Input buffers that may exist at once.
    pool_cap: usize,
    allocated: usize,
    free_rx: Receiver<Vec<u8>>,
}

impl Reader {
    /// A buffer of `chunk_size` bytes: a returned one, a new one while under the cap, or wait.
    fn buffer(&mut self) -> Option<Vec<u8>> {
        if let Ok(b) = self.free_rx.try_recv() {
            return Some(b);
        }
        if self.allocated < self.pool_cap {
            self.allocated += 1;
            return Some(vec![0; self.chunk_size]);
        }
        self.free_rx.recv().ok()
    }

    fn run<R: Read, B>(
        mut self,
        mut input: R,
        template: &Splitter,
        work_tx: Sender<Chunk<B>>,
        ticket_rx: Receiver<B>,
        done_tx: Sender<Batch<B>>,
        stop: &AtomicBool,
    ) {
        let Some(mut cur) = self.buffer() else { return };
        let mut filled = 0usize;
        let mut eof = false;
        let mut abs = 0u64;
        let mut seq = 0u64;
        let mut last_byte: Option<u8> = None;
        let mut handoff_in: Option<Receiver<Splitter>> = None;
        loop {
            // The ticket first: it bounds how far ahead of delivery the reader runs.
            let Ok(body) = ticket_rx.recv() else { return };
            if stop.load(Ordering::Relaxed) {
                return;
            }
            while filled < self.chunk_size && !eof {
                match input.read(&mut cur[filled..]) {
                    Ok(0) => eof = true,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Delivered in order: everything before it is written first.
                        let _ = done_tx.send(Batch {
                            seq,
                            body,
                            stats: Stats::default(),
                            result: Err(e.into()),
                            last: true,
                            final_line_end: false,
                        });
                        return;
                    }
                }
            }
            let (cut, forced) = if eof {
                (filled, false)
            } else {
                match template.safe_cut(&cur[..filled]).filter(|&c| c > 0) {
                    Some(c) => (c.min(filled), false),
                    None => (filled, true),
                }
            };
            let mut next = None;
            if !eof {
                let Some(mut n) = self.buffer() else { return };
                n[..filled - cut].copy_from_slice(&cur[cut..filled]);
                next = Some(n);
            }
            if cut > 0 {
                last_byte = Some(cur[cut - 1]);
            }
            let (handoff_out, next_handoff_in) = if forced {
                let (tx, rx) = channel::bounded(1);
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            let chunk = Chunk {
                seq,
                abs_offset: abs,
                buf: cur,
                len: cut,
                body,
                handoff_in: handoff_in.take(),
                handoff_out,
                last: eof,
                final_line_end: eof && last_byte.is_some_and(|b| b != b'\n'),
            };
            if work_tx.send(chunk).is_err() {
                return;
            }
            let Some(n) = next else { return };
            filled -= cut;
            cur = n;
            abs += cut as u64;
            seq += 1;
            handoff_in = next_handoff_in;
        }
    }
}

/// A worker thread: chunks in, batches out, until the work channel closes or `stop`.
fn worker<J: Job>(
    settings: Settings,
    template: &Splitter,
    job: &J,
    work_rx: Receiver<Chunk<J::Body>>,
    done_tx: Sender<Batch<J::Body>>,
    free_tx: Sender<Vec<u8>>,
    stop: &AtomicBool,
) {
    let mut local = job.local();
    // This worker's engine between chunks (reset, not rebuilt: it keeps its buffers). Gone
    // while handed on to the next chunk's worker after a forced cut.
    let mut spare: Option<Splitter> = None;
    while let Ok(chunk) = work_rx.recv() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Chunk {
            seq,
            abs_offset,
            buf,
            len,
            mut body,
            handoff_in,
            handoff_out,
            last,
            final_line_end,
        } = chunk;
        let mut stats = Stats::default();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| -> crate::Result<()> {
            let data = &buf[..len];
            let mut splitter = match handoff_in {
                Some(rx) => rx.recv().map_err(|_| {
                    Error::from(io::Error::other(
                        "the previous chunk failed; this one cannot continue",
                    ))
                })?,
                None => {
                    let mut s = spare
                        .take()
                        .unwrap_or_else(|| template.fresh_at(abs_offset));
                    s.reset_at(abs_offset);
                    s
                }
            };
            if settings.panic_at_chunk == Some(seq) {
                panic!("injected worker panic at chunk {seq} (test hook)");
            }
            let (replaced_before, _) = splitter.replaced();
            stats.bytes = len as u64;
            stats.lines = memchr::memchr_iter(b'\n', data).count() as u64;
            // A chunk that ends at a safe cut is finished here: the next one starts a fresh
            // engine, and a rule set may still hold its last piece (the GPT rules wait for one
            // more character). Only a forced cut hands the engine on unfinished.
            let finish = last || handoff_out.is_none();
            let r = job.process(
                &mut local,
                &mut splitter,
                data,
                finish,
                &mut body,
                &mut stats,
            );
            let (replaced, first) = splitter.replaced();
            stats.replaced = replaced - replaced_before;
            if stats.replaced > 0 {
                stats.first_replaced = first;
            }
            r?;
            if let Some(tx) = handoff_out {
                // Capacity 1 and one send: never blocks. The receiver may be gone (stop).
                let _ = tx.send(splitter);
            } else {
                spare = Some(splitter);
            }
            Ok(())
        }));
        let result = caught.unwrap_or_else(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::from(io::Error::other(format!(
                "a worker thread panicked on the chunk at byte offset {abs_offset}: {msg}"
            ))))
        });
        let failed = result.is_err();
        let _ = free_tx.send(buf);
        let batch = Batch {
            seq,
            body,
            stats,
            result,
            last,
            final_line_end,
        };
        if done_tx.send(batch).is_err() || failed {
            return;
        }
    }
}

/// The same job on the calling thread, for an input that fits in one chunk: no threads.
pub(crate) fn run_inline<J: Job, D: Deliver<J::Body>>(
    input: &[u8],
    template: &Splitter,
    job: &J,
    local: &mut J::Local,
    out: &mut D,
    monitor: &mut dyn Monitor,
) -> Result<Stats, D::Error> {
    let t0 = Instant::now();
    let mut splitter = template.fresh_at(0);
    let mut stats = Stats {
        bytes: input.len() as u64,
        lines: memchr::memchr_iter(b'\n', input).count() as u64,
        ..Stats::default()
    };
    let mut body = J::Body::default();
    let r = job.process(local, &mut splitter, input, true, &mut body, &mut stats);
    (stats.replaced, stats.first_replaced) = splitter.replaced();
    stats.seconds = t0.elapsed().as_secs_f64();
    let go_on = out.batch(&mut body)?;
    r?;
    if go_on && input.last().is_some_and(|&b| b != b'\n') {
        stats.lines += 1;
        out.final_line_end(input.len() as u64)?;
    }
    monitor.update(&stats);
    Ok(stats)
}
