//! The input stream: stdin or files read in order as one stream, with enough bookkeeping to
//! name the file and the byte offset of any problem.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::error::Error;

/// One source of the stream.
enum Source {
    Stdin(StdinPump),
    File(File),
}

/// Stdin read by a detached thread into blocks handed over a channel, so that a read waiting
/// for a pipe or a terminal can be cancelled (Ctrl-C must end the run even when no more input
/// comes: a thread blocked in `read(2)` cannot be woken otherwise). The thread also reads
/// ahead while the pipeline works. At most `PUMP_BLOCKS` blocks are in flight.
#[derive(Default)]
struct StdinPump {
    rx: Option<Receiver<io::Result<Vec<u8>>>>,
    block: Vec<u8>,
    pos: usize,
}

const PUMP_BLOCK: usize = 64 * 1024;
const PUMP_BLOCKS: usize = 4;

impl StdinPump {
    fn start() -> Receiver<io::Result<Vec<u8>>> {
        let (tx, rx) = crossbeam_channel::bounded(PUMP_BLOCKS);
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut b = vec![0; PUMP_BLOCK];
                let r = match stdin.read(&mut b) {
                    Ok(n) => {
                        b.truncate(n);
                        Ok(b)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let end = !matches!(&r, Ok(b) if !b.is_empty());
                if tx.send(r).is_err() || end {
                    return;
                }
            }
        });
        rx
    }

    fn read(&mut self, buf: &mut [u8], cancel: Option<&AtomicBool>) -> io::Result<usize> {
        if self.pos == self.block.len() {
            let rx = self.rx.get_or_insert_with(StdinPump::start);
            loop {
                if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(io::Error::other("reading was cancelled"));
                }
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(r) => {
                        self.block = r?;
                        self.pos = 0;
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    // The thread ended after sending the end of input.
                    Err(RecvTimeoutError::Disconnected) => return Ok(0),
                }
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Stdin or files, read in order as one stream.
pub struct InputStream {
    sources: Vec<(String, Source)>,
    /// Stream offset where each source starts.
    starts: Vec<u64>,
    current: usize,
    pos: u64,
    total_size: Option<u64>,
    cancel: Option<Arc<AtomicBool>>,
}

impl InputStream {
    /// Open every file now, so that a missing or unreadable file is reported before any output.
    /// An empty list or `-` means stdin.
    pub fn open(paths: &[PathBuf]) -> crate::Result<Self> {
        let mut sources = Vec::new();
        let mut total = Some(0u64);
        if paths.is_empty() {
            sources.push(("<stdin>".to_string(), Source::Stdin(StdinPump::default())));
            total = None;
        }
        for p in paths {
            if p == Path::new("-") {
                sources.push(("<stdin>".to_string(), Source::Stdin(StdinPump::default())));
                total = None;
                continue;
            }
            let f = File::open(p).map_err(|e| Error::from(e).with_path(p))?;
            let meta = f.metadata().map_err(|e| Error::from(e).with_path(p))?;
            if meta.is_dir() {
                return Err(Error::from(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a directory",
                ))
                .with_path(p));
            }
            total = total.map(|t| t + meta.len());
            sources.push((p.display().to_string(), Source::File(f)));
        }
        Ok(InputStream {
            sources,
            starts: vec![0],
            current: 0,
            pos: 0,
            total_size: total,
            cancel: None,
        })
    }

    /// Make a read waiting for stdin fail ("reading was cancelled") once `flag` is true.
    pub fn cancel_on(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    /// Total size in bytes when every source is a regular file.
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }

    /// The source holding stream offset `offset`, and the offset within it.
    pub fn locate(&self, offset: u64) -> (&str, u64) {
        let i = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let i = i.min(self.sources.len() - 1);
        (&self.sources[i].0, offset - self.starts[i])
    }

    /// Attach the file name and in-file offset to an error that carries a stream offset.
    pub fn locate_error(&self, e: Error) -> Error {
        match e.offset() {
            Some(off) if e.path().is_none() => {
                let (name, file_off) = self.locate(off);
                let name = name.to_string();
                e.with_path(name).with_offset(file_off)
            }
            _ => e,
        }
    }
}

impl Read for InputStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current < self.sources.len() {
            let (name, src) = &mut self.sources[self.current];
            let r = match src {
                Source::Stdin(s) => s.read(buf, self.cancel.as_deref()),
                Source::File(f) => f.read(buf),
            };
            match r {
                Ok(0) if !buf.is_empty() => {
                    self.current += 1;
                    self.starts.push(self.pos);
                }
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let file_off = self.pos - self.starts[self.current];
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{name}: read failed at byte offset {file_off}: {e}"),
                    ));
                }
            }
        }
        Ok(0)
    }
}
