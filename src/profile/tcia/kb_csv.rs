//! The knowledge base's CSV read into rows.
//!
//! This file is compiled twice: into the build script (`build.rs`), which
//! reads the shipped edition once and writes it out as a static table (so
//! that no run reads a CSV of 8,787 rows when it starts), and into the
//! library, whose tests read small CSVs with it. So it needs nothing but
//! std and the csv crate.
//!
//! A row's `element_sig_pattern` is a path of segments separated by item
//! markers `[<n>]`: `(gggg,eeee)` is a standard attribute, `(gggg,CREATOR,ee)`
//! a private one (the element's last two hex digits within whatever block
//! the creator reserved). The last segment is the attribute the row is
//! about; the ones before are the sequences it sits in. The creator's
//! quoting is irregular (`"X"`, `X"`, `""`), so quotes around it are
//! dropped.

use std::borrow::Cow;
use std::fmt;

/// One segment of a row's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// A standard attribute: group and element.
    Standard(u16, u16),
    /// A private attribute: odd group, creator as written (trimmed), and
    /// the element's low byte.
    Private {
        group: u16,
        creator: Cow<'a, str>,
        element: u8,
    },
}

/// What TCIA does to a private attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    /// `k`: safe to keep.
    Keep,
    /// `o`: a date, shifted like the standard dates.
    Shift,
    /// `oi`: a date to shift even where it is not well formed.
    ShiftAlways,
    /// `h`: a UID (or ID) to hash.
    Hash,
    /// `d`, `na`, empty: removed.
    Delete,
}

impl Disposition {
    fn parse(text: &str) -> Option<Disposition> {
        match text.trim().to_ascii_lowercase().as_str() {
            "k" => Some(Disposition::Keep),
            "o" => Some(Disposition::Shift),
            "oi" => Some(Disposition::ShiftAlways),
            "h" => Some(Disposition::Hash),
            "d" | "na" | "" => Some(Disposition::Delete),
            _ => None,
        }
    }

    /// The profile action it becomes.
    pub fn action(self) -> &'static str {
        match self {
            Disposition::Keep => "keep",
            Disposition::Shift | Disposition::ShiftAlways => "shift-date",
            Disposition::Hash => "hash",
            Disposition::Delete => "remove",
        }
    }
}

/// One row of the knowledge base: borrowed from the static table of the
/// shipped edition, owned when read from a CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// The line in the CSV (1 is the header).
    pub line: usize,
    /// The sequences the attribute sits in, outermost first.
    pub path: Cow<'a, [Segment<'a>]>,
    /// The attribute itself.
    pub target: Segment<'a>,
    pub vr: Cow<'a, str>,
    pub disposition: Disposition,
}

/// Why the knowledge base could not be read.
#[derive(Debug)]
pub enum KbError {
    Row { line: usize, message: String },
    Csv(csv::Error),
}

impl fmt::Display for KbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KbError::Row { line, message } => {
                write!(f, "private tag knowledge base line {line}: {message}")
            }
            KbError::Csv(err) => write!(f, "private tag knowledge base: {err}"),
        }
    }
}

impl std::error::Error for KbError {}

/// Parses the knowledge base CSV (a byte-order mark is allowed).
// The library's own use is its tests: runs use the build script's table.
#[cfg_attr(not(test), allow(dead_code))]
pub fn parse(text: &str) -> Result<Vec<Row<'static>>, KbError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(KbError::Csv)?;
        let line = index + 2;
        let bad = |message: String| KbError::Row { line, message };
        let pattern = record.get(0).unwrap_or("");
        let mut segments = parse_path(pattern)
            .ok_or_else(|| bad(format!("cannot read the pattern {pattern:?}")))?;
        let disposition_text = record.get(3).unwrap_or("");
        let disposition = Disposition::parse(disposition_text)
            .ok_or_else(|| bad(format!("unknown disposition {disposition_text:?}")))?;
        let target = segments
            .pop()
            .ok_or_else(|| bad("an empty pattern".into()))?;
        rows.push(Row {
            line,
            path: Cow::Owned(segments),
            target,
            vr: Cow::Owned(record.get(2).unwrap_or("").trim().to_string()),
            disposition,
        });
    }
    Ok(rows)
}

/// Splits `(a)[<0>](b)[<1>](c)` into its segments.
fn parse_path(pattern: &str) -> Option<Vec<Segment<'static>>> {
    let mut segments = Vec::new();
    let mut rest = pattern.trim();
    loop {
        // A segment ends at the next item marker, or at the end.
        let (segment, after) = match find_item_marker(rest) {
            Some((start, end)) => (&rest[..start], Some(&rest[end..])),
            None => (rest, None),
        };
        segments.push(parse_segment(segment)?);
        match after {
            Some(after) => rest = after,
            None => return Some(segments),
        }
    }
}

/// Where the first `[<digits>]` starts and ends.
fn find_item_marker(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(offset) = text[from..].find("[<") {
        let start = from + offset;
        let digits = text[start + 2..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let close = start + 2 + digits;
        if digits > 0 && text[close..].starts_with(">]") {
            return Some((start, close + 2));
        }
        from = start + 2;
    }
    None
}

fn parse_segment(text: &str) -> Option<Segment<'static>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (group, rest) = inner.split_once(',')?;
    let group = hex_u16(group)?;
    if let Some(element) = hex_u16(rest).filter(|_| rest.trim().len() == 4) {
        return Some(Segment::Standard(group, element));
    }
    let (creator, element) = rest.rsplit_once(',')?;
    let element = element.trim();
    if element.len() != 2 {
        return None;
    }
    let element = u8::from_str_radix(element, 16).ok()?;
    let creator = Cow::Owned(creator.trim().trim_matches('"').trim().to_string());
    Some(Segment::Private {
        group,
        creator,
        element,
    })
}

fn hex_u16(text: &str) -> Option<u16> {
    let text = text.trim();
    (text.len() == 4)
        .then(|| u16::from_str_radix(text, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irregular_quoting_nested_paths_and_commas_in_creators() {
        let rows = parse(
            "\u{feff}element_sig_pattern,tag_name,vr,private_disposition\n\
             \"(0008,1084)[<0>](312f,Ramsoft Diagnosis Datetime Identifier\"\",20)\",x,TM,d\n\
             \"(4453,\"\"DR Systems, Inc.\"\",0c)[<0>](0020,000d)\",x,UI,na\n\
             \"(0029,SIEMENS CSA HEADER,08)\",x,CS, k\n\
             \"(0009,,02)\",x,UN,\n",
        )
        .unwrap();
        assert_eq!(*rows[0].path, [Segment::Standard(0x0008, 0x1084)]);
        assert_eq!(
            rows[0].target,
            Segment::Private {
                group: 0x312F,
                creator: "Ramsoft Diagnosis Datetime Identifier".into(),
                element: 0x20
            }
        );
        assert_eq!(
            *rows[1].path,
            [Segment::Private {
                group: 0x4453,
                creator: "DR Systems, Inc.".into(),
                element: 0x0C
            }]
        );
        assert_eq!(rows[1].target, Segment::Standard(0x0020, 0x000D));
        assert_eq!(rows[2].disposition, Disposition::Keep);
        assert_eq!(rows[3].disposition, Disposition::Delete);
        assert!(matches!(&rows[3].target, Segment::Private { creator, .. } if creator.is_empty()));
    }

    #[test]
    fn unreadable_rows_are_errors_with_their_line() {
        let err = parse("h,n,v,d\n\"(0029,X,0A)\",n,LO,k\n(0029 X),n,LO,k\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = parse("h,n,v,d\n\"(0029,X,0A)\",n,LO,maybe\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("maybe"), "{err}");
    }
}
