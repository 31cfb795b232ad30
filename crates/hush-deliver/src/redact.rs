//! Streaming redaction of secret values in a child's output (`hush run --redact`).
//!
//! Every occurrence of a secret (of at least [`MIN_SECRET_LEN`] bytes) is replaced by
//! [`REDACTED`], also when it arrives split over several reads. Where secrets overlap, the
//! longest one that matches at the leftmost position wins.
//!
//! Output is never delayed unless it could be the beginning of a secret: at each position the
//! redactor either emits the byte, replaces a complete secret, or, when the bytes from there to
//! the end of what has been read so far are a proper prefix of some secret (longer than any
//! secret that already matches there), keeps them until more input decides. What is kept is
//! therefore always shorter than the longest secret, which bounds memory.

use zeroize::Zeroizing;

/// What a secret is replaced with.
pub const REDACTED: &[u8] = b"[REDACTED]";

/// Secrets shorter than this are not redacted: replacing every `1` or `yes` in the output
/// would destroy it without protecting anything.
pub const MIN_SECRET_LEN: usize = 4;

/// A stream redactor for one output stream.
pub struct Redactor {
    /// The secrets, longest first.
    secrets: Vec<Zeroizing<Vec<u8>>>,
    /// For each first byte, the indexes of the secrets starting with it, so that a byte that
    /// starts no secret costs one lookup.
    by_first: Vec<Vec<usize>>,
    /// Bytes read but not yet emitted (always a proper prefix of some secret).
    pending: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for `secrets`; values shorter than [`MIN_SECRET_LEN`] bytes are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut list: Vec<Zeroizing<Vec<u8>>> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .map(|s| Zeroizing::new(s.as_bytes().to_vec()))
            .collect();
        list.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        list.dedup();
        let mut by_first = vec![Vec::new(); 256];
        for (i, secret) in list.iter().enumerate() {
            by_first[usize::from(secret[0])].push(i);
        }
        Redactor {
            secrets: list,
            by_first,
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// The number of bytes held back, waiting to see whether they start a secret.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Feeds `input`; appends to `out` everything that can already be decided.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(input);
        self.process(false, out);
    }

    /// Ends the stream: appends the rest to `out` (a held prefix that never completed is not a
    /// secret and is emitted as it is).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.process(true, out);
    }

    fn process(&mut self, eof: bool, out: &mut Vec<u8>) {
        let buf = &self.pending[..];
        let mut i = 0;
        while i < buf.len() {
            let candidates = &self.by_first[usize::from(buf[i])];
            if candidates.is_empty() {
                // Emit the whole run of bytes that start no secret at once.
                let run = buf[i..]
                    .iter()
                    .position(|b| !self.by_first[usize::from(*b)].is_empty())
                    .unwrap_or(buf.len() - i);
                out.extend_from_slice(&buf[i..i + run]);
                i += run;
                continue;
            }
            let rest = &buf[i..];
            let mut longest_match = 0;
            let mut may_grow = false;
            for &c in candidates {
                let secret = &self.secrets[c][..];
                if rest.len() >= secret.len() {
                    if rest.starts_with(secret) && secret.len() > longest_match {
                        longest_match = secret.len();
                    }
                } else if !eof && secret.starts_with(rest) {
                    // `secret` is longer than anything that can match completely here, so it
                    // would win if the next read completes it.
                    may_grow = true;
                }
            }
            if may_grow {
                break;
            }
            if longest_match > 0 {
                out.extend_from_slice(REDACTED);
                i += longest_match;
            } else {
                out.push(buf[i]);
                i += 1;
            }
        }
        self.pending.drain(..i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_chunks(secrets: &[&str], chunks: &[&[u8]]) -> (String, Vec<usize>) {
        let mut r = Redactor::new(secrets.iter().copied());
        let mut out = Vec::new();
        let mut emitted_after = Vec::new();
        for chunk in chunks {
            r.push(chunk, &mut out);
            emitted_after.push(out.len());
        }
        r.finish(&mut out);
        (String::from_utf8(out).unwrap(), emitted_after)
    }

    #[test]
    fn replaces_whole_occurrences() {
        let (out, _) = redact_chunks(&["hunter22"], &[b"pw=hunter22; again hunter22."]);
        assert_eq!(out, "pw=[REDACTED]; again [REDACTED].");
    }

    #[test]
    fn split_across_reads() {
        let (out, emitted) = redact_chunks(&["s3cr3t-value"], &[b"token: s3cr3", b"t-value\n"]);
        assert_eq!(out, "token: [REDACTED]\n");
        // "token: " was emitted at once; only the possible prefix was held.
        assert_eq!(emitted[0], "token: ".len());
    }

    #[test]
    fn split_byte_by_byte() {
        let text = b"a-secret-b-secret";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        let (out, _) = redact_chunks(&["secret"], &chunks);
        assert_eq!(out, "a-[REDACTED]-b-[REDACTED]");
    }

    #[test]
    fn no_delay_without_candidates() {
        let (_, emitted) = redact_chunks(&["zzzz"], &[b"hello world\n"]);
        assert_eq!(emitted[0], 12);
    }

    #[test]
    fn a_prefix_that_does_not_complete_is_emitted() {
        let (out, emitted) = redact_chunks(&["password1"], &[b"pass", b"port\n"]);
        assert_eq!(emitted[0], 0);
        assert_eq!(out, "passport\n");
        let (out, _) = redact_chunks(&["password1"], &[b"the end: passw"]);
        assert_eq!(out, "the end: passw");
    }

    #[test]
    fn longest_match_wins() {
        let (out, _) = redact_chunks(&["abcd", "abcdefgh"], &[b"xabcdefghy abcdz"]);
        assert_eq!(out, "x[REDACTED]y [REDACTED]z");
        // The short one completes first but must wait for the longer one to be decided.
        let (out, _) = redact_chunks(&["abcd", "abcdefgh"], &[b"xabcd", b"efgh!"]);
        assert_eq!(out, "x[REDACTED]!");
        let (out, _) = redact_chunks(&["abcd", "abcdefgh"], &[b"xabcd", b"efg"]);
        assert_eq!(out, "x[REDACTED]efg");
    }

    #[test]
    fn short_values_are_ignored() {
        let (out, _) = redact_chunks(&["abc", ""], &[b"abc abc"]);
        assert_eq!(out, "abc abc");
    }

    #[test]
    fn memory_is_bounded_by_the_longest_secret() {
        let mut r = Redactor::new(["aaaaaaaa"]);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            r.push(b"a", &mut out);
            assert!(r.pending_len() < 8);
        }
        r.finish(&mut out);
        assert!(!out.contains(&b'a'), "runs of a are all secrets");
    }
}
