//! MCP over stdio, with every message answered: newline-delimited JSON-RPC
//! on stdin and stdout, each incoming message bounded
//! ([`McpOptions::max_message`](crate::McpOptions), 16 MiB by default).
//!
//! A message over the bound is never held whole: its bytes are scanned as
//! they pass, for its top-level `id` alone, and dropped. A request (one
//! with an `id`) is then answered with a JSON-RPC error naming its size and
//! the bound, so its client does not wait until its own timeout; a
//! notification is told on stderr. The server goes on with the next line.
//! Lines that are not JSON are ignored, as the other MCP SDKs do (an answer
//! to garbage can start an error storm with a peer that echoes); JSON that
//! is not a message is answered `invalid request` when it has an `id`.

use std::future::Future;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ErrorCode, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The bound on one incoming message unless the options say otherwise.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// Error answers written by the transport itself that may wait at once for
/// a peer that does not read; past them, the answer is dropped (and said
/// on stderr).
const PENDING_ANSWERS: usize = 64;

/// A transport on a reader and a writer (stdin and stdout).
pub(crate) struct BoundedLines<R, W> {
    read: R,
    write: Arc<Mutex<W>>,
    max: usize,
    /// The line read so far (it survives a cancelled `receive`).
    line: Vec<u8>,
    /// Set while the rest of a line over the bound is skipped.
    over: Option<Oversized>,
    /// The transport's own answers not yet written.
    pending: Arc<std::sync::atomic::AtomicUsize>,
}

/// What is known of a line over the bound as it passes.
struct Oversized {
    bytes: usize,
    id: IdScan,
}

impl<R, W> BoundedLines<R, W> {
    pub fn new(read: R, write: W, max: usize) -> Self {
        Self {
            read,
            write: Arc::new(Mutex::new(write)),
            max,
            line: Vec::new(),
            over: None,
            pending: Arc::default(),
        }
    }
}

/// Writes `message` as one line.
async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<W>,
    message: &ServerJsonRpcMessage,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut write = write.lock().await;
    write.write_all(&line).await?;
    write.flush().await
}

/// What one step of reading gave.
enum Read {
    /// A whole line within the bound, in `self.line`.
    Line,
    /// A whole line over the bound: its size and id scan.
    Oversized(Oversized),
    /// More is needed.
    More,
    End,
}

impl<R: AsyncBufRead + Unpin + Send, W: AsyncWrite + Unpin + Send + 'static> BoundedLines<R, W> {
    /// Writes an answer of the transport's own, on a task of its own
    /// (`receive` may be cancelled; the answer must not be), unless too
    /// many already wait for the peer to read.
    fn answer(&self, message: ServerJsonRpcMessage) {
        use std::sync::atomic::Ordering;
        if self.pending.fetch_add(1, Ordering::Relaxed) >= PENDING_ANSWERS {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(target: "witplug::mcp", "an error answer was dropped: the client does not read");
            return;
        }
        let (write, pending) = (self.write.clone(), self.pending.clone());
        tokio::spawn(async move {
            let _ = write_line(&write, &message).await;
            pending.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Reads what the reader has of the current line. Cancel-safe: what is
    /// consumed is recorded before the next await.
    async fn step(&mut self) -> Read {
        let available = match self.read.fill_buf().await {
            Ok(available) => available,
            Err(err) => {
                tracing::warn!(target: "witplug::mcp", "reading stdin: {err}");
                return Read::End;
            }
        };
        if available.is_empty() {
            return Read::End;
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |at| at + 1);
        let chunk = &available[..take];
        let read = match &mut self.over {
            Some(over) => {
                over.bytes += take;
                over.id.feed(chunk);
                Read::More
            }
            None if self.line.len() + take > self.max => {
                let mut id = IdScan::default();
                id.feed(&self.line);
                id.feed(chunk);
                self.over = Some(Oversized { bytes: self.line.len() + take, id });
                self.line = Vec::new();
                Read::More
            }
            None => {
                self.line.extend_from_slice(chunk);
                Read::More
            }
        };
        self.read.consume(take);
        match (newline, read) {
            (Some(_), _) => match self.over.take() {
                Some(over) => Read::Oversized(over),
                None => Read::Line,
            },
            (None, read) => read,
        }
    }

    /// Answers a line over the bound, when it was a request.
    fn refuse(&self, over: Oversized) {
        let size = over.bytes.saturating_sub(1);
        let reason = format!(
            "the message is {size} bytes, over this server's bound of {} bytes (witplug mcp --max-message)",
            self.max
        );
        let Some(id) = over.id.id() else {
            tracing::warn!(target: "witplug::mcp", "a notification was dropped: {reason}");
            return;
        };
        tracing::warn!(target: "witplug::mcp", "a request was refused: {reason}");
        let data = serde_json::json!({ "size": size, "max": self.max });
        let error = ErrorData::new(ErrorCode::INVALID_REQUEST, reason, Some(data));
        self.answer(ServerJsonRpcMessage::error(error, Some(id)));
    }

    /// The message of a whole line, or `None` when there is nothing to
    /// pass on (answered here, or ignored).
    fn parse(&self, line: &[u8]) -> Option<ClientJsonRpcMessage> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let err = match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
            Ok(message) => return Some(message),
            Err(err) => err,
        };
        if !matches!(err.classify(), serde_json::error::Category::Data) {
            tracing::debug!(target: "witplug::mcp", "ignored a line that is not JSON: {err}");
            return None;
        }
        // JSON, but not a message: a request is answered, a notification
        // (no `id`: LSP's, or one this protocol does not define) ignored.
        let mut scan = IdScan::default();
        scan.feed(line);
        let id = scan.id()?;
        let error = ErrorData::invalid_request(format!("not a JSON-RPC message: {err}"), None);
        self.answer(ServerJsonRpcMessage::error(error, Some(id)));
        None
    }
}

impl<R, W> Transport<RoleServer> for BoundedLines<R, W>
where
    R: AsyncBufRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        async move { write_line(&write, &item).await }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            match self.step().await {
                Read::More => {}
                Read::End => return None,
                Read::Oversized(over) => self.refuse(over),
                Read::Line => {
                    let line = std::mem::take(&mut self.line);
                    if let Some(message) = self.parse(&line) {
                        return Some(message);
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.flush().await
    }
}

/// Finds a JSON object's top-level `id` in bytes fed as they pass, holding
/// no more than the id itself (at most 256 bytes).
#[derive(Debug, Default)]
pub(crate) struct IdScan {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The key of the current top-level member, while it is read.
    key: Option<Vec<u8>>,
    /// The last top-level key read, until its value begins.
    last_key: Vec<u8>,
    /// Whether a top-level key is expected next (after `{` or `,`).
    expect_key: bool,
    /// The raw value of `id` while it is read, then whole.
    value: Option<Vec<u8>>,
    capturing: bool,
    found: Option<Vec<u8>>,
}

impl IdScan {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.capturing {
            let value = self.value.get_or_insert_with(Vec::new);
            let ends = !self.in_string && self.depth == 1 && matches!(b, b',' | b'}');
            if !ends {
                if value.len() < 256 {
                    value.push(b);
                } else {
                    // An id this long is no id; stop keeping it.
                    self.capturing = false;
                    self.value = None;
                }
            } else {
                self.capturing = false;
                self.found = self.value.take();
            }
        }
        if self.in_string {
            if let Some(key) = &mut self.key
                && (b != b'"' || self.escaped)
                && key.len() < 8
            {
                key.push(b);
            }
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if let Some(key) = self.key.take() {
                    self.last_key = key;
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.expect_key {
                    self.key = Some(Vec::new());
                    self.expect_key = false;
                }
            }
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth == 1 && b == b'{' {
                    self.expect_key = true;
                }
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b',' if self.depth == 1 => self.expect_key = true,
            b':' if self.depth == 1 => {
                if self.last_key == b"id" && self.found.is_none() {
                    self.capturing = true;
                    self.value = Some(Vec::new());
                }
                self.last_key.clear();
            }
            _ => {}
        }
    }

    /// The id, when one was found whole and is a string or a number.
    pub fn id(&self) -> Option<RequestId> {
        let raw = self.found.as_deref()?;
        serde_json::from_slice::<RequestId>(raw.trim_ascii()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(text: &str) -> Option<RequestId> {
        let mut scan = IdScan::default();
        // Fed in small pieces, as a reader gives them.
        for piece in text.as_bytes().chunks(3) {
            scan.feed(piece);
        }
        scan.id()
    }

    #[test]
    fn the_top_level_id_is_found_wherever_it_stands() {
        assert_eq!(id_of(r#"{"jsonrpc":"2.0","id":7,"method":"x"}"#), Some(RequestId::Number(7)));
        assert_eq!(
            id_of(r#"{"method":"x","params":{"id":1,"s":"\"id\":2"},"id":"abc"}"#),
            Some(RequestId::String("abc".into()))
        );
        assert_eq!(id_of(r#"{"method":"x","params":{"id":1}}"#), None);
        assert_eq!(id_of(r#"{"id":{"nested":1}}"#), None);
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(1000));
        assert_eq!(id_of(&long), None);
    }

    #[tokio::test]
    async fn a_message_over_the_bound_is_answered_and_the_next_one_read() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{{\"s\":\"{}\"}},\"id\":9}}\n",
            "a".repeat(4096)
        );
        let ping = "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}\n";
        let input = format!("{big}not json\n{ping}");
        let (out, mut seen) = tokio::io::duplex(1 << 16);
        let reader = tokio::io::BufReader::with_capacity(64, input.as_bytes());
        let mut transport = BoundedLines::new(reader, out, 1024);
        let message = transport.receive().await.expect("the ping");
        assert!(serde_json::to_string(&message).unwrap().contains("\"ping\""));
        drop(transport);
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut seen, &mut answer).await.unwrap();
        let answer: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
        assert_eq!(answer["id"], 9);
        assert_eq!(answer["error"]["code"], -32600);
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(&format!("{} bytes, over", big.len() - 1)), "{text}");
        assert!(text.contains("bound of 1024 bytes"), "{text}");
    }
}
