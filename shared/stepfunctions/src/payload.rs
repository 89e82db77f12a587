//! Payload templates (Parameters, ItemSelector, ResultSelector: `.$` keys take a path or an
//! intrinsic function) and the InputPath / ResultPath / OutputPath steps.

use serde_json::{Map, Value};

use crate::{errors, intrinsics, path};

/// A state failure: an error name and a cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: &str, cause: impl Into<String>) -> Self {
        Self {
            error: error.to_string(),
            cause: cause.into(),
        }
    }
    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Self::new(errors::RUNTIME, cause)
    }
}

/// `InputPath` / `OutputPath`: absent → the whole value; null → `{}`; a path → what it selects.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selector {
    Whole,
    Nothing,
    Path(path::Path),
}

impl Selector {
    pub fn from_field(v: Option<&Value>) -> Result<Self, String> {
        match v {
            None => Ok(Self::Whole),
            Some(Value::Null) => Ok(Self::Nothing),
            Some(Value::String(s)) => Ok(Self::Path(path::parse(s)?)),
            Some(other) => Err(format!("expected a path or null, got {other}")),
        }
    }

    pub fn apply(&self, value: &Value, context: &Value, which: &str) -> Result<Value, Failure> {
        match self {
            Self::Whole => Ok(value.clone()),
            Self::Nothing => Ok(Value::Object(Map::new())),
            Self::Path(p) => {
                let root = if p.context { context } else { value };
                path::get(root, &p.segments).ok_or_else(|| {
                    Failure::runtime(format!(
                        "the {which} path matched nothing in the state's data"
                    ))
                })
            }
        }
    }
}

/// `ResultPath`: absent → the result replaces the input; null → the input is kept; a
/// reference path → the result is written into the input there.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ResultTarget {
    Replace,
    Discard,
    At(path::Path),
}

impl ResultTarget {
    pub fn from_field(v: Option<&Value>) -> Result<Self, String> {
        match v {
            None => Ok(Self::Replace),
            Some(Value::Null) => Ok(Self::Discard),
            Some(Value::String(s)) if s == "$" => Ok(Self::Replace),
            Some(Value::String(s)) => Ok(Self::At(path::parse_reference(s)?)),
            Some(other) => Err(format!("ResultPath must be a path or null, got {other}")),
        }
    }

    pub fn merge(&self, input: &Value, result: Value) -> Result<Value, Failure> {
        match self {
            Self::Replace => Ok(result),
            Self::Discard => Ok(input.clone()),
            Self::At(p) => {
                let mut out = input.clone();
                path::set(&mut out, &p.segments, result)
                    .map_err(|e| Failure::new(errors::RESULT_PATH_MATCH_FAILURE, e))?;
                Ok(out)
            }
        }
    }
}

/// Check a payload template at load: every `.$` value must be a valid path or intrinsic.
pub(crate) fn validate_template(template: &Value) -> Result<(), String> {
    match template {
        Value::Object(map) => {
            for (k, v) in map {
                if k.ends_with(".$") {
                    let text = v.as_str().ok_or_else(|| {
                        format!("`{k}` must be a string (a path or an intrinsic function)")
                    })?;
                    if intrinsics::is_call(text) {
                        intrinsics::parse(text)?;
                    } else {
                        path::parse(text)?;
                    }
                } else {
                    validate_template(v)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(validate_template),
        _ => Ok(()),
    }
}

/// Evaluate a payload template against the input and the context object.
pub(crate) fn render(template: &Value, input: &Value, context: &Value) -> Result<Value, Failure> {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(name) = k.strip_suffix(".$") {
                    let text = v.as_str().unwrap_or_default();
                    let value = if intrinsics::is_call(text) {
                        // Step Functions reports a failed intrinsic as States.Runtime (which
                        // no catcher but an explicit one handles), not States.IntrinsicFailure.
                        let failed = |e: String| {
                            Failure::runtime(format!(
                                "the function '{text}' specified for the field '{k}' failed: {e}"
                            ))
                        };
                        let call = intrinsics::parse(text).map_err(failed)?;
                        intrinsics::eval(&call, input, context).map_err(failed)?
                    } else {
                        let p = path::parse(text).map_err(Failure::runtime)?;
                        let root = if p.context { context } else { input };
                        path::get(root, &p.segments).ok_or_else(|| {
                            Failure::new(
                                errors::RUNTIME,
                                format!("the JSONPath '{text}' specified for the field '{k}' could not be found in the input"),
                            )
                        })?
                    };
                    out.insert(name.to_string(), value);
                } else {
                    out.insert(k.clone(), render(v, input, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|i| render(i, input, context))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_and_result_paths() {
        let input = json!({"a": 1, "b": {"c": "x"}});
        let ctx = json!({"Execution": {"Name": "e1"}});
        let t = json!({"plain": 5, "from.$": "$.b.c", "ctx.$": "$$.Execution.Name", "f.$": "States.Format('{}-{}', $.a, $.b.c)", "nested": [{"n.$": "$.a"}]});
        assert_eq!(
            render(&t, &input, &ctx),
            Ok(json!({"plain": 5, "from": "x", "ctx": "e1", "f": "1-x", "nested": [{"n": 1}]}))
        );
        assert_eq!(
            render(&json!({"m.$": "$.missing"}), &input, &ctx).map_err(|f| f.error),
            Err("States.Runtime".into())
        );
        let at = ResultTarget::from_field(Some(&json!("$.b.r"))).expect("rp");
        assert_eq!(
            at.merge(&input, json!(9)),
            Ok(json!({"a": 1, "b": {"c": "x", "r": 9}}))
        );
        assert_eq!(
            ResultTarget::Discard.merge(&input, json!(9)),
            Ok(input.clone())
        );
        assert!(validate_template(&json!({"x.$": "nope"})).is_err());
        assert!(validate_template(&json!({"x.$": "States.Format("})).is_err());
    }
}
