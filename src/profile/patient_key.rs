//! Which attributes identify a patient, so that all their files get one
//! patient index: `patient-key` (default: Patient ID), and what to do with
//! a file whose key is empty, `patient-key-fallback` (other attributes, or
//! by default an index of its own, so that unrelated files without an ID
//! are never merged into one "patient").
//!
//! ```toml
//! patient-key = ["PatientID", "IssuerOfPatientID"]
//! patient-key-fallback = ["PatientName", "PatientBirthDate"]   # or "per-file"
//! ```
//!
//! The key is empty when its first attribute is: the others only qualify
//! it (two hospitals' patient 123 are told apart by their issuer, but an
//! empty ID with an issuer still identifies nobody).

use std::fmt;

/// An attribute a patient key can be made of: a top-level attribute the
/// scan reads anyway (before Pixel Data, from the first bytes of a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyAttribute {
    PatientId,
    IssuerOfPatientId,
    PatientName,
    PatientBirthDate,
    PatientSex,
    StudyInstanceUid,
    AccessionNumber,
}

const KEY_ATTRIBUTES: [(KeyAttribute, &str); 7] = [
    (KeyAttribute::PatientId, "PatientID"),
    (KeyAttribute::IssuerOfPatientId, "IssuerOfPatientID"),
    (KeyAttribute::PatientName, "PatientName"),
    (KeyAttribute::PatientBirthDate, "PatientBirthDate"),
    (KeyAttribute::PatientSex, "PatientSex"),
    (KeyAttribute::StudyInstanceUid, "StudyInstanceUID"),
    (KeyAttribute::AccessionNumber, "AccessionNumber"),
];

impl KeyAttribute {
    /// The attribute of a DICOM keyword, if a key can use it.
    pub fn parse(keyword: &str) -> Option<KeyAttribute> {
        KEY_ATTRIBUTES
            .iter()
            .find(|(_, name)| *name == keyword)
            .map(|(attribute, _)| *attribute)
    }

    pub fn keyword(self) -> &'static str {
        KEY_ATTRIBUTES
            .iter()
            .find(|(attribute, _)| *attribute == self)
            .map_or("", |(_, name)| name)
    }

    /// The keywords a key may use, for messages.
    pub fn allowed() -> String {
        let names: Vec<&str> = KEY_ATTRIBUTES.iter().map(|(_, name)| *name).collect();
        names.join(", ")
    }
}

/// What identifies a file whose key is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The file is a patient of its own (never merged with another).
    PerFile,
    /// These attributes (when they are empty too: a patient of its own).
    Attributes(Vec<KeyAttribute>),
}

/// Which attributes identify a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientKey {
    pub key: Vec<KeyAttribute>,
    pub fallback: Fallback,
}

impl Default for PatientKey {
    fn default() -> PatientKey {
        PatientKey {
            key: vec![KeyAttribute::PatientId],
            fallback: Fallback::PerFile,
        }
    }
}

/// `PatientID+IssuerOfPatientID, fallback PatientName+PatientBirthDate`:
/// how a run and a registry say which key they use.
impl fmt::Display for PatientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |attributes: &[KeyAttribute]| {
            let names: Vec<&str> = attributes.iter().map(|a| a.keyword()).collect();
            names.join("+")
        };
        write!(f, "{}, fallback ", names(&self.key))?;
        match &self.fallback {
            Fallback::PerFile => f.write_str("per-file"),
            Fallback::Attributes(attributes) => f.write_str(&names(attributes)),
        }
    }
}

/// Parses a list of keywords; the error names what is allowed.
pub fn parse_attributes(keywords: &[String]) -> Result<Vec<KeyAttribute>, String> {
    if keywords.is_empty() {
        return Err("needs at least one attribute".into());
    }
    keywords
        .iter()
        .map(|keyword| {
            KeyAttribute::parse(keyword).ok_or_else(|| {
                format!(
                    "{keyword:?} cannot identify a patient; allowed: {}",
                    KeyAttribute::allowed()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_and_described() {
        let key = PatientKey {
            key: parse_attributes(&["PatientID".into(), "IssuerOfPatientID".into()]).unwrap(),
            fallback: Fallback::Attributes(
                parse_attributes(&["PatientName".into(), "PatientBirthDate".into()]).unwrap(),
            ),
        };
        assert_eq!(
            key.to_string(),
            "PatientID+IssuerOfPatientID, fallback PatientName+PatientBirthDate"
        );
        assert_eq!(
            PatientKey::default().to_string(),
            "PatientID, fallback per-file"
        );
        let err = parse_attributes(&["PatientAddress".into()]).unwrap_err();
        assert!(err.contains("allowed: PatientID"), "{err}");
        assert!(parse_attributes(&[]).is_err());
    }
}
