//! Text under a DICOM Specific Character Set (0008,0005).
//!
//! The de-identification engine copies untouched values byte for byte, so it
//! only decodes text it must look at (patient name and ID for the audit, values
//! it hashes) and encodes text it writes. Decoding never fails: bytes that do
//! not fit the declared character set become U+FFFD, because an audit with a
//! replacement character is better than a run that stops.
//!
//! Besides the single-valued sets (`ISO_IR 100`, `ISO_IR 192`, `GB18030`, ...)
//! this handles the ISO 2022 code extensions of PS3.5 §6.1.2.5 (multi-valued
//! Specific Character Set with escape sequences, as used for Japanese and
//! Korean names), which the parser of dicom-rs does not.

use encoding_rs::{
    EUC_JP, EUC_KR, Encoding, GB18030, GBK, ISO_8859_2, ISO_8859_3, ISO_8859_4, ISO_8859_5,
    ISO_8859_6, ISO_8859_7, ISO_8859_8, SHIFT_JIS, UTF_8, WINDOWS_874, WINDOWS_1252, WINDOWS_1254,
};

const ESC: u8 = 0x1B;

/// How bytes of one stretch of text (between escape sequences) are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repertoire {
    /// ISO-IR 6 (ASCII). Bytes above 0x7F are read as Latin-1, the most
    /// common undeclared set in the wild.
    Ascii,
    /// An encoding that decodes the bytes as they are.
    Plain(&'static Encoding),
    /// JIS X 0208 in its 7-bit ISO 2022 form: decoded as EUC-JP after
    /// setting the high bit of each byte.
    JisX0208,
    /// JIS X 0212 in its 7-bit ISO 2022 form: decoded as EUC-JP after
    /// prefixing each pair with SS3.
    JisX0212,
}

impl Repertoire {
    fn decode_into(self, bytes: &[u8], out: &mut String) {
        match self {
            Repertoire::Ascii => {
                if bytes.is_ascii() {
                    // ASCII bytes are valid UTF-8.
                    out.push_str(&String::from_utf8_lossy(bytes));
                } else {
                    out.push_str(&WINDOWS_1252.decode_without_bom_handling(bytes).0);
                }
            }
            Repertoire::Plain(encoding) => {
                out.push_str(&encoding.decode_without_bom_handling(bytes).0);
            }
            Repertoire::JisX0208 => {
                let high: Vec<u8> = bytes.iter().map(|&b| to_euc_byte(b)).collect();
                out.push_str(&EUC_JP.decode_without_bom_handling(&high).0);
            }
            Repertoire::JisX0212 => {
                let mut euc = Vec::with_capacity(bytes.len() * 3 / 2);
                for pair in bytes.chunks(2) {
                    if pair.len() == 2 && pair.iter().all(|b| (0x21..=0x7E).contains(b)) {
                        euc.extend_from_slice(&[0x8F, pair[0] | 0x80, pair[1] | 0x80]);
                    } else {
                        euc.extend_from_slice(pair);
                    }
                }
                out.push_str(&EUC_JP.decode_without_bom_handling(&euc).0);
            }
        }
    }
}

fn to_euc_byte(b: u8) -> u8 {
    if (0x21..=0x7E).contains(&b) {
        b | 0x80
    } else {
        b
    }
}

/// A parsed Specific Character Set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharacterSet {
    /// The repertoire in force at the start of every value.
    initial: Repertoire,
    /// Whether ISO 2022 escape sequences switch repertoires.
    code_extensions: bool,
    /// The declared value, kept for error messages.
    declared: String,
}

impl Default for CharacterSet {
    fn default() -> Self {
        CharacterSet {
            initial: Repertoire::Ascii,
            code_extensions: false,
            declared: String::new(),
        }
    }
}

/// A replacement text that the file's character set cannot represent.
#[derive(Debug, thiserror::Error)]
#[error("the text {text:?} cannot be written in character set {charset:?}")]
pub struct UnencodableText {
    pub text: String,
    pub charset: String,
}

impl CharacterSet {
    /// Reads the raw value of (0008,0005). Unknown terms fall back to the
    /// default repertoire rather than failing, so that a file with an
    /// exotic declaration can still be de-identified.
    pub fn from_declaration(raw: &[u8]) -> CharacterSet {
        let text = String::from_utf8_lossy(raw);
        let terms: Vec<&str> = text
            .split('\\')
            .map(|t| t.trim_matches(|c: char| c == ' ' || c == '\0'))
            .collect();
        let first = terms.first().copied().unwrap_or("");
        let code_extensions = terms.len() > 1 || first.starts_with("ISO 2022");
        CharacterSet {
            initial: repertoire_of_term(first),
            code_extensions,
            declared: text.trim_end_matches([' ', '\0']).to_string(),
        }
    }

    /// Decodes a text value (all its values, backslashes included).
    pub fn decode(&self, bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len());
        if !self.code_extensions || !bytes.contains(&ESC) {
            self.initial.decode_into(bytes, &mut out);
            return out;
        }
        let mut repertoire = self.initial;
        let mut rest = bytes;
        while !rest.is_empty() {
            if rest[0] == ESC {
                match parse_escape(rest) {
                    Some((next, consumed)) => {
                        repertoire = next;
                        rest = &rest[consumed..];
                    }
                    None => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &rest[1..];
                    }
                }
                continue;
            }
            let end = rest.iter().position(|&b| b == ESC).unwrap_or(rest.len());
            repertoire.decode_into(&rest[..end], &mut out);
            rest = &rest[end..];
        }
        out
    }

    /// Encodes text for a value written under this character set.
    /// ASCII is valid in every DICOM character set; anything else needs an
    /// encoder for the declared set.
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, UnencodableText> {
        if text.is_ascii() {
            return Ok(text.as_bytes().to_vec());
        }
        let unencodable = || UnencodableText {
            text: text.to_string(),
            charset: self.declared.clone(),
        };
        let encoding = match self.initial {
            // ISO-IR 13 allows only the single-byte half of Shift_JIS.
            Repertoire::Plain(encoding) if !self.code_extensions && encoding != SHIFT_JIS => {
                encoding
            }
            _ => return Err(unencodable()),
        };
        let (bytes, _, had_errors) = encoding.encode(text);
        if had_errors {
            return Err(unencodable());
        }
        Ok(bytes.into_owned())
    }
}

/// Maps a defined term of PS3.3 C.12.1.1.2 to the repertoire it selects
/// for bytes that carry no escape sequence.
fn repertoire_of_term(term: &str) -> Repertoire {
    let plain = Repertoire::Plain;
    match term.replace('_', " ").as_str() {
        "ISO IR 100" | "ISO 2022 IR 100" => plain(WINDOWS_1252),
        "ISO IR 101" | "ISO 2022 IR 101" => plain(ISO_8859_2),
        "ISO IR 109" | "ISO 2022 IR 109" => plain(ISO_8859_3),
        "ISO IR 110" | "ISO 2022 IR 110" => plain(ISO_8859_4),
        "ISO IR 144" | "ISO 2022 IR 144" => plain(ISO_8859_5),
        "ISO IR 127" | "ISO 2022 IR 127" => plain(ISO_8859_6),
        "ISO IR 126" | "ISO 2022 IR 126" => plain(ISO_8859_7),
        "ISO IR 138" | "ISO 2022 IR 138" => plain(ISO_8859_8),
        "ISO IR 148" | "ISO 2022 IR 148" => plain(WINDOWS_1254),
        "ISO IR 166" | "ISO 2022 IR 166" => plain(WINDOWS_874),
        "ISO IR 13" | "ISO 2022 IR 13" => plain(SHIFT_JIS),
        "ISO IR 192" => plain(UTF_8),
        "GB18030" => plain(GB18030),
        "GBK" => plain(GBK),
        "ISO 2022 IR 87" => Repertoire::JisX0208,
        "ISO 2022 IR 159" => Repertoire::JisX0212,
        "ISO 2022 IR 149" => plain(EUC_KR),
        "ISO 2022 IR 58" => plain(GBK),
        _ => Repertoire::Ascii,
    }
}

/// Recognises the escape sequences of PS3.3 Table C.12-3 and C.12-4 and
/// returns the repertoire they select and their length.
fn parse_escape(bytes: &[u8]) -> Option<(Repertoire, usize)> {
    const SEQUENCES: &[(&[u8], Repertoire)] = &[
        (b"\x1b(B", Repertoire::Ascii),
        (b"\x1b(J", Repertoire::Ascii),
        (b"\x1b)I", Repertoire::Plain(SHIFT_JIS)),
        (b"\x1b$B", Repertoire::JisX0208),
        (b"\x1b$(D", Repertoire::JisX0212),
        (b"\x1b$)C", Repertoire::Plain(EUC_KR)),
        (b"\x1b$)A", Repertoire::Plain(GBK)),
        (b"\x1b-A", Repertoire::Plain(WINDOWS_1252)),
        (b"\x1b-B", Repertoire::Plain(ISO_8859_2)),
        (b"\x1b-C", Repertoire::Plain(ISO_8859_3)),
        (b"\x1b-D", Repertoire::Plain(ISO_8859_4)),
        (b"\x1b-L", Repertoire::Plain(ISO_8859_5)),
        (b"\x1b-G", Repertoire::Plain(ISO_8859_6)),
        (b"\x1b-F", Repertoire::Plain(ISO_8859_7)),
        (b"\x1b-H", Repertoire::Plain(ISO_8859_8)),
        (b"\x1b-M", Repertoire::Plain(WINDOWS_1254)),
        (b"\x1b-T", Repertoire::Plain(WINDOWS_874)),
    ];
    SEQUENCES
        .iter()
        .find(|(seq, _)| bytes.starts_with(seq))
        .map(|(seq, repertoire)| (*repertoire, seq.len()))
}

/// Makes decoded text safe for a spreadsheet cell or a terminal: control
/// characters (which break XLSX files and can drive terminals) become
/// U+FFFD, and DICOM padding is dropped.
pub fn printable(text: &str) -> String {
    text.trim_end_matches([' ', '\0'])
        .chars()
        .map(|c| {
            if c.is_control() {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_reads_ascii() {
        let cs = CharacterSet::from_declaration(b"");
        assert_eq!(cs.decode(b"Doe^John"), "Doe^John");
    }

    #[test]
    fn latin1_names() {
        let cs = CharacterSet::from_declaration(b"ISO_IR 100");
        assert_eq!(cs.decode(b"Buc^J\xe9r\xf4me"), "Buc^Jérôme");
    }

    #[test]
    fn cyrillic_names() {
        let cs = CharacterSet::from_declaration(b"ISO_IR 144");
        assert_eq!(cs.decode(b"\xbb\xee\xdace\xdc\xd1yp\xd3"), "Люкceмбypг");
    }

    #[test]
    fn japanese_iso_2022_with_escapes() {
        // PS3.5 Annex H example: Yamada^Tarou=山田^太郎=やまだ^たろう
        let cs = CharacterSet::from_declaration(b"\\ISO 2022 IR 87");
        let raw =
            b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
        assert_eq!(cs.decode(raw), "Yamada^Tarou=山田^太郎=やまだ^たろう");
    }

    #[test]
    fn korean_iso_2022_with_escapes() {
        // PS3.5 Annex I example: Hong^Gildong=洪^吉洞=홍^길동
        let cs = CharacterSet::from_declaration(b"\\ISO 2022 IR 149");
        let raw = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
        assert_eq!(cs.decode(raw), "Hong^Gildong=洪^吉洞=홍^길동");
    }

    #[test]
    fn utf8_and_gb18030() {
        let utf8 = CharacterSet::from_declaration(b"ISO_IR 192");
        assert_eq!(
            utf8.decode("Wang^XiaoDong=王^小東".as_bytes()),
            "Wang^XiaoDong=王^小東"
        );
        let gb = CharacterSet::from_declaration(b"GB18030 ");
        assert_eq!(gb.decode(b"\xcd\xf5^\xd0\xa1\xb6\xab"), "王^小东");
    }

    #[test]
    fn unknown_escape_is_replaced_not_fatal() {
        let cs = CharacterSet::from_declaration(b"\\ISO 2022 IR 87");
        assert_eq!(cs.decode(b"A\x1bZB"), "A\u{fffd}ZB");
    }

    #[test]
    fn encode_ascii_everywhere_and_non_ascii_where_possible() {
        let jis = CharacterSet::from_declaration(b"\\ISO 2022 IR 87");
        assert_eq!(jis.encode("17").unwrap(), b"17");
        assert!(jis.encode("山田").is_err());
        let latin1 = CharacterSet::from_declaration(b"ISO_IR 100");
        assert_eq!(latin1.encode("Jérôme").unwrap(), b"J\xe9r\xf4me");
        assert!(latin1.encode("山田").is_err());
    }

    #[test]
    fn printable_drops_padding_and_controls() {
        assert_eq!(printable("Doe^John \0"), "Doe^John");
        assert_eq!(printable("a\u{1}b"), "a\u{fffd}b");
    }
}
