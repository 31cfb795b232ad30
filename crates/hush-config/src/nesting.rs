//! A bound on nesting, checked before any recursive parser sees outside input.
//!
//! The HCL parser (and the code that walks what it returns) recurses once per bracket level and
//! once per operator of an expression (`!!!!x`, `1+1+1+...`, `a ? b : c ? ...`), so a small text
//! nested a few hundred levels deep would overflow a thread's stack and abort the whole server.
//! This scan is iterative and runs first: text nested deeper than the limit is refused with an
//! error that names the limit and the line.
//!
//! The scan knows HCL's lexical structure (quoted strings with `${...}` and `%{...}` inside,
//! heredocs, comments) and counts, for every open bracket, the operators of the expression
//! being written inside it: the depth of a point in the text is the number of brackets around
//! it plus the operators before it in each enclosing expression. That is an upper bound of the
//! parser's recursion there. An expression ends at a comma, and at a newline where newlines
//! separate items (the top level, blocks and objects), which resets its count.

/// The deepest nesting accepted in policy and configuration text, counting brackets and
/// operators. Real policies and configurations use fewer than ten levels.
pub const MAX_NESTING: usize = 64;

/// Why [`check`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Nested deeper than the limit.
    #[error(
        "brackets and operators are nested more than {limit} levels deep at line {line}; no \
         policy or configuration needs that many: flatten the structure"
    )]
    TooDeep {
        /// The limit that was crossed.
        limit: usize,
        /// One-based line where it was crossed.
        line: usize,
    },
    /// A bracket, string or heredoc that is not closed, or a closer that matches nothing. The
    /// HCL parser's search for a reading of such text can take time exponential in its depth,
    /// so it never sees it.
    #[error("{detail}")]
    Unbalanced {
        /// One-based line of the offending opener or closer.
        line: usize,
        /// What is wrong, naming the bracket and lines.
        detail: String,
    },
}

impl Refused {
    /// The one-based line the refusal points at.
    pub fn line(&self) -> usize {
        match self {
            Refused::TooDeep { line, .. } | Refused::Unbalanced { line, .. } => *line,
        }
    }
}

/// What an open frame of the scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The document itself (items separated by newlines).
    Top,
    /// `{`: a block body or an object (items separated by newlines or commas).
    Brace,
    /// `[` or `(` (the byte is kept): items separated by commas; newlines continue the
    /// expression.
    Bracket(u8),
    /// `${` or `%{` inside a string or heredoc: code up to the matching `}`.
    Interp,
    /// Inside a quoted string.
    Quoted,
    /// Inside a heredoc; `marker` indexes the text of its closing marker.
    Heredoc { marker: (usize, usize) },
}

struct Frame {
    kind: Kind,
    /// Operators of the current expression in this frame.
    ops: usize,
    /// Where it was opened.
    line: usize,
}

impl Frame {
    /// What this frame adds to the depth.
    fn weight(&self) -> usize {
        let own = usize::from(self.kind != Kind::Top);
        own + self.ops
    }
}

/// Refuses `text` if its brackets and operators nest more than `limit` levels. Unbalanced
/// closers never lower the depth below the document's own level, so stray ones cannot hide a
/// deep run after them.
pub fn check(text: &str, limit: usize) -> Result<(), Refused> {
    let b = text.as_bytes();
    let mut stack = vec![Frame {
        kind: Kind::Top,
        ops: 0,
        line: 1,
    }];
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut i = 0usize;
    let deeper = |depth: &mut usize, by: usize, line: usize| {
        *depth += by;
        if *depth > limit {
            Err(Refused::TooDeep { limit, line })
        } else {
            Ok(())
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'\n' {
            line += 1;
        }
        let top = stack.len() - 1;
        // Template text (strings and heredocs): `${` and `%{` open code up to their `}`;
        // `$${` and `%%{` are escapes of that literal text.
        let template = matches!(stack[top].kind, Kind::Quoted | Kind::Heredoc { .. });
        if template && (c == b'$' || c == b'%') {
            if next == Some(c) && b.get(i + 2) == Some(&b'{') {
                i += 3;
                continue;
            }
            if next == Some(b'{') {
                stack.push(Frame {
                    kind: Kind::Interp,
                    ops: 0,
                    line,
                });
                deeper(&mut depth, 1, line)?;
                i += 2;
                continue;
            }
        }
        match stack[top].kind {
            Kind::Quoted => match c {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                _ => {}
            },
            Kind::Heredoc { marker } => {
                if c == b'\n' {
                    // A line that is the marker alone (indented for `<<-`) ends the heredoc.
                    let end = b[i + 1..]
                        .iter()
                        .position(|&x| x == b'\n')
                        .map_or(b.len(), |p| i + 1 + p);
                    let candidate = text.get(i + 1..end).unwrap_or("").trim();
                    if candidate == &text[marker.0..marker.1] {
                        stack.pop();
                        i = end;
                        continue;
                    }
                }
            }
            kind => match c {
                b'"' => stack.push(Frame {
                    kind: Kind::Quoted,
                    ops: 0,
                    line,
                }),
                b'#' => {
                    i = skip_line(b, i);
                    continue;
                }
                b'/' if next == Some(b'/') => {
                    i = skip_line(b, i);
                    continue;
                }
                b'/' if next == Some(b'*') => {
                    let end = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                    line += text[i..end].bytes().filter(|&x| x == b'\n').count();
                    i = end;
                    continue;
                }
                b'<' if next == Some(b'<') => {
                    // `<<MARKER` or `<<-MARKER`: the marker runs to the end of the line.
                    let start = i + 2 + usize::from(b.get(i + 2) == Some(&b'-'));
                    let end = skip_line(b, start);
                    let marker = text[start..end].trim();
                    if marker.is_empty() {
                        deeper(&mut depth, 2, line)?;
                        stack[top].ops += 2;
                        i += 2;
                        continue;
                    }
                    let from =
                        start + (text[start..end].len() - text[start..end].trim_start().len());
                    stack.push(Frame {
                        kind: Kind::Heredoc {
                            marker: (from, from + marker.len()),
                        },
                        ops: 0,
                        line,
                    });
                    i = end;
                    continue;
                }
                b'{' | b'[' | b'(' => {
                    stack.push(Frame {
                        kind: if c == b'{' {
                            Kind::Brace
                        } else {
                            Kind::Bracket(c)
                        },
                        ops: 0,
                        line,
                    });
                    deeper(&mut depth, 1, line)?;
                }
                b'}' | b']' | b')' => {
                    let opener = match (kind, c) {
                        (Kind::Brace | Kind::Interp, b'}')
                        | (Kind::Bracket(b'['), b']')
                        | (Kind::Bracket(b'('), b')') => None,
                        (Kind::Top, _) => {
                            return Err(Refused::Unbalanced {
                                line,
                                detail: format!(
                                    "`{}` at line {line} closes nothing: remove it or add its \
                                     opening bracket",
                                    c as char
                                ),
                            })
                        }
                        (Kind::Bracket(o), _) => Some(o as char),
                        _ => Some('{'),
                    };
                    if let Some(o) = opener {
                        return Err(Refused::Unbalanced {
                            line,
                            detail: format!(
                                "`{}` at line {line} does not match the `{o}` opened at line {}",
                                c as char, stack[top].line
                            ),
                        });
                    }
                    if let Some(f) = stack.pop() {
                        depth -= f.weight();
                    }
                }
                b',' => {
                    depth -= stack[top].ops;
                    stack[top].ops = 0;
                }
                b'\n' if matches!(kind, Kind::Top | Kind::Brace) => {
                    depth -= stack[top].ops;
                    stack[top].ops = 0;
                }
                b'!' | b'-' | b'+' | b'*' | b'/' | b'%' | b'<' | b'>' | b'&' | b'|' | b'?' => {
                    stack[top].ops += 1;
                    deeper(&mut depth, 1, line)?;
                }
                b'=' if next == Some(b'=') => {
                    stack[top].ops += 1;
                    deeper(&mut depth, 1, line)?;
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    match stack.last() {
        Some(f) if f.kind != Kind::Top => Err(Refused::Unbalanced {
            line: f.line,
            detail: match f.kind {
                Kind::Quoted => format!("the string opened at line {} is not closed", f.line),
                Kind::Heredoc { .. } => format!(
                    "the heredoc opened at line {} has no line with its closing marker",
                    f.line
                ),
                Kind::Interp => format!("the `${{` opened at line {} is not closed", f.line),
                Kind::Brace => format!("the `{{` opened at line {} is not closed", f.line),
                Kind::Bracket(o) => {
                    format!(
                        "the `{}` opened at line {} is not closed",
                        o as char, f.line
                    )
                }
                Kind::Top => String::new(),
            },
        }),
        _ => Ok(()),
    }
}

/// The index of the newline ending the line that `i` is on (or the end of the text).
fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&x| x == b'\n')
        .map_or(b.len(), |p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_nesting() {
        assert!(check("path \"a\" { capabilities = [\"read\"] }", MAX_NESTING).is_ok());
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(check(&ok, MAX_NESTING).is_ok());
        let deep = format!("x = 1\n{}", "[{(".repeat(22));
        assert_eq!(
            check(&deep, MAX_NESTING),
            Err(Refused::TooDeep { limit: 64, line: 2 })
        );
        // A stray closer is refused, so it cannot hide a deep run after it.
        let stray = format!("{}{}", "]".repeat(100), "[".repeat(65));
        assert!(check(&stray, MAX_NESTING).is_err());
    }

    #[test]
    fn unbalanced_text_is_refused_before_the_parser() {
        // Unclosed `[` inside `{`: the HCL parser's backtracking doubles per level.
        let text = format!("i = {{\n{}", "z.hcl[# c\n".repeat(30));
        let e = check(&text, MAX_NESTING).unwrap_err();
        assert!(
            e.to_string().contains("opened at line 31 is not closed"),
            "{e}"
        );
        for (text, want) in [
            (
                "a = [1, 2}",
                "`}` at line 1 does not match the `[` opened at line 1",
            ),
            ("a = 1\n]", "`]` at line 2 closes nothing"),
            ("a = \"open", "string opened at line 1 is not closed"),
            ("a = <<EOT\ntext\n", "heredoc opened at line 1"),
            ("a = \"${x\"", "is not closed"),
            ("b {\n a = (1\n}", "does not match the `(` opened at line 2"),
        ] {
            let e = check(text, MAX_NESTING).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        for text in [
            "a = \"]}) in a string\"\n# ]}) in a comment\nb = <<EOT\n]})\nEOT\n",
            "a = \"${f(\"x\")}\"",
            "p \"x\" { a = [{ b = (1) }] }",
            "path \"$$${\" { capabilities = [] }",
            "a = \"$$$${x}\"",
        ] {
            assert!(check(text, MAX_NESTING).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn operator_chains_count_as_nesting() {
        for chain in [
            format!("x = {}true", "!".repeat(65)),
            format!("x = {}1", "-".repeat(65)),
            format!("x = {}", vec!["1"; 66].join("+")),
            format!("x = {}2", "true ? 1 : ".repeat(65)),
            format!("x = [\n{}]", vec!["1"; 66].join("\n*")),
            format!("x = \"${{{}}}\"", vec!["a"; 66].join("||")),
            format!("x = <<EOT\n${{{}}}\nEOT\n", vec!["a"; 66].join("==")),
        ] {
            assert!(check(&chain, MAX_NESTING).is_err(), "{chain:.40}");
        }
    }

    #[test]
    fn separate_expressions_do_not_add_up() {
        let lines = vec!["a = -1 + 2 * 3"; 1000].join("\n");
        assert!(check(&lines, MAX_NESTING).is_ok());
        let list = format!("a = [{}]", vec!["-1"; 1000].join(", "));
        assert!(check(&list, MAX_NESTING).is_ok());
        let block = format!("path \"x\" {{\n{}\n}}", vec!["a = !b"; 1000].join("\n"));
        assert!(check(&block, MAX_NESTING).is_ok());
        // Operators inside strings, comments and heredoc text are not code.
        let text = format!(
            "a = \"{0}\"\n# {0}\n// {0}\n/* {0}\n*/\nb = <<-EOT\n  {0}\n  EOT\nc = \"$${{{0}\"\n",
            "-".repeat(500)
        );
        assert!(check(&text, MAX_NESTING).is_ok());
        let json = format!(
            "{{\"path\": {{{}}}}}",
            (0..500)
                .map(|n| format!("\"secret/my-app-{n}/*\": {{\"capabilities\": [\"read\"]}}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(check(&json, MAX_NESTING).is_ok());
    }
}
