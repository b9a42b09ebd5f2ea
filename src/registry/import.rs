//! `registry import`: a registry started from what came before it, an
//! earlier run's audit (`_out.csv`) or a lookup table (`identity,index`,
//! as CTP's `@lookup` tables), all or nothing: any conflict with the
//! registry or within the input refuses the whole import, listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::{
    PATIENT_DOMAIN, PatientIdentity, Registry, RegistryError, identity_bytes, identity_text,
};
use crate::sink::from_csv_cell;

/// One patient to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRow {
    /// The key's values, in the key's order.
    pub values: Vec<String>,
    pub patient_index: u32,
    /// Image numbers already used (0 when unknown).
    pub images: u32,
    /// Where it was read, for messages.
    pub line: usize,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub added: u64,
    pub already_there: u64,
    /// Indices above which new patients are numbered.
    pub reserved_up_to: u32,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("nothing was imported; conflicts:\n{}", .0.join("\n"))]
    Conflicts(Vec<String>),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The patients of an earlier run's audit (`_out.csv` or `_out.xlsx`):
/// each Patient ID with its index and as many images as it had rows. Rows
/// without an ID (files that were patients of their own) only reserve
/// their index.
pub fn read_audit(path: &Path) -> Result<(Vec<LookupRow>, u32), ImportError> {
    let fail = |message: String| ImportError::Read {
        path: path.to_path_buf(),
        message,
    };
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let table = if is_xlsx {
        read_xlsx_table(path).map_err(fail)?
    } else {
        read_csv_table(path).map_err(fail)?
    };
    patients_of_audit(path, table)
}

/// Header and rows of a CSV audit, cells unescaped.
fn read_csv_table(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| e.to_string())?;
    reader
        .records()
        .map(|record| {
            record
                .map(|r| r.iter().map(|c| from_csv_cell(c).to_string()).collect())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Header and rows of every worksheet of an XLSX audit, one after another
/// (a long audit goes on in a second sheet, with its own header).
fn read_xlsx_table(path: &Path) -> Result<Vec<Vec<String>>, String> {
    use calamine::{Reader, Xlsx, open_workbook};
    let mut workbook: Xlsx<_> =
        open_workbook(path).map_err(|e: calamine::XlsxError| e.to_string())?;
    let mut table = Vec::new();
    for (sheet, name) in workbook.sheet_names().into_iter().enumerate() {
        let range = workbook.worksheet_range(&name).map_err(|e| e.to_string())?;
        let skip = usize::from(sheet > 0);
        table.extend(
            range
                .rows()
                .skip(skip)
                .map(|row| row.iter().map(|cell| cell.to_string()).collect()),
        );
    }
    Ok(table)
}

fn patients_of_audit(
    path: &Path,
    table: Vec<Vec<String>>,
) -> Result<(Vec<LookupRow>, u32), ImportError> {
    let fail = |message: String| ImportError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut rows = table.into_iter();
    let headers = rows.next().unwrap_or_default();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| fail(format!("no column {name}: not the audit of a run")))
    };
    let (id_column, index_column) = (column("patient_id_DICOM")?, column("patient_index")?);
    let mut patients: BTreeMap<String, LookupRow> = BTreeMap::new();
    let mut reserved = 0;
    let mut conflicts = Vec::new();
    for (row, record) in rows.enumerate() {
        let line = row + 2;
        let cell = |i: usize| record.get(i).map_or("", |c| c.trim());
        let Ok(index) = cell(index_column).parse::<u32>() else {
            continue; // a file that was never numbered
        };
        reserved = reserved.max(index);
        let id = cell(id_column);
        if id.is_empty() {
            continue;
        }
        let patient = patients.entry(id.to_string()).or_insert(LookupRow {
            values: vec![id.to_string()],
            patient_index: index,
            images: 0,
            line,
        });
        if patient.patient_index != index {
            conflicts.push(format!(
                "{}: line {line} gives patient index {index}, line {} gave {}",
                path.display(),
                patient.line,
                patient.patient_index
            ));
        }
        patient.images += 1;
    }
    if !conflicts.is_empty() {
        return Err(ImportError::Conflicts(conflicts));
    }
    Ok((patients.into_values().collect(), reserved))
}

/// A two-column lookup table, `identity,index`, with or without a header;
/// a key of several attributes gives their values separated by `\`.
pub fn read_lookup_table(path: &Path) -> Result<Vec<LookupRow>, ImportError> {
    let fail = |message: String| ImportError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(|e| fail(e.to_string()))?;
    let mut rows = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 1;
        let record = record.map_err(|e| fail(format!("line {line}: {e}")))?;
        let (Some(identity), Some(index)) = (record.get(0), record.get(1)) else {
            return Err(fail(format!("line {line}: write identity,index")));
        };
        let Ok(patient_index) = index.trim().parse::<u32>() else {
            if line == 1 {
                continue; // a header
            }
            return Err(fail(format!(
                "line {line}: {index:?} is not a patient index"
            )));
        };
        if patient_index == 0 {
            return Err(fail(format!("line {line}: patient indices start at 1")));
        }
        rows.push(LookupRow {
            values: identity.trim().split('\\').map(String::from).collect(),
            patient_index,
            images: 0,
            line,
        });
    }
    Ok(rows)
}

impl Registry {
    /// Adds `rows` (with their image counts) and reserves the indices up
    /// to `reserve`, in one transaction; any conflict refuses all of it.
    pub fn import(
        &mut self,
        rows: &[LookupRow],
        reserve: u32,
    ) -> Result<ImportReport, ImportError> {
        let mut conflicts = Vec::new();
        let mut by_index: BTreeMap<u32, &LookupRow> = BTreeMap::new();
        let mut by_identity: BTreeMap<&[String], &LookupRow> = BTreeMap::new();
        for row in rows {
            if let Some(other) = by_index.insert(row.patient_index, row) {
                conflicts.push(format!(
                    "lines {} and {} both claim patient index {}",
                    other.line, row.line, row.patient_index
                ));
            }
            if let Some(other) = by_identity.insert(&row.values, row) {
                conflicts.push(format!(
                    "lines {} and {} give one identity two indices ({} and {})",
                    other.line, row.line, other.patient_index, row.patient_index
                ));
            }
        }
        let path = self.path.clone();
        let sql = |source| {
            ImportError::Registry(RegistryError::Sql {
                path: path.clone(),
                source,
            })
        };
        let hashes: Vec<Vec<u8>> = rows
            .iter()
            .map(|row| {
                let text = identity_text(&row.values, false);
                self.hash(PATIENT_DOMAIN, &identity_bytes(PatientIdentity::Key(&text)))
            })
            .collect();
        let tx = self.conn.transaction().map_err(sql)?;
        let mut report = ImportReport::default();
        for (row, hash) in rows.iter().zip(&hashes) {
            let known: Option<(u32, u32)> = tx
                .query_row(
                    "SELECT patient_index, images FROM patients WHERE key_hash = ?1",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql)?;
            match known {
                Some((index, _)) if index != row.patient_index => conflicts.push(format!(
                    "line {}: the registry has this patient as index {index}, the input says {}",
                    row.line, row.patient_index
                )),
                Some((_, images)) => {
                    report.already_there += 1;
                    tx.execute(
                        "UPDATE patients SET images = ?2 WHERE key_hash = ?1",
                        params![hash, images.max(row.images)],
                    )
                    .map_err(sql)?;
                }
                None => {
                    let taken = tx
                        .query_row(
                            "SELECT 1 FROM patients WHERE patient_index = ?1",
                            [row.patient_index],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(sql)?
                        .is_some();
                    if taken {
                        conflicts.push(format!(
                            "line {}: patient index {} belongs to another patient in the registry",
                            row.line, row.patient_index
                        ));
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO patients (key_hash, patient_index, images, first_run)
                         VALUES (?1, ?2, ?3, NULL)",
                        params![hash, row.patient_index, row.images],
                    )
                    .map_err(sql)?;
                    report.added += 1;
                }
            }
        }
        if !conflicts.is_empty() {
            // Dropping the transaction rolls it back.
            return Err(ImportError::Conflicts(conflicts));
        }
        let highest = rows.iter().map(|r| r.patient_index).max().unwrap_or(0);
        let reserved: u32 = tx
            .query_row(
                "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta
                                  WHERE key = 'indices_reserved'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        report.reserved_up_to = reserved.max(reserve).max(highest);
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('indices_reserved', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [report.reserved_up_to.to_string()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::PatientKey;

    #[test]
    fn an_audit_imports_its_patients_and_a_conflict_imports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("_out.csv");
        std::fs::write(
            &audit,
            "source_file,patient_name,patient_id_DICOM,patient_index,file_size,destinaton_file,status\n\
             /a,X,P1,1,10,/d/1_001.dcm,OK\n\
             /b,Y,P2,2,10,/d/2_001.dcm,OK\n\
             /c,X,P1,1,10,/d/1_002.dcm,OK\n\
             /d,,,3,10,/d/3_001.dcm,OK\n\
             /e,,,,10,,ERROR\n",
        )
        .unwrap();
        let (rows, reserved) = read_audit(&audit).unwrap();
        assert_eq!(reserved, 3);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].patient_index, rows[0].images), (1, 2));

        let registry_path = dir.path().join("r.sqlite");
        let mut registry =
            Registry::open(&registry_path, b"k", &PatientKey::default(), false).unwrap();
        let report = registry.import(&rows, reserved).unwrap();
        assert_eq!((report.added, report.reserved_up_to), (2, 3));
        let p1 = registry.lookup(&["P1".into()], false).unwrap().unwrap();
        assert_eq!((p1.patient_index, p1.images), (1, 2));
        // New patients come after the reserved indices.
        let run = registry
            .start_run(&super::super::RunRecord::default())
            .unwrap();
        let mut batch = registry.batch(run, false).unwrap();
        let new = batch.assign(1, PatientIdentity::Key("P9"), None).unwrap();
        assert_eq!(new.patient_index, 4);
        let known = batch.assign(2, PatientIdentity::Key("P1"), None).unwrap();
        assert_eq!((known.patient_index, known.image_number), (1, 3));
        batch.commit().unwrap();

        let table = dir.path().join("lookup.csv");
        std::fs::write(&table, "identity,index\nP1,7\nP5,2\nP6,8\nP6,9\n").unwrap();
        let rows = read_lookup_table(&table).unwrap();
        let err = registry.import(&rows, 0).unwrap_err().to_string();
        assert!(err.contains("index 1, the input says 7"), "{err}");
        assert!(
            err.contains("patient index 2 belongs to another patient"),
            "{err}"
        );
        assert!(err.contains("one identity two indices"), "{err}");
        assert_eq!(registry.lookup(&["P6".into()], false).unwrap(), None);
    }
}
