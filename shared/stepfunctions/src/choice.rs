//! Choice rules: And/Or/Not and the comparison operators (with their `...Path` forms).

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::path;
use crate::payload::Failure;

const COMPARISONS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

/// Check a rule's shape at load. `top`: a top-level rule also needs `Next`.
pub(crate) fn validate(rule: &Value, top: bool) -> Result<(), String> {
    let obj = rule.as_object().ok_or("a choice rule must be an object")?;
    if top && !obj.get("Next").is_some_and(Value::is_string) {
        return Err("a choice rule needs `Next`".into());
    }
    if let Some(list) = obj.get("And").or(obj.get("Or")) {
        let list = list
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or("And/Or need a non-empty list of rules")?;
        return list.iter().try_for_each(|r| validate(r, false));
    }
    if let Some(inner) = obj.get("Not") {
        return validate(inner, false);
    }
    let var = obj
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or("a choice rule needs `Variable`")?;
    path::parse(var)?;
    let ops: Vec<&String> = obj
        .keys()
        .filter(|k| {
            COMPARISONS.contains(&k.as_str())
                || k.strip_suffix("Path")
                    .is_some_and(|b| COMPARISONS.contains(&b))
        })
        .collect();
    if ops.len() != 1 {
        return Err(format!(
            "a choice rule needs exactly one comparison operator, found {}",
            ops.len()
        ));
    }
    if ops[0].ends_with("Path") && !ops[0].starts_with("Is") {
        path::parse(
            obj[ops[0].as_str()]
                .as_str()
                .ok_or("a ...Path operator takes a path")?,
        )?;
    }
    Ok(())
}

fn timestamp(v: &Value) -> Option<DateTime<FixedOffset>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// `*` matches any run of characters; `\*` is a literal star.
fn matches_pattern(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('\\', rest)) if rest.first() == Some(&'*') => {
                t.first() == Some(&'*') && go(&t[1..], &rest[1..])
            }
            Some(('*', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&t, &p)
}

pub(crate) fn evaluate(rule: &Value, input: &Value, context: &Value) -> Result<bool, Failure> {
    let obj = rule
        .as_object()
        .ok_or_else(|| Failure::runtime("bad choice rule"))?;
    if let Some(list) = obj.get("And").and_then(Value::as_array) {
        for r in list {
            if !evaluate(r, input, context)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(list) = obj.get("Or").and_then(Value::as_array) {
        for r in list {
            if evaluate(r, input, context)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = obj.get("Not") {
        return Ok(!evaluate(inner, input, context)?);
    }
    let resolve = |text: &str| -> Result<Option<Value>, Failure> {
        let p = path::parse(text).map_err(Failure::runtime)?;
        let root = if p.context { context } else { input };
        Ok(path::get(root, &p.segments))
    };
    let var_text = obj.get("Variable").and_then(Value::as_str).unwrap_or("$");
    let var = resolve(var_text)?;
    let (op, operand) = obj
        .iter()
        .find(|(k, _)| k.as_str() != "Variable" && k.as_str() != "Next")
        .ok_or_else(|| Failure::runtime("a choice rule has no operator"))?;
    match op.as_str() {
        "IsPresent" => return Ok(var.is_some() == (operand == &Value::Bool(true))),
        "IsNull" | "IsNumeric" | "IsString" | "IsBoolean" | "IsTimestamp" => {
            let v = var.ok_or_else(|| Failure::runtime(format!("Invalid path '{var_text}': the choice state's condition path references an undefined value")))?;
            let is = match op.as_str() {
                "IsNull" => v.is_null(),
                "IsNumeric" => v.is_number(),
                "IsString" => v.is_string(),
                "IsBoolean" => v.is_boolean(),
                _ => timestamp(&v).is_some(),
            };
            return Ok(is == (operand == &Value::Bool(true)));
        }
        _ => {}
    }
    let v = var.ok_or_else(|| Failure::runtime(format!("Invalid path '{var_text}': the choice state's condition path references an undefined value")))?;
    let (base, expected) = match op.strip_suffix("Path") {
        Some(base) => {
            let p = operand.as_str().unwrap_or("$");
            let e = resolve(p)?
                .ok_or_else(|| Failure::runtime(format!("Invalid path '{p}' in a choice rule")))?;
            (base, e)
        }
        None => (op.as_str(), operand.clone()),
    };
    let ord = |a: std::cmp::Ordering, suffix: &str| match suffix {
        "Equals" => a.is_eq(),
        "LessThan" => a.is_lt(),
        "GreaterThan" => a.is_gt(),
        "LessThanEquals" => a.is_le(),
        "GreaterThanEquals" => a.is_ge(),
        _ => false,
    };
    Ok(if let Some(suffix) = base.strip_prefix("String") {
        match (v.as_str(), expected.as_str()) {
            (Some(a), Some(b)) if suffix == "Matches" => matches_pattern(a, b),
            (Some(a), Some(b)) => ord(a.cmp(b), suffix),
            _ => false,
        }
    } else if let Some(suffix) = base.strip_prefix("Numeric") {
        match (v.as_f64(), expected.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ord(o, suffix)),
            _ => false,
        }
    } else if base == "BooleanEquals" {
        matches!((v.as_bool(), expected.as_bool()), (Some(a), Some(b)) if a == b)
    } else if let Some(suffix) = base.strip_prefix("Timestamp") {
        match (timestamp(&v), timestamp(&expected)) {
            (Some(a), Some(b)) => ord(a.cmp(&b), suffix),
            _ => false,
        }
    } else {
        return Err(Failure::runtime(format!("unknown comparison `{op}`")));
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules() {
        let input =
            json!({"n": 5, "s": "log-2024.txt", "b": true, "t": "2024-01-01T00:00:00Z", "m": 7});
        let e = |r: Value| evaluate(&r, &input, &json!({}));
        assert_eq!(
            e(json!({"Variable": "$.n", "NumericGreaterThan": 3})),
            Ok(true)
        );
        assert_eq!(
            e(json!({"Variable": "$.n", "NumericLessThanPath": "$.m"})),
            Ok(true)
        );
        assert_eq!(
            e(json!({"Variable": "$.s", "StringMatches": "log-*.txt"})),
            Ok(true)
        );
        assert_eq!(e(json!({"Variable": "$.s", "StringEquals": 5})), Ok(false));
        assert_eq!(e(json!({"Variable": "$.x", "IsPresent": false})), Ok(true));
        assert_eq!(
            e(
                json!({"And": [{"Variable": "$.b", "BooleanEquals": true}, {"Not": {"Variable": "$.n", "NumericEquals": 4}}]})
            ),
            Ok(true)
        );
        assert_eq!(
            e(json!({"Variable": "$.t", "TimestampLessThan": "2025-01-01T00:00:00Z"})),
            Ok(true)
        );
        assert!(e(json!({"Variable": "$.missing", "NumericEquals": 1})).is_err());
        assert!(validate(&json!({"Variable": "$.a", "Next": "X"}), true).is_err());
        assert!(validate(&json!({"Variable": "$.a", "StringEquals": "x"}), true).is_err());
        assert!(matches_pattern("a*b", "a\\*b") && !matches_pattern("axb", "a\\*b"));
    }
}
