//! The rewrite: one file de-identified, the result written to a temporary
//! name and renamed.
//!
//! The element walk is the codec's ([`rewrite_dataset`]): it copies what
//! is kept byte for byte, rebuilds sequences, recomputes group lengths and
//! merges additions. This module orchestrates it: how a file is read and
//! written (whole in memory, around pixel data the kernel copies, or
//! streamed), the output's file meta, and the codec's [`Editor`] with the
//! rules: what each element becomes (a private one by its creator, inside
//! its sequence), and the de-identification stamp merged with an earlier
//! one.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use dicom_core::{Tag, VR};

use super::head::{HEAD, read_at};
use super::header::{HeaderFacts, read_header_facts_from, read_header_facts_of_file};
use super::identify::collect_identifiers;
use super::scan::open_dicom;
use super::{FileError, pixels};
use crate::charset::CharacterSet;
use crate::codec::{
    Collision, Editor, EncodedElement, FileMeta, Header, IO_BUFFER, Layout, OpenError, OpenedFile,
    Plan, SequencePlan, Source, StreamError, Syntax, describe_tag, meta, open_file, open_reader,
    pad, rewrite_dataset, unpad,
};
use crate::dest;
use crate::rules::{
    DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE, Disposition, ElementValue,
    FileContext, Identifiers, Parent, PrivateBlocks, Rule, RuleSet, encode_element, is_creator,
};
use dicom_dictionary_std::tags::{PATIENT_ID, PATIENT_NAME, SOP_CLASS_UID, SOP_INSTANCE_UID};

/// DCMTK's Private Generic File SOP Class (`UID_PrivateGenericFileSOPClass`),
/// the class DCMTK's file meta names for a data set without SOP Class UID.
const PRIVATE_GENERIC_FILE_CLASS: &str = "1.2.276.0.7230010.3.1.0.1";
/// The action whose value every output should carry.
const REPLACE_WITH_INDEX: &str = "replace-with-index";

/// One file to de-identify.
#[derive(Debug, Clone, Copy)]
pub struct FileJob<'a> {
    pub source: &'a Path,
    pub layout: Layout,
    /// The final output path; its folder must exist.
    pub output: &'a Path,
    /// Size of the source in bytes, as the scan saw it.
    pub size: u64,
    /// The source, opened by the scan.
    pub input: &'a File,
    /// What the scan read of its header (the file meta is made from its
    /// SOP UIDs before the data set is read).
    pub facts: &'a HeaderFacts,
    pub context: FileContext<'a>,
}

/// Files up to this size are read whole (into the buffer that holds their
/// head) and written whole from a buffer each worker keeps: few system
/// calls per file, and no allocation. Larger files are streamed.
const IN_MEMORY_LIMIT: u64 = 2 * 1024 * 1024;

thread_local! {
    /// A worker's output buffer, reused from file to file.
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// De-identifies one file; on any error nothing is left at `job.output`.
/// `input` holds the first `known` bytes of the source (its [`Head`]);
/// the rest of a small file is read after them. Returns how many values
/// were cleaned of identifying text.
///
/// [`Head`]: super::head::Head
pub fn rewrite_file(
    job: &FileJob<'_>,
    rules: &RuleSet,
    input: &mut Vec<u8>,
    known: usize,
) -> Result<u32, FileError> {
    let partial = partial_path(job.output);
    let result = if job.size <= IN_MEMORY_LIMIT {
        rewrite_in_memory(job, rules, &partial, input, known)
    } else {
        rewrite_streaming(job, rules, &partial)
    }
    .and_then(|cleaned| {
        dest::rename_no_replace(&partial, job.output)
            .map(|()| cleaned)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    FileError::OutputExists {
                        path: job.output.to_path_buf(),
                    }
                } else {
                    output_error(job.output, e)
                }
            })
    });
    if result.is_err() {
        // Best effort: the partial file may not exist yet.
        let _ = fs::remove_file(&partial);
    }
    result
}

fn rewrite_in_memory(
    job: &FileJob<'_>,
    rules: &RuleSet,
    partial: &Path,
    input: &mut Vec<u8>,
    known: usize,
) -> Result<u32, FileError> {
    OUTPUT.with_borrow_mut(|output| {
        output.clear();
        let copyable = job.facts.pixels.as_ref().filter(|span| {
            known == HEAD && span.value_start <= known && span.is_copyable(rules, job.size)
        });
        let filled = match copyable {
            Some(span) => {
                match rewrite_around_pixels(job, rules, partial, span, input, output) {
                    Some(done) => return done,
                    // The buffer was changed: start again from the top.
                    None => read_at(job.input, 0, usize::MAX, input, 0).map_err(read_error)?,
                }
            }
            _ => {
                let rest = read_at(job.input, known as u64, usize::MAX, input, known);
                known + rest.map_err(read_error)?
            }
        };
        output.clear();
        let cleaned = write_bytes(&input[..filled], job, output, rules)?;
        let mut file = create_private_file(partial)?;
        file.write_all(output)
            .map_err(|e| output_error(partial, e))?;
        Ok(cleaned)
    })
}

fn read_error(source: io::Error) -> FileError {
    FileError::Stream(StreamError::Read { offset: 0, source })
}

/// [`rewrite_in_memory`] of a file whose pixel value the kernel copies:
/// the rewriter gets the header and whatever follows the pixel data, with
/// the pixel value's length set to zero; the output gets the value back
/// between the two. `None` when the output's pixel data cannot be found
/// again (the caller then rewrites the whole file the usual way).
fn rewrite_around_pixels(
    job: &FileJob<'_>,
    rules: &RuleSet,
    partial: &Path,
    span: &pixels::PixelSpan,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
) -> Option<Result<u32, FileError>> {
    input[span.length_field.clone()].fill(0);
    let tail = match read_at(
        job.input,
        span.value_end(),
        usize::MAX,
        input,
        span.value_start,
    ) {
        Ok(tail) => tail,
        Err(err) => return Some(Err(read_error(err))),
    };
    let shortened = &input[..span.value_start + tail];
    let cleaned = match write_bytes(shortened, job, output, rules) {
        Ok(cleaned) => cleaned,
        Err(err) => return Some(Err(err)),
    };
    let header = &input[span.header_start..span.value_start];
    let at = pixels::find_in_output(output, span, header, tail == 0)?;
    output[at.length_field.clone()].copy_from_slice(&at.length_bytes(span.len));
    Some(write_around_pixels(partial, output, at.value_start, job.input, span).map(|()| cleaned))
}

fn write_around_pixels(
    partial: &Path,
    output: &[u8],
    split: usize,
    source: &File,
    span: &pixels::PixelSpan,
) -> Result<(), FileError> {
    let mut file = create_private_file(partial)?;
    let fail = |e| output_error(partial, e);
    file.write_all(&output[..split]).map_err(fail)?;
    let offset = span.value_start as u64;
    pixels::copy_range(source, offset, &mut file, u64::from(span.len)).map_err(|e| {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => FileError::Stream(StreamError::Truncated {
                what: "the value of PixelData (7FE0,0010): the file is shorter than when it was listed"
                    .into(),
                offset,
            }),
            // Only writing can find the destination full.
            _ if dest::is_out_of_space(&e) => output_error(partial, e),
            _ => FileError::Stream(StreamError::Read { offset, source: e }),
        }
    })?;
    file.write_all(&output[split..]).map_err(fail)
}

fn rewrite_streaming(job: &FileJob<'_>, rules: &RuleSet, partial: &Path) -> Result<u32, FileError> {
    let identifiers = identifiers_for(rules, || open_file(job.source, job.layout))?;
    let opened = open_file(job.source, job.layout)?;
    let file = create_private_file(partial)?;
    let mut out = BufWriter::with_capacity(IO_BUFFER, file);
    let context = FileContext {
        identifiers: &identifiers,
        ..job.context
    };
    write_deidentified(opened, &mut out, rules, job.facts, context)?;
    out.into_inner()
        .map(|_| identifiers.cleaned())
        .map_err(|e| output_error(partial, e.into_error()))
}

/// De-identifies a DICOM file held in memory into `out` (benchmarks and
/// fuzzing use this; it is the same code path as [`rewrite_file`]).
pub fn rewrite_bytes<W: Write>(
    input: &[u8],
    layout: Layout,
    out: &mut W,
    rules: &RuleSet,
    context: FileContext<'_>,
) -> Result<(), FileError> {
    let facts = read_header_facts_from(input, layout)?;
    write_prepared(input, layout, out, rules, context, &facts).map(drop)
}

/// De-identifies the file at `source` into `output` (whose folder must
/// exist) by the path a run takes, scan then rewrite, without numbering:
/// `context` gives the patient index. Fuzzing compares it with
/// [`rewrite_bytes`], which must write the same bytes.
pub fn rewrite_path(
    source: &Path,
    output: &Path,
    rules: &RuleSet,
    context: FileContext<'_>,
) -> Result<(), FileError> {
    let not_dicom = || OpenError::Io(io::Error::other("not a DICOM file"));
    let opened = open_dicom(source, Vec::new())
        .map_err(OpenError::Io)?
        .ok_or_else(not_dicom)?;
    let facts = read_header_facts_of_file(&opened.head, &opened.file, opened.layout)?;
    let job = FileJob {
        source,
        layout: opened.layout,
        output,
        size: opened.size,
        input: &opened.file,
        facts: &facts,
        context,
    };
    let known = opened.head.bytes().len();
    rewrite_file(&job, rules, &mut opened.head.into_buffer(), known).map(drop)
}

/// [`rewrite_bytes`] of a file the scan has read the header of.
fn write_bytes(
    input: &[u8],
    job: &FileJob<'_>,
    out: &mut Vec<u8>,
    rules: &RuleSet,
) -> Result<u32, FileError> {
    write_prepared(input, job.layout, out, rules, job.context, job.facts)
}

fn write_prepared<W: Write>(
    input: &[u8],
    layout: Layout,
    out: &mut W,
    rules: &RuleSet,
    context: FileContext<'_>,
    facts: &HeaderFacts,
) -> Result<u32, FileError> {
    let identifiers = identifiers_for(rules, || open_reader(input, layout))?;
    let context = FileContext {
        identifiers: &identifiers,
        ..context
    };
    let opened = open_reader(input, layout)?;
    write_deidentified(opened, out, rules, facts, context)?;
    Ok(identifiers.cleaned())
}

/// The file's identifying values when the rules clean text (a read of
/// the header more), else none.
fn identifiers_for<'a>(
    rules: &RuleSet,
    open: impl FnOnce() -> Result<OpenedFile<'a>, OpenError>,
) -> Result<Identifiers, FileError> {
    if rules.cleans() {
        collect_identifiers(open()?)
    } else {
        Ok(Identifiers::default())
    }
}

fn write_deidentified<W: Write>(
    mut opened: OpenedFile<'_>,
    out: &mut W,
    rules: &RuleSet,
    facts: &HeaderFacts,
    context: FileContext<'_>,
) -> Result<(), FileError> {
    let rewriter = Rewriter {
        rules,
        file: context,
    };
    let mut out_meta = rewriter.meta(opened.meta.as_ref(), &facts.sop_uids)?;
    out_meta.set_uid(meta::TRANSFER_SYNTAX_UID, &opened.transfer_syntax);
    out_meta.set_uid(meta::IMPLEMENTATION_CLASS_UID, meta::IMPLEMENTATION_UID);
    out_meta.set(
        meta::IMPLEMENTATION_VERSION_NAME,
        VR::SH,
        pad(meta::IMPLEMENTATION_VERSION.as_bytes(), b' '),
    );
    out_meta.set(meta::INFORMATION_VERSION, VR::OB, vec![0, 1]);
    out_meta.write(out)?;
    let pseudonyms = rewriter.missing_pseudonyms(facts, opened.syntax)?;
    rewriter.write_dataset(&mut opened.dataset, out, opened.syntax, &pseudonyms)
}

/// SOP classes of composite objects without a Patient Module: a missing
/// Patient's Name or ID is not added to them.
const WITHOUT_PATIENT_MODULE: [&str; 9] = [
    "1.2.840.10008.1.3.10",          // Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.38.1",      // Hanging Protocol
    "1.2.840.10008.5.1.4.39.1",      // Color Palette
    "1.2.840.10008.5.1.4.43.1",      // Generic Implant Template
    "1.2.840.10008.5.1.4.44.1",      // Implant Assembly Template
    "1.2.840.10008.5.1.4.45.1",      // Implant Template Group
    "1.2.840.10008.5.1.4.1.1.200.1", // CT Defined Procedure Protocol
    "1.2.840.10008.5.1.4.1.1.200.3", // Protocol Approval
    "1.2.840.10008.5.1.4.1.1.201.1", // Inventory
];

/// The temporary name an output has until it is complete: hidden, in the
/// same folder (so the rename is atomic), never ending in `.dcm`.
pub fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.partial"))
}

/// A new temporary output; a stale one (from a killed run) or anything
/// planted at its name is removed first, never written through.
fn create_private_file(path: &Path) -> Result<File, FileError> {
    dest::create_private(path).map_err(|e| output_error(path, e))
}

/// The SOP Instance UID the output of a file with these SOP UIDs
/// carries (in its meta and data set), as the rules make it; `None` when
/// the source has none or the rules remove it.
pub(super) fn output_instance_uid(
    rules: &RuleSet,
    context: &FileContext<'_>,
    sop_uids: &super::SopUids,
) -> Result<Option<Vec<u8>>, FileError> {
    let Some(instance) = sop_uids.instance.as_deref() else {
        return Ok(None);
    };
    let rewriter = Rewriter {
        rules,
        file: *context,
    };
    let charset = CharacterSet::default();
    let value = ElementValue {
        tag: meta::MEDIA_STORAGE_SOP_INSTANCE_UID,
        vr: VR::UI,
        bytes: instance,
        charset: &charset,
    };
    rewriter.apply(rules.rule_for(SOP_INSTANCE_UID), &value)
}

fn output_error(path: &Path, source: io::Error) -> FileError {
    FileError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// The rules of a run applied to one file: its output meta, and the
/// codec's [`Editor`] for its data set.
struct Rewriter<'a> {
    rules: &'a RuleSet,
    file: FileContext<'a>,
}

impl Rewriter<'_> {
    /// The output file meta: the SOP UIDs of the data set (where it has
    /// them) changed exactly as the data set's own, so that meta and data
    /// set agree; other elements of the source meta by their rules; the
    /// structural ones are set by the caller.
    fn meta(
        &self,
        source: Option<&FileMeta>,
        sop_uids: &super::SopUids,
    ) -> Result<FileMeta, FileError> {
        let charset = CharacterSet::default();
        let mut out = FileMeta::default();
        let apply = |out: &mut FileMeta, tag: Tag, rule_tag: Tag, vr: VR, bytes: &[u8]| {
            let value = ElementValue {
                tag,
                vr,
                bytes,
                charset: &charset,
            };
            if let Some(bytes) = self.apply(self.rules.rule_for(rule_tag), &value)? {
                out.set(tag, vr, bytes);
            }
            Ok::<(), FileError>(())
        };
        for element in source.map(|m| m.elements.as_slice()).unwrap_or_default() {
            let (rule_tag, from_dataset) = match element.tag {
                meta::MEDIA_STORAGE_SOP_CLASS_UID => (SOP_CLASS_UID, &sop_uids.class),
                meta::MEDIA_STORAGE_SOP_INSTANCE_UID => (SOP_INSTANCE_UID, &sop_uids.instance),
                meta::INFORMATION_VERSION
                | meta::TRANSFER_SYNTAX_UID
                | meta::IMPLEMENTATION_CLASS_UID
                | meta::IMPLEMENTATION_VERSION_NAME => continue,
                tag => (tag, &None),
            };
            let bytes = from_dataset.as_deref().unwrap_or(&element.value);
            apply(&mut out, element.tag, rule_tag, element.vr, bytes)?;
        }
        for (tag, rule_tag, value) in [
            (
                meta::MEDIA_STORAGE_SOP_CLASS_UID,
                SOP_CLASS_UID,
                &sop_uids.class,
            ),
            (
                meta::MEDIA_STORAGE_SOP_INSTANCE_UID,
                SOP_INSTANCE_UID,
                &sop_uids.instance,
            ),
        ] {
            if let (None, Some(bytes)) = (out.get(tag), value) {
                apply(&mut out, tag, rule_tag, VR::UI, bytes)?;
            }
        }
        // A source meta without the class is copied as it is. A data set
        // without meta and without a class (ACR-NEMA 2.0 style: group
        // lengths, no SOP Class UID) gets what DCMTK writes for it
        // (`dcmconv`): the class DCMTK registered for files of no known
        // class. Claiming Secondary Capture would promise the attributes
        // of an IOD the data set does not have; this names none, and DCMTK
        // and pydicom read it. The data set itself is left as it was.
        if source.is_none() && out.get(meta::MEDIA_STORAGE_SOP_CLASS_UID).is_none() {
            out.set_uid(
                meta::MEDIA_STORAGE_SOP_CLASS_UID,
                PRIVATE_GENERIC_FILE_CLASS,
            );
        }
        Ok(out)
    }

    /// `None` when the element goes, else its (padded) output value.
    fn apply(
        &self,
        rule: &dyn Rule,
        value: &ElementValue<'_>,
    ) -> Result<Option<Vec<u8>>, FileError> {
        match rule.disposition(value.vr) {
            Disposition::Keep => Ok(Some(value.bytes.to_vec())),
            Disposition::Remove => Ok(None),
            Disposition::Rewrite => {
                let new = rule
                    .apply(value, &self.file)
                    .map_err(|source| FileError::Rule {
                        tag: value.tag,
                        source,
                    })?;
                Ok(Some(pad(&new, crate::rules::padding(value.vr))))
            }
        }
    }

    /// Patient's Name and Patient ID where the profile replaces them with
    /// the patient index but the data set has none: every output of a
    /// composite object then carries its pseudonym (a PACS groups the
    /// files of one index as one patient). Type 2 in the Patient Module,
    /// so never added to objects without one.
    fn missing_pseudonyms(
        &self,
        facts: &HeaderFacts,
        syntax: Syntax,
    ) -> Result<Vec<EncodedElement>, FileError> {
        // The usual case: both are there, nothing to add.
        if facts.has_patient_name && facts.has_patient_id {
            return Ok(Vec::new());
        }
        let class = facts.sop_uids.class.as_deref().map(unpad);
        let has_patient_module = class
            .is_some_and(|class| !WITHOUT_PATIENT_MODULE.iter().any(|c| c.as_bytes() == class));
        if !has_patient_module {
            return Ok(Vec::new());
        }
        let index = self.file.patient_index.to_string();
        let mut added = Vec::new();
        for (tag, vr, present) in [
            (PATIENT_NAME, VR::PN, facts.has_patient_name),
            (PATIENT_ID, VR::LO, facts.has_patient_id),
        ] {
            if !present && self.rules.rule_for(tag).name() == REPLACE_WITH_INDEX {
                added.push(encode_element(tag, vr, index.as_bytes(), syntax)?);
            }
        }
        Ok(added)
    }

    /// Rewrites the data set, the stamp and the missing pseudonyms added.
    fn write_dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
        pseudonyms: &[EncodedElement],
    ) -> Result<(), FileError> {
        let stamp = self.rules.stamp().encode(syntax)?;
        // Both lists are in tag order, the pseudonyms (group 0010) first.
        let joined: Vec<EncodedElement>;
        let additions = if pseudonyms.is_empty() {
            stamp
        } else {
            joined = pseudonyms.iter().chain(stamp).cloned().collect();
            &joined
        };
        rewrite_dataset(self, source, out, syntax, Scope::default(), additions)
    }

    /// The rule for the element `tag` of a data set: by the creator of
    /// its private block where rules name creators, else by tag.
    fn rule_in(&self, scope: &Scope, tag: Tag) -> &dyn Rule {
        match self.rules.by_creator() {
            Some(_) => self.rules.rule_in(tag, &scope.blocks, scope.parent),
            None => self.rules.rule_for(tag),
        }
    }
}

/// What the rules need to know of the data set (or item) an element is in.
#[derive(Debug, Clone, Default)]
struct Scope {
    /// Who reserved the private blocks of this data set.
    blocks: PrivateBlocks,
    /// The sequence of the item, where rules about one sequence need it.
    parent: Option<Parent>,
}

impl Editor for Rewriter<'_> {
    type Scope = Scope;
    type Error = FileError;

    fn plan(&self, scope: &Scope, header: &Header) -> Plan {
        // A Private Creator is read (it says whose the block is; see
        // rules::private) where some rule names a creator.
        if self.rules.by_creator().is_some() && is_creator(header.tag) {
            return Plan::Read;
        }
        match self
            .rule_in(scope, header.tag)
            .disposition(header.value_vr())
        {
            Disposition::Keep => Plan::Copy,
            Disposition::Remove => Plan::Remove,
            Disposition::Rewrite => Plan::Read,
        }
    }

    fn rewrite(
        &self,
        scope: &mut Scope,
        header: &Header,
        vr: VR,
        value: &[u8],
        charset: &CharacterSet,
    ) -> Result<Option<Vec<u8>>, FileError> {
        let rule = match self.rules.by_creator() {
            Some(table) if is_creator(header.tag) => {
                let known = scope.blocks.reserve(table, header.tag, value);
                self.rules.creator_rule(header.tag, known)
            }
            _ => self.rule_in(scope, header.tag),
        };
        let value = ElementValue {
            tag: header.tag,
            vr,
            bytes: value,
            charset,
        };
        self.apply(rule, &value)
    }

    fn sequence(&self, scope: &Scope, header: &Header) -> SequencePlan<Scope> {
        match self.rule_in(scope, header.tag).disposition(VR::SQ) {
            Disposition::Remove => SequencePlan::Remove,
            Disposition::Rewrite => SequencePlan::Empty,
            Disposition::Keep => SequencePlan::Keep(Scope {
                blocks: PrivateBlocks::default(),
                parent: self.rules.parent_of(header.tag, &scope.blocks),
            }),
        }
    }

    fn fragments(&self, scope: &Scope, header: &Header) -> SequencePlan<()> {
        match self.rule_in(scope, header.tag).disposition(header.vr) {
            Disposition::Remove => SequencePlan::Remove,
            Disposition::Rewrite => SequencePlan::Empty,
            Disposition::Keep => SequencePlan::Keep(()),
        }
    }

    /// The source's own De-identification Method and its Code Sequence
    /// are kept and extended with ours; the other stamped attributes
    /// (and the pseudonyms) replace the source's.
    fn collision(&self, header: &Header) -> Collision<Scope> {
        match header.tag {
            DEIDENTIFICATION_METHOD => Collision::Value,
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE => Collision::Items(Scope::default()),
            _ => Collision::Replace,
        }
    }

    fn merge(
        &self,
        header: &Header,
        existing: &[u8],
        syntax: Syntax,
    ) -> Result<EncodedElement, FileError> {
        let stamp = self.rules.stamp();
        match header.tag {
            DEIDENTIFICATION_METHOD => Ok(stamp.merged_method(existing, syntax)?),
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE => {
                Ok(stamp.merged_code_sequence(existing, syntax)?)
            }
            tag => Err(FileError::Internal(format!(
                "no merge of {} with the stamp",
                describe_tag(tag)
            ))),
        }
    }
}
