//! What the value representations allow (PS3.5 Table 6.2-1), as far as the
//! actions need to know.

use dicom_core::VR;

/// VRs whose value is character text.
pub fn is_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// Free text and names: anything may be written there.
pub fn is_free_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT
    )
}

/// Maximum length of one value in characters; `None` when unbounded for our purpose.
pub fn max_len(vr: VR) -> Option<usize> {
    match vr {
        VR::AE | VR::CS | VR::DS | VR::SH | VR::AS => Some(match vr {
            VR::AS => 4,
            _ => 16,
        }),
        VR::DA => Some(8),
        VR::IS => Some(12),
        VR::TM => Some(14),
        VR::DT => Some(26),
        VR::LO | VR::PN | VR::UI => Some(64),
        VR::ST => Some(1024),
        VR::LT => Some(10240),
        _ => None,
    }
}

/// The byte that pads a value of this VR to even length.
pub fn padding(vr: VR) -> u8 {
    match vr {
        VR::UI | VR::OB | VR::UN => b'\0',
        _ => b' ',
    }
}

/// Checks a fixed replacement value against its VR.
pub fn check_value(vr: VR, value: &str) -> Result<(), String> {
    for single in value.split('\\') {
        if let Some(max) = max_len(vr)
            && single.chars().count() > max
        {
            return Err(format!(
                "{single:?} is longer than the {max} characters VR {} allows",
                vr.to_string()
            ));
        }
        let ok = match vr {
            VR::DA => {
                single.is_empty() || (single.len() == 8 && all(single, |c| c.is_ascii_digit()))
            }
            VR::TM => all(single, |c| c.is_ascii_digit() || c == '.'),
            VR::DT => all(single, |c| c.is_ascii_digit() || ".+-".contains(c)),
            VR::UI => all(single, |c| c.is_ascii_digit() || c == '.'),
            VR::IS => single.trim().is_empty() || single.trim().parse::<i64>().is_ok(),
            VR::DS => single.trim().is_empty() || single.trim().parse::<f64>().is_ok(),
            VR::CS => all(single, |c| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '_'
            }),
            VR::AS => {
                single.is_empty()
                    || (single.len() == 4
                        && single[..3].bytes().all(|b| b.is_ascii_digit())
                        && "DWMY".contains(&single[3..]))
            }
            _ => true,
        };
        if !ok {
            return Err(format!(
                "{single:?} is not a valid {} value",
                vr.to_string()
            ));
        }
    }
    Ok(())
}

fn all(text: &str, pred: impl Fn(char) -> bool) -> bool {
    text.chars().all(pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_vr() {
        assert!(check_value(VR::DA, "20240101").is_ok());
        assert!(check_value(VR::DA, "2024-01-01").is_err());
        assert!(check_value(VR::UI, "1.2.3").is_ok());
        assert!(check_value(VR::UI, "1.2.a").is_err());
        assert!(check_value(VR::CS, "ANON").is_ok());
        assert!(check_value(VR::CS, "anon").is_err());
        assert!(check_value(VR::SH, "12345678901234567").is_err());
        assert!(check_value(VR::LO, "ANONYMISED").is_ok());
        assert!(check_value(VR::AS, "045Y").is_ok());
        assert!(check_value(VR::IS, "12\\x").is_err());
    }
}
