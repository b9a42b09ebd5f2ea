//! A byte source that knows its position and never trusts a declared length.

use std::fmt;
use std::io::{self, Read, Write};

use dicom_core::Tag;

use super::{StreamError, describe_tag};

/// What is being read, for error messages. Cheap to pass for every
/// element: the text is only made when something goes wrong.
#[derive(Debug, Clone, Copy)]
pub enum What<'a> {
    Text(&'a str),
    /// The header of an element.
    Header(Tag),
    /// The value of an element.
    Value(Tag),
    /// A sequence and its items.
    Sequence(Tag),
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            What::Text(text) => f.write_str(text),
            What::Header(tag) => write!(f, "the header of {}", describe_tag(tag)),
            What::Value(tag) => write!(f, "the value of {}", describe_tag(tag)),
            What::Sequence(tag) => write!(f, "the sequence {}", describe_tag(tag)),
        }
    }
}

impl<'a> From<&'a str> for What<'a> {
    fn from(text: &'a str) -> What<'a> {
        What::Text(text)
    }
}

/// Bytes copied per read when streaming a value through.
const COPY_CHUNK: usize = 64 * 1024;

/// Values up to this size are read in one allocation; larger ones grow as
/// bytes really arrive, so a hostile length cannot reserve gigabytes.
const TRUSTED_PREALLOCATION: usize = 64 * 1024;

/// Reads a DICOM stream and counts the bytes consumed.
pub struct Source<R> {
    inner: R,
    position: u64,
    /// Bytes pushed back by [`Source::unread`], consumed first.
    pending: Vec<u8>,
    /// Reused buffer for streaming values through.
    scratch: Vec<u8>,
}

impl<R: Read> Source<R> {
    pub fn new(inner: R) -> Source<R> {
        Source {
            inner,
            position: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// A source whose first byte is at `position` of a larger stream, so
    /// that error offsets count from the start of the file.
    pub fn starting_at(inner: R, position: u64) -> Source<R> {
        Source {
            inner,
            position,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Gives back bytes just read, so that the next read returns them again.
    pub fn unread(&mut self, bytes: &[u8]) {
        self.pending.splice(0..0, bytes.iter().copied());
        self.position -= bytes.len() as u64;
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.pending.is_empty() {
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }

    /// Fills `buf`, or returns `Ok(false)` if the stream ended before its
    /// first byte. Ending midway is an error naming `what`.
    pub fn read_exact_or_eof<'w>(
        &mut self,
        buf: &mut [u8],
        what: impl Into<What<'w>>,
    ) -> Result<bool, StreamError> {
        match self.read_up_to(buf)? {
            0 if !buf.is_empty() => Ok(false),
            filled if filled == buf.len() => Ok(true),
            _ => Err(StreamError::Truncated {
                what: what.into().to_string(),
                offset: self.position,
            }),
        }
    }

    /// Reads into `buf` until it is full or the stream ends; how many
    /// bytes were read.
    pub fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read_some(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.position += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(StreamError::Read {
                        offset: self.position,
                        source,
                    });
                }
            }
        }
        Ok(filled)
    }

    /// Consumes the rest of the stream, which must be zero bytes (the
    /// padding some writers put after a data set, here from `start` on);
    /// a non-zero byte is an error: whatever it starts was not read.
    pub fn skip_zero_padding(&mut self, start: u64) -> Result<(), StreamError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(COPY_CHUNK, 0);
        let result = loop {
            match self.read_up_to(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Some(at) = buf[..n].iter().position(|&b| b != 0) {
                        let offset = self.position - (n - at) as u64;
                        break Err(StreamError::Unread {
                            offset,
                            after: offset - start,
                        });
                    }
                }
                Err(err) => break Err(err),
            }
        };
        self.scratch = buf;
        result
    }

    /// Fills `buf`; the end of stream anywhere is an error naming `what`.
    pub fn read_exact<'w>(
        &mut self,
        buf: &mut [u8],
        what: impl Into<What<'w>>,
    ) -> Result<(), StreamError> {
        let what = what.into();
        if buf.is_empty() || self.read_exact_or_eof(buf, what)? {
            Ok(())
        } else {
            Err(StreamError::Truncated {
                what: what.to_string(),
                offset: self.position,
            })
        }
    }

    /// Reads a whole value of `len` bytes into memory.
    pub fn read_value<'w>(
        &mut self,
        len: u32,
        what: impl Into<What<'w>>,
    ) -> Result<Vec<u8>, StreamError> {
        let what = what.into();
        let len = len as usize;
        let mut value = Vec::with_capacity(len.min(TRUSTED_PREALLOCATION));
        if len <= TRUSTED_PREALLOCATION {
            value.resize(len, 0);
            self.read_exact(&mut value, what)?;
            return Ok(value);
        }
        let copied = self.copy_to(len as u64, &mut value)?;
        if copied < len as u64 {
            return Err(self.truncated(what, copied, len as u64));
        }
        Ok(value)
    }

    /// Copies a value of `len` bytes to `out` without holding it.
    pub fn copy_value<'w, W: Write>(
        &mut self,
        len: u32,
        out: &mut W,
        what: impl Into<What<'w>>,
    ) -> Result<(), StreamError> {
        let copied = self.copy_to(u64::from(len), out)?;
        if copied < u64::from(len) {
            return Err(self.truncated(what.into(), copied, u64::from(len)));
        }
        Ok(())
    }

    /// Skips a value of `len` bytes.
    pub fn skip_value<'w>(
        &mut self,
        len: u32,
        what: impl Into<What<'w>>,
    ) -> Result<(), StreamError> {
        self.copy_value(len, &mut io::sink(), what)
    }

    fn truncated(&self, what: What<'_>, got: u64, want: u64) -> StreamError {
        StreamError::Truncated {
            what: format!("{what} ({got} of {want} bytes present)"),
            offset: self.position,
        }
    }

    fn copy_to<W: Write>(&mut self, len: u64, out: &mut W) -> Result<u64, StreamError> {
        let mut remaining = len;
        let mut buf = std::mem::take(&mut self.scratch);
        let want_size = (len as usize).min(COPY_CHUNK);
        if buf.len() < want_size {
            buf.resize(want_size, 0);
        }
        let result = self.copy_with(&mut buf, &mut remaining, out);
        self.scratch = buf;
        result.map(|()| len - remaining)
    }

    fn copy_with<W: Write>(
        &mut self,
        buf: &mut [u8],
        remaining: &mut u64,
        out: &mut W,
    ) -> Result<(), StreamError> {
        while *remaining > 0 {
            let want = (*remaining).min(buf.len() as u64) as usize;
            let n = match self.read_some(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(StreamError::Read {
                        offset: self.position,
                        source,
                    });
                }
            };
            out.write_all(&buf[..n]).map_err(StreamError::Write)?;
            self.position += n as u64;
            *remaining -= n as u64;
        }
        Ok(())
    }

    /// The rest of the stream as a boxed reader (for readers of other
    /// libraries).
    pub fn into_reader_boxed<'a>(self) -> Box<dyn Read + Send + 'a>
    where
        R: Send + 'a,
    {
        Box::new(self.into_reader())
    }

    /// The rest of the stream (bytes given back by `unread` first), for
    /// continuing with another kind of reader.
    pub fn into_reader(self) -> io::Chain<io::Cursor<Vec<u8>>, R> {
        io::Cursor::new(self.pending).chain(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_length_fails_without_allocating_it() {
        let data = [7u8; 100];
        let mut source = Source::new(&data[..]);
        let err = source.read_value(0xFFFF_FFF0, "a value").unwrap_err();
        assert!(
            err.to_string()
                .contains("a value (100 of 4294967280 bytes present)"),
            "{err}"
        );
    }

    #[test]
    fn unread_bytes_come_back_first() {
        let data = b"abcdef";
        let mut source = Source::new(&data[..]);
        let mut two = [0u8; 2];
        source.read_exact(&mut two, "x").unwrap();
        source.unread(&two);
        assert_eq!(source.position(), 0);
        assert_eq!(source.read_value(4, "x").unwrap(), b"abcd");
        assert_eq!(source.position(), 4);
    }

    #[test]
    fn clean_end_is_not_an_error_but_a_torn_one_is() {
        let mut source = Source::new(&b"ab"[..]);
        let mut four = [0u8; 4];
        assert!(source.read_exact_or_eof(&mut four, "tag").is_err());
        let mut empty = Source::new(&b""[..]);
        assert!(!empty.read_exact_or_eof(&mut four, "tag").unwrap());
    }
}
