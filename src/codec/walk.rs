//! A data set walked element by element and written again, with an
//! [`Editor`] deciding what becomes of each element: the byte layout of a
//! rewrite, kept apart from the rules that drive it (the engine's editor
//! applies a profile; the tests here use small editors of their own).
//!
//! Values the editor keeps are copied byte for byte (a large one streamed,
//! never held); only values it asks for are read. Sequences and items are
//! rebuilt in memory, so that their lengths stay right when something
//! inside changed, and keep their length style (defined or delimited). A
//! group length (gggg,0000) is recomputed: the group is buffered until its
//! last element, and left out when nothing of the group is left. The walk
//! owns what the bytes mean: where a data set or item ends, the Specific
//! Character Set in force, re-encoding where a sequence's items change
//! coding, and the depth limit.

use std::io::{self, Read, Write};

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET;
use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::{
    Coding, Header, ITEM, ITEM_DELIMITER, MAX_DEPTH, SEQUENCE_DELIMITER, Source, StreamError,
    Syntax, What, all_read, checked_len, delimiter, ends_exactly, skip_value, transcode_value,
    write_group,
};
use crate::charset::CharacterSet;

/// File meta elements (group 0002) belong before the data set.
const FILE_META_GROUP: u16 = 0x0002;

/// One element encoded for a transfer syntax, to be written as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedElement {
    pub tag: Tag,
    /// Header and value, ready to write.
    pub bytes: Vec<u8>,
}

/// What becomes of an element that is not a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Written as it was (re-encoded only where the coding changes).
    Copy,
    /// Left out.
    Remove,
    /// The value is read and [`Editor::rewrite`] says what is written.
    Read,
}

/// What becomes of a sequence, or of encapsulated pixel data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequencePlan<S> {
    /// Left out.
    Remove,
    /// Written with length zero: the only rewrite that fits a sequence.
    Empty,
    /// Kept: each item walked as a data set that starts with this scope
    /// (fragments of pixel data, which hold no data sets, are copied).
    Keep(S),
}

/// What an addition does to the source element that has its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collision<S> {
    /// The source element is skipped; the addition is written instead.
    Replace,
    /// The source's value is read and handed to [`Editor::merge`]
    /// (a value of undefined length is replaced).
    Value,
    /// The source sequence's items are walked (as data sets starting with
    /// this scope) and the bytes written of them handed to
    /// [`Editor::merge`]. A source element that is no sequence, or whose
    /// items are coded otherwise than the data set (UN, or transcoded), is
    /// replaced instead: the merged sequence would mix two encodings.
    Items(S),
}

/// The decisions a rewrite takes element by element; the walk does the rest.
pub trait Editor {
    /// What the elements of one data set (or item) share, such as who
    /// reserved its private blocks: each item starts with the scope its
    /// sequence's [`SequencePlan::Keep`] gave.
    type Scope: Clone;
    type Error: From<StreamError>;

    /// What becomes of an element that is neither a sequence nor
    /// encapsulated pixel data. (The walk reads Specific Character Set
    /// whatever the plan: it keeps track of the character set in force.)
    fn plan(&self, scope: &Self::Scope, header: &Header) -> Plan;

    /// The value to write for an element planned [`Plan::Read`] (padded
    /// to even length), read as `value`, of VR `vr` (UN read as the
    /// dictionary's VR), in the character set `charset`; `None` when the
    /// element goes after all.
    fn rewrite(
        &self,
        scope: &mut Self::Scope,
        header: &Header,
        vr: VR,
        value: &[u8],
        charset: &CharacterSet,
    ) -> Result<Option<Vec<u8>>, Self::Error>;

    /// What becomes of a sequence.
    fn sequence(&self, scope: &Self::Scope, header: &Header) -> SequencePlan<Self::Scope>;

    /// What becomes of encapsulated pixel data (a sequence of fragments).
    fn fragments(&self, scope: &Self::Scope, header: &Header) -> SequencePlan<()>;

    /// What an addition does to the source element `header` with its tag.
    fn collision(&self, header: &Header) -> Collision<Self::Scope>;

    /// The element written for the source element `header` that an
    /// addition met: `existing` is its value ([`Collision::Value`]) or
    /// its items as walked ([`Collision::Items`]), encoded for `syntax`.
    fn merge(
        &self,
        header: &Header,
        existing: &[u8],
        syntax: Syntax,
    ) -> Result<EncodedElement, Self::Error>;
}

/// Rewrites the data set `source` is positioned at (a file's, in `syntax`,
/// read to the end of the stream) into `out` as `editor` decides, with
/// `additions` (in tag order) where they belong. A deflated data set,
/// inflated by the opener, is deflated again.
pub fn rewrite_dataset<E: Editor, R: Read, W: Write>(
    editor: &E,
    source: &mut Source<R>,
    out: &mut W,
    syntax: Syntax,
    scope: E::Scope,
    additions: &[EncodedElement],
) -> Result<(), E::Error> {
    let walk = Walk { editor };
    let top = Level {
        coding: Coding::same(syntax),
        end: End::Stream,
        depth: 0,
        charset: CharacterSet::default(),
        scope,
    };
    if syntax.deflated {
        // The fastest level: re-deflating must not make a run CPU-bound
        // (and a hostile file that inflates hugely must not take ages).
        let mut deflate = DeflateEncoder::new(out, Compression::fast());
        walk.dataset(source, &mut deflate, top, additions)?;
        all_read(source)?;
        deflate.finish().map_err(StreamError::Write)?;
        Ok(())
    } else {
        walk.dataset(source, out, top, additions)?;
        Ok(all_read(source)?)
    }
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

/// One data set being walked: where it sits and what its elements share.
struct Level<S> {
    coding: Coding,
    end: End,
    depth: usize,
    /// The Specific Character Set in force (an item inherits its
    /// sequence's until it declares its own).
    charset: CharacterSet,
    scope: S,
}

/// What a sequence passes to its items.
struct Nesting<'a, S> {
    coding: Coding,
    /// The depth of the items.
    depth: usize,
    charset: &'a CharacterSet,
    scope: &'a S,
}

/// A group whose group length the source has: its elements, held until
/// the group ends and its new length is known.
struct OpenGroup {
    number: u16,
    elements: Vec<u8>,
}

struct Walk<'e, E> {
    editor: &'e E,
}

impl<E: Editor> Walk<'_, E> {
    /// Rewrites the elements of one data set (the file's, or an item's),
    /// adding `additions` (in tag order) where they belong, in place of
    /// source elements with the same tag.
    fn dataset<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        mut level: Level<E::Scope>,
        mut additions: &[EncodedElement],
    ) -> Result<(), E::Error> {
        let syntax = level.coding.read;
        let mut group: Option<OpenGroup> = None;
        loop {
            let header = next_header(source, syntax, level.end)?;
            let replaced =
                self.add_before(source, out, &mut group, &mut additions, header, &level)?;
            if replaced {
                continue;
            }
            let next_group = header.map(|h| h.tag.group());
            close_group(out, &mut group, next_group, level.coding.write)?;
            let Some(header) = header else {
                return Ok(());
            };
            // File meta elements inside the data set (a meta whose group
            // length ended it early) would be read back as part of the
            // output's meta: the meta is rebuilt anyway, so they go.
            if level.depth == 0 && header.tag.group() == FILE_META_GROUP {
                skip_value(source, &header, syntax, level.depth)?;
                continue;
            }
            if header.tag.element() == 0x0000 {
                skip_value(source, &header, syntax, level.depth)?;
                group = Some(OpenGroup {
                    number: header.tag.group(),
                    elements: Vec::new(),
                });
                continue;
            }
            match &mut group {
                Some(open) => self.element(source, &mut open.elements, &header, &mut level)?,
                None => self.element(source, out, &header, &mut level)?,
            }
        }
    }

    /// Writes the additions that come before `header` (all that are left
    /// when it is `None`, at the end of the data set); returns whether one
    /// took the place of `header`, whose value is then consumed.
    fn add_before<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        group: &mut Option<OpenGroup>,
        additions: &mut &[EncodedElement],
        header: Option<Header>,
        level: &Level<E::Scope>,
    ) -> Result<bool, E::Error> {
        let mut replaced = false;
        while let Some(addition) = additions.first()
            && header.is_none_or(|h| addition.tag <= h.tag)
        {
            close_group(out, group, Some(addition.tag.group()), level.coding.write)?;
            let same = header.filter(|h| h.tag == addition.tag);
            let merged = match &same {
                Some(h) => self.merged(source, h, level)?,
                None => None,
            };
            let bytes = merged.as_ref().map_or(&addition.bytes, |m| &m.bytes);
            match group {
                Some(open) => open.elements.extend_from_slice(bytes),
                None => out.write_all(bytes).map_err(StreamError::Write)?,
            }
            if let Some(h) = &same {
                if merged.is_none() {
                    skip_value(source, h, level.coding.read, level.depth)?;
                }
                replaced = true;
            }
            *additions = &additions[1..];
        }
        Ok(replaced)
    }

    /// The element the editor makes of the source element `header` and
    /// the addition with its tag; `None` when the addition replaces it
    /// (the source's value is then still unread).
    fn merged<R: Read>(
        &self,
        source: &mut Source<R>,
        header: &Header,
        level: &Level<E::Scope>,
    ) -> Result<Option<EncodedElement>, E::Error> {
        let coding = level.coding;
        match self.editor.collision(header) {
            Collision::Value if !header.is_undefined_length() => {
                let existing = source.read_value(header.len, What::Value(header.tag))?;
                Ok(Some(self.editor.merge(header, &existing, coding.write)?))
            }
            // An item syntax other than the data set's (VR UN) would mix
            // two encodings in one sequence: such a sequence is replaced.
            Collision::Items(scope)
                if header.is_sequence()
                    && !coding.transcodes()
                    && header.item_syntax(coding.read) == coding.read =>
            {
                let mut items = Vec::new();
                let nesting = Nesting {
                    coding,
                    depth: level.depth + 1,
                    charset: &level.charset,
                    scope: &scope,
                };
                self.items(source, &mut items, header, nesting)?;
                Ok(Some(self.editor.merge(header, &items, coding.write)?))
            }
            _ => Ok(None),
        }
    }

    /// Rewrites one element whose header was just read.
    fn element<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        header: &Header,
        level: &mut Level<E::Scope>,
    ) -> Result<(), E::Error> {
        if header.is_sequence() {
            return self.sequence(source, out, header, level);
        }
        if header.is_fragment_sequence() {
            return self.fragments(source, out, header, level);
        }
        if header.is_undefined_length() {
            return Err(StreamError::UnexpectedTag {
                tag: header.tag,
                offset: source.position(),
                context: "with undefined length but no sequence VR",
            }
            .into());
        }
        let coding = level.coding;
        let what = What::Value(header.tag);
        let plan = self.editor.plan(&level.scope, header);
        // The character set is read even where it is kept: it says how
        // the values after it are encoded.
        if plan == Plan::Copy && header.tag != SPECIFIC_CHARACTER_SET && !coding.transcodes() {
            header.write(out, coding.write)?;
            source.copy_value(header.len, out, what)?;
            return Ok(());
        }
        let value = source.read_value(header.len, what)?;
        if header.tag == SPECIFIC_CHARACTER_SET {
            level.charset = CharacterSet::from_declaration(&value);
        }
        let (vr, new) = match plan {
            Plan::Copy => (header.vr, value),
            Plan::Remove => return Ok(()),
            Plan::Read => {
                let vr = header.value_vr();
                let rewritten =
                    self.editor
                        .rewrite(&mut level.scope, header, vr, &value, &level.charset)?;
                let Some(new) = rewritten else {
                    return Ok(());
                };
                // A value written as UN and rewritten as its dictionary VR
                // is written with that VR: it is now a value of that VR.
                (if new == value { header.vr } else { vr }, new)
            }
        };
        Ok(write_value(out, header, vr, new, coding)?)
    }

    fn sequence<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        header: &Header,
        level: &Level<E::Scope>,
    ) -> Result<(), E::Error> {
        let (coding, depth) = (level.coding, level.depth);
        let plan = self.editor.sequence(&level.scope, header);
        let inner = coding.items_of(header);
        // A sequence whose items change encoding (UN read, explicit VR
        // written) is written as what it is: a sequence.
        let written = if coding.transcodes() || inner.transcodes() {
            Header {
                vr: VR::SQ,
                ..*header
            }
        } else {
            *header
        };
        // A value that goes is skipped as the source header says, not as
        // `written`: relabelled SQ, a UN's implicit VR little endian items
        // (PS3.5 §6.2.2) would be read in the data set's syntax.
        let scope = match plan {
            SequencePlan::Remove => return Ok(skip_value(source, header, coding.read, depth)?),
            SequencePlan::Empty => {
                let emptied = write_emptied(source, out, header, written.vr, coding, depth);
                return Ok(emptied?);
            }
            SequencePlan::Keep(scope) => scope,
        };
        if depth >= MAX_DEPTH {
            return Err(StreamError::TooDeep {
                max: MAX_DEPTH,
                offset: source.position(),
            }
            .into());
        }
        let mut items = Vec::new();
        let nesting = Nesting {
            coding: inner,
            depth: depth + 1,
            charset: &level.charset,
            scope: &scope,
        };
        self.items(source, &mut items, &written, nesting)?;
        write_wrapped(
            out,
            &written,
            &items,
            coding.write,
            SEQUENCE_DELIMITER,
            inner.write,
        )?;
        Ok(())
    }

    fn items<R: Read>(
        &self,
        source: &mut Source<R>,
        out: &mut Vec<u8>,
        sequence: &Header,
        nesting: Nesting<'_, E::Scope>,
    ) -> Result<(), E::Error> {
        let coding = nesting.coding;
        let end =
            (!sequence.is_undefined_length()).then(|| source.position() + u64::from(sequence.len));
        loop {
            if let Some(end) = end
                && source.position() >= end
            {
                return Ok(ends_exactly(source.position(), end, "a sequence")?);
            }
            let Some(item) = next_item(source, coding.read, sequence)? else {
                return Ok(());
            };
            let mut body = Vec::new();
            let level = Level {
                coding,
                end: item_end(source, &item, end)?,
                depth: nesting.depth,
                charset: nesting.charset.clone(),
                scope: nesting.scope.clone(),
            };
            self.dataset(source, &mut body, level, &[])?;
            let syntax = coding.write;
            write_wrapped(out, &item, &body, syntax, ITEM_DELIMITER, syntax)?;
        }
    }

    /// Encapsulated pixel data: fragments copied as they are, one at a time.
    fn fragments<R: Read, W: Write>(
        &self,
        source: &mut Source<R>,
        out: &mut W,
        header: &Header,
        level: &Level<E::Scope>,
    ) -> Result<(), E::Error> {
        let coding = level.coding;
        match self.editor.fragments(&level.scope, header) {
            SequencePlan::Remove => skip_value(source, header, coding.read, 0)?,
            SequencePlan::Empty => write_emptied(source, out, header, header.vr, coding, 0)?,
            SequencePlan::Keep(()) => copy_fragments(source, out, header, coding)?,
        }
        Ok(())
    }
}

/// The next element header of a data set; `None` at its end.
fn next_header<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    end: End,
) -> Result<Option<Header>, StreamError> {
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
            }),
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
        });
    }
    Ok(Some(header))
}

/// The next item header of `sequence`; `None` at its delimiter.
fn next_item<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    sequence: &Header,
) -> Result<Option<Header>, StreamError> {
    let item = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
        what: What::Sequence(sequence.tag).to_string(),
        offset: source.position(),
    })?;
    match item.tag {
        // Some writers close defined-length sequences with a delimiter
        // as well; it ends the sequence either way.
        SEQUENCE_DELIMITER => Ok(None),
        ITEM => Ok(Some(item)),
        tag => Err(StreamError::UnexpectedTag {
            tag,
            offset: source.position(),
            context: "where a sequence item should start",
        }),
    }
}

/// Where the item whose header was just read ends; one of defined length
/// must end within its sequence (`sequence_end`, when that has one).
fn item_end<R: Read>(
    source: &Source<R>,
    item: &Header,
    sequence_end: Option<u64>,
) -> Result<End, StreamError> {
    if item.is_undefined_length() {
        return Ok(End::Delimiter);
    }
    let end = source.position() + u64::from(item.len);
    if sequence_end.is_some_and(|sequence_end| end > sequence_end) {
        return Err(StreamError::ItemOverrun {
            len: item.len,
            offset: source.position(),
        });
    }
    Ok(End::At(end))
}

/// Writes the buffered group (with its new length) unless the next
/// element, of group `next` (`None`: there is none), still belongs to it.
fn close_group<W: Write>(
    out: &mut W,
    group: &mut Option<OpenGroup>,
    next: Option<u16>,
    syntax: Syntax,
) -> Result<(), StreamError> {
    if let Some(open) = group
        && next != Some(open.number)
    {
        write_group(out, syntax, open.number, &open.elements)?;
        *group = None;
    }
    Ok(())
}

/// Skips the value of the source element `header` (a sequence, or pixel
/// data) and writes the element with length zero and the VR `vr` (SQ for
/// a UN sequence written in another syntax than its items were read in).
fn write_emptied<R: Read, W: Write>(
    source: &mut Source<R>,
    out: &mut W,
    header: &Header,
    vr: VR,
    coding: Coding,
    depth: usize,
) -> Result<(), StreamError> {
    skip_value(source, header, coding.read, depth)?;
    Header {
        len: 0,
        vr,
        ..*header
    }
    .write(out, coding.write)
}

/// Writes the value `value` of the element `header` with the VR `vr`,
/// re-encoded where the coding changes.
fn write_value<W: Write>(
    out: &mut W,
    header: &Header,
    vr: VR,
    mut value: Vec<u8>,
    coding: Coding,
) -> Result<(), StreamError> {
    let len = u32::try_from(value.len())
        .map_err(|_| StreamError::Write(io::Error::other("value too long")))?;
    let vr = if coding.transcodes() {
        transcode_value(&mut value, header.value_vr(), coding)
    } else {
        vr
    };
    Header { len, vr, ..*header }.write(out, coding.write)?;
    out.write_all(&value).map_err(StreamError::Write)
}

/// Writes `header` with `body` (items, or an item's elements) in the
/// header's length style: a defined length that counts the body, or the
/// body followed by the delimiter `end` (in `end_syntax`: a sequence's
/// delimiter is in the syntax of its items).
fn write_wrapped<W: Write>(
    out: &mut W,
    header: &Header,
    body: &[u8],
    syntax: Syntax,
    end: Tag,
    end_syntax: Syntax,
) -> Result<(), StreamError> {
    if header.is_undefined_length() {
        header.write(out, syntax)?;
        out.write_all(body).map_err(StreamError::Write)?;
        delimiter(end).write(out, end_syntax)
    } else {
        let len = checked_len(body.len())?;
        Header { len, ..*header }.write(out, syntax)?;
        out.write_all(body).map_err(StreamError::Write)
    }
}

/// Copies the fragments of encapsulated pixel data, one at a time.
fn copy_fragments<R: Read, W: Write>(
    source: &mut Source<R>,
    out: &mut W,
    header: &Header,
    coding: Coding,
) -> Result<(), StreamError> {
    header.write(out, coding.write)?;
    loop {
        let item = Header::read(source, coding.read)?.ok_or_else(|| StreamError::Truncated {
            what: "the encapsulated Pixel Data".into(),
            offset: source.position(),
        })?;
        match item.tag {
            SEQUENCE_DELIMITER => {
                return delimiter(SEQUENCE_DELIMITER).write(out, coding.write);
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
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use dicom_dictionary_std::tags;

    use super::*;
    use crate::codec::UNDEFINED_LENGTH;

    const LITTLE: Syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
    const IMPLICIT: Syntax = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;
    const BIG: Syntax = Syntax::EXPLICIT_VR_BIG_ENDIAN;
    /// Length styles of sequences and items.
    const DEFINED: bool = true;
    const DELIMITED: bool = false;

    /// An element, header and value, as `syntax` writes it.
    fn element(tag: Tag, vr: VR, value: &[u8], syntax: Syntax) -> Vec<u8> {
        let mut out = Vec::new();
        let len = value.len() as u32;
        Header { tag, vr, len }.write(&mut out, syntax).unwrap();
        out.extend_from_slice(value);
        out
    }

    /// A group length element followed by the group's `elements`.
    fn group(number: u16, elements: &[u8], syntax: Syntax) -> Vec<u8> {
        let len = syntax.u32_bytes(elements.len() as u32);
        let mut out = element(Tag(number, 0x0000), VR::UL, &len, syntax);
        out.extend_from_slice(elements);
        out
    }

    /// `body` wrapped as a value of defined length, or between a header of
    /// undefined length and the delimiter `end`.
    fn wrapped(header: Header, body: &[u8], defined: bool, end: Tag, syntax: Syntax) -> Vec<u8> {
        let len = if defined {
            body.len() as u32
        } else {
            UNDEFINED_LENGTH
        };
        let mut out = Vec::new();
        Header { len, ..header }.write(&mut out, syntax).unwrap();
        out.extend_from_slice(body);
        if !defined {
            delimiter(end).write(&mut out, syntax).unwrap();
        }
        out
    }

    fn item(body: &[u8], defined: bool, syntax: Syntax) -> Vec<u8> {
        let header = delimiter(ITEM);
        wrapped(header, body, defined, ITEM_DELIMITER, syntax)
    }

    /// A sequence holding `items` (headers included).
    fn sequence(tag: Tag, items: &[u8], defined: bool, syntax: Syntax) -> Vec<u8> {
        let header = Header {
            tag,
            vr: VR::SQ,
            len: 0,
        };
        wrapped(header, items, defined, SEQUENCE_DELIMITER, syntax)
    }

    /// `depth` sequences, each in the one item of the one before.
    fn nested(depth: usize, syntax: Syntax) -> Vec<u8> {
        let mut inner = element(tags::PATIENT_ID, VR::LO, b"ID", syntax);
        for _ in 0..depth {
            let items = item(&inner, DELIMITED, syntax);
            inner = sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DELIMITED, syntax);
        }
        inner
    }

    /// The scope of the test editor: the sequence whose item is walked.
    type Inside = Option<Tag>;

    /// An editor told what to do, tag by tag; everything else is copied.
    #[derive(Default)]
    struct Edits {
        /// Removed wherever they are.
        remove: Vec<Tag>,
        /// An element removed only in the items of a sequence:
        /// (sequence, element).
        remove_inside: Option<(Tag, Tag)>,
        /// Values written instead of the source's.
        rewrite: Vec<(Tag, &'static [u8])>,
        /// Sequences (and pixel data) removed or emptied.
        sequences: Vec<(Tag, SequencePlan<()>)>,
        /// How additions merge with the source element of their tag.
        collisions: Vec<(Tag, Collision<Inside>)>,
        /// The character set each rewrite was given.
        charsets: RefCell<Vec<CharacterSet>>,
        /// What each merge was given.
        merged: RefCell<Vec<Vec<u8>>>,
    }

    impl Edits {
        fn sequence_plan(&self, header: &Header) -> SequencePlan<()> {
            let planned = self.sequences.iter().find(|(tag, _)| *tag == header.tag);
            planned.map_or(SequencePlan::Keep(()), |(_, plan)| plan.clone())
        }
    }

    impl Editor for Edits {
        type Scope = Inside;
        type Error = StreamError;

        fn plan(&self, scope: &Inside, header: &Header) -> Plan {
            let inside = scope.map(|sequence| (sequence, header.tag));
            if self.remove.contains(&header.tag) || inside.is_some() && inside == self.remove_inside
            {
                Plan::Remove
            } else if self.rewrite.iter().any(|(tag, _)| *tag == header.tag) {
                Plan::Read
            } else {
                Plan::Copy
            }
        }

        fn rewrite(
            &self,
            _: &mut Inside,
            header: &Header,
            _: VR,
            _: &[u8],
            charset: &CharacterSet,
        ) -> Result<Option<Vec<u8>>, StreamError> {
            self.charsets.borrow_mut().push(charset.clone());
            let new = self.rewrite.iter().find(|(tag, _)| *tag == header.tag);
            Ok(new.map(|(_, value)| value.to_vec()))
        }

        fn sequence(&self, _: &Inside, header: &Header) -> SequencePlan<Inside> {
            match self.sequence_plan(header) {
                SequencePlan::Remove => SequencePlan::Remove,
                SequencePlan::Empty => SequencePlan::Empty,
                SequencePlan::Keep(()) => SequencePlan::Keep(Some(header.tag)),
            }
        }

        fn fragments(&self, _: &Inside, header: &Header) -> SequencePlan<()> {
            self.sequence_plan(header)
        }

        fn collision(&self, header: &Header) -> Collision<Inside> {
            let planned = self.collisions.iter().find(|(tag, _)| *tag == header.tag);
            planned.map_or(Collision::Replace, |(_, collision)| collision.clone())
        }

        /// A value gets `\NEW` appended; a sequence is written with the
        /// items it had.
        fn merge(
            &self,
            header: &Header,
            existing: &[u8],
            syntax: Syntax,
        ) -> Result<EncodedElement, StreamError> {
            self.merged.borrow_mut().push(existing.to_vec());
            let bytes = if header.is_sequence() {
                sequence(header.tag, existing, DEFINED, syntax)
            } else {
                element(header.tag, VR::LO, &[existing, b"\\NEW"].concat(), syntax)
            };
            Ok(EncodedElement {
                tag: header.tag,
                bytes,
            })
        }
    }

    fn rewrite(
        edits: &Edits,
        input: &[u8],
        syntax: Syntax,
        additions: &[EncodedElement],
    ) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        rewrite_dataset(
            edits,
            &mut Source::new(input),
            &mut out,
            syntax,
            None,
            additions,
        )?;
        Ok(out)
    }

    fn copied(input: &[u8], syntax: Syntax) -> Vec<u8> {
        rewrite(&Edits::default(), input, syntax, &[]).unwrap()
    }

    fn removing(tag: Tag) -> Edits {
        Edits {
            remove: vec![tag],
            ..Edits::default()
        }
    }

    /// What `wrap` makes of a kept and a removed element is rewritten as
    /// what it makes of the kept one alone.
    fn assert_removal_rewraps(wrap: impl Fn(&[u8]) -> Vec<u8>) {
        let el = |tag, value: &[u8]| element(tag, VR::UI, value, LITTLE);
        let kept = el(tags::REFERENCED_SOP_CLASS_UID, b"1.2\0");
        let removed = el(tags::REFERENCED_SOP_INSTANCE_UID, b"1.2.3.4\0");
        let input = wrap(&[kept.clone(), removed].concat());
        let edits = removing(tags::REFERENCED_SOP_INSTANCE_UID);
        assert_eq!(rewrite(&edits, &input, LITTLE, &[]).unwrap(), wrap(&kept));
    }

    fn addition(tag: Tag, vr: VR, value: &[u8]) -> EncodedElement {
        let bytes = element(tag, vr, value, LITTLE);
        EncodedElement { tag, bytes }
    }

    /// An item holding one Referenced SOP Instance UID.
    fn reference_item(defined: bool) -> Vec<u8> {
        let uid = element(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, b"1.5\0", LITTLE);
        item(&uid, defined, LITTLE)
    }

    /// Encapsulated pixel data: an empty offset table and one fragment.
    fn fragments(syntax: Syntax) -> Vec<u8> {
        let mut body = item(&[], DEFINED, syntax);
        body.extend(item(&[1, 2, 3, 4], DEFINED, syntax));
        let header = Header {
            tag: tags::PIXEL_DATA,
            vr: VR::OB,
            len: 0,
        };
        wrapped(header, &body, DELIMITED, SEQUENCE_DELIMITER, syntax)
    }

    #[test]
    fn copying_everything_gives_the_same_bytes_in_every_syntax() {
        for syntax in [LITTLE, IMPLICIT, BIG] {
            let el = |tag, vr, value: &[u8]| element(tag, vr, value, syntax);
            let defined_item = el(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, b"1.5\0");
            let delimited_item = el(tags::SERIES_INSTANCE_UID, VR::UI, b"1.6\0");
            // A group with a length, sequences of both styles in it.
            let group_8 = [
                el(tags::SPECIFIC_CHARACTER_SET, VR::CS, b"ISO_IR 100"),
                el(tags::SOP_CLASS_UID, VR::UI, b"1.2.3\0"),
                sequence(
                    tags::REFERENCED_SERIES_SEQUENCE,
                    &item(&delimited_item, DELIMITED, syntax),
                    DELIMITED,
                    syntax,
                ),
                sequence(
                    tags::REFERENCED_IMAGE_SEQUENCE,
                    &item(&defined_item, DEFINED, syntax),
                    DEFINED,
                    syntax,
                ),
            ]
            .concat();
            let input = [
                group(0x0008, &group_8, syntax),
                el(tags::PATIENT_NAME, VR::PN, b"Doe^Jane"),
                el(tags::ROWS, VR::US, &[1, 2]),
                fragments(syntax),
            ]
            .concat();
            assert_eq!(copied(&input, syntax), input, "{syntax:?}");
        }
    }

    #[test]
    fn an_element_removed_in_a_defined_length_item_shortens_item_and_sequence() {
        assert_removal_rewraps(|body| {
            let items = item(body, DEFINED, LITTLE);
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DEFINED, LITTLE)
        });
    }

    #[test]
    fn delimited_sequences_and_items_keep_their_delimiters() {
        // A delimited sequence may hold items of either style.
        assert_removal_rewraps(|body| {
            let items = [item(body, DEFINED, LITTLE), item(body, DELIMITED, LITTLE)].concat();
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DELIMITED, LITTLE)
        });
    }

    #[test]
    fn a_group_length_counts_what_is_left_of_its_group() {
        let el = |tag, value: &[u8]| element(tag, VR::SH, value, LITTLE);
        let station = el(tags::STATION_NAME, b"CT01");
        let description = el(tags::STUDY_DESCRIPTION, b"HEAD");
        let input = group(0x0008, &[station.clone(), description].concat(), LITTLE);
        let edits = removing(tags::STUDY_DESCRIPTION);
        let out = rewrite(&edits, &input, LITTLE, &[]).unwrap();
        assert_eq!(out, group(0x0008, &station, LITTLE));
    }

    #[test]
    fn a_group_left_empty_loses_its_group_length() {
        let name = element(tags::PATIENT_NAME, VR::PN, b"Doe^", LITTLE);
        let private = element(Tag(0x0009, 0x0010), VR::LO, b"ACME", LITTLE);
        let input = [group(0x0009, &private, LITTLE), name.clone()].concat();
        let edits = removing(Tag(0x0009, 0x0010));
        assert_eq!(rewrite(&edits, &input, LITTLE, &[]).unwrap(), name);
    }

    #[test]
    fn file_meta_elements_go_from_the_data_set_but_not_from_its_items() {
        let syntax_uid = element(
            tags::TRANSFER_SYNTAX_UID,
            VR::UI,
            b"1.2.840.10008.1.2.1\0",
            LITTLE,
        );
        let class = element(tags::SOP_CLASS_UID, VR::UI, b"1.2\0", LITTLE);
        let items = item(&syntax_uid, DEFINED, LITTLE);
        let seq = sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DEFINED, LITTLE);
        let input = [syntax_uid.clone(), class.clone(), seq.clone()].concat();
        assert_eq!(copied(&input, LITTLE), [class, seq].concat());
    }

    #[test]
    fn additions_go_in_tag_order_and_replace_the_source_element_of_their_tag() {
        let el = |tag, value: &[u8]| element(tag, VR::LO, value, LITTLE);
        let input = [
            el(tags::SOP_CLASS_UID, b"1.2\0"),
            el(tags::PATIENT_ID, b"OLD-ID"),
            el(tags::STUDY_INSTANCE_UID, b"1.3\0"),
        ]
        .concat();
        let additions = [
            addition(tags::PATIENT_NAME, VR::PN, b"ANON"),
            addition(tags::PATIENT_ID, VR::LO, b"NEW-ID"),
            addition(tags::PATIENT_IDENTITY_REMOVED, VR::CS, b"YES "),
            addition(
                tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
                VR::CS,
                b"REMOVED ",
            ),
        ];
        let expected = [
            el(tags::SOP_CLASS_UID, b"1.2\0"),
            additions[0].bytes.clone(),
            additions[1].bytes.clone(),
            additions[2].bytes.clone(),
            el(tags::STUDY_INSTANCE_UID, b"1.3\0"),
            additions[3].bytes.clone(),
        ]
        .concat();
        let out = rewrite(&Edits::default(), &input, LITTLE, &additions).unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn an_addition_to_a_group_with_a_length_is_counted_in_it() {
        let id = element(tags::PATIENT_ID, VR::LO, b"ID", LITTLE);
        let added = addition(tags::PATIENT_NAME, VR::PN, b"ANON");
        let input = group(0x0010, &id, LITTLE);
        let out = rewrite(
            &Edits::default(),
            &input,
            LITTLE,
            std::slice::from_ref(&added),
        )
        .unwrap();
        assert_eq!(out, group(0x0010, &[added.bytes, id].concat(), LITTLE));
    }

    #[test]
    fn an_addition_merges_with_the_source_value_of_its_tag() {
        let method = tags::DEIDENTIFICATION_METHOD;
        let input = element(method, VR::LO, b"OLD1", LITTLE);
        let edits = Edits {
            collisions: vec![(method, Collision::Value)],
            ..Edits::default()
        };
        let out = rewrite(&edits, &input, LITTLE, &[addition(method, VR::LO, b"NEW ")]);
        assert_eq!(out.unwrap(), element(method, VR::LO, b"OLD1\\NEW", LITTLE));
        assert_eq!(*edits.merged.borrow(), [b"OLD1".to_vec()]);
    }

    #[test]
    fn an_addition_merges_with_the_source_items_as_walked() {
        let codes = tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE;
        let value = element(tags::CODE_VALUE, VR::SH, b"113100", LITTLE);
        let meaning = element(tags::CODE_MEANING, VR::LO, b"Basic ", LITTLE);
        let items = item(&[value.clone(), meaning].concat(), DELIMITED, LITTLE);
        let input = sequence(codes, &items, DELIMITED, LITTLE);
        let edits = Edits {
            remove: vec![tags::CODE_MEANING],
            collisions: vec![(codes, Collision::Items(None))],
            ..Edits::default()
        };
        let added = addition(codes, VR::SQ, &[]);
        let out = rewrite(&edits, &input, LITTLE, &[added]).unwrap();
        let walked = item(&value, DELIMITED, LITTLE);
        assert_eq!(out, sequence(codes, &walked, DEFINED, LITTLE));
        assert_eq!(*edits.merged.borrow(), [walked]);
    }

    #[test]
    fn a_rewritten_un_value_gets_its_dictionary_vr_and_a_copied_one_stays_un() {
        let input = [
            element(tags::PATIENT_NAME, VR::UN, b"Doe^Jane", LITTLE),
            element(tags::PATIENT_ID, VR::UN, b"ID", LITTLE),
        ]
        .concat();
        let edits = Edits {
            rewrite: vec![(tags::PATIENT_NAME, b"ANON")],
            ..Edits::default()
        };
        let expected = [
            element(tags::PATIENT_NAME, VR::PN, b"ANON", LITTLE),
            element(tags::PATIENT_ID, VR::UN, b"ID", LITTLE),
        ]
        .concat();
        assert_eq!(rewrite(&edits, &input, LITTLE, &[]).unwrap(), expected);
    }

    #[test]
    fn sequences_and_pixel_data_are_removed_or_emptied() {
        let items = reference_item(DELIMITED);
        let input = [
            sequence(tags::REFERENCED_SERIES_SEQUENCE, &items, DELIMITED, LITTLE),
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DEFINED, LITTLE),
            fragments(LITTLE),
        ]
        .concat();
        let edits = Edits {
            sequences: vec![
                (tags::REFERENCED_SERIES_SEQUENCE, SequencePlan::Remove),
                (tags::REFERENCED_IMAGE_SEQUENCE, SequencePlan::Empty),
                (tags::PIXEL_DATA, SequencePlan::Empty),
            ],
            ..Edits::default()
        };
        let expected = [
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &[], DEFINED, LITTLE),
            element(tags::PIXEL_DATA, VR::OB, &[], LITTLE),
        ]
        .concat();
        assert_eq!(rewrite(&edits, &input, LITTLE, &[]).unwrap(), expected);
    }

    #[test]
    fn the_scope_of_a_sequence_reaches_its_items_only() {
        let items = reference_item(DEFINED);
        let series = sequence(tags::REFERENCED_SERIES_SEQUENCE, &items, DEFINED, LITTLE);
        let image =
            |items: &[u8]| sequence(tags::REFERENCED_IMAGE_SEQUENCE, items, DEFINED, LITTLE);
        let edits = Edits {
            remove_inside: Some((
                tags::REFERENCED_IMAGE_SEQUENCE,
                tags::REFERENCED_SOP_INSTANCE_UID,
            )),
            ..Edits::default()
        };
        let input = [image(&items), series.clone()].concat();
        let emptied = item(&[], DEFINED, LITTLE);
        let out = rewrite(&edits, &input, LITTLE, &[]).unwrap();
        assert_eq!(out, [image(&emptied), series].concat());
    }

    #[test]
    fn items_inherit_the_character_set_until_they_declare_their_own() {
        let el = |tag, value: &[u8]| element(tag, VR::CS, value, LITTLE);
        let name = element(tags::PATIENT_NAME, VR::PN, b"Doe^", LITTLE);
        let items = [
            item(&name, DEFINED, LITTLE),
            item(
                &[
                    el(tags::SPECIFIC_CHARACTER_SET, b"ISO_IR 192"),
                    name.clone(),
                ]
                .concat(),
                DEFINED,
                LITTLE,
            ),
        ]
        .concat();
        let input = [
            el(tags::SPECIFIC_CHARACTER_SET, b"ISO_IR 100"),
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DEFINED, LITTLE),
            name.clone(),
        ]
        .concat();
        let edits = Edits {
            rewrite: vec![(tags::PATIENT_NAME, b"Doe^")],
            ..Edits::default()
        };
        assert_eq!(rewrite(&edits, &input, LITTLE, &[]).unwrap(), input);
        let latin = CharacterSet::from_declaration(b"ISO_IR 100");
        let utf8 = CharacterSet::from_declaration(b"ISO_IR 192");
        assert_ne!(latin, utf8);
        assert_eq!(*edits.charsets.borrow(), [latin.clone(), utf8, latin]);
    }

    #[test]
    fn a_un_sequence_of_a_big_endian_file_is_written_as_a_big_endian_sequence() {
        let private = Tag(0x0009, 0x1010);
        let inner = |syntax| {
            [
                element(tags::PATIENT_NAME, VR::PN, b"Doe^", syntax),
                element(tags::ROWS, VR::US, &syntax.u16_to(0x0102), syntax),
            ]
            .concat()
        };
        // PS3.5 §6.2.2: a UN sequence holds implicit VR little endian items.
        let items = item(&inner(IMPLICIT), DELIMITED, IMPLICIT);
        let un = Header {
            tag: private,
            vr: VR::UN,
            len: 0,
        };
        let mut input = Vec::new();
        Header {
            len: UNDEFINED_LENGTH,
            ..un
        }
        .write(&mut input, BIG)
        .unwrap();
        input.extend(items);
        delimiter(SEQUENCE_DELIMITER)
            .write(&mut input, IMPLICIT)
            .unwrap();
        let items = item(&inner(BIG), DELIMITED, BIG);
        let expected = sequence(private, &items, DELIMITED, BIG);
        assert_eq!(copied(&input, BIG), expected);
    }

    /// A sequence written as UN of undefined length in a big endian data
    /// set: its items and its delimiter are implicit VR little endian
    /// (PS3.5 §6.2.2).
    fn big_endian_un_sequence(tag: Tag, items: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let len = UNDEFINED_LENGTH;
        Header {
            tag,
            vr: VR::UN,
            len,
        }
        .write(&mut out, BIG)
        .unwrap();
        out.extend_from_slice(items);
        delimiter(SEQUENCE_DELIMITER)
            .write(&mut out, IMPLICIT)
            .unwrap();
        out
    }

    #[test]
    fn a_un_sequence_of_a_big_endian_file_is_removed_or_emptied_whole() {
        let private = Tag(0x0009, 0x1010);
        let nested = [
            element(tags::PATIENT_NAME, VR::PN, b"Doe^", IMPLICIT),
            element(tags::ROWS, VR::US, &0x0102u16.to_le_bytes(), IMPLICIT),
        ]
        .concat();
        let items = [
            item(&nested, DELIMITED, IMPLICIT),
            item(&nested, DEFINED, IMPLICIT),
        ]
        .concat();
        let un = big_endian_un_sequence(private, &items);
        let after = element(tags::PATIENT_ID, VR::LO, b"ID", BIG);
        // The same again in an item of a kept (big endian) sequence.
        let kept = |body: &[u8]| {
            let items = item(body, DELIMITED, BIG);
            sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DELIMITED, BIG)
        };
        let with = |un: &[u8]| {
            let body = [un, &after].concat();
            [kept(&body), body].concat()
        };
        let input = with(&un);
        // Emptied, it is what it was read as: a sequence, big endian like
        // the rest of the output.
        let emptied = element(private, VR::SQ, &[], BIG);
        for (plan, left) in [
            (SequencePlan::Remove, vec![]),
            (SequencePlan::Empty, emptied),
        ] {
            let edits = Edits {
                sequences: vec![(private, plan.clone())],
                ..Edits::default()
            };
            let out = rewrite(&edits, &input, BIG, &[]);
            assert_eq!(out.unwrap(), with(&left), "{plan:?}");
        }
    }

    #[test]
    fn delimited_sequences_of_an_implicit_vr_file_are_removed_or_emptied_whole() {
        // Known to the dictionary as SQ, and unknown (read as UN, a
        // sequence by its undefined length): both hold implicit VR items.
        let private = Tag(0x0009, 0x1010);
        let nested = element(tags::PATIENT_NAME, VR::PN, b"Doe^", IMPLICIT);
        let items = item(&nested, DELIMITED, IMPLICIT);
        let known = sequence(tags::REFERENCED_IMAGE_SEQUENCE, &items, DELIMITED, IMPLICIT);
        let unknown = sequence(private, &items, DELIMITED, IMPLICIT);
        let after = element(tags::PATIENT_ID, VR::LO, b"ID", IMPLICIT);
        let input = [known, unknown, after.clone()].concat();
        let sequences = |plan: SequencePlan<()>| {
            vec![
                (tags::REFERENCED_IMAGE_SEQUENCE, plan.clone()),
                (private, plan),
            ]
        };
        let removed = Edits {
            sequences: sequences(SequencePlan::Remove),
            ..Edits::default()
        };
        assert_eq!(rewrite(&removed, &input, IMPLICIT, &[]).unwrap(), after);
        let emptied = Edits {
            sequences: sequences(SequencePlan::Empty),
            ..Edits::default()
        };
        let expected = [
            element(tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ, &[], IMPLICIT),
            element(private, VR::UN, &[], IMPLICIT),
            after,
        ]
        .concat();
        assert_eq!(rewrite(&emptied, &input, IMPLICIT, &[]).unwrap(), expected);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_an_error() {
        let deepest = nested(MAX_DEPTH, LITTLE);
        assert_eq!(copied(&deepest, LITTLE), deepest);
        let err = rewrite(
            &Edits::default(),
            &nested(MAX_DEPTH + 1, LITTLE),
            LITTLE,
            &[],
        );
        assert!(
            matches!(err, Err(StreamError::TooDeep { max: MAX_DEPTH, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_truncated_item_is_an_error() {
        let id = element(tags::PATIENT_ID, VR::LO, b"ID", LITTLE);
        let whole = sequence(
            tags::REFERENCED_IMAGE_SEQUENCE,
            &item(&id, DELIMITED, LITTLE),
            DELIMITED,
            LITTLE,
        );
        // Cut after the element: neither delimiter arrives.
        let cut = &whole[..whole.len() - 16];
        let err = rewrite(&Edits::default(), cut, LITTLE, &[]);
        assert!(
            matches!(&err, Err(StreamError::Truncated { what, .. }) if what == "a sequence item"),
            "{err:?}"
        );
    }

    #[test]
    fn items_that_run_past_their_end_are_errors() {
        let id = element(tags::PATIENT_ID, VR::LO, b"ID", LITTLE);
        let seq = |items: &[u8]| sequence(tags::REFERENCED_IMAGE_SEQUENCE, items, DEFINED, LITTLE);
        // An item longer than its sequence.
        let mut long_item = item(&id, DEFINED, LITTLE);
        long_item[4..8].copy_from_slice(&100u32.to_le_bytes());
        let err = rewrite(&Edits::default(), &seq(&long_item), LITTLE, &[]);
        assert!(
            matches!(err, Err(StreamError::ItemOverrun { len: 100, .. })),
            "{err:?}"
        );
        // An item whose element ends past the item's end.
        let mut short_item = item(&id, DEFINED, LITTLE);
        short_item[4..8].copy_from_slice(&4u32.to_le_bytes());
        let mut input = seq(&short_item);
        input.extend(element(tags::PATIENT_NAME, VR::PN, b"Doe^", LITTLE));
        let err = rewrite(&Edits::default(), &input, LITTLE, &[]);
        assert!(
            matches!(
                err,
                Err(StreamError::Overrun {
                    what: "an item",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn delimiters_and_items_out_of_place_are_errors() {
        let id = element(tags::PATIENT_ID, VR::LO, b"ID", LITTLE);
        let mut stray = Vec::new();
        for tag in [SEQUENCE_DELIMITER, ITEM_DELIMITER, ITEM] {
            stray.clear();
            stray.extend(&id);
            delimiter(tag).write(&mut stray, LITTLE).unwrap();
            let err = rewrite(&Edits::default(), &stray, LITTLE, &[]);
            let expected: Result<Vec<u8>, _> = Err(StreamError::UnexpectedTag {
                tag,
                offset: 18,
                context: "among data elements",
            });
            assert_eq!(format!("{err:?}"), format!("{expected:?}"));
        }
        // An element where an item should start.
        let input = sequence(tags::REFERENCED_IMAGE_SEQUENCE, &id, DELIMITED, LITTLE);
        let err = rewrite(&Edits::default(), &input, LITTLE, &[]);
        assert!(
            matches!(
                err,
                Err(StreamError::UnexpectedTag {
                    context: "where a sequence item should start",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
