//! Vault's username templates (`username_template` on `config/:name`): the part of Go's
//! `text/template` that Vault's documentation describes, with Vault's functions.
//!
//! A template is text with actions `{{ pipeline }}`. A pipeline is commands joined by `|`,
//! each command's value becoming the last argument of the next; a command is a field
//! (`.DisplayName`, `.RoleName`), a literal (`"text"`, `` `raw` ``, `12`), a parenthesized
//! pipeline, or a function with its arguments:
//!
//! | function | does |
//! |---|---|
//! | `printf "fmt" a b ...` | Go's `fmt.Sprintf` with `%s`, `%v`, `%d`, `%q` and `%%` |
//! | `random N` | N characters from `a-zA-Z0-9` (the CSPRNG) |
//! | `truncate N s` | the first N characters |
//! | `truncate_sha256 N s` | N characters, the last 8 the start of the SHA-256 of what was cut |
//! | `uppercase s`, `lowercase s` | case |
//! | `replace old new s` | every `old` replaced by `new` |
//! | `sha256 s` | hex SHA-256; `base64 s`: standard Base64 |
//! | `unix_time`, `unix_time_millis` | the time in seconds / milliseconds since 1970 |
//! | `timestamp "layout"` | the time (UTC) in Go's layout (`2006-01-02T15:04:05Z07:00`) |
//! | `uuid` | a random UUID |
//!
//! Control structures (`if`, `range`, ...), variables and methods are refused when the
//! template is written, with the reason. Parsing uses no recursion: a parenthesized pipeline
//! is finished before the one around it, so pipelines are kept in a list in the order they
//! close and evaluated in that order, each argument pointing back at an earlier one. The
//! template, its nesting and every value it makes are bounded.

use std::fmt::Write as _;

use base64::Engine as _;

/// The longest template accepted, in characters.
pub const MAX_TEMPLATE: usize = 4096;
/// The deepest nesting of parenthesized pipelines.
const MAX_DEPTH: usize = 8;
/// The longest value any step may make, in characters.
const MAX_VALUE: usize = 65_536;
/// The most characters `random` makes at once.
const MAX_RANDOM: i64 = 1024;

/// What a template is filled in with.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The requesting token's display name.
    pub display_name: String,
    /// The role the credentials are for.
    pub role_name: String,
}

/// The functions a template may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Printf,
    Random,
    Truncate,
    TruncateSha256,
    Uppercase,
    Lowercase,
    Replace,
    Sha256,
    Base64,
    UnixTime,
    UnixTimeMillis,
    Timestamp,
    Uuid,
}

impl Func {
    fn named(name: &str) -> Option<Func> {
        Some(match name {
            "printf" => Func::Printf,
            "random" => Func::Random,
            "truncate" => Func::Truncate,
            "truncate_sha256" => Func::TruncateSha256,
            "uppercase" => Func::Uppercase,
            "lowercase" => Func::Lowercase,
            "replace" => Func::Replace,
            "sha256" => Func::Sha256,
            "base64" => Func::Base64,
            "unix_time" => Func::UnixTime,
            "unix_time_millis" => Func::UnixTimeMillis,
            "timestamp" => Func::Timestamp,
            "uuid" => Func::Uuid,
            _ => return None,
        })
    }

    /// How many arguments it takes (the piped value included); `None`: any number from one.
    fn arity(self) -> Option<usize> {
        Some(match self {
            Func::Printf => return None,
            Func::UnixTime | Func::UnixTimeMillis | Func::Uuid => 0,
            Func::Random
            | Func::Uppercase
            | Func::Lowercase
            | Func::Sha256
            | Func::Base64
            | Func::Timestamp => 1,
            Func::Truncate | Func::TruncateSha256 => 2,
            Func::Replace => 3,
        })
    }
}

const FUNCTIONS: &str = "printf, random, truncate, truncate_sha256, uppercase, lowercase, \
                         replace, sha256, base64, unix_time, unix_time_millis, timestamp, uuid";

/// A template field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldName {
    DisplayName,
    RoleName,
}

/// One argument or command head.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(FieldName),
    Func(Func),
    Str(String),
    Int(i64),
    /// The value of an earlier pipeline of [`Template::pipelines`].
    Sub(usize),
}

/// A command: a function and its arguments, or one value.
type Command = Vec<Operand>;

/// Text, or the value of a pipeline of [`Template::pipelines`].
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(usize),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    /// Every pipeline, in the order it closed: an inner one always before the one around it.
    pipelines: Vec<Vec<Command>>,
}

/// A value during evaluation.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn into_string(self) -> String {
        match self {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string(),
        }
    }
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Operand(Operand),
    Pipe,
    Open,
    Close,
}

/// The tokens of one action's text; `what` errors name the action.
fn lex(action: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = action.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("a string is not closed with \"".into());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().ok_or("a string ends in \\")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                other => {
                                    return Err(format!("unknown escape \\{other} in a string"))
                                }
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Token::Operand(Operand::Str(s)));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or("a raw string is not closed with `")?;
                out.push(Token::Operand(Operand::Str(
                    chars[start..start + end].iter().collect(),
                )));
                i = start + end + 1;
            }
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let field = match name.as_str() {
                    "DisplayName" => FieldName::DisplayName,
                    "RoleName" => FieldName::RoleName,
                    "" => {
                        return Err(
                            "the bare '.' is not supported: write .DisplayName or .RoleName".into(),
                        )
                    }
                    other => {
                        return Err(format!(
                            "there is no field .{other}: the fields are .DisplayName and .RoleName"
                        ))
                    }
                };
                out.push(Token::Operand(Operand::Field(field)));
                i = j;
            }
            '-' | '+' | '0'..='9' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<i64>()
                    .map_err(|_| format!("{text} is not a whole number"))?;
                out.push(Token::Operand(Operand::Int(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                match Func::named(&name) {
                    Some(f) => out.push(Token::Operand(Operand::Func(f))),
                    None => {
                        return Err(match name.as_str() {
                            "if" | "else" | "end" | "range" | "with" | "define" | "template"
                            | "block" | "break" | "continue" => format!(
                                "'{name}' is not supported in username templates: use fields, \
                                 functions and pipes"
                            ),
                            _ => format!(
                                "there is no function {name}: the functions are {FUNCTIONS}"
                            ),
                        })
                    }
                }
            }
            '$' => return Err("variables ($) are not supported in username templates".into()),
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// A pipeline being read: its finished commands and the one being read.
#[derive(Default)]
struct Open {
    commands: Vec<Command>,
    current: Command,
}

impl Open {
    /// Ends the command being read; an empty one is an error (`| |`, `(|`).
    fn end_command(&mut self) -> Result<(), String> {
        if self.current.is_empty() {
            return Err("a pipe has an empty command".into());
        }
        self.commands.push(std::mem::take(&mut self.current));
        Ok(())
    }
}

/// Checks one pipeline's commands when it closes: what can be called, with how many arguments.
fn check_pipeline(commands: &[Command]) -> Result<(), String> {
    for (n, cmd) in commands.iter().enumerate() {
        let piped = usize::from(n > 0);
        match cmd.first() {
            Some(Operand::Func(f)) => {
                let given = cmd.len() - 1 + piped;
                match f.arity() {
                    Some(want) if want != given => {
                        return Err(format!(
                            "{} takes {want} argument{}, got {given}",
                            name_of(*f),
                            if want == 1 { "" } else { "s" }
                        ))
                    }
                    None if given == 0 => return Err("printf needs a format".into()),
                    _ => {}
                }
                if let (Func::Printf, Some(Operand::Str(format))) = (f, cmd.get(1)) {
                    let want = printf_arguments(format)?;
                    if want != given - 1 {
                        return Err(format!(
                            "printf's format \"{format}\" takes {want} value{}, got {}",
                            if want == 1 { "" } else { "s" },
                            given - 1
                        ));
                    }
                }
            }
            Some(_) if cmd.len() > 1 || piped == 1 => {
                return Err(
                    "only a function takes arguments (a field or literal was given some)".into(),
                )
            }
            _ => {}
        }
    }
    Ok(())
}

fn name_of(f: Func) -> &'static str {
    match f {
        Func::Printf => "printf",
        Func::Random => "random",
        Func::Truncate => "truncate",
        Func::TruncateSha256 => "truncate_sha256",
        Func::Uppercase => "uppercase",
        Func::Lowercase => "lowercase",
        Func::Replace => "replace",
        Func::Sha256 => "sha256",
        Func::Base64 => "base64",
        Func::UnixTime => "unix_time",
        Func::UnixTimeMillis => "unix_time_millis",
        Func::Timestamp => "timestamp",
        Func::Uuid => "uuid",
    }
}

/// How many values a printf format takes; an unsupported verb is an error.
fn printf_arguments(format: &str) -> Result<usize, String> {
    let mut n = 0;
    let mut it = format.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            continue;
        }
        match it.next() {
            Some('%') => {}
            Some('s' | 'v' | 'd' | 'q') => n += 1,
            Some(other) => {
                return Err(format!(
                    "printf verb %{other} is not supported: use %s, %v, %d, %q or %%"
                ))
            }
            None => return Err("printf's format ends in %".into()),
        }
    }
    Ok(n)
}

impl Template {
    /// Parses `text`; the error says what is wrong and where (the action's number).
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.chars().count() > MAX_TEMPLATE {
            return Err(format!("it is longer than {MAX_TEMPLATE} characters"));
        }
        let mut parts = Vec::new();
        let mut pipelines = Vec::new();
        let mut rest = text;
        let mut number = 0;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            number += 1;
            let mut before = &rest[..start];
            if trim_next {
                before = before.trim_start();
            }
            let mut inner_start = start + 2;
            if rest[inner_start..].starts_with("- ") {
                before = before.trim_end();
                inner_start += 1;
            }
            if !before.is_empty() {
                parts.push(Part::Text(before.to_string()));
            }
            let end = find_close(&rest[inner_start..])
                .ok_or_else(|| format!("action {number} is not closed with }}}}"))?;
            let mut inner = &rest[inner_start..inner_start + end];
            trim_next = false;
            if inner.ends_with(" -") {
                inner = &inner[..inner.len() - 1];
                trim_next = true;
            }
            let at = |e: String| format!("action {number} ({{{{{}}}}}): {e}", inner.trim());
            let tokens = lex(inner).map_err(at)?;
            let root = build(&tokens, &mut pipelines).map_err(at)?;
            parts.push(Part::Action(root));
            rest = &rest[inner_start + end + 2..];
        }
        let tail = if trim_next { rest.trim_start() } else { rest };
        if tail.contains("}}") {
            return Err("there is a }} without its {{".into());
        }
        if !tail.is_empty() {
            parts.push(Part::Text(tail.to_string()));
        }
        Ok(Template { parts, pipelines })
    }

    /// The template filled in for `meta`.
    pub fn render(&self, meta: &Metadata) -> Result<String, String> {
        let now = chrono::Utc::now();
        let mut values: Vec<Value> = Vec::with_capacity(self.pipelines.len());
        for pipeline in &self.pipelines {
            let mut piped: Option<Value> = None;
            for cmd in pipeline {
                let mut args: Vec<Value> = Vec::with_capacity(cmd.len());
                for op in cmd
                    .iter()
                    .skip(usize::from(matches!(cmd.first(), Some(Operand::Func(_)))))
                {
                    args.push(match op {
                        Operand::Field(FieldName::DisplayName) => {
                            Value::Str(meta.display_name.clone())
                        }
                        Operand::Field(FieldName::RoleName) => Value::Str(meta.role_name.clone()),
                        Operand::Str(s) => Value::Str(s.clone()),
                        Operand::Int(i) => Value::Int(*i),
                        // Always an earlier pipeline (see `build`).
                        Operand::Sub(i) => values
                            .get(*i)
                            .cloned()
                            .ok_or("a nested pipeline is missing")?,
                        Operand::Func(f) => {
                            return Err(format!(
                                "{} is a function, not a value: put it in ( )",
                                name_of(*f)
                            ))
                        }
                    });
                }
                if let Some(p) = piped.take() {
                    args.push(p);
                }
                let value = match cmd.first() {
                    Some(Operand::Func(f)) => call(*f, args, now)?,
                    _ => args.pop().ok_or("an empty command")?,
                };
                if let Value::Str(s) = &value {
                    if s.chars().count() > MAX_VALUE {
                        return Err(format!("a value is longer than {MAX_VALUE} characters"));
                    }
                }
                piped = Some(value);
            }
            values.push(piped.ok_or("an empty action")?);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action(i) => {
                    let v = values.get(*i).cloned().ok_or("an action is missing")?;
                    out.push_str(&v.into_string());
                }
            }
            if out.chars().count() > MAX_VALUE {
                return Err(format!("the result is longer than {MAX_VALUE} characters"));
            }
        }
        Ok(out)
    }
}

/// Where an action's `}}` is, outside string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(b'"') if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// Turns one action's tokens into pipelines (appended to `pipelines`); returns the index of
/// the action's own pipeline. An explicit stack of open pipelines stands for the nesting.
fn build(tokens: &[Token], pipelines: &mut Vec<Vec<Command>>) -> Result<usize, String> {
    let mut stack: Vec<Open> = vec![Open::default()];
    for t in tokens {
        match t {
            Token::Operand(op) => {
                let top = stack.last_mut().ok_or("unbalanced ( )")?;
                top.current.push(op.clone());
            }
            Token::Pipe => stack.last_mut().ok_or("unbalanced ( )")?.end_command()?,
            Token::Open => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("( ) nest deeper than {MAX_DEPTH}"));
                }
                stack.push(Open::default());
            }
            Token::Close => {
                if stack.len() < 2 {
                    return Err("a ) without its (".into());
                }
                let mut done = stack.pop().ok_or("unbalanced ( )")?;
                done.end_command()?;
                check_pipeline(&done.commands)?;
                pipelines.push(done.commands);
                let index = pipelines.len() - 1;
                stack
                    .last_mut()
                    .ok_or("unbalanced ( )")?
                    .current
                    .push(Operand::Sub(index));
            }
        }
    }
    if stack.len() != 1 {
        return Err("a ( is not closed".into());
    }
    let mut root = stack.pop().ok_or("unbalanced ( )")?;
    if root.commands.is_empty() && root.current.is_empty() {
        return Err("the action is empty".into());
    }
    root.end_command()?;
    check_pipeline(&root.commands)?;
    pipelines.push(root.commands);
    Ok(pipelines.len() - 1)
}

fn int_arg(f: Func, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => Err(format!("{} needs a number, got \"{s}\"", name_of(f))),
    }
}

fn call(
    f: Func,
    mut args: Vec<Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, String> {
    let take_str = |args: &mut Vec<Value>| args.pop().map(Value::into_string).unwrap_or_default();
    Ok(match f {
        Func::Printf => {
            let mut it = args.into_iter();
            let format = it.next().map(Value::into_string).unwrap_or_default();
            Value::Str(printf(&format, it.collect())?)
        }
        Func::Random => {
            let n = int_arg(f, args.first().ok_or("random needs a length")?)?;
            if !(1..=MAX_RANDOM).contains(&n) {
                return Err(format!(
                    "random takes a length from 1 to {MAX_RANDOM}, got {n}"
                ));
            }
            Value::Str(random_chars(n as usize)?)
        }
        Func::Truncate | Func::TruncateSha256 => {
            let s = take_str(&mut args);
            let n = int_arg(f, args.first().ok_or("truncate needs a length")?)?;
            Value::Str(truncate(f, n, &s)?)
        }
        Func::Uppercase => Value::Str(take_str(&mut args).to_uppercase()),
        Func::Lowercase => Value::Str(take_str(&mut args).to_lowercase()),
        Func::Replace => {
            let s = take_str(&mut args);
            let new = take_str(&mut args);
            let old = take_str(&mut args);
            if old.is_empty() {
                return Err("replace needs a non-empty text to replace".into());
            }
            Value::Str(s.replace(&old, &new))
        }
        Func::Sha256 => Value::Str(hex::encode(hush_crypto::hash::sha256(
            take_str(&mut args).as_bytes(),
        ))),
        Func::Base64 => {
            Value::Str(base64::engine::general_purpose::STANDARD.encode(take_str(&mut args)))
        }
        // Strings, as Vault's functions return them.
        Func::UnixTime => Value::Str(now.timestamp().to_string()),
        Func::UnixTimeMillis => Value::Str(now.timestamp_millis().to_string()),
        Func::Timestamp => Value::Str(go_time::format(now, &take_str(&mut args))),
        Func::Uuid => {
            let mut b = hush_crypto::random_bytes(16).map_err(|e| e.to_string())?;
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h = hex::encode(&b);
            Value::Str(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ))
        }
    })
}

fn truncate(f: Func, n: i64, s: &str) -> Result<String, String> {
    let count = s.chars().count();
    match f {
        Func::TruncateSha256 => {
            if n <= 8 {
                return Err(format!("truncate_sha256 takes a length above 8, got {n}"));
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if count <= n {
                return Ok(s.to_string());
            }
            let keep: String = s.chars().take(n - 8).collect();
            let cut: String = s.chars().skip(n - 8).collect();
            let hash = hex::encode(hush_crypto::hash::sha256(cut.as_bytes()));
            Ok(format!("{keep}{}", &hash[..8]))
        }
        _ => {
            if n <= 0 {
                return Err(format!("truncate takes a length above 0, got {n}"));
            }
            Ok(s.chars()
                .take(usize::try_from(n).unwrap_or(usize::MAX))
                .collect())
        }
    }
}

fn printf(format: &str, args: Vec<Value>) -> Result<String, String> {
    let want = printf_arguments(format)?;
    if want != args.len() {
        return Err(format!(
            "printf's format \"{format}\" takes {want} values, got {}",
            args.len()
        ));
    }
    let mut args = args.into_iter();
    let mut out = String::new();
    let mut it = format.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('%') => out.push('%'),
            Some(verb) => {
                let v = args.next().ok_or("printf ran out of values")?;
                match (verb, v) {
                    ('d', Value::Str(s)) => {
                        return Err(format!("printf %d needs a number, got \"{s}\""))
                    }
                    ('q', v) => {
                        let _ = write!(out, "{:?}", v.into_string());
                    }
                    (_, v) => out.push_str(&v.into_string()),
                }
            }
            None => return Err("printf's format ends in %".into()),
        }
    }
    Ok(out)
}

/// `n` characters of `a-zA-Z0-9`, each drawn without bias from the CSPRNG.
fn random_chars(n: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(n);
    for _ in 0..n {
        let i = hush_crypto::random_below(ALPHABET.len() as u32).map_err(|e| e.to_string())?;
        out.push(char::from(ALPHABET[i as usize]));
    }
    Ok(out)
}

/// Go's time layouts (`time.Time.Format`), for `timestamp`.
mod go_time {
    use chrono::{DateTime, Datelike, Timelike, Utc};

    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];

    /// `t` (UTC) written in Go's `layout`, whose reference time is
    /// `Mon Jan 2 15:04:05 MST 2006`; what is not a layout element is copied.
    pub fn format(t: DateTime<Utc>, layout: &str) -> String {
        let month = t.month0() as usize;
        let day = DAYS[t.weekday().num_days_from_sunday() as usize];
        let hour12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        let mut out = String::new();
        let mut rest = layout;
        while let Some(c) = rest.chars().next() {
            // Go's order of matching: the longer element first where two share a start.
            let elements: [(&str, String); 33] = [
                ("January", MONTHS[month].to_string()),
                ("Jan", MONTHS[month][..3].to_string()),
                ("Monday", day.to_string()),
                ("Mon", day[..3].to_string()),
                ("MST", "UTC".to_string()),
                ("2006", format!("{:04}", t.year())),
                ("002", format!("{:03}", t.ordinal())),
                ("01", format!("{:02}", t.month())),
                ("02", format!("{:02}", t.day())),
                ("03", format!("{hour12:02}")),
                ("04", format!("{:02}", t.minute())),
                ("05", format!("{:02}", t.second())),
                ("06", format!("{:02}", t.year().rem_euclid(100))),
                ("15", format!("{:02}", t.hour())),
                ("__2", format!("{:>3}", t.ordinal())),
                ("_2", format!("{:>2}", t.day())),
                ("1", t.month().to_string()),
                ("2", t.day().to_string()),
                ("3", hour12.to_string()),
                ("4", t.minute().to_string()),
                ("5", t.second().to_string()),
                ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.to_string()),
                ("pm", if t.hour() >= 12 { "pm" } else { "am" }.to_string()),
                ("-07:00:00", "+00:00:00".to_string()),
                ("-070000", "+000000".to_string()),
                ("-07:00", "+00:00".to_string()),
                ("-0700", "+0000".to_string()),
                ("-07", "+00".to_string()),
                ("Z07:00:00", "Z".to_string()),
                ("Z070000", "Z".to_string()),
                ("Z07:00", "Z".to_string()),
                ("Z0700", "Z".to_string()),
                ("Z07", "Z".to_string()),
            ];
            if let Some((e, v)) = elements.iter().find(|(e, _)| rest.starts_with(e)) {
                out.push_str(v);
                rest = &rest[e.len()..];
                continue;
            }
            // Fractional seconds: a . or , and a run of 0s (fixed width) or 9s (trailing
            // zeros dropped), not followed by another digit.
            if c == '.' || c == ',' {
                let digits = &rest[1..];
                let run = digits
                    .chars()
                    .take_while(|d| *d == '0')
                    .count()
                    .max(digits.chars().take_while(|d| *d == '9').count());
                let next_is_digit = digits[run..]
                    .chars()
                    .next()
                    .is_some_and(|d| d.is_ascii_digit());
                if run > 0 && !next_is_digit {
                    let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                    let width = run.min(9);
                    let mut frac = nanos[..width].to_string();
                    if digits.starts_with('9') {
                        frac = frac.trim_end_matches('0').to_string();
                        if !frac.is_empty() {
                            out.push(c);
                        }
                    } else {
                        out.push(c);
                    }
                    out.push_str(&frac);
                    rest = &rest[1 + run..];
                    continue;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Vault's default template of the PostgreSQL plugin.
pub const POSTGRES_DEFAULT: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;
/// Vault's default template of the MySQL plugin.
pub const MYSQL_DEFAULT: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) (unix_time) | truncate 32 }}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(display: &str, role: &str) -> Metadata {
        Metadata {
            display_name: display.into(),
            role_name: role.into(),
        }
    }

    fn render(t: &str, m: &Metadata) -> String {
        Template::parse(t).unwrap().render(m).unwrap()
    }

    #[test]
    fn vaults_default_templates_give_vaults_shapes() {
        let m = meta("token", "myrolename");
        let pg = render(POSTGRES_DEFAULT, &m);
        let parts: Vec<&str> = pg.split('-').collect();
        assert_eq!(parts[..3], ["v", "token", "myrolena"], "{pg}");
        assert_eq!(parts[3].len(), 20);
        assert!(parts[4].parse::<i64>().unwrap() > 1_600_000_000);
        let my = render(
            MYSQL_DEFAULT,
            &meta("amuchlonger_dispname", "role-name-with-dashes"),
        );
        assert_eq!(my.len(), 32);
        assert!(my.starts_with("v-amuchlonge-role-name--"), "{my}");
    }

    #[test]
    fn vaults_documented_examples() {
        let m = meta("token-with-display-name", "my_custom_database_role");
        assert_eq!(
            render("{{.DisplayName}}_{{.RoleName}}", &m),
            "token-with-display-name_my_custom_database_role"
        );
        let s = render(
            r#"FOO_{{.DisplayName | replace "-" "_" | uppercase}}_{{.RoleName | replace "-" "_" | uppercase}}"#,
            &m,
        );
        assert_eq!(s, "FOO_TOKEN_WITH_DISPLAY_NAME_MY_CUSTOM_DATABASE_ROLE");
        let s = render(
            r#"{{printf "v_%s_%s_%s_%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 45}}"#,
            &m,
        );
        assert_eq!(s.len(), 45);
        assert!(s.starts_with("v_token-wi_my_custo_"));
        assert_eq!(
            render(
                r#"{{ "abcdefghijklmnopqrstuvwxyz" | truncate_sha256 20 }}"#,
                &m
            ),
            "abcdefghijkl872808ff"
        );
        assert_eq!(
            render("{{ .RoleName | lowercase | base64 }}", &meta("", "AB")),
            "YWI="
        );
        assert_eq!(
            render("{{ .RoleName | sha256 }}", &meta("", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let u = render("{{uuid}}", &m);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(render("{{unix_time_millis}}", &m).parse::<i64>().unwrap() > 1_600_000_000_000);
        assert_eq!(render("a {{- \"b\" -}} c", &m), "abc");
    }

    #[test]
    fn go_layouts() {
        let t = chrono::DateTime::from_timestamp(1_234_567_890, 120_000_000).unwrap();
        assert_eq!(
            go_time::format(t, "2006-01-02T15:04:05Z07:00"),
            "2009-02-13T23:31:30Z"
        );
        assert_eq!(
            go_time::format(t, "Jan _2 3:04PM Mon MST"),
            "Feb 13 11:31PM Fri UTC"
        );
        assert_eq!(
            go_time::format(t, "20060102.000 .999 -0700"),
            "20090213.120 .12 +0000"
        );
        assert_eq!(
            go_time::format(t, "January Monday 002"),
            "February Friday 044"
        );
    }

    #[test]
    fn bad_templates_say_why() {
        for (t, why) in [
            ("{{.Foo}}", "no field .Foo"),
            ("{{nope 1}}", "no function nope"),
            ("{{if .RoleName}}x{{end}}", "'if' is not supported"),
            ("{{random}}", "random takes 1 argument, got 0"),
            (
                "{{.RoleName | truncate}}",
                "truncate takes 2 arguments, got 1",
            ),
            ("{{printf \"%s-%s\" .RoleName}}", "takes 2 values, got 1"),
            ("{{printf \"%x\" .RoleName}}", "%x is not supported"),
            ("{{ (.RoleName }}", "not closed"),
            ("{{ .RoleName ) }}", "without its ("),
            ("{{ .RoleName", "not closed with }}"),
            ("{{ }}", "empty"),
            ("{{ .RoleName | | lowercase }}", "empty command"),
            (
                "{{ .RoleName .DisplayName }}",
                "only a function takes arguments",
            ),
            ("{{ $x := 1 }}", "variables"),
            ("{{ \"abc }}", "not closed"),
            ("x }}", "without its {{"),
            ("{{ ((((((((((.RoleName)))))))))) }}", "nest deeper"),
        ] {
            let e = Template::parse(t).expect_err(t);
            assert!(e.contains(why), "{t}: {e}");
        }
        let long = "a".repeat(MAX_TEMPLATE + 1);
        assert!(Template::parse(&long).is_err());
        for (t, why) in [
            ("{{ random 0 }}", "from 1 to"),
            ("{{ .RoleName | truncate 0 }}", "above 0"),
            ("{{ .RoleName | truncate_sha256 8 }}", "above 8"),
            ("{{ .RoleName | truncate \"x\" }}", "needs a number"),
            ("{{ random 1024 | replace \"a\" (random 1024) | replace \"b\" (random 1024) | replace \"c\" (random 1024) }}", ""),
        ] {
            let r = Template::parse(t).unwrap().render(&meta("d", "r"));
            if why.is_empty() {
                // Bounded: either a value within the limit or the error that names it.
                if let Err(e) = r {
                    assert!(e.contains("longer than"), "{e}");
                }
            } else {
                assert!(r.expect_err(t).contains(why), "{t}");
            }
        }
    }
}
