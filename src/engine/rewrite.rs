//! The rewrite: one file read element by element, the rules applied
//! at every depth, the result written to a temporary name and renamed.
//!
//! Elements the rules keep are copied byte for byte (pixel data streamed,
//! never held); only rewritten values are decoded. Sequences are rebuilt in
//! memory so that their lengths stay right when something inside changed;
//! a sequence or item keeps its original length style (defined or
//! delimited). Group lengths (gggg,0000) in the data set are recomputed
//! (the group is buffered until its end), and left out with a group the
//! rules emptied. The byte layout (headers, values, delimiters, group
//! lengths, transcoding) is the codec's (`crate::codec`); this module
//! decides, element by element, what the rules make of the file.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use dicom_core::{Tag, VR};
use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::head::{HEAD, read_at};
use super::header::{HeaderFacts, read_header_facts_from, read_header_facts_of_file};
use super::identify::collect_identifiers;
use super::scan::open_dicom;
use super::{FileError, pixels};
use crate::charset::CharacterSet;
use crate::codec::{
    Coding, FileMeta, Header, IO_BUFFER, ITEM, ITEM_DELIMITER, Layout, MAX_DEPTH, OpenError,
    OpenedFile, SEQUENCE_DELIMITER, Source, StreamError, Syntax, What, all_read, checked_len,
    delimiter, ends_exactly, meta, open_file, open_reader, pad, skip_value, transcode_value, unpad,
    write_group,
};
use crate::dest;
use crate::rules::{
    DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE, Disposition, ElementValue,
    FileContext, Identifiers, Rule, RuleSet, StampElement, encode_element,
};
use dicom_dictionary_std::tags::{
    PATIENT_ID, PATIENT_NAME, SOP_CLASS_UID, SOP_INSTANCE_UID, SPECIFIC_CHARACTER_SET,
};

const FILE_META_GROUP: u16 = 0x0002;
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

/// Where a data set (or item) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// At the end of the stream (the top-level data set).
    Stream,
    /// At this stream position (an item of defined length).
    At(u64),
    /// At an Item Delimitation Item.
    Delimiter,
}

/// De-identifies one file; on any error nothing is left at `job.output`.
/// `input` holds the first `known` bytes of the source (its [`Head`]);
/// the rest of a small file is read after them.
///
/// [`Head`]: super::head::Head
pub fn rewrite_file(
    job: &FileJob<'_>,
    rules: &RuleSet,
    input: &mut Vec<u8>,
    known: usize,
) -> Result<(), FileError> {
    let partial = partial_path(job.output);
    let result = if job.size <= IN_MEMORY_LIMIT {
        rewrite_in_memory(job, rules, &partial, input, known)
    } else {
        rewrite_streaming(job, rules, &partial)
    }
    .and_then(|()| {
        dest::rename_no_replace(&partial, job.output).map_err(|e| {
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
) -> Result<(), FileError> {
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
        write_bytes(&input[..filled], job, output, rules)?;
        let mut file = create_private_file(partial)?;
        file.write_all(output).map_err(|e| output_error(partial, e))
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
) -> Option<Result<(), FileError>> {
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
    if let Err(err) = write_bytes(shortened, job, output, rules) {
        return Some(Err(err));
    }
    let header = &input[span.header_start..span.value_start];
    let at = pixels::find_in_output(output, span, header, tail == 0)?;
    output[at.length_field.clone()].copy_from_slice(&at.length_bytes(span.len));
    Some(write_around_pixels(
        partial,
        output,
        at.value_start,
        job.input,
        span,
    ))
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

fn rewrite_streaming(job: &FileJob<'_>, rules: &RuleSet, partial: &Path) -> Result<(), FileError> {
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
        .map(drop)
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
    write_prepared(input, layout, out, rules, context, &facts)
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
    rewrite_file(&job, rules, &mut opened.head.into_buffer(), known)
}

/// [`rewrite_bytes`] of a file the scan has read the header of.
fn write_bytes(
    input: &[u8],
    job: &FileJob<'_>,
    out: &mut Vec<u8>,
    rules: &RuleSet,
) -> Result<(), FileError> {
    write_prepared(input, job.layout, out, rules, job.context, job.facts)
}

fn write_prepared<W: Write>(
    input: &[u8],
    layout: Layout,
    out: &mut W,
    rules: &RuleSet,
    context: FileContext<'_>,
    facts: &HeaderFacts,
) -> Result<(), FileError> {
    let identifiers = identifiers_for(rules, || open_reader(input, layout))?;
    let context = FileContext {
        identifiers: &identifiers,
        ..context
    };
    let opened = open_reader(input, layout)?;
    write_deidentified(opened, out, rules, facts, context)
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

/// Where a data set sits in the file.
#[derive(Debug, Clone, Copy)]
struct Place {
    coding: Coding,
    end: End,
    depth: usize,
}

/// Where in the file an element sits, and the state it may change.
struct Level<'a> {
    coding: Coding,
    depth: usize,
    charset: &'a mut CharacterSet,
}

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
    ) -> Result<Vec<StampElement>, FileError> {
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

    fn write_dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
        pseudonyms: &[StampElement],
    ) -> Result<(), FileError> {
        let top = CharacterSet::default();
        let stamp = self.rules.stamp().encode(syntax)?;
        // Both lists are in tag order, the pseudonyms (group 0010) first.
        let joined: Vec<StampElement>;
        let stamp = if pseudonyms.is_empty() {
            stamp
        } else {
            joined = pseudonyms.iter().chain(stamp).cloned().collect();
            &joined
        };
        let place = Place {
            coding: Coding::same(syntax),
            end: End::Stream,
            depth: 0,
        };
        if syntax.deflated {
            // The fastest level: re-deflating must not make a run CPU-bound
            // (and a hostile file that inflates hugely must not take ages).
            let mut deflate = DeflateEncoder::new(out, Compression::fast());
            self.dataset(source, &mut deflate, place, top, stamp)?;
            all_read(source)?;
            deflate.finish().map_err(StreamError::Write)?;
            Ok(())
        } else {
            self.dataset(source, out, place, top, stamp)?;
            Ok(all_read(source)?)
        }
    }

    /// Rewrites the elements of one data set (the file's, or an item's),
    /// adding `additions` (in tag order) where they belong, in place of
    /// source elements with the same tag.
    /// A group length element, where present, is recomputed: the group is
    /// buffered until its last element so that its new length is known.
    fn dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        place: Place,
        mut charset: CharacterSet,
        mut additions: &[StampElement],
    ) -> Result<(), FileError> {
        let Place { coding, end, depth } = place;
        let syntax = coding.read;
        let mut group: Option<(u16, Vec<u8>)> = None;
        loop {
            let header = self.next_header(source, syntax, end)?;
            let mut replaced = false;
            while let Some(addition) = additions.first()
                && header.is_none_or(|h| addition.tag <= h.tag)
            {
                if let Some((number, buffered)) = &group
                    && *number != addition.tag.group()
                {
                    write_group(out, coding.write, *number, buffered)?;
                    group = None;
                }
                let same = header.filter(|h| h.tag == addition.tag);
                let merged = match &same {
                    Some(h) => self.merge_stamp(source, h, coding, depth, &charset)?,
                    None => None,
                };
                let bytes = merged.as_ref().map_or(&addition.bytes, |m| &m.bytes);
                match &mut group {
                    Some((_, buffered)) => buffered.extend_from_slice(bytes),
                    None => out.write_all(bytes).map_err(StreamError::Write)?,
                }
                if let Some(h) = &same {
                    if merged.is_none() {
                        skip_value(source, h, syntax, depth)?;
                    }
                    replaced = true;
                }
                additions = &additions[1..];
            }
            if replaced {
                continue;
            }
            if let Some((number, buffered)) = &group
                && header.is_none_or(|h| h.tag.group() != *number)
            {
                write_group(out, coding.write, *number, buffered)?;
                group = None;
            }
            let Some(header) = header else {
                return Ok(());
            };
            // File meta elements inside the data set (a meta whose group
            // length ended it early) would be read back as part of the
            // output's meta: the meta is rebuilt anyway, so they go.
            if depth == 0 && header.tag.group() == FILE_META_GROUP {
                skip_value(source, &header, syntax, depth)?;
                continue;
            }
            if header.tag.element() == 0x0000 {
                skip_value(source, &header, syntax, depth)?;
                group = Some((header.tag.group(), Vec::new()));
                continue;
            }
            let level = Level {
                coding,
                depth,
                charset: &mut charset,
            };
            match &mut group {
                Some((_, buffered)) => self.element(source, buffered, &header, level)?,
                None => self.element(source, out, &header, level)?,
            }
        }
    }

    /// The stamp element for `header`, the source's own De-identification
    /// Method or its Code Sequence, kept and extended with ours (the
    /// source's value is consumed); `None` for the other stamped
    /// attributes, which ours replace.
    fn merge_stamp<R: Read>(
        &self,
        source: &mut Source<R>,
        header: &Header,
        coding: Coding,
        depth: usize,
        charset: &CharacterSet,
    ) -> Result<Option<StampElement>, FileError> {
        let stamp = self.rules.stamp();
        match header.tag {
            DEIDENTIFICATION_METHOD if !header.is_undefined_length() => {
                let existing = source.read_value(header.len, What::Value(header.tag))?;
                Ok(Some(stamp.merged_method(&existing, coding.write)?))
            }
            // An item syntax other than the data set's (VR UN) would mix
            // two encodings in one sequence: such a sequence is replaced.
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE
                if header.is_sequence()
                    && !coding.transcodes()
                    && header.item_syntax(coding.read) == coding.read =>
            {
                let mut items = Vec::new();
                self.items(source, &mut items, coding, header, depth + 1, charset)?;
                Ok(Some(stamp.merged_code_sequence(&items, coding.write)?))
            }
            _ => Ok(None),
        }
    }

    /// The next element header of a data set; `None` at its end.
    fn next_header<R: Read>(
        &self,
        source: &mut Source<R>,
        syntax: Syntax,
        end: End,
    ) -> Result<Option<Header>, FileError> {
        if let End::At(limit) = end
            && source.position() >= limit
        {
            ends_exactly(source.position(), limit, "an item")?;
            return Ok(None);
        }
        let header = if end == End::Stream {
            Header::read_top_level(source, syntax)?
        } else {
            Header::read(source, syntax)?
        };
        let Some(header) = header else {
            return match end {
                End::Stream => Ok(None),
                _ => Err(StreamError::Truncated {
                    what: "a sequence item".into(),
                    offset: source.position(),
                }
                .into()),
            };
        };
        // An item delimiter ends an item, also (tolerated) one of defined length.
        if header.tag == ITEM_DELIMITER && end != End::Stream {
            return Ok(None);
        }
        if header.tag.group() == 0xFFFE {
            return Err(StreamError::UnexpectedTag {
                tag: header.tag,
                offset: source.position(),
                context: "among data elements",
            }
            .into());
        }
        Ok(Some(header))
    }

    /// Rewrites one element whose header was just read.
    fn element<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        header: &Header,
        level: Level<'_>,
    ) -> Result<(), FileError> {
        let Level {
            coding,
            depth,
            charset,
        } = level;
        let rule = self.rules.rule_for(header.tag);
        if header.is_sequence() {
            return self.sequence(source, out, coding, header, rule, depth, charset);
        }
        if header.is_fragment_sequence() {
            return self.fragments(source, out, coding, header, rule);
        }
        if header.is_undefined_length() {
            return Err(StreamError::UnexpectedTag {
                tag: header.tag,
                offset: source.position(),
                context: "with undefined length but no sequence VR",
            }
            .into());
        }
        let what = What::Value(header.tag);
        let vr = header.value_vr();
        let keep = rule.disposition(vr) == Disposition::Keep;
        if keep && header.tag != SPECIFIC_CHARACTER_SET && !coding.transcodes() {
            header.write(out, coding.write)?;
            source.copy_value(header.len, out, what)?;
            return Ok(());
        }
        let bytes = source.read_value(header.len, what)?;
        if header.tag == SPECIFIC_CHARACTER_SET {
            *charset = CharacterSet::from_declaration(&bytes);
        }
        let new = if keep {
            Some(bytes.clone())
        } else {
            let value = ElementValue {
                tag: header.tag,
                vr,
                bytes: &bytes,
                charset,
            };
            self.apply(rule, &value)?
        };
        let Some(mut new) = new else {
            return Ok(());
        };
        let len = u32::try_from(new.len())
            .map_err(|_| StreamError::Write(io::Error::other("value too long")))?;
        // A value written as UN and rewritten as its dictionary VR is
        // written with that VR: it is now a value of that VR.
        let mut vr = if new == bytes { header.vr } else { vr };
        if coding.transcodes() {
            vr = transcode_value(&mut new, header.value_vr(), coding);
        }
        Header { len, vr, ..*header }.write(out, coding.write)?;
        out.write_all(&new).map_err(StreamError::Write)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // the recursion's whole state, passed down by value
    fn sequence<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        coding: Coding,
        header: &Header,
        rule: &dyn Rule,
        depth: usize,
        charset: &CharacterSet,
    ) -> Result<(), FileError> {
        let inner = coding.items_of(header);
        // A sequence whose items change encoding (UN read, explicit VR
        // written) is written as what it is: a sequence.
        let header = if coding.transcodes() || inner.transcodes() {
            Header {
                vr: VR::SQ,
                ..*header
            }
        } else {
            *header
        };
        match rule.disposition(VR::SQ) {
            Disposition::Remove => {
                skip_value(source, &header, coding.read, depth)?;
            }
            Disposition::Rewrite => {
                // The only rewrite that fits a sequence is an empty one.
                skip_value(source, &header, coding.read, depth)?;
                Header { len: 0, ..header }.write(out, coding.write)?;
            }
            Disposition::Keep => {
                if depth >= MAX_DEPTH {
                    return Err(StreamError::TooDeep {
                        max: MAX_DEPTH,
                        offset: source.position(),
                    }
                    .into());
                }
                let mut items = Vec::new();
                self.items(source, &mut items, inner, &header, depth + 1, charset)?;
                if header.is_undefined_length() {
                    header.write(out, coding.write)?;
                    out.write_all(&items).map_err(StreamError::Write)?;
                    delimiter(SEQUENCE_DELIMITER).write(out, inner.write)?;
                } else {
                    let len = checked_len(items.len())?;
                    Header { len, ..header }.write(out, coding.write)?;
                    out.write_all(&items).map_err(StreamError::Write)?;
                }
            }
        }
        Ok(())
    }

    fn items<R: Read>(
        &self,
        source: &mut Source<R>,
        out: &mut Vec<u8>,
        coding: Coding,
        sequence: &Header,
        depth: usize,
        charset: &CharacterSet,
    ) -> Result<(), FileError> {
        let syntax = coding.read;
        let end =
            (!sequence.is_undefined_length()).then(|| source.position() + u64::from(sequence.len));
        loop {
            if let Some(end) = end
                && source.position() >= end
            {
                return Ok(ends_exactly(source.position(), end, "a sequence")?);
            }
            let item = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
                what: What::Sequence(sequence.tag).to_string(),
                offset: source.position(),
            })?;
            match item.tag {
                // Some writers close defined-length sequences with a
                // delimiter as well; it ends the sequence either way.
                SEQUENCE_DELIMITER => return Ok(()),
                ITEM => {}
                tag => {
                    return Err(StreamError::UnexpectedTag {
                        tag,
                        offset: source.position(),
                        context: "where a sequence item should start",
                    }
                    .into());
                }
            }
            let item_end = if item.is_undefined_length() {
                End::Delimiter
            } else {
                let item_end = source.position() + u64::from(item.len);
                if end.is_some_and(|end| item_end > end) {
                    return Err(StreamError::ItemOverrun {
                        len: item.len,
                        offset: source.position(),
                    }
                    .into());
                }
                End::At(item_end)
            };
            let mut body = Vec::new();
            let place = Place {
                coding,
                end: item_end,
                depth,
            };
            self.dataset(source, &mut body, place, charset.clone(), &[])?;
            if item.is_undefined_length() {
                item.write(out, coding.write)?;
                out.extend_from_slice(&body);
                delimiter(ITEM_DELIMITER).write(out, coding.write)?;
            } else {
                Header {
                    len: checked_len(body.len())?,
                    ..item
                }
                .write(out, coding.write)?;
                out.extend_from_slice(&body);
            }
        }
    }

    /// Encapsulated pixel data: fragments copied as they are, one at a time.
    fn fragments<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        coding: Coding,
        header: &Header,
        rule: &dyn Rule,
    ) -> Result<(), FileError> {
        let disposition = rule.disposition(header.vr);
        if disposition != Disposition::Keep {
            skip_value(source, header, coding.read, 0)?;
            if disposition == Disposition::Rewrite {
                Header { len: 0, ..*header }.write(out, coding.write)?;
            }
            return Ok(());
        }
        header.write(out, coding.write)?;
        loop {
            let item =
                Header::read(source, coding.read)?.ok_or_else(|| StreamError::Truncated {
                    what: "the encapsulated Pixel Data".into(),
                    offset: source.position(),
                })?;
            match item.tag {
                SEQUENCE_DELIMITER => {
                    delimiter(SEQUENCE_DELIMITER).write(out, coding.write)?;
                    return Ok(());
                }
                ITEM if !item.is_undefined_length() => {
                    item.write(out, coding.write)?;
                    source.copy_value(item.len, out, "a Pixel Data fragment")?;
                }
                tag => {
                    return Err(StreamError::UnexpectedTag {
                        tag,
                        offset: source.position(),
                        context: "inside encapsulated Pixel Data",
                    }
                    .into());
                }
            }
        }
    }
}
