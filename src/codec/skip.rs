//! Skipping over a value whose end must be found by parsing (delimited
//! sequences, items and pixel fragments).

use std::io::Read;

use super::{
    Header, ITEM, ITEM_DELIMITER, MAX_DEPTH, SEQUENCE_DELIMITER, Source, StreamError, Syntax, What,
};

/// Skips the value of the element whose `header` was just read.
pub fn skip_value<R: Read>(
    source: &mut Source<R>,
    header: &Header,
    syntax: Syntax,
    depth: usize,
) -> Result<(), StreamError> {
    if !header.is_undefined_length() {
        return source.skip_value(header.len, What::Value(header.tag));
    }
    if depth >= MAX_DEPTH {
        return Err(StreamError::TooDeep {
            max: MAX_DEPTH,
            offset: source.position(),
        });
    }
    let inner = header.item_syntax(syntax);
    loop {
        let item = Header::read(source, inner)?.ok_or_else(|| StreamError::Truncated {
            what: What::Sequence(header.tag).to_string(),
            offset: source.position(),
        })?;
        match item.tag {
            SEQUENCE_DELIMITER => return Ok(()),
            ITEM if !item.is_undefined_length() => {
                source.skip_value(item.len, "a sequence item")?;
            }
            ITEM => skip_delimited_item(source, inner, depth + 1)?,
            tag => {
                return Err(StreamError::UnexpectedTag {
                    tag,
                    offset: source.position(),
                    context: "where a sequence item should start",
                });
            }
        }
    }
}

fn skip_delimited_item<R: Read>(
    source: &mut Source<R>,
    syntax: Syntax,
    depth: usize,
) -> Result<(), StreamError> {
    loop {
        let element = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
            what: "a sequence item".into(),
            offset: source.position(),
        })?;
        if element.tag == ITEM_DELIMITER {
            return Ok(());
        }
        skip_value(source, &element, syntax, depth)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::UNDEFINED_LENGTH;
    use dicom_core::{Tag, VR};

    fn write(headers: &[(Tag, VR, u32)], syntax: Syntax) -> Vec<u8> {
        let mut out = Vec::new();
        for &(tag, vr, len) in headers {
            Header { tag, vr, len }.write(&mut out, syntax).unwrap();
        }
        out
    }

    #[test]
    fn skips_nested_delimited_sequences() {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let mut bytes = write(
            &[
                (ITEM, VR::UN, UNDEFINED_LENGTH),
                (Tag(0x0008, 0x1115), VR::SQ, UNDEFINED_LENGTH),
                (ITEM, VR::UN, UNDEFINED_LENGTH),
                (Tag(0x0010, 0x0020), VR::LO, 2),
            ],
            syntax,
        );
        bytes.extend_from_slice(b"ID");
        bytes.extend(write(
            &[
                (ITEM_DELIMITER, VR::UN, 0),
                (SEQUENCE_DELIMITER, VR::UN, 0),
                (ITEM_DELIMITER, VR::UN, 0),
                (SEQUENCE_DELIMITER, VR::UN, 0),
            ],
            syntax,
        ));
        bytes.extend_from_slice(b"rest");
        let mut source = Source::new(&bytes[..]);
        let outer = Header {
            tag: Tag(0x0008, 0x1140),
            vr: VR::SQ,
            len: UNDEFINED_LENGTH,
        };
        skip_value(&mut source, &outer, syntax, 0).unwrap();
        assert_eq!(source.position() as usize, bytes.len() - 4);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let mut levels = Vec::new();
        for _ in 0..10_000 {
            levels.push((ITEM, VR::UN, UNDEFINED_LENGTH));
            levels.push((Tag(0x0008, 0x1140), VR::SQ, UNDEFINED_LENGTH));
        }
        let bytes = write(&levels, syntax);
        let mut source = Source::new(&bytes[..]);
        let outer = Header {
            tag: Tag(0x0008, 0x1140),
            vr: VR::SQ,
            len: UNDEFINED_LENGTH,
        };
        let err = skip_value(&mut source, &outer, syntax, 0).unwrap_err();
        assert!(matches!(err, StreamError::TooDeep { .. }), "{err}");
    }
}
