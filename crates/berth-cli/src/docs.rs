//! Shell completions and man pages, generated from the same clap definitions that parse
//! the command line, so they never drift from it: `berth completion bash|zsh|fish` (as
//! `docker completion`), and `berth generate-man DIR` for packaging.

use crate::cli::{Cli, DaemonCli};
use clap::CommandFactory;
use std::path::Path;

/// Writes the completion script for `shell` to stdout.
pub fn completion(shell: clap_complete::Shell) -> i32 {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Made whole first: a reader that goes away (`| head`) is not an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "berth", &mut script);
    let _ = std::io::stdout().write_all(&script);
    0
}

/// Writes `berth.1`, a `berth-<command>.1` for each command, and `berthd.8` into `dir`.
pub fn generate_man(dir: &Path) -> i32 {
    match write_pages(dir) {
        Ok(n) => {
            eprintln!("wrote {n} man pages to {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!("berth: generate-man: {e}");
            1
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let berth = Cli::command();
    let mut written = 0;
    let mut page = |cmd: clap::Command, name: String, section: &str| -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.name(name.clone())).section(section);
        let mut out = Vec::new();
        man.render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.{section}")), out)?;
        written += 1;
        Ok(())
    };
    for sub in berth.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub.clone(), format!("berth-{}", sub.get_name()), "1")?;
    }
    page(berth, "berth".into(), "1")?;
    page(DaemonCli::command(), "berthd".into(), "8")?;
    Ok(written)
}
