//! The DICOM JSON model (PS3.18 F.2) of a header's data set.

use dicom_core::VR;
use serde_json::{Map, Value as Json, json};

use super::format::{decode_text, is_text, numbers, tags};
use super::tree::{DicomHeader, Item, Value};
use crate::charset::CharacterSet;

/// The data set as a DICOM JSON object. The file meta group is not part of
/// the model and is left out; so is the pixel data, which is never read.
pub fn to_json(header: &DicomHeader) -> Json {
    item_json(
        &header.dataset,
        &CharacterSet::default(),
        header.syntax.big_endian,
    )
}

fn item_json(item: &Item, inherited: &CharacterSet, big_endian: bool) -> Json {
    let charset = item.charset(inherited);
    let mut object = Map::new();
    for element in &item.elements {
        let key = format!("{:04X}{:04X}", element.tag.group(), element.tag.element());
        let vr = element.vr;
        let mut attribute = Map::new();
        attribute.insert("vr".into(), Json::String(vr.to_string().into()));
        match &element.value {
            Value::Items(items) => {
                if !items.is_empty() {
                    let values = items
                        .iter()
                        .map(|i| item_json(i, &charset, big_endian))
                        .collect();
                    attribute.insert("Value".into(), Json::Array(values));
                }
            }
            Value::Skipped => {}
            Value::Bytes(raw) if raw.is_empty() => {}
            Value::Bytes(raw) => {
                let (name, value) = value_json(raw, vr, &charset, big_endian);
                attribute.insert(name.into(), value);
            }
        }
        object.insert(key, Json::Object(attribute));
    }
    Json::Object(object)
}

/// The member name (`Value` or `InlineBinary`) and content of one value.
fn value_json(
    raw: &[u8],
    vr: VR,
    charset: &CharacterSet,
    big_endian: bool,
) -> (&'static str, Json) {
    if is_text(vr) {
        let text = decode_text(raw, vr, charset);
        // These VRs hold one value that may itself contain backslashes.
        let parts: Vec<&str> = if matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR) {
            vec![text.as_str()]
        } else {
            text.split('\\').collect()
        };
        let values = parts
            .into_iter()
            .map(|part| {
                let part = part.trim_matches(|c| c == ' ' || c == '\0');
                if part.is_empty() {
                    return Json::Null;
                }
                match vr {
                    VR::PN => person_name(part),
                    VR::IS => part
                        .parse::<i64>()
                        .map(Json::from)
                        .unwrap_or_else(|_| Json::String(part.into())),
                    VR::DS => part
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Json::Number)
                        .unwrap_or_else(|| Json::String(part.into())),
                    _ => Json::String(part.into()),
                }
            })
            .collect();
        return ("Value", Json::Array(values));
    }
    if vr == VR::AT {
        let values = tags(raw, big_endian)
            .iter()
            .map(|t| Json::String(format!("{:04X}{:04X}", t.group(), t.element())))
            .collect();
        return ("Value", Json::Array(values));
    }
    if let Some(values) = numbers(raw, vr, big_endian) {
        let values = values
            .into_iter()
            .map(|v| {
                if matches!(vr, VR::FL | VR::FD) {
                    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
                } else {
                    json!(v as i64)
                }
            })
            .collect();
        return ("Value", Json::Array(values));
    }
    ("InlineBinary", Json::String(base64(raw)))
}

/// `Yamada^Tarou=山田^太郎=やまだ^たろう` → the three component groups.
fn person_name(text: &str) -> Json {
    let mut name = Map::new();
    for (group, key) in text
        .split('=')
        .zip(["Alphabetic", "Ideographic", "Phonetic"])
    {
        if !group.is_empty() {
            name.insert(key.into(), Json::String(group.into()));
        }
    }
    Json::Object(name)
}

/// Standard base64 with padding (RFC 4648), as InlineBinary requires.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::Tag;

    use crate::metadata::tree::Element;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn person_names_numbers_and_binary() {
        let item = Item {
            elements: vec![
                Element {
                    tag: Tag(0x0008, 0x0005),
                    vr: VR::CS,
                    value: Value::Bytes(b"\\ISO 2022 IR 87".to_vec()),
                },
                Element {
                    tag: Tag(0x0010, 0x0010),
                    vr: VR::PN,
                    value: Value::Bytes(
                        b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=".to_vec(),
                    ),
                },
                Element {
                    tag: Tag(0x0018, 0x0050),
                    vr: VR::DS,
                    value: Value::Bytes(b"2.5\\-1 ".to_vec()),
                },
                Element {
                    tag: Tag(0x0028, 0x0010),
                    vr: VR::US,
                    value: Value::Bytes(vec![0, 2]),
                },
                Element {
                    tag: Tag(0x0009, 0x1001),
                    vr: VR::OB,
                    value: Value::Bytes(b"fo".to_vec()),
                },
                Element {
                    tag: Tag(0x0008, 0x1030),
                    vr: VR::LO,
                    value: Value::Bytes(Vec::new()),
                },
            ],
        };
        let json = item_json(&item, &CharacterSet::default(), false);
        assert_eq!(
            json["00100010"],
            json!({"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]})
        );
        assert_eq!(json["00180050"]["Value"], json!([2.5, -1.0]));
        assert_eq!(json["00280010"]["Value"], json!([512]));
        assert_eq!(
            json["00091001"],
            json!({"vr": "OB", "InlineBinary": "Zm8="})
        );
        assert_eq!(json["00081030"], json!({"vr": "LO"}));
    }
}
