//! Docker's json-file log driver format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}`.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

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
    file: Arc<Mutex<File>>,
    stream: &'static str,
    partial: Vec<u8>,
}

impl StreamLogger {
    pub fn new(file: Arc<Mutex<File>>, stream: &'static str) -> Self {
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
        let line = LogLine {
            log: String::from_utf8_lossy(&self.partial).into_owned(),
            stream: self.stream.to_string(),
            time: now_rfc3339(),
        };
        self.partial.clear();
        if let Ok(mut json) = serde_json::to_vec(&line) {
            json.push(b'\n');
            if let Ok(mut f) = self.file.lock() {
                let _ = f.write_all(&json);
            }
        }
    }

    /// Writes what is left (output that ended without a newline).
    pub fn finish(&mut self) {
        self.flush_line();
    }
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
        let f = Arc::new(Mutex::new(File::create(&p).unwrap()));
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
}
