//! Client side of hijacked streams: stdin up, stdout/stderr down, raw terminal mode.

use berth_api::stream::{FrameDecoder, StreamKind};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::os::fd::AsFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Puts the terminal on stdin in raw mode until dropped.
pub struct RawTerminal {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawTerminal {
    pub fn enable() -> Self {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return Self { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        Self { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                s,
            );
        }
    }
}

pub fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal size of stdout, if it is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into the winsize struct we own.
    let rc = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Pumps a hijacked connection until the daemon closes it. Stdin is sent when `stdin`.
pub async fn pump(conn: TokioIo<hyper::upgrade::Upgraded>, tty: bool, stdin: bool) {
    let (mut r, mut w) = tokio::io::split(conn);
    let input = if stdin {
        Some(tokio::spawn(async move {
            let mut inp = tokio::io::stdin();
            let mut buf = vec![0u8; 8192];
            loop {
                match inp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if w.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            // Half-close: the container sees EOF on its stdin.
            let _ = w.shutdown().await;
            // Keep the write half alive so the read side is not torn down.
            std::future::pending::<()>().await;
        }))
    } else {
        None
    };
    let mut buf = vec![0u8; 32 * 1024];
    let mut dec = FrameDecoder::default();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if tty {
            let mut o = stdout.lock();
            let _ = o.write_all(&buf[..n]);
            let _ = o.flush();
            continue;
        }
        dec.push(&buf[..n]);
        while let Ok(Some((kind, data))) = dec.next_frame() {
            match kind {
                StreamKind::Stderr => {
                    let mut e = stderr.lock();
                    let _ = e.write_all(&data);
                    let _ = e.flush();
                }
                _ => {
                    let mut o = stdout.lock();
                    let _ = o.write_all(&data);
                    let _ = o.flush();
                }
            }
        }
    }
    if let Some(i) = input {
        i.abort();
    }
}
