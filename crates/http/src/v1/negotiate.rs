//! Content negotiation, representations and conditional requests for `/api/v1`.
//!
//! Responses come as JSON (the default), XML or Protobuf, chosen by `Accept` (406 when none is
//! acceptable); request bodies are read by `Content-Type` (415 otherwise). The Protobuf
//! messages are those of `proto/quire/v1/resources.proto`. Every
//! representation carries a strong `ETag`, the hash of its bytes, so `If-None-Match` and
//! `If-Match` compare exactly what a client saw.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::caching::Caching;

/// A representation's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
    Protobuf,
}

/// The format a response is sent in, chosen from the request's `Accept` (406 when nothing
/// acceptable is offered), as an extractor so no handler reads the header itself.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Format {
    type Rejection = super::problem::V1Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(response_format(&parts.headers)?)
    }
}

impl Format {
    fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
            Format::Protobuf => "application/x-protobuf",
        }
    }
}

/// A response body that exists in every format: serde gives JSON and XML, `proto` the
/// Protobuf message of the same fields.
pub(crate) trait Wire: Serialize {
    type Proto: prost::Message;
    fn proto(&self) -> Self::Proto;
}

/// A request body that can arrive in every format.
pub(crate) trait FromWire: DeserializeOwned {
    type Proto: prost::Message + Default;
    fn from_proto(message: Self::Proto) -> Self;
}

/// The format the client accepts best, by `Accept` with its q-values. No header, or `*/*`,
/// gives JSON.
pub(crate) fn response_format(headers: &HeaderMap) -> Result<Format, Problem> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Format::Json);
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for (order, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        // A weight is a qvalue from 0 to 1 (RFC 9110, section 12.4.2), under a parameter named
        // `q` in any case (section 5.6.6); a range whose `q` is anything else (`nan`, `2`,
        // words) is malformed and accepts nothing.
        let q = match parts.find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim().eq_ignore_ascii_case("q").then_some(value)
        }) {
            None => 1.0,
            Some(text) => match text.trim().parse::<f32>() {
                Ok(q) if q.is_finite() && (0.0..=1.0).contains(&q) => q,
                _ => continue,
            },
        };
        if q <= 0.0 {
            continue;
        }
        let format = match media.as_str() {
            "application/json" | "application/*" | "*/*" => Format::Json,
            "application/xml" | "text/xml" => Format::Xml,
            "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
            _ => continue,
        };
        // Higher q wins; between equals, the earlier range.
        if best.is_none_or(|(best_q, _, _)| q > best_q) {
            best = Some((q, order, format));
        }
    }
    best.map(|(_, _, format)| format).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-acceptable",
            "Not acceptable",
            "this resource is served as application/json, application/xml or application/x-protobuf",
        )
    })
}

/// Whether `Accept` makes XML the best format (problem details then come as `+xml`).
pub(crate) fn prefers_xml(headers: &HeaderMap) -> bool {
    response_format(headers) == Ok(Format::Xml)
}

/// The format of a request body, by `Content-Type`. `json_type` names the JSON media type
/// the operation takes (`application/json`, or `application/merge-patch+json` for PATCH).
pub(crate) fn body_format(headers: &HeaderMap, json_type: &str) -> Result<Format, Problem> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let merge_patch = json_type == "application/merge-patch+json";
    match essence.as_str() {
        t if t == json_type => Ok(Format::Json),
        "application/xml" | "text/xml" => Ok(Format::Xml),
        // A merge patch has no Protobuf form: absent and null cannot be told apart there.
        "application/x-protobuf" | "application/protobuf" if !merge_patch => Ok(Format::Protobuf),
        _ => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            if merge_patch {
                format!("send the body as {json_type} or application/xml")
            } else {
                format!("send the body as {json_type}, application/xml or application/x-protobuf")
            },
        )),
    }
}

/// Reads a body in the given format; a body that does not parse is a 400, one of the wrong
/// shape a 422.
pub(crate) fn parse_body<T: FromWire>(format: Format, bytes: &Bytes) -> Result<T, Problem> {
    if format == Format::Protobuf {
        return <T::Proto as prost::Message>::decode(bytes.as_ref())
            .map(T::from_proto)
            .map_err(|error| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "malformed-body",
                    "Malformed body",
                    error.to_string(),
                )
            });
    }
    parse_patch(format, bytes)
}

/// Reads a JSON or XML body (merge patches have no Protobuf form).
pub(crate) fn parse_patch<T: DeserializeOwned>(
    format: Format,
    bytes: &Bytes,
) -> Result<T, Problem> {
    let malformed = |detail: String| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "Malformed body",
            detail,
        )
    };
    let wrong_shape = |detail: String| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid input",
            detail,
        )
    };
    match format {
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|error| malformed(error.to_string()))?;
            // A resource or a merge patch is an object: serde would also read a struct from an
            // array, by position.
            if !value.is_object() {
                return Err(wrong_shape("the body must be a JSON object".to_owned()));
            }
            serde_json::from_value(value).map_err(|error| wrong_shape(error.to_string()))
        }
        Format::Xml => {
            let text = std::str::from_utf8(bytes).map_err(|error| malformed(error.to_string()))?;
            quick_xml::de::from_str(text).map_err(|error| match error {
                quick_xml::DeError::InvalidXml(_) | quick_xml::DeError::UnexpectedEof => {
                    malformed(error.to_string())
                }
                _ => wrong_shape(error.to_string()),
            })
        }
        Format::Protobuf => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "this body has no Protobuf form",
        )),
    }
}

/// A write's precondition, `If-Match` (RFC 9110 section 13.1.1), read once by an extractor
/// so no handler reads it itself. (Reads' conditions, `If-None-Match` and
/// `If-Modified-Since`, are answered by the caching middleware.)
#[derive(Debug, Default, Clone)]
pub(crate) struct Preconditions {
    if_match: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Preconditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let read = |name| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            if_match: read(header::IF_MATCH),
        })
    }
}

impl Preconditions {
    /// Whether the request names the version a write is based on; the write then carries that
    /// version into its statement, so no change can land between the check and the write.
    pub(crate) fn has_if_match(&self) -> bool {
        self.if_match.is_some()
    }

    /// The entity tags of a header's list (`*` is its own tag).
    fn tags(list: &str) -> impl Iterator<Item = &str> {
        list.split(',').map(str::trim)
    }
}

/// A serialized representation with its strong validator.
pub(crate) struct Representation {
    format: Format,
    bytes: Vec<u8>,
    pub(crate) etag: String,
}

/// A stable fingerprint of `bytes`: SHA-256 truncated to 128 bits, in hex. Collisions are out
/// of reach, so it tells one idempotent request's body from another's.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Representation {
    /// `value` in `format`; XML uses `root` as the document element.
    pub(crate) fn of<T: Wire>(
        format: Format,
        root: &str,
        value: &T,
    ) -> Result<Self, quire_core::Error> {
        let bytes = match format {
            Format::Json => serde_json::to_vec(value).map_err(quire_core::Error::internal)?,
            Format::Xml => quick_xml::se::to_string_with_root(root, value)
                .map_err(quire_core::Error::internal)?
                .into_bytes(),
            Format::Protobuf => prost::Message::encode_to_vec(&value.proto()),
        };
        let etag = crate::caching::entity_tag(&bytes);
        Ok(Self {
            format,
            bytes,
            etag,
        })
    }

    /// Checks `If-Match` (strong comparison, RFC 9110 section 13.1.1): a stale validator is a
    /// 412.
    pub(crate) fn check_if_match(&self, preconditions: &Preconditions) -> Result<(), Problem> {
        let Some(list) = preconditions.if_match.as_deref() else {
            return Ok(());
        };
        if Preconditions::tags(list).any(|tag| tag == "*" || tag == self.etag) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                "the resource changed since the ETag given in If-Match",
            ))
        }
    }

    /// The response, with who may keep it (the caching middleware writes that as headers,
    /// and answers a read whose copy is current with 304).
    pub(crate) fn respond(self, status: StatusCode, caching: Caching) -> Response {
        let mut response = (status, caching, self.bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.format.media_type()),
        );
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Authorization"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_picks_the_best_supported_format() {
        assert_eq!(response_format(&HeaderMap::new()).unwrap(), Format::Json);
        assert_eq!(response_format(&accept("*/*")).unwrap(), Format::Json);
        assert_eq!(
            response_format(&accept("application/xml")).unwrap(),
            Format::Xml
        );
        assert_eq!(
            response_format(&accept("application/json;q=0.5, application/xml;q=0.9")).unwrap(),
            Format::Xml
        );
        assert_eq!(
            response_format(&accept("text/html, application/json;q=0.1")).unwrap(),
            Format::Json
        );
        assert_eq!(
            response_format(&accept("text/html")).unwrap_err().status,
            406
        );
        // A weight that is no qvalue makes its range accept nothing.
        assert_eq!(
            response_format(&accept("application/json;q=nan"))
                .unwrap_err()
                .status,
            406
        );
        assert_eq!(
            response_format(&accept("application/xml;q=2, application/json;q=0.5")).unwrap(),
            Format::Json
        );
        assert_eq!(
            response_format(&accept("application/json;q=0"))
                .unwrap_err()
                .status,
            406
        );
    }

    #[derive(Serialize)]
    struct Tags {
        items: Vec<String>,
    }

    impl Wire for Tags {
        type Proto = crate::v1::proto::TagList;
        fn proto(&self) -> Self::Proto {
            crate::v1::proto::TagList {
                items: self.items.clone(),
            }
        }
    }

    fn tags(items: &[&str]) -> Tags {
        Tags {
            items: items.iter().map(|item| (*item).to_owned()).collect(),
        }
    }

    #[test]
    fn etags_follow_the_bytes() {
        let a = Representation::of(Format::Json, "x", &tags(&["a"])).unwrap();
        let b = Representation::of(Format::Json, "x", &tags(&["b"])).unwrap();
        let xml = Representation::of(Format::Xml, "x", &tags(&["a"])).unwrap();
        let proto = Representation::of(Format::Protobuf, "x", &tags(&["a"])).unwrap();
        assert_ne!(xml.etag, proto.etag);
        assert_ne!(a.etag, b.etag);
        assert_ne!(
            a.etag, xml.etag,
            "each representation has its own strong validator"
        );
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }

    #[test]
    fn if_match_compares_validators_strongly() {
        let rep = Representation::of(Format::Json, "x", &tags(&["a"])).unwrap();
        let mut sent = Preconditions { if_match: None };
        assert!(
            rep.check_if_match(&sent).is_ok(),
            "no If-Match, no condition"
        );
        sent.if_match = Some("\"stale\"".to_owned());
        assert_eq!(rep.check_if_match(&sent).unwrap_err().status, 412);
        sent.if_match = Some(format!("W/{}", rep.etag));
        assert!(
            rep.check_if_match(&sent).is_err(),
            "strong comparison for If-Match"
        );
        sent.if_match = Some(rep.etag.clone());
        assert!(rep.check_if_match(&sent).is_ok());
        sent.if_match = Some("*".to_owned());
        assert!(rep.check_if_match(&sent).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// One range of an `Accept` header: a media range, its `q` parameter's value, and the
        /// range as written (another parameter first or not, `q` or `Q`, spaces or not).
        fn range() -> impl Strategy<Value = (String, Option<String>, String)> {
            let media = prop_oneof![
                Just("application/json"),
                Just("APPLICATION/JSON"),
                Just("application/*"),
                Just("*/*"),
                Just("application/xml"),
                Just("text/xml"),
                Just("application/x-protobuf"),
                Just("application/protobuf"),
                Just("text/html"),
                Just("image/*"),
            ];
            let q = prop_oneof![
                (0u32..=1000).prop_map(|q| format!("{}", f64::from(q) / 1000.0)),
                Just("1.000".to_owned()),
                Just("0".to_owned()),
                Just("nan".to_owned()),
                Just("inf".to_owned()),
                Just("-1".to_owned()),
                Just("2".to_owned()),
                Just("".to_owned()),
                "[ -~&&[^,;]]{0,6}",
            ];
            let before = prop_oneof![Just(""), Just(";charset=utf-8"), Just(" ; level=1")];
            let name = prop_oneof![Just(";q="), Just(";Q="), Just(" ; q="), Just("; q = ")];
            (media, proptest::option::of(q), before, name).prop_map(|(media, q, before, name)| {
                let written = match &q {
                    Some(q) => format!("{media}{before}{name}{q}"),
                    None => format!("{media}{before}"),
                };
                (media.to_owned(), q, written)
            })
        }

        /// The formats a media range names, in this server's terms.
        fn named(media: &str) -> Option<Format> {
            match media.to_ascii_lowercase().as_str() {
                "application/json" | "application/*" | "*/*" => Some(Format::Json),
                "application/xml" | "text/xml" => Some(Format::Xml),
                "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
                _ => None,
            }
        }

        /// The weight of a range whose `q` parameter is `q`: 1 without one, the qvalue when it
        /// is one (0 to 1, RFC 9110 section 12.4.2), and `None` (the range accepts nothing)
        /// for anything else.
        fn weight(q: Option<&str>) -> Option<f32> {
            match q {
                None => Some(1.0),
                Some(text) => text
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite() && (0.0..=1.0).contains(q)),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            /// The format chosen is the one of the earliest range with the highest weight
            /// above 0 that this server offers; with none, 406. Never a panic.
            #[test]
            fn accept_chooses_the_best_offered_range(ranges in proptest::collection::vec(range(), 1..6)) {
                let value = ranges
                    .iter()
                    .map(|(_, _, written)| written.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let Ok(header_value) = HeaderValue::from_str(&value) else {
                    return Ok(());
                };
                let mut headers = HeaderMap::new();
                headers.insert(header::ACCEPT, header_value);
                let mut expected: Option<(f32, Format)> = None;
                for (media, q, _) in &ranges {
                    let (Some(format), Some(q)) = (named(media), weight(q.as_deref())) else {
                        continue;
                    };
                    if q > 0.0 && expected.is_none_or(|(best, _)| q > best) {
                        expected = Some((q, format));
                    }
                }
                match (response_format(&headers), expected) {
                    (Ok(format), Some((_, wanted))) => prop_assert_eq!(format, wanted, "Accept: {}", value),
                    (Err(problem), None) => prop_assert_eq!(problem.status, 406),
                    (got, wanted) => prop_assert!(false, "Accept: {}: got {:?}, wanted {:?}", value, got.map_err(|p| p.status), wanted),
                }
            }

            /// A `Content-Type` is read by its media type whatever its case, parameters and
            /// spaces; a merge patch has no Protobuf form; anything else is 415.
            #[test]
            fn content_types_are_read_by_their_media_type(
                media in prop_oneof![
                    Just("application/json"),
                    Just("application/merge-patch+json"),
                    Just("application/xml"),
                    Just("text/xml"),
                    Just("application/x-protobuf"),
                    Just("application/protobuf"),
                    Just("text/plain"),
                    Just("application/x-www-form-urlencoded"),
                    Just("multipart/form-data"),
                ],
                upper in any::<bool>(),
                parameters in prop_oneof![Just(""), Just("; charset=utf-8"), Just(";charset=UTF-8 ; x=y"), Just(" ")],
                patch in any::<bool>(),
            ) {
                let written = if upper { media.to_ascii_uppercase() } else { media.to_owned() };
                let mut headers = HeaderMap::new();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&format!("{written}{parameters}")).unwrap());
                let json_type = if patch { "application/merge-patch+json" } else { "application/json" };
                let wanted = match media {
                    m if m == json_type => Some(Format::Json),
                    "application/xml" | "text/xml" => Some(Format::Xml),
                    "application/x-protobuf" | "application/protobuf" if !patch => Some(Format::Protobuf),
                    _ => None,
                };
                match (body_format(&headers, json_type), wanted) {
                    (Ok(format), Some(wanted)) => prop_assert_eq!(format, wanted),
                    (Err(problem), None) => prop_assert_eq!(problem.status, 415),
                    (got, wanted) => prop_assert!(false, "{}{}: got {:?}, wanted {:?}", written, parameters, got.map_err(|p| p.status), wanted),
                }
            }

            /// Any `Content-Type` at all is read or 415, never a panic.
            #[test]
            fn any_content_type_is_read_or_unsupported(value in "[ -~]{0,40}", patch in any::<bool>()) {
                let Ok(header_value) = HeaderValue::from_str(&value) else {
                    return Ok(());
                };
                let mut headers = HeaderMap::new();
                headers.insert(header::CONTENT_TYPE, header_value);
                let json_type = if patch { "application/merge-patch+json" } else { "application/json" };
                match body_format(&headers, json_type) {
                    Ok(Format::Protobuf) => prop_assert!(!patch),
                    Ok(_) => {}
                    Err(problem) => prop_assert_eq!(problem.status, 415),
                }
            }
        }
    }
}
