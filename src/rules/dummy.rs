//! `dummy`: a fixed value that is valid for the VR and says nothing about
//! anyone (PS3.15 action code D); a sequence is kept with its items
//! de-identified, which is the dummy the standard's table expects of it.

use std::sync::Arc;

use dicom_core::VR;

use super::hash::hash_uid;
use super::{ActionDef, Disposition, ElementValue, FileContext, Rule, RuleError};

pub const ACTION: ActionDef = ActionDef {
    name: "dummy",
    summary: "replace the value with a fixed dummy valid for the VR (ANONYMIZED, 19000101, 0 ...); a UI becomes a keyed 2.25 UID; a sequence keeps its de-identified items",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Dummy),
};

#[derive(Debug)]
struct Dummy;

impl Rule for Dummy {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, vr: VR) -> Disposition {
        match vr {
            VR::SQ => Disposition::Keep,
            _ => Disposition::Rewrite,
        }
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        Ok(match element.vr {
            VR::UI => {
                let uid = String::from_utf8_lossy(element.bytes);
                hash_uid(file.secret, uid.trim_matches([' ', '\0'])).into_bytes()
            }
            vr => dummy_value(vr).to_vec(),
        })
    }
}

/// The dummy of each VR (binary VRs: one zero value).
fn dummy_value(vr: VR) -> &'static [u8] {
    match vr {
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT => {
            b"ANONYMIZED"
        }
        VR::UR => b"urn:dicommanager:anonymized",
        VR::AS => b"000D",
        VR::DA => b"19000101",
        VR::DT => b"19000101000000",
        VR::TM => b"000000",
        VR::DS | VR::IS => b"0",
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => &[0; 8],
        VR::AT | VR::FL | VR::SL | VR::UL | VR::OF | VR::OL => &[0; 4],
        _ => &[0; 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{run_action, vr};

    #[test]
    fn every_text_dummy_is_valid_for_its_vr() {
        for vr in [
            VR::AE,
            VR::AS,
            VR::CS,
            VR::DA,
            VR::DS,
            VR::DT,
            VR::IS,
            VR::LO,
            VR::LT,
            VR::PN,
            VR::SH,
            VR::ST,
            VR::TM,
            VR::UC,
            VR::UR,
            VR::UT,
        ] {
            let value = String::from_utf8(dummy_value(vr).to_vec()).unwrap();
            assert_eq!(vr::check_value(vr, &value), Ok(()), "{vr:?}");
        }
    }

    #[test]
    fn uids_become_keyed_uids_and_sequences_are_kept() {
        let out = run_action(&ACTION, None, VR::UI, b"1.2.3.4\0", b"", b"k").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), hash_uid(b"k", "1.2.3.4"));
        assert_eq!((ACTION.build)(None).disposition(VR::SQ), Disposition::Keep);
        assert_eq!(
            run_action(&ACTION, None, VR::US, b"\x07\x00", b"", b"").unwrap(),
            [0, 0]
        );
    }
}
