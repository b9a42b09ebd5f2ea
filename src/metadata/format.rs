//! Text views of a header: the table of selected attributes and the dump.

use std::fmt::Write;

use dicom_core::dictionary::{
    DataDictionary, DataDictionaryEntry, UidDictionary, UidDictionaryEntry,
};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, StandardSopClassDictionary};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::tree::{DicomHeader, Element, Value};
use crate::charset::{CharacterSet, printable};

/// Values longer than this many numbers are cut in the table and dump.
const MAX_NUMBERS_SHOWN: usize = 16;
/// Text longer than this is cut in the table and dump.
const MAX_TEXT_SHOWN: usize = 200;

pub(crate) const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);

/// Whether values of `vr` are character strings.
pub(crate) fn is_text(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS | CS | DA | DS | DT | IS | LO | LT | PN | SH | ST | TM | UC | UI | UR | UT
    )
}

/// A text value decoded, its trailing padding removed.
pub(crate) fn decode_text(raw: &[u8], vr: VR, charset: &CharacterSet) -> String {
    let text = charset.decode(raw);
    let trimmed = text.trim_end_matches([' ', '\0']);
    if vr == VR::UI {
        trimmed.trim_end_matches('\0').to_string()
    } else {
        trimmed.to_string()
    }
}

/// A binary numeric value as numbers (`None` for other VRs).
pub(crate) fn numbers(raw: &[u8], vr: VR, big_endian: bool) -> Option<Vec<f64>> {
    macro_rules! read {
        ($t:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let mut b = [0u8; $n];
                    b.copy_from_slice(c);
                    let v = if big_endian {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    };
                    v as f64
                })
                .collect()
        };
    }
    Some(match vr {
        VR::US => read!(u16, 2),
        VR::SS => read!(i16, 2),
        VR::UL => read!(u32, 4),
        VR::SL => read!(i32, 4),
        VR::UV => read!(u64, 8),
        VR::SV => read!(i64, 8),
        VR::FL => read!(f32, 4),
        VR::FD => read!(f64, 8),
        _ => return None,
    })
}

/// Attribute Tag (AT) values as `(gggg,eeee)`.
pub(crate) fn tags(raw: &[u8], big_endian: bool) -> Vec<Tag> {
    raw.chunks_exact(4)
        .map(|c| {
            let u = |a, b| {
                if big_endian {
                    u16::from_be_bytes([a, b])
                } else {
                    u16::from_le_bytes([a, b])
                }
            };
            Tag(u(c[0], c[1]), u(c[2], c[3]))
        })
        .collect()
}

/// The keyword of a tag, or what kind of tag it is.
pub(crate) fn keyword(tag: Tag) -> String {
    if let Some(entry) = StandardDataDictionary.by_tag(tag) {
        return entry.alias().to_string();
    }
    if tag.group() % 2 == 1 {
        if (0x0010..=0x00FF).contains(&tag.element()) {
            "PrivateCreator".into()
        } else {
            "(private)".into()
        }
    } else if tag.element() == 0 {
        "GroupLength".into()
    } else {
        "(unknown)".into()
    }
}

fn cut(text: String, max: usize) -> String {
    if text.chars().count() > max {
        let kept: String = text.chars().take(max).collect();
        format!("{kept}…")
    } else {
        text
    }
}

/// A one-line rendering of a non-sequence value.
fn show(element: &Element, charset: &CharacterSet, big_endian: bool) -> String {
    let raw = match &element.value {
        Value::Bytes(raw) => raw,
        Value::Items(items) => return format!("({} items)", items.len()),
        Value::Skipped => return "(undefined length, not shown)".into(),
    };
    if raw.is_empty() {
        return String::new();
    }
    let vr = element.vr;
    if is_text(vr) {
        let mut text = printable(&decode_text(raw, vr, charset));
        if vr == VR::UI {
            text = annotate_uid(&text);
        }
        return cut(text, MAX_TEXT_SHOWN);
    }
    if vr == VR::AT {
        return tags(raw, big_endian)
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join("\\");
    }
    if let Some(values) = numbers(raw, vr, big_endian) {
        let mut shown: Vec<String> = values
            .iter()
            .take(MAX_NUMBERS_SHOWN)
            .map(|v| v.to_string())
            .collect();
        if values.len() > MAX_NUMBERS_SHOWN {
            shown.push(format!("… ({} values)", values.len()));
        }
        return shown.join("\\");
    }
    format!("({} bytes)", raw.len())
}

/// `1.2.840.10008.1.2.1` → `1.2.840.10008.1.2.1 (Explicit VR Little Endian)`.
fn annotate_uid(uid: &str) -> String {
    if let Some(ts) = TransferSyntaxRegistry.get(uid) {
        return format!("{uid} ({})", ts.name());
    }
    if let Some(entry) = StandardSopClassDictionary.by_uid(uid) {
        return format!("{uid} ({})", entry.name());
    }
    uid.to_string()
}

/// The table of selected attributes, grouped as a reader looks for them.
pub fn table(header: &DicomHeader) -> String {
    const SECTIONS: &[(&str, &[(&str, Tag)])] = &[
        (
            "Patient",
            &[
                ("Name", Tag(0x0010, 0x0010)),
                ("ID", Tag(0x0010, 0x0020)),
                ("Birth date", Tag(0x0010, 0x0030)),
                ("Sex", Tag(0x0010, 0x0040)),
            ],
        ),
        (
            "Study",
            &[
                ("Date", Tag(0x0008, 0x0020)),
                ("Time", Tag(0x0008, 0x0030)),
                ("Description", Tag(0x0008, 0x1030)),
                ("Accession number", Tag(0x0008, 0x0050)),
                ("Study ID", Tag(0x0020, 0x0010)),
                ("Study UID", Tag(0x0020, 0x000D)),
            ],
        ),
        (
            "Series",
            &[
                ("Modality", Tag(0x0008, 0x0060)),
                ("Number", Tag(0x0020, 0x0011)),
                ("Description", Tag(0x0008, 0x103E)),
                ("Series UID", Tag(0x0020, 0x000E)),
            ],
        ),
        (
            "Image",
            &[
                ("SOP class", Tag(0x0008, 0x0016)),
                ("SOP instance UID", Tag(0x0008, 0x0018)),
                ("Instance number", Tag(0x0020, 0x0013)),
                ("Rows", Tag(0x0028, 0x0010)),
                ("Columns", Tag(0x0028, 0x0011)),
                ("Frames", Tag(0x0028, 0x0008)),
                ("Samples per pixel", Tag(0x0028, 0x0002)),
                ("Bits allocated", Tag(0x0028, 0x0100)),
                ("Bits stored", Tag(0x0028, 0x0101)),
                ("Photometric", Tag(0x0028, 0x0004)),
                ("Character set", SPECIFIC_CHARACTER_SET),
                ("Transfer syntax", Tag(0x0002, 0x0010)),
            ],
        ),
    ];
    let charset = header.dataset.charset(&CharacterSet::default());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "File  {}",
        printable(&header.path.display().to_string())
    );
    for (section, rows) in SECTIONS {
        let _ = writeln!(out, "{section}");
        for (label, tag) in *rows {
            let value = match header.get(*tag) {
                Some(element) => {
                    let big_endian = tag.group() != 0x0002 && header.syntax.big_endian;
                    show(element, &charset, big_endian)
                }
                // A bare data set has no meta: say how it was read.
                None if *tag == Tag(0x0002, 0x0010) => {
                    format!(
                        "{} (no file meta; guessed)",
                        annotate_uid(&header.transfer_syntax)
                    )
                }
                None => "-".into(),
            };
            let _ = writeln!(out, "  {label:<18} {value}");
        }
    }
    out
}

/// Every element, file meta first, sequences indented.
pub fn dump(header: &DicomHeader) -> String {
    let mut out = String::new();
    if !header.meta.is_empty() {
        let _ = writeln!(out, "# File meta information");
        dump_elements(&mut out, &header.meta, &CharacterSet::default(), false, 0);
        let _ = writeln!(
            out,
            "# Data set ({})",
            annotate_uid(&header.transfer_syntax)
        );
    } else {
        let _ = writeln!(
            out,
            "# Data set without file meta ({}, guessed)",
            annotate_uid(&header.transfer_syntax)
        );
    }
    let charset = header.dataset.charset(&CharacterSet::default());
    dump_elements(
        &mut out,
        &header.dataset.elements,
        &charset,
        header.syntax.big_endian,
        0,
    );
    out
}

fn dump_elements(
    out: &mut String,
    elements: &[Element],
    charset: &CharacterSet,
    big_endian: bool,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    for element in elements {
        let name = keyword(element.tag);
        let vr = element.vr.to_string();
        match &element.value {
            Value::Items(items) => {
                let _ = writeln!(
                    out,
                    "{indent}{} {vr} {name} ({} item{})",
                    element.tag,
                    items.len(),
                    if items.len() == 1 { "" } else { "s" }
                );
                for (i, item) in items.iter().enumerate() {
                    let _ = writeln!(out, "{indent}  > item {}", i + 1);
                    let inner = item.charset(charset);
                    dump_elements(out, &item.elements, &inner, big_endian, depth + 2);
                }
            }
            _ => {
                let value = show(element, charset, big_endian);
                let _ = writeln!(out, "{indent}{} {vr} {name:<36} {value}", element.tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Item;

    #[test]
    fn numbers_follow_the_byte_order() {
        assert_eq!(
            numbers(&[1, 0, 0, 2], VR::US, false),
            Some(vec![1.0, 512.0])
        );
        assert_eq!(numbers(&[1, 0, 0, 2], VR::US, true), Some(vec![256.0, 2.0]));
        assert_eq!(numbers(&[0xFF, 0xFF], VR::SS, false), Some(vec![-1.0]));
        assert_eq!(numbers(&[0; 2], VR::OB, false), None);
    }

    #[test]
    fn keywords_for_standard_private_and_unknown_tags() {
        assert_eq!(keyword(Tag(0x0010, 0x0010)), "PatientName");
        assert_eq!(keyword(Tag(0x0029, 0x0010)), "PrivateCreator");
        assert_eq!(keyword(Tag(0x0029, 0x1010)), "(private)");
    }

    #[test]
    fn item_charset_overrides_the_data_set_one() {
        let latin1 = CharacterSet::from_declaration(b"ISO_IR 100");
        let item = Item {
            elements: vec![Element {
                tag: SPECIFIC_CHARACTER_SET,
                vr: VR::CS,
                value: Value::Bytes(b"ISO_IR 192".to_vec()),
            }],
        };
        let cs = item.charset(&latin1);
        assert_eq!(decode_text("山田".as_bytes(), VR::PN, &cs), "山田");
        assert_eq!(Item::default().charset(&latin1), latin1);
    }
}
