//! Reads TCIA's Private Tag Knowledge Base (8,787 rows) once, at build
//! time, into a static table (`$OUT_DIR/tcia_kb_rows.rs`, included by
//! `src/profile/tcia/kb.rs`): reading and checking the CSV took a run
//! longer to start than the rest of its profile. The table holds numbers
//! and ranges of one text, no pointers, so that the loader has nothing to
//! relocate in it and runs that do not use it do not pay for it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

#[allow(dead_code)] // the library uses the rest of it
#[path = "src/profile/tcia/kb_csv.rs"]
mod kb_csv;

use kb_csv::{Row, Segment};

const KNOWLEDGE_BASE: &str = "reference/tcia/private-tag-kb-2024-02-01.csv";

fn main() {
    println!("cargo::rerun-if-changed={KNOWLEDGE_BASE}");
    println!("cargo::rerun-if-changed=src/profile/tcia/kb_csv.rs");
    let text = fs::read_to_string(KNOWLEDGE_BASE)
        .unwrap_or_else(|err| panic!("cannot read {KNOWLEDGE_BASE}: {err}"));
    let rows = kb_csv::parse(&text).unwrap_or_else(|err| panic!("{KNOWLEDGE_BASE}: {err}"));
    let table = Table::of(&rows);
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(dir.join("tcia_kb_rows.rs"), table.source()).expect("cannot write to OUT_DIR");
}

/// The rows as Rust source of `kb::PackedRow`s and `kb::PackedSegment`s.
#[derive(Default)]
struct Table {
    /// Creators and VRs, one after another.
    text: String,
    /// Where each of them starts in `text`.
    starts: HashMap<String, usize>,
    segments: String,
    segment_count: usize,
    rows: String,
}

impl Table {
    fn of(rows: &[Row<'_>]) -> Table {
        let mut table = Table::default();
        for row in rows {
            table.add_row(row);
        }
        table
    }

    fn add_row(&mut self, row: &Row<'_>) {
        let path_start = self.segment_count;
        for segment in row.path.iter() {
            let packed = self.segment(segment);
            // Writing to a String cannot fail.
            let _ = writeln!(self.segments, "{packed},");
            self.segment_count += 1;
        }
        let target = self.segment(&row.target);
        let vr = self.text_range(&row.vr);
        let _ = writeln!(
            self.rows,
            "PackedRow {{ line: {}, path: ({path_start}, {}), target: {target}, vr: {vr}, \
             disposition: Disposition::{:?} }},",
            row.line,
            row.path.len(),
            row.disposition,
        );
    }

    fn segment(&mut self, segment: &Segment<'_>) -> String {
        match segment {
            Segment::Standard(group, element) => format!(
                "PackedSegment {{ group: {group:#06X}, element: {element:#06X}, creator: None }}"
            ),
            Segment::Private {
                group,
                creator,
                element,
            } => format!(
                "PackedSegment {{ group: {group:#06X}, element: {element:#04X}, creator: Some({}) }}",
                self.text_range(creator)
            ),
        }
    }

    /// Where `text` is in the table's text, added if it is not there yet.
    fn text_range(&mut self, text: &str) -> String {
        let start = *self.starts.entry(text.to_string()).or_insert_with(|| {
            self.text.push_str(text);
            self.text.len() - text.len()
        });
        format!("({start}, {})", text.len())
    }

    fn source(&self) -> String {
        format!(
            "static TEXT: &str = {:?};\n\
             static PATH_SEGMENTS: [PackedSegment; {}] = [\n{}];\n\
             static ROWS: [PackedRow; {}] = [\n{}];\n",
            self.text,
            self.segment_count,
            self.segments,
            self.rows.lines().count(),
            self.rows,
        )
    }
}
