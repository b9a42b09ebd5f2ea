//! What a PS3.15 profile adds to every output: Patient Identity Removed,
//! the De-identification Method (text and CID 7050 codes), and whether
//! dates were changed (PS3.3 C.7.1.1 Patient Module, C.12.1.1.7).

use std::sync::OnceLock;

use dicom_core::{Tag, VR};

use crate::profile::ps315::CODING_SCHEME;
use crate::profile::{MethodCode, TemporalInformation};
use crate::stream::{Header, ITEM, StreamError, Syntax, pad};

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
    encoded: [OnceLock<Vec<StampElement>>; 4],
}

/// One added element, encoded for a transfer syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampElement {
    pub tag: Tag,
    /// Header and value, ready to write.
    pub bytes: Vec<u8>,
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
    pub fn encode(&self, syntax: Syntax) -> Result<&[StampElement], StreamError> {
        let slot =
            &self.encoded[usize::from(syntax.explicit_vr) * 2 + usize::from(syntax.big_endian)];
        if let Some(elements) = slot.get() {
            return Ok(elements);
        }
        let elements = self.elements(syntax)?;
        Ok(slot.get_or_init(|| elements))
    }

    fn elements(&self, syntax: Syntax) -> Result<Vec<StampElement>, StreamError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mut method_text = vec![format!("dicommanager {}", env!("CARGO_PKG_VERSION"))];
        method_text.extend(self.methods.iter().map(|m| m.meaning.to_string()));
        let mut elements = vec![
            element(PATIENT_IDENTITY_REMOVED, VR::CS, b"YES", syntax)?,
            element(
                DEIDENTIFICATION_METHOD,
                VR::LO,
                method_text.join("\\").as_bytes(),
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

    fn code_sequence(&self, syntax: Syntax) -> Result<StampElement, StreamError> {
        let mut items = Vec::new();
        for method in &self.methods {
            let mut item = Vec::new();
            for (tag, vr, value) in [
                (CODE_VALUE, VR::SH, method.code),
                (CODING_SCHEME_DESIGNATOR, VR::SH, CODING_SCHEME),
                (CODE_MEANING, VR::LO, method.meaning),
            ] {
                item.extend(element(tag, vr, value.as_bytes(), syntax)?.bytes);
            }
            header(ITEM, VR::UN, item.len(), &mut items, syntax)?;
            items.extend(item);
        }
        let mut bytes = Vec::new();
        header(
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            items.len(),
            &mut bytes,
            syntax,
        )?;
        bytes.extend(items);
        Ok(StampElement {
            tag: DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            bytes,
        })
    }
}

/// One element (header and padded value) encoded for `syntax`.
pub fn element(
    tag: Tag,
    vr: VR,
    value: &[u8],
    syntax: Syntax,
) -> Result<StampElement, StreamError> {
    let value = pad(value, b' ');
    let mut bytes = Vec::with_capacity(12 + value.len());
    header(tag, vr, value.len(), &mut bytes, syntax)?;
    bytes.extend(value);
    Ok(StampElement { tag, bytes })
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
