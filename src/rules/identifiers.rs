//! The values in one file that identify its patient: what `clean` takes
//! out of free text that is otherwise kept.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Identifying values of one file, case-folded, ready to look for in text.
#[derive(Debug, Default)]
pub struct Identifiers {
    /// Words (names, name parts) matched as whole words.
    words: BTreeSet<String>,
    /// The words of IDs (`PROSTATE` of `QIN-PROSTATE-01`), matched as
    /// whole words by `clean` only: alone they are too common to take out
    /// of a value kept as it is ([`Identifiers::scrub_kept`]).
    id_words: BTreeSet<String>,
    /// Longer forms (dates as people write them) matched anywhere.
    phrases: BTreeSet<String>,
    /// How many values [`Identifiers::scrub`] changed: the file's count of
    /// cleaned values, for its audit row.
    cleaned: AtomicU32,
    /// The phrases by first byte, gathered at the first value checked
    /// (a file checks dozens of values against a dozen phrases).
    phrase_finder: OnceLock<PhraseFinder>,
}

impl Clone for Identifiers {
    fn clone(&self) -> Identifiers {
        Identifiers {
            words: self.words.clone(),
            id_words: self.id_words.clone(),
            phrases: self.phrases.clone(),
            cleaned: AtomicU32::new(self.cleaned()),
            phrase_finder: OnceLock::new(),
        }
    }
}

/// Two sets are equal when they look for the same values.
impl PartialEq for Identifiers {
    fn eq(&self, other: &Identifiers) -> bool {
        self.words == other.words
            && self.id_words == other.id_words
            && self.phrases == other.phrases
    }
}

impl Eq for Identifiers {}

/// Shorter words are too common to take out ("DR", initials).
const MIN_WORD_CHARS: usize = 2;

/// No identifying values, for contexts built before a file is read.
static NONE: Identifiers = Identifiers {
    words: BTreeSet::new(),
    id_words: BTreeSet::new(),
    phrases: BTreeSet::new(),
    cleaned: AtomicU32::new(0),
    phrase_finder: OnceLock::new(),
};

impl Identifiers {
    /// The empty set, borrowed for as long as needed.
    pub fn none() -> &'static Identifiers {
        &NONE
    }

    /// A person name (PN): every component of every representation.
    pub fn add_name(&mut self, name: &str) {
        for part in name.split(['^', '=', '\\', ' ', ',']) {
            self.add_word(part);
        }
    }

    /// An identifier (patient ID, accession number ...): each value whole,
    /// and its words.
    pub fn add_id(&mut self, id: &str) {
        // A new value: the automaton is built again when next needed.
        self.phrase_finder.take();
        for value in id.split('\\').map(str::trim) {
            for word in words(value) {
                if word.is_ascii() && word.len() >= MIN_WORD_CHARS {
                    self.id_words.insert(fold(word));
                } else {
                    self.add_word(word);
                }
            }
            if value.chars().count() > MIN_WORD_CHARS {
                self.phrases.insert(fold(value));
            }
        }
    }

    /// A date (DA, `YYYYMMDD`) in the forms people write it.
    pub fn add_date(&mut self, date: &str) {
        // A new value: the automaton is built again when next needed.
        self.phrase_finder.take();
        let date = date.trim();
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        let (y, m, d) = (&date[..4], &date[4..6], &date[6..]);
        for form in [
            date.to_string(),
            format!("{y}-{m}-{d}"),
            format!("{y}.{m}.{d}"),
            format!("{y}/{m}/{d}"),
            format!("{d}.{m}.{y}"),
            format!("{d}/{m}/{y}"),
            format!("{m}/{d}/{y}"),
        ] {
            self.phrases.insert(form);
        }
    }

    /// How many values were cleaned so far.
    pub fn cleaned(&self) -> u32 {
        self.cleaned.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.id_words.is_empty() && self.phrases.is_empty()
    }

    /// `text` with every identifying value replaced by asterisks (one per
    /// character, so the shape of the text stays); `None` when nothing was
    /// found.
    pub fn scrub(&self, text: &str) -> Option<String> {
        self.scrub_with(text, Scope::All)
    }

    /// [`Identifiers::scrub`] for a value a profile keeps as it is: names
    /// and their parts, whole IDs and dates, but not the words of IDs
    /// (body part `PROSTATE` stays when the patient ID is
    /// `QIN-PROSTATE-01-0001`).
    pub fn scrub_kept(&self, text: &str) -> Option<String> {
        self.scrub_with(text, Scope::NamesAndWhole)
    }

    /// [`Identifiers::scrub_kept`] for a code (CS): whole IDs and dates
    /// only. A defined term that happens to be a name part (`TEXT`, an SR
    /// value type, in a file whose observer is called Text) is not taken
    /// out of a code; an ID or a date is never a defined term.
    pub fn scrub_code(&self, text: &str) -> Option<String> {
        self.scrub_with(text, Scope::Whole)
    }

    fn scrub_with(&self, text: &str, scope: Scope) -> Option<String> {
        if self.is_empty() || !self.occurs_in(text, scope) {
            return None;
        }
        let is_word = |word: &str| self.is_word(word, scope);
        let mut chars: Vec<char> = text.chars().collect();
        let folded: Vec<char> = chars.iter().map(|&c| fold_char(c)).collect();
        let mut hidden = vec![false; chars.len()];
        for phrase in &self.phrases {
            let phrase: Vec<char> = phrase.chars().collect();
            for start in 0..folded.len().saturating_sub(phrase.len() - 1) {
                if folded[start..start + phrase.len()] == phrase[..] {
                    hidden[start..start + phrase.len()].fill(true);
                }
            }
        }
        let mut start = 0;
        while start < folded.len() {
            let len = folded[start..]
                .iter()
                .take_while(|c| c.is_alphanumeric())
                .count();
            if len > 0 {
                let word: String = folded[start..start + len].iter().collect();
                if is_word(&word) {
                    hidden[start..start + len].fill(true);
                }
            }
            start += len.max(1);
        }
        if !hidden.contains(&true) {
            return None;
        }
        self.cleaned.fetch_add(1, Ordering::Relaxed);
        for (c, hide) in chars.iter_mut().zip(hidden) {
            if hide {
                *c = '*';
            }
        }
        Some(chars.into_iter().collect())
    }

    /// Whether some identifying value occurs in `text`: the usual answer
    /// is no, found with one folded copy of the text instead of the
    /// character-by-character marking [`Identifiers::scrub`] then does.
    fn occurs_in(&self, text: &str, scope: Scope) -> bool {
        let folded = fold(text);
        let finder = self
            .phrase_finder
            .get_or_init(|| PhraseFinder::new(&self.phrases));
        finder.occurs_in(folded.as_bytes()) || words(&folded).any(|word| self.is_word(word, scope))
    }

    fn is_word(&self, word: &str, scope: Scope) -> bool {
        match scope {
            Scope::All => self.words.contains(word) || self.id_words.contains(word),
            Scope::NamesAndWhole => self.words.contains(word),
            Scope::Whole => false,
        }
    }

    fn add_word(&mut self, word: &str) {
        // A new value: the automaton is built again when next needed.
        self.phrase_finder.take();
        for part in words(word.trim()) {
            if part.chars().count() < MIN_WORD_CHARS {
                continue;
            }
            // Scripts written without spaces (Japanese, Chinese) have no
            // word boundaries to wait for: their names match anywhere.
            if part.is_ascii() {
                self.words.insert(fold(part));
            } else {
                self.phrases.insert(fold(part));
            }
        }
    }
}

/// Which identifying values a scrub looks for: phrases (whole IDs, dates,
/// names in scripts without spaces) always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Name parts and the words of IDs too (`clean`).
    All,
    /// Name parts too (a kept value).
    NamesAndWhole,
    /// Nothing else (a kept code).
    Whole,
}

/// A file's phrases, looked for by their first byte. A file has a dozen
/// short phrases and checks a few dozen short values: an Aho-Corasick
/// automaton built per file cost more to build (11 % of a `ps3.15-basic`
/// run's instructions) than every search of the file together.
#[derive(Debug, Default)]
struct PhraseFinder {
    /// Which bytes some phrase starts with (a bit per byte value).
    first_bytes: [u64; 4],
    /// The phrases in byte order, so that those starting with one byte
    /// are neighbours.
    phrases: Vec<Box<[u8]>>,
}

impl PhraseFinder {
    fn new(phrases: &BTreeSet<String>) -> PhraseFinder {
        let mut finder = PhraseFinder::default();
        // A BTreeSet of Strings iterates in byte order.
        for phrase in phrases.iter().filter(|p| !p.is_empty()) {
            let first = phrase.as_bytes()[0];
            finder.first_bytes[usize::from(first >> 6)] |= 1 << (first & 63);
            finder.phrases.push(phrase.as_bytes().into());
        }
        finder
    }

    fn starts_some_phrase(&self, byte: u8) -> bool {
        self.first_bytes[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
    }

    /// Whether some phrase occurs in `text` (UTF-8 matched byte for byte:
    /// a valid phrase can only match at a character boundary).
    fn occurs_in(&self, text: &[u8]) -> bool {
        text.iter().enumerate().any(|(at, &byte)| {
            self.starts_some_phrase(byte) && {
                let from = self.phrases.partition_point(|p| p[0] < byte);
                self.phrases[from..]
                    .iter()
                    .take_while(|p| p[0] == byte)
                    .any(|phrase| text[at..].starts_with(phrase))
            }
        })
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Identifiers {
        let mut ids = Identifiers::default();
        ids.add_name("Smith^John^Q=スミス^ジョン");
        ids.add_id("MRN-0042\\A7");
        ids.add_date("19700315");
        ids
    }

    #[test]
    fn names_ids_and_dates_are_starred_out() {
        let ids = sample();
        assert_eq!(
            ids.scrub("CT for JOHN SMITH (mrn-0042), born 15.03.1970")
                .as_deref(),
            Some("CT for **** ***** (********), born **********")
        );
        assert_eq!(ids.scrub("スミス様").as_deref(), Some("***様"));
    }

    #[test]
    fn kept_values_lose_names_and_whole_ids_not_the_words_of_ids() {
        let mut ids = Identifiers::default();
        ids.add_id("QIN-PROSTATE-01-0001");
        ids.add_name("Doe^Jane");
        assert_eq!(ids.scrub_kept("PROSTATE"), None);
        assert_eq!(ids.scrub("PROSTATE").as_deref(), Some("********"));
        assert_eq!(
            ids.scrub_kept("JANE qin-prostate-01-0001").as_deref(),
            Some("**** ********************")
        );
        assert_eq!(ids.scrub_code("JANE"), None);
        assert_eq!(
            ids.scrub_code("NO QIN-PROSTATE-01-0001").as_deref(),
            Some("NO ********************")
        );
    }

    #[test]
    fn phrases_are_found_anywhere_by_their_first_byte() {
        let phrases: BTreeSet<String> = ["1970-03-15", "19700315", "mrn-0042", "スミス"]
            .map(String::from)
            .into();
        let finder = PhraseFinder::new(&phrases);
        for text in ["19700315", "born 1970-03-15.", "x mrn-0042", "様スミス様"] {
            assert!(finder.occurs_in(text.as_bytes()), "{text}");
        }
        for text in ["", "1970031", "1970-03-16 19700316", "mrn-004", "スミ"] {
            assert!(!finder.occurs_in(text.as_bytes()), "{text}");
        }
        assert!(!PhraseFinder::new(&BTreeSet::new()).occurs_in(b"anything"));
    }

    #[test]
    fn words_match_whole_and_short_parts_are_ignored() {
        let ids = sample();
        assert_eq!(ids.scrub("Smithfield clinic, Q series"), None);
        assert_eq!(ids.scrub("sample A"), None, "one letter is too short");
        assert_eq!(ids.scrub("tube A7").as_deref(), Some("tube **"));
        assert_eq!(ids.scrub("CHEST PA"), None);
        assert!(Identifiers::default().is_empty());
    }
}
