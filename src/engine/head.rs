//! The first bytes of a source file, read once: the scan sniffs them and
//! finds the numbering attributes in them, the rewrite starts from them.
//!
//! Reads are positioned (`pread`), so the same open file serves the scan
//! and the rewrite without seeking; buffers are reused from file to file
//! and never zeroed again (only the first `len` bytes are the file's).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// How much of a file the scan reads: enough for the header of nearly
/// every image, so that the rewrite of a small file finds its Pixel Data
/// element in it.
pub const HEAD: usize = 16 * 1024;

/// The first bytes of a file, in a buffer that outlives it.
#[derive(Debug, Default)]
pub struct Head {
    buf: Vec<u8>,
    len: usize,
}

impl Head {
    /// Reads up to [`HEAD`] bytes from the start of `file` into `buf`.
    pub fn read(file: &File, mut buf: Vec<u8>) -> io::Result<Head> {
        let len = read_at(file, 0, HEAD, &mut buf, 0)?;
        Ok(Head { buf, len })
    }

    /// The bytes read.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The buffer, to read the next head into.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads up to `limit` bytes of `file` from `offset` (or to its end) into
/// `buf` at `start`; returns how many. `buf` only ever grows, so that its
/// bytes are not zeroed again for every file, and no stat or seek is spent
/// on guessing the size.
pub fn read_at(
    file: &File,
    offset: u64,
    limit: usize,
    buf: &mut Vec<u8>,
    start: usize,
) -> io::Result<usize> {
    let mut filled = 0;
    while filled < limit {
        if buf.len() <= start + filled {
            buf.resize((buf.len() * 2).max(start + filled + HEAD), 0);
        }
        let end = buf.len().min(start.saturating_add(limit));
        match file.read_at(&mut buf[start + filled..end], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `file` read from `offset` on, without moving its cursor: what follows a
/// [`Head`] when a header is longer than it.
pub struct ReaderAt<'a> {
    pub file: &'a File,
    pub offset: u64,
}

impl Read for ReaderAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_the_start_of_the_file_and_the_buffer_is_reused() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..HEAD + 100).map(|i| i as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = File::open(&path).unwrap();
        let head = Head::read(&file, Vec::new()).unwrap();
        assert_eq!(head.bytes(), &content[..HEAD]);

        std::fs::write(&path, b"short").unwrap();
        let file = File::open(&path).unwrap();
        let head = Head::read(&file, head.into_buffer()).unwrap();
        assert_eq!(head.bytes(), b"short");

        let mut rest = String::new();
        ReaderAt {
            file: &file,
            offset: 2,
        }
        .read_to_string(&mut rest)
        .unwrap();
        assert_eq!(rest, "ort");
    }
}
