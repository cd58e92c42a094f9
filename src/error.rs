//! The library's error type: typed, with the file name and byte offset whenever one is known.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong, without the context of where.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading input or writing output failed.
    Io(io::Error),
    /// `--strict` input contained a byte sequence that is not UTF-8.
    InvalidUtf8,
    /// A model file could not be parsed or is inconsistent.
    BadModel(String),
    /// A configuration or usage error (for example u16 output with a vocabulary over 65,536).
    Config(String),
}

/// An error with the input it concerns: a file (or `<stdin>`) and a byte offset where known.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    /// Byte offset within `path` (or within the stream when there is no path).
    offset: Option<u64>,
}

impl Error {
    /// An error of `kind` with no location.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            path: None,
            offset: None,
        }
    }

    /// A model-file error naming the file.
    pub fn bad_model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::BadModel(msg.into()),
            path: Some(path.into()),
            offset: None,
        }
    }

    /// A configuration error.
    pub fn config(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config(msg.into()))
    }

    /// Attach the file this error concerns.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Attach the byte offset this error concerns.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file this error concerns, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The byte offset this error concerns, if any.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// True when the error is a closed output pipe, which the CLI treats as a normal end.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.kind, ErrorKind::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}", p.display())?;
            if let Some(o) = self.offset {
                write!(f, ": byte offset {o}")?;
            }
            f.write_str(": ")?;
        } else if let Some(o) = self.offset {
            write!(f, "byte offset {o}: ")?;
        }
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::InvalidUtf8 => {
                f.write_str("invalid UTF-8 (use the default lossy mode to replace it)")
            }
            ErrorKind::BadModel(m) => write!(f, "bad model file: {m}"),
            ErrorKind::Config(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
