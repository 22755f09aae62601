//! A client's view of a task's process (an attach or an exec): its output as events and
//! its stdin. The engine reads the task's stream itself and hands the output on, so what
//! the stream says (an exec's exit code) is recorded by the engine even when the client
//! has gone; the HTTP layer only copies bytes.

use berth_runtime::task::{Output, OutputStream, TaskIo};
use std::future::Future;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Output events (`Stdout`, `Stderr`, `Error`) until the process ends: the channel
/// closes after the engine has recorded the end.
pub struct Session {
    pub output: mpsc::Receiver<Output>,
    pub input: OwnedWriteHalf,
}

/// A task's output events: the seam where the unit tests put a fake stream.
pub(crate) trait Events: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Option<Output>> + Send;
}

impl Events for OutputStream {
    async fn next(&mut self) -> Option<Output> {
        OutputStream::next(self).await
    }
}

/// Reads `io` to its end, passing output to the session and the exit code (None if the
/// shim went away without one) to `on_exit` before the session's output closes.
pub(crate) fn forward(io: TaskIo, on_exit: impl FnOnce(Option<i32>) + Send + 'static) -> Session {
    Session {
        output: forward_events(io.output, on_exit),
        input: io.input,
    }
}

fn forward_events(
    mut events: impl Events,
    on_exit: impl FnOnce(Option<i32>) + Send + 'static,
) -> mpsc::Receiver<Output> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut code = None;
        while let Some(event) = events.next().await {
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
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A process's output, one event every millisecond.
    struct FakeStream(VecDeque<Output>);

    impl Events for FakeStream {
        async fn next(&mut self) -> Option<Output> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.0.pop_front()
        }
    }

    fn stream(events: &[Output]) -> FakeStream {
        FakeStream(events.iter().cloned().collect())
    }

    /// The exit codes `on_exit` was called with.
    type Seen = Arc<Mutex<Vec<Option<i32>>>>;

    fn recorder() -> (Seen, impl FnOnce(Option<i32>) + Send + 'static) {
        let seen = Arc::new(Mutex::new(vec![]));
        let s = seen.clone();
        (seen, move |code| s.lock().unwrap().push(code))
    }

    #[tokio::test]
    async fn output_comes_in_order_and_ends_after_the_exit_is_recorded() {
        let (seen, on_exit) = recorder();
        let mut rx = forward_events(
            stream(&[
                Output::Stdout(b"a".to_vec()),
                Output::Stderr(b"b".to_vec()),
                Output::Exit(7),
                Output::Stdout(b"never".to_vec()),
            ]),
            on_exit,
        );
        assert_eq!(rx.recv().await, Some(Output::Stdout(b"a".to_vec())));
        assert_eq!(rx.recv().await, Some(Output::Stderr(b"b".to_vec())));
        assert_eq!(rx.recv().await, None);
        // The client sees the end only once the code is recorded.
        assert_eq!(*seen.lock().unwrap(), [Some(7)]);
    }

    #[tokio::test]
    async fn the_exit_code_is_recorded_when_nobody_reads() {
        let (seen, on_exit) = recorder();
        let many: Vec<Output> = (0..100)
            .map(|_| Output::Stdout(vec![b'x'; 10]))
            .chain([Output::Exit(3)])
            .collect();
        drop(forward_events(stream(&many), on_exit));
        tokio::time::timeout(Duration::from_secs(5), async {
            while seen.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), [Some(3)]);
    }

    #[tokio::test]
    async fn a_stream_cut_off_has_no_exit_code() {
        let (seen, on_exit) = recorder();
        let mut rx = forward_events(stream(&[Output::Stdout(b"a".to_vec())]), on_exit);
        assert!(rx.recv().await.is_some());
        assert_eq!(rx.recv().await, None);
        assert_eq!(*seen.lock().unwrap(), [None]);
    }
}
