//! Signed tree heads as C2SP tlog-checkpoint bodies in C2SP signed notes with Ed25519
//! signatures (signature type 0x01), so witnesses, monitors and the Go `golang.org/x/mod/sumdb/note`
//! and Rust `signed_note` libraries read them unchanged.
//!
//! Verification follows the signed-note rules: signatures by unknown keys are ignored (they
//! may be witness cosignatures or a rotated key), a signature by a trusted key that fails rejects
//! the whole note, and a note with no verified trusted signature is rejected.
//!
//! Deliberately not here: cosignature types (0x04, 0x06), ECDSA notes (0x02), checkpoint
//! extension lines (we never issue them, and refuse them rather than drop them silently), and
//! any key storage beyond the PKCS#8 and Go "PRIVATE+KEY" encodings.
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;
use crate::NoteError;

/// Signature type identifier of Ed25519 in signed notes (C2SP signed-note §Signature types).
const ALG_ED25519: u8 = 0x01;
/// More signature lines than this make a note malformed. The spec asks for at least 16.
pub const MAX_NOTE_SIGNATURES: usize = 64;
/// Longer notes are refused before any parsing: a checkpoint with a few signatures is < 1 KiB.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The three mandatory lines of a C2SP tlog-checkpoint: which log, how many leaves, which root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, e.g. `ledger.gw1.gov.az/v1`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash of the first `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, decimal size and base64 root, each ending in a newline.
    pub fn to_body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (the text of a verified note).
    pub fn parse_body(s: &str) -> Result<Self, NoteError> {
        let bad = |m: String| NoteError::MalformedCheckpoint(m);
        let Some(text) = s.strip_suffix('\n') else {
            return Err(bad("the body does not end with a newline".into()));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(format!(
                "{} lines; a checkpoint has origin, size and root",
                lines.len()
            )));
        }
        if lines.len() > 3 {
            return Err(bad(format!(
                "{} extension lines after the root; this ledger neither issues nor accepts them",
                lines.len() - 3
            )));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad("the origin line is empty".into()));
        }
        let size_text = lines[1];
        // tlog-checkpoint: ASCII decimal with no leading zeroes, "0" for the empty tree.
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(bad(format!(
                "tree size \"{size_text}\" is not a decimal without leading zeroes"
            )));
        }
        let size = size_text
            .parse::<u64>()
            .map_err(|_| bad(format!("tree size \"{size_text}\" does not fit in 64 bits")))?;
        let root_bytes = B64
            .decode(lines[2])
            .map_err(|e| bad(format!("root hash \"{}\" is not base64: {e}", lines[2])))?;
        let root: Hash = root_bytes.as_slice().try_into().map_err(|_| {
            bad(format!(
                "root hash is {} bytes, not the 32 of SHA-256",
                root_bytes.len()
            ))
        })?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// C2SP signed-note key names: non-empty, no Unicode spaces, no '+' (which separates vkey
/// fields), and no control characters (which no note may contain).
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() {
        return Err(NoteError::InvalidKey("the key name is empty".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '+')
    {
        return Err(NoteError::InvalidKey(format!(
            "key name \"{}\" contains {:?}; names have no spaces, control characters or '+'",
            name.escape_debug(),
            c
        )));
    }
    Ok(())
}

/// key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]
/// (C2SP signed-note §Ed25519 signatures), as a big-endian integer.
fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A named Ed25519 key that signs notes.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer after checking the key name.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, NoteError> {
        let name = name.into();
        check_key_name(&name)?;
        let key_id = key_id(&name, &key.verifying_key());
        Ok(NoteSigner { name, key, key_id })
    }

    /// A signer with a fresh random key.
    pub fn generate(name: impl Into<String>) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Reads the Go `golang.org/x/mod/sumdb/note` private key form
    /// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::InvalidKey(format!("signer key: {m}"));
        let rest = skey
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("does not start with PRIVATE+KEY+"))?;
        let (name, id, material) = split_vkey(rest).ok_or_else(|| bad("is not name+id+key"))?;
        let bytes = B64
            .decode(material)
            .map_err(|_| bad("the key material is not base64"))?;
        let seed: [u8; 32] = match bytes.as_slice() {
            [ALG_ED25519, seed @ ..] => seed
                .try_into()
                .map_err(|_| bad("the seed is not 32 bytes"))?,
            _ => return Err(bad("the key type is not Ed25519 (0x01)")),
        };
        let signer = Self::new(name, SigningKey::from_bytes(&seed))?;
        if signer.key_id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(signer)
    }

    /// The Go private key form read by [`NoteSigner::from_skey`]. Secret: store it like a key file.
    pub fn to_skey(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            B64.encode(material)
        )
    }

    /// Reads a PKCS#8 DER Ed25519 private key (RFC 8410), the form key files and HSM exports use.
    pub fn from_pkcs8_der(name: impl Into<String>, der: &[u8]) -> Result<Self, NoteError> {
        let key = SigningKey::from_pkcs8_der(der)
            .map_err(|e| NoteError::InvalidKey(format!("PKCS#8 Ed25519 key: {e}")))?;
        Self::new(name, key)
    }

    /// The private key as PKCS#8 DER (RFC 8410).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, NoteError> {
        self.key
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| NoteError::InvalidKey(format!("encoding PKCS#8: {e}")))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id put in front of each signature.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }
}

/// A trusted named Ed25519 public key. Its text form is the C2SP vkey
/// `<name>+<hex key id>+<base64(0x01 || public key)>` ([`fmt::Display`], [`FromStr`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

/// Splits `name+hexid+material`; the name is everything before the first '+'.
fn split_vkey(s: &str) -> Option<(&str, u32, &str)> {
    let (name, rest) = s.split_once('+')?;
    let (id, material) = rest.split_once('+')?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name, u32::from_str_radix(id, 16).ok()?, material))
}

impl NoteVerifier {
    /// A verifier after checking the key name.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, NoteError> {
        let name = name.into();
        check_key_name(&name)?;
        let key_id = key_id(&name, &key);
        Ok(NoteVerifier { name, key, key_id })
    }

    /// Parses a vkey, checking that its key id is the one its name and key give.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::InvalidKey(format!("verifier key \"{vkey}\": {m}"));
        let (name, id, material) =
            split_vkey(vkey).ok_or_else(|| bad("is not <name>+<8 hex digits>+<base64 key>"))?;
        let bytes = B64
            .decode(material)
            .map_err(|_| bad("the key material is not base64"))?;
        let raw: [u8; 32] = match bytes.as_slice() {
            [ALG_ED25519, k @ ..] => k
                .try_into()
                .map_err(|_| bad("the Ed25519 public key is not 32 bytes"))?,
            [t, ..] => {
                return Err(bad(&format!(
                    "signature type 0x{t:02x} is not Ed25519 (0x01)"
                )))
            }
            [] => return Err(bad("the key material is empty")),
        };
        let key =
            VerifyingKey::from_bytes(&raw).map_err(|_| bad("not a valid Ed25519 public key"))?;
        let v = Self::new(name, key)?;
        if v.key_id != id {
            return Err(bad(&format!(
                "key id {id:08x} does not match the name and key (expected {:08x})",
                v.key_id
            )));
        }
        Ok(v)
    }

    /// The vkey text form.
    pub fn to_vkey(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(material))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::from_vkey(s)
    }
}

/// C2SP signed-note: notes are UTF-8 with no control characters other than newline.
fn check_note_chars(s: &str, what: &str) -> Result<(), NoteError> {
    if let Some((i, c)) = s.char_indices().find(|(_, c)| c.is_control() && *c != '\n') {
        return Err(NoteError::MalformedNote(format!(
            "{what} contains control character {c:?} at byte {i}"
        )));
    }
    Ok(())
}

/// Signs `body` (the note text, ending in a newline) and returns the note: the body, a blank
/// line and the signature line `— <name> base64(key id || Ed25519 signature)`.
///
/// Fails when the body is not valid note text (empty, no final newline, control characters).
pub fn sign_note(body: &str, signer: &NoteSigner) -> Result<String, NoteError> {
    if !body.ends_with('\n') {
        return Err(NoteError::MalformedNote(
            "the text to sign does not end with a newline".into(),
        ));
    }
    check_note_chars(body, "the text to sign")?;
    let sig = signer.key.sign(body.as_bytes());
    let mut raw = Vec::with_capacity(4 + 64);
    raw.extend_from_slice(&signer.key_id.to_be_bytes());
    raw.extend_from_slice(&sig.to_bytes());
    Ok(format!(
        "{body}\n\u{2014} {} {}\n",
        signer.name,
        B64.encode(raw)
    ))
}

/// One signature line of a note, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature proper, after the key id.
    pub signature: Vec<u8>,
}

/// Splits a note into its text and signature lines, checking only the structure. Nothing here
/// is authenticated: use [`verify_note`] before trusting the text.
pub fn split_note(note: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    let bad = |m: String| NoteError::MalformedNote(m);
    if note.len() > MAX_NOTE_BYTES {
        return Err(bad(format!(
            "{} bytes, over the {MAX_NOTE_BYTES}-byte limit",
            note.len()
        )));
    }
    check_note_chars(note, "the note")?;
    // The text is separated from the signatures by the last empty line.
    let Some(split) = note.rfind("\n\n") else {
        return Err(bad(
            "no blank line separates the text from the signatures".into()
        ));
    };
    let (text, sig_block) = (&note[..split + 1], &note[split + 2..]);
    if sig_block.is_empty() {
        return Err(bad("there are no signature lines".into()));
    }
    let Some(sig_block) = sig_block.strip_suffix('\n') else {
        return Err(bad(
            "the last signature line does not end with a newline".into()
        ));
    };
    let mut sigs = Vec::new();
    for (n, line) in sig_block.split('\n').enumerate() {
        if n == MAX_NOTE_SIGNATURES {
            return Err(bad(format!("more than {MAX_NOTE_SIGNATURES} signatures")));
        }
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(bad(format!(
                "signature line {} does not start with an em dash and a space",
                n + 1
            )));
        };
        let Some((name, b64)) = rest.split_once(' ') else {
            return Err(bad(format!(
                "signature line {} has no signature after the key name",
                n + 1
            )));
        };
        check_key_name(name)
            .map_err(|_| bad(format!("signature line {} has an invalid key name", n + 1)))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| bad(format!("signature line {} is not base64", n + 1)))?;
        if raw.len() < 5 {
            return Err(bad(format!(
                "signature line {} holds {} bytes: a key id and a signature need at least 5",
                n + 1,
                raw.len()
            )));
        }
        sigs.push(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        });
    }
    Ok((text, sigs))
}

/// Verifies a note against trusted keys and returns its text.
///
/// Signatures whose name and key id match no verifier are ignored; a signature whose name and id
/// match a verifier but does not verify rejects the note; at least one must verify.
pub fn verify_note(note: &str, verifiers: &[NoteVerifier]) -> Result<String, NoteError> {
    let (text, sigs) = split_note(note)?;
    let mut verified = false;
    for sig in &sigs {
        let Some(v) = verifiers
            .iter()
            .find(|v| v.name == sig.name && v.key_id == sig.key_id)
        else {
            continue;
        };
        let failed = || NoteError::BadNoteSignature {
            name: sig.name.clone(),
            key_id: sig.key_id,
        };
        let s = Signature::from_slice(&sig.signature).map_err(|_| failed())?;
        v.key
            .verify_strict(text.as_bytes(), &s)
            .map_err(|_| failed())?;
        verified = true;
    }
    if !verified {
        let trusted = verifiers
            .iter()
            .map(|v| format!("{} {:08x}", v.name, v.key_id))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NoteError::NoTrustedSignature { trusted });
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_and_strictness() {
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 20852163,
            root: [7; 32],
        };
        assert_eq!(Checkpoint::parse_body(&cp.to_body()).unwrap(), cp);
        for bad in [
            "example.com/log\n012\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "example.com/log\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "example.com/log\n1\nBwcH\n",
            "example.com/log\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            "example.com/log\n1\n",
            "\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "example.com/log\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\next\n",
            "example.com/log\n99999999999999999999999\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_names() {
        assert!(check_key_name("example.com/log42").is_ok());
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb", "a\u{1}b"] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }
}
