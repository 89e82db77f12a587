//! Intrinsic functions (`States.Format('{}', $.a)` and friends): parsing and evaluation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest;

use crate::path;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Literal(Value),
    Path(path::Path),
    Call(Call),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

pub(crate) fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// How deeply calls may nest (`States.A(States.B(...))`): parsing and evaluation recurse, so
/// an unbounded depth would overflow the stack.
const MAX_NESTING: usize = 32;

pub(crate) fn parse(text: &str) -> Result<Call, String> {
    let trimmed = text.trim();
    let mut p = Parser {
        t: trimmed,
        s: trimmed.as_bytes(),
        i: 0,
        src: text,
    };
    let call = p.call(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("`{text}`: unexpected text after the call"));
    }
    Ok(call)
}

struct Parser<'a> {
    /// The text, and its bytes; `i` stays on a character boundary.
    t: &'a str,
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err(&self, what: &str) -> String {
        format!("`{}`: {what} at character {}", self.src, self.i)
    }
    /// The character at `i` (the text is walked by character inside string literals).
    fn char_here(&self) -> Result<char, String> {
        self.t
            .get(self.i..)
            .and_then(|rest| rest.chars().next())
            .ok_or_else(|| self.err("bad text"))
    }
    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth >= MAX_NESTING {
            return Err(self.err(&format!("calls nested more than {MAX_NESTING} deep")));
        }
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'.')
        {
            self.i += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
        if !name.starts_with("States.") {
            return Err(self.err("expected an intrinsic function"));
        }
        self.ws();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(self.err("expected `(`"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b')') {
            self.i += 1;
            return Ok(Call { name, args });
        }
        loop {
            args.push(self.arg(depth)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(Call { name, args });
                }
                _ => return Err(self.err("expected `,` or `)`")),
            }
        }
    }
    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err(self.err("unterminated string")),
                        Some(b'\\') => {
                            // The escaped character, whole (it may be more than one byte).
                            self.i += 1;
                            if self.i >= self.s.len() {
                                return Err(self.err("dangling escape"));
                            }
                            let c = self.char_here()?;
                            out.push(c);
                            self.i += c.len_utf8();
                        }
                        Some(b'\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(_) => {
                            // One character (not a re-validation of the rest each time, which
                            // made long literals quadratic).
                            let c = self.char_here()?;
                            out.push(c);
                            self.i += c.len_utf8();
                        }
                    }
                }
                Ok(Arg::Literal(Value::String(out)))
            }
            Some(b'$') => {
                let start = self.i;
                let mut in_quote = false;
                while let Some(&c) = self.s.get(self.i) {
                    if c == b'\'' {
                        in_quote = !in_quote;
                    } else if !in_quote && (c == b',' || c == b')' || c.is_ascii_whitespace()) {
                        break;
                    }
                    self.i += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
                Ok(Arg::Path(path::parse(&text)?))
            }
            Some(b'S') => Ok(Arg::Call(self.call(depth + 1)?)),
            Some(_) => {
                let start = self.i;
                while let Some(&c) = self.s.get(self.i) {
                    if c == b',' || c == b')' || c.is_ascii_whitespace() {
                        break;
                    }
                    self.i += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
                let v: Value = serde_json::from_str(&text)
                    .map_err(|_| self.err(&format!("`{text}` is not a literal")))?;
                if v.is_object() || v.is_array() {
                    return Err(self.err("objects and arrays are not literals here"));
                }
                Ok(Arg::Literal(v))
            }
            None => Err(self.err("missing argument")),
        }
    }
}

/// Evaluate a call against the input and the context object.
pub(crate) fn eval(call: &Call, input: &Value, context: &Value) -> Result<Value, String> {
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        args.push(match a {
            Arg::Literal(v) => v.clone(),
            Arg::Path(p) => {
                let root = if p.context { context } else { input };
                path::get(root, &p.segments)
                    .ok_or_else(|| format!("{}: no value at a path argument", call.name))?
            }
            Arg::Call(c) => eval(c, input, context)?,
        });
    }
    apply(&call.name, args)
}

fn want_args(name: &str, args: &[Value], n: std::ops::RangeInclusive<usize>) -> Result<(), String> {
    if n.contains(&args.len()) {
        Ok(())
    } else {
        Err(format!(
            "{name} takes {}..={} arguments, got {}",
            n.start(),
            n.end(),
            args.len()
        ))
    }
}

fn as_str<'a>(name: &str, v: &'a Value) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{name}: expected a string, got {v}"))
}

fn as_arr<'a>(name: &str, v: &'a Value) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{name}: expected an array, got {v}"))
}

fn as_int(name: &str, v: &Value) -> Result<i64, String> {
    // `f as i64` saturates, so a float outside i64's range would silently become i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    v.as_i64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f))
                .map(|f| f as i64)
        })
        .ok_or_else(|| format!("{name}: expected an integer within 64 bits, got {v}"))
}

fn overflow(name: &str) -> String {
    format!("{name}: the result does not fit in a 64-bit integer")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn apply(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match name {
        "States.Format" => {
            want_args(name, &args, 1..=usize::MAX)?;
            let template = as_str(name, &args[0])?;
            let mut out = String::new();
            let mut values = args[1..].iter();
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '{' if chars.peek() == Some(&'}') => {
                        chars.next();
                        let v = values
                            .next()
                            .ok_or_else(|| format!("{name}: more placeholders than arguments"))?;
                        out.push_str(&text_of(v));
                    }
                    c => out.push(c),
                }
            }
            if values.next().is_some() {
                return Err(format!("{name}: more arguments than placeholders"));
            }
            Ok(Value::String(out))
        }
        "States.StringToJson" => {
            want_args(name, &args, 1..=1)?;
            serde_json::from_str(as_str(name, &args[0])?).map_err(|e| format!("{name}: {e}"))
        }
        "States.JsonToString" => {
            want_args(name, &args, 1..=1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            want_args(name, &args, 2..=2)?;
            let n = as_int(name, &args[1])?;
            if n <= 0 {
                return Err(format!("{name}: the chunk size must be positive"));
            }
            let chunks = as_arr(name, &args[0])?
                .chunks(n as usize)
                .map(|c| Value::Array(c.to_vec()))
                .collect();
            Ok(Value::Array(chunks))
        }
        "States.ArrayContains" => {
            want_args(name, &args, 2..=2)?;
            Ok(Value::Bool(as_arr(name, &args[0])?.contains(&args[1])))
        }
        "States.ArrayRange" => {
            want_args(name, &args, 3..=3)?;
            let (start, end, step) = (
                as_int(name, &args[0])?,
                as_int(name, &args[1])?,
                as_int(name, &args[2])?,
            );
            if step == 0 {
                return Err(format!("{name}: the step must not be 0"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                out.push(Value::from(i));
                if out.len() > 1000 {
                    return Err(format!("{name}: more than 1000 items"));
                }
                // A step past i64's range ends the range rather than wrapping around.
                match i.checked_add(step) {
                    Some(next) => i = next,
                    None => break,
                }
            }
            Ok(Value::Array(out))
        }
        "States.ArrayGetItem" => {
            want_args(name, &args, 2..=2)?;
            let i = as_int(name, &args[1])?;
            as_arr(name, &args[0])?
                .get(usize::try_from(i).map_err(|_| format!("{name}: negative index"))?)
                .cloned()
                .ok_or_else(|| format!("{name}: index {i} is out of range"))
        }
        "States.ArrayLength" => {
            want_args(name, &args, 1..=1)?;
            Ok(Value::from(as_arr(name, &args[0])?.len()))
        }
        "States.ArrayUnique" => {
            want_args(name, &args, 1..=1)?;
            let mut out: Vec<Value> = Vec::new();
            for v in as_arr(name, &args[0])? {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        "States.Base64Encode" => {
            want_args(name, &args, 1..=1)?;
            Ok(Value::String(STANDARD.encode(as_str(name, &args[0])?)))
        }
        "States.Base64Decode" => {
            want_args(name, &args, 1..=1)?;
            let bytes = STANDARD
                .decode(as_str(name, &args[0])?)
                .map_err(|e| format!("{name}: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|e| format!("{name}: {e}"))
        }
        "States.Hash" => {
            want_args(name, &args, 2..=2)?;
            let data = text_of(&args[0]);
            let digest = match as_str(name, &args[1])? {
                "SHA-256" => hex::encode(sha2::Sha256::digest(data.as_bytes())),
                "SHA-384" => hex::encode(sha2::Sha384::digest(data.as_bytes())),
                "SHA-512" => hex::encode(sha2::Sha512::digest(data.as_bytes())),
                other => {
                    return Err(format!(
                        "{name}: algorithm `{other}` is not supported here (SHA-256/384/512 are)"
                    ))
                }
            };
            Ok(Value::String(digest))
        }
        "States.JsonMerge" => {
            want_args(name, &args, 3..=3)?;
            if args[2] != Value::Bool(false) {
                return Err(format!("{name}: only shallow merges (false) are supported"));
            }
            let mut out: Map<String, Value> = args[0]
                .as_object()
                .cloned()
                .ok_or_else(|| format!("{name}: expected objects"))?;
            out.extend(
                args[1]
                    .as_object()
                    .cloned()
                    .ok_or_else(|| format!("{name}: expected objects"))?,
            );
            Ok(Value::Object(out))
        }
        "States.MathRandom" => {
            want_args(name, &args, 2..=3)?;
            let (start, end) = (as_int(name, &args[0])?, as_int(name, &args[1])?);
            if end <= start {
                return Err(format!("{name}: the end must exceed the start"));
            }
            // In i128 so the widest span (i64::MIN..i64::MAX) cannot overflow.
            let span = (i128::from(end) - i128::from(start)) as u128;
            let r = (uuid::Uuid::new_v4().as_u128() % span) as i128;
            i64::try_from(i128::from(start) + r)
                .map(Value::from)
                .map_err(|_| overflow(name))
        }
        "States.MathAdd" => {
            want_args(name, &args, 2..=2)?;
            as_int(name, &args[0])?
                .checked_add(as_int(name, &args[1])?)
                .map(Value::from)
                .ok_or_else(|| overflow(name))
        }
        "States.StringSplit" => {
            want_args(name, &args, 2..=2)?;
            let delims: Vec<char> = as_str(name, &args[1])?.chars().collect();
            Ok(Value::Array(
                as_str(name, &args[0])?
                    .split(|c| delims.contains(&c))
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ))
        }
        "States.UUID" => {
            want_args(name, &args, 0..=0)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        other => Err(format!("unknown intrinsic function `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, input: Value) -> Result<Value, String> {
        eval(&parse(text)?, &input, &json!({"Execution": {"Name": "ex"}}))
    }

    /// Found with the `intrinsic_functions` fuzz target (fuzz/) fed calls nested thousands
    /// deep, which overflowed the stack while parsing; and, looking at why, an escaped
    /// non-ASCII character failing as bad UTF-8 and long string literals taking quadratic time.
    #[test]
    fn fuzzing_regressions_deep_nesting_escapes_and_long_literals() {
        let deep = format!("{}1{}", "States.Array(".repeat(20_000), ")".repeat(20_000));
        assert!(parse(&deep)
            .unwrap_err()
            .contains("nested more than 32 deep"));
        let ok = format!("{}1{}", "States.Array(".repeat(32), ")".repeat(32));
        assert!(parse(&ok).is_ok());
        assert_eq!(
            run("States.Format('\\é {} \\☃', 1)", json!({})),
            Ok(json!("é 1 ☃"))
        );
        assert!(parse("States.Format('\\").is_err());
        // Quadratic parsing would make this take hours, not fail an assertion.
        let long = format!("States.Format('{}')", "ü".repeat(200_000));
        assert!(parse(&long).is_ok());
    }

    /// Found by the `intrinsic_functions` fuzz target in CI: a step beyond i64 saturated to
    /// i64::MAX and the next `i += step` overflowed; the same kind of overflow was in
    /// MathAdd and MathRandom.
    #[test]
    fn fuzzing_regressions_integer_overflow() {
        assert_eq!(
            run(
                "States.ArrayPartition(States.ArrayRange(5, 5, 199999999999999999999999), 2)",
                json!({})
            )
            .unwrap_err(),
            "States.ArrayRange: expected an integer within 64 bits, got 2e+23"
        );
        let max = i64::MAX;
        assert_eq!(
            run(
                &format!("States.ArrayRange({}, {max}, {max})", max - 1),
                json!({})
            ),
            Ok(json!([max - 1]))
        );
        assert_eq!(
            run(
                &format!("States.ArrayRange(-5, {}, -{max})", i64::MIN),
                json!({})
            ),
            Ok(json!([-5]))
        );
        assert!(run(&format!("States.MathAdd({max}, 1)"), json!({}))
            .unwrap_err()
            .contains("does not fit"));
        assert_eq!(
            run(&format!("States.MathAdd({max}, -1)"), json!({})),
            Ok(json!(max - 1))
        );
        let r = run(
            &format!("States.MathRandom({}, {max})", i64::MIN),
            json!({}),
        )
        .unwrap();
        assert!(r.as_i64().is_some());
    }

    #[test]
    fn functions() {
        assert_eq!(
            run(
                "States.Format('Hi {}, you are {}', $.n, $.a)",
                json!({"n": "Ada", "a": 36})
            ),
            Ok(json!("Hi Ada, you are 36"))
        );
        assert_eq!(
            run(
                "States.Format('it\\'s \\{not\\} {}', $$.Execution.Name)",
                json!({})
            ),
            Ok(json!("it's {not} ex"))
        );
        assert_eq!(
            run("States.StringToJson($.s)", json!({"s": "{\"a\":1}"})),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            run("States.JsonToString($.o)", json!({"o": {"a": [1]}})),
            Ok(json!("{\"a\":[1]}"))
        );
        assert_eq!(
            run("States.Array(1, 'two', $.x, true)", json!({"x": null})),
            Ok(json!([1, "two", null, true]))
        );
        assert_eq!(
            run(
                "States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)",
                json!({})
            ),
            Ok(json!([[1, 2], [3, 4], [5]]))
        );
        assert_eq!(
            run(
                "States.ArrayLength(States.ArrayUnique($.a))",
                json!({"a": [1, 1, 2]})
            ),
            Ok(json!(2))
        );
        assert_eq!(
            run("States.ArrayGetItem($.a, 1)", json!({"a": [1, 9]})),
            Ok(json!(9))
        );
        assert_eq!(
            run("States.MathAdd($.a, -3)", json!({"a": 10})),
            Ok(json!(7))
        );
        assert_eq!(
            run("States.StringSplit('a,b;;c', ',;')", json!({})),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(
            run("States.Base64Decode(States.Base64Encode('hé'))", json!({})),
            Ok(json!("hé"))
        );
        assert!(run("States.Format('{}')", json!({})).is_err());
        assert!(run("States.Nope()", json!({})).is_err());
        assert!(parse("States.Format('x'").is_err());
        assert_eq!(
            run("States.UUID()", json!({})).map(|v| v.as_str().map(str::len)),
            Ok(Some(36))
        );
    }
}
