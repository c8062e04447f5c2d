//! The one error type of this crate.
//!
//! Each variant carries what an operator needs to act: the file and its mode, the certificate
//! subject and the dates, the element of a request that is malformed. It deliberately does not
//! wrap the underlying `der`/`ecdsa` error types in its public shape (their text is kept as a
//! string), so other crates do not need to depend on those crates' versions.
use std::path::PathBuf;

/// Everything that can go wrong in key handling, certificate processing, OCSP and TSP.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A private key file is readable or writable by someone other than its owner.
    #[error(
        "private key file {} has mode {:04o}: {}; run `chmod 600 {}`",
        .path.display(), .mode, exposure(.mode), .path.display()
    )]
    KeyFileTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (e.g. `0o644`).
        mode: u32,
    },

    /// Reading, creating or renaming a private key file failed.
    #[error("cannot {action} private key file {}: {source}", .path.display())]
    KeyFileIo {
        /// The key file.
        path: PathBuf,
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A private key could not be decoded (not PKCS#8, not PEM, or not a P-256 key).
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),

    /// A public key is not a well-formed P-256 SubjectPublicKeyInfo.
    #[error("unsupported or invalid public key (only ECDSA P-256 is accepted): {0}")]
    InvalidPublicKey(String),

    /// A signature did not verify.
    #[error("signature verification failed: {0}")]
    BadSignature(String),

    /// A signature or digest algorithm, or a key type or size, that cannot be checked: the
    /// signature is undecided, not forged.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),

    /// Input could not be parsed: `what` names the structure, `detail` what is wrong with it.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The structure that was expected, e.g. "certificate", "CSR", "OCSP request".
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },

    /// A certificate is checked before its notBefore.
    #[error("certificate {subject} is not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// Subject of the certificate.
        subject: String,
        /// Its notBefore, RFC 3339.
        not_before: String,
        /// The time checked, RFC 3339.
        at: String,
    },

    /// A certificate is checked after its notAfter.
    #[error("certificate {subject} expired at {not_after} (checked at {at})")]
    Expired {
        /// Subject of the certificate.
        subject: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
        /// The time checked, RFC 3339.
        at: String,
    },

    /// A certificate was not issued by the certificate it was checked against.
    #[error("certificate {subject} was not issued by {issuer}: {reason}")]
    WrongIssuer {
        /// Subject of the certificate checked.
        subject: String,
        /// Subject of the presumed issuer.
        issuer: String,
        /// Which check failed.
        reason: String,
    },

    /// No chain from a certificate to a trust anchor could be built.
    #[error("certificate {subject} is not trusted: {reason}")]
    Untrusted {
        /// Subject of the end-entity certificate.
        subject: String,
        /// Why the chain could not be built.
        reason: String,
    },

    /// A certificate lacks what its use requires (an extended key usage, CA status, ...).
    #[error("certificate {subject} cannot be used here: {reason}")]
    WrongCertificateUsage {
        /// Subject of the certificate.
        subject: String,
        /// What it lacks.
        reason: String,
    },

    /// A certificate issuance request is inconsistent.
    #[error("cannot issue certificate: {0}")]
    InvalidIssueRequest(String),

    /// An OCSP response was valid ASN.1 but not acceptable.
    #[error("OCSP response rejected: {0}")]
    OcspRejected(String),

    /// A CRL was valid ASN.1 but cannot be relied on for the question asked (a delta or
    /// indirect CRL, an unknown critical extension, a certificate outside its scope).
    #[error("CRL not usable: {0}")]
    CrlRejected(String),

    /// A time-stamp response was valid ASN.1 but not acceptable.
    #[error("time-stamp response rejected: {0}")]
    TimeStampRejected(String),

    /// Encoding our own structure failed (an internal limit, e.g. an over-long name).
    #[error("cannot encode {what}: {detail}")]
    Encoding {
        /// The structure being encoded.
        what: &'static str,
        /// The encoder's complaint.
        detail: String,
    },
}

impl PkiError {
    /// Shorthand for [`PkiError::Malformed`].
    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        PkiError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    /// Shorthand for [`PkiError::Encoding`].
    pub(crate) fn encoding(what: &'static str, detail: impl ToString) -> Self {
        PkiError::Encoding {
            what,
            detail: detail.to_string(),
        }
    }
}

impl From<crate::alg::AlgError> for PkiError {
    fn from(e: crate::alg::AlgError) -> Self {
        use crate::alg::AlgError;
        match e {
            AlgError::BadSignature(d) => PkiError::BadSignature(d),
            AlgError::Unsupported(d) => PkiError::UnsupportedAlgorithm(d),
            AlgError::Malformed(d) => PkiError::Malformed {
                what: "signature",
                detail: d,
            },
        }
    }
}

/// Says who besides the owner can do what with a file of `mode`, for the key file message.
pub(crate) fn exposure(mode: &u32) -> String {
    let (who, bits) = if mode & 0o007 != 0 {
        ("others", mode & 0o007)
    } else {
        ("its group", (mode >> 3) & 0o007)
    };
    let what = if bits & 0o4 != 0 {
        "read"
    } else if bits & 0o2 != 0 {
        "write"
    } else {
        "access"
    };
    format!("{who} can {what} it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_message_names_path_mode_and_fix() {
        let e = PkiError::KeyFileTooOpen {
            path: "/x/y.p8".into(),
            mode: 0o644,
        };
        assert_eq!(
            e.to_string(),
            "private key file /x/y.p8 has mode 0644: others can read it; run `chmod 600 /x/y.p8`"
        );
        let e = PkiError::KeyFileTooOpen {
            path: "/k".into(),
            mode: 0o620,
        };
        assert!(e.to_string().contains("mode 0620: its group can write it"));
    }
}
