//! A plugin's stderr, kept: the last bytes each instance wrote there, so
//! the trap that follows an uncaught exception says what the guest's
//! runtime printed (a Python traceback, a JavaScript error) in whatever
//! language the plugin is written. With the `stderr` grant the bytes reach
//! the host's stderr too.
//!
//! A Rust plugin reports its panic through `log` instead (see
//! [`PANIC_PREFIX`](crate::imports::v0_2::PANIC_PREFIX)); this is how every other
//! toolchain's runtime reports a failure it cannot return.

use std::collections::VecDeque;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How many of the last bytes written are kept.
const KEPT: usize = 2048;

/// How many bytes of what was kept a trap's message carries.
const SHOWN: usize = 600;

/// The stderr of one plugin instance: a bounded tail of what it wrote.
#[derive(Clone)]
pub(crate) struct StderrTail {
    shared: Arc<Shared>,
}

struct Shared {
    kept: Mutex<VecDeque<u8>>,
    written: AtomicU64,
    forward: bool,
}

impl StderrTail {
    /// A tail that also forwards to the host's stderr when `forward`.
    pub(crate) fn new(forward: bool) -> Self {
        let shared = Shared { kept: Mutex::default(), written: AtomicU64::new(0), forward };
        Self { shared: Arc::new(shared) }
    }

    /// How many bytes were written so far: the mark a call starts from.
    pub(crate) fn mark(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// What was written since `mark` (as much of it as was kept), as one
    /// line: blank lines dropped, each line trimmed, joined with ` | `, the
    /// last [`SHOWN`] bytes of it. `None` when nothing was written.
    pub(crate) fn since(&self, mark: u64) -> Option<String> {
        let new = self.mark().saturating_sub(mark);
        if new == 0 {
            return None;
        }
        let kept = self.shared.kept.lock().unwrap_or_else(|e| e.into_inner());
        let skip = kept.len().saturating_sub(usize::try_from(new).unwrap_or(usize::MAX));
        let bytes: Vec<u8> = kept.iter().skip(skip).copied().collect();
        drop(kept);
        let text = String::from_utf8_lossy(&bytes);
        let line = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>();
        let line = line.join(" | ");
        if line.is_empty() {
            return None;
        }
        Some(crate::text::sanitize(&last_chars(&line, SHOWN), 4 * SHOWN))
    }

    fn push(&self, bytes: &[u8]) {
        if self.shared.forward {
            // The host's stderr failing is no reason to fail the plugin.
            let _ = std::io::stderr().write_all(bytes);
        }
        let mut kept = self.shared.kept.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(KEPT)..];
        let overflow = (kept.len() + bytes.len()).saturating_sub(KEPT);
        kept.drain(..overflow);
        kept.extend(bytes);
        drop(kept);
        self.shared.written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
}

/// The last `max` bytes of `text`, cut at a character boundary, with `…`
/// where it was cut.
fn last_chars(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_a_call_wrote_as_one_line() {
        let tail = StderrTail::new(false);
        tail.push(b"before the call\n");
        let mark = tail.mark();
        assert_eq!(tail.since(mark), None);
        tail.push(b"Traceback (most recent call last):\n\n  File \"app.py\", line 3\n");
        tail.push(b"ValueError: kaboom\n");
        assert_eq!(
            tail.since(mark).unwrap(),
            "Traceback (most recent call last): | File \"app.py\", line 3 | ValueError: kaboom"
        );
    }

    #[test]
    fn keeps_only_the_last_bytes() {
        let tail = StderrTail::new(false);
        let mark = tail.mark();
        for _ in 0..1000 {
            tail.push("é🙂 noise\n".as_bytes());
        }
        tail.push(b"the end\n");
        let text = tail.since(mark).unwrap();
        assert!(text.starts_with('…') && text.ends_with("noise | the end"), "{text}");
        assert!(text.len() <= SHOWN + '…'.len_utf8());
        assert!(tail.shared.kept.lock().unwrap().len() <= KEPT);
    }
}
