//! Protected headers: parsing what a peer sent ([`Header`]) and choosing what we send
//! ([`HeaderParams`]).

use serde_json::{Map, Value};

use crate::b64;
use crate::error::{JoseError, Part};
use crate::jwk::Jwk;

/// Header members the caller cannot set through [`HeaderParams::custom`]: the crate writes
/// `alg`, `enc` and `epk` itself, refuses `zip`, `crit` and `b64`, and has typed setters for the
/// rest.
const RESERVED: &[&str] = &[
    "alg", "apu", "apv", "b64", "crit", "cty", "enc", "epk", "kid", "typ", "zip",
];

/// A protected header that has been checked: `alg` present and supported, `crit` absent, known
/// members of the right JSON type, `epk` (if any) a valid P-256 public key.
///
/// [`crate::jwe::decrypt`] and [`crate::jws::verify`] return it next to the plaintext or payload
/// so the caller can check `kid`, `typ` or `cty` against what it expected. Every member, known
/// or not, stays readable through [`Header::get`].
#[derive(Clone, Debug)]
pub struct Header {
    alg: String,
    epk: Option<Jwk>,
    members: Map<String, Value>,
}

impl Header {
    /// The `alg` member (already checked against the algorithms the operation accepts).
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The `enc` member (JWE only).
    pub fn enc(&self) -> Option<&str> {
        self.str_member("enc")
    }

    /// The `kid` (key ID) member.
    pub fn kid(&self) -> Option<&str> {
        self.str_member("kid")
    }

    /// The `typ` (media type of the whole object) member.
    pub fn typ(&self) -> Option<&str> {
        self.str_member("typ")
    }

    /// The `cty` (media type of the content) member.
    pub fn cty(&self) -> Option<&str> {
        self.str_member("cty")
    }

    /// The `epk` (ephemeral public key) member of an ECDH-ES JWE, parsed and validated.
    pub fn epk(&self) -> Option<&Jwk> {
        self.epk.as_ref()
    }

    /// Any member, as the peer sent it.
    pub fn get(&self, member: &str) -> Option<&Value> {
        self.members.get(member)
    }

    /// All members, as the peer sent them.
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }

    fn str_member(&self, member: &str) -> Option<&str> {
        self.members.get(member).and_then(Value::as_str)
    }

    /// Decodes and checks the first part of a compact serialization.
    ///
    /// `refused` lists members (besides `crit`, always refused) whose mere presence is an error.
    pub(crate) fn parse(part: &str, refused: &[&'static str]) -> Result<Self, JoseError> {
        let bytes = b64::decode(part).ok_or(JoseError::Base64 { part: Part::Header })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| JoseError::HeaderJson {
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(members) = value else {
            return Err(JoseError::HeaderNotAnObject);
        };
        // RFC 7515 section 4.1.11: a recipient must reject `crit` naming an extension it does
        // not understand; this crate understands none, so any `crit` is refused.
        for &member in ["crit"].iter().chain(refused) {
            if members.contains_key(member) {
                return Err(JoseError::UnsupportedHeader { member });
            }
        }
        let alg = match members.get("alg") {
            None => return Err(JoseError::MissingHeader { member: "alg" }),
            Some(Value::String(alg)) => alg.clone(),
            Some(_) => return Err(JoseError::InvalidHeader { member: "alg" }),
        };
        for member in ["enc", "kid", "typ", "cty", "apu", "apv"] {
            if members.get(member).is_some_and(|v| !v.is_string()) {
                return Err(JoseError::InvalidHeader { member });
            }
        }
        let epk = match members.get("epk") {
            None => None,
            Some(Value::Object(epk)) => {
                let key = Jwk::from_map(epk.clone()).map_err(JoseError::Epk)?;
                Some(key.to_public())
            }
            Some(_) => return Err(JoseError::InvalidHeader { member: "epk" }),
        };
        Ok(Self { alg, epk, members })
    }

    /// Decodes the base64url string member `apu` or `apv` (empty when absent).
    pub(crate) fn party_info(&self, member: &'static str) -> Result<Vec<u8>, JoseError> {
        match self.str_member(member) {
            None => Ok(Vec::new()),
            Some(text) => b64::decode(text).ok_or(JoseError::InvalidHeader { member }),
        }
    }
}

/// Header members the caller adds to a JWE or JWS it produces, next to the `alg`, `enc` and
/// `epk` this crate writes itself.
///
/// Members are written in the order they were first set, after the crate's own. Setting a member
/// twice keeps the first position and the last value.
///
/// ```
/// let params = jose::HeaderParams::new().kid("device-key-1").cty("json");
/// # let _ = params;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderParams {
    members: Vec<(String, Value)>,
    apu: Vec<u8>,
    apv: Vec<u8>,
}

impl HeaderParams {
    /// No extra members.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `kid`, the key ID the recipient (JWE) or verifier (JWS) uses to pick its key.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.set("kid", Value::String(kid.into()));
        self
    }

    /// Sets `typ`, the media type of the whole JWE or JWS (`JWT`, `JOSE`, ...).
    #[must_use]
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.set("typ", Value::String(typ.into()));
        self
    }

    /// Sets `cty`, the media type of the plaintext or payload.
    #[must_use]
    pub fn cty(mut self, cty: impl Into<String>) -> Self {
        self.set("cty", Value::String(cty.into()));
        self
    }

    /// Sets `apu` (agreement PartyUInfo, information about the producer). In a JWE it also
    /// enters the Concat KDF, binding the derived key to it (RFC 7518 section 4.6.1.2).
    #[must_use]
    pub fn apu(mut self, apu: &[u8]) -> Self {
        self.set("apu", Value::String(b64::encode(apu)));
        self.apu = apu.to_vec();
        self
    }

    /// Sets `apv` (agreement PartyVInfo, information about the recipient). In a JWE it also
    /// enters the Concat KDF (RFC 7518 section 4.6.1.3).
    #[must_use]
    pub fn apv(mut self, apv: &[u8]) -> Self {
        self.set("apv", Value::String(b64::encode(apv)));
        self.apv = apv.to_vec();
        self
    }

    /// Sets any other member (an application claim copied into the header, `x5t#S256`, ...).
    ///
    /// # Errors
    /// [`JoseError::ReservedHeader`] for `alg`, `enc`, `epk`, `zip`, `crit`, `b64` (written or
    /// refused by this crate) and `kid`, `typ`, `cty`, `apu`, `apv` (use their setters).
    pub fn custom(mut self, member: &str, value: Value) -> Result<Self, JoseError> {
        if RESERVED.contains(&member) {
            return Err(JoseError::ReservedHeader {
                member: JoseError::echo(member),
            });
        }
        self.set(member, value);
        Ok(self)
    }

    /// The raw `apu` bytes (empty when unset), for the KDF.
    pub(crate) fn apu_bytes(&self) -> &[u8] {
        &self.apu
    }

    /// The raw `apv` bytes (empty when unset), for the KDF.
    pub(crate) fn apv_bytes(&self) -> &[u8] {
        &self.apv
    }

    /// Appends every member to a JSON object being written.
    pub(crate) fn write_into(&self, object: &mut JsonObject) {
        for (name, value) in &self.members {
            object.member(name, &value.to_string());
        }
    }

    fn set(&mut self, member: &str, value: Value) {
        match self.members.iter_mut().find(|(name, _)| name == member) {
            Some((_, slot)) => *slot = value,
            None => self.members.push((member.to_owned(), value)),
        }
    }
}

/// A JSON object written member by member, in a fixed order (so a header's bytes, and with them
/// a JWS signature or JWE tag, do not depend on a map's iteration order).
pub(crate) struct JsonObject(String);

impl JsonObject {
    pub(crate) fn new() -> Self {
        Self(String::from("{"))
    }

    /// Appends `"name":value`; `value_json` must already be JSON.
    pub(crate) fn member(&mut self, name: &str, value_json: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&Value::String(name.to_owned()).to_string());
        self.0.push(':');
        self.0.push_str(value_json);
    }

    /// Appends `"name":"value"`.
    pub(crate) fn string(&mut self, name: &str, value: &str) {
        self.member(name, &Value::String(value.to_owned()).to_string());
    }

    pub(crate) fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(json: &str) -> String {
        b64::encode(json.as_bytes())
    }

    #[test]
    fn parses_members_and_keeps_unknown_ones() {
        let h = Header::parse(&encoded(r#"{"alg":"ES256","kid":"k","x-app":[1,2]}"#), &[]).unwrap();
        assert_eq!(h.alg(), "ES256");
        assert_eq!(h.kid(), Some("k"));
        assert_eq!(h.typ(), None);
        assert_eq!(h.get("x-app"), Some(&serde_json::json!([1, 2])));
        assert_eq!(h.members().len(), 3);
    }

    #[test]
    fn rejects_malformed_headers_precisely() {
        let cases: &[(&str, JoseError)] = &[
            ("[]", JoseError::HeaderNotAnObject),
            (r#"{"kid":"k"}"#, JoseError::MissingHeader { member: "alg" }),
            (r#"{"alg":1}"#, JoseError::InvalidHeader { member: "alg" }),
            (
                r#"{"alg":"ES256","kid":7}"#,
                JoseError::InvalidHeader { member: "kid" },
            ),
            (
                r#"{"alg":"ES256","apv":null}"#,
                JoseError::InvalidHeader { member: "apv" },
            ),
            (
                r#"{"alg":"ES256","epk":"x"}"#,
                JoseError::InvalidHeader { member: "epk" },
            ),
            (
                r#"{"alg":"ES256","crit":["exp"]}"#,
                JoseError::UnsupportedHeader { member: "crit" },
            ),
            (
                r#"{"alg":"ES256","zip":"DEF"}"#,
                JoseError::UnsupportedHeader { member: "zip" },
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(
                &Header::parse(&encoded(json), &["zip"]).unwrap_err(),
                expected,
                "{json}"
            );
        }
        assert_eq!(
            Header::parse("eyJ=", &[]).unwrap_err(),
            JoseError::Base64 { part: Part::Header }
        );
        assert!(matches!(
            Header::parse(&encoded("{\"alg\""), &[]).unwrap_err(),
            JoseError::HeaderJson { line: 1, .. }
        ));
    }

    #[test]
    fn an_epk_off_the_curve_is_an_epk_error() {
        let json = r#"{"alg":"ECDH-ES+A256KW","epk":{"kty":"EC","crv":"P-256",
            "x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}}"#;
        assert_eq!(
            Header::parse(&encoded(json), &[]).unwrap_err(),
            JoseError::Epk(crate::KeyError::NotOnCurve)
        );
    }

    #[test]
    fn params_keep_first_position_and_last_value_and_refuse_reserved_names() {
        let params = HeaderParams::new()
            .kid("a")
            .typ("JWT")
            .kid("b")
            .custom("x5t#S256", Value::from("t"))
            .unwrap();
        let mut object = JsonObject::new();
        object.string("alg", "ES256");
        params.write_into(&mut object);
        assert_eq!(
            object.finish(),
            r#"{"alg":"ES256","kid":"b","typ":"JWT","x5t#S256":"t"}"#
        );
        for reserved in ["alg", "enc", "epk", "zip", "crit", "b64", "kid", "apu"] {
            assert_eq!(
                HeaderParams::new()
                    .custom(reserved, Value::Null)
                    .unwrap_err(),
                JoseError::ReservedHeader {
                    member: reserved.into()
                }
            );
        }
    }

    #[test]
    fn json_object_escapes_names_and_strings() {
        let mut object = JsonObject::new();
        object.string("k\"", "a\\b\u{1}");
        assert_eq!(object.finish(), r#"{"k\"":"a\\b\u0001"}"#);
    }
}
