//! A guard in front of actix-http's HTTP/1 parser, so that a request head too long to parse still
//! gets an OGC exception.
//!
//! actix answers a request target longer than the URI limit (65,534 bytes, the `http` crate's) with
//! an empty 400, and a head that fills its 128 KiB read buffer with an empty 431, inside the
//! connection's dispatcher: before any middleware, with no hook to change the answer. So each TCP
//! stream is wrapped in a [`HeadGuard`], which follows the request framing on the bytes it passes up
//! (heads, then `Content-Length` or chunked bodies) and, when a head is about to hit one of those
//! limits, withholds it and reports the end of the stream. The dispatcher then finishes the responses
//! already under way and shuts the connection, and the guard writes the exception before it does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ApiError;

/// The longest request target (path and query) actix can parse: the `http` crate's URI limit.
pub const MAX_TARGET_BYTES: usize = 65_534;
/// The largest request head (request line and header fields) actix reads: its h1 buffer size.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;
/// The most header fields actix parses in one request.
pub const MAX_HEADER_FIELDS: usize = 96;
/// After answering a refused head, how much of the rest of the request is read and dropped, and for
/// how long, so that closing does not reset the connection before the client has read the answer.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(1);
/// A chunk-size line or a trailer longer than this is not followed: actix refuses such bodies itself.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Why a request head was refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request target is longer than [`MAX_TARGET_BYTES`].
    LineTooLong,
    /// The head is as large as [`MAX_HEAD_BYTES`] and not over.
    HeadTooLarge,
    /// The head has more than [`MAX_HEADER_FIELDS`] header fields.
    TooManyFields,
}

impl Refusal {
    /// The answer, as the rest of the API words its errors.
    pub fn error(self) -> ApiError {
        match self {
            Refusal::LineTooLong => ApiError::from_status(
                StatusCode::BAD_REQUEST,
                format!(
                    "the request line is too long: the path and query string may have at most \
                     {MAX_TARGET_BYTES} bytes (limit 64 KiB); send fewer or shorter parameters"
                ),
            ),
            Refusal::HeadTooLarge => ApiError::from_status(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request line and headers are too long (limit 128 KiB)",
            ),
            Refusal::TooManyFields => ApiError::from_status(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("the request has too many header fields (limit {MAX_HEADER_FIELDS})"),
            ),
        }
    }

    /// The whole HTTP/1.1 response, closing the connection.
    fn response(self) -> Vec<u8> {
        let e = self.error();
        let body = e.body();
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\n\
             content-security-policy: {}\r\n\
             connection: close\r\ndate: {}\r\n\r\n{body}",
            e.status.as_u16(),
            e.status.canonical_reason().unwrap_or(""),
            body.len(),
            super::ops::DATA_CSP,
            chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT"),
        )
        .into_bytes()
    }
}

/// Where the client's byte stream is, request by request.
#[derive(Debug)]
enum State {
    /// In a request head.
    Head(Head),
    /// In a body of known length: this many bytes left.
    Body(u64),
    /// In a chunk-size line, read so far.
    ChunkSize(Vec<u8>),
    /// In a chunk's data: this many bytes left.
    ChunkData(u64),
    /// After a chunk's data, before its line end: bytes read of it so far.
    ChunkEnd(usize),
    /// In the trailer section: bytes of the current line so far, and of the section.
    Trailer { line: usize, total: usize },
    /// Something this guard does not follow (a malformed body, an upgrade): it passes every byte on
    /// from here, and actix answers as it does.
    Off,
}

#[derive(Debug, Default)]
struct Head {
    /// Bytes of this head so far, blank lines before it included (actix counts them).
    len: usize,
    /// Whether the request line has started (blank lines before it are skipped).
    started: bool,
    /// Spaces seen in the request line; the target lies between the first and the second.
    spaces: u8,
    /// Bytes of the request target so far.
    target: usize,
    /// Whether the request line has ended.
    line_done: bool,
    /// The header section, to read the body's framing from when the head ends.
    fields: Vec<u8>,
    /// Header lines begun.
    lines: usize,
}

/// Follows the framing of the requests on one connection.
#[derive(Debug)]
pub struct Framing {
    state: State,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Head(Head::default()),
        }
    }
}

/// How a request's body is framed, from its header section.
fn body_after(fields: &[u8]) -> State {
    let text = String::from_utf8_lossy(fields);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            match (value.parse::<u64>(), length) {
                (Ok(n), None) => length = Some(n),
                (Ok(n), Some(m)) if n == m => {}
                _ => return State::Off,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            match value.rsplit(',').next().map(str::trim) {
                Some(last) if last.eq_ignore_ascii_case("chunked") => chunked = true,
                _ => return State::Off,
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            return State::Off;
        }
    }
    match (chunked, length) {
        (true, None) => State::ChunkSize(Vec::new()),
        (true, Some(_)) => State::Off,
        (false, Some(n)) if n > 0 => State::Body(n),
        _ => State::Head(Head::default()),
    }
}

impl Framing {
    /// Follows `data`, the next bytes from the client. On a refusal, returns how many of them may
    /// still be passed on (those before the refused head) and why; the rest must be withheld.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), (usize, Refusal)> {
        let mut i = 0;
        // Where the head being read began in `data` (0 if in an earlier read).
        let mut head_start = 0;
        while i < data.len() {
            match &mut self.state {
                State::Off => return Ok(()),
                State::Body(left) => {
                    let n = (*left).min((data.len() - i) as u64);
                    *left -= n;
                    i += n as usize;
                    if *left == 0 {
                        self.state = State::Head(Head::default());
                        head_start = i;
                    }
                }
                State::ChunkData(left) => {
                    let n = (*left).min((data.len() - i) as u64);
                    *left -= n;
                    i += n as usize;
                    if *left == 0 {
                        self.state = State::ChunkEnd(0);
                    }
                }
                State::ChunkEnd(seen) => {
                    let b = data[i];
                    i += 1;
                    *seen += 1;
                    if b == b'\n' {
                        self.state = State::ChunkSize(Vec::new());
                    } else if b != b'\r' || *seen > 1 {
                        self.state = State::Off;
                    }
                }
                State::ChunkSize(line) => {
                    let b = data[i];
                    i += 1;
                    if b != b'\n' {
                        line.push(b);
                        if line.len() > MAX_CHUNK_LINE_BYTES {
                            self.state = State::Off;
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(line);
                    let size = text.trim_end_matches('\r').split(';').next().unwrap_or("");
                    self.state = match u64::from_str_radix(size.trim(), 16) {
                        Ok(0) => State::Trailer { line: 0, total: 0 },
                        Ok(n) => State::ChunkData(n),
                        Err(_) => State::Off,
                    };
                }
                State::Trailer { line, total } => {
                    let b = data[i];
                    i += 1;
                    *total += 1;
                    let too_long = *total > MAX_HEAD_BYTES;
                    if b == b'\n' {
                        if *line == 0 {
                            self.state = State::Head(Head::default());
                            head_start = i;
                            continue;
                        }
                        *line = 0;
                    } else if b != b'\r' {
                        *line += 1;
                    }
                    if too_long {
                        self.state = State::Off;
                    }
                }
                State::Head(head) => {
                    let b = data[i];
                    i += 1;
                    head.len += 1;
                    if head.len >= MAX_HEAD_BYTES {
                        return Err((head_start, Refusal::HeadTooLarge));
                    }
                    if !head.line_done {
                        match b {
                            b'\r' | b'\n' if !head.started => {}
                            b'\n' => head.line_done = true,
                            b' ' => {
                                head.started = true;
                                head.spaces = head.spaces.saturating_add(1);
                            }
                            b'\r' => {}
                            _ => {
                                head.started = true;
                                if head.spaces == 1 {
                                    head.target += 1;
                                    if head.target > MAX_TARGET_BYTES {
                                        return Err((head_start, Refusal::LineTooLong));
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    let line_start = head.fields.last().is_none_or(|&p| p == b'\n');
                    if line_start && b != b'\r' && b != b'\n' {
                        head.lines += 1;
                        // actix refuses at the first byte of one field too many.
                        if head.lines > MAX_HEADER_FIELDS {
                            return Err((head_start, Refusal::TooManyFields));
                        }
                    }
                    head.fields.push(b);
                    let f = &head.fields;
                    let ended = f == b"\n"
                        || f == b"\r\n"
                        || f.ends_with(b"\n\n")
                        || f.ends_with(b"\n\r\n");
                    if ended {
                        let fields = std::mem::take(&mut head.fields);
                        self.state = body_after(&fields);
                        head_start = i;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A client stream whose request heads are checked against actix's limits before actix reads them.
pub struct HeadGuard<T> {
    io: T,
    framing: Framing,
    /// Set once a head is refused: from then on the dispatcher reads the end of the stream.
    refused: Option<Refusal>,
    /// The answer to a refused head and how much of it is written.
    answer: Vec<u8>,
    written: usize,
    /// Once the answer is out: the write side is shut, and the rest of the request is being dropped.
    shut: bool,
    drained: usize,
    deadline: Option<Pin<Box<actix_web::rt::time::Sleep>>>,
}

impl<T> HeadGuard<T> {
    pub fn new(io: T) -> Self {
        HeadGuard {
            io,
            framing: Framing::default(),
            refused: None,
            answer: Vec::new(),
            written: 0,
            shut: false,
            drained: 0,
            deadline: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused.is_some() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if let Err((keep, why)) = this.framing.feed(&buf.filled()[before..]) {
            buf.set_filled(before + keep);
            let e = why.error();
            tracing::info!(
                target: "tailings_atlas::http",
                status = e.status.as_u16(),
                reason = %e.description,
                "request refused before routing"
            );
            this.refused = Some(why);
            this.answer = why.response();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused.is_none() {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        }
        // The responses to the requests before the refused one are out: the answer goes last.
        while this.written < this.answer.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &this.answer[this.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.written += n;
        }
        if !this.shut {
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.shut = true;
            this.deadline = Some(Box::pin(actix_web::rt::time::sleep(DRAIN_TIME)));
        }
        // Closing with unread bytes would reset the connection, and the client could lose the answer:
        // drop what it still sends, for a while.
        let mut scratch = [0u8; 8192];
        while this.drained < DRAIN_BYTES {
            if let Some(d) = this.deadline.as_mut()
                && d.as_mut().poll(cx).is_ready()
            {
                break;
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    this.drained += buf.filled().len();
                }
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&[u8]]) -> Result<(), (usize, usize, Refusal)> {
        let mut f = Framing::default();
        for (n, c) in chunks.iter().enumerate() {
            f.feed(c).map_err(|(keep, why)| (n, keep, why))?;
        }
        Ok(())
    }

    fn get(target_len: usize) -> Vec<u8> {
        let mut r = b"GET /".to_vec();
        r.extend(std::iter::repeat_n(b'a', target_len - 1));
        r.extend(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        r
    }

    #[test]
    fn targets_up_to_the_uri_limit_pass() {
        assert_eq!(feed_all(&[&get(MAX_TARGET_BYTES)]), Ok(()));
        let long = get(MAX_TARGET_BYTES + 1);
        assert_eq!(
            feed_all(&[&long]),
            Err((0, 0, Refusal::LineTooLong)),
            "refused before actix sees the line end"
        );
        // Split across reads: the part already passed on stays; the rest is withheld.
        let (a, b) = long.split_at(40_000);
        assert_eq!(feed_all(&[a, b]), Err((1, 0, Refusal::LineTooLong)));
    }

    #[test]
    fn a_refused_head_after_others_keeps_them() {
        let mut data = get(10);
        let first = data.len();
        data.extend(get(70_000));
        assert_eq!(feed_all(&[&data]), Err((0, first, Refusal::LineTooLong)));
    }

    #[test]
    fn heads_that_fill_the_buffer_are_refused() {
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        while head.len() < MAX_HEAD_BYTES {
            head.extend(format!("X-Filler: {}\r\n", "f".repeat(4000)).bytes());
        }
        assert_eq!(feed_all(&[&head]), Err((0, 0, Refusal::HeadTooLarge)));
        let mut small = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        small.extend(std::iter::repeat_n(b'y', 100_000).collect::<Vec<_>>());
        small.extend(b": 1\r\n\r\n");
        assert_eq!(feed_all(&[&small]), Ok(()));
    }

    #[test]
    fn heads_with_too_many_fields_are_refused() {
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for n in 1..MAX_HEADER_FIELDS {
            head.extend(format!("X-{n}: 1\r\n").bytes());
        }
        let full = head.len();
        assert_eq!(feed_all(&[&head, b"\r\n"]), Ok(()), "96 fields pass");
        head.extend(b"X-97: 1\r\n\r\n");
        assert_eq!(feed_all(&[&head]), Err((0, 0, Refusal::TooManyFields)));
        let (a, b) = head.split_at(full);
        assert_eq!(feed_all(&[a, b]), Err((1, 0, Refusal::TooManyFields)));
    }

    #[test]
    fn bodies_are_skipped_by_their_length() {
        // A body without line ends longer than the limits, then a long (refused) request line.
        let mut data =
            b"POST /import HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n".to_vec();
        let head = data.len();
        data.extend(std::iter::repeat_n(b'z', 300_000));
        let fine = data.len();
        data.extend(get(10));
        assert_eq!(feed_all(&[&data]), Ok(()));
        data.truncate(fine);
        data.extend(get(70_000));
        let (a, b) = data.split_at(head + 1000);
        assert_eq!(
            feed_all(&[a, b]),
            Err((1, fine - a.len(), Refusal::LineTooLong))
        );
    }

    #[test]
    fn chunked_bodies_are_followed() {
        let mut data =
            b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            data.extend(format!("{:x};ext=1\r\n", 100_000).bytes());
            data.extend(std::iter::repeat_n(b'q', 100_000));
            data.extend(b"\r\n");
        }
        data.extend(b"0\r\nX-Trailer: 1\r\n\r\n");
        let fine = data.len();
        data.extend(get(10));
        assert_eq!(feed_all(&[&data]), Ok(()));
        data.truncate(fine);
        data.extend(get(65_600));
        // Byte by byte, as a slow client sends it.
        let mut f = Framing::default();
        let refused = data
            .iter()
            .enumerate()
            .find_map(|(i, b)| f.feed(std::slice::from_ref(b)).err().map(|e| (i, e)));
        assert_eq!(
            refused,
            Some((fine + 4 + MAX_TARGET_BYTES, (0, Refusal::LineTooLong)))
        );
    }

    #[test]
    fn unfollowable_framing_is_left_to_actix() {
        let mut data =
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                .to_vec();
        data.extend(get(70_000));
        assert_eq!(feed_all(&[&data]), Ok(()));
    }

    #[test]
    fn the_answer_is_ogc_json() {
        let text = String::from_utf8(Refusal::LineTooLong.response()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json\r\n"));
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(
            head.contains("x-content-type-options: nosniff\r\n"),
            "{head}"
        );
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(doc["description"].as_str().unwrap().contains("64 KiB"));
        assert!(!doc["code"].as_str().unwrap().is_empty());
    }
}
