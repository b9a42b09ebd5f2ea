//! Private attributes named by their Private Creator, as a site writes them
//! in its profile:
//!
//! ```toml
//! [private-creators."SIEMENS MR HEADER"]
//! "(0019,xx0C)" = "keep"      # (0019,xx0C) in whichever block the creator reserved
//! "(0019,xx0B)" = "remove"
//! ```
//!
//! The `xx` stands for the block (10-FF) the creator reserved in that file:
//! a private attribute is the group, the creator and the element's last two
//! hex digits, wherever the block lies.

use std::fmt;

use super::{ActionRef, Origin, ProfileError};

/// One private attribute by creator: group, creator, element within the block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrivateSelector {
    pub group: u16,
    /// As written in the profile, surrounding spaces removed.
    pub creator: String,
    /// The element's last two hex digits.
    pub element: u8,
}

impl fmt::Display for PrivateSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({:04X},xx{:02X}) of {:?}",
            self.group, self.element, self.creator
        )
    }
}

/// One entry of a `[private-creators."..."]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateEntry {
    pub selector: PrivateSelector,
    /// The key as the author wrote it.
    pub key: String,
    pub action: ActionRef,
}

/// Reads one entry; `action_ref` reads the value as the `[attributes]`
/// table does.
pub(super) fn entry(
    creator: &str,
    key: &str,
    value: toml::Value,
    origin: Origin,
    action_ref: fn(toml::Value, Origin) -> Result<ActionRef, ProfileError>,
) -> Result<PrivateEntry, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        origin: origin.clone(),
        message,
    };
    let creator = creator.trim();
    if creator.is_empty() || creator.len() > 64 {
        return Err(invalid(format!(
            "private-creators {creator:?}: a Private Creator is 1 to 64 characters"
        )));
    }
    let (group, element) = parse_key(key).ok_or_else(|| {
        invalid(format!(
            "private-creators {creator:?}: {key:?} is not a private attribute; write \"(gggg,xxEE)\" with an odd group gggg and the element's last two hex digits EE, e.g. \"(0019,xx0C)\""
        ))
    })?;
    Ok(PrivateEntry {
        selector: PrivateSelector {
            group,
            creator: creator.to_string(),
            element,
        },
        key: key.to_string(),
        action: action_ref(value, origin)?,
    })
}

/// `(gggg,xxEE)` (parentheses optional) with an odd, private group.
fn parse_key(key: &str) -> Option<(u16, u8)> {
    let key = key.trim();
    let inner = key
        .strip_prefix('(')
        .and_then(|k| k.strip_suffix(')'))
        .unwrap_or(key);
    let (group, element) = inner.split_once(',')?;
    let (group, element) = (group.trim(), element.trim());
    if group.len() != 4 || element.len() != 4 {
        return None;
    }
    let group = u16::from_str_radix(group, 16).ok()?;
    let block = &element[..2];
    if !block.eq_ignore_ascii_case("xx") {
        return None;
    }
    let element = u8::from_str_radix(&element[2..], 16).ok()?;
    // Groups 0001-0007 and FFFF are odd but not private.
    (group & 1 == 1 && group > 0x0008 && group != 0xFFFF).then_some((group, element))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_group_and_element_within_the_block() {
        assert_eq!(parse_key("(0019,xx0C)"), Some((0x0019, 0x0C)));
        assert_eq!(parse_key("0029,XX08"), Some((0x0029, 0x08)));
        assert_eq!(parse_key("(0018,xx0C)"), None, "even group");
        assert_eq!(parse_key("(0019,100C)"), None, "a tag, not a block element");
        assert_eq!(parse_key("(0003,xx0C)"), None);
    }
}
