//! What a de-identification cost research (`verify --utility-report`):
//! for each attribute, over the whole run, how often its value came out
//! kept, cleaned (identifying text starred out), shifted (a date moved),
//! remapped (a UID replaced), replaced (any other new value: a pseudonym,
//! a dummy, an empty value) or removed. A data office reads it before it
//! ships data; it names attributes, never values.
//!
//! Each element of the source is compared with the element at the same
//! place (same sequences, same item) of the output; an element added by
//! the tool (the de-identification stamp) is not counted.

use std::collections::BTreeMap;
use std::io::{self, Write};

use dicom_core::{Tag, VR};

use crate::codec::describe_tag;
use crate::metadata::{DicomHeader, Element, Item, Value};

/// What became of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Kept,
    Cleaned,
    Shifted,
    Remapped,
    Replaced,
    Removed,
}

/// Counts of one attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub kept: u64,
    pub cleaned: u64,
    pub shifted: u64,
    pub remapped: u64,
    pub replaced: u64,
    pub removed: u64,
}

impl Counts {
    fn add(&mut self, fate: Fate) {
        let slot = match fate {
            Fate::Kept => &mut self.kept,
            Fate::Cleaned => &mut self.cleaned,
            Fate::Shifted => &mut self.shifted,
            Fate::Remapped => &mut self.remapped,
            Fate::Replaced => &mut self.replaced,
            Fate::Removed => &mut self.removed,
        };
        *slot += 1;
    }

    fn merge(&mut self, other: &Counts) {
        self.kept += other.kept;
        self.cleaned += other.cleaned;
        self.shifted += other.shifted;
        self.remapped += other.remapped;
        self.replaced += other.replaced;
        self.removed += other.removed;
    }
}

/// Counts per attribute (by tag, at any depth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utility {
    pub attributes: BTreeMap<Tag, Counts>,
}

impl Utility {
    /// Compares a source with its output.
    pub fn of_file(source: &DicomHeader, output: &DicomHeader) -> Utility {
        let mut utility = Utility::default();
        utility.compare(&source.dataset, Some(&output.dataset));
        utility
    }

    /// Adds another file's (or run's) counts.
    pub fn merge(&mut self, other: &Utility) {
        for (tag, counts) in &other.attributes {
            self.attributes.entry(*tag).or_default().merge(counts);
        }
    }

    fn compare(&mut self, source: &Item, output: Option<&Item>) {
        for element in &source.elements {
            let written = output.and_then(|item| item.get(element.tag));
            match (&element.value, written.map(|w| &w.value)) {
                (Value::Items(items), Some(Value::Items(kept))) => {
                    for (index, item) in items.iter().enumerate() {
                        self.compare(item, kept.get(index));
                    }
                }
                (Value::Items(items), _) => {
                    // The sequence went (or was emptied): so did its content.
                    self.count(element.tag, Fate::Removed);
                    for item in items {
                        self.compare(item, None);
                    }
                }
                (Value::Bytes(_), _) => self.count(element.tag, fate(element, written)),
                (Value::Skipped, _) => {}
            }
        }
    }

    fn count(&mut self, tag: Tag, fate: Fate) {
        self.attributes.entry(tag).or_default().add(fate);
    }

    /// The counts as CSV: one row per attribute, in tag order.
    pub fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "tag,attribute,kept,cleaned,shifted,remapped,replaced,removed"
        )?;
        for (tag, c) in &self.attributes {
            let keyword = keyword(*tag);
            writeln!(
                out,
                "\"({:04X},{:04X})\",{},{},{},{},{},{},{}",
                tag.group(),
                tag.element(),
                keyword,
                c.kept,
                c.cleaned,
                c.shifted,
                c.remapped,
                c.replaced,
                c.removed
            )?;
        }
        Ok(())
    }

    /// The counts as JSON: `{"(0008,0020)": {"attribute": ..., "kept": ...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let rows = self.attributes.iter().map(|(tag, counts)| {
            let keyword = keyword(*tag);
            let mut row = serde_json::json!({ "attribute": keyword });
            if let (Some(row), Ok(serde_json::Value::Object(counts))) =
                (row.as_object_mut(), serde_json::to_value(counts))
            {
                row.extend(counts);
            }
            (format!("({:04X},{:04X})", tag.group(), tag.element()), row)
        });
        serde_json::Value::Object(rows.collect())
    }
}

/// The keyword of a standard attribute; empty for private ones.
fn keyword(tag: Tag) -> String {
    let name = describe_tag(tag);
    match name.split_once(" (") {
        Some((keyword, _)) => keyword.to_string(),
        None => String::new(),
    }
}

/// What became of one source value, given the element at its place in
/// the output.
fn fate(source: &Element, written: Option<&Element>) -> Fate {
    let (
        Value::Bytes(old),
        Some(Element {
            value: Value::Bytes(new),
            ..
        }),
    ) = (&source.value, written)
    else {
        return Fate::Removed;
    };
    let trim = |bytes: &[u8]| {
        let end = bytes
            .iter()
            .rposition(|b| *b != b' ' && *b != 0)
            .map_or(0, |i| i + 1);
        bytes[..end].to_vec()
    };
    let (old, new) = (trim(old), trim(new));
    if old == new {
        return Fate::Kept;
    }
    if new.is_empty() {
        return Fate::Replaced;
    }
    match source.vr {
        VR::DA | VR::DT => Fate::Shifted,
        VR::UI => Fate::Remapped,
        _ if new.contains(&b'*') && !old.contains(&b'*') => Fate::Cleaned,
        _ => Fate::Replaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: Tag, vr: VR, value: &str) -> Element {
        Element {
            tag,
            vr,
            value: Value::Bytes(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn each_value_is_counted_by_what_became_of_it() {
        let date = Tag(0x0008, 0x0020);
        let uid = Tag(0x0020, 0x000D);
        let description = Tag(0x0008, 0x103E);
        let name = Tag(0x0010, 0x0010);
        let gone = Tag(0x0010, 0x1040);
        let modality = Tag(0x0008, 0x0060);
        let source = Item {
            elements: vec![
                element(date, VR::DA, "20240301"),
                element(uid, VR::UI, "1.2.3\0"),
                element(description, VR::LO, "T1 DOE "),
                element(name, VR::PN, "Doe^Jane"),
                element(gone, VR::LO, "Main Street 1"),
                element(modality, VR::CS, "MR"),
            ],
        };
        let output = Item {
            elements: vec![
                element(date, VR::DA, "20230115"),
                element(uid, VR::UI, "2.25.99"),
                element(description, VR::LO, "T1 *** "),
                element(name, VR::PN, "1 "),
                element(modality, VR::CS, "MR"),
            ],
        };
        let mut utility = Utility::default();
        utility.compare(&source, Some(&output));
        let of = |tag| utility.attributes[&tag];
        assert_eq!(of(date).shifted, 1);
        assert_eq!(of(uid).remapped, 1);
        assert_eq!(of(description).cleaned, 1);
        assert_eq!(of(name).replaced, 1);
        assert_eq!(of(gone).removed, 1);
        assert_eq!(of(modality).kept, 1);
        let mut csv = Vec::new();
        utility.write_csv(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.contains("\"(0008,0020)\",StudyDate,0,0,1,0,0,0"),
            "{csv}"
        );
        let json = utility.to_json();
        assert_eq!(json["(0010,1040)"]["removed"], 1);
        assert_eq!(json["(0010,1040)"]["attribute"], "PatientAddress");
    }

    #[test]
    fn a_removed_sequence_counts_its_content_removed() {
        let sequence = Tag(0x0008, 0x1110);
        let inner = Tag(0x0008, 0x1155);
        let source = Item {
            elements: vec![Element {
                tag: sequence,
                vr: VR::SQ,
                value: Value::Items(vec![Item {
                    elements: vec![element(inner, VR::UI, "1.2")],
                }]),
            }],
        };
        let mut utility = Utility::default();
        utility.compare(&source, Some(&Item::default()));
        assert_eq!(utility.attributes[&sequence].removed, 1);
        assert_eq!(utility.attributes[&inner].removed, 1);
    }
}
