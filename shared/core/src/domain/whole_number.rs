//! Serde helpers for whole-number fields of request bodies.

use serde::Deserialize;

/// A whole number, also when spelled with a zero fraction (`2.0`): JSON (and JSON Schema's
/// `integer`) counts that as the same number, and generic clients send it so.
pub fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            // Below 2^53 every whole float is exact.
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9_007_199_254_740_992.0)
            .map(|f| f as u64)
    });
    whole.and_then(|w| T::try_from(w).ok()).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a whole number in range, not {n}"))
    })
}

/// [`whole_number`] for an optional field.
pub fn whole_number_opt<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] u64);
    Ok(Option::<Whole>::deserialize(d)?.map(|Whole(w)| w))
}
