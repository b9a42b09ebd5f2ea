//! The PHI of one source file: the identifying values it really holds, at
//! every depth and in the file meta, each with the attribute it came from.
//!
//! What counts: every person name (PN), the patient's IDs, accession number,
//! birth date, addresses, telephone numbers and institution, and the UIDs
//! that PS3.15 Table E.1-1 remaps (its `U` rows). Values too short or too
//! generic to identify anyone are left out, because searching for them
//! would only find chance matches:
//! - empty values, and placeholders such as `ANONYMIZED` or `XXXX`;
//! - IDs and other texts shorter than [`MIN_TEXT`] characters;
//! - name parts shorter than [`MIN_NAME`] characters, and the prefix and
//!   suffix of a name (`Dr.`, `Jr`, `MD`), which name nobody;
//! - the UIDs the standard itself defines (`1.2.840.10008.…`).

use std::collections::HashMap;
use std::fmt;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use super::path::TagPath;
use crate::charset::CharacterSet;
use crate::metadata::{DicomHeader, Element, Item, Value};
use crate::profile::Selector;
use crate::profile::ps315::{RowTarget, remapped_uid_tags, shipped_rows};

/// Shortest ID, date or other text searched for.
pub const MIN_TEXT: usize = 3;
/// Shortest name, name representation or name component searched for.
pub const MIN_NAME: usize = 2;

/// Values that stand for "no value" rather than for anyone.
const PLACEHOLDERS: &[&str] = &[
    "ANON",
    "ANONYMIZED",
    "ANONYMISED",
    "ANONYMOUS",
    "DEIDENTIFIED",
    "DE-IDENTIFIED",
    "REMOVED",
    "UNKNOWN",
    "NONE",
    "NULL",
    "N/A",
];

/// The prefix of UIDs defined by DICOM itself (classes, syntaxes, codes),
/// which identify no one.
const DICOM_UID_ROOT: &str = "1.2.840.10008.";

/// What kind of PHI an attribute holds, which decides how it is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A PN value: whole, each `=` representation, each `^` component.
    Name,
    /// An ID, address, telephone number or name of an institution.
    Text,
    /// A date of birth, also searched in its common reformatted forms.
    BirthDate,
    /// A UID that de-identification must replace.
    Uid,
}

/// Other Patient IDs (0010,1000), retired but still written by many systems.
const OTHER_PATIENT_IDS: Tag = Tag(0x0010, 0x1000);
/// Medical Record Locator (0010,1090), retired.
const MEDICAL_RECORD_LOCATOR: Tag = Tag(0x0010, 0x1090);

/// Attributes whose values are PHI, besides every PN and the remapped UIDs.
const IDENTIFYING: &[(Tag, Kind)] = &[
    (tags::PATIENT_ID, Kind::Text),
    (OTHER_PATIENT_IDS, Kind::Text),
    (tags::ISSUER_OF_PATIENT_ID, Kind::Text),
    (tags::ACCESSION_NUMBER, Kind::Text),
    (tags::PATIENT_BIRTH_DATE, Kind::BirthDate),
    (tags::PATIENT_ADDRESS, Kind::Text),
    (tags::PATIENT_TELEPHONE_NUMBERS, Kind::Text),
    (MEDICAL_RECORD_LOCATOR, Kind::Text),
    (tags::INSTITUTION_NAME, Kind::Text),
    (tags::INSTITUTION_ADDRESS, Kind::Text),
    (tags::INSTITUTIONAL_DEPARTMENT_NAME, Kind::Text),
    (tags::REFERRING_PHYSICIAN_ADDRESS, Kind::Text),
    (tags::REFERRING_PHYSICIAN_TELEPHONE_NUMBERS, Kind::Text),
    (tags::PERSON_ADDRESS, Kind::Text),
    (tags::PERSON_TELEPHONE_NUMBERS, Kind::Text),
];

/// Which attributes are PHI; built once per run.
#[derive(Debug, Clone)]
pub struct PhiRules {
    kinds: HashMap<Tag, Kind>,
    /// What PS3.15 Table E.1-1 lists: attributes and ranges.
    listed: Vec<Selector>,
}

impl Default for PhiRules {
    fn default() -> Self {
        let mut kinds: HashMap<Tag, Kind> = remapped_uid_tags()
            .into_iter()
            .map(|tag| (tag, Kind::Uid))
            .collect();
        kinds.extend(IDENTIFYING.iter().copied());
        let listed = shipped_rows()
            .into_iter()
            .filter_map(|row| match row.target {
                RowTarget::Attributes(selector) => Some(selector),
                RowTarget::Private => None,
            })
            .collect();
        PhiRules { kinds, listed }
    }
}

impl PhiRules {
    /// Whether Table E.1-1 of PS3.15 lists the attribute (every private
    /// attribute is listed, by its row for odd groups).
    pub fn listed_by_the_standard(&self, tag: Tag) -> bool {
        tag.group() % 2 == 1 || self.listed.iter().any(|s| s.matches(tag))
    }

    fn kind(&self, element: &Element) -> Option<Kind> {
        match self.kinds.get(&element.tag) {
            Some(&kind) => Some(kind),
            None if element.value_vr() == VR::PN => Some(Kind::Name),
            None => None,
        }
    }
}

/// How a searched value relates to the attribute it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole value (one value of a multi-valued attribute).
    Value,
    /// One representation of a name (alphabetic, ideographic, phonetic).
    Representation(&'static str),
    /// One component of a name (family, given or middle name).
    Component,
    /// A date of birth written another way (`YYYY-MM-DD`, `YYYY.MM.DD`).
    Reformatted(&'static str),
}

/// The source attribute a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub attribute: TagPath,
    pub part: Part,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attribute = &self.attribute;
        match self.part {
            Part::Value => write!(f, "the value of {attribute}"),
            Part::Representation(which) => {
                write!(f, "the {which} representation of {attribute}")
            }
            Part::Component => write!(f, "a name component of {attribute}"),
            Part::Reformatted(form) => write!(f, "the value of {attribute} written as {form}"),
        }
    }
}

/// How a value must be delimited to count as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matching {
    /// As a whole word: not next to a letter or digit, so that the name
    /// component `LI` is not found inside `CLINICAL`.
    Token,
    /// As a whole UID: not next to a letter, digit or dot, so that
    /// `1.2.3` is not found inside `1.2.3.4`.
    Uid,
}

/// One value to search the output for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// The value as text (decoded with the source's character set).
    pub text: String,
    /// The byte forms searched in raw values: UTF-8, and the source's
    /// character set where that differs and can encode the text.
    pub encodings: Vec<Vec<u8>>,
    pub matching: Matching,
    /// The first attribute that holds it.
    pub origin: Origin,
}

/// Collects the PHI of a source file: file meta first, then the data set
/// in file order. A value found in several attributes is kept once, with
/// the least nested of them (the first of those): `PatientName` rather than
/// `ReferencedPatientSequence[1].PatientName`, which sorts before it.
/// Values differing only in letter case count as one, since the search
/// ignores case.
pub fn collect(header: &DicomHeader, rules: &PhiRules) -> Vec<Needle> {
    let mut collector = Collector {
        rules,
        needles: Vec::new(),
        seen: HashMap::new(),
        parents: Vec::new(),
    };
    let ascii = CharacterSet::default();
    for element in &header.meta {
        collector.element(element, &ascii);
    }
    collector.item(&header.dataset, &ascii);
    collector.needles
}

struct Collector<'a> {
    rules: &'a PhiRules,
    needles: Vec<Needle>,
    /// Case-folded texts already collected, and where in `needles`.
    seen: HashMap<(String, Matching), usize>,
    /// The sequences and items above the current element.
    parents: Vec<(Tag, usize)>,
}

impl Collector<'_> {
    fn item(&mut self, item: &Item, inherited: &CharacterSet) {
        let charset = item.charset(inherited);
        for element in &item.elements {
            self.element(element, &charset);
        }
    }

    fn element(&mut self, element: &Element, charset: &CharacterSet) {
        match &element.value {
            Value::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.parents.push((element.tag, i + 1));
                    self.item(item, charset);
                    self.parents.pop();
                }
            }
            Value::Bytes(raw) => {
                if let Some(kind) = self.rules.kind(element) {
                    let text = charset.decode(raw);
                    let attribute = TagPath::new(&self.parents, element.tag);
                    for value in values(&text, element.vr) {
                        self.value(value, kind, &attribute, charset);
                    }
                }
            }
            Value::Skipped => {}
        }
    }

    fn value(&mut self, value: &str, kind: Kind, attribute: &TagPath, charset: &CharacterSet) {
        let mut add = |text: &str, part: Part, matching: Matching| {
            let origin = Origin {
                attribute: attribute.clone(),
                part,
            };
            self.add(text, origin, matching, charset);
        };
        match kind {
            Kind::Uid => {
                let uid = value.trim_matches(['\0', ' ']);
                if uid.len() >= MIN_TEXT && !uid.starts_with(DICOM_UID_ROOT) {
                    add(uid, Part::Value, Matching::Uid);
                }
            }
            Kind::Text => {
                if value.chars().count() >= MIN_TEXT && !is_placeholder(value) {
                    add(value, Part::Value, Matching::Token);
                }
            }
            Kind::BirthDate => {
                if value.chars().count() >= MIN_TEXT && !is_placeholder(value) {
                    add(value, Part::Value, Matching::Token);
                }
                for (form, text) in date_forms(value) {
                    add(&text, Part::Reformatted(form), Matching::Token);
                }
            }
            Kind::Name => {
                for (text, part) in name_parts(value) {
                    add(text, part, Matching::Token);
                }
            }
        }
    }

    fn add(&mut self, text: &str, origin: Origin, matching: Matching, charset: &CharacterSet) {
        let key = (text.to_lowercase(), matching);
        if let Some(&i) = self.seen.get(&key) {
            let known = &mut self.needles[i].origin;
            if origin.attribute.parents.len() < known.attribute.parents.len() {
                *known = origin;
            }
            return;
        }
        self.seen.insert(key, self.needles.len());
        let utf8 = text.as_bytes().to_vec();
        let mut encodings = vec![utf8];
        if let Ok(native) = charset.encode(text)
            && !encodings.contains(&native)
        {
            encodings.push(native);
        }
        self.needles.push(Needle {
            text: text.to_string(),
            encodings,
            matching,
            origin,
        });
    }
}

/// The values of a text element, padding removed; texts of VRs that
/// cannot be multi-valued (ST, LT, UT) are one value, backslashes included.
fn values(text: &str, vr: VR) -> Vec<&str> {
    let single = matches!(vr, VR::ST | VR::LT | VR::UT);
    let parts: Vec<&str> = if single {
        vec![text]
    } else {
        text.split('\\').collect()
    };
    parts
        .into_iter()
        .map(|v| v.trim_matches([' ', '\0']))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Whether a value is a placeholder: a known dummy word, nothing but
/// punctuation, or one character repeated (`XXXX`, `0000`).
fn is_placeholder(value: &str) -> bool {
    let upper = value.trim().to_uppercase();
    if PLACEHOLDERS.contains(&upper.as_str()) {
        return true;
    }
    let mut alnum = upper.chars().filter(|c| c.is_alphanumeric());
    match alnum.next() {
        None => true,
        Some(first) => alnum.all(|c| c == first),
    }
}

/// The searched parts of one PN value: the whole name, each of its
/// representations (`=`), and the family, given and middle names (`^`) of
/// each; prefixes and suffixes are titles, not identities.
fn name_parts(value: &str) -> Vec<(&str, Part)> {
    const REPRESENTATIONS: [&str; 3] = ["alphabetic", "ideographic", "phonetic"];
    let long_enough = |t: &str| t.chars().count() >= MIN_NAME && !is_placeholder(t);
    let mut parts = Vec::new();
    // Empty trailing components and representations (`Doe^John^^`) are
    // padding; the name is found with or without them.
    let whole = value.trim().trim_end_matches(['^', '=', ' ']);
    if long_enough(whole) {
        parts.push((whole, Part::Value));
    }
    let groups: Vec<&str> = whole.split('=').collect();
    for (i, group) in groups.iter().enumerate() {
        let group = group.trim_matches([' ', '^']);
        if groups.len() > 1 && long_enough(group) {
            let which = REPRESENTATIONS.get(i).copied().unwrap_or("extra");
            parts.push((group, Part::Representation(which)));
        }
        for component in group.split('^').take(3) {
            let component = component.trim();
            if long_enough(component) && component != whole {
                parts.push((component, Part::Component));
            }
        }
    }
    parts
}

/// A date of birth `YYYYMMDD` as `YYYY-MM-DD` and `YYYY.MM.DD`.
fn date_forms(value: &str) -> Vec<(&'static str, String)> {
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let (y, m, d) = (&value[..4], &value[4..6], &value[6..]);
    vec![
        ("YYYY-MM-DD", format!("{y}-{m}-{d}")),
        ("YYYY.MM.DD", format!("{y}.{m}.{d}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Syntax;

    fn bytes(tag: Tag, vr: VR, value: &[u8]) -> Element {
        Element {
            tag,
            vr,
            value: Value::Bytes(value.to_vec()),
        }
    }

    fn header(elements: Vec<Element>) -> DicomHeader {
        DicomHeader {
            path: "test.dcm".into(),
            meta: Vec::new(),
            dataset: Item { elements },
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            syntax: Syntax::EXPLICIT_VR_LITTLE_ENDIAN,
            has_pixel_data: false,
        }
    }

    fn texts(needles: &[Needle]) -> Vec<&str> {
        needles.iter().map(|n| n.text.as_str()).collect()
    }

    #[test]
    fn names_whole_by_representation_and_by_component() {
        let parts =
            |value| -> Vec<&str> { name_parts(value).into_iter().map(|(t, _)| t).collect() };
        assert_eq!(
            parts("Yamada^Tarou=山田^太郎"),
            [
                "Yamada^Tarou=山田^太郎",
                "Yamada^Tarou",
                "Yamada",
                "Tarou",
                "山田^太郎",
                "山田",
                "太郎"
            ]
        );
        assert_eq!(
            parts("Doe^John^Q^Dr.^Jr"),
            ["Doe^John^Q^Dr.^Jr", "Doe", "John"],
            "one-letter middle names, prefixes and suffixes are not searched alone"
        );
        assert_eq!(parts("X^Y"), ["X^Y"]);
        assert_eq!(
            parts("Killeen^Thomas^^="),
            ["Killeen^Thomas", "Killeen", "Thomas"]
        );
    }

    #[test]
    fn placeholders_and_short_ids_are_not_phi() {
        for dummy in ["ANONYMIZED", "anonymous", "XXXX", "0000", "^^", "N/A"] {
            assert!(is_placeholder(dummy), "{dummy}");
        }
        assert!(!is_placeholder("PID7731"));
        let found = collect(
            &header(vec![
                bytes(tags::PATIENT_NAME, VR::PN, b"ANONYMOUS"),
                bytes(tags::PATIENT_ID, VR::LO, b"42"),
                bytes(OTHER_PATIENT_IDS, VR::LO, b"OPI-1\\7 "),
            ]),
            &PhiRules::default(),
        );
        assert_eq!(texts(&found), ["OPI-1"]);
    }

    #[test]
    fn nested_items_inherit_or_override_the_character_set() {
        let item = |charset: Option<&[u8]>, name: &[u8]| {
            let mut elements = Vec::new();
            if let Some(cs) = charset {
                elements.push(bytes(Tag(0x0008, 0x0005), VR::CS, cs));
            }
            elements.push(bytes(tags::PATIENT_NAME, VR::PN, name));
            Item { elements }
        };
        let sequence = Element {
            tag: tags::OTHER_PATIENT_I_DS_SEQUENCE,
            vr: VR::SQ,
            value: Value::Items(vec![
                item(None, b"M\xfcller"),
                item(Some(b"ISO_IR 144"), b"\xbb\xee\xdace"),
            ]),
        };
        let found = collect(
            &header(vec![
                bytes(Tag(0x0008, 0x0005), VR::CS, b"ISO_IR 100"),
                sequence,
            ]),
            &PhiRules::default(),
        );
        assert_eq!(texts(&found), ["Müller", "Люкce"]);
        assert_eq!(
            found[1].origin.to_string(),
            "the value of OtherPatientIDsSequence[2].PatientName (0010,0010)"
        );
        assert_eq!(
            found[0].encodings,
            [b"M\xc3\xbcller".to_vec(), b"M\xfcller".to_vec()]
        );
    }

    #[test]
    fn remapped_uids_birth_dates_and_the_standard_uids() {
        let found = collect(
            &header(vec![
                bytes(tags::SOP_CLASS_UID, VR::UI, b"1.2.840.10008.5.1.4.1.1.2\0"),
                bytes(tags::SOP_INSTANCE_UID, VR::UI, b"1.2.3.4.5\0"),
                bytes(tags::PATIENT_BIRTH_DATE, VR::DA, b"19700101"),
                bytes(tags::FRAME_OF_REFERENCE_UID, VR::UI, b"1.2.840.10008.1.4\0"),
            ]),
            &PhiRules::default(),
        );
        assert_eq!(
            texts(&found),
            ["1.2.3.4.5", "19700101", "1970-01-01", "1970.01.01"]
        );
        assert_eq!(found[0].matching, Matching::Uid);
        assert_eq!(
            found[2].origin.to_string(),
            "the value of PatientBirthDate (0010,0030) written as YYYY-MM-DD"
        );
    }

    #[test]
    fn a_value_also_in_a_nested_item_is_attributed_to_the_top_level() {
        let item = Item {
            elements: vec![bytes(tags::PATIENT_NAME, VR::PN, b"Doe^John")],
        };
        let found = collect(
            &header(vec![
                Element {
                    tag: tags::REFERENCED_PATIENT_SEQUENCE,
                    vr: VR::SQ,
                    value: Value::Items(vec![item]),
                },
                bytes(tags::PATIENT_NAME, VR::PN, b"DOE^John"),
            ]),
            &PhiRules::default(),
        );
        assert_eq!(texts(&found), ["Doe^John", "Doe", "John"]);
        assert!(found.iter().all(|n| n.origin.attribute.parents.is_empty()));
    }

    #[test]
    fn same_value_in_two_attributes_is_searched_once_with_the_first() {
        let found = collect(
            &header(vec![
                bytes(tags::PATIENT_ID, VR::LO, b"PID7731 "),
                bytes(OTHER_PATIENT_IDS, VR::LO, b"pid7731\\OTHER9"),
            ]),
            &PhiRules::default(),
        );
        assert_eq!(texts(&found), ["PID7731", "OTHER9"]);
        assert_eq!(
            found[0].origin.to_string(),
            "the value of PatientID (0010,0020)"
        );
    }
}
