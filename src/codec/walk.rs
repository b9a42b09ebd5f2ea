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
    /// The source's value is read and handed to [`Editor::merge`].
    Value,
    /// The source sequence's items are walked (as data sets starting with
    /// this scope) and the bytes written of them handed to [`Editor::merge`].
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
    /// encapsulated pixel data.
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
    /// at the end of the data set, `None`); returns whether one took the
    /// place of `header`, whose value is then consumed.
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
        let header = if coding.transcodes() || inner.transcodes() {
            Header {
                vr: VR::SQ,
                ..*header
            }
        } else {
            *header
        };
        match plan {
            SequencePlan::Remove => {
                skip_value(source, &header, coding.read, depth)?;
            }
            SequencePlan::Empty => {
                skip_value(source, &header, coding.read, depth)?;
                Header { len: 0, ..header }.write(out, coding.write)?;
            }
            SequencePlan::Keep(scope) => {
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
                self.items(source, &mut items, &header, nesting)?;
                write_sequence(out, &header, &items, coding.write, inner.write)?;
            }
        }
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
            write_item(out, &item, &body, coding.write)?;
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
            SequencePlan::Empty => {
                skip_value(source, header, coding.read, 0)?;
                Header { len: 0, ..*header }.write(out, coding.write)?;
            }
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

/// Writes a sequence holding `items` (headers included) in its length
/// style: a defined length that counts them, or a delimiter after them
/// (in the items' syntax, `item_syntax`).
fn write_sequence<W: Write>(
    out: &mut W,
    header: &Header,
    items: &[u8],
    syntax: Syntax,
    item_syntax: Syntax,
) -> Result<(), StreamError> {
    if header.is_undefined_length() {
        header.write(out, syntax)?;
        out.write_all(items).map_err(StreamError::Write)?;
        delimiter(SEQUENCE_DELIMITER).write(out, item_syntax)
    } else {
        let len = checked_len(items.len())?;
        Header { len, ..*header }.write(out, syntax)?;
        out.write_all(items).map_err(StreamError::Write)
    }
}

/// Writes an item holding `body` in its length style.
fn write_item(
    out: &mut Vec<u8>,
    item: &Header,
    body: &[u8],
    syntax: Syntax,
) -> Result<(), StreamError> {
    if item.is_undefined_length() {
        item.write(out, syntax)?;
        out.extend_from_slice(body);
        delimiter(ITEM_DELIMITER).write(out, syntax)
    } else {
        let len = checked_len(body.len())?;
        Header { len, ..*item }.write(out, syntax)?;
        out.extend_from_slice(body);
        Ok(())
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
