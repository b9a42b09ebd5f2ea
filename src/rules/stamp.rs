//! What a PS3.15 profile adds to every output: Patient Identity Removed,
//! the De-identification Method (text and CID 7050 codes), and whether
//! dates were changed (PS3.3 C.7.1.1 Patient Module, C.12.1.1.7).

use std::sync::OnceLock;

use dicom_core::{Tag, VR};

use crate::codec::{EncodedElement, Header, ITEM, StreamError, Syntax, pad};
use crate::profile::ps315::CODING_SCHEME;
use crate::profile::{MethodCode, TemporalInformation};

pub const PATIENT_IDENTITY_REMOVED: Tag = Tag(0x0012, 0x0062);
pub const DEIDENTIFICATION_METHOD: Tag = Tag(0x0012, 0x0063);
pub const DEIDENTIFICATION_METHOD_CODE_SEQUENCE: Tag = Tag(0x0012, 0x0064);
pub const LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED: Tag = Tag(0x0028, 0x0303);

const CODE_VALUE: Tag = Tag(0x0008, 0x0100);
const CODING_SCHEME_DESIGNATOR: Tag = Tag(0x0008, 0x0102);
const CODE_MEANING: Tag = Tag(0x0008, 0x0104);

/// The attributes added to (or replacing those in) every output's data
/// set; empty for profiles that declare no de-identification method.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    methods: Vec<MethodCode>,
    temporal: Option<TemporalInformation>,
    /// The elements encoded once per run for each byte layout (explicit
    /// or implicit VR, little or big endian), not once per file.
    encoded: [OnceLock<Vec<EncodedElement>>; 4],
}

impl Stamp {
    pub fn new(methods: &[MethodCode], temporal: Option<TemporalInformation>) -> Stamp {
        Stamp {
            methods: methods.to_vec(),
            temporal,
            encoded: Default::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    /// The elements, in tag order, encoded for `syntax`.
    pub fn encode(&self, syntax: Syntax) -> Result<&[EncodedElement], StreamError> {
        let slot =
            &self.encoded[usize::from(syntax.explicit_vr) * 2 + usize::from(syntax.big_endian)];
        if let Some(elements) = slot.get() {
            return Ok(elements);
        }
        let elements = self.elements(syntax)?;
        Ok(slot.get_or_init(|| elements))
    }

    /// The values of our De-identification Method: the tool, then the
    /// meaning of each method code.
    fn method_values(&self) -> Vec<String> {
        let mut values = vec![format!("dicommanager {}", env!("CARGO_PKG_VERSION"))];
        values.extend(self.methods.iter().map(|m| m.meaning.to_string()));
        values
    }

    fn elements(&self, syntax: Syntax) -> Result<Vec<EncodedElement>, StreamError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mut elements = vec![
            element(PATIENT_IDENTITY_REMOVED, VR::CS, b"YES", syntax)?,
            element(
                DEIDENTIFICATION_METHOD,
                VR::LO,
                self.method_values().join("\\").as_bytes(),
                syntax,
            )?,
            self.code_sequence(syntax)?,
        ];
        if let Some(temporal) = self.temporal {
            elements.push(element(
                LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
                VR::CS,
                temporal.code().as_bytes(),
                syntax,
            )?);
        }
        Ok(elements)
    }

    /// The De-identification Method of a source that was de-identified
    /// before (`existing`, its value as stored), kept and extended: its
    /// values first, then ours that it does not hold yet (PS3.15 E.1.1:
    /// the history of de-identification stays with the object).
    pub fn merged_method(
        &self,
        existing: &[u8],
        syntax: Syntax,
    ) -> Result<EncodedElement, StreamError> {
        let mut values: Vec<Vec<u8>> = existing
            .split(|&b| b == b'\\')
            .map(|v| v.trim_ascii_start().to_vec())
            .map(|v| crate::codec::unpad(&v).to_vec())
            .filter(|v| !v.is_empty())
            .collect();
        for ours in self.method_values() {
            if !values.iter().any(|v| v == ours.as_bytes()) {
                values.push(ours.into_bytes());
            }
        }
        element(
            DEIDENTIFICATION_METHOD,
            VR::LO,
            &values.join(&b'\\'),
            syntax,
        )
    }

    /// The De-identification Method Code Sequence of a source that has one
    /// (`existing_items`, its items as the output holds them), kept and
    /// extended by the items of our codes it does not hold yet.
    pub fn merged_code_sequence(
        &self,
        existing_items: &[u8],
        syntax: Syntax,
    ) -> Result<EncodedElement, StreamError> {
        let mut items = existing_items.to_vec();
        for method in &self.methods {
            let code = element(CODE_VALUE, VR::SH, method.code.as_bytes(), syntax)?.bytes;
            let present = existing_items
                .windows(code.len())
                .any(|window| window == code.as_slice());
            if !present {
                items.extend(code_item(method, syntax)?);
            }
        }
        sequence(DEIDENTIFICATION_METHOD_CODE_SEQUENCE, &items, syntax)
    }

    fn code_sequence(&self, syntax: Syntax) -> Result<EncodedElement, StreamError> {
        let mut items = Vec::new();
        for method in &self.methods {
            items.extend(code_item(method, syntax)?);
        }
        sequence(DEIDENTIFICATION_METHOD_CODE_SEQUENCE, &items, syntax)
    }
}

/// One item of the De-identification Method Code Sequence, header included.
fn code_item(method: &MethodCode, syntax: Syntax) -> Result<Vec<u8>, StreamError> {
    let mut item = Vec::new();
    for (tag, vr, value) in [
        (CODE_VALUE, VR::SH, method.code),
        (CODING_SCHEME_DESIGNATOR, VR::SH, CODING_SCHEME),
        (CODE_MEANING, VR::LO, method.meaning),
    ] {
        item.extend(element(tag, vr, value.as_bytes(), syntax)?.bytes);
    }
    let mut bytes = Vec::new();
    header(ITEM, VR::UN, item.len(), &mut bytes, syntax)?;
    bytes.extend(item);
    Ok(bytes)
}

/// A sequence of defined length holding `items` (headers included).
fn sequence(tag: Tag, items: &[u8], syntax: Syntax) -> Result<EncodedElement, StreamError> {
    let mut bytes = Vec::new();
    header(tag, VR::SQ, items.len(), &mut bytes, syntax)?;
    bytes.extend_from_slice(items);
    Ok(EncodedElement { tag, bytes })
}

/// One element (header and padded value) encoded for `syntax`.
pub fn element(
    tag: Tag,
    vr: VR,
    value: &[u8],
    syntax: Syntax,
) -> Result<EncodedElement, StreamError> {
    let value = pad(value, b' ');
    let mut bytes = Vec::with_capacity(12 + value.len());
    header(tag, vr, value.len(), &mut bytes, syntax)?;
    bytes.extend(value);
    Ok(EncodedElement { tag, bytes })
}

fn header(
    tag: Tag,
    vr: VR,
    len: usize,
    out: &mut Vec<u8>,
    syntax: Syntax,
) -> Result<(), StreamError> {
    let len = u32::try_from(len)
        .map_err(|_| StreamError::Write(std::io::Error::other("stamp too long")))?;
    Header { tag, vr, len }.write(out, syntax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ps315::{BASIC, OPTIONS};

    #[test]
    fn nothing_is_added_without_a_method() {
        let stamp = Stamp::new(&[], Some(TemporalInformation::Removed));
        assert!(
            stamp
                .encode(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
                .unwrap()
                .is_empty()
        );
    }

    /// The value bytes of an explicit VR little endian element with a
    /// short (2-byte) length.
    fn value_of(element: &EncodedElement) -> &[u8] {
        &element.bytes[8..]
    }

    #[test]
    fn an_earlier_method_is_kept_and_ours_appended_once() {
        let stamp = Stamp::new(&[BASIC, OPTIONS[6].method], None);
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let merged = stamp
            .merged_method(
                b"OTHER TOOL 2.1\\Basic Application Confidentiality Profile ",
                syntax,
            )
            .unwrap();
        let text = String::from_utf8(value_of(&merged).to_vec()).unwrap();
        let ours = format!("dicommanager {}", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            text.trim_end(),
            format!(
                "OTHER TOOL 2.1\\Basic Application Confidentiality Profile\\{ours}\\Retain Longitudinal Temporal Information Modified Dates Option"
            )
        );
        assert_eq!(merged.bytes.len() % 2, 0);
        // Run again on our own output: nothing is added twice.
        let again = stamp.merged_method(value_of(&merged), syntax).unwrap();
        assert_eq!(again, merged);
    }

    #[test]
    fn earlier_method_codes_are_kept_and_only_new_ones_appended() {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let earlier = Stamp::new(&[BASIC, OPTIONS[1].method], None);
        let earlier_items = earlier.code_sequence(syntax).unwrap().bytes[12..].to_vec();
        let stamp = Stamp::new(&[BASIC, OPTIONS[6].method], None);
        let merged = stamp.merged_code_sequence(&earlier_items, syntax).unwrap();
        let items = &merged.bytes[12..];
        assert!(items.starts_with(&earlier_items), "earlier items first");
        let count = |code: &str| {
            let needle = element(CODE_VALUE, VR::SH, code.as_bytes(), syntax)
                .unwrap()
                .bytes;
            items
                .windows(needle.len())
                .filter(|w| *w == needle.as_slice())
                .count()
        };
        assert_eq!(count(BASIC.code), 1, "113100 not repeated");
        assert_eq!(count(OPTIONS[1].method.code), 1, "the earlier option stays");
        assert_eq!(count(OPTIONS[6].method.code), 1, "ours is added");
        let length = u32::from_le_bytes(merged.bytes[8..12].try_into().unwrap());
        assert_eq!(length as usize, items.len());
    }

    #[test]
    fn elements_come_in_tag_order_with_even_lengths() {
        let stamp = Stamp::new(
            &[BASIC, OPTIONS[6].method],
            Some(TemporalInformation::Modified),
        );
        for syntax in [
            Syntax::EXPLICIT_VR_LITTLE_ENDIAN,
            Syntax::IMPLICIT_VR_LITTLE_ENDIAN,
        ] {
            let elements = stamp.encode(syntax).unwrap();
            let tags: Vec<Tag> = elements.iter().map(|e| e.tag).collect();
            assert_eq!(
                tags,
                [
                    PATIENT_IDENTITY_REMOVED,
                    DEIDENTIFICATION_METHOD,
                    DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
                    LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED
                ]
            );
            assert!(elements.iter().all(|e| e.bytes.len() % 2 == 0));
            // Encoded once, then handed out again.
            assert!(std::ptr::eq(elements, stamp.encode(syntax).unwrap()));
        }
    }
}
