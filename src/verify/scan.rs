//! Searching one output file for the PHI of its source: every element at
//! every depth (file meta and private elements included), and the path of
//! the file itself.
//!
//! Text values are decoded with the character set in force where they sit
//! and searched ignoring case; their raw bytes are searched too (ASCII
//! case ignored), which finds a value written in another character set
//! than the one declared. OB and UN values (private blobs, unparsed
//! private sequences) are searched as bytes and as decoded text. Pixel
//! data and encapsulated fragments are not searched: they are image
//! samples, in which short texts turn up by chance. Other binary values
//! (numbers, OW, OF, ...) hold no text and are not searched either.

use std::collections::BTreeSet;
use std::fmt;

use aho_corasick::{AhoCorasick, BuildError};
use dicom_core::{Tag, VR};

use super::collect::{Matching, Needle, Origin};
use super::path::TagPath;
use crate::charset::CharacterSet;
use crate::metadata::{DicomHeader, Element, Item, Value, is_text};

/// Shortest value searched inside binary data (OB, UN): shorter ones occur
/// in arbitrary bytes by chance.
pub const MIN_BINARY: usize = 4;

/// Shortest all-digit value searched in the output path: shorter numbers
/// are what the pseudonymous placeholders (`{image_number:03}`) produce.
pub const MIN_PATH_DIGITS: usize = 6;

/// Where a value was found in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Element(TagPath),
    /// The output's path relative to DEST.
    FilePath,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Element(path) => path.fmt(f),
            Location::FilePath => f.write_str("the file path"),
        }
    }
}

/// A source value found in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub location: Location,
    /// The source attribute the value came from.
    pub origin: Origin,
    /// The value itself: PHI, not to be shown unless asked for.
    pub value: String,
    /// Found in an attribute that PS3.15 Table E.1-1 does not list, whose
    /// value is unchanged from the source: the attribute's own value that
    /// happens to equal an identifying one (a manufacturer named like the
    /// institution, a coil named like a phantom patient), not a copy.
    pub coincidence: bool,
}

/// What is being searched, which decides the shortest values that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Haystack {
    Text,
    Binary,
    Path,
}

/// The needles of one source file, compiled for searching.
pub struct Matcher<'n> {
    needles: &'n [Needle],
    /// Each needle's text in lower case.
    folded: Vec<String>,
    /// Folded texts, searched in folded decoded text.
    text: AhoCorasick,
    text_owner: Vec<usize>,
    /// Byte forms, searched in raw values (ASCII case ignored).
    bytes: AhoCorasick,
    bytes_owner: Vec<usize>,
}

impl<'n> Matcher<'n> {
    pub fn new(needles: &'n [Needle]) -> Result<Matcher<'n>, BuildError> {
        let folded: Vec<String> = needles.iter().map(|n| n.text.to_lowercase()).collect();
        let text = AhoCorasick::new(&folded)?;
        let mut bytes_owner = Vec::new();
        let mut patterns: Vec<&[u8]> = Vec::new();
        for (i, needle) in needles.iter().enumerate() {
            for encoding in &needle.encodings {
                bytes_owner.push(i);
                patterns.push(encoding);
            }
        }
        let bytes = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)?;
        Ok(Matcher {
            needles,
            folded,
            text,
            text_owner: (0..needles.len()).collect(),
            bytes,
            bytes_owner,
        })
    }

    /// Whether `needle` is worth looking for in `haystack`.
    fn searched(&self, needle: usize, haystack: Haystack) -> bool {
        let text = &self.needles[needle].text;
        match haystack {
            Haystack::Text => true,
            Haystack::Binary => text.len() >= MIN_BINARY,
            Haystack::Path => {
                !text.bytes().all(|b| b.is_ascii_digit()) || text.len() >= MIN_PATH_DIGITS
            }
        }
    }

    /// Adds the needles found as whole words in decoded `text`.
    fn in_text(&self, text: &str, haystack: Haystack, found: &mut BTreeSet<usize>) {
        let folded = text.to_lowercase();
        for m in self.text.find_overlapping_iter(&folded) {
            let needle = self.text_owner[m.pattern().as_usize()];
            let matching = self.needles[needle].matching;
            let before = folded[..m.start()].chars().next_back();
            let after = folded[m.end()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| is_word_char(c, matching, haystack));
            if !word(before) && !word(after) && self.searched(needle, haystack) {
                found.insert(needle);
            }
        }
    }

    /// Adds the needles found as whole words in raw `bytes`.
    fn in_bytes(&self, bytes: &[u8], haystack: Haystack, found: &mut BTreeSet<usize>) {
        for m in self.bytes.find_overlapping_iter(bytes) {
            let needle = self.bytes_owner[m.pattern().as_usize()];
            let matching = self.needles[needle].matching;
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            let word = |b: Option<u8>| b.is_some_and(|b| is_word_byte(b, matching, haystack));
            if !word(before) && !word(after) && self.searched(needle, haystack) {
                found.insert(needle);
            }
        }
    }

    /// Turns found needles into leaks at `location`. A value found inside a
    /// longer one found at the same place (a name component inside the
    /// whole name) adds nothing and is left out.
    fn leaks(&self, found: &BTreeSet<usize>, location: &Location, out: &mut Vec<Leak>) {
        for &i in found {
            let covered = found.iter().any(|&j| {
                j != i
                    && self.folded[j].contains(&self.folded[i])
                    && (self.folded[j].len() > self.folded[i].len() || j < i)
            });
            if !covered {
                out.push(Leak {
                    location: location.clone(),
                    origin: self.needles[i].origin.clone(),
                    value: self.needles[i].text.clone(),
                    coincidence: false,
                });
            }
        }
    }
}

/// Letters and digits continue a word; a dot also continues a UID. In
/// binary data only ASCII letters and digits do: the bytes around a text
/// there are arbitrary, and decode to arbitrary letters.
fn is_word_char(c: char, matching: Matching, haystack: Haystack) -> bool {
    let letter = match haystack {
        Haystack::Binary => c.is_ascii_alphanumeric(),
        Haystack::Text | Haystack::Path => c.is_alphanumeric(),
    };
    letter || (matching == Matching::Uid && c == '.')
}

/// As [`is_word_char`] for raw bytes; in text, bytes above ASCII count as
/// letters, being part of some non-ASCII character, usually a letter.
fn is_word_byte(b: u8, matching: Matching, haystack: Haystack) -> bool {
    let letter = b.is_ascii_alphanumeric() || (b >= 0x80 && haystack != Haystack::Binary);
    letter || (matching == Matching::Uid && b == b'.')
}

/// Searches the output `header` and its path relative to DEST (`/`
/// separated) for the `needles` of its source; leaks in file order, the
/// path last.
pub fn scan(
    header: &DicomHeader,
    relative_path: &str,
    needles: &[Needle],
) -> Result<Vec<Leak>, BuildError> {
    let matcher = Matcher::new(needles)?;
    let mut scanner = Scanner {
        matcher: &matcher,
        parents: Vec::new(),
        leaks: Vec::new(),
    };
    let ascii = CharacterSet::default();
    for element in &header.meta {
        scanner.element(element, &ascii);
    }
    scanner.item(&header.dataset, &ascii);
    let mut found = BTreeSet::new();
    matcher.in_text(relative_path, Haystack::Path, &mut found);
    matcher.leaks(&found, &Location::FilePath, &mut scanner.leaks);
    Ok(scanner.leaks)
}

struct Scanner<'m, 'n> {
    matcher: &'m Matcher<'n>,
    parents: Vec<(Tag, usize)>,
    leaks: Vec<Leak>,
}

impl Scanner<'_, '_> {
    fn item(&mut self, item: &Item, inherited: &CharacterSet) {
        let charset = item.charset(inherited);
        for element in &item.elements {
            self.element(element, &charset);
        }
    }

    fn element(&mut self, element: &Element, charset: &CharacterSet) {
        let raw = match &element.value {
            Value::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.parents.push((element.tag, i + 1));
                    self.item(item, charset);
                    self.parents.pop();
                }
                return;
            }
            Value::Skipped => return,
            Value::Bytes(raw) => raw,
        };
        let haystack = if is_text(element.vr) {
            Haystack::Text
        } else if matches!(element.vr, VR::OB | VR::UN) {
            Haystack::Binary
        } else {
            return;
        };
        let mut found = BTreeSet::new();
        self.matcher
            .in_text(&charset.decode(raw), haystack, &mut found);
        self.matcher.in_bytes(raw, haystack, &mut found);
        let location = Location::Element(TagPath::new(&self.parents, element.tag));
        self.matcher.leaks(&found, &location, &mut self.leaks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::collect::Part;

    fn needle(text: &str, matching: Matching) -> Needle {
        Needle {
            text: text.into(),
            encodings: vec![text.as_bytes().to_vec()],
            matching,
            origin: Origin {
                attribute: TagPath::new(&[], Tag(0x0010, 0x0010)),
                part: Part::Component,
            },
        }
    }

    fn found(needles: &[Needle], text: &str, haystack: Haystack) -> Vec<String> {
        let matcher = Matcher::new(needles).unwrap();
        let mut found = BTreeSet::new();
        matcher.in_text(text, haystack, &mut found);
        matcher.in_bytes(text.as_bytes(), haystack, &mut found);
        found.into_iter().map(|i| needles[i].text.clone()).collect()
    }

    #[test]
    fn components_match_as_whole_words_in_any_case() {
        let needles = [needle("LI", Matching::Token)];
        assert!(found(&needles, "CLINICAL TRIAL", Haystack::Text).is_empty());
        assert_eq!(found(&needles, "seen by Dr li.", Haystack::Text), ["LI"]);
        assert_eq!(found(&needles, "Li^Wei", Haystack::Text), ["LI"]);
        assert!(found(&needles, "Liwei", Haystack::Text).is_empty());
    }

    #[test]
    fn uids_match_whole_not_as_a_prefix() {
        let needles = [needle("1.2.3.4", Matching::Uid)];
        assert!(found(&needles, "1.2.3.45", Haystack::Text).is_empty());
        assert!(found(&needles, "1.2.3.4.5", Haystack::Text).is_empty());
        assert!(found(&needles, "9.1.2.3.4", Haystack::Text).is_empty());
        assert_eq!(found(&needles, "1.2.3.4\0", Haystack::Text), ["1.2.3.4"]);
        assert_eq!(found(&needles, "a\\1.2.3.4", Haystack::Text), ["1.2.3.4"]);
    }

    #[test]
    fn non_ascii_text_is_folded_by_unicode_rules() {
        let needles = [needle("Müller", Matching::Token)];
        assert_eq!(found(&needles, "DR MÜLLER", Haystack::Text), ["Müller"]);
        assert!(found(&needles, "MÜLLERSTRASSE", Haystack::Text).is_empty());
    }

    #[test]
    fn short_values_are_not_searched_in_binary_data_or_numbers_in_paths() {
        let needles = [
            needle("Li", Matching::Token),
            needle("001", Matching::Token),
        ];
        assert!(found(&needles, "\x01Li\x02", Haystack::Binary).is_empty());
        let long = [needle("Lindqvist", Matching::Token)];
        assert_eq!(
            found(&long, "\u{fe}LINDQVIST\0", Haystack::Binary),
            ["Lindqvist"]
        );
        assert!(found(&long, "\u{fe}LINDQVIST\0", Haystack::Text).is_empty());
        assert_eq!(found(&needles, "\x01Li\x02", Haystack::Text), ["Li"]);
        assert!(found(&needles, "1_001.dcm", Haystack::Path).is_empty());
        assert_eq!(found(&needles, "Li/1_002.dcm", Haystack::Path), ["Li"]);
    }

    #[test]
    fn a_component_inside_the_whole_name_found_there_is_not_repeated() {
        let needles = [
            needle("Doe^John", Matching::Token),
            needle("Doe", Matching::Token),
            needle("JOHN", Matching::Token),
        ];
        let matcher = Matcher::new(&needles).unwrap();
        let mut set = BTreeSet::new();
        matcher.in_text("Doe^John", Haystack::Text, &mut set);
        assert_eq!(set.len(), 3);
        let mut leaks = Vec::new();
        matcher.leaks(&set, &Location::FilePath, &mut leaks);
        assert_eq!(leaks.len(), 1);
        assert_eq!(leaks[0].value, "Doe^John");
    }
}
