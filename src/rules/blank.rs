//! `blank`: the element stays with a zero-length value (an empty sequence
//! for SQ), as PS3.15 action code Z asks.

use std::sync::Arc;

use super::{ActionDef, ElementValue, FileContext, Rule, RuleError};

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
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn rewrite(&self, _: &ElementValue<'_>, _: &FileContext<'_>) -> Result<Vec<u8>, RuleError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Disposition, run_action};
    use dicom_core::VR;

    #[test]
    fn blank_empties_the_value() {
        assert_eq!(
            (ACTION.build)(None).disposition(VR::LO),
            Disposition::Rewrite
        );
        let out = run_action(&ACTION, None, VR::LO, b"1 Main Street ", b"", b"").unwrap();
        assert_eq!(out, b"");
    }
}
