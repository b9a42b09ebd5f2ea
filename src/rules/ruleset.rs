//! A profile compiled once per run into a tag → rule lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use dicom_core::{Tag, VR};

use super::keep::KeepChecked;
use super::private::{
    HashOrRemove, Parent, PrivateBlocks, PrivateDate, PrivateKey, PrivateRules, RuleOrigin, key,
};
use super::{ACTIONS, ActionDef, Disposition, Rule, Stamp, action, vr};
use crate::codec::implicit_vr;
use crate::profile::tcia::kb;
use crate::profile::{
    ActionRef, OutputTemplate, PatientKey, Profile, ProfileError, ProfileErrors, Selector, closest,
    did_you_mean, sort_by_place,
};

/// A hasher for tags: they are looked up for every element of every file,
/// come from the profile (not from an attacker who could choose
/// collisions), and fit in a `u32`, so one multiplication spreads them
/// well enough; SipHash cost more than the rest of the lookup.
#[derive(Default)]
pub(crate) struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u8(byte);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        // Fibonacci hashing of the running value (the group and element
        // of a tag arrive as two u16s).
        self.0 = (self.0.rotate_left(16) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The rules of a run, in the precedence of PS3.15-style profiles: an
/// attribute named exactly, then the narrowest matching tag pattern, then
/// the private-attribute policy (odd groups), then the policy for
/// everything unlisted.
#[derive(Debug, Clone)]
pub struct RuleSet {
    exact: HashMap<Tag, Arc<dyn Rule>, BuildHasherDefault<TagHasher>>,
    /// Most specific first.
    patterns: Vec<(Selector, Arc<dyn Rule>)>,
    /// Which profile line each exact rule, pattern and policy came from
    /// (for `profile explain`; the lookups above stay lean).
    origins: Origins,
    private: Arc<dyn Rule>,
    unlisted: Arc<dyn Rule>,
    /// Private attributes named by creator (the profile's and the
    /// knowledge base's); `None` when there are none.
    by_creator: Option<PrivateRules>,
    /// What a Private Creator element that some rule names gets: kept, so
    /// that the private attributes kept in its block stay readable.
    creator_keep: Arc<dyn Rule>,
    output: OutputTemplate,
    layers: Vec<String>,
    /// What the profile does, as a hash (see `Profile::fingerprint`).
    fingerprint: String,
    patient_key: PatientKey,
    stamp: Stamp,
    /// Whether some rule needs the file's identifying values (`clean`).
    cleans: bool,
    /// Whether some rule moves dates by the patient's offset.
    shifts_dates: bool,
}

impl RuleSet {
    /// Loads the profiles named on the command line and compiles them,
    /// reporting the problems of both steps together.
    pub fn load(specs: &[String]) -> Result<RuleSet, ProfileErrors> {
        let (profile, mut problems) = Profile::load_with_problems(specs);
        match RuleSet::compile(&profile) {
            Ok(rules) if problems.is_empty() => Ok(rules),
            Ok(_) => Err(ProfileErrors(problems)),
            Err(more) => {
                problems.extend(more.0);
                sort_by_place(&mut problems);
                Err(ProfileErrors(problems))
            }
        }
    }

    /// Checks every action of `profile` against the registry and builds the
    /// lookup; all problems are reported together.
    pub fn compile(profile: &Profile) -> Result<RuleSet, ProfileErrors> {
        let mut errors = Vec::new();
        let keep = (super::keep::ACTION.build)(None);
        let mut exact = HashMap::default();
        let mut patterns = Vec::new();
        let mut origins = Origins::default();
        for entry in &profile.entries {
            let known_vr = match entry.selector {
                Selector::Tag(tag) => Some(implicit_vr(tag)).filter(|vr| *vr != VR::UN),
                Selector::Pattern { .. } => None,
            };
            let described = entry.selector.to_string();
            let source = format!("{} ({})", entry.action.origin, entry.key);
            match build(&entry.action, known_vr, &described) {
                Ok(rule) => match entry.selector {
                    Selector::Tag(tag) => {
                        exact.insert(tag, rule);
                        origins.exact.insert(tag, source);
                    }
                    selector => {
                        patterns.push((selector, rule));
                        origins.patterns.push((selector, source));
                    }
                },
                Err(err) => errors.push(err),
            }
        }
        patterns.sort_by_key(|(selector, _)| std::cmp::Reverse(selector.specificity()));
        origins
            .patterns
            .sort_by_key(|(selector, _)| std::cmp::Reverse(selector.specificity()));
        let mut policy = |action: &Option<ActionRef>, what: &str| match action {
            None => Arc::clone(&keep),
            Some(action) => build(action, None, what)
                .and_then(|rule| fits_any_vr(rule, action, what))
                .unwrap_or_else(|err| {
                    errors.push(err);
                    Arc::clone(&keep)
                }),
        };
        let private = policy(&profile.private_attributes, "private-attributes");
        let unlisted = policy(&profile.unlisted_attributes, "unlisted-attributes");
        let policy_source = |action: &Option<ActionRef>, what: &str| match action {
            Some(action) => format!("{} ({what})", action.origin),
            None => format!("{what} default (keep)"),
        };
        origins.private = policy_source(&profile.private_attributes, "private-attributes");
        origins.unlisted = policy_source(&profile.unlisted_attributes, "unlisted-attributes");
        let by_creator = private_table(profile, &mut errors);
        if !errors.is_empty() {
            sort_by_place(&mut errors);
            return Err(ProfileErrors(errors));
        }
        let mut rules = RuleSet {
            exact,
            patterns,
            origins,
            private,
            unlisted,
            by_creator: (!by_creator.is_empty()).then_some(by_creator),
            creator_keep: Arc::clone(&keep),
            output: profile.output.clone(),
            layers: profile.layers.clone(),
            fingerprint: profile.fingerprint(),
            patient_key: profile.patient_key.clone(),
            stamp: Stamp::new(&profile.methods, profile.temporal_information),
            cleans: false,
            shifts_dates: false,
        };
        let dates_modified =
            profile.temporal_information == Some(crate::profile::TemporalInformation::Modified);
        if profile.clean_kept_values || dates_modified {
            rules.check_kept_values(profile.clean_kept_values, dates_modified);
        }
        // Asked for every file: found once here.
        let cleans = rules.all_rules().any(|rule| rule.needs_identifiers());
        let shifts_dates = rules.all_rules().any(|rule| rule.needs_date_shift());
        rules.cleans = cleans;
        rules.shifts_dates = shifts_dates;
        Ok(rules)
    }

    /// Where the rule for `tag` was written: `file:line (key)`, or the
    /// policy that decided.
    pub fn origin_of(&self, tag: Tag) -> &str {
        if let Some(source) = self.origins.exact.get(&tag) {
            return source;
        }
        if let Some((_, source)) = self.origins.patterns.iter().find(|(s, _)| s.matches(tag)) {
            return source;
        }
        if tag.group() & 1 == 1 {
            &self.origins.private
        } else {
            &self.origins.unlisted
        }
    }

    /// The rule for an element with this tag, at any depth.
    pub fn rule_for(&self, tag: Tag) -> &dyn Rule {
        if let Some(rule) = self.exact.get(&tag) {
            return rule.as_ref();
        }
        if let Some((_, rule)) = self.patterns.iter().find(|(s, _)| s.matches(tag)) {
            return rule.as_ref();
        }
        if tag.group() & 1 == 1 {
            self.private.as_ref()
        } else {
            self.unlisted.as_ref()
        }
    }

    /// The rule for an element of a data set (or item) whose private
    /// blocks are `blocks`, inside the sequence `parent`: a private
    /// attribute by its creator where a rule names it, else by tag.
    pub fn rule_in(&self, tag: Tag, blocks: &PrivateBlocks, parent: Option<Parent>) -> &dyn Rule {
        if let Some(table) = &self.by_creator
            && let Some(key) = table.key_in(tag, blocks)
            && let Some((rule, _)) = table.lookup(key, parent)
        {
            return rule.as_ref();
        }
        self.rule_for(tag)
    }

    /// [`RuleSet::origin_of`] for an element of a data set whose private
    /// blocks are `blocks`.
    pub fn origin_in(&self, tag: Tag, blocks: &PrivateBlocks, parent: Option<Parent>) -> String {
        if let Some(table) = &self.by_creator
            && let Some(key) = table.key_in(tag, blocks)
            && let Some((_, origin)) = table.lookup(key, parent)
        {
            return origin.to_string();
        }
        self.origin_of(tag).to_string()
    }

    /// Private attributes named by creator, when the profile has any: the
    /// engine then notes the creators of each data set's blocks.
    pub fn by_creator(&self) -> Option<&PrivateRules> {
        self.by_creator.as_ref()
    }

    /// The rule for a Private Creator element: kept when a rule names the
    /// creator (`known`), else by tag like any private element.
    pub fn creator_rule(&self, tag: Tag, known: bool) -> &dyn Rule {
        if known {
            self.creator_keep.as_ref()
        } else {
            self.rule_for(tag)
        }
    }

    /// What the items of the sequence `tag` sit in, for rules about one
    /// sequence only; `None` when no rule is.
    pub fn parent_of(&self, tag: Tag, blocks: &PrivateBlocks) -> Option<Parent> {
        let table = self.by_creator.as_ref().filter(|t| t.has_nested())?;
        if super::is_private_group(tag.group()) {
            table.key_in(tag, blocks).map(Parent::Private)
        } else {
            Some(Parent::Standard(tag))
        }
    }

    /// Makes every `keep` check its text (`clean-kept-values`) and shift
    /// its dates (when dates are modified).
    fn check_kept_values(&mut self, text: bool, dates: bool) {
        let checked: Arc<dyn Rule> = Arc::new(KeepChecked { text, dates });
        let wrap = |rule: &mut Arc<dyn Rule>| {
            if rule.name() == "keep" && rule.disposition(VR::LO) == Disposition::Keep {
                *rule = Arc::clone(&checked);
            }
        };
        self.exact.values_mut().for_each(wrap);
        self.patterns.iter_mut().for_each(|(_, rule)| wrap(rule));
        wrap(&mut self.private);
        wrap(&mut self.unlisted);
        if let Some(table) = &mut self.by_creator {
            table.map_rules(|mut rule| {
                wrap(&mut rule);
                rule
            });
        }
    }

    /// Whether some rule hashes with `DICOMMANAGER_SECRET`.
    pub fn uses_secret(&self) -> bool {
        self.all_rules().any(|rule| rule.uses_secret())
    }

    /// Whether some rule needs the file's identifying values (`clean`).
    pub fn cleans(&self) -> bool {
        self.cleans
    }

    /// Whether some rule moves dates by the patient's offset.
    pub fn shifts_dates(&self) -> bool {
        self.shifts_dates
    }

    /// What every output gets added.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    fn all_rules(&self) -> impl Iterator<Item = &Arc<dyn Rule>> {
        self.exact
            .values()
            .chain(self.patterns.iter().map(|(_, r)| r))
            .chain([&self.private, &self.unlisted])
            .chain(self.by_creator.iter().flat_map(PrivateRules::rules))
    }

    /// Where outputs go, relative to DEST.
    pub fn output(&self) -> &OutputTemplate {
        &self.output
    }

    /// The profile layers this rule set was built from.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Which attributes identify a patient.
    pub fn patient_key(&self) -> &PatientKey {
        &self.patient_key
    }

    pub fn layers(&self) -> &[String] {
        &self.layers
    }
}

/// The private attributes named by creator: the knowledge base's
/// dispositions first, then the profile's own entries, which win.
fn private_table(profile: &Profile, errors: &mut Vec<ProfileError>) -> PrivateRules {
    let mut table = PrivateRules::default();
    if profile.private_knowledge_base.is_some() {
        add_knowledge_base(&mut table, &kb::shipped_rows());
    }
    for entry in &profile.private_entries {
        let described = entry.selector.to_string();
        let built = build(&entry.action, None, &described).and_then(|rule| match rule.name() {
            // Private values come in any VR (UN in implicit VR files): these
            // two get the forms that handle every VR.
            "hash" => Ok(Arc::new(HashOrRemove(rule)) as Arc<dyn Rule>),
            "shift-date" => Ok(Arc::new(PrivateDate) as Arc<dyn Rule>),
            _ => fits_any_vr(rule, &entry.action, &described),
        });
        match built {
            Ok(rule) => {
                let selector = &entry.selector;
                let key = table.key_of(selector.group, &selector.creator, selector.element);
                let origin = format!("{} ({})", entry.action.origin, entry.key);
                table.set(key, rule, RuleOrigin::Profile(origin));
            }
            Err(err) => errors.push(err),
        }
    }
    table
}

/// Adds the rows of the shipped private tag knowledge base about private
/// attributes (rows about standard attributes inside private sequences are
/// left to the standard rules, which apply at every depth). Where rows
/// disagree about one attribute (scanners wrote it with different VRs),
/// the more protective disposition wins.
pub(crate) fn add_knowledge_base(table: &mut PrivateRules, rows: &[kb::Row<'_>]) {
    let keep = (super::keep::ACTION.build)(None);
    let remove = (super::remove::ACTION.build)(None);
    let hash: Arc<dyn Rule> = Arc::new(HashOrRemove((super::hash::ACTION.build)(None)));
    let date: Arc<dyn Rule> = Arc::new(PrivateDate);
    type Decided = HashMap<
        (Option<Parent>, PrivateKey),
        (kb::Disposition, usize),
        BuildHasherDefault<TagHasher>,
    >;
    let mut decided = Decided::default();
    let mut creators = CreatorIds::default();
    for row in rows {
        let kb::Segment::Private {
            group,
            creator,
            element,
        } = &row.target
        else {
            continue;
        };
        let key = creators.key_of(table, *group, creator, *element);
        let parent = row.path.last().map(|segment| match segment {
            kb::Segment::Standard(group, element) => Parent::Standard(Tag(*group, *element)),
            kb::Segment::Private {
                group,
                creator,
                element,
            } => Parent::Private(creators.key_of(table, *group, creator, *element)),
        });
        let slot = decided
            .entry((parent, key))
            .or_insert((row.disposition, row.line));
        if row.disposition > slot.0 {
            *slot = (row.disposition, row.line);
        }
    }
    for ((parent, key), (disposition, line)) in decided {
        let rule = match disposition {
            kb::Disposition::Keep => &keep,
            kb::Disposition::Delete => &remove,
            kb::Disposition::Hash => &hash,
            kb::Disposition::Shift | kb::Disposition::ShiftAlways => &date,
        };
        let origin = RuleOrigin::KnowledgeBase { line };
        match parent {
            None => table.set(key, Arc::clone(rule), origin),
            Some(parent) => table.set_nested(parent, key, Arc::clone(rule), origin),
        }
    }
}

/// The knowledge base lists a creator's attributes one after another: the
/// id of the creator met last is reused rather than interned again.
#[derive(Default)]
struct CreatorIds<'a> {
    last: Option<(&'a str, u32)>,
}

impl<'a> CreatorIds<'a> {
    fn key_of(
        &mut self,
        table: &mut PrivateRules,
        group: u16,
        creator: &'a str,
        element: u8,
    ) -> PrivateKey {
        let id = match self.last {
            Some((last, id)) if last == creator => id,
            _ => {
                let id = table.intern(creator);
                self.last = Some((creator, id));
                id
            }
        };
        key(group, id, element)
    }
}

/// Where each rule of a rule set was written.
#[derive(Debug, Clone, Default)]
struct Origins {
    exact: HashMap<Tag, String>,
    /// In the order of the rule set's patterns (most specific first).
    patterns: Vec<(Selector, String)>,
    private: String,
    unlisted: String,
}

/// Every VR an attribute can have.
const ALL_VRS: [VR; 34] = [
    VR::AE,
    VR::AS,
    VR::AT,
    VR::CS,
    VR::DA,
    VR::DS,
    VR::DT,
    VR::FL,
    VR::FD,
    VR::IS,
    VR::LO,
    VR::LT,
    VR::OB,
    VR::OD,
    VR::OF,
    VR::OL,
    VR::OV,
    VR::OW,
    VR::PN,
    VR::SH,
    VR::SL,
    VR::SQ,
    VR::SS,
    VR::ST,
    VR::SV,
    VR::TM,
    VR::UC,
    VR::UI,
    VR::UL,
    VR::UN,
    VR::UR,
    VR::US,
    VR::UT,
    VR::UV,
];

/// The VRs a policy rule would have to rewrite but cannot.
fn unfit_vrs(rule: &dyn Rule) -> Vec<VR> {
    ALL_VRS
        .into_iter()
        .filter(|vr| rule.disposition(*vr) == Disposition::Rewrite && !rule.fits(*vr))
        .collect()
}

/// A policy (`private-attributes`, `unlisted-attributes`) meets attributes
/// of any VR: its action must handle every one, or every file with such
/// an attribute would fail at run time.
fn fits_any_vr(
    rule: Arc<dyn Rule>,
    spec: &ActionRef,
    what: &str,
) -> Result<Arc<dyn Rule>, ProfileError> {
    let unfit = unfit_vrs(rule.as_ref());
    if unfit.is_empty() {
        return Ok(rule);
    }
    let names: Vec<String> = unfit.iter().map(|vr| vr.to_string().to_string()).collect();
    let allowed: Vec<&str> = ACTIONS
        .iter()
        .filter(|def| {
            let value = def.takes_value.then_some("X");
            unfit_vrs((def.build)(value).as_ref()).is_empty()
        })
        .map(|def| def.name)
        .collect();
    Err(ProfileError::Invalid {
        origin: spec.origin.clone(),
        message: format!(
            "action {:?} cannot be the {what} policy: it meets attributes of every VR and does not fit {}; allowed: {}",
            spec.name,
            names.join(", "),
            allowed.join(", ")
        ),
    })
}

fn build(
    spec: &ActionRef,
    known_vr: Option<VR>,
    what: &str,
) -> Result<Arc<dyn Rule>, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        origin: spec.origin.clone(),
        message,
    };
    let def: &ActionDef = action(&spec.name).ok_or_else(|| {
        let allowed: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        invalid(format!(
            "unknown action {:?} for {what}{}; allowed: {}",
            spec.name,
            did_you_mean(closest(&spec.name, allowed.iter().copied())),
            allowed.join(", ")
        ))
    })?;
    match (&spec.value, def.takes_value) {
        (None, true) => {
            return Err(invalid(format!(
                "action {:?} for {what} needs a value: {{ action = {:?}, value = \"...\" }}",
                def.name, def.name
            )));
        }
        (Some(_), false) => {
            return Err(invalid(format!(
                "action {:?} for {what} takes no value; write {what_short} = {:?}",
                def.name,
                def.name,
                what_short = what.split(' ').next().unwrap_or(what)
            )));
        }
        _ => {}
    }
    if let Some(vr) = known_vr {
        if !(def.fits)(vr) {
            return Err(invalid(format!(
                "action {:?} does not fit {what}, whose VR is {}; {:?} is for {}",
                def.name,
                vr.to_string(),
                def.name,
                def.fits_description
            )));
        }
        if let Some(value) = &spec.value {
            vr::check_value(vr, value).map_err(|m| invalid(format!("{what}: {m}")))?;
        }
    }
    Ok((def.build)(spec.value.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<RuleSet, String> {
        let profile = Profile::from_text("site.toml", text).map_err(|e| e.to_string())?;
        RuleSet::compile(&profile).map_err(|e| e.to_string())
    }

    #[test]
    fn a_policy_must_fit_every_vr_it_can_meet() {
        let err = compile("unlisted-attributes = \"replace-with-index\"\n").unwrap_err();
        assert!(
            err.contains("site.toml:1") && err.contains("cannot be the unlisted-attributes policy"),
            "{err}"
        );
        assert!(err.contains("allowed: keep, remove"), "{err}");
        let err = compile("private-attributes = \"shift-date\"\n").unwrap_err();
        assert!(err.contains("does not fit AE"), "{err}");
        for builtin in crate::profile::builtin_names() {
            RuleSet::load(&[builtin.to_string()]).unwrap();
        }
    }

    #[test]
    fn misspelt_actions_and_keys_get_a_suggestion() {
        let err = compile("[attributes]\nPatientName = \"blnk\"\n").unwrap_err();
        assert!(err.contains("did you mean \"blank\""), "{err}");
        let err = compile("[atributes]\nPatientName = \"blank\"\n").unwrap_err();
        assert!(err.contains("did you mean \"attributes\""), "{err}");
        let err = compile("[attributes]\nPatientsBirthDate = \"blank\"\n").unwrap_err();
        assert!(err.contains("did you mean \"PatientBirthDate\""), "{err}");
    }

    #[test]
    fn basic_profile_compiles() {
        let profile = Profile::load(&[]).unwrap();
        let rules = RuleSet::compile(&profile).unwrap();
        assert_eq!(
            rules.rule_for(Tag(0x0010, 0x0010)).name(),
            "replace-with-index"
        );
        assert_eq!(rules.rule_for(Tag(0x0010, 0x1040)).name(), "blank");
        assert_eq!(rules.rule_for(Tag(0x0008, 0x0080)).name(), "keep");
        assert!(!rules.uses_secret());
    }

    #[test]
    fn every_builtin_profile_compiles_alone_and_on_the_ps315_base() {
        for name in crate::profile::builtin_names() {
            let alone = RuleSet::load(&[name.to_string()]);
            assert!(alone.is_ok(), "{name}: {}", alone.unwrap_err());
            let layered = RuleSet::load(&["ps3.15-basic".to_string(), name.to_string()]);
            assert!(layered.is_ok(), "{name}: {}", layered.unwrap_err());
        }
    }

    #[test]
    fn options_override_the_base_and_the_base_is_applied_once() {
        let specs = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let study_date = Tag(0x0008, 0x0020);
        let base = RuleSet::load(&specs(&["ps3.15-basic"])).unwrap();
        assert_eq!(base.rule_for(study_date).name(), "blank");
        assert_eq!(base.rule_for(Tag(0x0009, 0x1001)).name(), "remove");
        assert_eq!(base.rule_for(Tag(0x0010, 0x0033)).name(), "remove");
        // Kept text is checked for the file's identifying values.
        assert!(base.uses_secret() && !base.shifts_dates() && base.cleans());
        // The second option extends the base too; the base must not come
        // back over the first option.
        let layered = RuleSet::load(&specs(&[
            "ps3.15-basic",
            "retain-long-modified-dates",
            "retain-uids",
        ]))
        .unwrap();
        assert_eq!(layered.rule_for(study_date).name(), "shift-date");
        assert_eq!(layered.rule_for(Tag(0x0008, 0x0018)).name(), "keep");
        assert!(layered.shifts_dates());
        let cleaning = RuleSet::load(&specs(&["ps3.15-basic", "clean-descriptors"])).unwrap();
        assert!(cleaning.cleans() && !cleaning.shifts_dates());
    }

    #[test]
    fn ps315_codes_become_actions_combined_ones_valid_for_any_type() {
        let base = RuleSet::load(&["ps3.15-basic".to_string()]).unwrap();
        for (tag, code, action) in [
            (Tag(0x0008, 0x0018), "U", "hash"),
            (Tag(0x0008, 0x0020), "Z", "blank"),
            (Tag(0x0008, 0x0022), "X/Z", "blank"),
            (Tag(0x0008, 0x0012), "X/D", "dummy"),
            (Tag(0x0008, 0x0023), "Z/D", "dummy"),
            (Tag(0x0008, 0x0080), "X/Z/D", "dummy"),
            (Tag(0x0008, 0x1140), "X/Z/U*", "keep"),
            (Tag(0x0010, 0x0020), "Z/D", "replace-with-index"),
            (Tag(0x0010, 0x1010), "X", "remove"),
            (Tag(0x5002, 0x3000), "X (50xx,xxxx)", "remove"),
            (Tag(0x6000, 0x3000), "X (60xx,3000)", "remove"),
            (Tag(0x0009, 0x1010), "X (private)", "remove"),
        ] {
            assert_eq!(base.rule_for(tag).name(), action, "{tag} {code}");
        }
    }

    #[test]
    fn ps315_choices_keep_the_iod_valid() {
        let base = RuleSet::load(&["ps3.15-basic".to_string()]).unwrap();
        for (tag, why, action) in [
            // X/Z: an empty sequence is invalid where it is Type 3.
            (Tag(0x0008, 0x1110), "ReferencedStudySequence X/Z", "dummy"),
            (
                Tag(0x0040, 0x0555),
                "AcquisitionContextSequence X/Z",
                "dummy",
            ),
            (Tag(0x0008, 0x0022), "AcquisitionDate X/Z", "blank"),
            // Unlisted free text is Type 1C in places; names stay empty.
            (Tag(0x0040, 0xA160), "TextValue (SR TEXT, 1C)", "dummy"),
            (Tag(0x0070, 0x0006), "UnformattedTextValue (1C)", "dummy"),
            (Tag(0x0014, 0x2006), "EvaluatorName PN", "blank"),
            (Tag(0x0040, 0xA034), "EffectiveStartDateTime DT", "blank"),
            // The overlay group goes whole.
            (Tag(0x6000, 0x0010), "OverlayRows", "remove"),
            (Tag(0x6002, 0x0050), "OverlayOrigin", "remove"),
            // Identity groups: coded values kept, unless they identify.
            (Tag(0x0032, 0x000A), "StudyStatusID CS", "keep"),
            (Tag(0x0032, 0x000C), "StudyPriorityID CS", "keep"),
            (Tag(0x0040, 0x0033), "UniversalEntityIDType CS", "keep"),
            (Tag(0x0040, 0x0294), "Quantity DS", "keep"),
            (Tag(0x0010, 0x1022), "PatientBodyMassIndex DS", "remove"),
            (
                Tag(0x0010, 0x0035),
                "PatientAlternativeCalendar CS",
                "remove",
            ),
            // ... text, names, dates and IDs there still removed ...
            (Tag(0x0038, 0x0016), "RouteOfAdmissions LO", "remove"),
            (
                Tag(0x0040, 0x1006),
                "PlacerOrderNumberProcedure SH",
                "remove",
            ),
            (
                Tag(0x0010, 0x0033),
                "PatientBirthDateInAlternativeCalendar",
                "remove",
            ),
            (Tag(0x0010, 0x0011), "PersonNamesToUseSequence", "remove"),
            (Tag(0x0032, 0x0099), "not in the dictionary", "remove"),
            // ... and what a standard IOD requires is kept valid.
            (Tag(0x0040, 0x0560), "SpecimenDescriptionSequence 1", "keep"),
            (Tag(0x0040, 0x0518), "ContainerTypeCodeSequence 2", "keep"),
            (Tag(0x0040, 0x0031), "LocalNamespaceEntityID 1C", "dummy"),
            (Tag(0x0040, 0x0032), "UniversalEntityID 1C", "dummy"),
            (Tag(0x0010, 0x2294), "BreedRegistrationSequence 2C", "blank"),
            (
                Tag(0x0032, 0x1064),
                "RequestedProcedureCodeSequence 2",
                "keep",
            ),
            (
                Tag(0x0040, 0x0260),
                "PerformedProtocolCodeSequence 1C",
                "keep",
            ),
            // The table's X where PS3.3 requires the attribute.
            (
                Tag(0x0040, 0x1001),
                "RequestedProcedureID X, 2 and 1C",
                "dummy",
            ),
            (Tag(0x0010, 0x2297), "ResponsiblePerson X, 2C", "blank"),
            (
                Tag(0x0070, 0x0082),
                "PresentationCreationDate X, 1",
                "dummy",
            ),
            (
                Tag(0x0018, 0x1078),
                "RadiopharmaceuticalStartDateTime X, 1",
                "dummy",
            ),
            // Inside a kept specimen: the table's own rows.
            (Tag(0x0040, 0x0551), "SpecimenIdentifier D", "dummy"),
            (Tag(0x0040, 0x0600), "SpecimenShortDescription X", "remove"),
        ] {
            assert_eq!(base.rule_for(tag).name(), action, "{tag} {why}");
        }
        // Clean Graphics does not keep overlay comments in a removed group.
        let graphics =
            RuleSet::load(&["ps3.15-basic".to_string(), "clean-graphics".to_string()]).unwrap();
        assert_eq!(graphics.rule_for(Tag(0x6000, 0x4000)).name(), "remove");
        assert_eq!(graphics.rule_for(Tag(0x0070, 0x0006)).name(), "clean");
    }

    #[test]
    fn unknown_action_lists_the_allowed_ones() {
        let err = compile("[attributes]\n\nPatientName = \"blnk\"\n").unwrap_err();
        assert_eq!(
            err,
            "site.toml:3: unknown action \"blnk\" for PatientName (0010,0010); did you mean \"blank\"?; allowed: keep, remove, blank, replace, replace-with-index, hash, dummy, clean, shift-date"
        );
    }

    #[test]
    fn action_that_does_not_fit_the_vr_is_refused() {
        let err = compile("[attributes]\nPatientBirthDate = \"hash\"\n").unwrap_err();
        assert!(
            err.starts_with("site.toml:2: action \"hash\" does not fit PatientBirthDate"),
            "{err}"
        );
        assert!(err.contains("VR is DA"), "{err}");
    }

    #[test]
    fn replace_needs_a_valid_value() {
        let err = compile("[attributes]\nInstitutionName = \"replace\"\n").unwrap_err();
        assert!(err.contains("needs a value"), "{err}");
        let err =
            compile("[attributes]\nStudyDate = { action = \"replace\", value = \"2024010A\" }\n")
                .unwrap_err();
        assert!(err.contains("not a valid DA value"), "{err}");
        assert!(
            compile("[attributes]\nStudyDate = { action = \"replace\", value = \"20240101\" }\n")
                .is_ok()
        );
    }

    #[test]
    fn precedence_exact_then_pattern_then_private_then_unlisted() {
        let rules = compile(
            "private-attributes = \"remove\"\nunlisted-attributes = \"blank\"\n[attributes]\n\"(0010,xxxx)\" = \"remove\"\n\"(001x,xxxx)\" = \"keep\"\nPatientName = \"keep\"\n",
        )
        .unwrap();
        assert_eq!(rules.rule_for(Tag(0x0010, 0x0010)).name(), "keep");
        assert_eq!(rules.rule_for(Tag(0x0010, 0x0020)).name(), "remove");
        assert_eq!(rules.rule_for(Tag(0x0018, 0x0050)).name(), "keep");
        assert_eq!(
            rules.rule_for(Tag(0x0009, 0x1001)).disposition(VR::LO),
            Disposition::Remove
        );
        assert_eq!(rules.rule_for(Tag(0x0020, 0x000D)).name(), "blank");
    }

    /// The rule of a private element whose block `creator` reserved.
    fn private_rule<'a>(rules: &'a RuleSet, creator: &[u8], tag: Tag) -> &'a dyn Rule {
        let mut blocks = PrivateBlocks::default();
        let block = Tag(tag.group(), tag.element() >> 8);
        if let Some(table) = rules.by_creator() {
            blocks.reserve(table, block, creator);
        }
        rules.rule_in(tag, &blocks, None)
    }

    #[test]
    fn site_lists_name_private_attributes_by_creator_in_any_block() {
        let rules = compile(
            "private-attributes = \"remove\"\n[private-creators.\"SIEMENS MR HEADER\"]\n\"(0019,xx0C)\" = \"keep\"\n\"(0019,xx0D)\" = \"hash\"\n",
        )
        .unwrap();
        for block in [0x10, 0x11, 0x42] {
            let tag = Tag(0x0019, (block << 8) | 0x0C);
            assert_eq!(
                private_rule(&rules, b"SIEMENS MR HEADER ", tag).name(),
                "keep"
            );
        }
        // Another creator's block, or the element in another group: the policy.
        let other = private_rule(&rules, b"GEMS_ACQU_01", Tag(0x0019, 0x100C));
        assert_eq!(other.name(), "remove");
        let group = private_rule(&rules, b"SIEMENS MR HEADER", Tag(0x0021, 0x100C));
        assert_eq!(group.name(), "remove");
        // hash handles every VR: what it cannot hold goes.
        let hashed = private_rule(&rules, b"SIEMENS MR HEADER", Tag(0x0019, 0x100D));
        assert_eq!(hashed.disposition(VR::UI), Disposition::Rewrite);
        assert_eq!(hashed.disposition(VR::OB), Disposition::Remove);
        assert!(rules.uses_secret());
        assert_eq!(rules.creator_rule(Tag(0x0019, 0x0010), true).name(), "keep");
        assert_eq!(
            rules.creator_rule(Tag(0x0019, 0x0010), false).name(),
            "remove"
        );
        let err = compile("[private-creators.\"X\"]\n\"(0018,xx0C)\" = \"keep\"\n").unwrap_err();
        assert!(
            err.starts_with("site.toml:2:") && err.contains("odd group"),
            "{err}"
        );
        let err = compile("[private-creators.\"X\"]\n\"(0019,xx0C)\" = \"replace-with-index\"\n")
            .unwrap_err();
        assert!(err.contains("does not fit"), "{err}");
    }

    #[test]
    fn retain_safe_private_follows_the_knowledge_base() {
        let specs = [
            "ps3.15-basic".to_string(),
            "retain-safe-private".to_string(),
        ];
        let rules = RuleSet::load(&specs).unwrap();
        let rule = |creator: &[u8], tag| private_rule(&rules, creator, tag);
        // d: the CSA header type and version (they can hold a date).
        let csa_type = rule(b"SIEMENS CSA HEADER", Tag(0x0029, 0x1108));
        assert_eq!(csa_type.name(), "remove");
        // k: Number of Images in Mosaic, in whichever block.
        let mosaic = rule(b"SIEMENS MR HEADER", Tag(0x0019, 0x120A));
        assert_eq!(mosaic.name(), "keep");
        // Its origin is the knowledge base's row, named when asked.
        let mut blocks = PrivateBlocks::default();
        blocks.reserve(
            rules.by_creator().unwrap(),
            Tag(0x0019, 0x0012),
            b"SIEMENS MR HEADER",
        );
        let origin = rules.origin_in(Tag(0x0019, 0x120A), &blocks, None);
        let line = kb::shipped_rows()
            .into_iter()
            .find(|row| {
                row.path.is_empty()
                    && row.target
                        == kb::Segment::Private {
                            group: 0x0019,
                            creator: "SIEMENS MR HEADER".into(),
                            element: 0x0A,
                        }
            })
            .unwrap()
            .line;
        assert_eq!(
            origin,
            format!("private tag knowledge base tcia-2024-02-01, line {}", line)
        );
        // Kept text is checked for identifiers; numbers are copied.
        assert_eq!(mosaic.disposition(VR::UN), Disposition::Rewrite);
        assert_eq!(mosaic.disposition(VR::US), Disposition::Keep);
        // d, h and o rows, and an attribute the knowledge base does not list.
        let kb = kb::shipped_rows();
        let first = |disposition: kb::Disposition| {
            kb.iter()
                .find_map(|row| match (&row.target, row.path.is_empty()) {
                    (
                        kb::Segment::Private {
                            group,
                            creator,
                            element,
                        },
                        true,
                    ) if row.disposition == disposition => {
                        let agreed = kb.iter().filter(|other| other.target == row.target);
                        agreed
                            .clone()
                            .all(|o| o.disposition == disposition && o.path.is_empty())
                            .then(|| (creator.clone(), Tag(*group, 0x1000 | u16::from(*element))))
                    }
                    _ => None,
                })
                .unwrap()
        };
        for (disposition, action) in [
            (kb::Disposition::Delete, "remove"),
            (kb::Disposition::Hash, "hash"),
            (kb::Disposition::Shift, "shift-date"),
            (kb::Disposition::Keep, "keep"),
        ] {
            let (creator, tag) = first(disposition);
            assert_eq!(
                rule(creator.as_bytes(), tag).name(),
                action,
                "{creator} {tag}"
            );
        }
        assert_eq!(
            rule(b"NOBODY KNOWS ME", Tag(0x0029, 0x1108)).name(),
            "remove"
        );
        assert!(rules.shifts_dates());
    }

    #[test]
    fn hash_needs_the_secret() {
        let rules = compile("[attributes]\nOtherPatientIDs = \"hash\"\n").unwrap();
        assert!(rules.uses_secret());
    }
}
