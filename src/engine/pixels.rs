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

use dicom_core::{Tag, VR};

use crate::codec::{Header, Layout, Syntax, UNDEFINED_LENGTH, open_reader, skip_value};
use crate::rules::{Disposition, RuleSet};

pub const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// Pixel values shorter than this are not worth a separate copy.
const MIN_COPIED: u32 = 16 * 1024;

/// Where a file's top-level Pixel Data element lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelSpan {
    /// First byte of its header.
    pub header_start: usize,
    /// The bytes of its header's length field.
    pub length_field: Range<usize>,
    /// First byte of the value.
    pub value_start: usize,
    pub vr: VR,
    pub len: u32,
    pub syntax: Syntax,
}

impl PixelSpan {
    /// The span of `header`, read from a top-level data set in `syntax`,
    /// whose value starts at byte `value_start` of the file.
    pub fn of(header: &Header, value_start: u64, syntax: Syntax) -> Option<PixelSpan> {
        let value_start = usize::try_from(value_start).ok()?;
        let length_field_start = value_start.checked_sub(header.length_field_size(syntax))?;
        Some(PixelSpan {
            header_start: value_start.checked_sub(header.encoded_size(syntax))?,
            length_field: length_field_start..value_start,
            value_start,
            vr: header.vr,
            len: header.len,
            syntax,
        })
    }

    /// The same element, emptied, with its value starting at `value_start`.
    fn emptied_at(&self, value_start: usize) -> PixelSpan {
        let header_size = self.value_start - self.header_start;
        PixelSpan {
            header_start: value_start - header_size,
            length_field: value_start - self.length_field.len()..value_start,
            value_start,
            len: 0,
            ..*self
        }
    }

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

    /// Whether the kernel can copy this value from a file of `file_size`
    /// bytes: native (defined length) pixel data that the rules keep, in a
    /// data set that is not deflated, big enough and within the file.
    pub fn is_copyable(&self, rules: &RuleSet, file_size: u64) -> bool {
        let kept = rules.rule_for(PIXEL_DATA).disposition(self.vr) == Disposition::Keep;
        kept && !self.syntax.deflated
            && self.len != UNDEFINED_LENGTH
            && self.len >= MIN_COPIED
            && self.value_end() <= file_size
    }
}

/// Whether `tag`, met before the Pixel Data of a top-level data set, rules
/// out copying the pixel value by itself: another element of the pixel
/// group comes first (a group length would be computed without the value).
pub fn ends_search(tag: Tag) -> bool {
    tag.group() >= PIXEL_DATA.group() && tag != PIXEL_DATA
}

/// Where the (emptied) Pixel Data of a rewritten file lies. `source` is
/// where it was in the rewriter's input, whose `header` bytes it was
/// (with a zero length); `last` says that nothing followed it there, so
/// that it is the output's last element too (the rules add nothing after
/// Pixel Data) and is found at the end. Otherwise it is looked for again,
/// since rules may have changed everything before it.
pub fn find_in_output(
    output: &[u8],
    source: &PixelSpan,
    header: &[u8],
    last: bool,
) -> Option<PixelSpan> {
    if last && output.ends_with(header) {
        return Some(source.emptied_at(output.len()));
    }
    pixel_element(output, Layout::Part10).filter(|span| span.len == 0)
}

/// The top-level Pixel Data element of `bytes`; `None` when the bytes end
/// first, or when another element of the pixel group comes before it.
fn pixel_element(bytes: &[u8], layout: Layout) -> Option<PixelSpan> {
    let mut opened = open_reader(bytes, layout).ok()?;
    let syntax = opened.syntax;
    let source = &mut opened.dataset;
    loop {
        let header = Header::read_top_level(source, syntax).ok()??;
        if header.tag == PIXEL_DATA {
            return PixelSpan::of(&header, source.position(), syntax);
        }
        if ends_search(header.tag) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::read_header_facts_from;
    use crate::engine::testing::image;

    #[test]
    fn the_header_facts_say_where_pixel_data_lies() {
        let bytes = image(20_000, Vec::new());
        let facts = read_header_facts_from(&bytes, Layout::Part10).unwrap();
        let span = facts.pixels.unwrap();
        assert_eq!(
            &bytes[span.header_start..span.value_start],
            b"\xE0\x7F\x10\x00OB\x00\x00\x20\x4E\x00\x00"
        );
        assert_eq!(span.length_field, span.value_start - 4..span.value_start);
        assert_eq!(span.len, 20_000);
        assert_eq!(span.value_end(), bytes.len() as u64);
        assert_eq!(Some(span), pixel_element(&bytes, Layout::Part10));
    }

    #[test]
    fn emptied_pixel_data_is_found_at_the_end_or_else_by_a_search() {
        let bytes = image(20_000, Vec::new());
        let span = pixel_element(&bytes, Layout::Part10).unwrap();
        let mut emptied = bytes[..span.value_start].to_vec();
        emptied[span.length_field.clone()].fill(0);
        let header = emptied[span.header_start..].to_vec();
        let searched = pixel_element(&emptied, Layout::Part10).unwrap();
        assert_eq!(searched.len, 0);
        assert_eq!(
            find_in_output(&emptied, &span, &header, true),
            Some(searched.clone())
        );

        // Data Set Trailing Padding after it: the end does not match, the
        // search still finds it.
        let mut padded = emptied.clone();
        padded.extend_from_slice(b"\xFC\xFF\xFC\xFFOB\x00\x00\x02\x00\x00\x00\x00\x00");
        for last in [true, false] {
            assert_eq!(
                find_in_output(&padded, &span, &header, last),
                Some(searched.clone())
            );
        }
    }
}
