//! Profiles: what a site wants done to each attribute, as data.
//!
//! A profile is a strict TOML file (unknown keys are errors) that maps
//! attribute selectors to action names. This module only reads, checks and
//! layers profiles; it knows action *names*, not what they do. The rules
//! module turns a [`Profile`] into behaviour and checks the names against
//! its registry, pointing back at the file and line kept here.
//!
//! ```toml
//! description = "Replace the patient's name and ID with the patient index"
//! extends = ["basic"]                      # optional: built-in names or paths
//! output = "{patient_index}_{image_number:03}.dcm"
//! private-attributes = "keep"              # odd groups not listed below
//! unlisted-attributes = "keep"             # everything else not listed below
//! deidentification-method = "113100"     # optional CID 7050 code: stamp outputs
//! temporal-information = "removed"         # optional: what became of dates
//!
//! [attributes]
//! PatientName = "replace-with-index"
//! "(0010,1040)" = "blank"
//! InstitutionName = { action = "replace", value = "ANONYMISED" }
//! ```

mod patient_key;
mod private;
pub mod ps315;
mod selector;
mod show;
mod suggest;
pub mod tcia;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use patient_key::{Fallback, KeyAttribute, PatientKey};
pub use private::{PrivateEntry, PrivateSelector};
pub use ps315::MethodCode;
pub use selector::{Selector, pack};
pub use show::to_toml;
pub use suggest::{closest, did_you_mean};
pub use template::{OutputTemplate, PathNumbers};

/// Profiles compiled into the binary, usable by name without any file.
/// The PS3.15 ones are generated from Table E.1-1 (see [`ps315`]).
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("basic", include_str!("../../profiles/basic.toml")),
    (
        "ps3.15-basic",
        include_str!("../../profiles/ps3.15-basic.toml"),
    ),
    (
        "retain-safe-private",
        include_str!("../../profiles/retain-safe-private.toml"),
    ),
    (
        "retain-uids",
        include_str!("../../profiles/retain-uids.toml"),
    ),
    (
        "retain-device-identity",
        include_str!("../../profiles/retain-device-identity.toml"),
    ),
    (
        "retain-institution-identity",
        include_str!("../../profiles/retain-institution-identity.toml"),
    ),
    (
        "retain-patient-characteristics",
        include_str!("../../profiles/retain-patient-characteristics.toml"),
    ),
    (
        "retain-long-full-dates",
        include_str!("../../profiles/retain-long-full-dates.toml"),
    ),
    (
        "retain-long-modified-dates",
        include_str!("../../profiles/retain-long-modified-dates.toml"),
    ),
    (
        "clean-descriptors",
        include_str!("../../profiles/clean-descriptors.toml"),
    ),
    (
        "clean-structured-content",
        include_str!("../../profiles/clean-structured-content.toml"),
    ),
    (
        "clean-graphics",
        include_str!("../../profiles/clean-graphics.toml"),
    ),
    ("tcia", include_str!("../../profiles/tcia.toml")),
];

/// The profile used when none is given.
pub const DEFAULT_PROFILE: &str = "basic";

/// Deepest chain of `extends` we follow; deeper is surely a mistake.
const MAX_EXTENDS_DEPTH: usize = 16;

/// Where a setting was written, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The profile file, or `built-in profile "basic"`.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An action as written in a profile: a name, maybe a value, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    pub name: String,
    pub value: Option<String>,
    pub origin: Origin,
}

/// One `[attributes]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub selector: Selector,
    /// The key as the author wrote it.
    pub key: String,
    pub action: ActionRef,
}

/// One or more profile files layered into one policy; later layers win.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Names of the layers, in the order they were applied.
    pub layers: Vec<String>,
    /// The description of the last layer that has one.
    pub description: Option<String>,
    pub entries: Vec<Entry>,
    pub private_attributes: Option<ActionRef>,
    pub unlisted_attributes: Option<ActionRef>,
    pub output: OutputTemplate,
    /// The CID 7050 methods the layers declare, in layer order, each once:
    /// when there are any, every output says it was de-identified and how.
    pub methods: Vec<MethodCode>,
    /// What became of dates, for LongitudinalTemporalInformationModified.
    pub temporal_information: Option<TemporalInformation>,
    /// Which attributes identify a patient.
    pub patient_key: PatientKey,
    /// Private attributes named by creator (`[private-creators."..."]`),
    /// in layer order (a later entry for the same attribute wins).
    pub private_entries: Vec<PrivateEntry>,
    /// The private tag knowledge base whose dispositions apply
    /// (`private-knowledge-base`), where it was named.
    pub private_knowledge_base: Option<(String, Origin)>,
    /// Whether text a rule keeps loses the file's identifying values
    /// (`clean-kept-values`).
    pub clean_kept_values: bool,
}

/// What a profile does to dates and times (PS3.3 C.12.1.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalInformation {
    Unmodified,
    Modified,
    Removed,
}

impl TemporalInformation {
    /// The value of (0028,0303) LongitudinalTemporalInformationModified.
    pub fn code(self) -> &'static str {
        match self {
            TemporalInformation::Unmodified => "UNMODIFIED",
            TemporalInformation::Modified => "MODIFIED",
            TemporalInformation::Removed => "REMOVED",
        }
    }

    fn parse(text: &str) -> Option<TemporalInformation> {
        [
            TemporalInformation::Unmodified,
            TemporalInformation::Modified,
            TemporalInformation::Removed,
        ]
        .into_iter()
        .find(|t| t.code().eq_ignore_ascii_case(text))
    }
}

/// A problem with a profile, located as precisely as we can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error(
        "profile {name:?} not found: no such file, and no built-in profile of that name (built-in: {builtins})"
    )]
    NotFound { name: String, builtins: String },
    #[error("{path}: cannot read the profile: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: Origin, message: String },
    #[error(
        "{file}: `extends` goes in a circle or deeper than {MAX_EXTENDS_DEPTH} levels: {chain}"
    )]
    ExtendsCycle { file: String, chain: String },
}

/// Every problem found in the profiles of a run, reported together.
#[derive(Debug)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ProfileErrors {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileFile {
    description: Option<String>,
    #[serde(default)]
    extends: Vec<toml::Spanned<String>>,
    output: Option<toml::Spanned<String>>,
    private_attributes: Option<toml::Spanned<toml::Value>>,
    unlisted_attributes: Option<toml::Spanned<toml::Value>>,
    deidentification_method: Option<toml::Spanned<toml::Value>>,
    temporal_information: Option<toml::Spanned<String>>,
    patient_key: Option<toml::Spanned<Vec<String>>>,
    patient_key_fallback: Option<toml::Spanned<toml::Value>>,
    private_knowledge_base: Option<toml::Spanned<String>>,
    clean_kept_values: Option<bool>,
    #[serde(default)]
    private_creators: BTreeMap<String, BTreeMap<String, toml::Spanned<toml::Value>>>,
    #[serde(default)]
    attributes: BTreeMap<String, toml::Spanned<toml::Value>>,
}

/// The text of a profile and how to name it in messages.
struct ProfileSource {
    display: String,
    text: String,
    /// Folder that relative `extends` paths start from; `None` for built-ins.
    dir: Option<PathBuf>,
}

impl Profile {
    /// Loads and layers the profiles named on the command line (built-in
    /// names or paths; an existing path wins over a built-in name).
    pub fn load(specs: &[String]) -> Result<Profile, ProfileErrors> {
        let (profile, problems) = Profile::load_with_problems(specs);
        if problems.is_empty() {
            Ok(profile)
        } else {
            Err(ProfileErrors(problems))
        }
    }

    /// Like [`Profile::load`], but returns what could be read together with
    /// the problems, so that later checks can add theirs and the author
    /// sees every problem at once.
    pub fn load_with_problems(specs: &[String]) -> (Profile, Vec<ProfileError>) {
        let defaults = [DEFAULT_PROFILE.to_string()];
        let specs = if specs.is_empty() {
            &defaults[..]
        } else {
            specs
        };
        let mut builder = Builder::default();
        for spec in specs {
            builder.add_spec(spec, None, &mut Vec::new());
        }
        builder.finish()
    }

    /// A SHA-256 (hex) of what the profile does, independent of how its
    /// files are laid out (names, comments, order, line numbers): two
    /// profiles with one fingerprint write the same outputs. A run records
    /// it so that a resume with another profile can be refused.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let action = |action: &ActionRef| {
            format!("{}\t{}", action.name, action.value.as_deref().unwrap_or(""))
        };
        let mut lines = vec![format!("output\t{}", self.output)];
        for (what, policy) in [
            ("private", &self.private_attributes),
            ("unlisted", &self.unlisted_attributes),
        ] {
            let policy = policy.as_ref().map_or_else(String::new, action);
            lines.push(format!("{what}\t{policy}"));
        }
        let mut entries: Vec<String> = self
            .entries
            .iter()
            .map(|entry| format!("attribute\t{}\t{}", entry.selector, action(&entry.action)))
            .collect();
        entries.sort();
        lines.extend(entries);
        lines.extend(self.methods.iter().map(|m| format!("method\t{}", m.code)));
        if let Some(temporal) = self.temporal_information {
            lines.push(format!("temporal\t{}", temporal.code()));
        }
        lines.push(format!("patient-key\t{}", self.patient_key));
        if let Some((name, _)) = &self.private_knowledge_base {
            lines.push(format!("private-knowledge-base\t{name}"));
        }
        if self.clean_kept_values {
            lines.push("clean-kept-values".to_string());
        }
        let mut private: Vec<String> = self
            .private_entries
            .iter()
            .map(|entry| format!("private\t{}\t{}", entry.selector, action(&entry.action)))
            .collect();
        private.sort();
        lines.extend(private);
        let digest = Sha256::digest(lines.join("\n").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Loads one profile from text, as if read from `display`.
    pub fn from_text(display: &str, text: &str) -> Result<Profile, ProfileErrors> {
        let mut builder = Builder::default();
        let source = ProfileSource {
            display: display.to_string(),
            text: text.to_string(),
            dir: None,
        };
        builder.add_source(source, &mut Vec::new());
        let (profile, problems) = builder.finish();
        if problems.is_empty() {
            Ok(profile)
        } else {
            Err(ProfileErrors(problems))
        }
    }
}

#[derive(Default)]
struct Builder {
    layers: Vec<String>,
    description: Option<String>,
    entries: Vec<Entry>,
    by_selector: BTreeMap<Selector, usize>,
    private_attributes: Option<ActionRef>,
    unlisted_attributes: Option<ActionRef>,
    output: Option<(String, Origin)>,
    methods: Vec<MethodCode>,
    temporal_information: Option<TemporalInformation>,
    patient_key: PatientKey,
    private_entries: Vec<PrivateEntry>,
    private_knowledge_base: Option<(String, Origin)>,
    clean_kept_values: bool,
    errors: Vec<ProfileError>,
}

impl Builder {
    fn add_spec(&mut self, spec: &str, base: Option<&Path>, chain: &mut Vec<String>) {
        match resolve(spec, base) {
            Ok(source) => self.add_source(source, chain),
            Err(err) => self.errors.push(err),
        }
    }

    fn add_source(&mut self, source: ProfileSource, chain: &mut Vec<String>) {
        if chain.contains(&source.display) || chain.len() >= MAX_EXTENDS_DEPTH {
            chain.push(source.display.clone());
            self.errors.push(ProfileError::ExtendsCycle {
                file: source.display.clone(),
                chain: chain.join(" -> "),
            });
            chain.pop();
            return;
        }
        // A profile reached twice (an option extending the base the command
        // line already named) is applied once, where it first came: applying
        // it again would undo the layers in between.
        if self.layers.contains(&source.display) {
            return;
        }
        let file: ProfileFile = match toml::from_str(&source.text) {
            Ok(file) => file,
            Err(err) => {
                let line = err
                    .span()
                    .map_or(1, |span| line_of(&source.text, span.start));
                self.errors.push(ProfileError::Invalid {
                    origin: Origin {
                        file: source.display.clone(),
                        line,
                    },
                    message: with_key_suggestion(err.message().trim_end()),
                });
                return;
            }
        };
        chain.push(source.display.clone());
        for parent in &file.extends {
            self.add_spec(parent.get_ref(), source.dir.as_deref(), chain);
        }
        chain.pop();
        self.apply_layer(&source, file);
    }

    fn apply_layer(&mut self, source: &ProfileSource, file: ProfileFile) {
        // Where each line starts, found once: a profile of hundreds of
        // entries would count the newlines before each entry anew.
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(source.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let origin_of = |span: std::ops::Range<usize>| Origin {
            file: source.display.clone(),
            line: line_starts.partition_point(|&start| start <= span.start),
        };
        self.layers.push(source.display.clone());
        if file.description.is_some() {
            self.description = file.description;
        }
        if let Some(output) = file.output {
            self.output = Some((output.get_ref().clone(), origin_of(output.span())));
        }
        if let Some(codes) = file.deidentification_method {
            let origin = origin_of(codes.span());
            // One code, or a list (a resolved profile shows all of its layers').
            let codes: Vec<toml::Value> = match codes.into_inner() {
                toml::Value::Array(codes) => codes,
                code => vec![code],
            };
            for code in codes {
                let method = code.as_str().and_then(ps315::method_code);
                match method {
                    Some(method) if self.methods.contains(&method) => {}
                    Some(method) => self.methods.push(method),
                    None => self.errors.push(ProfileError::Invalid {
                        origin: origin.clone(),
                        message: format!(
                            "deidentification-method {code} is not a CID 7050 code of PS3.15 (113100 and the options' codes)"
                        ),
                    }),
                }
            }
        }
        if let Some(text) = file.temporal_information {
            match TemporalInformation::parse(text.get_ref()) {
                Some(temporal) => self.temporal_information = Some(temporal),
                None => self.errors.push(ProfileError::Invalid {
                    origin: origin_of(text.span()),
                    message: format!(
                        "temporal-information {:?}: allowed are unmodified, modified, removed",
                        text.get_ref()
                    ),
                }),
            }
        }
        if let Some(key) = file.patient_key {
            match patient_key::parse_attributes(key.get_ref()) {
                Ok(attributes) => self.patient_key.key = attributes,
                Err(message) => self.errors.push(ProfileError::Invalid {
                    origin: origin_of(key.span()),
                    message: format!("patient-key: {message}"),
                }),
            }
        }
        if let Some(fallback) = file.patient_key_fallback {
            let origin = origin_of(fallback.span());
            match parse_fallback(fallback.into_inner()) {
                Ok(fallback) => self.patient_key.fallback = fallback,
                Err(message) => self.errors.push(ProfileError::Invalid {
                    origin,
                    message: format!("patient-key-fallback: {message}"),
                }),
            }
        }
        if let Some(policy) = file.private_attributes {
            let origin = origin_of(policy.span());
            match action_ref(policy.into_inner(), origin) {
                Ok(action) => self.private_attributes = Some(action),
                Err(err) => self.errors.push(err),
            }
        }
        if let Some(policy) = file.unlisted_attributes {
            let origin = origin_of(policy.span());
            match action_ref(policy.into_inner(), origin) {
                Ok(action) => self.unlisted_attributes = Some(action),
                Err(err) => self.errors.push(err),
            }
        }
        if let Some(name) = file.private_knowledge_base {
            let origin = origin_of(name.span());
            let name = name.into_inner();
            if tcia::kb::KNOWLEDGE_BASE_NAME == name {
                self.private_knowledge_base = Some((name, origin));
            } else {
                self.errors.push(ProfileError::Invalid {
                    origin,
                    message: format!(
                        "private-knowledge-base {name:?}: the built-in one is {:?}",
                        tcia::kb::KNOWLEDGE_BASE_NAME
                    ),
                });
            }
        }
        if let Some(clean) = file.clean_kept_values {
            self.clean_kept_values = clean;
        }
        for (creator, attributes) in file.private_creators {
            for (key, value) in attributes {
                let origin = origin_of(value.span());
                match private::entry(&creator, &key, value.into_inner(), origin, action_ref) {
                    Ok(entry) => self.set_private_entry(entry),
                    Err(err) => self.errors.push(err),
                }
            }
        }
        let mut seen_in_this_file: BTreeMap<Selector, (String, usize)> = BTreeMap::new();
        for (key, value) in file.attributes {
            let origin = origin_of(value.span());
            let Some(selector) = Selector::parse(&key) else {
                let suggestion = suggest::one_edit_away(&key, |w| Selector::parse(w).is_some());
                self.errors.push(ProfileError::Invalid {
                    origin,
                    message: format!(
                        "unknown attribute {key:?}{}: write a DICOM keyword (PatientName), a tag ((0010,0010) or 00100010) or a tag pattern ((50xx,xxxx))",
                        did_you_mean(suggestion.as_deref())
                    ),
                });
                continue;
            };
            if let Some((other, line)) = seen_in_this_file.get(&selector) {
                self.errors.push(ProfileError::Invalid {
                    origin,
                    message: format!(
                        "{key:?} names the same attribute as {other:?} on line {line}; keep one"
                    ),
                });
                continue;
            }
            seen_in_this_file.insert(selector, (key.clone(), origin.line));
            match action_ref(value.into_inner(), origin) {
                Ok(action) => self.set_entry(Entry {
                    selector,
                    key,
                    action,
                }),
                Err(err) => self.errors.push(err),
            }
        }
    }

    /// A later layer's entry for the same private attribute replaces the
    /// earlier one (creators compared as the engine compares them).
    fn set_private_entry(&mut self, entry: PrivateEntry) {
        let same = |other: &PrivateEntry| {
            other.selector.group == entry.selector.group
                && other.selector.element == entry.selector.element
                && crate::rules::normalize_creator(&other.selector.creator)
                    == crate::rules::normalize_creator(&entry.selector.creator)
        };
        match self.private_entries.iter().position(same) {
            Some(i) => self.private_entries[i] = entry,
            None => self.private_entries.push(entry),
        }
    }

    fn set_entry(&mut self, entry: Entry) {
        match self.by_selector.get(&entry.selector) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.by_selector.insert(entry.selector, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    fn finish(mut self) -> (Profile, Vec<ProfileError>) {
        let output = match self.output.take() {
            Some((text, origin)) => OutputTemplate::parse(&text).unwrap_or_else(|message| {
                self.errors.push(ProfileError::Invalid {
                    origin,
                    message: format!("output: {message}"),
                });
                default_template()
            }),
            None => default_template(),
        };
        sort_by_place(&mut self.errors);
        let profile = Profile {
            layers: self.layers,
            description: self.description,
            entries: self.entries,
            private_attributes: self.private_attributes,
            unlisted_attributes: self.unlisted_attributes,
            output,
            methods: self.methods,
            temporal_information: self.temporal_information,
            patient_key: self.patient_key,
            private_entries: self.private_entries,
            private_knowledge_base: self.private_knowledge_base,
            clean_kept_values: self.clean_kept_values,
        };
        (profile, self.errors)
    }
}

fn default_template() -> OutputTemplate {
    OutputTemplate::parse(OutputTemplate::DEFAULT)
        .unwrap_or_else(|e| unreachable!("the default template is valid: {e}"))
}

/// Orders problems by file and line (stable, so files keep their order of
/// reading among equals).
pub fn sort_by_place(errors: &mut [ProfileError]) {
    errors.sort_by(|a, b| match (a, b) {
        (ProfileError::Invalid { origin: x, .. }, ProfileError::Invalid { origin: y, .. }) => {
            if x.file == y.file {
                x.line.cmp(&y.line)
            } else {
                std::cmp::Ordering::Equal
            }
        }
        _ => std::cmp::Ordering::Equal,
    });
}

fn resolve(spec: &str, base: Option<&Path>) -> Result<ProfileSource, ProfileError> {
    let path = match base {
        Some(dir) => dir.join(spec),
        None => PathBuf::from(spec),
    };
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
            path: path.clone(),
            source,
        })?;
        return Ok(ProfileSource {
            display: path.display().to_string(),
            text,
            dir: path.parent().map(Path::to_path_buf),
        });
    }
    let name = Path::new(spec)
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".toml").unwrap_or(n))
        .unwrap_or(spec);
    BUILTIN_PROFILES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(builtin, text)| ProfileSource {
            display: format!("built-in profile {builtin:?}"),
            text: (*text).to_string(),
            dir: None,
        })
        .ok_or_else(|| ProfileError::NotFound {
            name: spec.to_string(),
            builtins: builtin_names().join(", "),
        })
}

/// Names of the profiles compiled into the binary.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN_PROFILES.iter().map(|(name, _)| *name).collect()
}

/// The keys a profile file may have (its top level).
const PROFILE_KEYS: [&str; 13] = [
    "description",
    "extends",
    "output",
    "private-attributes",
    "unlisted-attributes",
    "deidentification-method",
    "temporal-information",
    "patient-key",
    "patient-key-fallback",
    "private-knowledge-base",
    "clean-kept-values",
    "private-creators",
    "attributes",
];

/// The TOML reader's message, with a likely key for an unknown one
/// (serde says "unknown field `atributes`, expected one of ...").
fn with_key_suggestion(message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    match unknown.and_then(|key| closest(key, PROFILE_KEYS)) {
        Some(key) => format!("{message}{}", did_you_mean(Some(key))),
        None => message.to_string(),
    }
}

/// `patient-key-fallback`: `"per-file"` or a list of keywords.
fn parse_fallback(value: toml::Value) -> Result<Fallback, String> {
    match value {
        toml::Value::String(text) if text == "per-file" => Ok(Fallback::PerFile),
        toml::Value::Array(items) => {
            let keywords: Option<Vec<String>> = items
                .into_iter()
                .map(|item| item.as_str().map(String::from))
                .collect();
            let keywords = keywords.ok_or("write a list of keywords")?;
            patient_key::parse_attributes(&keywords).map(Fallback::Attributes)
        }
        _ => Err("write \"per-file\" or a list of keywords, e.g. [\"PatientName\", \"PatientBirthDate\"]".into()),
    }
}

fn action_ref(value: toml::Value, origin: Origin) -> Result<ActionRef, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.clone(),
        message,
    };
    match value {
        toml::Value::String(name) => Ok(ActionRef {
            name,
            value: None,
            origin: origin.clone(),
        }),
        toml::Value::Table(table) => {
            if let Some(key) = table.keys().find(|k| *k != "action" && *k != "value") {
                return Err(invalid(format!(
                    "unknown key {key:?} in an action table; allowed: action, value"
                )));
            }
            let name = match table.get("action") {
                Some(toml::Value::String(name)) => name.clone(),
                _ => return Err(invalid("an action table needs action = \"...\"".into())),
            };
            let value = match table.get("value") {
                None => None,
                Some(toml::Value::String(v)) => Some(v.clone()),
                Some(_) => return Err(invalid("value must be a string".into())),
            };
            Ok(ActionRef {
                name,
                value,
                origin: origin.clone(),
            })
        }
        _ => Err(invalid(
            "expected an action name such as \"blank\", or { action = \"replace\", value = \"...\" }"
                .into(),
        )),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> String {
        Profile::from_text("site.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn builtin_basic_loads_by_name_and_by_file_name() {
        for spec in ["basic", "basic.toml", "no/such/dir/basic.toml"] {
            let profile = Profile::load(&[spec.to_string()]).unwrap();
            assert_eq!(profile.entries.len(), 4, "{spec}");
            assert_eq!(profile.output.as_str(), OutputTemplate::DEFAULT);
            assert!(
                profile
                    .description
                    .as_deref()
                    .unwrap_or("")
                    .contains("patient index")
            );
        }
    }

    #[test]
    fn unknown_top_level_key_names_line_and_allowed_keys() {
        let err = errors_of("description = \"x\"\n\noutptu = \"a\"\n");
        assert!(
            err.starts_with("site.toml:3: unknown field `outptu`"),
            "{err}"
        );
        assert!(err.contains("`output`"), "{err}");
    }

    #[test]
    fn unknown_keyword_is_reported_with_its_line() {
        let err = errors_of("[attributes]\nPatientName = \"blank\"\nPatientNmae = \"blank\"\n");
        assert!(
            err.starts_with("site.toml:3: unknown attribute \"PatientNmae\""),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let err = errors_of("[attributes]\nPatientName = 3\nFoo = \"blank\"\n");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].starts_with("site.toml:2: expected an action name"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("site.toml:3: unknown attribute \"Foo\""),
            "{err}"
        );
    }

    #[test]
    fn same_attribute_twice_is_an_error() {
        let err = errors_of("[attributes]\nPatientName = \"blank\"\n\"(0010,0010)\" = \"keep\"\n");
        assert!(err.contains("names the same attribute"), "{err}");
    }

    #[test]
    fn later_layers_override_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site.toml");
        std::fs::write(
            &site,
            "extends = [\"basic\"]\noutput = \"{patient_index}/{image_number}.dcm\"\n[attributes]\nStudyDescription = \"keep\"\n",
        )
        .unwrap();
        let profile = Profile::load(&[site.display().to_string()]).unwrap();
        let study = profile
            .entries
            .iter()
            .find(|e| e.key == "StudyDescription")
            .unwrap();
        assert_eq!(study.action.name, "keep");
        assert_eq!(profile.entries.len(), 4);
        assert_eq!(
            profile.output.as_str(),
            "{patient_index}/{image_number}.dcm"
        );
        assert_eq!(profile.layers.len(), 2);
    }

    #[test]
    fn extends_cycle_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "extends = [\"b.toml\"]\n").unwrap();
        std::fs::write(dir.path().join("b.toml"), "extends = [\"a.toml\"]\n").unwrap();
        let err = Profile::load(&[dir.path().join("a.toml").display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("in a circle"), "{err}");
    }

    #[test]
    fn missing_profile_lists_builtins() {
        let err = Profile::load(&["nope".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("built-in: basic"), "{err}");
    }

    #[test]
    fn bad_template_is_a_profile_error() {
        let err = errors_of("output = \"{patient_index}.dcm\"\n");
        assert!(err.starts_with("site.toml:1: output:"), "{err}");
    }
}
