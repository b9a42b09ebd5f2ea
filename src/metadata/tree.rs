//! Reading a header (or a whole data set) into a tree of elements with raw
//! values.

use std::io::Read;
use std::path::{Path, PathBuf};

use dicom_core::{Tag, VR};

use super::{HeaderError, MetadataError};
use crate::stream::{
    Header, ITEM, ITEM_DELIMITER, MAX_DEPTH, SEQUENCE_DELIMITER, Source, StreamError, Syntax, What,
    open_file, skip_value, sniff,
};

/// One element: a raw value, or the items of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub tag: Tag,
    pub vr: VR,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The value bytes as in the file (byte order of the transfer syntax).
    Bytes(Vec<u8>),
    Items(Vec<Item>),
    /// An undefined-length value that is not a sequence (encapsulated
    /// data): skipped, not kept.
    Skipped,
}

/// One sequence item: a nested data set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    pub elements: Vec<Element>,
}

impl Item {
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.elements.iter().find(|e| e.tag == tag)
    }
}

/// The header of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomHeader {
    pub path: PathBuf,
    /// File meta elements; empty for a bare data set.
    pub meta: Vec<Element>,
    /// The data set: up to (not including) the pixel data for
    /// [`Extent::Header`]; all of it for [`Extent::AllButPixels`], pixel
    /// data elements present with their values [`Value::Skipped`].
    pub dataset: Item,
    pub transfer_syntax: String,
    /// How the data set's values are encoded (byte order).
    pub syntax: Syntax,
    /// Whether the top-level data set has (7FE0,xxxx) pixel data.
    pub has_pixel_data: bool,
}

impl DicomHeader {
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        if tag.group() == 0x0002 {
            self.meta.iter().find(|e| e.tag == tag)
        } else {
            self.dataset.get(tag)
        }
    }
}

/// How much of a file [`read_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// File meta and data set up to the pixel data: what `metadata` shows,
    /// without reading past the header of a large image.
    Header,
    /// Everything, elements after the pixel data included (trailing
    /// private tags, padding), for checks that must see every value.
    /// The values of pixel data elements (group 7FE0, at any depth) are
    /// skipped, not kept: they are image samples, not text.
    AllButPixels,
}

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DicomHeader, MetadataError> {
    read_file(path, Extent::Header)
}

/// Reads `path` into a tree, as far as `extent` says.
pub fn read_file(path: &Path, extent: Extent) -> Result<DicomHeader, MetadataError> {
    let fail = |e: HeaderError| MetadataError::new(path, e);
    let layout = sniff(path)
        .map_err(|e| fail(HeaderError::Io(e)))?
        .ok_or_else(|| fail(HeaderError::NotDicom))?;
    let opened = open_file(path, layout).map_err(|e| fail(e.into()))?;
    let meta_elements = opened
        .meta
        .map(|m| m.elements)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Element {
            tag: e.tag,
            vr: e.vr,
            value: Value::Bytes(e.value),
        })
        .collect();
    let (syntax, transfer_syntax) = (opened.syntax, opened.transfer_syntax);
    let mut source = opened.dataset;
    let mut reader = Reader {
        source: &mut source,
        extent,
        has_pixel_data: false,
    };
    let elements = reader
        .elements(syntax, Until::End, 0)
        .map_err(|e| fail(e.into()))?;
    let has_pixel_data = reader.has_pixel_data;
    Ok(DicomHeader {
        path: path.to_path_buf(),
        meta: meta_elements,
        dataset: Item { elements },
        transfer_syntax,
        syntax,
        has_pixel_data,
    })
}

/// Where a run of elements ends.
#[derive(Clone, Copy)]
enum Until {
    /// The end of the file, or the pixel data (top level only).
    End,
    /// A byte offset (defined-length item).
    Offset(u64),
    /// An Item Delimitation Item.
    Delimiter,
}

/// One pass over a data set, with what it needs at every depth.
struct Reader<'s, R> {
    source: &'s mut Source<R>,
    extent: Extent,
    /// Set when the top-level data set has pixel data.
    has_pixel_data: bool,
}

impl<R: Read> Reader<'_, R> {
    fn elements(
        &mut self,
        syntax: Syntax,
        until: Until,
        depth: usize,
    ) -> Result<Vec<Element>, StreamError> {
        let mut elements = Vec::new();
        loop {
            if let Until::Offset(end) = until
                && self.source.position() >= end
            {
                break;
            }
            let next = if matches!(until, Until::End) {
                Header::read_top_level(self.source, syntax)?
            } else {
                Header::read(self.source, syntax)?
            };
            let header = match next {
                Some(h) => h,
                None if matches!(until, Until::End) => break,
                None => {
                    return Err(StreamError::Truncated {
                        what: "a sequence item".into(),
                        offset: self.source.position(),
                    });
                }
            };
            if header.tag == ITEM_DELIMITER && matches!(until, Until::Delimiter) {
                break;
            }
            let pixels = header.tag.group() == 0x7FE0;
            if pixels && depth == 0 {
                self.has_pixel_data = true;
                // Pixel Data (and Float / Double Float Pixel Data) ends
                // the header, which is all `metadata` shows.
                if self.extent == Extent::Header {
                    break;
                }
            }
            let value = if pixels && self.extent == Extent::AllButPixels {
                skip_value(self.source, &header, syntax, depth)?;
                Value::Skipped
            } else if header.is_sequence() {
                Value::Items(self.items(syntax, &header, depth + 1)?)
            } else if header.is_undefined_length() {
                skip_value(self.source, &header, syntax, depth)?;
                Value::Skipped
            } else {
                Value::Bytes(
                    self.source
                        .read_value(header.len, What::Value(header.tag))?,
                )
            };
            elements.push(Element {
                tag: header.tag,
                vr: if header.is_sequence() {
                    VR::SQ
                } else {
                    header.vr
                },
                value,
            });
        }
        Ok(elements)
    }

    fn items(
        &mut self,
        syntax: Syntax,
        header: &Header,
        depth: usize,
    ) -> Result<Vec<Item>, StreamError> {
        if depth >= MAX_DEPTH {
            return Err(StreamError::TooDeep {
                max: MAX_DEPTH,
                offset: self.source.position(),
            });
        }
        let inner = header.item_syntax(syntax);
        let end =
            (!header.is_undefined_length()).then(|| self.source.position() + u64::from(header.len));
        let mut items = Vec::new();
        loop {
            if let Some(end) = end
                && self.source.position() >= end
            {
                break;
            }
            let item = Header::read(self.source, inner)?.ok_or_else(|| StreamError::Truncated {
                what: format!("the sequence {}", header.tag),
                offset: self.source.position(),
            })?;
            match item.tag {
                SEQUENCE_DELIMITER => break,
                ITEM => {
                    let until = if item.is_undefined_length() {
                        Until::Delimiter
                    } else {
                        Until::Offset(self.source.position() + u64::from(item.len))
                    };
                    let elements = self.elements(inner, until, depth)?;
                    items.push(Item { elements });
                }
                tag => {
                    return Err(StreamError::UnexpectedTag {
                        tag,
                        offset: self.source.position(),
                        context: "where a sequence item should start",
                    });
                }
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{FileMeta, meta};

    /// A Part 10 file whose data set has pixel data, then a private element
    /// (trailing tags are where some systems put their own data).
    fn file_with_tags_after_pixels() -> tempfile::NamedTempFile {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let mut file_meta = FileMeta::default();
        file_meta.set_uid(meta::TRANSFER_SYNTAX_UID, "1.2.840.10008.1.2.1");
        let mut bytes = Vec::new();
        file_meta.write(&mut bytes).unwrap();
        let mut element = |tag: Tag, vr: VR, value: &[u8]| {
            let len = value.len() as u32;
            Header { tag, vr, len }.write(&mut bytes, syntax).unwrap();
            bytes.extend_from_slice(value);
        };
        element(Tag(0x0010, 0x0010), VR::PN, b"Doe^John");
        element(Tag(0x7FE0, 0x0010), VR::OW, &[0xAB; 32]);
        element(Tag(0x0009, 0x0010), VR::LO, b"ACME 1.0");
        element(Tag(0x0009, 0x1001), VR::LO, b"Doe^John");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        file
    }

    #[test]
    fn header_stops_at_pixel_data_and_whole_file_reads_past_it() {
        let file = file_with_tags_after_pixels();
        let header = read_file(file.path(), Extent::Header).unwrap();
        assert!(header.has_pixel_data);
        assert_eq!(header.dataset.elements.len(), 1);

        let whole = read_file(file.path(), Extent::AllButPixels).unwrap();
        assert!(whole.has_pixel_data);
        let tags: Vec<Tag> = whole.dataset.elements.iter().map(|e| e.tag).collect();
        assert_eq!(
            tags,
            [
                Tag(0x0010, 0x0010),
                Tag(0x7FE0, 0x0010),
                Tag(0x0009, 0x0010),
                Tag(0x0009, 0x1001)
            ]
        );
        assert_eq!(whole.dataset.elements[1].value, Value::Skipped);
        assert_eq!(
            whole.dataset.get(Tag(0x0009, 0x1001)).map(|e| &e.value),
            Some(&Value::Bytes(b"Doe^John".to_vec()))
        );
    }
}
