//! Pixel data the kernel copies. A small file is read whole and rewritten
//! in memory, but its pixel data, most of its bytes, needs no rewriting:
//! when the header (everything before the top-level Pixel Data) fits in
//! the first bytes read, the rewriter sees the file without the pixel
//! value, and the value goes from source to output by `copy_file_range`,
//! inside the kernel, as `cp` copies files, instead of through two
//! buffers of ours.

use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;

use dicom_core::Tag;

use crate::rules::{Disposition, RuleSet};
use crate::stream::{Header, Layout, Syntax, open_reader, skip_value};

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// Pixel values shorter than this are not worth a separate copy.
const MIN_COPIED: u32 = 16 * 1024;

/// Where a file's top-level Pixel Data value lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelSpan {
    /// The bytes of its header's length field.
    pub length_field: Range<usize>,
    /// First byte of the value.
    pub value_start: usize,
    pub len: u32,
    pub syntax: Syntax,
}

impl PixelSpan {
    pub fn value_end(&self) -> u64 {
        self.value_start as u64 + u64::from(self.len)
    }

    /// The length field's bytes for a value of `len` bytes.
    pub fn length_bytes(&self, len: u32) -> Vec<u8> {
        match self.length_field.len() {
            2 => self.syntax.u16_to(len as u16).to_vec(),
            _ => self.syntax.u32_bytes(len).to_vec(),
        }
    }
}

/// The top-level Pixel Data of a file whose first bytes are `head`, when
/// the kernel can copy it: native (defined length) pixel data that the
/// rules keep, in a data set that is not deflated, whose elements before
/// it lie within `head`, with a value big enough and within the file.
pub fn find(head: &[u8], layout: Layout, rules: &RuleSet, file_size: u64) -> Option<PixelSpan> {
    let (span, header) = pixel_element(head, layout)?;
    let kept = rules.rule_for(PIXEL_DATA).disposition(header.vr) == Disposition::Keep;
    let fits = !span.syntax.deflated
        && !header.is_undefined_length()
        && header.len >= MIN_COPIED
        && span.value_end() <= file_size;
    (kept && fits).then_some(span)
}

/// Where the (emptied) Pixel Data value of a rewritten file starts, and
/// its length field: found again, since rules may have changed everything
/// before it.
pub fn find_in_output(output: &[u8]) -> Option<PixelSpan> {
    pixel_element(output, Layout::Part10)
        .filter(|(span, _)| span.len == 0)
        .map(|(span, _)| span)
}

/// The top-level Pixel Data element of `bytes` and its header; `None` when
/// the bytes end first, or when another element of the pixel group comes
/// before it (a group length would be computed without the value).
fn pixel_element(bytes: &[u8], layout: Layout) -> Option<(PixelSpan, Header)> {
    let mut opened = open_reader(bytes, layout).ok()?;
    let syntax = opened.syntax;
    let source = &mut opened.dataset;
    loop {
        let header = Header::read_top_level(source, syntax).ok()??;
        if header.tag == PIXEL_DATA {
            let start = usize::try_from(source.position()).ok()?;
            let span = PixelSpan {
                length_field: start - header.length_field_size(syntax)..start,
                value_start: start,
                len: header.len,
                syntax,
            };
            return Some((span, header));
        }
        if header.tag.group() >= PIXEL_DATA.group() {
            return None;
        }
        skip_value(source, &header, syntax, 0).ok()?;
    }
}

/// Copies `len` bytes at `offset` of `source` to the end of `out`, inside
/// the kernel where it can (`copy_file_range`), through a buffer where it
/// cannot (another file system on old kernels, a system without it).
pub fn copy_range(source: &File, offset: u64, out: &mut File, len: u64) -> io::Result<()> {
    let mut copied = 0;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        while copied < len {
            let mut from = libc::loff_t::try_from(offset + copied).map_err(io::Error::other)?;
            let want = usize::try_from(len - copied).unwrap_or(usize::MAX);
            // SAFETY: both descriptors are open for the duration of the
            // call; `from` is a valid offset variable; a null output
            // offset means the output's own position, which advances.
            let n = unsafe {
                libc::copy_file_range(
                    source.as_raw_fd(),
                    &mut from,
                    out.as_raw_fd(),
                    std::ptr::null_mut(),
                    want,
                    0,
                )
            };
            match n {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n if n > 0 => copied += n as u64,
                _ => {
                    let err = io::Error::last_os_error();
                    match err.raw_os_error() {
                        Some(libc::EINTR) => {}
                        Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => break,
                        _ => return Err(err),
                    }
                }
            }
        }
    }
    copy_through_buffer(source, offset + copied, out, len - copied)
}

fn copy_through_buffer(source: &File, offset: u64, out: &mut File, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len.min(256 * 1024) as usize];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = source.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}
