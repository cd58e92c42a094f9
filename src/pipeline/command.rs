//! Running `split`, `encode` and `bench` for the command line: the parallel pipeline with the
//! reporter (per-second series, `--progress`), Ctrl-C, and the end-of-run summary. The CLI
//! (`crate::cli`) only parses arguments and calls these.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use super::{InputStream, PipelineBuilder, Repeat};
use crate::error::Error;
use crate::output::Format;
use crate::rules::RuleSet;
use crate::stats::{Reporter, Stats, Summary};
use crate::subword::Model;

/// Environment variable of the fault tests: the worker given this chunk number panics.
pub const PANIC_TEST_VAR: &str = "TOKSTREAM_TEST_PANIC_AT_CHUNK";

/// What to run.
pub enum Work<'a> {
    /// `encode` with a model into a format.
    Encode(&'a Model, Format),
    /// `split` under a rule set into a format.
    Split(RuleSet, Format),
}

/// Pipeline and reporting settings of one command.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    /// Worker threads (0: one per available core).
    pub jobs: usize,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Reject invalid UTF-8.
    pub strict: bool,
    /// `Some(true)`/`Some(false)`: `--progress`/`--no-progress`; `None`: when stderr is a
    /// terminal.
    pub progress: Option<bool>,
}

/// Run `work` over `input` into `out` with a reporter and Ctrl-C handling. Returns the run's
/// result and the summary (also for a failed or interrupted run: the progress line is
/// cleared either way).
pub fn run<R: Read + Send, W: Write>(
    work: &Work<'_>,
    input: R,
    input_size: Option<u64>,
    out: W,
    settings: &RunSettings,
) -> (crate::Result<Stats>, Summary) {
    let mut builder = PipelineBuilder::new();
    builder
        .workers(settings.jobs)
        .chunk_size(settings.chunk_size)
        .strict_utf8(settings.strict);
    if let Some(seq) = std::env::var(PANIC_TEST_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder.inject_worker_panic(Some(seq));
    }
    let progress = settings
        .progress
        .unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let split = matches!(work, Work::Split(..));
    let mut reporter = Reporter::new(input_size, progress, split);
    reporter.stop_on(interrupt_flag());
    let result = builder.build().and_then(|p| match *work {
        Work::Encode(model, format) => p.write_encoded(model, input, format, out, &mut reporter),
        Work::Split(rules, format) => p.write_split(rules, input, format, out, &mut reporter),
    });
    let mut summary = reporter.finish(result.as_ref().ok());
    let p = builder.build().ok();
    summary.workers = p.as_ref().map_or(0, |p| p.workers());
    summary.chunk_size = settings.chunk_size;
    (result, summary)
}

/// The Ctrl-C flag, with its handler installed on first use: the first Ctrl-C raises it (the
/// run stops cleanly, the summary so far is printed, exit status 130; a read waiting on stdin
/// is cancelled through [`InputStream::cancel_on`]); a second one exits at once with 130.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let sigint = signal_hook::consts::SIGINT;
        // Order matters: the conditional exit is checked before the flag is raised.
        let _ = signal_hook::flag::register_conditional_shutdown(sigint, 130, Arc::clone(&flag));
        let _ = signal_hook::flag::register(sigint, Arc::clone(&flag));
        flag
    })
    .clone()
}

/// `bench`'s input: the files once, or repeated up to `size` bytes; and its size.
pub fn bench_input(
    files: &[PathBuf],
    size: Option<u64>,
) -> crate::Result<(Box<dyn Read + Send>, Option<u64>)> {
    Ok(match size {
        Some(n) => (Box::new(Repeat::new(files, n)?), Some(n)),
        None => {
            let mut input = InputStream::open(files)?;
            input.cancel_on(interrupt_flag());
            let size = input.total_size();
            (Box::new(input), size)
        }
    })
}

/// Write the summary as JSON to `path` (`--stats-json`).
pub fn write_stats_json(path: &PathBuf, summary: &Summary) -> crate::Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::from(e).with_path(path))?;
    let text = serde_json::to_string_pretty(&summary.to_json()).expect("a JSON value");
    writeln!(f, "{text}").map_err(|e| Error::from(e).with_path(path))?;
    Ok(())
}

/// `10GiB` → 10 × 2^30. Suffixes (case-insensitive): `K M G T` and `KiB MiB GiB TiB` are
/// powers of 1024, `KB MB GB TB` powers of 1000, none (or `B`) bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (examples: 4096, 500MB, 10GiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => {
            return Err(format!(
                "'{s}': unknown unit (use B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    Ok((n * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
