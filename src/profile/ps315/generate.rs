//! Turns Table E.1-1 into the built-in `ps3.15-*` profiles.
//!
//! Action codes become engine actions: `X` remove, `Z` blank, `D` dummy,
//! `K` keep, `C` clean (`shift-date` for dates under Retain Longitudinal
//! Modified Dates), `U` hash (a keyed `2.25.` UID). A combined code leaves
//! the choice to the attribute's Type in the IOD, which the table does not
//! give and which differs between IODs; the generator takes the branch that
//! is valid whatever the Type (`X/Z` blank, `X/D` `Z/D` `X/Z/D` dummy), and
//! `X/Z/U*` keeps the reference sequence, whose UIDs have `U` rows of their
//! own. Patient's Name and Patient ID get the patient index as their dummy,
//! the pseudonym that keeps images linked.
//!
//! The table lags the standard, so the generator adds what it does not
//! list, each group under its own heading in the generated file:
//! attributes of the patient, visit, study and procedure groups (removed,
//! except coded values that do not identify and the module attributes a
//! standard IOD requires); dates and person names (emptied); free text
//! (LT, ST, UT: a dummy, since some are Type 1C, e.g. the Text Value of
//! an SR TEXT item); overlay groups (removed whole, never left with Rows
//! and Columns but no Overlay Data). The date options shift or keep the
//! dates, Clean Descriptors cleans the text.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, TagRange, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::{AnnexOption, BASIC, OPTIONS, Row, RowTarget};
use crate::profile::Selector;

/// The name of the base profile.
pub const BASE_PROFILE: &str = "ps3.15-basic";

/// A generated profile: its built-in name and its TOML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedProfile {
    pub name: String,
    pub text: String,
}

/// Why an attribute the table does not list is handled anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addition {
    /// In the patient, visit, study or procedure groups.
    IdentityGroup,
    /// In those groups, but about the image, not the patient.
    IdentityGroupException,
    /// In those groups, a coded value (CS, US, UL, SS, SL, FL, FD, IS, DS)
    /// that does not identify anyone: a status, a priority, a flag, a
    /// measurement.
    IdentityGroupCoded,
    /// In those groups, an attribute a standard IOD requires (Type 1, 2 or
    /// their conditional forms): handled so that the module stays valid.
    IdentityGroupRequired,
    /// A date (DA, DT).
    Date,
    /// A person name (PN) or free text (LT, ST, UT).
    FreeText,
    /// Names of the source's files and file sets (DICOMDIR), which are
    /// often named after the patient and mean nothing in DEST.
    SourceLayout,
}

impl Addition {
    /// What `ps3.15-basic` does to such an attribute.
    fn action(self, tag: Tag, vr: VR) -> &'static str {
        match self {
            Addition::IdentityGroup => "remove",
            Addition::IdentityGroupException | Addition::IdentityGroupCoded => "keep",
            Addition::IdentityGroupRequired => required_action(tag),
            // Emptied rather than removed: an object that needs them
            // present (Type 2) stays valid.
            Addition::Date => "blank",
            // Free text is Type 1C in places (Text Value of an SR TEXT
            // item, Unformatted Text Value of a text annotation), where an
            // empty value is invalid; a dummy is valid for every Type. A
            // person name is never Type 1 there, and a dummy name would
            // read as a real one.
            Addition::FreeText if vr == VR::PN => "blank",
            Addition::FreeText => "dummy",
            Addition::SourceLayout => "remove",
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Addition::IdentityGroup => {
                "Not in Table E.1-1, in the patient (0010), study (0032), visit (0038) or procedure (0040,0000-4FFF) groups: removed"
            }
            Addition::IdentityGroupException => {
                "Not in Table E.1-1, in those groups but about the image or measurement: kept"
            }
            Addition::IdentityGroupCoded => {
                "Not in Table E.1-1, in those groups, coded values that identify no one (CS US UL SS SL FL FD IS DS: statuses, priorities, flags, measurements): kept"
            }
            Addition::IdentityGroupRequired => {
                "Not in Table E.1-1, in those groups, module attributes a standard IOD requires (Type 1, 2, 1C, 2C): sequences kept with the rules applied inside, Type 1C text a dummy, Type 2C sequences emptied"
            }
            Addition::Date => "Not in Table E.1-1, dates (DA, DT): emptied",
            Addition::FreeText => {
                "Not in Table E.1-1, person names (PN): emptied; free text (LT, ST, UT): a dummy, valid where it is Type 1C"
            }
            Addition::SourceLayout => {
                "Not in Table E.1-1, names of the source's files and file sets (DICOMDIR): removed"
            }
        }
    }
}

/// Groups (and element ranges) about the patient and the visit, study and
/// procedure: their standard attributes the table misses are removed, and
/// so are attributes of them that are not even in the dictionary.
const IDENTITY_RANGES: [(u16, u16, u16); 4] = [
    (0x0010, 0x0000, 0xFFFF),
    (0x0032, 0x0000, 0xFFFF),
    (0x0038, 0x0000, 0xFFFF),
    (0x0040, 0x0000, 0x4FFF),
];

/// The patterns that catch what the dictionary does not know in those
/// groups.
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

/// Unlisted attributes of those groups that describe the image or the
/// measurement, not the patient, and that images and kept content need:
/// kept by name (the group patterns would remove them).
const IDENTITY_GROUP_EXCEPTIONS: [(Tag, Tag); 5] = [
    // How a quadruped is oriented: images cannot be displayed without it.
    (Tag(0x0010, 0x2210), Tag(0x0010, 0x2210)),
    // Whether the subject is a phantom.
    (Tag(0x0010, 0x0200), Tag(0x0010, 0x0200)),
    // Radiation dose of the procedure step.
    (Tag(0x0040, 0x0300), Tag(0x0040, 0x03FF)),
    // Modifiers of structured content items.
    (Tag(0x0040, 0x0441), Tag(0x0040, 0x0441)),
    // Slide coordinates of whole slide images, measurement units.
    (Tag(0x0040, 0x0700), Tag(0x0040, 0x08FF)),
];

/// Value representations of coded values: a code string, a count, a
/// measurement. In the identity groups they are statuses, priorities,
/// flags and sizes, which identify no one, unless listed in
/// [`IDENTIFYING_CODED`].
const CODED_VRS: [VR; 9] = [
    VR::CS,
    VR::US,
    VR::UL,
    VR::SS,
    VR::SL,
    VR::FL,
    VR::FD,
    VR::IS,
    VR::DS,
];

/// Coded values of the identity groups that do identify, with the table's
/// patient characteristics (Patient's Size and Weight are `X`): removed
/// like the text there.
const IDENTIFYING_CODED: [Tag; 4] = [
    Tag(0x0010, 0x1022), // PatientBodyMassIndex, from size and weight
    Tag(0x0010, 0x1023), // MeasuredAPDimension, a body measurement
    Tag(0x0010, 0x1024), // MeasuredLateralDimension, a body measurement
    Tag(0x0010, 0x0035), // PatientAlternativeCalendar, hints at culture or faith
];

/// Attributes of the identity groups that standard IODs require (PS3.3),
/// and what keeps their module valid without keeping what identifies:
/// `keep` for a sequence (its items are de-identified by the same rules,
/// the table's own rows included: Specimen Identifier `D`, Specimen UID
/// `U` ...), `dummy` for Type 1C text, `blank` for a Type 2C sequence
/// whose items would identify.
const REQUIRED_BY_IODS: [(Tag, &str); 15] = [
    // Specimen Module (C.7.6.22): Type 1 and its Type 1/1C/2 contents.
    (Tag(0x0040, 0x0560), "keep"), // SpecimenDescriptionSequence, 1
    (Tag(0x0040, 0x0518), "keep"), // ContainerTypeCodeSequence, 2
    (Tag(0x0040, 0x0520), "keep"), // ContainerComponentSequence, 3 (slide parts)
    (Tag(0x0040, 0x059A), "keep"), // SpecimenTypeCodeSequence, 3 (what the specimen is)
    (Tag(0x0040, 0x0612), "keep"), // SpecimenPreparationStepContentItemSequence, 1
    (Tag(0x0040, 0x0620), "keep"), // SpecimenLocalizationContentItemSequence, 1C
    // Codes of procedures and protocols: Requested Procedure Code Sequence
    // is Type 2 in the Referenced Request Sequence of SR and Key Object
    // documents, Performed Protocol Code Sequence 1C in the Contributing
    // Sources of enhanced images.
    (Tag(0x0032, 0x1064), "keep"), // RequestedProcedureCodeSequence
    (Tag(0x0040, 0x0260), "keep"), // PerformedProtocolCodeSequence
    // HL7v2 Hierarchic Designator Macro (10.14), inside the issuer
    // sequences of kept identifiers (Issuer of Accession Number ...): one
    // of the two is Type 1C; the issuing organisation's name goes.
    (Tag(0x0040, 0x0031), "dummy"), // LocalNamespaceEntityID, 1C
    (Tag(0x0040, 0x0032), "dummy"), // UniversalEntityID, 1C
    // Patient Module (C.7.1.1), for animals: species 1C, breed 2C, which
    // identify no one; the registration numbers in the 2C breed
    // registration do.
    (Tag(0x0010, 0x2201), "keep"),  // PatientSpeciesDescription, 1C
    (Tag(0x0010, 0x2202), "keep"),  // PatientSpeciesCodeSequence, 1C
    (Tag(0x0010, 0x2292), "keep"),  // PatientBreedDescription, 2C
    (Tag(0x0010, 0x2293), "keep"),  // PatientBreedCodeSequence, 2C
    (Tag(0x0010, 0x2294), "blank"), // BreedRegistrationSequence, 2C
];

/// Attributes the table removes (`X`) although a standard IOD requires
/// them (PS3.3): removing them would leave the object invalid, so the
/// generator takes the branch the standard's `Z` or `D` would: empty where
/// the attribute is Type 2 or 2C (nothing is left to identify), a dummy
/// where it is Type 1. Each with where PS3.3 requires it.
const REQUIRED_BUT_REMOVED: [(Tag, &str, &str); 7] = [
    (
        Tag(0x0010, 0x2297),
        "blank",
        "Type 2C in the Patient Module (animals)",
    ), // ResponsiblePerson
    (
        Tag(0x0010, 0x2299),
        "blank",
        "Type 2C in the Patient Module (animals)",
    ), // ResponsibleOrganization
    (
        Tag(0x0040, 0x1001),
        "dummy",
        "Type 2 in the Referenced Request Sequence of SR and Key Object documents, 1C in Request Attributes",
    ), // RequestedProcedureID
    (
        Tag(0x0070, 0x0082),
        "dummy",
        "Type 1 in the Presentation State Identification Module",
    ), // PresentationCreationDate
    (
        Tag(0x0070, 0x0083),
        "dummy",
        "Type 1 in the Presentation State Identification Module",
    ), // PresentationCreationTime
    (
        Tag(0x0018, 0x1078),
        "dummy",
        "Type 1 in the Enhanced PET Isotope Module",
    ), // RadiopharmaceuticalStartDateTime
    (
        Tag(0x300A, 0x0216),
        "blank",
        "Type 2 in the Recorded Source Sequence of RT Brachy Session Records",
    ), // SourceManufacturer
];

/// What [`REQUIRED_BY_IODS`] says for `tag`.
fn required_action(tag: Tag) -> &'static str {
    REQUIRED_BY_IODS
        .iter()
        .find(|(t, _)| *t == tag)
        .map_or("remove", |(_, action)| action)
}

/// Overlay planes (60xx, even groups): the table removes Overlay Data and
/// Overlay Comments; the rest of the group (Rows, Columns, Type ...)
/// without its data is an invalid Overlay Plane Module, so the group goes
/// whole.
const OVERLAY_GROUPS: &str = "(60xx,xxxx)";

/// Even groups that hold standard attributes above the first 256 groups
/// (the generator looks up every element of these and of groups 0000-00FE).
const HIGH_GROUPS: [u16; 38] = [
    0x0400, 0x1000, 0x1010, 0x2000, 0x2010, 0x2020, 0x2030, 0x2040, 0x2050, 0x2100, 0x2110, 0x2120,
    0x2130, 0x2200, 0x3002, 0x3004, 0x3006, 0x3008, 0x300A, 0x300C, 0x300E, 0x3010, 0x4000, 0x4008,
    0x4010, 0x4FFE, 0x5000, 0x5200, 0x5400, 0x5600, 0x6000, 0x7FE0, 0x7F00, 0xFFFA, 0xFFFC, 0xFFFE,
    0x0100, 0x0102,
];

/// The TOML of `ps3.15-basic` and of every option profile.
pub fn generate(rows: &[Row], edition: &str) -> Vec<GeneratedProfile> {
    let additions = additions(rows);
    let mut profiles = vec![base_profile(rows, &additions, edition)];
    profiles.extend(
        OPTIONS
            .iter()
            .map(|option| option_profile(rows, option, &additions, edition)),
    );
    profiles
}

/// The standard attributes the table does not list that the profiles
/// handle anyway, in tag order.
pub fn additions(rows: &[Row]) -> Vec<(Tag, &'static str, VR, Addition)> {
    let listed = listed_tags(rows);
    let covered = |tag: Tag| {
        listed.contains(&tag)
            || rows.iter().any(|row| match row.target {
                RowTarget::Attributes(selector) => selector.matches(tag),
                RowTarget::Private => false,
            })
    };
    let mut found = Vec::new();
    let groups = (0x0000..=0x00FE).step_by(2).chain(HIGH_GROUPS);
    let groups: BTreeSet<u16> = groups.collect();
    for group in groups {
        for element in 0x0000..=0xFFFF_u16 {
            let tag = Tag(group, element);
            if element == 0x0000 {
                continue;
            }
            let Some(entry) = StandardDataDictionary.by_tag(tag) else {
                continue;
            };
            // Ranges such as (60xx,4000) are the table's patterns' business.
            if entry.tag_range() != TagRange::Single(tag) || covered(tag) {
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

/// File and file-set names of a DICOMDIR.
const SOURCE_LAYOUT: [Tag; 4] = [
    Tag(0x0004, 0x1130), // FileSetID
    Tag(0x0004, 0x1141), // FileSetDescriptorFileID
    Tag(0x0004, 0x1500), // ReferencedFileID
    Tag(0x0088, 0x0130), // StorageMediaFileSetID
];

fn classify(tag: Tag, vr: VR) -> Option<Addition> {
    if SOURCE_LAYOUT.contains(&tag) {
        return Some(Addition::SourceLayout);
    }
    if IDENTITY_RANGES
        .iter()
        .any(|&(g, from, to)| tag.group() == g && (from..=to).contains(&tag.element()))
    {
        let excepted = IDENTITY_GROUP_EXCEPTIONS
            .iter()
            .any(|&(from, to)| (from..=to).contains(&tag));
        return Some(if excepted {
            Addition::IdentityGroupException
        } else if REQUIRED_BY_IODS.iter().any(|(t, _)| *t == tag) {
            Addition::IdentityGroupRequired
        } else if CODED_VRS.contains(&vr) && !IDENTIFYING_CODED.contains(&tag) {
            Addition::IdentityGroupCoded
        } else {
            Addition::IdentityGroup
        });
    }
    match vr {
        VR::DA | VR::DT => Some(Addition::Date),
        VR::PN | VR::LT | VR::ST | VR::UT => Some(Addition::FreeText),
        _ => None,
    }
}

fn listed_tags(rows: &[Row]) -> BTreeSet<Tag> {
    rows.iter()
        .filter_map(|row| match row.target {
            RowTarget::Attributes(Selector::Tag(tag)) => Some(tag),
            _ => None,
        })
        .collect()
}

fn header(text: &mut String, edition: &str) {
    let _ = writeln!(
        text,
        "# Generated by `cargo run --example ps315_profiles` from\n\
         # reference/ps3.15-e1-1.csv (DICOM PS3.15 Table E.1-1, edition {edition}).\n\
         # Do not edit: change the table or src/profile/ps315/generate.rs and\n\
         # run the generator again."
    );
}

fn base_profile(
    rows: &[Row],
    additions: &[(Tag, &'static str, VR, Addition)],
    edition: &str,
) -> GeneratedProfile {
    let mut text = String::new();
    header(&mut text, edition);
    let _ = writeln!(
        text,
        "\ndescription = \"DICOM PS3.15 Basic Application Level Confidentiality Profile (Table E.1-1, {edition}); names and IDs become the patient index\"\n\
         private-attributes = \"remove\"\n\
         unlisted-attributes = \"keep\"\n\
         deidentification-method = \"{}\"\n\
         temporal-information = \"removed\"\n\n[attributes]",
        BASIC.code
    );
    let _ = writeln!(text, "\n# Table E.1-1");
    for row in rows {
        let RowTarget::Attributes(selector) = row.target else {
            continue;
        };
        let required = match selector {
            Selector::Tag(tag) => REQUIRED_BUT_REMOVED.iter().find(|(t, _, _)| *t == tag),
            Selector::Pattern { .. } => None,
        };
        match required {
            Some((_, action, why)) if row.basic == "X" => {
                let note = format!("{}; {why}", row.basic);
                entry(&mut text, selector, action, &row.keyword, &note);
            }
            _ => entry(
                &mut text,
                selector,
                basic_action(row),
                &row.keyword,
                &row.basic,
            ),
        }
    }
    let _ = writeln!(
        text,
        "\n# Not in Table E.1-1: overlay groups removed whole (an Overlay Plane without its Overlay Data is invalid)\n\"{OVERLAY_GROUPS}\" = \"remove\""
    );
    let mut by_kind = additions.to_vec();
    by_kind.sort_by_key(|&(tag, _, _, why)| (why, tag));
    let mut heading = None;
    for (tag, keyword, vr, why) in by_kind {
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
            why.action(tag, vr),
            keyword,
            vr.to_string(),
        );
    }
    GeneratedProfile {
        name: BASE_PROFILE.to_string(),
        text,
    }
}

fn option_profile(
    rows: &[Row],
    option: &AnnexOption,
    additions: &[(Tag, &'static str, VR, Addition)],
    edition: &str,
) -> GeneratedProfile {
    let mut text = String::new();
    header(&mut text, edition);
    let _ = write!(
        text,
        "\ndescription = \"PS3.15 {} on top of {BASE_PROFILE}\"\n\
         extends = [\"{BASE_PROFILE}\"]\n\
         deidentification-method = \"{}\"\n",
        option.method.meaning, option.method.code
    );
    if let Some(temporal) = temporal_information(option) {
        let _ = writeln!(text, "temporal-information = \"{temporal}\"");
    }
    for row in rows {
        if row.target == RowTarget::Private && !row.option(option).is_empty() {
            let _ = writeln!(
                text,
                "private-attributes = \"{}\"",
                option_action(option, row.option(option), None)
            );
        }
    }
    let _ = writeln!(text, "\n[attributes]\n\n# Table E.1-1");
    for row in rows {
        let (RowTarget::Attributes(selector), code) = (row.target, row.option(option)) else {
            continue;
        };
        // The overlay group goes whole (see OVERLAY_GROUPS): cleaning its
        // comments would leave them alone in it.
        if code.is_empty() || is_overlay(selector) {
            continue;
        }
        let vr = match selector {
            Selector::Tag(tag) => exact_vr(tag),
            Selector::Pattern { .. } => None,
        };
        let action = option_action(option, code, vr);
        entry(&mut text, selector, action, &row.keyword, code);
    }
    let mut heading = false;
    for &(tag, keyword, vr, why) in additions {
        let Some(action) = option_addition(option, why, tag, vr) else {
            continue;
        };
        if !heading {
            let _ = writeln!(text, "\n# Not in Table E.1-1 (see {BASE_PROFILE})");
            heading = true;
        }
        entry(
            &mut text,
            Selector::Tag(tag),
            action,
            keyword,
            vr.to_string(),
        );
    }
    GeneratedProfile {
        name: option.profile.to_string(),
        text,
    }
}

fn temporal_information(option: &AnnexOption) -> Option<&'static str> {
    match option.profile {
        "retain-long-full-dates" => Some("unmodified"),
        "retain-long-modified-dates" => Some("modified"),
        _ => None,
    }
}

/// What an option does to an attribute the table does not list.
fn option_addition(option: &AnnexOption, why: Addition, tag: Tag, vr: VR) -> Option<&'static str> {
    let is_date = matches!(vr, VR::DA | VR::DT);
    match (option.profile, why) {
        ("retain-long-full-dates", _) if is_date => Some("keep"),
        ("retain-long-modified-dates", _) if is_date => Some("shift-date"),
        ("clean-descriptors", Addition::FreeText) if vr != VR::PN => Some("clean"),
        ("retain-patient-characteristics", Addition::IdentityGroup)
            if PATIENT_CHARACTERISTICS.contains(&tag) =>
        {
            Some("keep")
        }
        ("clean-structured-content", _) if tag == TEXT_VALUE => Some("clean"),
        ("clean-graphics", _) if tag == UNFORMATTED_TEXT_VALUE => Some("clean"),
        _ => None,
    }
}

/// Characteristics of the patient the table does not list, kept by the
/// Retain Patient Characteristics option like the ones it lists.
const PATIENT_CHARACTERISTICS: [Tag; 3] = [
    Tag(0x0010, 0x1022), // PatientBodyMassIndex
    Tag(0x0010, 0x1023), // MeasuredAPDimension
    Tag(0x0010, 0x1024), // MeasuredLateralDimension
];

/// The free text of structured reports and of graphic annotations: the
/// table leaves them out, the two clean options are about them.
const TEXT_VALUE: Tag = Tag(0x0040, 0xA160);
const UNFORMATTED_TEXT_VALUE: Tag = Tag(0x0070, 0x0006);

fn basic_action(row: &Row) -> &'static str {
    if matches!(row.keyword.as_str(), "PatientName" | "PatientID") {
        return "replace-with-index";
    }
    match row.basic.as_str() {
        "X" => "remove",
        "Z" => "blank",
        "D" | "X/D" | "Z/D" | "X/Z/D" => "dummy",
        // A sequence keeps its de-identified items (see the module notes).
        "X/Z" if row_vr(row) == Some(VR::SQ) => "dummy",
        "X/Z" => "blank",
        "U" => "hash",
        "K" | "X/Z/U*" => "keep",
        "C" => "clean",
        // Unknown codes of a future edition: the safest action.
        _ => "remove",
    }
}

fn row_vr(row: &Row) -> Option<VR> {
    match row.target {
        RowTarget::Attributes(Selector::Tag(tag)) => exact_vr(tag),
        _ => None,
    }
}

/// Whether the selector is about the overlay groups (6000-60FF).
fn is_overlay(selector: Selector) -> bool {
    match selector {
        Selector::Tag(tag) => tag.group() & 0xFF00 == 0x6000,
        Selector::Pattern { value, mask } => mask >> 24 == 0xFF && value >> 24 == 0x60,
    }
}

fn option_action(option: &AnnexOption, code: &str, vr: Option<VR>) -> &'static str {
    match code {
        "K" => "keep",
        "C" if option.profile == "retain-long-modified-dates" => match vr {
            Some(VR::DA | VR::DT) => "shift-date",
            // Times stay as they are: only the day moves.
            _ => "keep",
        },
        "C" => "clean",
        _ => "remove",
    }
}

fn exact_vr(tag: Tag) -> Option<VR> {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => Some(vr),
        _ => None,
    }
}

fn entry(text: &mut String, selector: Selector, action: &str, keyword: &str, code: &str) {
    let key = match selector {
        Selector::Tag(tag) => format!("({:04X},{:04X})", tag.group(), tag.element()),
        pattern => pattern.to_string(),
    };
    let note = if keyword.is_empty() {
        code.to_string()
    } else {
        format!("{keyword} {code}")
    };
    let _ = writeln!(text, "\"{key}\" = \"{action}\" # {note}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ps315::shipped_rows;

    /// The hand-written lists follow the table: a new edition that lists
    /// one of their attributes, or codes it otherwise, makes them stale.
    #[test]
    fn the_lists_of_iod_requirements_match_the_shipped_table() {
        let rows = shipped_rows();
        let code_of = |tag: Tag| {
            rows.iter()
                .find(|row| row.target == RowTarget::Attributes(Selector::Tag(tag)))
                .map(|row| row.basic.as_str())
        };
        for (tag, _, why) in REQUIRED_BUT_REMOVED {
            assert_eq!(code_of(tag), Some("X"), "{tag} ({why}) is no longer X");
        }
        let added = additions(&rows);
        let class_of = |tag: Tag| added.iter().find(|a| a.0 == tag).map(|a| a.3);
        for (tag, _) in REQUIRED_BY_IODS {
            assert_eq!(code_of(tag), None, "{tag} is in the table now");
            assert_eq!(
                class_of(tag),
                Some(Addition::IdentityGroupRequired),
                "{tag}"
            );
        }
        for tag in IDENTIFYING_CODED {
            assert_eq!(class_of(tag), Some(Addition::IdentityGroup), "{tag}");
        }
    }

    #[test]
    fn coded_values_of_the_identity_groups_are_kept_text_is_not() {
        let added = additions(&shipped_rows());
        let coded: Vec<&str> = added
            .iter()
            .filter(|a| a.3 == Addition::IdentityGroupCoded)
            .map(|a| a.1)
            .collect();
        assert!(coded.contains(&"StudyStatusID"), "{coded:?}");
        assert!(coded.contains(&"StudyPriorityID"), "{coded:?}");
        // Text, names, dates and IDs of those groups are still removed.
        for text in ["PatientBirthDateInAlternativeCalendar", "RouteOfAdmissions"] {
            assert!(!coded.contains(&text), "{text}");
        }
        for (tag, keyword, vr, why) in &added {
            if *why == Addition::IdentityGroupCoded {
                assert!(CODED_VRS.contains(vr), "{keyword} {tag}");
            }
        }
    }

    #[test]
    fn overlay_selectors_are_told_apart() {
        assert!(is_overlay(Selector::Tag(Tag(0x6000, 0x3000))));
        assert!(is_overlay(Selector::Tag(Tag(0x601E, 0x0010))));
        assert!(!is_overlay(Selector::Tag(Tag(0x5000, 0x3000))));
        for (text, overlay) in [
            ("(60xx,3000)", true),
            ("(60xx,4000)", true),
            ("(50xx,xxxx)", false),
            ("(6xxx,xxxx)", false),
        ] {
            let selector = Selector::parse(text).unwrap();
            assert_eq!(is_overlay(selector), overlay, "{text}");
        }
    }
}
