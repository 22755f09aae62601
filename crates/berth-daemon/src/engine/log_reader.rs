//! Reading a container's json-file log for `logs`, in bounded memory: rotated files
//! (`<log>.N[.gz]`, oldest first) then the live one, line by line through a bounded
//! channel; `--tail N` read from the end of the files, never the whole of them; `--follow`
//! on from where the backlog stopped, across rotations.

use super::container::Container;
use berth_api::stream::StreamKind;
use berth_runtime::json_log::{rotated_path, LogLine};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// One piece of log output and the stream it belongs to.
pub type LogChunk = (StreamKind, Vec<u8>);

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// Lines from the end; none for all.
    pub tail: Option<usize>,
    pub since: Option<f64>,
    pub until: Option<f64>,
}

/// Rotated files looked for beyond what the options in force keep (they may have been
/// larger when the container was created).
const MAX_ROTATED: u32 = 100;
/// Bytes read at a time when reading backwards.
const CHUNK: u64 = 64 * 1024;

fn line_time(l: &LogLine) -> f64 {
    chrono::DateTime::parse_from_rfc3339(&l.time)
        .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

/// A raw json line as the client gets it, or None if the options filter it out.
fn render(raw: &[u8], o: &LogOptions) -> Option<LogChunk> {
    // A pod's container (CRI) writes the kubelet's format; every other one json-file.
    let l: LogLine = match serde_json::from_slice(raw) {
        Ok(l) => l,
        Err(_) => {
            let (time, stream, text) = berth_runtime::json_log::parse_cri_line(raw)?;
            LogLine {
                log: String::from_utf8_lossy(&text).into_owned(),
                stream: stream.to_string(),
                time: time.to_string(),
            }
        }
    };
    let kind = if l.stream == "stderr" {
        StreamKind::Stderr
    } else {
        StreamKind::Stdout
    };
    if (kind == StreamKind::Stdout && !o.stdout) || (kind == StreamKind::Stderr && !o.stderr) {
        return None;
    }
    let t = line_time(&l);
    if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
        return None;
    }
    let mut data = Vec::new();
    if o.timestamps {
        data.extend_from_slice(l.time.as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(l.log.as_bytes());
    Some((kind, data))
}

/// Rotated files that exist, newest first: (path, gzipped).
fn rotated_files(live: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = vec![];
    for n in 1..=MAX_ROTATED {
        let plain = rotated_path(live, n, false);
        let gz = rotated_path(live, n, true);
        if gz.exists() {
            out.push((gz, true));
        } else if plain.exists() {
            out.push((plain, false));
        } else {
            break;
        }
    }
    out
}

fn open_rotated(path: &Path, gz: bool) -> std::io::Result<Box<dyn BufRead>> {
    let f = File::open(path)?;
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    })
}

/// Sends every line of `r`; false once the client has gone.
fn send_all(r: impl BufRead, o: &LogOptions, tx: &mpsc::Sender<LogChunk>) -> bool {
    for line in r.split(b'\n') {
        let Ok(line) = line else { return true };
        if let Some(x) = render(&line, o) {
            if tx.blocking_send(x).is_err() {
                return false;
            }
        }
    }
    true
}

/// The last `n` rendered lines of the first `end` bytes of `f`, oldest first, read
/// backwards a chunk at a time.
fn tail_of_file(f: &mut File, end: u64, n: usize, o: &LogOptions) -> VecDeque<LogChunk> {
    let mut out = VecDeque::new();
    let mut pos = end;
    let mut carry: Vec<u8> = vec![];
    while pos > 0 && out.len() < n {
        let start = pos.saturating_sub(CHUNK);
        let mut buf = vec![0u8; (pos - start) as usize];
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_exact(&mut buf).is_err() {
            break;
        }
        buf.extend_from_slice(&carry);
        let mut lines: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
        // The first piece may be the end of a line that starts in the chunk before.
        carry = if start > 0 {
            lines.remove(0).to_vec()
        } else {
            vec![]
        };
        for line in lines.iter().rev() {
            if out.len() >= n {
                break;
            }
            if let Some(x) = render(line, o) {
                out.push_front(x);
            }
        }
        pos = start;
    }
    if out.len() < n && !carry.is_empty() {
        if let Some(x) = render(&carry, o) {
            out.push_front(x);
        }
    }
    out
}

/// The last `n` rendered lines of a rotated file (a gzipped one is read forward).
fn tail_of_rotated(path: &Path, gz: bool, n: usize, o: &LogOptions) -> VecDeque<LogChunk> {
    if !gz {
        return match File::open(path) {
            Ok(mut f) => {
                let end = f.metadata().map(|m| m.len()).unwrap_or(0);
                tail_of_file(&mut f, end, n, o)
            }
            Err(_) => VecDeque::new(),
        };
    }
    let mut ring = VecDeque::with_capacity(n.min(4096));
    if let Ok(r) = open_rotated(path, true) {
        for line in r.split(b'\n').map_while(|l| l.ok()) {
            if let Some(x) = render(&line, o) {
                if ring.len() == n {
                    ring.pop_front();
                }
                ring.push_back(x);
            }
        }
    }
    ring
}

/// The backlog; returns the live file's inode and the offset reached in it.
fn send_backlog(live: &Path, o: &LogOptions, tx: &mpsc::Sender<LogChunk>) -> Option<(u64, u64)> {
    let mut f = File::open(live).ok();
    let (ino, end) = f
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| (m.ino(), m.len()))
        .unwrap_or((0, 0));
    let rotated = rotated_files(live);
    match o.tail {
        Some(n) => {
            let mut picked = match f.as_mut() {
                Some(f) => tail_of_file(f, end, n, o),
                None => VecDeque::new(),
            };
            for (path, gz) in &rotated {
                if picked.len() >= n {
                    break;
                }
                let mut older = tail_of_rotated(path, *gz, n - picked.len(), o);
                older.extend(picked);
                picked = older;
            }
            for x in picked {
                if tx.blocking_send(x).is_err() {
                    return None;
                }
            }
        }
        None => {
            for (path, gz) in rotated.iter().rev() {
                if let Ok(r) = open_rotated(path, *gz) {
                    if !send_all(r, o, tx) {
                        return None;
                    }
                }
            }
            if let Some(f) = f {
                if !send_all(BufReader::new(f.take(end)), o, tx) {
                    return None;
                }
            }
        }
    }
    Some((ino, end))
}

/// Streams the log: the backlog, then (with `follow`) what comes until the container
/// stops or the client goes.
pub async fn stream(c: Arc<Container>, live: PathBuf, o: LogOptions, tx: mpsc::Sender<LogChunk>) {
    let (path, opts, sender) = (live.clone(), o.clone(), tx.clone());
    let reached = tokio::task::spawn_blocking(move || send_backlog(&path, &opts, &sender))
        .await
        .ok()
        .flatten();
    let Some((mut ino, offset)) = reached else {
        return;
    };
    if !o.follow {
        return;
    }
    let mut rx = c.lifecycle.subscribe();
    let mut reader = open_at(&live, ino, offset).await;
    if reader.is_none() {
        ino = 0;
    }
    let mut line = Vec::new();
    let mut partial = Vec::new();
    loop {
        let read = match reader.as_mut() {
            Some(r) => {
                line.clear();
                r.read_until(b'\n', &mut line).await.unwrap_or(0)
            }
            None => 0,
        };
        if read > 0 {
            partial.extend_from_slice(&line);
            if partial.ends_with(b"\n") {
                if let Some(x) = render(&partial, &o) {
                    if tx.send(x).await.is_err() {
                        return;
                    }
                }
                partial.clear();
            }
            continue;
        }
        // At the end: a rotation starts a new live file; otherwise wait for more.
        if let Ok(m) = tokio::fs::metadata(&live).await {
            if m.ino() != ino {
                ino = m.ino();
                reader = open_at(&live, ino, 0).await;
                continue;
            }
        }
        let stopped = {
            let l = rx.borrow();
            !l.running || l.removed
        };
        if stopped {
            // One last look for lines written just before the exit.
            if let Some(r) = reader.as_mut() {
                line.clear();
                if matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                    partial.extend_from_slice(&line);
                    continue;
                }
            }
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            _ = rx.changed() => {}
            _ = tx.closed() => return,
        }
    }
}

/// The live file at `offset`, if it is still the file with inode `ino` (else from its
/// start: it was rotated meanwhile).
async fn open_at(
    live: &Path,
    ino: u64,
    offset: u64,
) -> Option<tokio::io::BufReader<tokio::fs::File>> {
    let mut f = tokio::fs::File::open(live).await.ok()?;
    let same = f.metadata().await.ok().is_some_and(|m| m.ino() == ino);
    if same && offset > 0 {
        f.seek(SeekFrom::Start(offset)).await.ok()?;
    }
    Some(tokio::io::BufReader::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize, stream: &str) -> String {
        format!(
            "{{\"log\":\"line {i}\\n\",\"stream\":\"{stream}\",\"time\":\"2026-01-01T00:00:00Z\"}}\n"
        )
    }

    #[test]
    fn tail_reads_backwards_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("c-json.log");
        let mut all = String::new();
        // 3 rotated files (the oldest gzipped), then the live one: lines 0..4000.
        let mut files: Vec<String> = vec![String::new(); 4];
        for i in 0..4000 {
            let s = if i % 7 == 0 { "stderr" } else { "stdout" };
            files[i / 1000].push_str(&line(i, s));
            all.push_str(&line(i, s));
        }
        std::fs::write(rotated_path(&live, 2, false), &files[1]).unwrap();
        std::fs::write(rotated_path(&live, 1, false), &files[2]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(rotated_path(&live, 3, true)).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, files[0].as_bytes()).unwrap();
        gz.finish().unwrap();
        std::fs::write(&live, &files[3]).unwrap();
        let o = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let collect = |o: &LogOptions| {
            let (tx, mut rx) = mpsc::channel(10_000);
            send_backlog(&live, o, &tx);
            drop(tx);
            let mut out = vec![];
            while let Ok(x) = rx.try_recv() {
                out.push(String::from_utf8(x.1).unwrap());
            }
            out
        };
        let everything = collect(&o);
        assert_eq!(everything.len(), 4000);
        assert_eq!(everything[0], "line 0\n");
        assert_eq!(everything[3999], "line 3999\n");
        let tail = collect(&LogOptions {
            tail: Some(2500),
            ..o.clone()
        });
        assert_eq!(tail.len(), 2500);
        assert_eq!(tail[0], "line 1500\n");
        assert_eq!(tail[2499], "line 3999\n");
        let deep = collect(&LogOptions {
            tail: Some(3990),
            ..o.clone()
        });
        assert_eq!(deep[0], "line 10\n");
        let only_err = collect(&LogOptions {
            tail: Some(3),
            stdout: false,
            ..o
        });
        assert_eq!(only_err, ["line 3983\n", "line 3990\n", "line 3997\n"]);
    }
}
