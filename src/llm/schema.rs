//! Structured output: a JSON schema becomes a GBNF grammar the sampler follows, and the parsed answer is checked
//! against the same schema before anyone uses it.
//!
//! The subset understood: `type` (object, array, string, integer, number, boolean, null, or a list of them),
//! `properties` with `required`, `items` with `minItems`/`maxItems`, `enum`, `const`, `anyOf`/`oneOf`,
//! `minLength`/`maxLength` for strings. The grammar writes every declared property, in the declared order (an
//! optional property is written too, which the schema allows); other keywords are refused rather than ignored.
use super::{GenParams, Generate, LlmError, Message, Output};
use serde_json::Value;

/// The GBNF grammar (root rule `root`) of the JSON texts `schema` accepts.
pub fn to_gbnf(schema: &Value) -> Result<String, LlmError> {
    let mut g = Grammar { rules: Vec::new() };
    let root = g.rule_for(schema, "root")?;
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &g.rules {
        out.push_str(&format!("{name} ::= {body}\n"));
    }
    out.push_str(concat!(
        "ws ::= [ ]?\n",
        "string ::= \"\\\"\" char* \"\\\"\"\n",
        "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n",
        "integer ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15})\n",
        "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n",
        "boolean ::= \"true\" | \"false\"\n",
        "null ::= \"null\"\n",
    ));
    Ok(out)
}

struct Grammar {
    rules: Vec<(String, String)>,
}

const KNOWN: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "minLength",
    "maxLength",
    "additionalProperties",
    "description",
    "title",
    "$schema",
];

impl Grammar {
    /// Returns an expression for `schema`, adding named rules for its parts.
    fn rule_for(&mut self, schema: &Value, name: &str) -> Result<String, LlmError> {
        let bad = |why: String| LlmError::Schema(format!("{name}: {why}"));
        let obj = match schema {
            Value::Object(o) => o,
            _ => return Err(bad("a schema must be an object".into())),
        };
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(bad(format!("keyword {k:?} is not supported")));
        }
        if let Some(c) = obj.get("const") {
            return Ok(literal(c));
        }
        if let Some(Value::Array(options)) = obj.get("enum") {
            if options.is_empty() {
                return Err(bad("empty enum".into()));
            }
            return Ok(format!("({})", options.iter().map(literal).collect::<Vec<_>>().join(" | ")));
        }
        if let Some(Value::Array(options)) = obj.get("anyOf").or_else(|| obj.get("oneOf")) {
            let alts = options
                .iter()
                .enumerate()
                .map(|(i, s)| self.named(s, &format!("{name}-alt{i}")))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(format!("({})", alts.join(" | ")));
        }
        match obj.get("type") {
            Some(Value::Array(types)) => {
                let alts = types
                    .iter()
                    .map(|t| {
                        let mut one = obj.clone();
                        one.insert("type".into(), t.clone());
                        self.rule_for(&Value::Object(one), name)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!("({})", alts.join(" | ")))
            }
            Some(Value::String(t)) => match t.as_str() {
                "string" => {
                    let min = obj.get("minLength").and_then(Value::as_u64);
                    let max = obj.get("maxLength").and_then(Value::as_u64);
                    Ok(match (min, max) {
                        (None, None) => "string".into(),
                        (min, max) => format!(
                            "\"\\\"\" char{{{},{}}} \"\\\"\"",
                            min.unwrap_or(0),
                            max.map(|m| m.to_string()).unwrap_or_default()
                        ),
                    })
                }
                "integer" | "number" | "boolean" | "null" => Ok(t.clone()),
                "array" => self.array(obj, name),
                "object" => self.object(obj, name),
                other => Err(bad(format!("type {other:?} is not supported"))),
            },
            _ => Err(bad("no type, enum or const".into())),
        }
    }

    /// An array of `items`, with `minItems`/`maxItems` when given.
    fn array(&mut self, obj: &serde_json::Map<String, Value>, name: &str) -> Result<String, LlmError> {
        let item = match obj.get("items") {
            Some(s) => self.named(s, &format!("{name}-item"))?,
            None => return Err(LlmError::Schema(format!("{name}: an array needs items"))),
        };
        let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = obj.get("maxItems").and_then(Value::as_u64);
        let more = |lo: u64, hi: Option<u64>| {
            format!("(ws \",\" ws {item}){{{lo},{}}}", hi.map(|h| h.to_string()).unwrap_or_default())
        };
        let body = match (min, max) {
            (_, Some(0)) => String::new(),
            (0, hi) => format!("({item} {})?", more(0, hi.map(|h| h - 1))),
            (lo, hi) => format!("{item} {}", more(lo - 1, hi.map(|h| h - 1))),
        };
        Ok(format!("\"[\" ws {body} ws \"]\""))
    }

    /// An object with every declared property, in order (each required one must be declared).
    fn object(&mut self, obj: &serde_json::Map<String, Value>, name: &str) -> Result<String, LlmError> {
        let props = obj.get("properties").and_then(Value::as_object);
        let mut parts = Vec::new();
        for (k, s) in props.into_iter().flatten() {
            let r = self.named(s, &format!("{name}-{}", rule_name(k)))?;
            parts.push(format!("{} ws \":\" ws {r}", literal(&Value::String(k.clone()))));
        }
        if let Some(Value::Array(req)) = obj.get("required") {
            if let Some(missing) =
                req.iter().filter_map(Value::as_str).find(|r| props.is_none_or(|p| !p.contains_key(*r)))
            {
                return Err(LlmError::Schema(format!("{name}: required property {missing:?} is not declared")));
            }
        }
        Ok(format!("\"{{\" ws {} ws \"}}\"", parts.join(" ws \",\" ws ")))
    }

    fn named(&mut self, schema: &Value, name: &str) -> Result<String, LlmError> {
        let body = self.rule_for(schema, name)?;
        self.rules.push((name.to_string(), body));
        Ok(name.to_string())
    }
}

fn rule_name(key: &str) -> String {
    let s: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    if s.is_empty() {
        "p".into()
    } else {
        s
    }
}

/// A JSON value written as a GBNF string literal.
fn literal(v: &Value) -> String {
    let json = v.to_string();
    let mut out = String::from("\"");
    for c in json.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks `value` against `schema` (the subset above); the error names the path that failed.
pub fn validate(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, "$")
}

fn check(v: &Value, s: &Value, path: &str) -> Result<(), String> {
    let Some(s) = s.as_object() else { return Ok(()) };
    if let Some(c) = s.get("const") {
        return if v == c { Ok(()) } else { Err(format!("{path}: expected {c}")) };
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        return if options.contains(v) { Ok(()) } else { Err(format!("{path}: {v} is not one of {options:?}")) };
    }
    if let Some(Value::Array(options)) = s.get("anyOf").or_else(|| s.get("oneOf")) {
        return if options.iter().any(|o| check(v, o, path).is_ok()) {
            Ok(())
        } else {
            Err(format!("{path}: matches none of the alternatives"))
        };
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let is = |t: &str| match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    };
    if !types.iter().any(|t| is(t)) {
        return Err(format!("{path}: expected {}", types.join(" or ")));
    }
    match v {
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| n < m)
                || s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(format!("{path}: length {n} out of bounds"));
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m)
                || s.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(format!("{path}: {n} items out of bounds"));
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check(x, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(map) => {
            for r in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    return Err(format!("{path}: missing {r:?}"));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, x) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => check(x, ps, &format!("{path}.{k}"))?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{path}: unexpected property {k:?}"))
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Generates a JSON value that `schema` accepts: the backend constrains the output (a grammar in process, the
/// server's JSON-schema mode remotely), then the text is parsed and validated here; a value that fails either is
/// an error, never passed on.
pub async fn generate_json(
    llm: &dyn Generate,
    messages: Vec<Message>,
    params: GenParams,
    schema: &Value,
) -> Result<Value, LlmError> {
    let mut rx = llm.generate_schema(messages, params, schema)?;
    let mut text = String::new();
    while let Some(o) = rx.recv().await {
        match o {
            Output::Text(t) => text.push_str(&t),
            Output::Failed(e) => return Err(LlmError::Backend(e)),
            Output::Done(_) => {}
        }
    }
    let value: Value = serde_json::from_str(text.trim())
        .map_err(|e| LlmError::Schema(format!("the answer is not JSON ({e}): {text:?}")))?;
    validate(&value, schema).map_err(|e| LlmError::Schema(format!("the answer does not fit the schema: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "intent": {"enum": ["track_order", "get_refund"]},
                "order": {"type": ["string", "null"], "maxLength": 12},
                "quantity": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
            },
            "required": ["intent", "order"]
        })
    }

    #[test]
    fn a_schema_becomes_a_grammar_with_a_rule_per_part() {
        let g = to_gbnf(&order_schema()).unwrap();
        assert!(g.starts_with("root ::= \"{\" ws \"\\\"intent\\\"\" ws \":\" ws root-intent"), "{g}");
        assert!(g.contains("root-intent ::= (\"\\\"track_order\\\"\" | \"\\\"get_refund\\\"\")"), "{g}");
        assert!(g.contains("root-order ::= (\"\\\"\" char{0,12} \"\\\"\" | null)"), "{g}");
        assert!(
            g.contains("root-tags ::= \"[\" ws (root-tags-item (ws \",\" ws root-tags-item){0,2})? ws \"]\""),
            "{g}"
        );
    }

    #[test]
    fn unsupported_keywords_and_undeclared_required_properties_are_refused() {
        let e = to_gbnf(&json!({"type": "string", "pattern": "^a"})).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
        let e = to_gbnf(&json!({"type": "object", "properties": {}, "required": ["x"]})).unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
    }

    #[test]
    fn values_are_checked_against_the_schema_with_the_failing_path() {
        let s = order_schema();
        assert!(validate(&json!({"intent": "track_order", "order": "536365", "quantity": 2}), &s).is_ok());
        assert!(validate(&json!({"intent": "get_refund", "order": null, "tags": ["a"]}), &s).is_ok());
        let e = validate(&json!({"intent": "cancel", "order": null}), &s).unwrap_err();
        assert!(e.starts_with("$.intent"), "{e}");
        assert!(validate(&json!({"intent": "track_order"}), &s).unwrap_err().contains("missing \"order\""));
        assert!(validate(&json!({"intent": "track_order", "order": "1234567890123"}), &s).is_err());
        assert!(validate(&json!({"intent": "track_order", "order": null, "quantity": 1.5}), &s).is_err());
        let e = validate(&json!({"intent": "track_order", "order": null, "tags": ["a", "b", "c", "d"]}), &s);
        assert!(e.unwrap_err().contains("$.tags"));
    }
}
