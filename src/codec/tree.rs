//! A data set read into a tree of elements with raw values: what
//! `metadata` shows, what `verify` searches, and where `clean` finds a
//! file's names. Values stay the bytes of the file; decoding is the
//! reader's business, with [`Item::charset`] saying which character set is
//! in force where a value sits.

use std::io::Read;

use dicom_core::{Tag, VR};

use super::{
    Header, ITEM, ITEM_DELIMITER, MAX_DEPTH, SEQUENCE_DELIMITER, Source, StreamError, Syntax, What,
    skip_value,
};
use crate::charset::CharacterSet;
use dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET;

/// One element: a raw value, or the items of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub tag: Tag,
    pub vr: VR,
    pub value: Value,
}

impl Element {
    /// The VR of the value, UN read as the dictionary's VR (as
    /// [`Header::value_vr`]).
    pub fn value_vr(&self) -> VR {
        Header {
            tag: self.tag,
            vr: self.vr,
            len: 0,
        }
        .value_vr()
    }
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

    /// The character set of this item's values: its own Specific
    /// Character Set, else the one of the data set around it.
    pub fn charset(&self, inherited: &CharacterSet) -> CharacterSet {
        match self.get(SPECIFIC_CHARACTER_SET).map(|e| &e.value) {
            Some(Value::Bytes(raw)) => CharacterSet::from_declaration(raw),
            _ => inherited.clone(),
        }
    }
}

/// How much of a data set [`read_tree`] reads.
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

/// A data set read into a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub dataset: Item,
    /// Whether reading met top-level pixel data (group 7FE0).
    pub has_pixel_data: bool,
}

/// Reads the data set that `source` is positioned at, as far as `extent`
/// says.
pub fn read_tree<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    extent: Extent,
) -> Result<Tree, StreamError> {
    read_tree_of(source, syntax, extent, |_| true)
}

/// [`read_tree`] keeping only the elements `wanted` says (and Specific
/// Character Set, which says how the others read), at every depth:
/// sequences are read into items whatever `wanted` says of them, the
/// values of other elements are skipped without being held.
pub fn read_tree_of<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    extent: Extent,
    wanted: fn(&Header) -> bool,
) -> Result<Tree, StreamError> {
    let mut reader = Reader {
        source,
        extent,
        wanted,
        has_pixel_data: false,
    };
    let elements = reader.elements(syntax, Until::End, 0)?;
    Ok(Tree {
        dataset: Item { elements },
        has_pixel_data: reader.has_pixel_data,
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
    wanted: fn(&Header) -> bool,
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
            } else if header.tag != SPECIFIC_CHARACTER_SET && !(self.wanted)(&header) {
                skip_value(self.source, &header, syntax, depth)?;
                continue;
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
