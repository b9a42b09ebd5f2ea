//! The second pass: one file read element by element, the rules applied
//! at every depth, the result written to a temporary name and renamed.
//!
//! Elements the rules keep are copied byte for byte (pixel data streamed,
//! never held); only rewritten values are decoded. Sequences are rebuilt in
//! memory so that their lengths stay right when something inside changed;
//! a sequence or item keeps its original length style (defined or
//! delimited). Group lengths (gggg,0000) in the data set are dropped: they
//! are retired, and would be wrong after a change.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use dicom_core::{Tag, VR};
use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::FileError;
use super::open::{IO_BUFFER, open};
use crate::charset::CharacterSet;
use crate::rules::{Disposition, ElementValue, FileContext, Rule, RuleSet};
use crate::stream::{
    FileMeta, Header, ITEM, ITEM_DELIMITER, Layout, MAX_DEPTH, SEQUENCE_DELIMITER, Source,
    StreamError, Syntax, UNDEFINED_LENGTH, meta, pad, skip_value,
};

const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);

/// One file to de-identify.
#[derive(Debug, Clone, Copy)]
pub struct FileJob<'a> {
    pub source: &'a Path,
    pub layout: Layout,
    /// The final output path (its folder exists or is created).
    pub output: &'a Path,
    pub context: FileContext<'a>,
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
pub fn rewrite_file(job: &FileJob<'_>, rules: &RuleSet) -> Result<(), FileError> {
    let mut opened = open(job.source, job.layout)?;
    let rewriter = Rewriter {
        rules,
        file: job.context,
    };
    let mut out_meta = match &opened.meta {
        Some(meta) => rewriter.meta(meta)?,
        None => FileMeta::default(),
    };
    out_meta.set_uid(meta::TRANSFER_SYNTAX_UID, &opened.transfer_syntax);
    out_meta.set_uid(meta::IMPLEMENTATION_CLASS_UID, meta::IMPLEMENTATION_UID);
    out_meta.set(
        meta::IMPLEMENTATION_VERSION_NAME,
        VR::SH,
        pad(meta::IMPLEMENTATION_VERSION.as_bytes(), b' '),
    );
    out_meta.set(meta::INFORMATION_VERSION, VR::OB, vec![0, 1]);

    let partial = partial_path(job.output);
    let result = (|| {
        if let Some(parent) = job.output.parent() {
            fs::create_dir_all(parent).map_err(|e| output_error(parent, e))?;
        }
        let file = create_private_file(&partial)?;
        let mut out = BufWriter::with_capacity(IO_BUFFER, file);
        if opened.meta.is_some() {
            out_meta.write(&mut out)?;
            rewriter.write_dataset(&mut opened.dataset, &mut out, opened.syntax)?;
        } else {
            // Without file meta, the SOP UIDs for a new one come from the
            // rewritten data set itself.
            let mut dataset = Vec::new();
            let captured =
                rewriter.write_dataset(&mut opened.dataset, &mut dataset, opened.syntax)?;
            let class = captured.sop_class.ok_or(FileError::NoSopClass)?;
            out_meta.set(meta::MEDIA_STORAGE_SOP_CLASS_UID, VR::UI, class);
            if let Some(instance) = captured.sop_instance {
                out_meta.set(meta::MEDIA_STORAGE_SOP_INSTANCE_UID, VR::UI, instance);
            }
            out_meta.write(&mut out)?;
            out.write_all(&dataset)
                .map_err(|e| output_error(&partial, e))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| output_error(&partial, e.into_error()))?;
        drop(file);
        fs::rename(&partial, job.output).map_err(|e| output_error(job.output, e))
    })();
    if result.is_err() {
        // Best effort: the partial file may not exist yet.
        let _ = fs::remove_file(&partial);
    }
    result
}

/// The temporary name an output has until it is complete: hidden, in the
/// same folder (so the rename is atomic), never ending in `.dcm`.
pub fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.partial"))
}

fn create_private_file(path: &Path) -> Result<File, FileError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| output_error(path, e))
}

fn output_error(path: &Path, source: io::Error) -> FileError {
    FileError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Output values of the top-level SOP UIDs, for a file meta made afresh.
#[derive(Debug, Default)]
struct Captured {
    sop_class: Option<Vec<u8>>,
    sop_instance: Option<Vec<u8>>,
}

struct Rewriter<'a> {
    rules: &'a RuleSet,
    file: FileContext<'a>,
}

impl Rewriter<'_> {
    /// The output file meta: structural elements kept, the SOP UIDs changed
    /// exactly as their data set twins are, other elements by their rules.
    fn meta(&self, source: &FileMeta) -> Result<FileMeta, FileError> {
        let charset = CharacterSet::default();
        let mut out = FileMeta::default();
        for element in &source.elements {
            let rule_tag = match element.tag {
                meta::MEDIA_STORAGE_SOP_CLASS_UID => SOP_CLASS_UID,
                meta::MEDIA_STORAGE_SOP_INSTANCE_UID => SOP_INSTANCE_UID,
                meta::INFORMATION_VERSION
                | meta::TRANSFER_SYNTAX_UID
                | meta::IMPLEMENTATION_CLASS_UID
                | meta::IMPLEMENTATION_VERSION_NAME => continue,
                tag => tag,
            };
            let value = ElementValue {
                tag: element.tag,
                vr: element.vr,
                bytes: &element.value,
                charset: &charset,
            };
            if let Some(bytes) = self.apply(self.rules.rule_for(rule_tag), &value)? {
                out.set(element.tag, element.vr, bytes);
            }
        }
        Ok(out)
    }

    /// `None` when the element goes, else its (padded) output value.
    fn apply(
        &self,
        rule: &dyn Rule,
        value: &ElementValue<'_>,
    ) -> Result<Option<Vec<u8>>, FileError> {
        match rule.disposition() {
            Disposition::Keep => Ok(Some(value.bytes.to_vec())),
            Disposition::Remove => Ok(None),
            Disposition::Rewrite => {
                let new = rule
                    .rewrite(value, &self.file)
                    .map_err(|source| FileError::Rule {
                        tag: value.tag,
                        source,
                    })?;
                Ok(Some(pad(&new, crate::rules::padding(value.vr))))
            }
        }
    }

    fn write_dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
    ) -> Result<Captured, FileError> {
        let mut captured = Captured::default();
        if syntax.deflated {
            let mut deflate = DeflateEncoder::new(out, Compression::default());
            self.dataset(
                source,
                &mut deflate,
                syntax,
                End::Stream,
                0,
                CharacterSet::default(),
                &mut captured,
            )?;
            deflate.finish().map_err(StreamError::Write)?;
        } else {
            self.dataset(
                source,
                out,
                syntax,
                End::Stream,
                0,
                CharacterSet::default(),
                &mut captured,
            )?;
        }
        Ok(captured)
    }

    #[allow(clippy::too_many_arguments)] // the recursion's whole state, passed down by value
    fn dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
        end: End,
        depth: usize,
        mut charset: CharacterSet,
        captured: &mut Captured,
    ) -> Result<(), FileError> {
        loop {
            if let End::At(limit) = end {
                if source.position() >= limit {
                    return Ok(());
                }
            }
            let Some(header) = Header::read(source, syntax)? else {
                return match end {
                    End::Stream => Ok(()),
                    _ => Err(StreamError::Truncated {
                        what: "a sequence item".into(),
                        offset: source.position(),
                    }
                    .into()),
                };
            };
            if header.tag == ITEM_DELIMITER && end == End::Delimiter {
                return Ok(());
            }
            if header.tag.group() == 0xFFFE {
                return Err(StreamError::UnexpectedTag {
                    tag: header.tag,
                    offset: source.position(),
                    context: "among data elements",
                }
                .into());
            }
            if header.tag.element() == 0x0000 {
                skip_value(source, &header, syntax, depth)?;
                continue;
            }
            let rule = self.rules.rule_for(header.tag);
            if header.is_sequence() {
                self.sequence(source, out, syntax, &header, rule, depth, &charset)?;
            } else if header.is_encapsulated_pixel_data() {
                self.fragments(source, out, syntax, &header, rule)?;
            } else if header.is_undefined_length() {
                return Err(StreamError::UnexpectedTag {
                    tag: header.tag,
                    offset: source.position(),
                    context: "with undefined length but no sequence VR",
                }
                .into());
            } else {
                let top_level_uid =
                    depth == 0 && matches!(header.tag, SOP_CLASS_UID | SOP_INSTANCE_UID);
                let needs_value = header.tag == SPECIFIC_CHARACTER_SET || top_level_uid;
                if rule.disposition() == Disposition::Keep && !needs_value {
                    header.write(out, syntax)?;
                    source.copy_value(header.len, out, &format!("the value of {}", header.tag))?;
                    continue;
                }
                let bytes =
                    source.read_value(header.len, &format!("the value of {}", header.tag))?;
                if header.tag == SPECIFIC_CHARACTER_SET {
                    charset = CharacterSet::from_declaration(&bytes);
                }
                let value = ElementValue {
                    tag: header.tag,
                    vr: header.vr,
                    bytes: &bytes,
                    charset: &charset,
                };
                if let Some(new) = self.apply(rule, &value)? {
                    match header.tag {
                        SOP_CLASS_UID if top_level_uid => captured.sop_class = Some(new.clone()),
                        SOP_INSTANCE_UID if top_level_uid => {
                            captured.sop_instance = Some(new.clone())
                        }
                        _ => {}
                    }
                    let len = u32::try_from(new.len())
                        .map_err(|_| StreamError::Write(io::Error::other("value too long")))?;
                    Header { len, ..header }.write(out, syntax)?;
                    out.write_all(&new).map_err(StreamError::Write)?;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the recursion's whole state, passed down by value
    fn sequence<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
        header: &Header,
        rule: &dyn Rule,
        depth: usize,
        charset: &CharacterSet,
    ) -> Result<(), FileError> {
        match rule.disposition() {
            Disposition::Remove => {
                skip_value(source, header, syntax, depth)?;
            }
            Disposition::Rewrite => {
                // The only rewrite that fits a sequence is an empty one.
                skip_value(source, header, syntax, depth)?;
                Header { len: 0, ..*header }.write(out, syntax)?;
            }
            Disposition::Keep => {
                if depth >= MAX_DEPTH {
                    return Err(StreamError::TooDeep {
                        max: MAX_DEPTH,
                        offset: source.position(),
                    }
                    .into());
                }
                // Undefined-length UN holds implicit VR little endian items.
                let inner = if header.vr == VR::UN {
                    Syntax::IMPLICIT_VR_LITTLE_ENDIAN
                } else {
                    syntax
                };
                let mut items = Vec::new();
                self.items(source, &mut items, inner, header, depth + 1, charset)?;
                if header.is_undefined_length() {
                    header.write(out, syntax)?;
                    out.write_all(&items).map_err(StreamError::Write)?;
                    delimiter(SEQUENCE_DELIMITER).write(out, syntax)?;
                } else {
                    let len = checked_len(items.len())?;
                    Header { len, ..*header }.write(out, syntax)?;
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
        syntax: Syntax,
        sequence: &Header,
        depth: usize,
        charset: &CharacterSet,
    ) -> Result<(), FileError> {
        let end =
            (!sequence.is_undefined_length()).then(|| source.position() + u64::from(sequence.len));
        loop {
            if let Some(end) = end {
                if source.position() >= end {
                    return Ok(());
                }
            }
            let item = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
                what: format!("the sequence {}", sequence.tag),
                offset: source.position(),
            })?;
            match item.tag {
                SEQUENCE_DELIMITER if end.is_none() => return Ok(()),
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
            let mut ignored = Captured::default();
            self.dataset(
                source,
                &mut body,
                syntax,
                item_end,
                depth,
                charset.clone(),
                &mut ignored,
            )?;
            if item.is_undefined_length() {
                item.write(out, syntax)?;
                out.extend_from_slice(&body);
                delimiter(ITEM_DELIMITER).write(out, syntax)?;
            } else {
                Header {
                    len: checked_len(body.len())?,
                    ..item
                }
                .write(out, syntax)?;
                out.extend_from_slice(&body);
            }
        }
    }

    /// Encapsulated pixel data: fragments copied as they are, one at a time.
    fn fragments<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        syntax: Syntax,
        header: &Header,
        rule: &dyn Rule,
    ) -> Result<(), FileError> {
        let disposition = rule.disposition();
        if disposition != Disposition::Keep {
            skip_value(source, header, syntax, 0)?;
            if disposition == Disposition::Rewrite {
                Header { len: 0, ..*header }.write(out, syntax)?;
            }
            return Ok(());
        }
        header.write(out, syntax)?;
        loop {
            let item = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
                what: "the encapsulated Pixel Data".into(),
                offset: source.position(),
            })?;
            match item.tag {
                SEQUENCE_DELIMITER => {
                    delimiter(SEQUENCE_DELIMITER).write(out, syntax)?;
                    return Ok(());
                }
                ITEM if !item.is_undefined_length() => {
                    item.write(out, syntax)?;
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

fn delimiter(tag: Tag) -> Header {
    Header {
        tag,
        vr: VR::UN,
        len: 0,
    }
}

fn checked_len(len: usize) -> Result<u32, FileError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l != UNDEFINED_LENGTH)
        .ok_or_else(|| StreamError::Write(io::Error::other("sequence longer than 4 GiB")).into())
}
