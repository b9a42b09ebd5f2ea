//! Turns TCIA's dispositions (`reference/tcia/deid-dispositions.json`)
//! and its Private Tag Knowledge Base into the built-in `tcia` profile.
//!
//! | TCIA | action |
//! | --- | --- |
//! | `remove` | `remove` |
//! | `keep`, `time`, `process` | `keep` (kept text is checked for the file's identifying values; a sequence's items follow the rules) |
//! | `incrementdate` | `shift-date` (a time listed there is kept) |
//! | `hashuid` | `hash` (a keyed `2.25.` UID) |
//! | `hashname` | `hash` |
//! | `empty` | `blank` |
//! | `replace` | `dummy`; the clinical trial subject IDs get the patient index |
//! | `lookup` | `replace-with-index` (Patient's Name, Patient ID) |
//! | `Remove Unsafe` | private attributes by the knowledge base, the rest removed |
//!
//! What TCIA's lists do not name is kept and checked, except what the
//! generator adds under headings of its own: every other date (DA, DT)
//! shifted, so that no date of the source is left as it was or lost;
//! person names emptied; the patient, study, visit and procedure groups
//! removed (their listed attributes excepted).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, TagRange, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::kb::KNOWLEDGE_BASE_NAME;
use crate::profile::Selector;

/// TCIA's dispositions as shipped (`reference/tcia/deid-dispositions.json`).
pub const DISPOSITIONS: &str = include_str!("../../../reference/tcia/deid-dispositions.json");

/// The name of the built-in profile.
pub const PROFILE: &str = "tcia";

/// The CID 7050 codes of what the profile does: the Basic Profile with
/// Clean Descriptors (descriptions kept, cleaned), Retain Longitudinal
/// Modified Dates, Retain Patient Characteristics and Retain Safe Private.
pub const METHODS: [&str; 5] = ["113100", "113105", "113107", "113108", "113111"];

/// Why the dispositions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DispositionError {
    #[error("TCIA dispositions: {0}")]
    Json(#[from] serde_json::Error),
    #[error("TCIA dispositions: {0:?} is not a tag written (0xGGGG, 0xEEEE)")]
    Tag(String),
    #[error("TCIA dispositions: unknown disposition {0:?}")]
    Unknown(String),
    #[error("TCIA dispositions: {tag} is listed as both {first:?} and {second:?}")]
    Twice {
        tag: String,
        first: String,
        second: String,
    },
}

/// One standard attribute (or range, such as curve data) and what TCIA
/// does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub selector: Selector,
    /// The disposition as TCIA names it (`incrementdate` ...).
    pub disposition: String,
}

/// Reads the dispositions: every listed tag once, in tag order.
pub fn parse(text: &str) -> Result<Vec<Listed>, DispositionError> {
    let lists: BTreeMap<String, Vec<String>> = serde_json::from_str(text)?;
    let mut by_tag: BTreeMap<Selector, String> = BTreeMap::new();
    for (disposition, tags) in &lists {
        if disposition == "Remove Unsafe" {
            // Private attributes: the knowledge base's business.
            continue;
        }
        if action_of(disposition, None).is_none() {
            return Err(DispositionError::Unknown(disposition.clone()));
        }
        for text in tags {
            let tag = parse_selector(text).ok_or_else(|| DispositionError::Tag(text.clone()))?;
            if let Some(first) = by_tag.insert(tag, disposition.clone()) {
                return Err(DispositionError::Twice {
                    tag: text.clone(),
                    first,
                    second: disposition.clone(),
                });
            }
        }
    }
    Ok(by_tag
        .into_iter()
        .map(|(selector, disposition)| Listed {
            selector,
            disposition,
        })
        .collect())
}

/// `(0x0008, 0x0020)`, or a range such as `(0x50xx, 0xxxxx)`.
fn parse_selector(text: &str) -> Option<Selector> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (group, element) = inner.split_once(',')?;
    let digits = |part: &str| {
        let part = part.trim();
        let digits = part
            .strip_prefix("0x")
            .or_else(|| part.strip_prefix("0X"))?;
        let hex_or_x = digits.chars().all(|c| c.is_ascii_hexdigit() || c == 'x');
        (digits.len() == 4 && hex_or_x).then(|| digits.to_string())
    };
    Selector::parse(&format!("({},{})", digits(group)?, digits(element)?))
}

/// The subject IDs of a clinical trial: TCIA replaces them with its own
/// subject ID, here the patient index (the pseudonym of the patient).
const SUBJECT_IDS: [Tag; 2] = [
    Tag(0x0012, 0x0040), // ClinicalTrialSubjectID
    Tag(0x0012, 0x0042), // ClinicalTrialSubjectReadingID
];

/// The action of a TCIA disposition for `tag` (`None`: a range); `None`
/// for an unknown disposition.
fn action_of(disposition: &str, tag: Option<Tag>) -> Option<&'static str> {
    Some(match disposition {
        "remove" => "remove",
        "keep" | "time" | "process" => "keep",
        "incrementdate" => match tag.and_then(exact_vr) {
            Some(VR::TM) => "keep",
            _ => "shift-date",
        },
        "hashuid" | "hashname" => "hash",
        "empty" => "blank",
        "replace" if tag.is_some_and(|tag| SUBJECT_IDS.contains(&tag)) => "replace-with-index",
        "replace" => "dummy",
        "lookup" => "replace-with-index",
        _ => return None,
    })
}

/// Why an attribute TCIA does not list is handled anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Addition {
    /// In the patient, study, visit or procedure groups.
    IdentityGroup,
    /// In those groups, but about the image or measurement.
    ImageInIdentityGroup,
    Date,
    PersonName,
}

impl Addition {
    fn action(self) -> &'static str {
        match self {
            Addition::IdentityGroup => "remove",
            Addition::ImageInIdentityGroup => "keep",
            Addition::Date => "shift-date",
            Addition::PersonName => "blank",
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Addition::IdentityGroup => {
                "Not in TCIA's lists, in the patient (0010), study (0032), visit (0038) or procedure (0040,0000-4FFF) groups: removed"
            }
            Addition::ImageInIdentityGroup => {
                "Not in TCIA's lists, in those groups but about the image or measurement: kept"
            }
            Addition::Date => {
                "Not in TCIA's lists, dates (DA, DT): shifted by the patient's offset like the listed ones"
            }
            Addition::PersonName => "Not in TCIA's lists, person names (PN): emptied",
        }
    }
}

const IDENTITY_PATTERNS: [&str; 8] = [
    "(0010,xxxx)",
    "(0032,xxxx)",
    "(0038,xxxx)",
    "(0040,0xxx)",
    "(0040,1xxx)",
    "(0040,2xxx)",
    "(0040,3xxx)",
    "(0040,4xxx)",
];

/// Attributes of those groups that describe the image or the measurement.
const IMAGE_IN_IDENTITY_GROUPS: [(Tag, Tag); 5] = [
    (Tag(0x0010, 0x2210), Tag(0x0010, 0x2210)), // AnatomicalOrientationType
    (Tag(0x0010, 0x0200), Tag(0x0010, 0x0200)), // QualityControlSubject
    (Tag(0x0040, 0x0300), Tag(0x0040, 0x03FF)), // dose of the procedure step
    (Tag(0x0040, 0x0441), Tag(0x0040, 0x0441)), // content item modifiers
    (Tag(0x0040, 0x0700), Tag(0x0040, 0x08FF)), // slide coordinates, units
];

fn in_identity_group(tag: Tag) -> bool {
    matches!(tag.group(), 0x0010 | 0x0032 | 0x0038)
        || (tag.group() == 0x0040 && tag.element() <= 0x4FFF)
}

fn classify(tag: Tag, vr: VR) -> Option<Addition> {
    if in_identity_group(tag) {
        let image = IMAGE_IN_IDENTITY_GROUPS
            .iter()
            .any(|&(from, to)| (from..=to).contains(&tag));
        // A date there is shifted, like every date (the group pattern
        // would remove it).
        return Some(match vr {
            VR::DA | VR::DT => Addition::Date,
            _ if image => Addition::ImageInIdentityGroup,
            _ => Addition::IdentityGroup,
        });
    }
    match vr {
        VR::DA | VR::DT => Some(Addition::Date),
        VR::PN => Some(Addition::PersonName),
        _ => None,
    }
}

/// The dictionary's attributes TCIA does not list that the profile handles.
fn additions(listed: &[Listed]) -> Vec<(Tag, &'static str, VR, Addition)> {
    let groups: BTreeSet<u16> = (0x0000..=0x00FE)
        .step_by(2)
        .chain(crate::profile::ps315::HIGH_GROUPS)
        .collect();
    let mut found = Vec::new();
    for group in groups {
        for element in 0x0001..=0xFFFF_u16 {
            let tag = Tag(group, element);
            if listed.iter().any(|l| l.selector.matches(tag)) {
                continue;
            }
            let Some(entry) = StandardDataDictionary.by_tag(tag) else {
                continue;
            };
            if entry.tag_range() != TagRange::Single(tag) {
                continue;
            }
            let VirtualVr::Exact(vr) = entry.vr() else {
                continue;
            };
            if let Some(why) = classify(tag, vr) {
                found.push((tag, entry.alias(), vr, why));
            }
        }
    }
    found
}

fn exact_vr(tag: Tag) -> Option<VR> {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => Some(vr),
        _ => None,
    }
}

fn keyword(tag: Tag) -> &'static str {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias())
        .unwrap_or("")
}

/// The TOML of the `tcia` profile.
pub fn generate(listed: &[Listed]) -> String {
    let mut text = String::new();
    let codes: Vec<String> = METHODS.iter().map(|c| format!("\"{c}\"")).collect();
    let _ = writeln!(
        text,
        "# Generated by `cargo run --example tcia_profile` from\n\
         # reference/tcia/deid-dispositions.json (TCIA's dispositions for standard\n\
         # attributes) and reference/tcia/private-tag-kb-2024-02-01.csv (its Private\n\
         # Tag Knowledge Base). Do not edit: change those files or\n\
         # src/profile/tcia/generate.rs and run the generator again.\n\n\
         description = \"TCIA's de-identification for research: identifiers removed or pseudonymised, dates shifted per patient, times, patient characteristics and descriptions kept (cleaned of the file's identifying values), private attributes by TCIA's knowledge base\"\n\
         private-attributes = \"remove\"\n\
         private-knowledge-base = \"{KNOWLEDGE_BASE_NAME}\"\n\
         unlisted-attributes = \"keep\"\n\
         clean-kept-values = true\n\
         deidentification-method = [{}]\n\
         temporal-information = \"modified\"\n\n[attributes]",
        codes.join(", ")
    );
    let mut by_disposition: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
    for item in listed {
        by_disposition
            .entry(item.disposition.as_str())
            .or_default()
            .push(item);
    }
    for (disposition, items) in by_disposition {
        let _ = writeln!(text, "\n# TCIA {disposition}");
        for item in items {
            let tag = match item.selector {
                Selector::Tag(tag) => Some(tag),
                Selector::Pattern { .. } => None,
            };
            let action = action_of(disposition, tag).unwrap_or("remove");
            let keyword = tag.map_or("", keyword);
            entry(&mut text, item.selector, action, keyword, disposition);
        }
    }
    let mut found = additions(listed);
    found.sort_by_key(|&(tag, _, _, why)| (why, tag));
    let mut heading = None;
    for (tag, keyword, vr, why) in found {
        if heading != Some(why) {
            let _ = writeln!(text, "\n# {}", why.heading());
            if why == Addition::IdentityGroup {
                for pattern in IDENTITY_PATTERNS {
                    let _ = writeln!(text, "\"{pattern}\" = \"remove\"");
                }
            }
            heading = Some(why);
        }
        entry(
            &mut text,
            Selector::Tag(tag),
            why.action(),
            keyword,
            vr.to_string(),
        );
    }
    text
}

fn entry(text: &mut String, selector: Selector, action: &str, keyword: &str, note: &str) {
    let note = if keyword.is_empty() {
        note.to_string()
    } else {
        format!("{keyword} {note}")
    };
    let key = match selector {
        Selector::Tag(tag) => format!("({:04X},{:04X})", tag.group(), tag.element()),
        pattern => pattern.to_string(),
    };
    let _ = writeln!(text, "\"{key}\" = \"{action}\" # {note}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_tag_is_read_once() {
        let listed = parse(DISPOSITIONS).unwrap();
        // 237 + 121 + 96 + 43 + 55 + 22 + 20 + 12 + 2 + 1 in the README.
        assert_eq!(listed.len(), 609);
        let of = |tag: Tag| {
            listed
                .iter()
                .find(|l| l.selector == Selector::Tag(tag))
                .map(|l| l.disposition.as_str())
        };
        assert_eq!(of(Tag(0x0010, 0x0010)), Some("lookup"));
        assert_eq!(of(Tag(0x0008, 0x0020)), Some("incrementdate"));
        assert_eq!(of(Tag(0x0018, 0x1000)), Some("remove"));
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(parse("{\"keep\": [\"(0x0008, 0x00ZZ)\"]}").is_err());
        assert!(parse("{\"frobnicate\": [\"(0x0008, 0x0020)\"]}").is_err());
        let twice = parse("{\"keep\": [\"(0x0008, 0x0020)\"], \"remove\": [\"(0x0008, 0x0020)\"]}");
        assert!(matches!(twice, Err(DispositionError::Twice { .. })));
    }

    #[test]
    fn dispositions_become_actions() {
        let action =
            |disposition, group, element| action_of(disposition, Some(Tag(group, element)));
        assert_eq!(action("incrementdate", 0x0008, 0x0020), Some("shift-date"));
        // FindingsGroupRecordingTimeTrial is a TM in the date list: kept.
        assert_eq!(action("incrementdate", 0x0040, 0xA024), Some("keep"));
        assert_eq!(
            action("replace", 0x0012, 0x0040),
            Some("replace-with-index")
        );
        assert_eq!(action("replace", 0x0040, 0xA123), Some("dummy"));
        assert_eq!(action("lookup", 0x0010, 0x0020), Some("replace-with-index"));
        assert_eq!(action_of("remove", None), Some("remove"));
    }

    #[test]
    fn shipped_profile_is_what_the_generator_makes() {
        let generated = generate(&parse(DISPOSITIONS).unwrap());
        let shipped = crate::profile::BUILTIN_PROFILES
            .iter()
            .find(|(name, _)| *name == PROFILE)
            .map(|(_, text)| *text);
        assert_eq!(
            shipped,
            Some(generated.as_str()),
            "profiles/tcia.toml is stale: run `cargo run --example tcia_profile`"
        );
    }
}
