//! Opening a log and resuming its chain: the file's last line against the recorded head,
//! truncations and foreign files, and the tamper notice a resumed log starts with.

use super::*;

pub(super) fn tamper_notice(
    device: &str,
    expected: Option<&ChainHead>,
    report: &OpenReport,
) -> Option<Value> {
    if report.warnings.is_empty() {
        return None;
    }
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    Some(json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "type": "hush_audit_notice",
        "hush_notice": {
            "event": "chain_resumed_with_warnings",
            "device": device,
            "expected_head": expected,
            "file_head": report.file_head,
            "resumed_head": report.head,
            "warnings": warnings,
        }
    }))
}

/// Whether the file's first line is a chained audit entry (read from offset 0, at most 1 MiB).
pub(super) fn starts_with_chained_line(file: &File) -> std::io::Result<bool> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut offset = 0u64;
    while buf.len() < (1 << 20) {
        let n = file.read_at(&mut chunk, offset)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            buf.truncate(end);
            return Ok(parse_line(&buf).is_ok());
        }
    }
    Ok(parse_line(&buf).is_ok())
}

/// The blocking part of `open` for a file path.
pub(super) fn open_file(
    path: &str,
    device: &str,
    expected: Option<&ChainHead>,
    rotated: bool,
) -> Result<(File, OpenReport), AuditError> {
    let io_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    let refused = |reason: String| AuditError::Refused {
        path: path.to_owned(),
        reason,
    };
    let p = Path::new(path);
    // Nothing is created but the log itself: a path under a directory that does not exist is
    // a mistake (or an attempt to plant a file somewhere new), not a request to make one.
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(refused(format!(
                "its directory {} does not exist; create it (mode 0700) first",
                parent.display()
            )));
        }
    }
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refused(
            "it is a symbolic link; give the path of the log file itself".into(),
        ));
    }
    // Read access is needed to resume the chain from the file's end. O_NOFOLLOW closes the
    // window between the check above and the open.
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(p)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(AuditError::NotAFile {
            path: path.to_owned(),
        });
    }
    // An existing file is only ever appended to if it already is an audit log: its first line
    // is a chained entry. Anything else (a key file, a config) is left exactly as it is.
    if meta.len() > 0 && !starts_with_chained_line(&file).map_err(io_err)? {
        return Err(refused(
            "the file exists and is not a hush audit log (its first line is not a chained audit \
             entry); it was left unchanged: choose a new file name"
                .into(),
        ));
    }
    let mut warnings = Vec::new();
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err)?;
        warnings.push(OpenWarning::PermissionsTightened { old_mode: mode });
    }

    let len = meta.len();
    let mut end = len;
    if len > 0 {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1).map_err(io_err)?;
        if last[0] != b'\n' {
            end = end_of_last_complete_line(&file, len).map_err(io_err)?;
            file.set_len(end).map_err(io_err)?;
            // The trim must be durable before new lines land after it.
            file.sync_data().map_err(io_err)?;
            warnings.push(OpenWarning::TornTail { bytes: len - end });
        }
    }

    let mut rev = RevLines::new(&file, end);
    let last_line = rev.next_line().map_err(io_err)?;
    let (head, resumed_from, file_head) = match last_line {
        None => match expected {
            Some(e) if rotated => (e.clone(), ResumeSource::ExpectedHead, None),
            Some(e) if e.seq > 0 => {
                warnings.push(OpenWarning::HeadMismatch {
                    expected: e.clone(),
                    file_head: None,
                    detail: format!(
                        "the file is empty or new but this device last wrote seq {}: it was \
                         deleted or truncated (or rotated away: then verify the rotated files \
                         together)",
                        e.seq
                    ),
                });
                (e.clone(), ResumeSource::ExpectedHead, None)
            }
            _ => (ChainHead::genesis(), ResumeSource::Genesis, None),
        },
        Some(line) => {
            let hash = line_hash(&line);
            match parse_line(&line) {
                Err(detail) => {
                    warnings.push(OpenWarning::UnchainedLastLine { detail });
                    match expected {
                        Some(e) => (e.clone(), ResumeSource::ExpectedHead, None),
                        None => (ChainHead { seq: 0, hash }, ResumeSource::File, None),
                    }
                }
                // A device that has written nothing yet, enabled onto a file another device
                // wrote (the same path disabled and enabled again, as Vault users do): its chain
                // starts a new segment whose first line links to the file's last line, so the
                // whole file still verifies as one sequence of chains.
                Ok(c) if c.device != device && expected.is_none_or(|e| e.seq == 0) => {
                    (ChainHead { seq: 0, hash }, ResumeSource::File, None)
                }
                Ok(c) if c.device != device => {
                    return Err(AuditError::ForeignChain {
                        path: path.to_owned(),
                        found: c.device,
                        device: device.to_owned(),
                    })
                }
                Ok(c) => {
                    let fh = ChainHead { seq: c.seq, hash };
                    let mismatch = match expected {
                        None => None,
                        Some(e) => compare_with_expected(&mut rev, &fh, &c, e).map_err(io_err)?,
                    };
                    match (mismatch, expected) {
                        (Some(detail), Some(e)) => {
                            warnings.push(OpenWarning::HeadMismatch {
                                expected: e.clone(),
                                file_head: Some(fh.clone()),
                                detail,
                            });
                            // Continue from the recorded head (with a seq past both) so the
                            // first new line cannot chain to the file: the break stays visible.
                            let head = ChainHead {
                                seq: fh.seq.max(e.seq),
                                hash: e.hash.clone(),
                            };
                            (head, ResumeSource::ExpectedHead, Some(fh))
                        }
                        _ => (fh.clone(), ResumeSource::File, Some(fh)),
                    }
                }
            }
        }
    };
    let report = OpenReport {
        head,
        resumed_from,
        file_head,
        warnings,
    };
    Ok((file, report))
}

/// Checks that the file's chain passes through the recorded head `e`; returns what differs.
///
/// `fh` / `last` are the file's last line. When the file is ahead of `e`, walks back to the
/// line with seq `e.seq + 1` and checks that its prev is `e.hash`.
pub(super) fn compare_with_expected(
    rev: &mut RevLines<'_>,
    fh: &ChainHead,
    last: &ChainField,
    e: &ChainHead,
) -> io::Result<Option<String>> {
    if fh.seq == e.seq {
        return Ok((fh.hash != e.hash).then(|| {
            format!(
                "the file's last line (seq {}) hashes to {} instead of {}: it was edited or the \
                 file was replaced",
                fh.seq, fh.hash, e.hash
            )
        }));
    }
    if fh.seq < e.seq {
        return Ok(Some(format!(
            "the file ends at seq {} but this device last wrote seq {}: {} line(s) are missing \
             (the file was truncated or replaced)",
            fh.seq,
            e.seq,
            e.seq - fh.seq
        )));
    }
    // fh.seq > e.seq, so e.seq + 1 <= fh.seq cannot overflow.
    let target = e.seq + 1;
    let mut current = last.clone();
    loop {
        if current.seq == target {
            return Ok((current.prev != e.hash).then(|| {
                format!(
                    "the file goes on to seq {} but its line with seq {target} does not link to \
                     the recorded head: the file was replaced or rewritten",
                    fh.seq
                )
            }));
        }
        let next = match rev.next_line()? {
            Some(line) => parse_line(&line),
            None => Err("reached the start of the file".to_owned()),
        };
        match next {
            Ok(c) if c.seq < current.seq && c.seq >= target => current = c,
            Ok(_) | Err(_) => {
                return Ok(Some(format!(
                    "the file goes on to seq {} but no intact line with seq {target} links to the \
                     recorded head: the file was replaced or rewritten",
                    fh.seq
                )))
            }
        }
    }
}
