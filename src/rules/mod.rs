//! Rules: what each profile action does to an element.
//!
//! Every action is one [`Rule`] implementation in its own file, listed once
//! in [`ACTIONS`] with its name, its help text and the VRs it makes sense
//! for. [`RuleSet::compile`] checks a [`Profile`](crate::profile::Profile)
//! against that list and turns it into a tag → rule lookup used for every
//! element of every file.

mod blank;
mod clean;
mod dummy;
mod hash;
mod identifiers;
mod keep;
mod private;
mod remove;
mod replace;
mod replace_with_index;
mod ruleset;
mod shift_date;
mod stamp;
mod vr;

use std::fmt;
use std::sync::Arc;

use dicom_core::{Tag, VR};

use crate::charset::{CharacterSet, UnencodableText};

pub use hash::{hash_text, hash_uid, secret_fingerprint};
pub(crate) use hash::{hmac, lower_hex};
pub use identifiers::Identifiers;
pub use private::{
    Parent, PrivateBlocks, PrivateRules, is_creator, is_private_group, normalize_creator,
};
pub use ruleset::RuleSet;
pub use shift_date::date_shift_days;
pub use stamp::{
    DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE, Stamp,
    element as encode_element,
};
pub use vr::{is_text, padding};

/// What the engine does with an element before any value is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Copy the element unchanged (and apply the rules inside a sequence).
    Keep,
    /// Leave the element out of the output.
    Remove,
    /// Replace the value with what [`Rule::rewrite`] returns.
    Rewrite,
}

/// One element's value, as the engine hands it to a rule.
#[derive(Debug, Clone, Copy)]
pub struct ElementValue<'a> {
    pub tag: Tag,
    pub vr: VR,
    /// The value bytes as stored (padding included).
    pub bytes: &'a [u8],
    /// The Specific Character Set in force for this element.
    pub charset: &'a CharacterSet,
}

/// What a rule may know about the file it works on.
#[derive(Debug, Clone, Copy)]
pub struct FileContext<'a> {
    /// The patient index of the file's patient.
    pub patient_index: u32,
    /// The key for hashes (empty when none was given).
    pub secret: &'a [u8],
    /// How many days `shift-date` moves this patient's dates.
    pub date_shift_days: i32,
    /// The file's identifying values, which `clean` takes out of text.
    pub identifiers: &'a Identifiers,
}

/// Why a rule could not produce a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    #[error("action {action:?} does not fit VR {vr}")]
    UnsuitableVr {
        action: &'static str,
        vr: &'static str,
    },
    #[error(transparent)]
    Unencodable(#[from] UnencodableText),
}

/// The behaviour of one profile action.
pub trait Rule: Send + Sync + fmt::Debug {
    /// The action this rule was built from.
    fn action(&self) -> &'static ActionDef;

    /// The action name, as written in profiles.
    fn name(&self) -> &'static str {
        self.action().name
    }

    /// Keep, remove, or rewrite an element of this VR (SQ for sequences,
    /// whose items are then processed by the rules when kept). Most
    /// actions rewrite.
    fn disposition(&self, vr: VR) -> Disposition {
        let _ = vr;
        Disposition::Rewrite
    }

    /// Whether the action makes sense for an element of this VR (the
    /// profile check covers attributes named exactly; patterns and
    /// policies meet other VRs at run time).
    fn fits(&self, vr: VR) -> bool {
        (self.action().fits)(vr)
    }

    /// The new value bytes (unpadded is fine: the engine pads to even
    /// length), for an element the rule [fits](Rule::fits). Only called
    /// when [`Rule::disposition`] is `Rewrite`. For a sequence, an empty
    /// result means an empty sequence.
    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        let _ = (element, file);
        Ok(Vec::new())
    }

    /// [`Rule::rewrite`] after checking that the rule fits the element:
    /// what the engine calls.
    fn apply(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        if !self.fits(element.vr) {
            return Err(RuleError::UnsuitableVr {
                action: self.name(),
                vr: element.vr.to_string(),
            });
        }
        self.rewrite(element, file)
    }

    /// Whether the rule needs `DICOMMANAGER_SECRET` to be safe.
    fn uses_secret(&self) -> bool {
        false
    }

    /// Whether the rule needs [`FileContext::identifiers`] (the engine
    /// collects them only for rule sets that do).
    fn needs_identifiers(&self) -> bool {
        false
    }

    /// Whether the rule needs [`FileContext::date_shift_days`].
    fn needs_date_shift(&self) -> bool {
        false
    }
}

/// An entry of the action registry.
pub struct ActionDef {
    /// The name used in profiles.
    pub name: &'static str,
    /// One line for help texts and profile docs.
    pub summary: &'static str,
    /// Whether `{ action = ..., value = "..." }` is required.
    pub takes_value: bool,
    /// The VRs the action makes sense for.
    pub fits: fn(VR) -> bool,
    /// Those VRs in words, for error messages.
    pub fits_description: &'static str,
    /// Builds the rule from the profile's value (already known to be
    /// present exactly when `takes_value`).
    pub build: fn(Option<&str>) -> Arc<dyn Rule>,
}

/// Every built-in action, in the order help texts list them.
pub static ACTIONS: &[ActionDef] = &[
    keep::ACTION,
    remove::ACTION,
    blank::ACTION,
    replace::ACTION,
    replace_with_index::ACTION,
    hash::ACTION,
    dummy::ACTION,
    clean::ACTION,
    shift_date::ACTION,
];

/// Finds an action by its profile name.
pub fn action(name: &str) -> Option<&'static ActionDef> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Runs one action on one value, for the unit tests of the actions.
#[cfg(test)]
pub(crate) fn run_action(
    def: &ActionDef,
    value: Option<&str>,
    vr: VR,
    bytes: &[u8],
    charset: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>, RuleError> {
    let charset = CharacterSet::from_declaration(charset);
    let element = ElementValue {
        tag: Tag(0x0010, 0x0010),
        vr,
        bytes,
        charset: &charset,
    };
    let identifiers = Identifiers::default();
    let file = FileContext {
        patient_index: 17,
        secret,
        date_shift_days: 0,
        identifiers: &identifiers,
    };
    (def.build)(value).apply(&element, &file)
}

/// Context the tests of [`run_action_with`] may change.
#[cfg(test)]
pub(crate) struct TestFile {
    pub date_shift_days: i32,
    pub identifiers: Identifiers,
}

/// Runs a value-less action on one value in a file context the test sets up.
#[cfg(test)]
pub(crate) fn run_action_with(
    def: &ActionDef,
    vr: VR,
    bytes: &[u8],
    setup: impl FnOnce(&mut TestFile),
) -> Result<Vec<u8>, RuleError> {
    let mut test = TestFile {
        date_shift_days: 0,
        identifiers: Identifiers::default(),
    };
    setup(&mut test);
    let charset = CharacterSet::default();
    let element = ElementValue {
        tag: Tag(0x0008, 0x1030),
        vr,
        bytes,
        charset: &charset,
    };
    let file = FileContext {
        patient_index: 17,
        secret: b"",
        date_shift_days: test.date_shift_days,
        identifiers: &test.identifiers,
    };
    (def.build)(None).apply(&element, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_documented() {
        for (i, a) in ACTIONS.iter().enumerate() {
            assert!(!a.summary.is_empty(), "{}", a.name);
            assert!(
                ACTIONS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
            assert_eq!((a.build)(a.takes_value.then_some("X")).name(), a.name);
        }
    }

    #[test]
    fn profiles_readme_documents_every_action() {
        let readme = include_str!("../../profiles/README.md");
        for a in ACTIONS {
            let row = format!("| `{}` | {} | {} |", a.name, a.summary, a.fits_description);
            assert!(readme.contains(&row), "profiles/README.md lacks:\n{row}");
        }
    }
}
