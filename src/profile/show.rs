//! A resolved profile written back as TOML (`dicommanager profile show`):
//! what a run would apply after every `extends` and layer, each rule with
//! the file and line it came from, so a reviewer reads one file instead of
//! a chain of them.

use std::fmt::Write as _;

use super::{ActionRef, Fallback, Profile};

/// The profile as TOML that loads to the same rules.
pub fn to_toml(profile: &Profile) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_toml(profile, &mut out);
    out
}

fn write_toml(profile: &Profile, out: &mut String) -> std::fmt::Result {
    writeln!(out, "# Resolved from: {}", profile.layers.join(" + "))?;
    writeln!(out, "# Fingerprint: {}", profile.fingerprint())?;
    if let Some(description) = &profile.description {
        writeln!(out, "description = {}", quoted(description))?;
    }
    writeln!(out, "output = {}", quoted(profile.output.as_str()))?;
    let keywords = |attributes: &[super::KeyAttribute]| {
        let names: Vec<String> = attributes.iter().map(|a| quoted(a.keyword())).collect();
        format!("[{}]", names.join(", "))
    };
    writeln!(out, "patient-key = {}", keywords(&profile.patient_key.key))?;
    match &profile.patient_key.fallback {
        Fallback::PerFile => writeln!(out, "patient-key-fallback = \"per-file\"")?,
        Fallback::Attributes(attributes) => {
            writeln!(out, "patient-key-fallback = {}", keywords(attributes))?
        }
    }
    for (key, policy) in [
        ("private-attributes", &profile.private_attributes),
        ("unlisted-attributes", &profile.unlisted_attributes),
    ] {
        match policy {
            Some(action) => writeln!(out, "{key} = {}  # {}", action_toml(action), action.origin)?,
            None => writeln!(out, "{key} = \"keep\"  # default")?,
        }
    }
    if !profile.methods.is_empty() {
        let codes: Vec<String> = profile.methods.iter().map(|m| quoted(m.code)).collect();
        writeln!(out, "deidentification-method = [{}]", codes.join(", "))?;
    }
    if let Some(temporal) = profile.temporal_information {
        let code = temporal.code().to_ascii_lowercase();
        writeln!(out, "temporal-information = {}", quoted(&code))?;
    }
    if let Some((name, origin)) = &profile.private_knowledge_base {
        writeln!(out, "private-knowledge-base = {}  # {origin}", quoted(name))?;
    }
    if profile.clean_kept_values {
        writeln!(out, "clean-kept-values = true")?;
    }
    writeln!(out, "\n[attributes]")?;
    for entry in &profile.entries {
        writeln!(
            out,
            "{} = {}  # {} from {}",
            quoted(&entry.key),
            action_toml(&entry.action),
            entry.selector,
            entry.action.origin
        )?;
    }
    let mut creators: Vec<&str> = profile
        .private_entries
        .iter()
        .map(|e| e.selector.creator.as_str())
        .collect();
    creators.sort();
    creators.dedup();
    for creator in creators {
        writeln!(out, "\n[private-creators.{}]", quoted(creator))?;
        // Later entries for the same attribute win, as when loading.
        let mut latest = std::collections::BTreeMap::new();
        for entry in profile
            .private_entries
            .iter()
            .filter(|e| e.selector.creator == creator)
        {
            latest.insert((entry.selector.group, entry.selector.element), entry);
        }
        for ((group, element), entry) in latest {
            writeln!(
                out,
                "\"({group:04X},xx{element:02X})\" = {}  # from {}",
                action_toml(&entry.action),
                entry.action.origin
            )?;
        }
    }
    Ok(())
}

fn action_toml(action: &ActionRef) -> String {
    match &action.value {
        None => quoted(&action.name),
        Some(value) => format!(
            "{{ action = {}, value = {} }}",
            quoted(&action.name),
            quoted(value)
        ),
    }
}

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_profile_loads_to_the_same_rules_and_names_its_sources() {
        for layers in [
            vec!["basic"],
            vec!["ps3.15-basic", "retain-uids", "retain-long-modified-dates"],
        ] {
            let specs: Vec<String> = layers.iter().map(|l| l.to_string()).collect();
            let profile = Profile::load(&specs).unwrap();
            let text = to_toml(&profile);
            let again =
                Profile::from_text("shown.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(again.fingerprint(), profile.fingerprint(), "{text}");
            let last = layers.last().unwrap();
            assert!(
                text.contains(&format!("from built-in profile \"{last}\":")),
                "{text}"
            );
        }
    }
}
