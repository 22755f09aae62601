//! Per-layer progress bars for pulls and pushes on a terminal.

use berth_api::image::ProgressMessage;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Bars {
    multi: MultiProgress,
    layers: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            layers: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
        layers
            .entry(id.to_string())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg:20} {bar:40} {bytes}/{total_bytes}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(id.to_string());
                b
            })
            .clone()
    }

    pub fn show(&self, m: &ProgressMessage) {
        let status = m.status.clone().unwrap_or_default();
        match &m.id {
            Some(id) if id.len() == 12 => {
                let b = self.bar(id);
                let detail = m.progress_detail.as_ref();
                if let (Some(c), Some(t)) = (
                    detail.and_then(|d| d["current"].as_u64()),
                    detail.and_then(|d| d["total"].as_u64()),
                ) {
                    b.set_length(t);
                    b.set_position(c);
                }
                if matches!(
                    status.as_str(),
                    "Pull complete" | "Pushed" | "Already exists" | "Layer already exists"
                ) {
                    b.set_position(b.length().unwrap_or(0));
                    b.finish_with_message(status);
                } else {
                    b.set_message(status);
                }
            }
            Some(id) => {
                let _ = self.multi.println(format!("{id}: {status}"));
            }
            None => {
                if let Some(s) = &m.stream {
                    let _ = self.multi.println(s.trim_end());
                } else {
                    let _ = self.multi.println(status);
                }
            }
        }
    }

    pub fn finish(&self) {
        for b in self
            .layers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
