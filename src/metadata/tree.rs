//! Reading a header into a tree of elements with raw values.

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
    /// The data set up to (not including) the pixel data.
    pub dataset: Item,
    pub transfer_syntax: String,
    /// How the data set's values are encoded (byte order).
    pub syntax: Syntax,
    /// Whether reading stopped at (7FE0,xxxx) pixel data.
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

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DicomHeader, MetadataError> {
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
    let mut has_pixel_data = false;
    let elements = read_elements(&mut source, syntax, Until::End, 0, &mut has_pixel_data)
        .map_err(|e| fail(e.into()))?;
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

fn read_elements<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    until: Until,
    depth: usize,
    pixel_data: &mut bool,
) -> Result<Vec<Element>, StreamError> {
    let mut elements = Vec::new();
    loop {
        if let Until::Offset(end) = until
            && source.position() >= end
        {
            break;
        }
        let next = if matches!(until, Until::End) {
            Header::read_top_level(source, syntax)?
        } else {
            Header::read(source, syntax)?
        };
        let header = match next {
            Some(h) => h,
            None if matches!(until, Until::End) => break,
            None => {
                return Err(StreamError::Truncated {
                    what: "a sequence item".into(),
                    offset: source.position(),
                });
            }
        };
        if header.tag == ITEM_DELIMITER && matches!(until, Until::Delimiter) {
            break;
        }
        // Stop before Pixel Data (and Float / Double Float Pixel Data):
        // the header is all this command shows.
        if depth == 0 && header.tag.group() == 0x7FE0 {
            *pixel_data = true;
            break;
        }
        let value = if header.is_sequence() {
            Value::Items(read_items(source, syntax, &header, depth + 1)?)
        } else if header.is_undefined_length() {
            skip_value(source, &header, syntax, depth)?;
            Value::Skipped
        } else {
            Value::Bytes(source.read_value(header.len, What::Value(header.tag))?)
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

fn read_items<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    header: &Header,
    depth: usize,
) -> Result<Vec<Item>, StreamError> {
    if depth >= MAX_DEPTH {
        return Err(StreamError::TooDeep {
            max: MAX_DEPTH,
            offset: source.position(),
        });
    }
    let inner = header.item_syntax(syntax);
    let end = (!header.is_undefined_length()).then(|| source.position() + u64::from(header.len));
    let mut items = Vec::new();
    loop {
        if let Some(end) = end
            && source.position() >= end
        {
            break;
        }
        let item = Header::read(source, inner)?.ok_or_else(|| StreamError::Truncated {
            what: format!("the sequence {}", header.tag),
            offset: source.position(),
        })?;
        match item.tag {
            SEQUENCE_DELIMITER => break,
            ITEM => {
                let until = if item.is_undefined_length() {
                    Until::Delimiter
                } else {
                    Until::Offset(source.position() + u64::from(item.len))
                };
                let elements = read_elements(source, inner, until, depth, &mut false)?;
                items.push(Item { elements });
            }
            tag => {
                return Err(StreamError::UnexpectedTag {
                    tag,
                    offset: source.position(),
                    context: "where a sequence item should start",
                });
            }
        }
    }
    Ok(items)
}
