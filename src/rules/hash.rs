//! `hash`: the value becomes a keyed hash (HMAC-SHA-256) that fits its VR.
//!
//! The key is `DICOMMANAGER_SECRET`, never the profile: an unkeyed hash of a
//! patient ID can be reversed by hashing a list of candidate IDs. The same
//! text gives the same hash in every file and every run with the same key,
//! so links between files survive. Each value of a multi-valued element is
//! hashed on its own; empty values stay empty.

use std::sync::Arc;

use dicom_core::VR;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{ActionDef, ElementValue, FileContext, Rule, RuleError, vr};

pub const ACTION: ActionDef = ActionDef {
    name: "hash",
    summary: "replace the value with a keyed hash (key: DICOMMANAGER_SECRET); a UI becomes a 2.25 UID",
    takes_value: false,
    fits,
    fits_description: "names, IDs and UIDs (PN LO SH LT ST UT UC CS AE UI)",
    build: |_| Arc::new(Hash),
};

fn fits(vr: VR) -> bool {
    vr::is_free_text(vr) || matches!(vr, VR::CS | VR::AE | VR::UI)
}

#[derive(Debug)]
struct Hash;

impl Rule for Hash {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        let text = element.charset.decode(element.bytes);
        let hashed: Vec<String> = text
            .split('\\')
            .map(|value| value.trim_matches([' ', '\0']))
            .map(|value| match value {
                "" => String::new(),
                uid if element.vr == VR::UI => hash_uid(file.secret, uid),
                other => hash_text(file.secret, other, hex_width(element.vr)),
            })
            .collect();
        Ok(hashed.join("\\").into_bytes())
    }

    fn uses_secret(&self) -> bool {
        true
    }
}

/// 128 bits where the VR has room, 64 bits in the 16-character VRs.
fn hex_width(vr: VR) -> usize {
    match vr::max_len(vr) {
        Some(max) if max < 32 => 16,
        _ => 32,
    }
}

/// HMAC-SHA-256 of `value` keyed with `secret`, in a `domain` of its own
/// (so that one value hashed for two purposes gives two hashes).
pub(crate) fn hmac(secret: &[u8], domain: &str, value: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, the empty one included.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(domain.as_bytes());
    mac.update(&[0]);
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Tells secrets apart without revealing them (a keyed hash of a fixed
/// text, 64 bits): recorded by a run so that a resume with another secret
/// can be refused. `none` for no secret.
pub fn secret_fingerprint(secret: &[u8]) -> String {
    if secret.is_empty() {
        return "none".to_string();
    }
    let digest = hmac(secret, "secret-fingerprint", b"dicommanager");
    lower_hex(&digest[..8])
}

/// Bytes as lower-case hex digits.
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A keyed hash of `text` as `width` upper-case hex digits (valid CS too).
pub fn hash_text(secret: &[u8], text: &str, width: usize) -> String {
    let digest = hmac(secret, "text", text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex[..width.min(hex.len())].to_string()
}

/// A keyed hash of a UID as a `2.25.` UID (PS3.5 B.2): the first 128 bits
/// of the HMAC, marked as a version 8 (custom) UUID, in decimal.
pub fn hash_uid(secret: &[u8], uid: &str) -> String {
    let digest = hmac(secret, "uid", uid.as_bytes());
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    uuid[6] = (uuid[6] & 0x0F) | 0x80;
    uuid[8] = (uuid[8] & 0x3F) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(uuid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::run_action;

    fn hash(vr: VR, bytes: &[u8], secret: &[u8]) -> String {
        let out = run_action(&ACTION, None, vr, bytes, b"ISO_IR 100", secret).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_value_same_key_same_hash_and_padding_ignored() {
        assert_eq!(
            hash(VR::LO, b"ABC123", b"k"),
            hash(VR::LO, b"ABC123 ", b"k")
        );
        assert_ne!(hash(VR::LO, b"ABC123", b"k"), hash(VR::LO, b"ABC124", b"k"));
    }

    #[test]
    fn the_key_changes_the_hash() {
        assert_ne!(
            hash(VR::LO, b"ABC123", b"k1"),
            hash(VR::LO, b"ABC123", b"k2")
        );
    }

    #[test]
    fn output_fits_the_vr() {
        let sh = hash(VR::SH, b"ACC-1", b"k");
        assert_eq!(sh.len(), 16);
        let lo = hash(VR::LO, b"ID1\\ID2", b"k");
        let parts: Vec<&str> = lo.split('\\').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() == 32));
        assert!(vr::check_value(VR::CS, &hash(VR::CS, b"X", b"k")).is_ok());
    }

    #[test]
    fn uids_become_valid_2_25_uids() {
        let uid = hash(VR::UI, b"1.2.840.113619.2.1.1.1\0", b"k");
        assert!(uid.starts_with("2.25."), "{uid}");
        assert!(uid.len() <= 64);
        assert!(vr::check_value(VR::UI, &uid).is_ok());
        assert!(!uid[5..].starts_with('0'));
        assert_eq!(uid, hash(VR::UI, b"1.2.840.113619.2.1.1.1", b"k"));
    }

    #[test]
    fn empty_stays_empty_and_dates_are_refused() {
        assert_eq!(hash(VR::LO, b"", b"k"), "");
        assert!(run_action(&ACTION, None, VR::DA, b"19700101", b"", b"").is_err());
    }
}
