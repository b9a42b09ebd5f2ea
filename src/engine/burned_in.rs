//! Whether an image may carry identifying text burned into its pixels,
//! which no header rule can remove: the audit flags it, and
//! `--quarantine-burned-in` keeps such files apart.

use std::fmt;

/// How likely burned-in text is, from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BurnedInRisk {
    /// Burned In Annotation says NO, or nothing suggests text.
    #[default]
    None,
    /// Burned In Annotation (0028,0301) says YES.
    Declared,
    /// No explicit NO, and the kind of image often carries text.
    Likely(Reason),
}

/// Why an image is likely to carry text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Ultrasound, secondary capture, X-ray angiography ... (by modality).
    Modality([u8; 2]),
    SecondaryCaptureClass,
    /// Image Type says DERIVED or SECONDARY.
    DerivedImage,
}

/// Modalities whose images usually have text drawn into the pixels.
const TEXT_MODALITIES: [&str; 6] = ["US", "SC", "OT", "XA", "RF", "ES"];

/// Secondary Capture Image Storage and its multi-frame variants
/// (1.2.840.10008.5.1.4.1.1.7, .7.1 to .7.4).
const SECONDARY_CAPTURE_CLASS: &str = "1.2.840.10008.5.1.4.1.1.7";

/// The header values the risk is judged from (decoded, padding removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BurnedInClues {
    pub burned_in_annotation: Option<String>,
    pub modality: String,
    pub sop_class: String,
    pub image_type: String,
}

impl BurnedInClues {
    pub fn risk(&self) -> BurnedInRisk {
        match self.burned_in_annotation.as_deref().map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("YES") => return BurnedInRisk::Declared,
            Some(v) if v.eq_ignore_ascii_case("NO") => return BurnedInRisk::None,
            _ => {}
        }
        let modality = self.modality.trim();
        if let Some(m) = TEXT_MODALITIES.iter().find(|m| **m == modality) {
            let bytes = m.as_bytes();
            return BurnedInRisk::Likely(Reason::Modality([bytes[0], bytes[1]]));
        }
        let class = self.sop_class.trim_end_matches(['\0', ' ']);
        if class == SECONDARY_CAPTURE_CLASS
            || class
                .strip_prefix(SECONDARY_CAPTURE_CLASS)
                .is_some_and(|rest| rest.starts_with('.'))
        {
            return BurnedInRisk::Likely(Reason::SecondaryCaptureClass);
        }
        let mut values = self.image_type.split('\\').map(str::trim);
        if values.next() == Some("DERIVED") || values.next() == Some("SECONDARY") {
            return BurnedInRisk::Likely(Reason::DerivedImage);
        }
        BurnedInRisk::None
    }
}

impl BurnedInRisk {
    pub fn is_flagged(self) -> bool {
        self != BurnedInRisk::None
    }
}

/// The audit column: empty when there is no risk.
impl fmt::Display for BurnedInRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BurnedInRisk::None => Ok(()),
            BurnedInRisk::Declared => f.write_str("YES: BurnedInAnnotation is YES"),
            BurnedInRisk::Likely(Reason::Modality(m)) => write!(
                f,
                "possible: modality {} without BurnedInAnnotation NO",
                String::from_utf8_lossy(m)
            ),
            BurnedInRisk::Likely(Reason::SecondaryCaptureClass) => {
                f.write_str("possible: secondary capture without BurnedInAnnotation NO")
            }
            BurnedInRisk::Likely(Reason::DerivedImage) => {
                f.write_str("possible: derived/secondary image without BurnedInAnnotation NO")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clues(
        annotation: Option<&str>,
        modality: &str,
        class: &str,
        image_type: &str,
    ) -> BurnedInClues {
        BurnedInClues {
            burned_in_annotation: annotation.map(str::to_string),
            modality: modality.into(),
            sop_class: class.into(),
            image_type: image_type.into(),
        }
    }

    #[test]
    fn an_explicit_answer_wins() {
        assert_eq!(
            clues(Some("YES"), "CT", "", "").risk(),
            BurnedInRisk::Declared
        );
        assert_eq!(clues(Some("NO "), "US", "", "").risk(), BurnedInRisk::None);
    }

    #[test]
    fn text_prone_images_are_flagged_without_a_no() {
        assert!(clues(None, "US", "", "").risk().is_flagged());
        assert!(clues(Some(""), "XA", "", "").risk().is_flagged());
        assert!(
            clues(None, "OT", "1.2.840.10008.5.1.4.1.1.7.4\0", "")
                .risk()
                .is_flagged()
        );
        assert!(
            clues(None, "CT", "", "DERIVED\\PRIMARY\\AXIAL")
                .risk()
                .is_flagged()
        );
        assert!(
            clues(None, "CT", "", "ORIGINAL\\SECONDARY")
                .risk()
                .is_flagged()
        );
        assert!(
            !clues(None, "CT", "1.2.840.10008.5.1.4.1.1.2", "ORIGINAL\\PRIMARY")
                .risk()
                .is_flagged()
        );
        assert!(
            !clues(None, "MR", "1.2.840.10008.5.1.4.1.1.77", "")
                .risk()
                .is_flagged()
        );
        assert_eq!(
            clues(None, "US", "", "").risk().to_string(),
            "possible: modality US without BurnedInAnnotation NO"
        );
        assert_eq!(BurnedInRisk::None.to_string(), "");
    }
}
