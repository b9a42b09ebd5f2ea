//! Where an element sits in a data set, written the way people read it:
//! `ContentSequence[1].PersonName (0040,A123)`, items counted from 1 as in
//! `metadata --all`, keywords where the dictionary knows the tag and the
//! bare tag elsewhere (private tags).

use std::fmt;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;

use crate::metadata::{DicomHeader, Element, Value};

/// The path from the top of a data set (or the file meta) to one element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagPath {
    /// The sequences above the element, each with the item (from 1) taken.
    pub parents: Vec<(Tag, usize)>,
    pub tag: Tag,
}

impl TagPath {
    /// The element at this path in `header`, if there is one.
    pub fn find<'a>(&self, header: &'a DicomHeader) -> Option<&'a Element> {
        if self.parents.is_empty() && self.tag.group() == 0x0002 {
            return header.meta.iter().find(|e| e.tag == self.tag);
        }
        let mut item = &header.dataset;
        for &(tag, index) in &self.parents {
            let Value::Items(items) = &item.get(tag)?.value else {
                return None;
            };
            item = items.get(index.checked_sub(1)?)?;
        }
        item.get(self.tag)
    }

    pub fn new(parents: &[(Tag, usize)], tag: Tag) -> TagPath {
        TagPath {
            parents: parents.to_vec(),
            tag,
        }
    }
}

/// The keyword of a standard tag; private tags have none, even where the
/// dictionary would match their element number.
fn keyword(tag: Tag) -> Option<&'static str> {
    if tag.group() & 1 == 1 {
        return None;
    }
    StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.alias())
        .filter(|alias| !alias.is_empty())
}

impl fmt::Display for TagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &(tag, item) in &self.parents {
            match keyword(tag) {
                Some(name) => write!(f, "{name}[{item}].")?,
                None => write!(f, "{tag}[{item}].")?,
            }
        }
        match keyword(self.tag) {
            Some(name) => write!(f, "{name} {}", self.tag),
            None => write!(f, "{}", self.tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_where_known_tags_elsewhere() {
        let top = TagPath::new(&[], Tag(0x0010, 0x1000));
        assert_eq!(top.to_string(), "OtherPatientIDs (0010,1000)");
        let nested = TagPath::new(&[(Tag(0x0040, 0xA730), 1)], Tag(0x0040, 0xA123));
        assert_eq!(
            nested.to_string(),
            "ContentSequence[1].PersonName (0040,A123)"
        );
        let private = TagPath::new(&[(Tag(0x0009, 0x1010), 2)], Tag(0x0009, 0x1011));
        assert_eq!(private.to_string(), "(0009,1010)[2].(0009,1011)");
    }
}
