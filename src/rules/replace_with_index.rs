//! `replace-with-index`: the value becomes the patient index (`17`), the
//! pseudonym that links all images of one patient.

use std::sync::Arc;

use dicom_core::VR;

use super::{ActionDef, ElementValue, FileContext, Rule, RuleError};

pub const ACTION: ActionDef = ActionDef {
    name: "replace-with-index",
    summary: "replace the value with the patient index (1, 2, 3 ... in _metadata.csv order)",
    takes_value: false,
    fits,
    fits_description: "PN, LO, SH, LT, ST, UT, UC, CS, IS",
    build: |_| Arc::new(ReplaceWithIndex),
};

fn fits(vr: VR) -> bool {
    matches!(
        vr,
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::IS
    )
}

#[derive(Debug)]
struct ReplaceWithIndex;

impl Rule for ReplaceWithIndex {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn rewrite(&self, _: &ElementValue<'_>, file: &FileContext<'_>) -> Result<Vec<u8>, RuleError> {
        Ok(file.patient_index.to_string().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::run_action;

    #[test]
    fn name_becomes_the_index() {
        let name = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B";
        let out = run_action(&ACTION, None, VR::PN, name, b"\\ISO 2022 IR 87", b"").unwrap();
        assert_eq!(out, b"17");
    }

    #[test]
    fn dates_cannot_hold_an_index() {
        let err = run_action(&ACTION, None, VR::DA, b"19700101", b"", b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "action \"replace-with-index\" does not fit VR DA"
        );
    }
}
