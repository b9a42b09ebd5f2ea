//! `blank`: the element stays with a zero-length value (an empty sequence
//! for SQ), as PS3.15 action code Z asks.

use std::sync::Arc;

use super::{ActionDef, Disposition, ElementValue, FileContext, Rule, RuleError};

pub const ACTION: ActionDef = ActionDef {
    name: "blank",
    summary: "keep the attribute with an empty value (an empty sequence for SQ)",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Blank),
};

#[derive(Debug)]
struct Blank;

impl Rule for Blank {
    fn name(&self) -> &'static str {
        ACTION.name
    }

    fn disposition(&self) -> Disposition {
        Disposition::Rewrite
    }

    fn rewrite(&self, _: &ElementValue<'_>, _: &FileContext<'_>) -> Result<Vec<u8>, RuleError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charset::CharacterSet;
    use dicom_core::{Tag, VR};

    #[test]
    fn blank_empties_the_value() {
        let charset = CharacterSet::default();
        let element = ElementValue {
            tag: Tag(0x0010, 0x1040),
            vr: VR::LO,
            bytes: b"1 Main Street ",
            charset: &charset,
        };
        let file = FileContext {
            patient_index: 3,
            secret: b"",
        };
        let rule = (ACTION.build)(None);
        assert_eq!(rule.disposition(), Disposition::Rewrite);
        assert_eq!(rule.rewrite(&element, &file).unwrap(), b"");
    }
}
