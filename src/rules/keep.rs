//! `keep`: the element stays as it is (inside a sequence, the rules still
//! apply to the items).
//!
//! In a profile with `clean-kept-values = true`, kept text is checked
//! ([`KeepChecked`]): an identifying value of the file planted in a kept
//! attribute (a name in Ethnic Group, an ID in a series description, the
//! birth date in a private text element) is starred out as `clean` does,
//! and the rest of the value stays.

use std::sync::Arc;

use dicom_core::VR;

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

/// `keep` whose text values lose the file's identifying values.
#[derive(Debug)]
pub struct KeepChecked;

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
        if is_checked(vr) {
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
        if element.vr == VR::UN && !reads_as_text(element.bytes) {
            return Ok(element.bytes.to_vec());
        }
        let text = element.charset.decode(element.bytes);
        match file.identifiers.scrub(&text) {
            Some(clean) => super::clean::encode_or_star(element, &clean),
            None => Ok(element.bytes.to_vec()),
        }
    }

    fn needs_identifiers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_keep_stars_identifiers_and_keeps_the_rest() {
        let rule = KeepChecked;
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
    }

    #[test]
    fn keep_keeps() {
        assert_eq!((ACTION.build)(None).disposition(VR::LO), Disposition::Keep);
    }
}
