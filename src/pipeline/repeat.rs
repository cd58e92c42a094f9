//! A corpus repeated up to a given size, streamed (`tokstream bench --size 10GiB`).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::Error;

/// Files read in order, over and over, until exactly `size` bytes have been read. Nothing is
/// held in memory: each pass re-opens the files.
///
/// ```no_run
/// use std::io::Read;
/// let mut r = tokstream::pipeline::Repeat::new(&["corpus.txt".into()], 10 << 30)?;
/// let mut buf = vec![0; 1 << 16];
/// while r.read(&mut buf)? > 0 {}
/// # Ok::<(), tokstream::Error>(())
/// ```
pub struct Repeat {
    paths: Vec<PathBuf>,
    next: usize,
    file: Option<File>,
    left: u64,
    /// Bytes read since the current pass began (a pass of 0 bytes would loop forever).
    pass_bytes: u64,
}

impl Repeat {
    /// Repeat `paths` up to `size` bytes. Every file is opened now, so a missing one is
    /// reported before anything runs; a corpus of 0 bytes is an error.
    pub fn new(paths: &[PathBuf], size: u64) -> crate::Result<Self> {
        if paths.is_empty() {
            return Err(Error::config("repeating needs at least one input file"));
        }
        let mut total = 0;
        for p in paths {
            let f = File::open(p).map_err(|e| Error::from(e).with_path(p))?;
            let m = f.metadata().map_err(|e| Error::from(e).with_path(p))?;
            if m.is_dir() {
                return Err(Error::from(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a directory",
                ))
                .with_path(p));
            }
            total += m.len();
        }
        if total == 0 && size > 0 {
            return Err(Error::config("the corpus to repeat is empty"));
        }
        Ok(Repeat {
            paths: paths.to_vec(),
            next: 0,
            file: None,
            left: size,
            pass_bytes: 0,
        })
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let f = match &mut self.file {
                Some(f) => f,
                None => {
                    if self.next == self.paths.len() {
                        if self.pass_bytes == 0 {
                            return Err(io::Error::other("the corpus to repeat became empty"));
                        }
                        self.next = 0;
                        self.pass_bytes = 0;
                    }
                    let p = &self.paths[self.next];
                    self.next += 1;
                    let f = File::open(p)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                    self.file.insert(f)
                }
            };
            let want = buf.len().min(self.left.try_into().unwrap_or(usize::MAX));
            match f.read(&mut buf[..want]) {
                Ok(0) => self.file = None,
                Ok(n) => {
                    self.left -= n as u64;
                    self.pass_bytes += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_files_in_order_up_to_the_size() {
        let dir = std::env::temp_dir().join(format!("tokstream-repeat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"de").unwrap();
        let mut out = Vec::new();
        Repeat::new(&[a.clone(), b.clone()], 12)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"abcdeabcdeab");
        let empty = dir.join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(Repeat::new(&[empty], 5).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
