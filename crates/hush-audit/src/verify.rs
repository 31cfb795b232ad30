//! Offline verification of a chained audit log.

use std::io::BufRead;

use crate::chain::{chain_field, line_hash, ChainHead, GENESIS_HASH};

/// What kind of break [`verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// The input could not be read.
    ReadError,
    /// A line is not a JSON object (garbage, a blank line, or a partial line followed by others).
    InvalidJson,
    /// A line has no well-formed `hush_chain` field.
    MissingChain,
    /// The first line's seq and prev disagree: seq 1 must have the genesis prev, and a later seq
    /// (a log rotated from an earlier file) must not.
    BadStart,
    /// A line carries another device's id (copied from another device's log).
    DeviceChanged,
    /// A seq was skipped: lines were deleted (or two lines swapped, which first looks the same).
    SeqGap,
    /// A seq repeats or goes back: a line was inserted (copied or fabricated) or lines reordered.
    SeqNotIncreasing,
    /// A line's prev is not the hash of the line before it: that line was edited, or this one
    /// was inserted or replaced.
    PrevMismatch,
    /// The last line has no newline: the file was cut in the middle of that line.
    IncompleteLastLine,
    /// The log ends before the expected head: lines were cut off the end.
    TruncatedAtEnd,
    /// The line at the expected head's seq does not have the expected hash: the log (or its end)
    /// was rewritten.
    HeadMismatch,
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when no problem was found.
    pub ok: bool,
    /// Number of lines in the input (every line, also those after a problem; a final line
    /// without newline counts).
    pub lines: u64,
    /// 1-based number of the first line found bad. For [`Problem::TruncatedAtEnd`] it is
    /// `lines + 1`, where the missing lines should have started.
    pub first_bad_line: Option<u64>,
    /// Human-readable description of the problem, naming seqs and line numbers.
    pub problem: Option<String>,
    /// Machine-readable kind of the problem.
    pub kind: Option<Problem>,
    /// Head of the last line that verified, i.e. the end of the trustworthy prefix (the whole
    /// log when `ok`). `None` when not even the first line verified.
    pub last: Option<ChainHead>,
    /// Seq of the first line. Greater than 1 for a log that continues a rotated one.
    pub first_seq: Option<u64>,
    /// Device id of the last chain: the device writing the file now.
    pub device: Option<String>,
    /// How many device chains follow each other in the file: more than one when a device was
    /// enabled onto a file another device wrote (each later chain's first line links to the
    /// line before it).
    pub segments: u64,
}

struct Failure {
    line: u64,
    kind: Problem,
    message: String,
}

struct Verifier<'a> {
    expected: Option<&'a ChainHead>,
    lines: u64,
    last: Option<ChainHead>,
    first_seq: Option<u64>,
    device: Option<String>,
    /// Device chains in the file so far.
    segments: u64,
    /// The current segment's line at the expected head's seq: (line number, seq, hash).
    head_seen: Option<(u64, u64, String)>,
    failure: Option<Failure>,
}

impl Verifier<'_> {
    fn fail(&mut self, line: u64, kind: Problem, message: String) {
        // A line at the expected head's seq that did not hash to it came first: it is the
        // first bad line (its edit is what broke the line after it).
        if self.failure.is_none() {
            if let Some((n, seq, hash)) = self.head_seen.take() {
                if let Some(e) = self.expected.filter(|e| e.hash != hash) {
                    self.failure = Some(Failure {
                        line: n,
                        kind: Problem::HeadMismatch,
                        message: head_mismatch(n, seq, &hash, e),
                    });
                    return;
                }
            }
        }
        if self.failure.is_none() {
            self.failure = Some(Failure {
                line,
                kind,
                message,
            });
        }
    }

    /// Checks one complete line (newline stripped); returns the failure, if any.
    fn check(&mut self, n: u64, line: &[u8]) -> Result<(), (Problem, String)> {
        let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
            let what = if line.iter().all(u8::is_ascii_whitespace) {
                "is empty".to_owned()
            } else {
                format!("is not valid JSON ({e})")
            };
            (Problem::InvalidJson, format!("line {n} {what}"))
        })?;
        if !value.is_object() {
            return Err((
                Problem::InvalidJson,
                format!("line {n} is JSON but not an object"),
            ));
        }
        let chain = chain_field(&value)
            .map_err(|why| (Problem::MissingChain, format!("line {n}: {why}")))?;
        let hash = line_hash(line);

        match (&self.last, &self.device) {
            // A device enabled onto a file another device wrote starts a new segment: seq 1
            // again, its own device id, and a prev that is the hash of the line before.
            (Some(last), Some(device))
                if &chain.device != device && chain.seq == 1 && chain.prev == last.hash =>
            {
                self.segments += 1;
                self.device = Some(chain.device.clone());
                self.head_seen = None;
            }
            (Some(last), Some(device)) => {
                if &chain.device != device {
                    return Err((
                        Problem::DeviceChanged,
                        format!(
                            "line {n} belongs to device \"{}\" but the log is device \"{device}\": \
                             a line was copied in from another device's log",
                            chain.device
                        ),
                    ));
                }
                let Some(want) = last.seq.checked_add(1) else {
                    return Err((
                        Problem::SeqNotIncreasing,
                        format!("line {n} follows a line with the largest possible seq"),
                    ));
                };
                if chain.seq > want {
                    return Err((
                        Problem::SeqGap,
                        format!(
                            "line {n} has seq {} but seq {want} was expected: {} line(s) were \
                             deleted before it, or lines were reordered",
                            chain.seq,
                            chain.seq - want
                        ),
                    ));
                }
                if chain.seq < want {
                    return Err((
                        Problem::SeqNotIncreasing,
                        format!(
                            "line {n} has seq {} which does not follow seq {} of the line before: \
                             a line was inserted (copied or fabricated) or lines were reordered",
                            chain.seq, last.seq
                        ),
                    ));
                }
                if chain.prev != last.hash {
                    return Err((
                        Problem::PrevMismatch,
                        format!(
                            "line {n} (seq {}) does not chain to line {}: its prev is {} but line \
                             {} hashes to {}; line {} was edited, or line {n} was fabricated",
                            chain.seq,
                            n - 1,
                            chain.prev,
                            n - 1,
                            last.hash,
                            n - 1
                        ),
                    ));
                }
            }
            _ => {
                if chain.seq == 1 && chain.prev != GENESIS_HASH {
                    return Err((
                        Problem::BadStart,
                        format!(
                            "line {n} has seq 1 but its prev is not the genesis hash (64 zeros): \
                             the start of the log was replaced"
                        ),
                    ));
                }
                if chain.seq > 1 && chain.prev == GENESIS_HASH {
                    return Err((
                        Problem::BadStart,
                        format!(
                            "line {n} has seq {} with the genesis prev: a log continuing a rotated \
                             one must link to the previous file's last line",
                            chain.seq
                        ),
                    ));
                }
                if let Some(e) = self.expected {
                    // The head sits just before this file (rotation): the first line must link
                    // to it.
                    if e.seq.checked_add(1) == Some(chain.seq) && chain.prev != e.hash {
                        return Err((
                            Problem::HeadMismatch,
                            format!(
                                "line {n} (seq {}) does not link to the expected head {e}",
                                chain.seq
                            ),
                        ));
                    }
                }
                self.first_seq = Some(chain.seq);
                self.device = Some(chain.device.clone());
                self.segments = 1;
            }
        }

        if let Some(e) = self.expected {
            // The expected head is the last segment's: a line of an earlier segment with the
            // same seq is judged only if no later segment follows (see `check_end`).
            if e.seq == chain.seq {
                self.head_seen = Some((n, chain.seq, hash.clone()));
            }
        }
        self.last = Some(ChainHead {
            seq: chain.seq,
            hash,
        });
        Ok(())
    }

    fn check_end(&mut self) {
        let Some(e) = self.expected else { return };
        if self.failure.is_some() || e.seq == 0 {
            return;
        }
        if let Some((n, seq, hash)) = self.head_seen.take() {
            if hash != e.hash {
                let msg = head_mismatch(n, seq, &hash, e);
                self.fail(n, Problem::HeadMismatch, msg);
                return;
            }
        }
        let end = self.lines + 1;
        match &self.last {
            None => self.fail(
                end,
                Problem::TruncatedAtEnd,
                format!(
                    "the log is empty but the expected head is seq {}: it was truncated",
                    e.seq
                ),
            ),
            Some(last) if last.seq < e.seq => {
                let msg = format!(
                    "the log ends at seq {} (line {}) but the expected head is seq {}: {} line(s) \
                     were cut off the end",
                    last.seq,
                    self.lines,
                    e.seq,
                    e.seq - last.seq
                );
                self.fail(end, Problem::TruncatedAtEnd, msg);
            }
            // The head was inside this log (checked line by line) or precedes it (rotation).
            Some(_) => {}
        }
    }
}

fn head_mismatch(n: u64, seq: u64, hash: &str, e: &ChainHead) -> String {
    format!(
        "line {n} (seq {seq}) hashes to {hash}, not to the expected head's {}: the log was \
         rewritten from this line on or before",
        e.hash
    )
}

/// Verifies a chained audit log offline and reports the first bad line.
///
/// Each line must be a JSON object with a `hush_chain` field whose `seq` is one more than the
/// previous line's, whose `device` is the same as the previous line's, and whose `prev` is the
/// SHA-256 of the previous line's exact bytes. The one exception starts a new segment: a line
/// of another device with seq 1 whose `prev` is the previous line's hash (a device enabled onto
/// a file another device wrote); `segments` counts them, and an expected head is the last
/// segment's. An edit to a line's content is therefore reported
/// at the **next** line ([`Problem::PrevMismatch`]); an edit to the last line is only detectable
/// with `expected_head`. The first line may have a seq above 1 (the file continues a rotated
/// one) as long as its prev is not the genesis hash; `first_seq` reports it.
///
/// `expected_head` (from the server, or typed as `SEQ:HASH`) adds: a log that ends before it is
/// [`Problem::TruncatedAtEnd`]; a line with its seq but another hash is
/// [`Problem::HeadMismatch`]. A log that goes on past the head is fine (the head may be older
/// than the file).
pub fn verify(mut reader: impl BufRead, expected_head: Option<&ChainHead>) -> VerifyReport {
    let mut v = Verifier {
        expected: expected_head,
        lines: 0,
        last: None,
        first_seq: None,
        device: None,
        segments: 0,
        head_seen: None,
        failure: None,
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let n = v.lines + 1;
                v.fail(
                    n,
                    Problem::ReadError,
                    format!("reading line {n} failed: {e}"),
                );
                break;
            }
        }
        v.lines += 1;
        let n = v.lines;
        // After the first failure keep reading only to count lines.
        if v.failure.is_some() {
            continue;
        }
        let Some(line) = buf.strip_suffix(b"\n") else {
            v.fail(
                n,
                Problem::IncompleteLastLine,
                format!(
                    "line {n} has no terminating newline: the file was cut in the middle of this \
                     line (truncated, or a write torn by a crash)"
                ),
            );
            continue;
        };
        if let Err((kind, message)) = v.check(n, line) {
            v.fail(n, kind, message);
        }
    }
    v.check_end();
    let ok = v.failure.is_none();
    let (first_bad_line, kind, problem) = match v.failure {
        Some(f) => (Some(f.line), Some(f.kind), Some(f.message)),
        None => (None, None, None),
    };
    VerifyReport {
        ok,
        lines: v.lines,
        first_bad_line,
        problem,
        kind,
        last: v.last,
        first_seq: v.first_seq,
        device: v.device,
        segments: v.segments,
    }
}
