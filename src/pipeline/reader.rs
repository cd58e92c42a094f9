//! Fixed-size chunks cut at safe boundaries.

use std::io::{self, Read};

/// Reads a stream into a fixed-capacity buffer and hands it out in chunks that end at a safe
/// boundary chosen by the rule set (for BERT: just after the last ASCII whitespace byte, where
/// no piece can continue; see [`crate::rules::Splitter::safe_cut`]).
///
/// A full buffer without any whitespace (one giant word) is cut at its end anyway: the rules
/// engines are resumable, so a cut there costs nothing in exactness, and memory stays at the
/// buffer's capacity. The tail after the cut is carried into the next chunk. Offsets are u64.
pub struct ChunkReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    abs: u64,
    eof: bool,
}

impl<R: Read> ChunkReader<R> {
    /// A reader handing out chunks of at most `chunk_size` bytes (at least 1).
    pub fn new(src: R, chunk_size: usize) -> Self {
        ChunkReader {
            src,
            buf: vec![0; chunk_size.max(1)],
            start: 0,
            end: 0,
            abs: 0,
            eof: false,
        }
    }

    /// The next chunk and its stream offset, or `None` at the end of the stream. `safe_cut`
    /// returns the end of the last safe cut of a buffer (`None`: cut at its end).
    pub fn next_chunk(
        &mut self,
        safe_cut: impl Fn(&[u8]) -> Option<usize>,
    ) -> io::Result<Option<(u64, &[u8])>> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < self.buf.len() && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.end == 0 {
            return Ok(None);
        }
        let data = &self.buf[..self.end];
        let cut = if self.eof {
            self.end
        } else {
            safe_cut(data).filter(|&c| c > 0).unwrap_or(self.end)
        };
        let abs = self.abs;
        self.abs += cut as u64;
        self.start = cut;
        Ok(Some((abs, &self.buf[..cut])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> Vec<(u64, Vec<u8>)> {
        let mut r = ChunkReader::new(input, size);
        let mut out = Vec::new();
        let cut = |b: &[u8]| memchr::memrchr2(b' ', b'\n', b).map(|i| i + 1);
        while let Some((abs, c)) = r.next_chunk(cut).unwrap() {
            out.push((abs, c.to_vec()));
        }
        out
    }

    #[test]
    fn chunks_cover_the_stream_and_end_after_whitespace() {
        let input = b"hello world, this is a test\nof the chunk reader withaverylongwordhere end";
        for size in 1..input.len() + 2 {
            let cs = chunks(input, size);
            let joined: Vec<u8> = cs.iter().flat_map(|(_, c)| c.clone()).collect();
            assert_eq!(joined, input, "size {size}");
            let mut abs = 0;
            for (i, (a, c)) in cs.iter().enumerate() {
                assert_eq!(*a, abs);
                assert!(c.len() <= size && !c.is_empty());
                let last = i + 1 == cs.len();
                let forced = c.len() == size && !c.contains(&b' ') && !c.contains(&b'\n');
                assert!(
                    last || forced || c.ends_with(b" ") || c.ends_with(b"\n"),
                    "{c:?}"
                );
                abs += c.len() as u64;
            }
        }
    }
}
