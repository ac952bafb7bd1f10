//! Partial updates on the wire, shared by every HTTP contract: a JSON member that is absent,
//! `null`, or a value (RFC 7396 merge patches, RealWorld's PUT bodies).

use quire_core::service::Patch;
use serde::{Deserialize, Deserializer};

/// A field of a partial update that tells absent (`#[serde(default)]`) from `null`.
#[derive(Debug, Default)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| match value {
            Some(value) => Field::Value(value),
            None => Field::Null,
        })
    }
}

impl<T> From<Field<T>> for Patch<T> {
    fn from(field: Field<T>) -> Self {
        match field {
            Field::Absent => Patch::Absent,
            Field::Null => Patch::Null,
            Field::Value(value) => Patch::Value(value),
        }
    }
}
