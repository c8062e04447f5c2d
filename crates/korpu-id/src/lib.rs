//! X-Road compatible identifiers for everything on the bridge: instances, members, subsystems,
//! services and gateways (X-Road's "security servers").
//!
//! Each identifier is parsed once, from its text form, into a type that is then trusted
//! everywhere. The text form is the one X-Road's Message Protocol for REST (PR-REST) writes:
//! parts joined by `/`, each part percent-encoded on its own (PR-REST §4.2), so
//! `AZ/GOV/1234567/population/persons` names the service `persons` of subsystem `population` of
//! member `1234567` (class `GOV`) in instance `AZ`.
//!
//! Every part obeys PR-REST §4.8: only `A–Z`, `a–z`, `0–9` and `'()+,-.=?`, and never empty. We
//! also cap a part at [`MAX_PART_LEN`] bytes so that a hostile URI cannot make us carry megabytes
//! of "identifier" around (PR-REST §4.2 asks for strict validation and bounded lengths).
//!
//! This crate deliberately knows nothing about whether an identifier is *registered*: that is
//! the central registry's and the global configuration's business.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Longest accepted identifier part, in bytes (after percent-decoding).
pub const MAX_PART_LEN: usize = 255;

/// The symbols PR-REST §4.8 allows besides ASCII letters and digits.
pub const ALLOWED_SYMBOLS: &str = "'()+,-.=?";

/// Characters percent-encoded when an identifier part is printed. Of the allowed characters
/// only `?` is not a valid path-segment character (RFC 3986 §3.3); everything outside the
/// allowed set never reaches printing because parsing rejects it.
const PART_ENCODE: &AsciiSet = &CONTROLS.add(b'?').add(b'/').add(b'%').add(b' ');

/// Which part of an identifier an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Instance,
    MemberClass,
    MemberCode,
    SubsystemCode,
    ServiceCode,
    ServiceVersion,
    ServerCode,
}

impl Part {
    /// The field name used in API errors (`member_code`, …).
    pub fn field(self) -> &'static str {
        match self {
            Part::Instance => "instance",
            Part::MemberClass => "member_class",
            Part::MemberCode => "member_code",
            Part::SubsystemCode => "subsystem_code",
            Part::ServiceCode => "service_code",
            Part::ServiceVersion => "service_version",
            Part::ServerCode => "server_code",
        }
    }

    fn human(self) -> &'static str {
        match self {
            Part::Instance => "instance",
            Part::MemberClass => "member class",
            Part::MemberCode => "member code",
            Part::SubsystemCode => "subsystem code",
            Part::ServiceCode => "service code",
            Part::ServiceVersion => "service version",
            Part::ServerCode => "gateway code",
        }
    }
}

/// Why an identifier was rejected. The message names the part and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{} is empty: every identifier part needs at least one character", .0.human())]
    Empty(Part),
    #[error("{} is {len} bytes long: at most {MAX_PART_LEN} are allowed", .part.human())]
    TooLong { part: Part, len: usize },
    #[error("{} {value:?} contains {bad:?}, which is not allowed: use only A-Z, a-z, 0-9 and {ALLOWED_SYMBOLS} (X-Road PR-REST 4.8)", .part.human())]
    BadChar {
        part: Part,
        value: String,
        bad: char,
    },
    #[error("{} is not valid percent-encoded UTF-8", .0.human())]
    BadEncoding(Part),
    #[error("{what} {value:?} has {found} parts separated by '/': expected {expected}")]
    PartCount {
        what: &'static str,
        value: String,
        found: usize,
        expected: &'static str,
    },
}

impl IdError {
    /// The part an error is about, if it is about one part.
    pub fn part(&self) -> Option<Part> {
        match self {
            IdError::Empty(p) | IdError::BadEncoding(p) => Some(*p),
            IdError::TooLong { part, .. } | IdError::BadChar { part, .. } => Some(*part),
            IdError::PartCount { .. } => None,
        }
    }
}

fn check_part(part: Part, decoded: &str) -> Result<(), IdError> {
    if decoded.is_empty() {
        return Err(IdError::Empty(part));
    }
    if decoded.len() > MAX_PART_LEN {
        return Err(IdError::TooLong {
            part,
            len: decoded.len(),
        });
    }
    if let Some(bad) = decoded
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ALLOWED_SYMBOLS.contains(*c)))
    {
        return Err(IdError::BadChar {
            part,
            value: decoded.to_owned(),
            bad,
        });
    }
    Ok(())
}

macro_rules! part_type {
    ($(#[$doc:meta])* $name:ident, $part:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses a raw (not percent-encoded) value.
            pub fn new(value: &str) -> Result<Self, IdError> {
                check_part($part, value)?;
                Ok(Self(value.to_owned()))
            }

            /// Parses one percent-encoded part as it appears in a URI or header.
            pub fn from_encoded(encoded: &str) -> Result<Self, IdError> {
                let decoded = percent_decode_str(encoded)
                    .decode_utf8()
                    .map_err(|_| IdError::BadEncoding($part))?;
                Self::new(&decoded)
            }

            /// The raw value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            /// Prints the percent-encoded form, safe inside a URI path segment.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", utf8_percent_encode(&self.0, PART_ENCODE))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_encoded(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

part_type!(
    /// The X-Road instance, e.g. `AZ` or `AZ-TEST`.
    InstanceId,
    Part::Instance
);
part_type!(
    /// A member class, e.g. `GOV` or `COM`. Which classes exist is the registry's decision.
    MemberClass,
    Part::MemberClass
);
part_type!(
    /// A member code, e.g. a tax id `1234567`.
    MemberCode,
    Part::MemberCode
);
part_type!(
    /// A subsystem code, e.g. `population`.
    SubsystemCode,
    Part::SubsystemCode
);
part_type!(
    /// A service code, e.g. `persons`.
    ServiceCode,
    Part::ServiceCode
);
part_type!(
    /// A service version, e.g. `v1`.
    ServiceVersion,
    Part::ServiceVersion
);
part_type!(
    /// A gateway (security server) code, unique within its member, e.g. `gw1`.
    ServerCode,
    Part::ServerCode
);

fn split_exact<'a>(
    what: &'static str,
    s: &'a str,
    expected: &'static str,
    counts: &[usize],
) -> Result<Vec<&'a str>, IdError> {
    let parts: Vec<&str> = s.split('/').collect();
    if !counts.contains(&parts.len()) {
        return Err(IdError::PartCount {
            what,
            value: s.chars().take(2 * MAX_PART_LEN).collect(),
            found: parts.len(),
            expected,
        });
    }
    Ok(parts)
}

/// A member: an organisation in an instance, `INSTANCE/CLASS/CODE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    pub instance: InstanceId,
    pub class: MemberClass,
    pub code: MemberCode,
}

impl MemberId {
    pub fn new(instance: InstanceId, class: MemberClass, code: MemberCode) -> Self {
        Self {
            instance,
            class,
            code,
        }
    }

    /// The subsystem `code` of this member.
    pub fn subsystem(&self, code: SubsystemCode) -> SubsystemId {
        SubsystemId {
            member: self.clone(),
            code,
        }
    }

    fn from_parts(p: &[&str]) -> Result<Self, IdError> {
        Ok(Self {
            instance: InstanceId::from_encoded(p[0])?,
            class: MemberClass::from_encoded(p[1])?,
            code: MemberCode::from_encoded(p[2])?,
        })
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.instance, self.class, self.code)
    }
}

impl FromStr for MemberId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let p = split_exact("member id", s, "3 (INSTANCE/CLASS/CODE)", &[3])?;
        Self::from_parts(&p)
    }
}

/// A subsystem of a member, `INSTANCE/CLASS/CODE/SUBSYSTEM`: the unit that calls and provides
/// services.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubsystemId {
    pub member: MemberId,
    pub code: SubsystemCode,
}

impl SubsystemId {
    /// The service `code` of this subsystem.
    pub fn service(&self, code: ServiceCode) -> ServiceId {
        ServiceId {
            subsystem: self.clone(),
            code,
        }
    }
}

/// The text form of the ids that are a member and one more code, `INSTANCE/CLASS/CODE/X`
/// (a subsystem, a gateway): written and parsed the same way, only the code's type and the
/// words of the error differ.
macro_rules! member_and_code_text {
    ($($t:ident($code:ident, $what:literal, $expected:literal)),*) => {$(
        impl $t {
            /// From the four parts of the text form, already split and counted.
            fn from_parts(p: &[&str]) -> Result<Self, IdError> {
                Ok(Self { member: MemberId::from_parts(p)?, code: $code::from_encoded(p[3])? })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", self.member, self.code)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_parts(&split_exact($what, s, $expected, &[4])?)
            }
        }
    )*};
}
member_and_code_text!(
    SubsystemId(
        SubsystemCode,
        "subsystem id",
        "4 (INSTANCE/CLASS/CODE/SUBSYSTEM)"
    ),
    GatewayId(ServerCode, "gateway id", "4 (INSTANCE/CLASS/CODE/GATEWAY)")
);

/// A service client as the `X-Road-Client` header names it: a member, or one of its subsystems
/// (PR-REST §4.3: "Including the subsystem code is OPTIONAL").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientId {
    Member(MemberId),
    Subsystem(SubsystemId),
}

impl ClientId {
    /// The member this client belongs to.
    pub fn member(&self) -> &MemberId {
        match self {
            ClientId::Member(m) => m,
            ClientId::Subsystem(s) => &s.member,
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientId::Member(m) => m.fmt(f),
            ClientId::Subsystem(s) => s.fmt(f),
        }
    }
}

impl FromStr for ClientId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let expected = "3 (INSTANCE/CLASS/CODE) or 4 (INSTANCE/CLASS/CODE/SUBSYSTEM)";
        let p = split_exact("client id", s, expected, &[3, 4])?;
        Ok(match p.len() {
            3 => ClientId::Member(MemberId::from_parts(&p)?),
            _ => ClientId::Subsystem(SubsystemId::from_parts(&p)?),
        })
    }
}

/// A service, `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE`.
///
/// PR-REST §4.1 makes the subsystem optional, but then `/r1/A/B/C/D/x` could mean service `D`
/// with path `/x` or service `x` of subsystem `D`. Like X-Road's own REST implementation we
/// require the subsystem, which removes the ambiguity. Versions are a registry attribute and
/// not part of the REST service id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    pub subsystem: SubsystemId,
    pub code: ServiceCode,
}

impl ServiceId {
    /// Splits the part of a REST request path after `/r1/` into the service id and the rest of
    /// the path (empty, or starting with `/`), which is forwarded to the provider untouched.
    pub fn split_rest_path(path: &str) -> Result<(ServiceId, &str), IdError> {
        let mut end = 0;
        for _ in 0..5 {
            match path[end..].find('/') {
                Some(i) => end += i + 1,
                None => {
                    end = path.len() + 1;
                    break;
                }
            }
        }
        let (id_part, rest) = if end > path.len() {
            (path, "")
        } else {
            (&path[..end - 1], &path[end - 1..])
        };
        Ok((id_part.parse()?, rest))
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.subsystem, self.code)
    }
}

impl FromStr for ServiceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let expected = "5 (INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE)";
        let p = split_exact("service id", s, expected, &[5])?;
        Ok(Self {
            subsystem: SubsystemId::from_parts(&p)?,
            code: ServiceCode::from_encoded(p[4])?,
        })
    }
}

/// A gateway (X-Road "security server"), `INSTANCE/CLASS/CODE/GATEWAY`, as the
/// `X-Road-Security-Server` header names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayId {
    pub member: MemberId,
    pub code: ServerCode,
}

macro_rules! serde_via_text {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_via_text!(MemberId, SubsystemId, ClientId, ServiceId, GatewayId);

#[cfg(test)]
mod tests;
