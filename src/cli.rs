//! Command-line interface: argv → settings → library calls. No tokenization logic here.
//!
//! Exit codes: 0 success (also when the output pipe was closed early, as with `| head`),
//! 1 a runtime error (unreadable input, bad model file, invalid UTF-8 with `--strict`, write
//! failure), 2 a usage error.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::Error;
use crate::output::{Format, PieceWriter, TokenWriter};
use crate::pipeline::command::{self, RunSettings, Work};
use crate::pipeline::{self, InputStream};
use crate::rules::RuleSet;
use crate::stats::Summary;
use crate::subword::{Model, WordPiece};

/// Output buffer size: big writes, few syscalls.
const OUTPUT_BUFFER: usize = 256 * 1024;

const AFTER_HELP: &str = "\
Examples:
  tokstream encode < corpus.txt > ids.txt              ids of bert-base-uncased, one line per line
  tokstream encode --format u32 -o ids.bin corpus.txt  raw little-endian u32 ids
  tokstream encode --model path/to/tokenizer.json --format jsonl doc.txt
  tokstream split --rules bert-cased a.txt b.txt       pieces of two files read as one stream
  tokstream encode --format none --stats big.txt       count only, with a throughput summary
  tokstream encode -j 2 --progress --format u32 -o ids.bin big.txt   2 workers, live progress
  tokstream bench --size 10GiB -j 2 corpus.txt         sustained tokens/s on a repeated corpus

Exit status: 0 on success (also when the output pipe closes early), 1 on a runtime error
(unreadable file, bad model, invalid UTF-8 with --strict), 2 on a usage error.";

/// tokstream: a streaming tokenizer front end, exact to Hugging Face tokenizers.
#[derive(Parser, Debug)]
#[command(name = "tokstream", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Cut text into pre-token pieces (words, punctuation, CJK characters).
    ///
    /// Pieces are printed as their original bytes; with --format text they are separated by
    /// one space (a piece never contains ASCII whitespace), one output line per input line.
    Split(SplitArgs),
    /// Turn text into token ids.
    ///
    /// Text is tokenized as plain text: a literal "[SEP]" in the input is not a special token,
    /// and no [CLS]/[SEP] are added.
    Encode(EncodeArgs),
    /// Turn token ids back into text (the exact bytes; byte-level BPE models only).
    Decode(DecodeArgs),
    /// Measure throughput: stream a corpus (repeated up to --size) through a model or rule
    /// set with -j workers and print the summary (sustained tokens/s, MB/s, CPU seconds).
    Bench(BenchArgs),
    /// List the built-in models and rule sets.
    Models,
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Input files, read in order as one stream ("-" is stdin; none: stdin).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write output to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print a summary on stderr: bytes, lines, pieces, tokens, [UNK], replaced, seconds, MB/s, tokens/s.
    #[arg(long)]
    stats: bool,
    /// Reject invalid UTF-8: exit 1 naming the file and byte offset. Default: replace each bad
    /// sequence with U+FFFD (like String::from_utf8_lossy), count it and warn once.
    #[arg(long)]
    strict: bool,
    /// Bytes read per chunk. Memory use is a small multiple of it; output never depends on it.
    #[arg(long, value_name = "BYTES", default_value_t = pipeline::DEFAULT_CHUNK_SIZE,
          value_parser = parse_chunk_size)]
    chunk_size: usize,
    #[command(flatten)]
    run: RunArgs,
}

/// Options of the parallel pipeline and its reporting (split, encode, bench).
#[derive(Args, Debug)]
struct RunArgs {
    /// Worker threads (default: the number of available cores). Output never depends on it.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Show a progress line on stderr (bytes, MB/s, tokens/s, percent and ETA when the input
    /// size is known). Default: on when stderr is a terminal.
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Never show the progress line.
    #[arg(long)]
    no_progress: bool,
    /// Write the run's summary and its per-second tokens/s series as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Corpus files, read in order as one stream.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Repeat the corpus up to SIZE bytes (e.g. 10GiB, 500MB), streamed, never held in memory.
    /// Default: read it once.
    #[arg(long, value_name = "SIZE", value_parser = pipeline::command::parse_size)]
    size: Option<u64>,
    /// Run only a rule set (split pieces) instead of a model.
    #[arg(long, value_name = "RULES", conflicts_with = "model")]
    rules: Option<RuleSet>,
    /// Model to encode with: a built-in name or a path (as for encode).
    #[arg(
        long,
        short,
        value_name = "NAME|PATH",
        default_value = "bert-base-uncased"
    )]
    model: String,
    /// Output format produced (and discarded): none measures the tokenizer alone.
    #[arg(long, value_name = "FORMAT", default_value = "none",
          value_parser = ["text", "jsonl", "u32", "u16", "none"])]
    format: String,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Reject invalid UTF-8.
    #[arg(long)]
    strict: bool,
    /// Bytes read per chunk.
    #[arg(long, value_name = "BYTES", default_value_t = pipeline::DEFAULT_CHUNK_SIZE,
          value_parser = parse_chunk_size)]
    chunk_size: usize,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct SplitArgs {
    /// Pre-tokenizer rules: bert (lowercase, strip accents, as bert-base-uncased), bert-cased,
    /// gpt2, cl100k, o200k (tiktoken patterns) or whitespace (HF's Whitespace: \w+|[^\w\s]+).
    #[arg(long, value_name = "RULES", default_value = "bert")]
    rules: RuleSet,
    /// Output format: text (pieces separated by a space, a line per input line), jsonl
    /// ({"pieces":[["text",start,end],...]} per input line, absolute byte offsets) or none.
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "jsonl", "none"])]
    format: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct EncodeArgs {
    /// Model: a built-in name (bert-base-uncased, gpt2, r50k_base, cl100k_base, o200k_base)
    /// or a path to a WordPiece vocab.txt, a .tiktoken file, a GPT-2 encoder.json, or a
    /// Hugging Face tokenizer.json (WordPiece or byte-level BPE).
    #[arg(
        long,
        short,
        value_name = "NAME|PATH",
        default_value = "bert-base-uncased"
    )]
    model: String,
    /// Output format: text (ids separated by a space, a line per input line), jsonl
    /// ({"tokens":[[id,start,end],...]} per input line, absolute byte offsets), u32 or u16
    /// (raw little-endian ids), none (count only).
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "jsonl", "u32", "u16", "none"])]
    format: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct DecodeArgs {
    /// Model: gpt2, r50k_base, cl100k_base, o200k_base, or a path to a .tiktoken file, a
    /// GPT-2 encoder.json or a byte-level BPE tokenizer.json.
    #[arg(long, short, value_name = "NAME|PATH", default_value = "cl100k_base")]
    model: String,
    /// Input format: text (decimal ids separated by whitespace), jsonl (encode's jsonl), u32 or
    /// u16 (raw little-endian).
    #[arg(long, value_name = "FORMAT", default_value = "u32",
          value_parser = ["text", "jsonl", "u32", "u16"])]
    format: String,
    /// Input files of ids, read in order ("-" or none: stdin).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write the bytes to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Built-in models: name and description.
const BUILTIN_MODELS: &[(&str, &str)] = &[
    (
        "bert-base-uncased",
        "WordPiece, 30,522 tokens, uncased BERT normalizer (embedded)",
    ),
    (
        "gpt2",
        "byte-level BPE, 50,257 ids, gpt2 pattern (= r50k_base; embedded)",
    ),
    (
        "r50k_base",
        "byte-level BPE, 50,257 ids, gpt2 pattern (tiktoken ranks; embedded)",
    ),
    (
        "cl100k_base",
        "byte-level BPE, 100,256 ids, cl100k pattern (tiktoken ranks; embedded)",
    ),
    (
        "o200k_base",
        "byte-level BPE, 199,998 ids, o200k pattern (tiktoken ranks; embedded)",
    ),
];

/// Resolve `--model`.
pub fn load_model(name: &str) -> crate::Result<Model> {
    if name == "bert-base-uncased" {
        return Ok(Model::WordPiece(WordPiece::bert_base_uncased()));
    }
    if let Some(b) = crate::subword::Bpe::builtin(name) {
        return Ok(Model::Bpe(b));
    }
    let path = PathBuf::from(name);
    if !path.exists() {
        let names: Vec<_> = BUILTIN_MODELS.iter().map(|(n, _)| *n).collect();
        return Err(Error::config(format!(
            "unknown model '{name}': not a built-in model ({}) and no such file",
            names.join(", ")
        )));
    }
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    if file.ends_with(".tiktoken") {
        return crate::subword::Bpe::from_tiktoken_path(&path, None).map(Model::Bpe);
    }
    if file.ends_with("encoder.json") {
        return crate::subword::Bpe::from_encoder_json(&path).map(Model::Bpe);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        // A tokenizer.json: byte-level BPE or WordPiece, by its model.type.
        return crate::subword::Model::from_tokenizer_json_path(&path);
    }
    WordPiece::from_path(&path).map(Model::WordPiece)
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    // `--version` also names the scanner level this CPU uses (TOKSTREAM_SIMD can force one).
    let version = format!(
        "{} (SIMD: {}; available: {})",
        env!("CARGO_PKG_VERSION"),
        crate::scan::implementation(),
        crate::scan::Level::available()
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // clap keeps a &'static str; one small leak per process.
    let command = <Cli as clap::CommandFactory>::command().version(&*version.leak());
    let parsed = command
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            eprintln!("tokstream: error: {e}");
            match e.kind() {
                crate::ErrorKind::Config(_) => 2,
                _ => 1,
            }
        }
    }
}

fn open_output(path: &Option<PathBuf>) -> crate::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => {
            let f = File::create(p).map_err(|e| Error::from(e).with_path(p))?;
            Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, f))
        }
        None => Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, io::stdout().lock())),
    })
}

fn run(cli: Cli) -> crate::Result<()> {
    match cli.command {
        Command::Models => {
            println!("models (tokstream encode --model NAME):");
            for (n, d) in BUILTIN_MODELS {
                println!("  {n:<20} {d}");
            }
            println!(
                "  PATH                 a WordPiece vocab.txt or a Hugging Face tokenizer.json, a \
                 tiktoken .tiktoken file, a GPT-2 encoder.json"
            );
            println!("rule sets (tokstream split --rules NAME):");
            for r in RuleSet::ALL {
                println!("  {}", r.name());
            }
            Ok(())
        }
        Command::Split(a) => {
            let format: Format = a.format.parse().map_err(Error::config)?;
            PieceWriter::new(io::sink(), format)?;
            let mut input = InputStream::open(&a.common.files)?;
            input.cancel_on(command::interrupt_flag());
            let size = input.total_size();
            let out = open_output(&a.common.output)?;
            let work = Work::Split(a.rules, format);
            let settings = run_settings(&a.common.run, a.common.chunk_size, a.common.strict);
            let (res, summary) = command::run(&work, &mut input, size, out, &settings);
            res.map_err(|e| input.locate_error(e))?;
            report(&a.common, &input, &summary)
        }
        Command::Decode(a) => {
            use crate::subword::bpe::{IdFormat, decode_stream};
            let Model::Bpe(bpe) = load_model(&a.model)? else {
                return Err(Error::config(format!(
                    "decode needs a byte-level BPE model, and '{}' is not one",
                    a.model
                )));
            };
            let format = match a.format.as_str() {
                "text" => IdFormat::Text,
                "jsonl" => IdFormat::Jsonl,
                "u16" => IdFormat::U16,
                _ => IdFormat::U32,
            };
            let mut input = InputStream::open(&a.files)?;
            let mut out = open_output(&a.output)?;
            let res = decode_stream(&bpe, &mut input, format, &mut out);
            res.map_err(|e| input.locate_error(e))?;
            out.flush()?;
            Ok(())
        }
        Command::Encode(a) => {
            let format: Format = a.format.parse().map_err(Error::config)?;
            let model = load_model(&a.model)?;
            TokenWriter::new(io::sink(), format, model.vocab_size())?;
            let mut input = InputStream::open(&a.common.files)?;
            input.cancel_on(command::interrupt_flag());
            let size = input.total_size();
            let out = open_output(&a.common.output)?;
            let work = Work::Encode(&model, format);
            let settings = run_settings(&a.common.run, a.common.chunk_size, a.common.strict);
            let (res, summary) = command::run(&work, &mut input, size, out, &settings);
            res.map_err(|e| input.locate_error(e))?;
            report(&a.common, &input, &summary)
        }
        Command::Bench(a) => {
            let format: Format = a.format.parse().map_err(Error::config)?;
            let model = match a.rules {
                Some(_) => None,
                None => Some(load_model(&a.model)?),
            };
            let work = match (a.rules, &model) {
                (Some(rules), _) => Work::Split(rules, format),
                (None, Some(m)) => Work::Encode(m, format),
                (None, None) => unreachable!("a model is loaded when no rules are given"),
            };
            let (input, size) = command::bench_input(&a.files, a.size)?;
            let settings = run_settings(&a.run, a.chunk_size, a.strict);
            let (res, summary) = command::run(&work, input, size, io::sink(), &settings);
            res?;
            if let Some(p) = &a.run.stats_json {
                command::write_stats_json(p, &summary)?;
            }
            if a.json {
                println!("{}", summary.to_json());
            } else {
                print!("{summary}");
            }
            if summary.interrupted {
                std::process::exit(130);
            }
            Ok(())
        }
    }
}

fn run_settings(r: &RunArgs, chunk_size: usize, strict: bool) -> RunSettings {
    RunSettings {
        jobs: r.jobs.map_or(0, usize::from),
        chunk_size,
        strict,
        progress: if r.no_progress {
            Some(false)
        } else if r.progress {
            Some(true)
        } else {
            None
        },
    }
}

/// The end-of-run messages on stderr: the lossy-UTF-8 warning and the `--stats` summary (also
/// after Ctrl-C, which then exits 130), and the `--stats-json` file.
fn report(c: &CommonArgs, input: &InputStream, summary: &Summary) -> crate::Result<()> {
    let stats = &summary.stats;
    if let Some(at) = stats.first_replaced {
        let (name, off) = input.locate(at);
        eprintln!(
            "tokstream: warning: replaced {} invalid UTF-8 sequence(s) with U+FFFD (first in {name} \
             at byte offset {off}); --strict rejects them",
            stats.replaced
        );
    }
    if c.stats || summary.interrupted {
        let mut err = io::stderr().lock();
        if err.is_terminal() {
            let _ = writeln!(err, "-- tokstream stats --");
        }
        let _ = write!(err, "{summary}");
    }
    if let Some(p) = &c.run.stats_json {
        command::write_stats_json(p, summary)?;
    }
    if summary.interrupted {
        std::process::exit(130);
    }
    Ok(())
}

fn parse_chunk_size(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of bytes"))?;
    if (1..=1 << 30).contains(&n) {
        Ok(n)
    } else {
        Err("must be between 1 and 2^30".into())
    }
}
