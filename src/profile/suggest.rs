//! "Did you mean ...?" for misspelt profile keys, keywords and actions.

/// The candidate closest to `word` by edit distance, if it is close
/// enough to be a likely typo (a third of the word's length, at least 1).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (distance(word, candidate), candidate))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// A word one edit (a letter deleted, inserted, replaced, or two swapped)
/// away from `word` for which `exists` holds: the dictionary has thousands
/// of keywords and no list of them, but it answers a lookup at once.
pub fn one_edit_away(word: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    let chars: Vec<char> = word.chars().collect();
    let letters = ('A'..='Z').chain('a'..='z').chain('0'..='9');
    let mut candidates: Vec<String> = Vec::new();
    for i in 0..chars.len() {
        let mut deleted = chars.clone();
        deleted.remove(i);
        candidates.push(deleted.iter().collect());
        if i + 1 < chars.len() {
            let mut swapped = chars.clone();
            swapped.swap(i, i + 1);
            candidates.push(swapped.iter().collect());
        }
    }
    for letter in letters {
        for i in 0..=chars.len() {
            let mut inserted = chars.clone();
            inserted.insert(i, letter);
            candidates.push(inserted.iter().collect());
            if i < chars.len() {
                let mut replaced = chars.clone();
                replaced[i] = letter;
                candidates.push(replaced.iter().collect());
            }
        }
    }
    candidates
        .into_iter()
        .find(|candidate| candidate != word && exists(candidate))
}

/// `; did you mean "X"?` or nothing.
pub fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!("; did you mean {s:?}?"))
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let replaced = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word_and_other_words_nothing() {
        let actions = ["keep", "remove", "blank", "replace", "hash"];
        assert_eq!(closest("blnk", actions), Some("blank"));
        assert_eq!(closest("remvoe", actions), Some("remove"));
        assert_eq!(closest("encrypt", actions), None);
        assert_eq!(
            closest("atributes", ["attributes", "output", "extends"]),
            Some("attributes")
        );
        let known = |w: &str| matches!(w, "PatientBirthDate" | "PatientName");
        assert_eq!(
            one_edit_away("PatientsBirthDate", known).as_deref(),
            Some("PatientBirthDate")
        );
        assert_eq!(
            one_edit_away("PatientNmae", known).as_deref(),
            Some("PatientName")
        );
        assert_eq!(one_edit_away("Nothing", known), None);
        assert_eq!(did_you_mean(Some("blank")), "; did you mean \"blank\"?");
    }
}
