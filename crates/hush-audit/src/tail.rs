//! Reading an existing log from its end to resume the chain.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes read per step when walking backwards; doubled while a single line does not fit.
const CHUNK: u64 = 64 * 1024;

/// Yields the complete lines of `file[..end]` from the last to the first, without newlines.
///
/// `end` must be 0 or just after a `'\n'`. Reads go through `read_at` so the file's append
/// position is never disturbed.
pub(crate) struct RevLines<'a> {
    file: &'a File,
    /// File offset of `buf[0]`.
    start: u64,
    /// Bytes `[start, start + buf.len())`, all not yet returned; ends with `'\n'` unless empty.
    buf: Vec<u8>,
}

impl<'a> RevLines<'a> {
    pub(crate) fn new(file: &'a File, end: u64) -> Self {
        Self {
            file,
            start: end,
            buf: Vec::new(),
        }
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let n = self.buf.len();
            if n > 0 {
                let body = &self.buf[..n - 1];
                if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
                    let line = body[i + 1..].to_vec();
                    self.buf.truncate(i + 1);
                    return Ok(Some(line));
                }
                if self.start == 0 {
                    let line = body.to_vec();
                    self.buf.clear();
                    return Ok(Some(line));
                }
            } else if self.start == 0 {
                return Ok(None);
            }
            let step = self.start.min(CHUNK.max(n as u64));
            let new_start = self.start - step;
            // `step` is at most max(CHUNK, buf.len()), both of which fit in memory already.
            let mut more = vec![0u8; usize::try_from(step).map_err(io::Error::other)?];
            self.file.read_exact_at(&mut more, new_start)?;
            more.extend_from_slice(&self.buf);
            self.buf = more;
            self.start = new_start;
        }
    }
}

/// Offset just after the last `'\n'` in `file[..len]`, or 0 if there is none.
pub(crate) fn end_of_last_complete_line(file: &File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; usize::try_from(CHUNK).map_err(io::Error::other)?];
    while end > 0 {
        let step = end.min(CHUNK);
        let start = end - step;
        // `step <= CHUNK`, the chunk's length.
        let part = &mut chunk[..usize::try_from(step).map_err(io::Error::other)?];
        file.read_exact_at(part, start)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn all_rev(f: &File, end: u64) -> Vec<Vec<u8>> {
        let mut r = RevLines::new(f, end);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn reverse_lines_small_and_empty() {
        let f = file_with(b"a\nbb\n\nccc\n");
        assert_eq!(
            all_rev(&f, 10),
            vec![b"ccc".to_vec(), b"".to_vec(), b"bb".to_vec(), b"a".to_vec()]
        );
        assert!(all_rev(&f, 0).is_empty());
        assert_eq!(all_rev(&f, 2), vec![b"a".to_vec()]);
    }

    #[test]
    fn reverse_lines_longer_than_chunk() {
        let long = vec![b'x'; 200_000];
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.push(b'\n');
        content.extend_from_slice(b"last\n");
        let f = file_with(&content);
        let lines = all_rev(&f, content.len() as u64);
        assert_eq!(lines, vec![b"last".to_vec(), long, b"first".to_vec()]);
    }

    #[test]
    fn last_complete_line_end() {
        let f = file_with(b"one\ntwo\nthr");
        assert_eq!(end_of_last_complete_line(&f, 11).unwrap(), 8);
        let f = file_with(b"no newline at all");
        assert_eq!(end_of_last_complete_line(&f, 17).unwrap(), 0);
        let mut big = b"head\n".to_vec();
        big.extend(std::iter::repeat_n(b'y', 150_000));
        let f = file_with(&big);
        assert_eq!(end_of_last_complete_line(&f, big.len() as u64).unwrap(), 5);
    }
}
