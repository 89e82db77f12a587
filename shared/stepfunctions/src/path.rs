//! Reference paths and Paths of the States language (the JSONPath subset it allows): `$`,
//! `.field`, `['field']`, `[n]` and, in Paths, `[*]`. Reading and writing values at a path.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Field(String),
    Index(usize),
    Wildcard,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path {
    /// `$$` paths address the context object.
    pub context: bool,
    pub segments: Vec<Segment>,
}

pub(crate) fn parse(text: &str) -> Result<Path, String> {
    let (context, mut rest) = if let Some(r) = text.strip_prefix("$$") {
        (true, r)
    } else if let Some(r) = text.strip_prefix('$') {
        (false, r)
    } else {
        return Err(format!("path `{text}` must start with `$`"));
    };
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let _ = r;
            return Err(format!(
                "path `{text}`: recursive descent (`..`) is not supported"
            ));
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return Err(format!("path `{text}`: empty field name"));
            }
            segments.push(if name == "*" {
                Segment::Wildcard
            } else {
                Segment::Field(name.to_string())
            });
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r
                .find("']")
                .ok_or_else(|| format!("path `{text}`: unclosed ['...']"))?;
            segments.push(Segment::Field(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("path `{text}`: unclosed [...]"))?;
            let inner = r[..end].trim();
            if inner == "*" {
                segments.push(Segment::Wildcard);
            } else {
                let n: usize = inner.parse().map_err(|_| {
                    format!(
                        "path `{text}`: `[{inner}]` is not supported (filters and slices are not)"
                    )
                })?;
                segments.push(Segment::Index(n));
            }
            rest = &r[end + 1..];
        } else {
            return Err(format!("path `{text}`: unexpected `{rest}`"));
        }
    }
    Ok(Path { context, segments })
}

/// A reference path (ResultPath) may only name single values.
pub(crate) fn parse_reference(text: &str) -> Result<Path, String> {
    let p = parse(text)?;
    if p.context {
        return Err(format!(
            "`{text}`: a reference path cannot address the context object"
        ));
    }
    if p.segments.contains(&Segment::Wildcard) {
        return Err(format!("`{text}`: a reference path cannot contain `*`"));
    }
    Ok(p)
}

/// The value at `path`, or `None` when it does not exist. A wildcard yields an array.
pub(crate) fn get(value: &Value, segments: &[Segment]) -> Option<Value> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(value.clone());
    };
    match first {
        Segment::Field(name) => value.as_object()?.get(name).and_then(|v| get(v, rest)),
        Segment::Index(i) => value.as_array()?.get(*i).and_then(|v| get(v, rest)),
        Segment::Wildcard => {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                _ => return None,
            };
            Some(Value::Array(
                items.into_iter().filter_map(|v| get(v, rest)).collect(),
            ))
        }
    }
}

/// Write `result` into `target` at `path` (ResultPath semantics): intermediate objects are
/// created; an existing non-object in the way is an error.
pub(crate) fn set(target: &mut Value, segments: &[Segment], result: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *target = result;
        return Ok(());
    };
    match first {
        Segment::Field(name) => {
            if target.is_null() {
                *target = Value::Object(Map::new());
            }
            let obj = target
                .as_object_mut()
                .ok_or_else(|| format!("cannot set field `{name}` on a non-object"))?;
            let slot = obj.entry(name.clone()).or_insert(Value::Null);
            if rest.is_empty() {
                *slot = result;
                Ok(())
            } else {
                if !slot.is_object()
                    && !slot.is_null()
                    && !matches!(rest.first(), Some(Segment::Index(_)))
                {
                    return Err(format!(
                        "cannot set a field below `{name}`, which is not an object"
                    ));
                }
                set(slot, rest, result)
            }
        }
        Segment::Index(i) => {
            let arr = target
                .as_array_mut()
                .ok_or_else(|| format!("cannot index [{i}] into a non-array"))?;
            let slot = arr
                .get_mut(*i)
                .ok_or_else(|| format!("index [{i}] is out of range"))?;
            set(slot, rest, result)
        }
        Segment::Wildcard => Err("a result path cannot contain `*`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_get_set() {
        let v = json!({"a": {"b": [10, {"c": 3}]}, "x y": 1});
        let p = parse("$.a.b[1].c").expect("parse");
        assert_eq!(get(&v, &p.segments), Some(json!(3)));
        assert_eq!(
            get(&v, &parse("$['x y']").expect("p").segments),
            Some(json!(1))
        );
        assert_eq!(
            get(&v, &parse("$.a.b[*]").expect("p").segments),
            Some(json!([10, {"c": 3}]))
        );
        assert_eq!(get(&v, &parse("$.nope").expect("p").segments), None);
        let mut t = json!({"keep": 1});
        set(
            &mut t,
            &parse_reference("$.r.s").expect("p").segments,
            json!(2),
        )
        .expect("set");
        assert_eq!(t, json!({"keep": 1, "r": {"s": 2}}));
        let mut t = json!({"r": 5});
        assert!(set(
            &mut t,
            &parse_reference("$.r.s").expect("p").segments,
            json!(2)
        )
        .is_err());
        assert!(parse("a.b").is_err() && parse("$..a").is_err() && parse("$[?(@.a)]").is_err());
        assert!(parse_reference("$$.Execution").is_err());
    }
}
