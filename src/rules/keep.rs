//! `keep`: the element stays as it is (inside a sequence, the rules still
//! apply to the items).
//!
//! In a profile with `clean-kept-values = true`, kept text is checked
//! ([`KeepChecked`]): an identifying value of the file planted in a kept
//! attribute (a name in Ethnic Group, an ID in a series description, the
//! birth date in a private text element) is starred out as `clean` does,
//! and the rest of the value stays. In a profile whose dates are modified
//! (`temporal-information = "modified"`), a date it keeps (a device's
//! calibration date kept by Retain Device Identity) moves by the patient's
//! offset like every other date.

use std::sync::Arc;

use dicom_core::{Tag, VR};

use super::private::reads_as_text;
use super::{ActionDef, Disposition, ElementValue, FileContext, Rule, RuleError};

pub const ACTION: ActionDef = ActionDef {
    name: "keep",
    summary: "leave the attribute as it is (rules still apply inside a kept sequence)",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Keep),
};

#[derive(Debug)]
struct Keep;

impl Rule for Keep {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, _: VR) -> Disposition {
        Disposition::Keep
    }
}

/// `keep` whose text values lose the file's identifying values (`text`)
/// and whose dates move by the patient's offset (`dates`).
#[derive(Debug)]
pub struct KeepChecked {
    pub text: bool,
    pub dates: bool,
}

/// The group of the Patient Module's attributes.
const PATIENT_GROUP: u16 = 0x0010;

/// Dates that are versions of coding resources, not times of the patient:
/// they stay as they are when kept.
const VERSION_DATES: [Tag; 4] = [
    Tag(0x0008, 0x0106), // ContextGroupVersion
    Tag(0x0008, 0x0107), // ContextGroupLocalVersion
    Tag(0x0040, 0xDB06), // TemplateVersion
    Tag(0x0040, 0xDB07), // TemplateLocalVersion
];

/// The VRs whose kept values are checked: where a person can type a name
/// or an ID (UN: private values of implicit VR files, when they read as
/// text). Dates, numbers, UIDs and ages cannot hold a name.
fn is_checked(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::CS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::UC
            | VR::UR
            | VR::UT
            | VR::UN
    )
}

impl Rule for KeepChecked {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, vr: VR) -> Disposition {
        let date = matches!(vr, VR::DA | VR::DT);
        if (self.text && is_checked(vr)) || (self.dates && date) {
            Disposition::Rewrite
        } else {
            Disposition::Keep
        }
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        if matches!(element.vr, VR::DA | VR::DT) {
            if VERSION_DATES.contains(&element.tag) {
                return Ok(element.bytes.to_vec());
            }
            let text = String::from_utf8_lossy(element.bytes);
            let shifted = super::shift_date::shift_values(&text, element.vr, file.date_shift_days);
            return Ok(shifted.into_bytes());
        }
        if element.vr == VR::UN && !reads_as_text(element.bytes) {
            return Ok(element.bytes.to_vec());
        }
        let text = element.charset.decode(element.bytes);
        let identifiers = file.identifiers;
        // A code is checked for names only where it describes the patient
        // (Smoking Status, Patient's Sex Neutered); elsewhere it holds
        // defined terms, checked for whole IDs and dates.
        let cleaned = match element.vr {
            VR::CS if element.tag.group() == PATIENT_GROUP => identifiers.scrub_kept(&text),
            VR::CS => identifiers.scrub_code(&text),
            _ => identifiers.scrub_kept(&text),
        };
        match cleaned {
            // A code string cannot hold `*`: `_` keeps it valid.
            Some(clean) if element.vr == VR::CS => {
                super::clean::encode_or_star(element, &clean.replace('*', "_"))
            }
            Some(clean) => super::clean::encode_or_star(element, &clean),
            None => Ok(element.bytes.to_vec()),
        }
    }

    fn needs_identifiers(&self) -> bool {
        self.text
    }

    fn needs_date_shift(&self) -> bool {
        self.dates
    }

    fn uses_secret(&self) -> bool {
        self.dates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_keep_stars_identifiers_and_keeps_the_rest() {
        let rule = KeepChecked {
            text: true,
            dates: false,
        };
        assert_eq!(rule.disposition(VR::DA), Disposition::Keep);
        assert_eq!(rule.disposition(VR::OB), Disposition::Keep);
        assert_eq!(rule.disposition(VR::SQ), Disposition::Keep);
        assert_eq!(rule.disposition(VR::DS), Disposition::Keep);
        assert_eq!(rule.disposition(VR::CS), Disposition::Rewrite);
        let run = |vr, bytes: &[u8]| {
            let charset = crate::charset::CharacterSet::default();
            let mut identifiers = crate::rules::Identifiers::default();
            identifiers.add_name("Doe^Jane");
            identifiers.add_id("MRN4711");
            let element = ElementValue {
                tag: dicom_core::Tag(0x0010, 0x2160),
                vr,
                bytes,
                charset: &charset,
            };
            let file = FileContext {
                patient_index: 1,
                secret: b"",
                date_shift_days: 0,
                identifiers: &identifiers,
            };
            let out = rule.rewrite(&element, &file).unwrap();
            (out, identifiers.cleaned())
        };
        assert_eq!(run(VR::SH, b"DOE WHITE "), (b"*** WHITE ".to_vec(), 1));
        assert_eq!(
            run(VR::UN, b"MRN4711 b=1000"),
            (b"******* b=1000".to_vec(), 1)
        );
        assert_eq!(run(VR::UN, &[0xDE, 0xAD, 0x00, 0x4F]).1, 0);
        assert_eq!(run(VR::CS, b"NONSMOKER "), (b"NONSMOKER ".to_vec(), 0));
        assert_eq!(run(VR::CS, b"NO MRN4711 "), (b"NO _______ ".to_vec(), 1));
        // A name part in a code of the patient group (the element's tag is
        // (0010,2160)) is taken out.
        assert_eq!(run(VR::CS, b"DOE "), (b"___ ".to_vec(), 1));
    }

    #[test]
    fn kept_dates_move_when_dates_are_modified_versions_stay() {
        let rule = KeepChecked {
            text: false,
            dates: true,
        };
        assert_eq!(rule.disposition(VR::LO), Disposition::Keep);
        assert_eq!(rule.disposition(VR::DT), Disposition::Rewrite);
        let run = |tag, vr, bytes: &[u8]| {
            let charset = crate::charset::CharacterSet::default();
            let identifiers = crate::rules::Identifiers::default();
            let element = ElementValue {
                tag,
                vr,
                bytes,
                charset: &charset,
            };
            let file = FileContext {
                patient_index: 1,
                secret: b"",
                date_shift_days: -1,
                identifiers: &identifiers,
            };
            rule.rewrite(&element, &file).unwrap()
        };
        let calibration = Tag(0x0018, 0x1200);
        assert_eq!(run(calibration, VR::DA, b"20240301"), b"20240229");
        assert_eq!(run(calibration, VR::DA, b"garbage "), b"18991231");
        let version = Tag(0x0008, 0x0106);
        assert_eq!(run(version, VR::DT, b"20240301"), b"20240301");
    }

    #[test]
    fn keep_keeps() {
        assert_eq!((ACTION.build)(None).disposition(VR::LO), Disposition::Keep);
    }
}
