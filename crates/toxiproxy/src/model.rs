//! The JSON shapes of Toxiproxy 2.x's HTTP API, shared by the server and [`crate::ToxiClient`].
//!
//! Field names and order follow Toxiproxy's Go structs, so a body we send or answer reads the
//! same as one from the real server:
//!
//! ```text
//! proxy:  {"name":"redis","listen":"127.0.0.1:26379","upstream":"127.0.0.1:6379",
//!          "enabled":true,"toxics":[<toxic>, ...]}
//! toxic:  {"attributes":{"latency":100,"jitter":0},"name":"latency_downstream",
//!          "type":"latency","stream":"downstream","toxicity":1}
//! error:  {"error":"proxy not found","status":404}
//! ```
//!
//! A toxic's `type` and `attributes` travel apart on the wire but belong together, so in Rust
//! they are one value, [`ToxicKind`]; `(de)serialize` splits and joins them. Attribute values are
//! integers as in Go (`int64`/`int`): a float or a string where an integer belongs is rejected,
//! unknown attribute names are ignored and missing ones are 0.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Which direction of a proxied connection a toxic affects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client -> upstream server (requests).
    Upstream,
    /// Upstream server -> client (responses); the default.
    Downstream,
}

impl Stream {
    /// The wire name: `"upstream"` or `"downstream"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }

    /// Parses a wire name, ignoring ASCII case as Toxiproxy does.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("upstream") {
            Some(Self::Upstream)
        } else if s.eq_ignore_ascii_case("downstream") {
            Some(Self::Downstream)
        } else {
            None
        }
    }
}

impl Serialize for Stream {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| D::Error::custom(format!("invalid stream {s:?}")))
    }
}

/// `latency`: delay every chunk by `latency` ± `jitter` milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub latency: i64,
    pub jitter: i64,
}

/// `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes); `rate <= 0` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bandwidth {
    pub rate: i64,
}

/// `slow_close`: hold the close back for `delay` milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlowClose {
    pub delay: i64,
}

/// `timeout`: drop all data; close after `timeout` ms, or never when it is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeout {
    pub timeout: i64,
}

/// `reset_peer`: when data arrives, wait `timeout` ms, then reset the connection (TCP RST).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResetPeer {
    pub timeout: i64,
}

/// `slicer`: cut chunks into pieces of about `average_size` ± `size_variation` bytes, `delay`
/// microseconds apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Slicer {
    pub average_size: i64,
    pub size_variation: i64,
    pub delay: i64,
}

/// `limit_data`: close the connection once `bytes` bytes have passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitData {
    pub bytes: i64,
}

/// `noop`: passes data unchanged (Toxiproxy registers it too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noop {}

/// A toxic's type together with its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToxicKind {
    Noop(Noop),
    Latency(Latency),
    Bandwidth(Bandwidth),
    SlowClose(SlowClose),
    Timeout(Timeout),
    ResetPeer(ResetPeer),
    Slicer(Slicer),
    LimitData(LimitData),
}

/// Why a `type`/`attributes` pair is not a toxic.
#[derive(Debug, thiserror::Error)]
pub enum ToxicKindError {
    #[error("invalid toxic type")]
    UnknownType,
    #[error("{0}")]
    Attributes(#[from] serde_json::Error),
}

impl ToxicKind {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Noop(_) => "noop",
            Self::Latency(_) => "latency",
            Self::Bandwidth(_) => "bandwidth",
            Self::SlowClose(_) => "slow_close",
            Self::Timeout(_) => "timeout",
            Self::ResetPeer(_) => "reset_peer",
            Self::Slicer(_) => "slicer",
            Self::LimitData(_) => "limit_data",
        }
    }

    /// Builds a toxic from its wire `type` and `attributes` (absent or `null` = all zero).
    pub fn from_parts(type_name: &str, attributes: &Value) -> Result<Self, ToxicKindError> {
        let empty = Value::Object(serde_json::Map::new());
        let attrs = match attributes {
            Value::Null => &empty,
            Value::Object(_) => attributes,
            // serde would read a struct from an array; Go's decoder refuses it.
            _ => {
                return Err(ToxicKindError::Attributes(serde_json::Error::custom(
                    "attributes must be a JSON object",
                )))
            }
        };
        fn de<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
            T::deserialize(v)
        }
        Ok(match type_name {
            "noop" => Self::Noop(de(attrs)?),
            "latency" => Self::Latency(de(attrs)?),
            "bandwidth" => Self::Bandwidth(de(attrs)?),
            "slow_close" => Self::SlowClose(de(attrs)?),
            "timeout" => Self::Timeout(de(attrs)?),
            "reset_peer" => Self::ResetPeer(de(attrs)?),
            "slicer" => Self::Slicer(de(attrs)?),
            "limit_data" => Self::LimitData(de(attrs)?),
            _ => return Err(ToxicKindError::UnknownType),
        })
    }

    /// The wire `attributes` object.
    pub fn attributes(&self) -> Value {
        let v = match self {
            Self::Noop(a) => serde_json::to_value(a),
            Self::Latency(a) => serde_json::to_value(a),
            Self::Bandwidth(a) => serde_json::to_value(a),
            Self::SlowClose(a) => serde_json::to_value(a),
            Self::Timeout(a) => serde_json::to_value(a),
            Self::ResetPeer(a) => serde_json::to_value(a),
            Self::Slicer(a) => serde_json::to_value(a),
            Self::LimitData(a) => serde_json::to_value(a),
        };
        // Plain structs of integers always serialize.
        v.unwrap_or(Value::Null)
    }

    /// Applies an update's `attributes` on top of these, as Toxiproxy decodes an update into
    /// the existing toxic: named fields change, the others keep their values.
    pub fn patched(&self, patch: &Value) -> Result<Self, ToxicKindError> {
        let mut merged = self.attributes();
        match (patch, &mut merged) {
            (Value::Null, _) => {}
            (Value::Object(p), Value::Object(m)) => {
                for (k, v) in p {
                    m.insert(k.clone(), v.clone());
                }
            }
            _ => {
                return Err(ToxicKindError::Attributes(serde_json::Error::custom(
                    "attributes must be a JSON object",
                )))
            }
        }
        Self::from_parts(self.type_name(), &merged)
    }
}

/// One toxic as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub stream: Stream,
    /// Probability (0.0..=1.0) that the toxic applies to a given connection.
    pub toxicity: f32,
    pub kind: ToxicKind,
}

impl Toxic {
    /// A toxic with Toxiproxy's defaults: name `<type>_<stream>`, toxicity 1.
    pub fn new(stream: Stream, kind: ToxicKind) -> Self {
        Self {
            name: default_toxic_name(kind.type_name(), stream),
            stream,
            toxicity: 1.0,
            kind,
        }
    }

    /// Sets the name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the toxicity.
    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }
}

/// Toxiproxy's default toxic name: `<type>_<stream>`.
pub fn default_toxic_name(type_name: &str, stream: Stream) -> String {
    format!("{type_name}_{}", stream.as_str())
}

/// Go prints a `float32` in its shortest form (`1`, `0.5`, `0.1`); do the same so bodies match.
fn serialize_toxicity<S: Serializer>(t: f32, s: S) -> Result<S::Ok, S::Error> {
    if t.is_finite() && t.fract() == 0.0 && t.abs() < 1e15 {
        s.serialize_i64(t as i64)
    } else {
        // The f32's shortest decimal, read back as f64, prints the same digits.
        let shortest: f64 = t.to_string().parse().unwrap_or(f64::from(t));
        s.serialize_f64(shortest)
    }
}

impl Serialize for Toxic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Toxicity(f32);
        impl Serialize for Toxicity {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_toxicity(self.0, s)
            }
        }
        struct Attributes<'a>(&'a ToxicKind);
        impl Serialize for Attributes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // Straight from the structs, so fields keep Go's order.
                match self.0 {
                    ToxicKind::Noop(a) => a.serialize(s),
                    ToxicKind::Latency(a) => a.serialize(s),
                    ToxicKind::Bandwidth(a) => a.serialize(s),
                    ToxicKind::SlowClose(a) => a.serialize(s),
                    ToxicKind::Timeout(a) => a.serialize(s),
                    ToxicKind::ResetPeer(a) => a.serialize(s),
                    ToxicKind::Slicer(a) => a.serialize(s),
                    ToxicKind::LimitData(a) => a.serialize(s),
                }
            }
        }
        let mut st = s.serialize_struct("Toxic", 5)?;
        st.serialize_field("attributes", &Attributes(&self.kind))?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("type", self.kind.type_name())?;
        st.serialize_field("stream", &self.stream)?;
        st.serialize_field("toxicity", &Toxicity(self.toxicity))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Toxic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            name: Option<String>,
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            stream: Option<Stream>,
            #[serde(default)]
            toxicity: Option<f32>,
            #[serde(default)]
            attributes: Value,
        }
        let raw = Raw::deserialize(d)?;
        let kind = ToxicKind::from_parts(&raw.kind, &raw.attributes).map_err(D::Error::custom)?;
        let stream = raw.stream.unwrap_or(Stream::Downstream);
        Ok(Self {
            name: raw
                .name
                .unwrap_or_else(|| default_toxic_name(kind.type_name(), stream)),
            stream,
            toxicity: raw.toxicity.unwrap_or(1.0),
            kind,
        })
    }
}

/// One proxy as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Toxic>,
}

/// The body of `POST /proxies` and one element of `POST /populate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
}

impl ProxyConfig {
    /// An enabled proxy.
    pub fn new(
        name: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            listen: listen.into(),
            upstream: upstream.into(),
            enabled: true,
        }
    }
}

/// The body of `POST /proxies/{proxy}`: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// An error body: `{"error":"proxy not found","status":404}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn toxic_serializes_in_go_field_order_with_integer_toxicity() {
        let t = Toxic::new(
            Stream::Downstream,
            ToxicKind::Latency(Latency {
                latency: 100,
                jitter: 5,
            }),
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"attributes":{"latency":100,"jitter":5},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
        );
        let half = t.clone().with_toxicity(0.1);
        assert!(serde_json::to_string(&half)
            .unwrap()
            .ends_with(r#""toxicity":0.1}"#));
    }

    #[test]
    fn toxic_round_trips_every_kind() {
        let kinds = [
            ToxicKind::Noop(Noop {}),
            ToxicKind::Latency(Latency {
                latency: 1,
                jitter: 2,
            }),
            ToxicKind::Bandwidth(Bandwidth { rate: 3 }),
            ToxicKind::SlowClose(SlowClose { delay: 4 }),
            ToxicKind::Timeout(Timeout { timeout: 5 }),
            ToxicKind::ResetPeer(ResetPeer { timeout: 6 }),
            ToxicKind::Slicer(Slicer {
                average_size: 7,
                size_variation: 8,
                delay: 9,
            }),
            ToxicKind::LimitData(LimitData { bytes: 10 }),
        ];
        for kind in kinds {
            for stream in [Stream::Upstream, Stream::Downstream] {
                let t = Toxic::new(stream, kind).with_toxicity(0.5);
                let text = serde_json::to_string(&t).unwrap();
                let back: Toxic = serde_json::from_str(&text).unwrap();
                assert_eq!(back, t, "{text}");
            }
        }
    }

    #[test]
    fn toxic_defaults_match_toxiproxy() {
        let t: Toxic = serde_json::from_value(json!({"type": "timeout"})).unwrap();
        assert_eq!(t.name, "timeout_downstream");
        assert_eq!(t.stream, Stream::Downstream);
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(t.kind, ToxicKind::Timeout(Timeout { timeout: 0 }));
    }

    #[test]
    fn attributes_reject_floats_and_strings_and_ignore_unknown_names() {
        let table = [
            ("latency", json!({"latency": 1.5}), false),
            ("latency", json!({"latency": "100"}), false),
            ("latency", json!({"latency": 100, "other": "x"}), true),
            ("bandwidth", json!(null), true),
            ("bandwidth", json!([1]), false),
            ("nope", json!({}), false),
            ("", json!({}), false),
        ];
        for (ty, attrs, ok) in table {
            assert_eq!(
                ToxicKind::from_parts(ty, &attrs).is_ok(),
                ok,
                "{ty} {attrs}"
            );
        }
    }

    #[test]
    fn patch_changes_only_the_named_attributes() {
        let k = ToxicKind::Slicer(Slicer {
            average_size: 10,
            size_variation: 2,
            delay: 30,
        });
        let p = k.patched(&json!({"delay": 5})).unwrap();
        assert_eq!(
            p,
            ToxicKind::Slicer(Slicer {
                average_size: 10,
                size_variation: 2,
                delay: 5
            })
        );
        assert_eq!(k.patched(&Value::Null).unwrap(), k);
        assert!(k.patched(&json!(3)).is_err());
    }

    #[test]
    fn stream_parse_ignores_case() {
        assert_eq!(Stream::parse("UpStream"), Some(Stream::Upstream));
        assert_eq!(Stream::parse("down"), None);
    }

    #[test]
    fn proxy_shape_matches_the_readme() {
        let p = Proxy {
            name: "redis".into(),
            listen: "127.0.0.1:26379".into(),
            upstream: "127.0.0.1:6379".into(),
            enabled: true,
            toxics: vec![],
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"name":"redis","listen":"127.0.0.1:26379","upstream":"127.0.0.1:6379","enabled":true,"toxics":[]})
        );
    }
}
