//! The output path template of a profile, e.g. `{patient_index}_{image_number:03}.dcm`.
//!
//! Placeholders only carry pseudonymous numbers, never values from the file,
//! so an output path cannot leak PHI.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// The numbers an output path may be built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathNumbers {
    /// The patient index (1, 2, 3 ... in `_metadata.csv` order).
    pub patient_index: u32,
    /// The image number within the patient.
    pub image_number: u32,
    /// The study number within the patient.
    pub study: u32,
    /// The series number within the study.
    pub series: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    PatientIndex,
    ImageNumber,
    Study,
    Series,
}

const FIELDS: &[(&str, Field)] = &[
    ("patient_index", Field::PatientIndex),
    ("image_number", Field::ImageNumber),
    ("study", Field::Study),
    ("series", Field::Series),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Number { field: Field, width: usize },
}

/// A parsed, validated output template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTemplate {
    source: String,
    pieces: Vec<Piece>,
}

impl OutputTemplate {
    /// The template of the built-in profiles.
    pub const DEFAULT: &'static str = "{patient_index}_{image_number:03}.dcm";

    /// Parses a template; the error says what is wrong in words for a profile author.
    pub fn parse(source: &str) -> Result<OutputTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .map(|i| open + i)
                .ok_or_else(|| format!("unclosed '{{' in {source:?}"))?;
            pieces.push(parse_placeholder(&rest[open + 1..close])?);
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched '}}' in {source:?}"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        let template = OutputTemplate {
            source: source.to_string(),
            pieces,
        };
        template.check_shape()?;
        Ok(template)
    }

    fn uses(&self, wanted: Field) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Number { field, .. } if *field == wanted))
    }

    fn check_shape(&self) -> Result<(), String> {
        if !self.uses(Field::PatientIndex) || !self.uses(Field::ImageNumber) {
            return Err(format!(
                "{:?} must contain {{patient_index}} and {{image_number}} so that every output path is unique",
                self.source
            ));
        }
        self.check_separated()?;
        let sample = self.render(PathNumbers {
            patient_index: 1,
            image_number: 1,
            study: 1,
            series: 1,
        });
        let safe = sample
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !safe || self.source.contains('\\') || self.source.ends_with('/') {
            return Err(format!(
                "{:?} must be a relative path of plain names ('/' between folders, no '..', no leading '/')",
                self.source
            ));
        }
        Ok(())
    }

    /// Two numbers side by side (`{patient_index}{image_number}`, or with
    /// only digits between them) can be read more than one way: patient 1
    /// image 11 and patient 11 image 1 would both be `111`. A text with a
    /// character other than a digit between every two numbers makes every
    /// path read back one way only, so different numbers give different
    /// paths. (A width does not help: it is a minimum, and numbers grow.)
    fn check_separated(&self) -> Result<(), String> {
        let mut after_number: Option<String> = None;
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => {
                    if let Some(between) = after_number.as_mut() {
                        between.push_str(text);
                    }
                }
                Piece::Number { .. } => {
                    if let Some(between) = after_number.as_deref()
                        && between.chars().all(|c| c.is_ascii_digit())
                    {
                        return Err(format!(
                            "{:?} can give two files the same path: put a separator such as '_' or '/' between every two placeholders ({between:?} is not one)",
                            self.source
                        ));
                    }
                    after_number = Some(String::new());
                }
            }
        }
        Ok(())
    }

    /// The relative output path for one file.
    pub fn render(&self, numbers: PathNumbers) -> PathBuf {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Number { field, width } => {
                    let n = match field {
                        Field::PatientIndex => numbers.patient_index,
                        Field::ImageNumber => numbers.image_number,
                        Field::Study => numbers.study,
                        Field::Series => numbers.series,
                    };
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{n:0width$}");
                }
            }
        }
        Path::new(&out).to_path_buf()
    }

    /// The template text as written in the profile.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for OutputTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_placeholder(inner: &str) -> Result<Piece, String> {
    let (name, width) = match inner.split_once(':') {
        Some((name, spec)) => {
            let digits = spec.strip_prefix('0').unwrap_or(spec);
            let width = digits
                .parse::<usize>()
                .ok()
                .filter(|w| (1..=9).contains(w))
                .ok_or_else(|| {
                    format!("bad width {spec:?} in {{{inner}}}: write e.g. {{{name}:03}}")
                })?;
            (name, width)
        }
        None => (inner, 0),
    };
    let field = FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let allowed: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown placeholder {{{name}}}; allowed: {}",
                allowed.join(", ")
            )
        })?;
    Ok(Piece::Number { field, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers() -> PathNumbers {
        PathNumbers {
            patient_index: 17,
            image_number: 4,
            study: 2,
            series: 3,
        }
    }

    #[test]
    fn default_template_is_the_seed_naming() {
        let t = OutputTemplate::parse(OutputTemplate::DEFAULT).unwrap();
        assert_eq!(t.render(numbers()), PathBuf::from("17_004.dcm"));
    }

    #[test]
    fn folders_per_study_and_series() {
        let t =
            OutputTemplate::parse("{patient_index}/{study}/{series}/{image_number}.dcm").unwrap();
        assert_eq!(t.render(numbers()), PathBuf::from("17/2/3/4.dcm"));
    }

    #[test]
    fn unknown_placeholder_lists_the_allowed_ones() {
        let err = OutputTemplate::parse("{patient_name}_{image_number}.dcm").unwrap_err();
        assert!(err.contains("unknown placeholder {patient_name}"), "{err}");
        assert!(
            err.contains("patient_index, image_number, study, series"),
            "{err}"
        );
    }

    #[test]
    fn templates_that_collide_or_escape_are_refused() {
        assert!(OutputTemplate::parse("{patient_index}.dcm").is_err());
        assert!(OutputTemplate::parse("../{patient_index}_{image_number}.dcm").is_err());
        assert!(OutputTemplate::parse("/tmp/{patient_index}_{image_number}.dcm").is_err());
        assert!(OutputTemplate::parse("{patient_index}_{image_number").is_err());
    }

    #[test]
    fn numbers_without_a_separator_are_refused() {
        for template in [
            "{patient_index}{image_number}.dcm",
            "{patient_index}{image_number:03}.dcm",
            "{patient_index:04}{image_number:04}.dcm",
            "{patient_index}1{image_number}.dcm",
            "{patient_index}_{study}{image_number}.dcm",
        ] {
            let err = OutputTemplate::parse(template).unwrap_err();
            assert!(err.contains("same path"), "{template}: {err}");
        }
        for template in [
            "{patient_index}_{image_number}.dcm",
            "{patient_index}/{study}/{series}/{image_number:04}.dcm",
            "p{patient_index}-1a{image_number}.dcm",
        ] {
            OutputTemplate::parse(template).unwrap();
        }
    }

    #[test]
    fn separated_numbers_never_share_a_path() {
        // Every (patient, image) pair up to 120 x 120 renders differently.
        let t = OutputTemplate::parse("{patient_index}1a{image_number}.dcm").unwrap();
        let mut seen = std::collections::HashSet::new();
        for patient_index in 1..=120 {
            for image_number in 1..=120 {
                let path = t.render(PathNumbers {
                    patient_index,
                    image_number,
                    study: 1,
                    series: 1,
                });
                assert!(seen.insert(path), "{patient_index} {image_number}");
            }
        }
    }
}
