//! `--resume` keeps an output found at its name only when it is one this
//! run would have written: a regular file (not a link), DICOM with a file
//! meta written by dicommanager, and carrying the SOP Instance UID the
//! rules make of its source's (in the meta and in the data set). Anything
//! else — a link to the raw source, a stray file, the output of another
//! file — is written again.

use std::path::Path;

use super::HeaderFacts;
use super::header::read_header_facts_of_file;
use super::rewrite::output_instance_uid;
use super::scan::open_dicom;
use crate::codec::{meta, open_file, unpad};
use crate::rules::{FileContext, RuleSet};

/// Why the entry at `output` is not the output of the source with
/// `facts`, if it is not.
pub fn check_kept(
    output: &Path,
    rules: &RuleSet,
    context: &FileContext<'_>,
    facts: &HeaderFacts,
) -> Result<(), String> {
    let entry = std::fs::symlink_metadata(output).map_err(|e| e.to_string())?;
    if !entry.is_file() {
        return Err("not a regular file".into());
    }
    let expected = output_instance_uid(rules, context, &facts.sop_uids)
        .map_err(|e| e.to_string())?
        .ok_or("the source has no SOP Instance UID to check it by")?;
    let expected = unpad(&expected);
    let opened = open_dicom(output, Vec::new())
        .map_err(|e| e.to_string())?
        .ok_or("not DICOM")?;
    let file_meta = open_file(output, opened.layout)
        .map_err(|e| e.to_string())?
        .meta
        .ok_or("no file meta")?;
    if file_meta.get(meta::IMPLEMENTATION_CLASS_UID).map(unpad)
        != Some(meta::IMPLEMENTATION_UID.as_bytes())
    {
        return Err("not written by dicommanager".into());
    }
    if file_meta
        .get(meta::MEDIA_STORAGE_SOP_INSTANCE_UID)
        .map(unpad)
        != Some(expected)
    {
        return Err("the output of another file".into());
    }
    let written = read_header_facts_of_file(&opened.head, &opened.file, opened.layout)
        .map_err(|e| e.to_string())?;
    if written.sop_uids.instance.as_deref().map(unpad) != Some(expected) {
        return Err("its data set is not the one its meta names".into());
    }
    Ok(())
}
