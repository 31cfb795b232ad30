//! Reading `.env`, JSON and YAML files for `hush import`.
//!
//! Every parser produces the same [`Tree`]: keys in file order, each holding a value or (JSON
//! and YAML only) a nested mapping. Errors name the file and, where there is one, the line.
//!
//! The `.env` dialect: blank lines and `#` comments are skipped; a line is
//! `[export ]KEY=VALUE` where KEY is made of letters, digits, `_`, `.` and `-`. VALUE is
//! * `'single-quoted'`: literal, may span lines;
//! * `"double-quoted"`: `\n`, `\r`, `\t`, `\"`, `\\` and `\$` are unescaped (any other
//!   backslash is kept as it is), may span lines;
//! * unquoted: up to an inline comment (` #`), surrounding spaces removed.
//!
//! After a closing quote only spaces and a comment may follow. `${VAR}` is not expanded: the
//! text is stored as written. A key given twice keeps its last value, as dotenv readers do.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::error::DeliverError;
use crate::source::SecretValue;

/// A parsed file: keys in file order.
pub type Tree = Vec<(String, Node)>;

/// A value or a nested mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A value to store under the key.
    Value(SecretValue),
    /// A nested mapping (JSON object, YAML mapping).
    Map(Tree),
}

impl Node {
    /// The node as one JSON value (a nested mapping becomes a JSON object).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Value(v) => v.to_json(),
            Node::Map(tree) => Value::Object(
                tree.iter()
                    .map(|(k, node)| (k.clone(), node.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Input formats of `hush import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum InputFormat {
    /// `.env`: KEY=VALUE lines
    Dotenv,
    /// A JSON object
    Json,
    /// A YAML mapping
    Yaml,
}

impl InputFormat {
    /// Guesses the format from a file name: `*.json`, `*.yaml`/`*.yml`, and `.env`, `*.env`,
    /// `.env.*` for dotenv.
    pub fn from_file_name(name: &str) -> Option<InputFormat> {
        let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
        if base.ends_with(".json") {
            Some(InputFormat::Json)
        } else if base.ends_with(".yaml") || base.ends_with(".yml") {
            Some(InputFormat::Yaml)
        } else if base == ".env" || base.ends_with(".env") || base.starts_with(".env.") {
            Some(InputFormat::Dotenv)
        } else {
            None
        }
    }
}

/// Parses `text` (the content of `file`) in `format`.
pub fn parse(file: &str, text: &str, format: InputFormat) -> Result<Tree, DeliverError> {
    let tree = match format {
        InputFormat::Dotenv => parse_dotenv(file, text)?,
        InputFormat::Json => parse_json(file, text)?,
        InputFormat::Yaml => parse_yaml(file, text)?,
    };
    if tree.is_empty() {
        return Err(DeliverError::InvalidFile {
            file: file.to_owned(),
            message: "it holds no key: nothing to import".to_owned(),
        });
    }
    Ok(tree)
}

fn is_dotenv_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses a `.env` file (see the module documentation for the dialect).
pub fn parse_dotenv(file: &str, text: &str) -> Result<Tree, DeliverError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Tree = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start_line = i + 1;
        let err = |message: String| DeliverError::Parse {
            file: file.to_owned(),
            line: start_line,
            message,
        };
        let line = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
        i += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let rest = match trimmed.strip_prefix("export") {
            Some(after) if after.starts_with([' ', '\t']) => after.trim_start(),
            _ => trimmed,
        };
        let Some((key, after_eq)) = rest.split_once('=') else {
            return Err(err(
                "expected KEY=VALUE (a line with no = sign); quote values that span lines"
                    .to_owned(),
            ));
        };
        let key = key.trim_end();
        if !is_dotenv_key(key) {
            return Err(err(format!(
                "\"{key}\" is not a valid key: use letters, digits, _, . and -"
            )));
        }
        let value = after_eq.trim_start_matches([' ', '\t']);
        let (value, tail) = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                // Collect the quoted text, continuing on the next lines until the closing quote.
                let mut body = String::new();
                let mut current = &value[1..];
                loop {
                    if let Some((inner, tail)) = split_quoted(current, quote) {
                        body.push_str(inner);
                        break (unquote(&body, quote), tail.to_owned());
                    }
                    body.push_str(current);
                    body.push('\n');
                    if i >= lines.len() {
                        return Err(err(format!(
                            "the {} quote opened here is never closed",
                            if quote == '"' { "double" } else { "single" }
                        )));
                    }
                    current = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
                    i += 1;
                }
            }
            _ => {
                let value = match value.find(" #").or_else(|| value.find("\t#")) {
                    Some(pos) => &value[..pos],
                    None => value,
                };
                (value.trim_end().to_owned(), String::new())
            }
        };
        let tail = tail.trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(err(format!(
                "unexpected text after the closing quote of {key}: only a # comment may follow"
            )));
        }
        out.retain(|(k, _)| k != key);
        out.push((key.to_owned(), Node::Value(SecretValue::string(value))));
    }
    Ok(out)
}

/// Splits `text` at the first unescaped `quote` (for double quotes, `\"` does not close).
fn split_quoted(text: &str, quote: char) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (pos, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some((&text[..pos], &text[pos + 1..]));
        }
    }
    None
}

fn unquote(body: &str, quote: char) -> String {
    if quote == '\'' {
        return body.to_owned();
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(c @ ('"' | '\\' | '$')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Parses a JSON object.
pub fn parse_json(file: &str, text: &str) -> Result<Tree, DeliverError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DeliverError::Parse {
        file: file.to_owned(),
        line: e.line(),
        message: format!("invalid JSON: {e}"),
    })?;
    match value {
        Value::Object(map) => Ok(json_tree(map)),
        _ => Err(DeliverError::InvalidFile {
            file: file.to_owned(),
            message: "the JSON must be an object of key/value pairs, e.g. {\"KEY\": \"value\"}"
                .to_owned(),
        }),
    }
}

fn json_tree(map: serde_json::Map<String, Value>) -> Tree {
    map.into_iter()
        .map(|(k, v)| {
            let node = match v {
                Value::Object(inner) => Node::Map(json_tree(inner)),
                other => Node::Value(SecretValue::from_json(other)),
            };
            (k, node)
        })
        .collect()
}

/// Parses a YAML mapping (one document).
pub fn parse_yaml(file: &str, text: &str) -> Result<Tree, DeliverError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| DeliverError::Parse {
        file: file.to_owned(),
        line: e.marker().line(),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    let invalid = |message: String| DeliverError::InvalidFile {
        file: file.to_owned(),
        message,
    };
    let mut docs = docs.into_iter();
    let doc = docs.next().unwrap_or(Yaml::Null);
    if docs.next().is_some() {
        return Err(invalid(
            "it holds several YAML documents (---): import one mapping per file".to_owned(),
        ));
    }
    match doc {
        Yaml::Hash(_) => yaml_tree(file, doc, ""),
        Yaml::Null => Ok(Vec::new()),
        _ => Err(invalid(
            "the YAML must be a mapping of keys to values, e.g. KEY: value".to_owned(),
        )),
    }
}

fn yaml_key(file: &str, key: Yaml, at: &str) -> Result<String, DeliverError> {
    match key {
        Yaml::String(s) | Yaml::Real(s) => Ok(s),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        _ => Err(DeliverError::InvalidFile {
            file: file.to_owned(),
            message: format!("a key{at} is not a plain scalar: keys must be strings"),
        }),
    }
}

fn yaml_tree(file: &str, doc: Yaml, at: &str) -> Result<Tree, DeliverError> {
    let Yaml::Hash(hash) = doc else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in hash {
        let key = yaml_key(file, key, at)?;
        let node = match value {
            Yaml::Hash(_) => Node::Map(yaml_tree(file, value, &format!(" under \"{key}\""))?),
            other => Node::Value(SecretValue::from_json(yaml_json(file, other, &key)?)),
        };
        out.push((key, node));
    }
    Ok(out)
}

/// A YAML node (other than a mapping at the top) as JSON.
fn yaml_json(file: &str, node: Yaml, key: &str) -> Result<Value, DeliverError> {
    let bad = |what: &str| DeliverError::InvalidFile {
        file: file.to_owned(),
        message: format!("the value of \"{key}\" {what}"),
    };
    Ok(match node {
        Yaml::String(s) => Value::String(s),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(text) => {
            let number = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .ok_or_else(|| bad("is a number JSON cannot hold (.inf or .nan): quote it"))?;
            Value::Number(number)
        }
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        Yaml::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| yaml_json(file, item, key))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(hash) => {
            let mut map = serde_json::Map::new();
            for (k, v) in hash {
                let k = yaml_key(file, k, &format!(" under \"{key}\""))?;
                let v = yaml_json(file, v, key)?;
                map.insert(k, v);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err(bad("uses an unsupported YAML feature")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(tree: &Tree) -> Vec<(String, String)> {
        tree.iter()
            .map(|(k, n)| match n {
                Node::Value(v) => (k.clone(), v.as_str().to_owned()),
                Node::Map(_) => (k.clone(), "<map>".to_owned()),
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn dotenv_dialect() {
        let text = "# comment\n\
            \n\
            export A=plain value # trailing\n\
            B='single $x \\n'\n\
            C=\"dq \\\"x\\\" \\\\ \\n \\$y\"\n\
            D=\"multi\n\
            line\" # c\n\
            E=\n\
            F=a#b\n\
            A=again\r\n";
        let tree = parse_dotenv("t.env", text).unwrap();
        assert_eq!(
            values(&tree),
            pairs(&[
                ("B", "single $x \\n"),
                ("C", "dq \"x\" \\ \n $y"),
                ("D", "multi\nline"),
                ("E", ""),
                ("F", "a#b"),
                ("A", "again"),
            ])
        );
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let err = parse_dotenv("x.env", "A=1\nnot a pair\n").unwrap_err();
        assert_eq!(err.to_string().split(':').next(), Some("x.env, line 2"));
        let err = parse_dotenv("x.env", "A=1\nB=\"open\nstill open\n").unwrap_err();
        assert!(err.to_string().starts_with("x.env, line 2:"), "{err}");
        assert!(err.to_string().contains("never closed"), "{err}");
        let err = parse_dotenv("x.env", "BAD KEY=1\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = parse_dotenv("x.env", "A='x' junk\n").unwrap_err();
        assert!(err.to_string().contains("after the closing quote"), "{err}");
    }

    #[test]
    fn json_objects_nest_and_keep_types() {
        let tree = parse_json("f.json", r#"{"a": "x", "n": 5, "db": {"user": "u"}}"#).unwrap();
        assert_eq!(
            values(&tree),
            pairs(&[("a", "x"), ("db", "<map>"), ("n", "5")])
        );
        let err = parse_json("f.json", "{\n\"a\": }").unwrap_err().to_string();
        assert!(err.starts_with("f.json, line 2:"), "{err}");
        let err = parse_json("f.json", "[1]").unwrap_err().to_string();
        assert!(err.contains("object"), "{err}");
    }

    #[test]
    fn yaml_mappings() {
        let text = "a: x\nport: 5432\nratio: 0.5\non: yes\nlist: [1, two]\ndb:\n  user: u\n";
        let tree = parse_yaml("f.yaml", text).unwrap();
        assert_eq!(
            values(&tree),
            pairs(&[
                ("a", "x"),
                ("port", "5432"),
                ("ratio", "0.5"),
                ("on", "yes"),
                ("list", "[1,\"two\"]"),
                ("db", "<map>"),
            ])
        );
        let err = parse_yaml("f.yaml", "a: [1\nb: 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.yaml, line"), "{err}");
        let err = parse_yaml("f.yaml", "- 1\n- 2\n").unwrap_err().to_string();
        assert!(err.contains("mapping"), "{err}");
    }

    #[test]
    fn empty_files_are_errors() {
        let err = parse("e.env", "# nothing\n", InputFormat::Dotenv).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(
            InputFormat::from_file_name(".env"),
            Some(InputFormat::Dotenv)
        );
        assert_eq!(
            InputFormat::from_file_name("dir/.env.prod"),
            Some(InputFormat::Dotenv)
        );
        assert_eq!(
            InputFormat::from_file_name("prod.env"),
            Some(InputFormat::Dotenv)
        );
        assert_eq!(
            InputFormat::from_file_name("a.JSON"),
            Some(InputFormat::Json)
        );
        assert_eq!(
            InputFormat::from_file_name("a.yml"),
            Some(InputFormat::Yaml)
        );
        assert_eq!(InputFormat::from_file_name("a.txt"), None);
    }
}
