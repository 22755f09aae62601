//! What a streaming URL may do: each token names one request, is used once, and lapses
//! after a minute, as the kubelet's tokens do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(60);
/// Tokens outstanding at most: a client that asks without end cannot fill memory.
const MAX_TOKENS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Exec {
        container: String,
        cmd: Vec<String>,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Attach {
        container: String,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    PortForward {
        sandbox: String,
    },
}

impl Request {
    pub fn path(&self) -> &'static str {
        match self {
            Self::Exec { .. } => "exec",
            Self::Attach { .. } => "attach",
            Self::PortForward { .. } => "portforward",
        }
    }
}

#[derive(Default)]
pub struct Tokens {
    by_token: Mutex<HashMap<String, (Instant, Request)>>,
}

fn random_token() -> String {
    let mut b = [0u8; 16];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Tokens {
    pub fn insert(&self, req: Request) -> Option<String> {
        let mut m = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        if m.len() >= MAX_TOKENS {
            return None;
        }
        let token = random_token();
        m.insert(token.clone(), (now, req));
        Some(token)
    }

    /// The request of a token, which is then spent.
    pub fn take(&self, token: &str) -> Option<Request> {
        let mut m = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let (at, req) = m.remove(token)?;
        (at.elapsed() < TTL).then_some(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_once() {
        let t = Tokens::default();
        let req = Request::PortForward {
            sandbox: "s".into(),
        };
        let tok = t.insert(req.clone()).unwrap();
        assert_eq!(t.take(&tok), Some(req));
        assert_eq!(t.take(&tok), None);
        assert_eq!(t.take("made-up"), None);
    }
}
