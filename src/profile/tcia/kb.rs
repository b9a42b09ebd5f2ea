//! TCIA's Private Tag Knowledge Base: private attributes named by group,
//! Private Creator and element, with what TCIA does to each
//! (`reference/tcia/README.md`). The shipped edition is read at build time
//! (`build.rs`, by [`kb_csv`](super::kb_csv)) into a static table: a run
//! starts without reading its CSV.

pub use super::kb_csv::{Disposition, Row, Segment};

/// The name profiles use for it (`private-knowledge-base = "..."`).
pub const KNOWLEDGE_BASE_NAME: &str = "tcia-2024-02-01";

/// The rows of the edition shipped with the tool
/// (`reference/tcia/private-tag-kb-2024-02-01.csv`), as the build script
/// read them; a row it could not read fails the build.
pub fn shipped_rows() -> &'static [Row<'static>] {
    SHIPPED
}

static SHIPPED: &[Row<'static>] = include!(concat!(env!("OUT_DIR"), "/tcia_kb_rows.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_shipped_knowledge_base_is_understood() {
        let rows = shipped_rows();
        assert_eq!(rows.len(), 8787);
        // Every row is about a private attribute or about a standard one
        // inside a private sequence.
        for row in rows {
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
        assert_eq!(parsed.as_slice(), shipped_rows());
    }
}
