//! Which attributes a profile entry talks about.
//!
//! A selector is a keyword (`PatientName`), an exact tag (`(0010,0010)`,
//! `0010,0010`, `00100010`) or a tag pattern where `x` stands for any hex
//! digit (`(50xx,xxxx)` for all curve data, `(0010,xxxx)` for a whole group).
//! Keywords and exact tags go through the standard dictionary of dicom-rs.

use std::fmt;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;

/// A parsed attribute selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// One attribute.
    Tag(Tag),
    /// Every tag `t` with `t & mask == value`, tags packed as `gggg_eeee`.
    Pattern { value: u32, mask: u32 },
}

impl Selector {
    /// Parses the text of a profile key. Returns `None` when the text is
    /// neither a known keyword nor a tag or tag pattern.
    pub fn parse(text: &str) -> Option<Selector> {
        let text = text.trim();
        if let Some(pattern) = parse_pattern(text) {
            return Some(pattern);
        }
        StandardDataDictionary
            .parse_tag(text)
            .or_else(|| parse_hex_tag(text))
            .map(Selector::Tag)
    }

    /// Whether this selector covers `tag`.
    pub fn matches(&self, tag: Tag) -> bool {
        match *self {
            Selector::Tag(t) => t == tag,
            Selector::Pattern { value, mask } => pack(tag) & mask == value,
        }
    }

    /// How many of the 32 tag bits the selector fixes: an exact tag beats a
    /// pattern, and a narrower pattern beats a wider one.
    pub fn specificity(&self) -> u32 {
        match self {
            Selector::Tag(_) => 32,
            Selector::Pattern { mask, .. } => mask.count_ones(),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Selector::Tag(tag) => match StandardDataDictionary.by_tag(tag) {
                Some(entry) if !entry.alias().is_empty() && tag.group() & 1 == 0 => {
                    write!(f, "{} {}", entry.alias(), tag)
                }
                _ => write!(f, "{tag}"),
            },
            Selector::Pattern { value, mask } => {
                let digits: String = (0..8)
                    .rev()
                    .map(|i| {
                        let shift = i * 4;
                        if (mask >> shift) & 0xF == 0 {
                            'x'
                        } else {
                            char::from_digit((value >> shift) & 0xF, 16)
                                .unwrap_or('?')
                                .to_ascii_uppercase()
                        }
                    })
                    .collect();
                write!(f, "({},{})", &digits[..4], &digits[4..])
            }
        }
    }
}

/// Packs a tag as `gggg_eeee` for pattern matching.
pub fn pack(tag: Tag) -> u32 {
    (u32::from(tag.group()) << 16) | u32::from(tag.element())
}

fn strip_tag_punctuation(text: &str) -> Option<String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(text);
    let digits: String = inner.chars().filter(|c| *c != ',').collect();
    let comma_ok = match inner.find(',') {
        Some(4) => inner.matches(',').count() == 1,
        Some(_) => false,
        None => true,
    };
    (digits.len() == 8 && comma_ok).then_some(digits)
}

fn parse_hex_tag(text: &str) -> Option<Tag> {
    let digits = strip_tag_punctuation(text)?;
    let packed = u32::from_str_radix(&digits, 16).ok()?;
    Some(Tag((packed >> 16) as u16, packed as u16))
}

fn parse_pattern(text: &str) -> Option<Selector> {
    let digits = strip_tag_punctuation(text)?;
    if !digits.contains(['x', 'X']) {
        return None;
    }
    let mut value = 0u32;
    let mut mask = 0u32;
    for c in digits.chars() {
        value <<= 4;
        mask <<= 4;
        if c == 'x' || c == 'X' {
            continue;
        }
        value |= c.to_digit(16)?;
        mask |= 0xF;
    }
    Some(Selector::Pattern { value, mask })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_tags_name_the_same_attribute() {
        let by_name = Selector::parse("PatientName");
        assert_eq!(by_name, Some(Selector::Tag(Tag(0x0010, 0x0010))));
        assert_eq!(Selector::parse("(0010,0010)"), by_name);
        assert_eq!(Selector::parse("0010,0010"), by_name);
        assert_eq!(Selector::parse("00100010"), by_name);
    }

    #[test]
    fn private_tags_parse_as_tags() {
        assert_eq!(
            Selector::parse("(0009,10AF)"),
            Some(Selector::Tag(Tag(0x0009, 0x10AF)))
        );
    }

    #[test]
    fn patterns_match_their_range_only() {
        let curves = Selector::parse("(50xx,xxxx)").unwrap();
        assert!(curves.matches(Tag(0x5000, 0x0010)));
        assert!(curves.matches(Tag(0x50FE, 0x3000)));
        assert!(!curves.matches(Tag(0x6000, 0x3000)));
        assert_eq!(curves.specificity(), 8);
        assert_eq!(curves.to_string(), "(50xx,xxxx)");
    }

    #[test]
    fn nonsense_is_rejected() {
        assert_eq!(Selector::parse("PatientNmae"), None);
        assert_eq!(Selector::parse("(0010,001)"), None);
        assert_eq!(Selector::parse("(00,10,0010)"), None);
        assert_eq!(Selector::parse("(zz10,0010)"), None);
    }
}
