//! TCIA's Private Tag Knowledge Base: private attributes named by group,
//! Private Creator and element, with what TCIA does to each
//! (`reference/tcia/README.md`). The shipped edition is read at build time
//! (`build.rs`, by [`kb_csv`](super::kb_csv)) into a static table: a run
//! starts without reading its CSV.

use std::borrow::Cow;

pub use super::kb_csv::{Disposition, Row, Segment};

/// The name profiles use for it (`private-knowledge-base = "..."`).
pub const KNOWLEDGE_BASE_NAME: &str = "tcia-2024-02-01";

/// The rows of the edition shipped with the tool
/// (`reference/tcia/private-tag-kb-2024-02-01.csv`), as the build script
/// read them; a row it could not read fails the build.
pub fn shipped_rows() -> Vec<Row<'static>> {
    ROWS.iter().map(PackedRow::unpack).collect()
}

/// A row of the static table: ranges of [`TEXT`] and of [`PATH_SEGMENTS`]
/// instead of pointers, which the loader would relocate in every run.
struct PackedRow {
    line: u32,
    /// Start and length in [`PATH_SEGMENTS`].
    path: (u16, u8),
    target: PackedSegment,
    /// Start and length in [`TEXT`].
    vr: (u32, u8),
    disposition: Disposition,
}

struct PackedSegment {
    group: u16,
    /// A standard element, or a private one's low byte.
    element: u16,
    /// A private attribute's creator: start and length in [`TEXT`].
    creator: Option<(u32, u8)>,
}

impl PackedRow {
    fn unpack(&self) -> Row<'static> {
        let (start, len) = self.path;
        let path = &PATH_SEGMENTS[usize::from(start)..][..usize::from(len)];
        Row {
            line: self.line as usize,
            path: if path.is_empty() {
                Cow::Borrowed(&[])
            } else {
                Cow::Owned(path.iter().map(PackedSegment::unpack).collect())
            },
            target: self.target.unpack(),
            vr: Cow::Borrowed(text(self.vr)),
            disposition: self.disposition,
        }
    }
}

impl PackedSegment {
    fn unpack(&self) -> Segment<'static> {
        match self.creator {
            None => Segment::Standard(self.group, self.element),
            Some(creator) => Segment::Private {
                group: self.group,
                creator: Cow::Borrowed(text(creator)),
                // The build script wrote a byte here.
                element: self.element as u8,
            },
        }
    }
}

fn text((start, len): (u32, u8)) -> &'static str {
    &TEXT[start as usize..][..usize::from(len)]
}

include!(concat!(env!("OUT_DIR"), "/tcia_kb_rows.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_shipped_knowledge_base_is_understood() {
        let rows = shipped_rows();
        assert_eq!(rows.len(), 8787);
        // Every row is about a private attribute or about a standard one
        // inside a private sequence.
        for row in &rows {
            let private_somewhere = std::iter::once(&row.target)
                .chain(row.path.iter())
                .any(|s| matches!(s, Segment::Private { .. }));
            assert!(private_somewhere, "line {}: {:?}", row.line, row);
        }
        let count = |d: Disposition| rows.iter().filter(|r| r.disposition == d).count();
        // Upper case and a leading space (" k") are read as the same codes.
        assert_eq!(count(Disposition::Keep), 3811 + 23 + 2);
        assert_eq!(count(Disposition::Hash), 84);
        assert_eq!(count(Disposition::Shift), 46);
        assert_eq!(count(Disposition::ShiftAlways), 9);
        assert_eq!(count(Disposition::Delete), 4585 + 2 + 210 + 15);
        // Creator strings lose their stray quotes.
        assert!(rows.iter().all(|r| match &r.target {
            Segment::Private { creator, .. } => !creator.contains('"'),
            Segment::Standard(..) => true,
        }));
    }

    #[test]
    fn the_static_table_holds_every_row_of_the_csv_as_read() {
        let csv = include_str!("../../../reference/tcia/private-tag-kb-2024-02-01.csv");
        let parsed = super::super::kb_csv::parse(csv).unwrap();
        assert_eq!(parsed, shipped_rows());
    }
}
