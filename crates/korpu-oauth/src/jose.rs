//! The part of JOSE that FAPI 2.0 needs on the authorisation server's side: public JWKs
//! (RFC 7517) with their RFC 7638 thumbprints, and verification of compact JWS (RFC 7515) with
//! the three algorithms the FAPI 2.0 Security Profile allows — PS256, ES256 and EdDSA
//! (Ed25519) — through `ring`.
//!
//! Deliberately not here: `none`, HMAC and RSA PKCS#1 v1.5 (FAPI 2.0 §5.4 forbids them for
//! clients), encryption (JWE), and key sets fetched from URLs (the hub registers a client's
//! keys; fetching is the caller's I/O).
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// A signature algorithm accepted from clients (FAPI 2.0 Security Profile §5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PSS with SHA-256 and a 32-byte salt, RSA keys of 2048 bits or more.
    Ps256,
    /// ECDSA on P-256 with SHA-256, the signature as `r || s`.
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Alg {
    /// Every accepted algorithm, in the order discovery metadata lists them.
    pub const ALL: [Alg; 3] = [Alg::Ps256, Alg::Es256, Alg::EdDsa];

    /// The JWA name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm a JWS header names, if it is one FAPI 2.0 accepts.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Why a key or a JWS was refused. The texts say what was wrong so a client's developer can fix
/// it; they never echo a signature or key material back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not a compact JWS: it needs three base64url parts separated by dots.
    #[error("not a compact JWS: it needs three base64url parts separated by dots")]
    NotCompact,
    /// A part is not base64url JSON.
    #[error("the JWS {0} is not base64url-encoded JSON object")]
    BadPart(&'static str),
    /// The algorithm is not one FAPI 2.0 accepts.
    #[error("signature algorithm {0:?} is not accepted; use PS256, ES256 or EdDSA (FAPI 2.0)")]
    Algorithm(String),
    /// The JWK cannot be used.
    #[error("the JWK is not usable: {0}")]
    BadKey(String),
    /// The JWK carries private members.
    #[error("the JWK holds private key material ({0}); send the public key only")]
    PrivateKey(&'static str),
    /// The key's type does not go with the algorithm.
    #[error("the key is a {key} key, which cannot check an {alg} signature")]
    KeyMismatch {
        /// The key's type.
        key: &'static str,
        /// The header's algorithm.
        alg: &'static str,
    },
    /// The signature does not verify with the key.
    #[error("the signature does not verify with the key")]
    Signature,
}

/// A public JSON Web Key of a type that can check one of the accepted algorithms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Jwk {
    /// `kty: EC`, `crv: P-256`: the affine coordinates.
    P256 {
        /// The x coordinate, big-endian.
        x: [u8; 32],
        /// The y coordinate, big-endian.
        y: [u8; 32],
    },
    /// `kty: RSA`: modulus and public exponent, big-endian without leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// `kty: OKP`, `crv: Ed25519`: the public key.
    Ed25519 {
        /// The public key (RFC 8032 encoding).
        x: [u8; 32],
    },
}

/// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2, and `k` of
/// symmetric keys). A "public" key carrying one of them is refused: the sender has leaked its
/// own private key, and taking it as a binding key would bind tokens to a key anyone has seen.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fn member<'a>(v: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JoseError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::BadKey(format!("member {name:?} is missing or not a string")))
}

fn b64_member(v: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JoseError> {
    B64URL
        .decode(member(v, name)?)
        .map_err(|_| JoseError::BadKey(format!("member {name:?} is not base64url")))
}

fn fixed32(v: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], JoseError> {
    b64_member(v, name)?
        .try_into()
        .map_err(|_| JoseError::BadKey(format!("member {name:?} must be 32 bytes")))
}

/// Big-endian integer bytes without leading zeros: RFC 7518 §6.3.1 says `n` and `e` carry none,
/// but some encoders add one; the thumbprint must be the same for both spellings.
fn unsigned(mut b: Vec<u8>) -> Vec<u8> {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b.drain(..zeros.min(b.len().saturating_sub(1)));
    b
}

impl Jwk {
    /// Reads a public JWK from its JSON object.
    pub fn from_json(v: &Value) -> Result<Jwk, JoseError> {
        let obj = v
            .as_object()
            .ok_or_else(|| JoseError::BadKey("a JWK is a JSON object".into()))?;
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(JoseError::PrivateKey(m));
        }
        match member(obj, "kty")? {
            "EC" => match member(obj, "crv")? {
                "P-256" => Ok(Jwk::P256 {
                    x: fixed32(obj, "x")?,
                    y: fixed32(obj, "y")?,
                }),
                other => Err(JoseError::BadKey(format!(
                    "curve {other:?} is not accepted; use P-256"
                ))),
            },
            "RSA" => {
                let n = unsigned(b64_member(obj, "n")?);
                if n.len() < 256 {
                    return Err(JoseError::BadKey(format!(
                        "an RSA modulus of {} bits is too short; FAPI 2.0 requires 2048 or more",
                        n.len() * 8
                    )));
                }
                Ok(Jwk::Rsa {
                    n,
                    e: unsigned(b64_member(obj, "e")?),
                })
            }
            "OKP" => match member(obj, "crv")? {
                "Ed25519" => Ok(Jwk::Ed25519 {
                    x: fixed32(obj, "x")?,
                }),
                other => Err(JoseError::BadKey(format!(
                    "curve {other:?} is not accepted; use Ed25519"
                ))),
            },
            other => Err(JoseError::BadKey(format!(
                "key type {other:?} is not accepted; use EC, RSA or OKP"
            ))),
        }
    }

    /// The key as a JSON object with only its required members, in RFC 7638's lexicographic
    /// order: the thumbprint's input, and what the hub shows and stores.
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.thumbprint_input()).expect("the input is JSON we wrote")
    }

    /// RFC 7638 §3: the required members, sorted, no white space. Written by hand, not through
    /// a map type, so the byte order never depends on a serializer's choices.
    fn thumbprint_input(&self) -> String {
        match self {
            Jwk::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                B64URL.encode(x),
                B64URL.encode(y)
            ),
            Jwk::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                B64URL.encode(e),
                B64URL.encode(n)
            ),
            Jwk::Ed25519 { x } => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                B64URL.encode(x)
            ),
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: DPoP's `jkt` (RFC 9449 §6).
    pub fn thumbprint(&self) -> String {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, self.thumbprint_input().as_bytes());
        B64URL.encode(digest.as_ref())
    }

    fn kind(&self) -> &'static str {
        match self {
            Jwk::P256 { .. } => "EC P-256",
            Jwk::Rsa { .. } => "RSA",
            Jwk::Ed25519 { .. } => "Ed25519",
        }
    }

    /// Checks `signature` over `signed` with this key and `alg`.
    pub fn verify(&self, alg: Alg, signed: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        let ok = match (self, alg) {
            (Jwk::P256 { x, y }, Alg::Es256) => {
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed, signature)
                    .is_ok()
            }
            (Jwk::Rsa { n, e }, Alg::Ps256) => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PSS_2048_8192_SHA256, signed, signature)
                .is_ok(),
            (Jwk::Ed25519 { x }, Alg::EdDsa) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(signed, signature)
                .is_ok(),
            _ => {
                return Err(JoseError::KeyMismatch {
                    key: self.kind(),
                    alg: alg.name(),
                })
            }
        };
        if ok {
            Ok(())
        } else {
            Err(JoseError::Signature)
        }
    }
}

/// A compact JWS, split and decoded but not yet verified.
#[derive(Clone, Debug)]
pub struct Jws {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload, which every token this crate reads is a JSON object (a JWT claims set).
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn json_part(part: &str, name: &'static str) -> Result<Map<String, Value>, JoseError> {
    let bytes = B64URL.decode(part).map_err(|_| JoseError::BadPart(name))?;
    serde_json::from_slice(&bytes).map_err(|_| JoseError::BadPart(name))
}

impl Jws {
    /// Splits and decodes a compact JWS whose payload is a JSON object.
    pub fn decode(token: &str) -> Result<Jws, JoseError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::NotCompact);
        };
        Ok(Jws {
            header: json_part(h, "header")?,
            claims: json_part(p, "payload")?,
            signing_input: format!("{h}.{p}"),
            signature: B64URL
                .decode(s)
                .map_err(|_| JoseError::BadPart("signature"))?,
        })
    }

    /// The header's `alg`, refused unless FAPI 2.0 accepts it.
    pub fn alg(&self) -> Result<Alg, JoseError> {
        let name = self.header.get("alg").and_then(Value::as_str).unwrap_or("");
        Alg::from_name(name).ok_or_else(|| JoseError::Algorithm(name.to_owned()))
    }

    /// A header member as text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A claim as text.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A claim as a whole number (JWT NumericDate claims).
    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    /// Checks the signature with `key`, under the header's algorithm.
    pub fn verify(&self, key: &Jwk) -> Result<(), JoseError> {
        key.verify(self.alg()?, self.signing_input.as_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1: the example RSA key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = Jwk::from_json(&json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256",
            "kid": "2011-04-29"}))
        .unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_leading_zero_does_not_change_the_thumbprint() {
        let n: Vec<u8> = (1..=256u16).map(|i| i as u8 | 1).collect();
        let plain = json!({"kty": "RSA", "n": B64URL.encode(&n), "e": "AQAB"});
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        let zero = json!({"kty": "RSA", "n": B64URL.encode(&padded), "e": "AAEAAQ"});
        assert_eq!(
            Jwk::from_json(&plain).unwrap().thumbprint(),
            Jwk::from_json(&zero).unwrap().thumbprint()
        );
    }

    #[test]
    fn private_members_short_keys_and_other_curves_are_refused() {
        let x = B64URL.encode([7u8; 32]);
        for (jwk, want) in [
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}),
                "private key material (d)",
            ),
            (json!({"kty": "oct", "k": x}), "private key material (k)"),
            (
                json!({"kty": "EC", "crv": "P-384", "x": x, "y": x}),
                "curve \"P-384\"",
            ),
            (
                json!({"kty": "RSA", "n": B64URL.encode([9u8; 128]), "e": "AQAB"}),
                "1024 bits is too short",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": x}),
                "\"y\" is missing",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
                "32 bytes",
            ),
        ] {
            let err = Jwk::from_json(&jwk).unwrap_err().to_string();
            assert!(err.contains(want), "{jwk}: {err}");
        }
    }

    #[test]
    fn rfc7515_es256_example_verifies_and_a_changed_payload_does_not() {
        // RFC 7515 Appendix A.3: an ES256 JWS and its key, made by someone else.
        let key = Jwk::from_json(&json!({"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}))
        .unwrap();
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let jws = Jws::decode(token).unwrap();
        assert_eq!(jws.alg().unwrap(), Alg::Es256);
        jws.verify(&key).unwrap();
        assert_eq!(jws.claim_str("iss"), Some("joe"));

        let (h, rest) = token.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let forged = format!("{h}.{}.{s}", B64URL.encode(br#"{"iss":"eve"}"#));
        assert_eq!(
            Jws::decode(&forged).unwrap().verify(&key),
            Err(JoseError::Signature)
        );
    }

    #[test]
    fn rfc8037_ed25519_example_verifies() {
        // RFC 8037 Appendix A.4.
        let key = Jwk::from_json(&json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
        .unwrap();
        // The example's payload is not JSON ("Example of Ed25519 signing"), so check the
        // signature on the raw signing input.
        let sig = B64URL.decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg").unwrap();
        key.verify(
            Alg::EdDsa,
            b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
            &sig,
        )
        .unwrap();
        assert_eq!(
            key.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            "RFC 8037 A.3"
        );
    }

    #[test]
    fn none_hmac_and_pkcs1_are_refused_before_any_key_is_tried() {
        for alg in ["none", "HS256", "RS256", "ES384", ""] {
            let h = B64URL.encode(json!({ "alg": alg }).to_string());
            let p = B64URL.encode("{}");
            let jws = Jws::decode(&format!("{h}.{p}.")).unwrap();
            assert_eq!(jws.alg(), Err(JoseError::Algorithm(alg.into())));
        }
        assert_eq!(
            Jws::decode("a.b").unwrap_err(),
            JoseError::NotCompact,
            "two parts"
        );
        assert_eq!(
            Jws::decode("e30.e30.e30.e30").unwrap_err(),
            JoseError::NotCompact
        );
        assert_eq!(
            Jws::decode("bm90IGpzb24.e30.").unwrap_err(),
            JoseError::BadPart("header")
        );
    }

    #[test]
    fn a_key_of_another_type_is_a_mismatch_not_a_forgery() {
        let key = Jwk::Ed25519 { x: [1; 32] };
        assert_eq!(
            key.verify(Alg::Es256, b"x", b"y"),
            Err(JoseError::KeyMismatch {
                key: "Ed25519",
                alg: "ES256"
            })
        );
    }
}
