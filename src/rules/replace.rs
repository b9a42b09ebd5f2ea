//! `replace`: the value becomes a fixed text given in the profile.

use std::sync::Arc;

use super::{ActionDef, ElementValue, FileContext, Rule, RuleError, vr};

pub const ACTION: ActionDef = ActionDef {
    name: "replace",
    summary: "replace the value with a fixed text: { action = \"replace\", value = \"...\" }",
    takes_value: true,
    fits: vr::is_text,
    fits_description: "text VRs (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT)",
    build: |value| {
        Arc::new(Replace {
            value: value.unwrap_or_default().to_string(),
        })
    },
};

#[derive(Debug)]
struct Replace {
    value: String,
}

impl Rule for Replace {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        _: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        Ok(element.charset.encode(&self.value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::run_action;
    use dicom_core::VR;

    fn replace(value: &str, charset: &[u8]) -> Result<Vec<u8>, RuleError> {
        run_action(&ACTION, Some(value), VR::LO, b"St. Elsewhere", charset, b"")
    }

    #[test]
    fn fixed_value_in_the_file_charset() {
        assert_eq!(replace("ANONYMISED", b"").unwrap(), b"ANONYMISED");
        assert_eq!(replace("Hôpital", b"ISO_IR 100").unwrap(), b"H\xf4pital");
    }

    #[test]
    fn text_the_charset_cannot_hold_is_an_error() {
        assert!(replace("Hôpital", b"").is_err());
    }
}
