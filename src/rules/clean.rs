//! `clean`: keep a value but take out what identifies the patient (PS3.15
//! action code C). Text loses the file's own identifying values (names and
//! their parts, IDs, the birth date in its usual spellings), each replaced
//! by asterisks; numbers are kept; a sequence is kept with its items
//! de-identified by the rules. Binary data that cannot be read as text
//! (overlay bitmaps, OB, UN) is removed: it cannot be checked, so it cannot
//! be called clean.

use std::sync::Arc;

use dicom_core::VR;

use super::{ActionDef, Disposition, ElementValue, FileContext, Rule, RuleError, vr};

pub const ACTION: ActionDef = ActionDef {
    name: "clean",
    summary: "keep the value without the file's identifying values (names, IDs, birth date become ***); numbers kept, opaque binary removed, sequences de-identified inside",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Clean),
};

#[derive(Debug)]
struct Clean;

impl Rule for Clean {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, vr: VR) -> Disposition {
        match vr {
            VR::SQ => Disposition::Keep,
            vr if vr::is_text(vr) => Disposition::Rewrite,
            VR::AT
            | VR::FD
            | VR::FL
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::SL
            | VR::SS
            | VR::SV
            | VR::UL
            | VR::US
            | VR::UV => Disposition::Keep,
            _ => Disposition::Remove,
        }
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        let text = element.charset.decode(element.bytes);
        match file.identifiers.scrub(&text) {
            Some(clean) => encode_or_star(element, &clean),
            None => Ok(element.bytes.to_vec()),
        }
    }

    fn needs_identifiers(&self) -> bool {
        true
    }
}

/// Encodes cleaned text in the element's character set. Bytes the set
/// does not define decode to characters it cannot encode again; those
/// become `*` too rather than failing the file.
pub(super) fn encode_or_star(element: &ElementValue<'_>, text: &str) -> Result<Vec<u8>, RuleError> {
    match element.charset.encode(text) {
        Ok(bytes) => Ok(bytes),
        Err(_) => {
            let encodable: String = text
                .chars()
                .map(|c| {
                    let mut one = [0u8; 4];
                    if element.charset.encode(c.encode_utf8(&mut one)).is_ok() {
                        c
                    } else {
                        '*'
                    }
                })
                .collect();
            Ok(element.charset.encode(&encodable)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::run_action_with;

    #[test]
    fn identifying_values_leave_descriptions_the_rest_stays() {
        let out = run_action_with(&ACTION, VR::LO, b"CT HEAD DOE JANE 1970-03-15", |file| {
            file.identifiers.add_name("Doe^Jane");
            file.identifiers.add_date("19700315");
        })
        .unwrap();
        assert_eq!(out, b"CT HEAD *** **** **********");
        let same = run_action_with(&ACTION, VR::LO, b"CT HEAD ", |_| {}).unwrap();
        assert_eq!(same, b"CT HEAD ");
    }

    #[test]
    fn bytes_the_character_set_lacks_become_stars_too() {
        // 0x90 is not ASCII: decoded leniently, it cannot be encoded again.
        let out = run_action_with(&ACTION, VR::LO, b"DOE \x90 scan", |file| {
            file.identifiers.add_name("Doe^Jane");
        })
        .unwrap();
        assert_eq!(out, b"*** * scan");
    }

    #[test]
    fn numbers_stay_and_opaque_binary_goes() {
        let rule = (ACTION.build)(None);
        assert_eq!(rule.disposition(VR::US), Disposition::Keep);
        assert_eq!(rule.disposition(VR::SQ), Disposition::Keep);
        assert_eq!(rule.disposition(VR::OW), Disposition::Remove);
        assert_eq!(rule.disposition(VR::UN), Disposition::Remove);
        assert_eq!(rule.disposition(VR::ST), Disposition::Rewrite);
    }
}
