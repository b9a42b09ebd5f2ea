//! `profile explain`: what a profile does to each element of one file, at
//! every depth, and which profile line decided it. Values are only given
//! when asked for (they are PHI).

use std::path::Path;

use dicom_core::VR;

use super::identify::collect_identifiers;
use crate::charset::{CharacterSet, printable};
use crate::codec::{describe_tag, open_file, sniff};
use crate::metadata::{Extent, Item, Value, read_file};
use crate::rules::{Disposition, ElementValue, FileContext, RuleSet, date_shift_days, is_text};

/// What happens to one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// 0 at the top level, 1 inside an item of a top-level sequence ...
    pub depth: usize,
    /// `PatientName (0010,0010)`.
    pub element: String,
    pub vr: VR,
    /// The action and where it was written (`site.toml:4 (PatientName)`).
    pub action: &'static str,
    pub decided_by: String,
    /// `kept`, `removed`, `rewritten`, or why it fails.
    pub result: String,
    /// The value before and after, when values were asked for.
    pub values: Option<(String, String)>,
}

/// Explains `rules` on the file at `path`. With `show_values`, each
/// rewritten value is computed (as for patient 1, with `secret`).
pub fn explain_file(
    path: &Path,
    rules: &RuleSet,
    secret: &[u8],
    show_values: bool,
) -> Result<Vec<Explained>, String> {
    let header = read_file(path, Extent::AllButPixels).map_err(|e| e.to_string())?;
    let identifiers = if rules.cleans() {
        let layout = sniff(path).map_err(|e| e.to_string())?.ok_or("not DICOM")?;
        let opened = open_file(path, layout).map_err(|e| e.to_string())?;
        collect_identifiers(opened).map_err(|e| e.to_string())?
    } else {
        Default::default()
    };
    let patient_id = header
        .dataset
        .get(dicom_core::Tag(0x0010, 0x0020))
        .and_then(|e| match &e.value {
            Value::Bytes(raw) => Some(CharacterSet::default().decode(raw).trim().to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let context = FileContext {
        patient_index: 1,
        secret,
        date_shift_days: if rules.shifts_dates() {
            date_shift_days(secret, &patient_id)
        } else {
            0
        },
        identifiers: &identifiers,
    };
    let mut lines = Vec::new();
    let explainer = Explainer {
        rules,
        context,
        show_values,
    };
    explainer.item(&header.dataset, &CharacterSet::default(), 0, &mut lines);
    Ok(lines)
}

struct Explainer<'a> {
    rules: &'a RuleSet,
    context: FileContext<'a>,
    show_values: bool,
}

impl Explainer<'_> {
    fn item(&self, item: &Item, inherited: &CharacterSet, depth: usize, out: &mut Vec<Explained>) {
        let charset = item.charset(inherited);
        for element in &item.elements {
            let rule = self.rules.rule_for(element.tag);
            // As the rewrite rules it: UN by the dictionary's VR.
            let vr = match element.value {
                Value::Items(_) => element.vr,
                _ => element.value_vr(),
            };
            let disposition = rule.disposition(vr);
            let mut line = Explained {
                depth,
                element: describe_tag(element.tag),
                vr: element.vr,
                action: rule.name(),
                decided_by: self.rules.origin_of(element.tag).to_string(),
                result: match disposition {
                    Disposition::Keep => "kept".into(),
                    Disposition::Remove => "removed".into(),
                    Disposition::Rewrite => "rewritten".into(),
                },
                values: None,
            };
            match &element.value {
                Value::Items(items) => {
                    if disposition == Disposition::Remove {
                        line.result = format!("removed, with its {} item(s)", items.len());
                        out.push(line);
                        continue;
                    }
                    line.result = format!("{} item(s), each ruled below", items.len());
                    out.push(line);
                    for inner in items {
                        self.item(inner, &charset, depth + 1, out);
                    }
                }
                Value::Bytes(raw) if disposition == Disposition::Rewrite => {
                    let value = ElementValue {
                        tag: element.tag,
                        vr,
                        bytes: raw,
                        charset: &charset,
                    };
                    match rule.apply(&value, &self.context) {
                        Ok(new) => {
                            if self.show_values {
                                line.values =
                                    Some((shown(raw, vr, &charset), shown(&new, vr, &charset)));
                            }
                        }
                        // The run would make this file an ERROR row.
                        Err(err) => line.result = format!("fails: {err}"),
                    }
                    out.push(line);
                }
                Value::Bytes(raw) => {
                    if self.show_values && disposition == Disposition::Keep {
                        let value = shown(raw, vr, &charset);
                        line.values = Some((value.clone(), value));
                    }
                    out.push(line);
                }
                Value::Skipped => out.push(line),
            }
        }
    }
}

/// A value as text for a person: decoded where it is text, else its size.
fn shown(raw: &[u8], vr: VR, charset: &CharacterSet) -> String {
    let text = is_text(vr);
    if text {
        let decoded = printable(&charset.decode(raw));
        format!("{:?}", decoded.trim_end_matches(['\0', ' ']))
    } else {
        format!("({} bytes)", raw.len())
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::{PrimitiveValue, Tag};

    use super::*;
    use crate::engine::testing::image;

    #[test]
    fn every_element_names_its_rule_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dcm");
        let extra = vec![
            (Tag(0x0028, 0x0010), VR::US, PrimitiveValue::from(2u16)),
            (Tag(0x0028, 0x0011), VR::US, PrimitiveValue::from(2u16)),
        ];
        std::fs::write(&path, image(4, extra)).unwrap();
        let profile = crate::profile::Profile::from_text(
            "site.toml",
            "extends = [\"basic\"]\n[attributes]\nRows = \"remove\"\n",
        )
        .unwrap();
        let rules = RuleSet::compile(&profile).unwrap();
        let lines = explain_file(&path, &rules, b"", true).unwrap();
        let find = |name: &str| {
            lines
                .iter()
                .find(|l| l.element.starts_with(name))
                .unwrap_or_else(|| panic!("{name} not in {lines:?}"))
        };
        let patient = find("PatientID");
        assert_eq!(patient.action, "replace-with-index");
        assert!(
            patient.decided_by.contains("built-in profile \"basic\""),
            "{patient:?}"
        );
        assert_eq!(patient.values.as_ref().unwrap().1, "\"1\"");
        let rows = find("Rows");
        assert_eq!((rows.action, rows.result.as_str()), ("remove", "removed"));
        assert_eq!(rows.decided_by, "site.toml:3 (Rows)");
        let columns = find("Columns");
        assert_eq!(columns.result, "kept");
        assert!(
            columns.decided_by.contains("unlisted-attributes"),
            "{columns:?}"
        );
    }
}
