//! Private attributes matched by Private Creator, not by tag.
//!
//! A private attribute (odd group) is only known by the creator that
//! reserved its block: (0029,1008) is a Siemens CSA header element where
//! (0029,0010) says `SIEMENS CSA HEADER`, and something else in the next
//! file. So a rule names group, creator and the element's last two hex
//! digits, and the engine, walking a data set, notes which creator reserved
//! each block ([`PrivateBlocks`], one per data set and item) to find the
//! rule of each private element.
//!
//! Creators are interned once per run: the profile's (and the knowledge
//! base's) creators get small ids, a file's creator elements are looked up
//! once each, and every private element is then one hash lookup of
//! (group, creator id, element).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use dicom_core::{Tag, VR};

use super::ruleset::TagHasher;
use super::{ActionDef, Disposition, ElementValue, FileContext, Rule, RuleError, vr};
use crate::profile::tcia::kb::KNOWLEDGE_BASE_NAME;

/// A private attribute packed as group, creator id and element.
pub type PrivateKey = u64;

/// The sequence an item's elements sit in: rules of the knowledge base can
/// be about a private attribute inside one sequence only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parent {
    Standard(Tag),
    Private(PrivateKey),
}

/// The key of an attribute of an interned creator.
pub(crate) fn key(group: u16, creator: u32, element: u8) -> PrivateKey {
    (u64::from(group) << 40) | (u64::from(creator) << 8) | u64::from(element)
}

/// Whether `group` holds private attributes (odd, but not 0001-0007 or FFFF).
pub fn is_private_group(group: u16) -> bool {
    group & 1 == 1 && group > 0x0008 && group != 0xFFFF
}

/// Whether `tag` is a Private Creator element (gggg,0010-00FF).
pub fn is_creator(tag: Tag) -> bool {
    is_private_group(tag.group()) && (0x0010..=0x00FF).contains(&tag.element())
}

/// How creators are compared: surrounding spaces and NULs dropped, case
/// ignored (writers differ in both).
pub fn normalize_creator(text: &str) -> String {
    text.trim_matches([' ', '\0']).to_ascii_uppercase()
}

/// Where a private rule was written. A knowledge base row is named only
/// when asked (`explain`): a run compiles thousands of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A profile's line, described.
    Profile(String),
    /// A row of the shipped knowledge base, by its line in the CSV.
    KnowledgeBase { line: usize },
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::Profile(text) => f.write_str(text),
            RuleOrigin::KnowledgeBase { line } => write!(
                f,
                "private tag knowledge base {KNOWLEDGE_BASE_NAME}, line {line}"
            ),
        }
    }
}

/// A rule and where it came from.
type Sourced = (Arc<dyn Rule>, RuleOrigin);

/// The private rules of a run, compiled once.
#[derive(Debug, Clone, Default)]
pub struct PrivateRules {
    creators: HashMap<String, u32>,
    /// Wherever the attribute sits.
    anywhere: HashMap<PrivateKey, Sourced, BuildHasherDefault<TagHasher>>,
    /// Only inside a given sequence (more specific, so looked up first).
    nested: HashMap<(Parent, PrivateKey), Sourced>,
}

impl PrivateRules {
    pub fn is_empty(&self) -> bool {
        self.anywhere.is_empty() && self.nested.is_empty()
    }

    /// Whether some rule is about one sequence only.
    pub fn has_nested(&self) -> bool {
        !self.nested.is_empty()
    }

    /// The id of a creator (new ones are numbered as they come).
    pub fn intern(&mut self, creator: &str) -> u32 {
        let next = u32::try_from(self.creators.len()).unwrap_or(u32::MAX);
        *self
            .creators
            .entry(normalize_creator(creator))
            .or_insert(next)
    }

    /// The key of `(group, creator, element)`, interning the creator.
    pub fn key_of(&mut self, group: u16, creator: &str, element: u8) -> PrivateKey {
        key(group, self.intern(creator), element)
    }

    /// Sets the rule for an attribute wherever it sits (a later call for
    /// the same attribute wins).
    pub fn set(&mut self, key: PrivateKey, rule: Arc<dyn Rule>, origin: RuleOrigin) {
        self.anywhere.insert(key, (rule, origin));
    }

    /// Sets the rule for an attribute inside one sequence.
    pub fn set_nested(
        &mut self,
        parent: Parent,
        key: PrivateKey,
        rule: Arc<dyn Rule>,
        origin: RuleOrigin,
    ) {
        self.nested.insert((parent, key), (rule, origin));
    }

    /// Every rule, for the rule set's questions (secret, identifiers ...).
    pub fn rules(&self) -> impl Iterator<Item = &Arc<dyn Rule>> {
        self.anywhere
            .values()
            .chain(self.nested.values())
            .map(|(rule, _)| rule)
    }

    /// Rewraps every rule (the rule set makes kept text checked).
    pub fn map_rules(&mut self, mut f: impl FnMut(Arc<dyn Rule>) -> Arc<dyn Rule>) {
        for (rule, _) in self.anywhere.values_mut().chain(self.nested.values_mut()) {
            *rule = f(Arc::clone(rule));
        }
    }

    /// The id of a creator as a file writes it, if any rule names it.
    pub fn creator_id(&self, value: &[u8]) -> Option<u32> {
        let text = String::from_utf8_lossy(value);
        self.creators.get(&normalize_creator(&text)).copied()
    }

    /// The key of a private data element of a data set whose blocks are
    /// `blocks`; `None` when its block has no creator a rule names.
    pub fn key_in(&self, tag: Tag, blocks: &PrivateBlocks) -> Option<PrivateKey> {
        let element = tag.element();
        if !is_private_group(tag.group()) || element < 0x1000 {
            return None;
        }
        let block = (element >> 8) as u8;
        let creator = blocks.creator_of(tag.group(), block)?;
        Some(key(tag.group(), creator, element as u8))
    }

    /// The rule (and its origin) for a private element, inside `parent`.
    pub fn lookup(&self, key: PrivateKey, parent: Option<Parent>) -> Option<&Sourced> {
        if !self.nested.is_empty()
            && let Some(parent) = parent
            && let Some(found) = self.nested.get(&(parent, key))
        {
            return Some(found);
        }
        self.anywhere.get(&key)
    }
}

/// The creators of the private blocks of one data set (or item), as the
/// walk meets them: creator elements come before the elements of their
/// blocks, since elements are in tag order.
#[derive(Debug, Clone, Default)]
pub struct PrivateBlocks {
    /// (group, block, creator id); `None` for a creator no rule names.
    reserved: Vec<(u16, u8, Option<u32>)>,
}

impl PrivateBlocks {
    /// Notes the creator element `tag` with its `value`; returns whether a
    /// rule names the creator.
    pub fn reserve(&mut self, rules: &PrivateRules, tag: Tag, value: &[u8]) -> bool {
        let creator = rules.creator_id(value);
        let block = tag.element() as u8;
        self.reserved
            .retain(|&(group, b, _)| !(group == tag.group() && b == block));
        self.reserved.push((tag.group(), block, creator));
        creator.is_some()
    }

    fn creator_of(&self, group: u16, block: u8) -> Option<u32> {
        self.reserved
            .iter()
            .rev()
            .find(|&&(g, b, _)| g == group && b == block)
            .and_then(|&(_, _, creator)| creator)
    }
}

/// Values of a private attribute with an unknown or binary VR (UN in
/// implicit VR files) that read as text: printable ASCII, with padding.
pub fn reads_as_text(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| (0x20..0x7F).contains(&b) || b == 0 || b == b'\\')
}

/// `h` of the knowledge base: a UID or ID hashed like the standard ones;
/// a value the hash cannot hold (binary, numbers) is removed. A UN value
/// (implicit VR files give private elements no VR) is hashed as a UID
/// where it reads as one, as text where it reads as text, and emptied
/// where it is binary.
#[derive(Debug)]
pub struct HashOrRemove(pub Arc<dyn Rule>);

/// Whether a text value is a UID (digits and dots, padding aside).
fn reads_as_uid(text: &str) -> bool {
    let uid = text.trim_matches([' ', '\0']);
    !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl Rule for HashOrRemove {
    fn action(&self) -> &'static ActionDef {
        self.0.action()
    }

    fn disposition(&self, vr: VR) -> Disposition {
        if self.0.fits(vr) || vr == VR::UN {
            Disposition::Rewrite
        } else {
            Disposition::Remove
        }
    }

    fn fits(&self, _: VR) -> bool {
        true
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        if element.vr != VR::UN {
            return self.0.rewrite(element, file);
        }
        if !reads_as_text(element.bytes) {
            return Ok(Vec::new());
        }
        let text = String::from_utf8_lossy(element.bytes);
        let hashed: Vec<String> = text
            .split('\\')
            .map(|value| value.trim_matches([' ', '\0']))
            .map(|value| match value {
                "" => String::new(),
                uid if reads_as_uid(uid) => super::hash_uid(file.secret, uid),
                other => super::hash_text(file.secret, other, 32),
            })
            .collect();
        Ok(hashed.join("\\").into_bytes())
    }

    fn uses_secret(&self) -> bool {
        true
    }
}

/// `o` and `oi` of the knowledge base: a date, moved by the patient's
/// offset. Private dates are often written in text VRs (LO, SH) or come as
/// UN: their text is read as a date; one that does not read as a date
/// becomes a shifted dummy. Times stay; numbers and binary values go.
#[derive(Debug)]
pub struct PrivateDate;

impl Rule for PrivateDate {
    fn action(&self) -> &'static ActionDef {
        &super::shift_date::ACTION
    }

    fn disposition(&self, vr: VR) -> Disposition {
        match vr {
            VR::TM => Disposition::Keep,
            VR::UN => Disposition::Rewrite,
            vr if vr::is_text(vr) => Disposition::Rewrite,
            _ => Disposition::Remove,
        }
    }

    fn fits(&self, _: VR) -> bool {
        true
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        // Text and UN values may hold a date with a time: read as DT.
        let vr = if element.vr == VR::DA { VR::DA } else { VR::DT };
        let text = String::from_utf8_lossy(element.bytes);
        Ok(super::shift_date::shift_values(&text, vr, file.date_shift_days).into_bytes())
    }

    fn uses_secret(&self) -> bool {
        true
    }

    fn needs_date_shift(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_find_their_creator_wherever_it_reserved() {
        let mut rules = PrivateRules::default();
        let csa = rules.key_of(0x0029, "SIEMENS CSA HEADER", 0x08);
        let keep: Arc<dyn Rule> = (super::super::keep::ACTION.build)(None);
        rules.set(csa, keep, RuleOrigin::Profile("test".into()));
        let mut blocks = PrivateBlocks::default();
        assert!(blocks.reserve(&rules, Tag(0x0029, 0x0011), b"SIEMENS CSA HEADER"));
        assert!(!blocks.reserve(&rules, Tag(0x0029, 0x0010), b"OTHER "));
        assert_eq!(rules.key_in(Tag(0x0029, 0x1108), &blocks), Some(csa));
        assert_eq!(rules.key_in(Tag(0x0029, 0x1008), &blocks), None);
        // Case and padding do not matter.
        let mut other = PrivateBlocks::default();
        other.reserve(&rules, Tag(0x0029, 0x0042), b"siemens csa header\0");
        assert_eq!(rules.key_in(Tag(0x0029, 0x4208), &other), Some(csa));
        assert!(rules.lookup(csa, None).is_some());
    }

    #[test]
    fn nested_rules_win_inside_their_sequence_only() {
        let mut rules = PrivateRules::default();
        let element = rules.key_of(0x2001, "Philips Imaging DD 001", 0xC1);
        let keep: Arc<dyn Rule> = (super::super::keep::ACTION.build)(None);
        let remove: Arc<dyn Rule> = (super::super::remove::ACTION.build)(None);
        let anywhere = RuleOrigin::Profile("anywhere".into());
        rules.set(element, keep, anywhere.clone());
        let parent = Parent::Standard(Tag(0x0008, 0x1115));
        let nested = RuleOrigin::Profile("nested".into());
        rules.set_nested(parent, element, remove, nested.clone());
        assert_eq!(rules.lookup(element, Some(parent)).unwrap().1, nested);
        let elsewhere = Some(Parent::Standard(Tag(0x0008, 0x1110)));
        assert_eq!(rules.lookup(element, elsewhere).unwrap().1, anywhere);
        assert_eq!(rules.lookup(element, None).unwrap().1, anywhere);
    }

    #[test]
    fn hashed_un_values_become_uids_or_hex_and_binary_goes() {
        let rule = HashOrRemove((super::super::hash::ACTION.build)(None));
        assert_eq!(rule.disposition(VR::OB), Disposition::Remove);
        assert_eq!(rule.disposition(VR::UN), Disposition::Rewrite);
        let run = |bytes: &[u8]| {
            let charset = crate::charset::CharacterSet::default();
            let identifiers = super::super::Identifiers::default();
            let element = ElementValue {
                tag: Tag(0x0009, 0x1107),
                vr: VR::UN,
                bytes,
                charset: &charset,
            };
            let file = FileContext {
                patient_index: 1,
                secret: b"k",
                date_shift_days: 0,
                identifiers: &identifiers,
            };
            String::from_utf8(rule.rewrite(&element, &file).unwrap()).unwrap()
        };
        assert!(run(b"1.2.840.99\0").starts_with("2.25."));
        let text = run(b"EXAM-42 ");
        assert_eq!(text.len(), 32);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(run(&[0x01, 0x02]), "");
    }

    #[test]
    fn creator_elements_and_private_groups() {
        assert!(is_creator(Tag(0x0029, 0x0010)));
        assert!(is_creator(Tag(0x0029, 0x00FF)));
        assert!(!is_creator(Tag(0x0029, 0x1010)));
        assert!(!is_creator(Tag(0x0028, 0x0010)));
        assert!(!is_private_group(0x0003));
        assert!(reads_as_text(b"20240101"));
        assert!(!reads_as_text(&[1, 2, 3]));
    }
}
