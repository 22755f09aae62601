//! The container log as the shim writes it: Docker's json-file format, one JSON object
//! per line (`{"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}`),
//! or Kubernetes' CRI format (`2006-01-02T15:04:05.999999999Z stdout F text`), which the
//! kubelet and crictl read themselves.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// When a log file is rotated, how many are kept, and whether rotated ones are gzipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// None: the file grows without bound.
    pub max_size: Option<u64>,
    /// Files kept, the live one included (1: the live one is truncated).
    pub max_files: u32,
    pub compress: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_size: Some(20 << 20),
            max_files: 5,
            compress: false,
        }
    }
}

/// How each line of the log is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    /// `<time> <stream> <F|P> <text>`: F ends a line, P is a part of a longer one.
    Cri,
}

/// The name of rotated file `n` (1 is the newest): `<log>.1`, or `<log>.1.gz`.
pub fn rotated_path(path: &Path, n: u32, compressed: bool) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    if compressed {
        p.push(".gz");
    }
    PathBuf::from(p)
}

/// The live log file, rotated as Docker's json-file driver does: when a line would take
/// it past `max_size`, `<log>` becomes `<log>.1` (`.1` becomes `.2`, ...), the oldest
/// beyond `max_files` is removed, and a new `<log>` is started.
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
    format: LogFormat,
}

impl LogFile {
    pub fn open(path: &Path, rotation: Rotation, format: LogFormat) -> std::io::Result<Self> {
        let file = open_log(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
            format,
        })
    }

    /// Opens the log's path again: the kubelet rotates a CRI log by renaming it, then
    /// asks for a new file at the same path (ReopenContainerLog).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = open_log(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }

    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if let Some(max) = self.rotation.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let r = self.rotation;
        if r.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(rotated_path(&self.path, r.max_files - 1, r.compress));
        for n in (1..r.max_files - 1).rev() {
            let _ = std::fs::rename(
                rotated_path(&self.path, n, r.compress),
                rotated_path(&self.path, n + 1, r.compress),
            );
        }
        let first = rotated_path(&self.path, 1, false);
        std::fs::rename(&self.path, &first)?;
        self.file = open_log(&self.path)?;
        self.size = 0;
        if r.compress {
            gzip_in_place(&first, &rotated_path(&self.path, 1, true))?;
        }
        Ok(())
    }
}

/// A log file is the container owner's only (0640, whatever the umask).
fn open_log(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// `from` gzipped into `to` (written aside, renamed into place), then `from` removed.
fn gzip_in_place(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut tmp = to.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut src = File::open(from)?;
    let mut gz = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::fast());
    std::io::copy(&mut src, &mut gz)?;
    gz.finish()?;
    std::fs::rename(&tmp, to)?;
    std::fs::remove_file(from)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Docker splits long lines at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

/// Writes one stream's output as log lines; partial lines wait for their newline.
pub struct StreamLogger {
    file: Arc<Mutex<LogFile>>,
    stream: &'static str,
    partial: Vec<u8>,
}

impl StreamLogger {
    pub fn new(file: Arc<Mutex<LogFile>>, stream: &'static str) -> Self {
        Self {
            file,
            stream,
            partial: Vec::with_capacity(1024),
        }
    }

    pub fn write(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.partial.extend_from_slice(&data[..=i]);
                    self.flush_line();
                    data = &data[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    if self.partial.len() >= MAX_LINE {
                        self.flush_line();
                    }
                    data = &[];
                }
            }
        }
    }

    fn flush_line(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let Ok(mut f) = self.file.lock() else {
            return;
        };
        let line = match f.format {
            LogFormat::Json => {
                let line = LogLine {
                    log: String::from_utf8_lossy(&self.partial).into_owned(),
                    stream: self.stream.to_string(),
                    time: now_rfc3339(),
                };
                serde_json::to_vec(&line).ok().map(|mut json| {
                    json.push(b'\n');
                    json
                })
            }
            LogFormat::Cri => Some(cri_line(&now_rfc3339(), self.stream, &self.partial)),
        };
        self.partial.clear();
        if let Some(line) = line {
            let _ = f.write_line(&line);
        }
    }

    /// Writes what is left (output that ended without a newline).
    pub fn finish(&mut self) {
        self.flush_line();
    }
}

/// One CRI log line: the text without its newline, tagged F when it had one (the line
/// ends here) and P when it was cut (the line goes on in the next).
fn cri_line(time: &str, stream: &str, text: &[u8]) -> Vec<u8> {
    let (tag, body) = match text.strip_suffix(b"\n") {
        Some(body) => ("F", body),
        None => ("P", text),
    };
    let mut out = Vec::with_capacity(time.len() + stream.len() + body.len() + 5);
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_bytes());
    out.push(b' ');
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out.push(b'\n');
    out
}

/// A CRI log line read back: (time, stream, text with its newline if the line ended).
pub fn parse_cri_line(line: &[u8]) -> Option<(&str, &str, Vec<u8>)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let body = parts.next().unwrap_or(&[]);
    let mut text = body.to_vec();
    match tag {
        b"F" => text.push(b'\n'),
        b"P" => {}
        _ => return None,
    }
    Some((time, stream, text))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_partial() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let f = Arc::new(Mutex::new(
            LogFile::open(&p, Rotation::default(), LogFormat::Json).unwrap(),
        ));
        let mut l = StreamLogger::new(f, "stdout");
        l.write(b"a\nb");
        l.write(b"c\n\"q\"");
        l.finish();
        let lines: Vec<LogLine> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let logs: Vec<_> = lines.iter().map(|l| l.log.as_str()).collect();
        assert_eq!(logs, vec!["a\n", "bc\n", "\"q\""]);
        assert!(lines.iter().all(|l| l.stream == "stdout"));
    }

    #[test]
    fn rotates_keeps_max_files_and_compresses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let rotation = Rotation {
            max_size: Some(1000),
            max_files: 3,
            compress: true,
        };
        let mut f = LogFile::open(&p, rotation, LogFormat::Json).unwrap();
        let line = [b'x'; 99];
        for _ in 0..100 {
            f.write_line(&line).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]);
        assert!(std::fs::metadata(&p).unwrap().len() <= 1000);
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(File::open(rotated_path(&p, 1, true)).unwrap()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text.len(), 990);
    }

    #[test]
    fn cri_lines_are_tagged_full_or_partial_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let f = LogFile::open(&p, Rotation::default(), LogFormat::Cri).unwrap();
        let f = Arc::new(Mutex::new(f));
        let mut l = StreamLogger::new(f.clone(), "stderr");
        l.write(b"one\ntw");
        l.finish();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" stderr F one"), "{}", lines[0]);
        assert!(lines[1].ends_with(" stderr P tw"), "{}", lines[1]);
        let (time, stream, body) = parse_cri_line(lines[0].as_bytes()).unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok());
        assert_eq!((stream, body.as_slice()), ("stderr", &b"one\n"[..]));
        assert_eq!(parse_cri_line(lines[1].as_bytes()).unwrap().2, b"tw");
        assert!(parse_cri_line(b"garbage").is_none());
        // Rotation by the kubelet: rename, then reopen makes a new file at the path.
        std::fs::rename(&p, dir.path().join("0.log.1")).unwrap();
        f.lock().unwrap().reopen().unwrap();
        l.write(b"three\n");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with(" stderr F three\n"), "{text}");
    }
}
