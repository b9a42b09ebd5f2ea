//! DICOM PS3.15 Annex E, Table E.1-1: the rows the standard's
//! de-identification profiles are made from (edition in
//! `reference/README.md`), and the options of Annex E with their CID 7050
//! codes.
//!
//! The built-in `ps3.15-*` profiles are generated from this table by
//! `cargo run --example ps315_profiles`; `verify` uses it to know which UIDs
//! the standard remaps.

mod generate;

use dicom_core::Tag;

use super::Selector;

pub(crate) use generate::HIGH_GROUPS;
pub use generate::{Addition, BASE_PROFILE, GeneratedProfile, additions, generate};

/// The table as shipped in the repository (`reference/ps3.15-e1-1.csv`).
pub const TABLE_E1_1: &str = include_str!("../../../reference/ps3.15-e1-1.csv");

/// The edition of PS3.15 the shipped table follows.
pub const EDITION: &str = "2024b";

/// The coding scheme of the CID 7050 codes.
pub const CODING_SCHEME: &str = "DCM";

/// The Basic Application Level Confidentiality Profile itself.
pub const BASIC: MethodCode = MethodCode {
    code: "113100",
    meaning: "Basic Application Confidentiality Profile",
};

/// One code of CID 7050 (De-identification Method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodCode {
    pub code: &'static str,
    pub meaning: &'static str,
}

/// One option of Annex E that the table has a column for.
#[derive(Debug, Clone, Copy)]
pub struct AnnexOption {
    /// The column of Table E.1-1.
    pub column: &'static str,
    /// The built-in profile that layers the option on `ps3.15-basic`.
    pub profile: &'static str,
    pub method: MethodCode,
}

/// The ten options with a column in Table E.1-1, in the table's order.
pub const OPTIONS: [AnnexOption; 10] = [
    option(
        "rtn_safe_priv",
        "retain-safe-private",
        "113111",
        "Retain Safe Private Option",
    ),
    option("rtn_uids", "retain-uids", "113110", "Retain UIDs Option"),
    option(
        "rtn_dev_id",
        "retain-device-identity",
        "113109",
        "Retain Device Identity Option",
    ),
    option(
        "rtn_inst_id",
        "retain-institution-identity",
        "113112",
        "Retain Institution Identity Option",
    ),
    option(
        "rtn_pat_chars",
        "retain-patient-characteristics",
        "113108",
        "Retain Patient Characteristics Option",
    ),
    option(
        "rtn_long_full_dates",
        "retain-long-full-dates",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    option(
        "rtn_long_modif_dates",
        "retain-long-modified-dates",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    option(
        "clean_desc",
        "clean-descriptors",
        "113105",
        "Clean Descriptors Option",
    ),
    option(
        "clean_struct_cont",
        "clean-structured-content",
        "113104",
        "Clean Structured Content Option",
    ),
    option(
        "clean_graph",
        "clean-graphics",
        "113103",
        "Clean Graphics Option",
    ),
];

const fn option(
    column: &'static str,
    profile: &'static str,
    code: &'static str,
    meaning: &'static str,
) -> AnnexOption {
    AnnexOption {
        column,
        profile,
        method: MethodCode { code, meaning },
    }
}

/// Finds a CID 7050 code of the basic profile or one of its options.
pub fn method_code(code: &str) -> Option<MethodCode> {
    std::iter::once(BASIC)
        .chain(OPTIONS.iter().map(|o| o.method))
        .find(|m| m.code == code)
}

/// What a table row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowTarget {
    /// One attribute, or a tag range such as `(50xx,xxxx)`.
    Attributes(Selector),
    /// Every private attribute (odd group).
    Private,
}

/// One row of Table E.1-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub target: RowTarget,
    /// The tag as the table writes it (`0008,0050`, `50xx,xxxx`).
    pub tag_text: String,
    pub name: String,
    pub keyword: String,
    /// The Basic Profile action code (`X`, `Z/D`, `X/Z/U*` ...).
    pub basic: String,
    /// The option cells, in the order of [`OPTIONS`]; empty where the
    /// option leaves the basic action.
    pub options: [String; 10],
}

impl Row {
    /// The cell of one option (empty when the option does not change it).
    pub fn option(&self, option: &AnnexOption) -> &str {
        OPTIONS
            .iter()
            .position(|o| o.column == option.column)
            .map_or("", |i| self.options[i].as_str())
    }
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("Table E.1-1 line {line}: {message}")]
    Row { line: usize, message: String },
    #[error("Table E.1-1: {0}")]
    Csv(#[from] csv::Error),
}

/// Parses a Table E.1-1 CSV with the columns of `reference/README.md`.
pub fn parse(text: &str) -> Result<Vec<Row>, TableError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TableError::Row {
                line: 1,
                message: format!("no column {name:?}"),
            })
    };
    let tag = column("tag")?;
    let name = column("name")?;
    let keyword = column("keyword")?;
    let basic = column("basic_profile_action")?;
    let mut option_columns = [0; 10];
    for (slot, option) in option_columns.iter_mut().zip(&OPTIONS) {
        *slot = column(option.column)?;
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let line = index + 2;
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let tag_text = cell(tag);
        let target = parse_target(&tag_text).ok_or_else(|| TableError::Row {
            line,
            message: format!("tag {tag_text:?} is neither gggg,eeee nor a range"),
        })?;
        rows.push(Row {
            target,
            tag_text,
            name: cell(name),
            keyword: cell(keyword),
            basic: cell(basic),
            options: option_columns.map(cell),
        });
    }
    Ok(rows)
}

fn parse_target(text: &str) -> Option<RowTarget> {
    if text.eq_ignore_ascii_case("gggg,eeee") {
        return Some(RowTarget::Private);
    }
    Selector::parse(&format!("({text})")).map(RowTarget::Attributes)
}

/// The rows of the edition shipped with the tool.
pub fn shipped_rows() -> Vec<Row> {
    // The shipped table is checked by the tests below; an error here
    // would be a build defect, not user input.
    parse(TABLE_E1_1).unwrap_or_default()
}

/// Attributes whose UIDs the Basic Profile replaces (`U`, and the UIDs
/// inside the `X/Z/U*` reference sequences, which have rows of their own).
pub fn remapped_uid_tags() -> Vec<Tag> {
    shipped_rows()
        .into_iter()
        .filter(|row| row.basic == "U")
        .filter_map(|row| match row.target {
            RowTarget::Attributes(Selector::Tag(tag)) => Some(tag),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_has_every_row() {
        let rows = parse(TABLE_E1_1).unwrap();
        assert_eq!(rows.len(), 621);
        assert_eq!(
            rows.iter()
                .filter(|r| r.target == RowTarget::Private)
                .count(),
            1
        );
        let curves = rows.iter().find(|r| r.tag_text == "50xx,xxxx").unwrap();
        let RowTarget::Attributes(selector) = curves.target else {
            panic!("curves are a range")
        };
        assert!(selector.matches(Tag(0x5002, 0x3000)));
        assert!(!selector.matches(Tag(0x6000, 0x3000)));
    }

    #[test]
    fn option_cells_follow_their_columns() {
        let rows = shipped_rows();
        let sex = rows.iter().find(|r| r.keyword == "PatientSex").unwrap();
        assert_eq!(sex.basic, "Z");
        let characteristics = OPTIONS
            .iter()
            .find(|o| o.profile == "retain-patient-characteristics")
            .unwrap();
        assert_eq!(sex.option(characteristics), "K");
        assert_eq!(sex.option(&OPTIONS[0]), "");
    }

    #[test]
    fn study_and_referenced_instance_uids_are_remapped() {
        let tags = remapped_uid_tags();
        assert!(tags.contains(&Tag(0x0020, 0x000D)));
        assert!(tags.contains(&Tag(0x0008, 0x1155)));
        assert!(tags.contains(&Tag(0x0002, 0x0003)));
        assert!(!tags.contains(&Tag(0x0008, 0x0016)), "SOP Class UID stays");
    }

    #[test]
    fn shipped_profiles_are_what_the_generator_makes_of_the_table() {
        let generated = generate(&shipped_rows(), EDITION);
        assert_eq!(generated.len(), 11);
        for profile in generated {
            let shipped = crate::profile::BUILTIN_PROFILES
                .iter()
                .find(|(name, _)| *name == profile.name)
                .map(|(_, text)| *text);
            assert_eq!(
                shipped,
                Some(profile.text.as_str()),
                "profiles/{}.toml is stale: run `cargo run --example ps315_profiles`",
                profile.name
            );
        }
    }

    #[test]
    fn method_codes_are_cid_7050() {
        assert_eq!(method_code("113100"), Some(BASIC));
        assert_eq!(
            method_code("113107").map(|m| m.meaning),
            Some("Retain Longitudinal Temporal Information Modified Dates Option")
        );
        assert_eq!(method_code("113199"), None);
    }
}
