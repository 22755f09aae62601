//! A client's view of a task's process (an attach or an exec): its output as events and
//! its stdin. The engine reads the task's stream itself and hands the output on, so what
//! the stream says (an exec's exit code) is recorded by the engine even when the client
//! has gone; the HTTP layer only copies bytes.

use berth_runtime::task::{Output, TaskIo};
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Output events (`Stdout`, `Stderr`, `Error`) until the process ends: the channel
/// closes after the engine has recorded the end.
pub struct Session {
    pub output: mpsc::Receiver<Output>,
    pub input: OwnedWriteHalf,
}

/// Reads `io` to its end, passing output to the session and the exit code (None if the
/// shim went away without one) to `on_exit` before the session's output closes.
pub(crate) fn forward(io: TaskIo, on_exit: impl FnOnce(Option<i32>) + Send + 'static) -> Session {
    let (tx, rx) = mpsc::channel(16);
    let TaskIo {
        mut output, input, ..
    } = io;
    tokio::spawn(async move {
        let mut code = None;
        while let Some(event) = output.next().await {
            match event {
                Output::Exit(c) => {
                    code = Some(c);
                    break;
                }
                // A client that left gets nothing more; the stream is still read to its
                // end, for the exit code.
                other => {
                    let _ = tx.send(other).await;
                }
            }
        }
        on_exit(code);
        drop(tx);
    });
    Session { output: rx, input }
}
