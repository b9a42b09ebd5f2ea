//! File IDs (PS3.10 §8.2, PS3.12): how a DICOMDIR names the files of its
//! file-set. A file ID is at most 8 components, each 1 to 8 characters of
//! upper-case A–Z, digits and `_`, written with `\` between them.

use std::path::{Component, Path};

/// Components a file ID may have at most.
pub const MAX_LEVELS: usize = 8;
/// Characters one component may have at most.
pub const MAX_COMPONENT: usize = 8;

/// The file ID of `relative` (a path below the DICOMDIR's folder), or why
/// that path cannot be one, in words for the audit.
pub fn file_id(relative: &Path) -> Result<Vec<String>, String> {
    let shown = relative.display();
    let mut components = Vec::new();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(format!("{shown} is not a plain path below the DICOMDIR"));
        };
        let Some(name) = name.to_str().filter(|name| is_component(name)) else {
            return Err(format!(
                "{:?} in {shown} is not a file ID component (1 to {MAX_COMPONENT} of A-Z, 0-9, _)",
                name.to_string_lossy()
            ));
        };
        components.push(name.to_string());
    }
    if components.is_empty() {
        return Err("an empty path is not a file ID".to_string());
    }
    if components.len() > MAX_LEVELS {
        return Err(format!(
            "{shown} has {} levels (a file ID has at most {MAX_LEVELS})",
            components.len()
        ));
    }
    Ok(components)
}

fn is_component(name: &str) -> bool {
    (1..=MAX_COMPONENT).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The components of a Referenced File ID (0004,1500) value as stored:
/// values split at `\`, padding removed. Empty components are dropped.
pub fn components_of(raw: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(raw)
        .split('\\')
        .map(|c| {
            c.trim_matches(|ch: char| ch == ' ' || ch == '\0')
                .to_string()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// A file ID as a CS value: components joined by `\`, padded to even
/// length with a space.
pub fn encode(components: &[String]) -> Vec<u8> {
    let mut value = components.join("\\").into_bytes();
    if value.len() % 2 == 1 {
        value.push(b' ');
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_case_names_of_up_to_8_characters_are_a_file_id() {
        assert_eq!(
            file_id(Path::new("P1/ST1/SE_2/IM000001")).unwrap(),
            ["P1", "ST1", "SE_2", "IM000001"]
        );
    }

    #[test]
    fn what_a_file_id_cannot_hold_is_named() {
        let err = file_id(Path::new("1_001.dcm")).unwrap_err();
        assert!(err.contains("\"1_001.dcm\""), "{err}");
        let err = file_id(Path::new("P1/IMAGE0001")).unwrap_err();
        assert!(err.contains("IMAGE0001"), "{err}");
        let err = file_id(Path::new("a/B")).unwrap_err();
        assert!(err.contains("\"a\""), "{err}");
        let deep = (0..9)
            .map(|i| format!("L{i}"))
            .collect::<Vec<_>>()
            .join("/");
        let err = file_id(Path::new(&deep)).unwrap_err();
        assert!(err.contains("9 levels"), "{err}");
        assert!(file_id(Path::new("../X")).is_err());
    }

    #[test]
    fn a_stored_file_id_is_read_and_written_back() {
        let components = components_of(b"77654033\\CR1\\6154 ");
        assert_eq!(components, ["77654033", "CR1", "6154"]);
        assert_eq!(encode(&components), b"77654033\\CR1\\6154 ");
        assert_eq!(encode(&["A".to_string()]), b"A ");
    }
}
