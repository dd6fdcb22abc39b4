//! Each client connection's own HTTP/1.1 connections to the replicas, written and read in
//! that client connection's task: a request goes out and its answer comes back with no
//! channel, pool or task in between ([`crate::http1`] frames the answers).
//!
//! A client connection carries one request at a time, so it keeps at most one upstream
//! connection per replica it has sent to. Every request is still balanced on its own: a
//! kept client connection reaches replicas added after it connected, over a new upstream
//! connection the first time. A kept connection the replica closed (it left or restarted)
//! shows as readable while idle and is replaced by a new one; a request sent on a kept
//! connection that closes before any byte of an answer is sent once more on a new one
//! when the whole request was still in hand.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::CONTENT_LENGTH;
use hyper::http::request;
use hyper::{Method, Response, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

use super::balance::Backend;
use crate::http1::{Done, Keep, ResponseHead, ResponseReader, Step};

/// The body of a request sent for an upgrade, over hyper's client.
pub type UpgradeBody = BoxBody<Bytes, hyper::Error>;
pub type UpgradeSender = SendRequest<UpgradeBody>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Kept connections a client connection holds before those its replicas closed are let go.
const KEPT_BEFORE_SWEEP: usize = 4;
/// Read at least this much room at a time: an answer rarely fills it, and a short read tells
/// tokio the socket is drained (so a kept connection's readiness means its replica spoke).
const READ_ROOM: usize = 16 * 1024;
/// A connection's read buffer: twice the room, so that it is made room in again (its read
/// answers long gone) once every many small answers rather than before each read.
const READ_BUFFER: usize = 2 * READ_ROOM;

/// Why no answer could be had from a replica.
#[derive(Debug)]
pub struct ConnectError(pub String);

/// The upstream connections of one client connection. Cloned into each request's handler
/// and into each answer's body, which gives its connection back once the answer is read.
#[derive(Clone, Default)]
pub struct Upstreams {
    /// Taken out while a request uses one (one request at a time: never contended).
    kept: Arc<Mutex<Vec<(Backend, Conn)>>>,
}

/// One HTTP/1.1 connection to a replica, what has been read from it, and the room its
/// requests' heads are written into (reused once each head is sent).
pub struct Conn {
    stream: TcpStream,
    read: BytesMut,
    heads: BytesMut,
}

/// How a request's body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// None at all.
    Bodiless,
    /// As it comes: the request says its `content-length`.
    Raw,
    /// Chunked, as it comes.
    Chunked,
}

impl Upstreams {
    /// Sends the request to `backend` and reads the head of its answer; the body follows
    /// as the answer's body is polled.
    pub async fn send(&self, backend: Backend, head: &request::Parts, body: Option<Incoming>) -> Result<Response<ReplicaBody>, String> {
        let framing = match &body {
            None => Framing::Bodiless,
            Some(_) if head.headers.contains_key(CONTENT_LENGTH) => Framing::Raw,
            Some(_) => Framing::Chunked,
        };
        let (mut conn, kept) = self.conn(backend).await?;
        let upload = Upload {
            head: encode_head(head, framing, &mut conn.heads),
            pieces: VecDeque::new(),
            body,
            framing,
        };
        let mut answer = ResponseHead::default();
        let (_, body) = self.exchange(backend, (conn, kept), upload, head.method == Method::HEAD, Keep::Map(&mut answer)).await?;
        let mut response = Response::new(body);
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        *response.version_mut() = Version::HTTP_11;
        Ok(response)
    }

    /// Sends a request already on the wire (`head` ends with its blank line; `body` is all of
    /// it) and appends its answer's head to `out` as it goes on (see [`Keep::Relay`]); the
    /// answer's status and its body follow.
    pub async fn relay(&self, backend: Backend, head: Bytes, body: Bytes, head_request: bool, out: &mut BytesMut) -> Result<(u16, ReplicaBody), String> {
        let pieces = if body.is_empty() { VecDeque::new() } else { VecDeque::from([body]) };
        let upload = Upload { head, pieces, body: None, framing: Framing::Raw };
        let conn = self.conn(backend).await?;
        self.exchange(backend, conn, upload, head_request, Keep::Relay(out)).await
    }

    /// The kept connection to `backend`, else a new one (and whether it was kept).
    async fn conn(&self, backend: Backend) -> Result<(Conn, bool), String> {
        match self.take(backend) {
            Some(conn) => Ok((conn, true)),
            None => Ok((Conn::open(backend).await?, false)),
        }
    }

    /// Writes `upload` and reads its answer's head into `keep`.
    async fn exchange(&self, backend: Backend, (mut conn, kept): (Conn, bool), mut upload: Upload, head_request: bool, mut keep: Keep<'_>) -> Result<(u16, ReplicaBody), String> {
        // The first piece of the body goes out with the head.
        if upload.body.is_some() {
            std::future::poll_fn(|cx| upload.poll_next_piece(cx)).await?;
        }
        let again = if kept { upload.again() } else { None };
        let mut reader = ResponseReader::answering(head_request);
        match read_head(&mut conn, &mut upload, &mut reader, keep.reborrow()).await {
            Ok(()) => {}
            // The keep-alive race: the replica closed the kept connection as the request went out.
            Err(e) if reader.untouched() => {
                let Some(again) = again else { return Err(e) };
                (conn, upload) = (Conn::open(backend).await?, again);
                reader = ResponseReader::answering(head_request);
                read_head(&mut conn, &mut upload, &mut reader, keep).await?;
            }
            Err(e) => return Err(e),
        }
        let status = reader.status();
        let mut body = ReplicaBody { flight: Some(Box::new(Flight { conn, upload, reader, ready: 0 })), home: (self.clone(), backend) };
        // An answer with no body (HEAD, 204, 304, a length of 0) is done: its connection
        // goes back now, as nothing will poll the body.
        if body.flight.as_ref().is_some_and(|f| f.reader.body_left() == Some(0)) {
            let mut cx = Context::from_waker(Waker::noop());
            let _done = Pin::new(&mut body).poll_frame(&mut cx);
        }
        Ok((status, body))
    }

    /// The kept connection to `backend` if its replica has not spoken since (which would be
    /// a close: nothing else comes unasked).
    fn take(&self, backend: Backend) -> Option<Conn> {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = kept.iter().position(|(b, _)| *b == backend)?;
        let (_, conn) = kept.swap_remove(at);
        (!conn.spoke()).then_some(conn)
    }

    fn keep(&self, backend: Backend, conn: Conn) {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Connections to replicas since gone are let go now and then, not looked at every time.
        if kept.len() >= KEPT_BEFORE_SWEEP {
            kept.retain(|(_, c)| !c.spoke());
        }
        kept.push((backend, conn));
    }
}

impl Conn {
    /// Boxed: a connect's future is large and rare next to a request's, which carries it.
    async fn open(backend: Backend) -> Result<Conn, String> {
        let stream = Box::pin(connect(backend)).await.map_err(|e| e.0)?;
        Ok(Conn { stream, read: BytesMut::with_capacity(READ_BUFFER), heads: BytesMut::new() })
    }

    /// Readable while idle: the replica closed it (or broke the protocol).
    fn spoke(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.stream.poll_read_ready(&mut cx).is_ready()
    }

    /// Reads what has arrived; `Ok(0)` at the close.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_ROOM {
            self.read.reserve(READ_ROOM);
        }
        let room = self.read.spare_capacity_mut();
        let mut buf = ReadBuf::uninit(room);
        std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
        unsafe { self.read.advance_mut(n) };
        Poll::Ready(Ok(n))
    }
}

/// A request on its way out: the bytes not yet written, and the body still to come.
struct Upload {
    /// The request line and headers, then nothing: written first.
    head: Bytes,
    /// Pieces of the body, framed, in order.
    pieces: VecDeque<Bytes>,
    body: Option<Incoming>,
    framing: Framing,
}

impl Upload {
    /// Moves the next piece of the body (or its end) into `pieces`; ready when one moved.
    fn poll_next_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        let Some(body) = self.body.as_mut() else { return Poll::Ready(Ok(())) };
        match std::task::ready!(Pin::new(body).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if data.is_empty() => {}
                Ok(data) if self.framing == Framing::Chunked => {
                    self.pieces.push_back(Bytes::from(format!("{:x}\r\n", data.len())));
                    self.pieces.push_back(data);
                    self.pieces.push_back(Bytes::from_static(b"\r\n"));
                }
                Ok(data) => self.pieces.push_back(data),
                // Trailers are not forwarded.
                Err(_) => {}
            },
            Some(Err(e)) => return Poll::Ready(Err(format!("reading the request body: {e}"))),
            None => {
                if self.framing == Framing::Chunked {
                    self.pieces.push_back(Bytes::from_static(b"0\r\n\r\n"));
                }
                self.body = None;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what it can, several pieces a call; ready once the whole request is written.
    fn poll_write(&mut self, stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        loop {
            if self.head.is_empty() && self.pieces.is_empty() {
                if self.body.is_none() {
                    return Poll::Ready(Ok(()));
                }
                std::task::ready!(self.poll_next_piece(cx))?;
                continue;
            }
            let mut slices = [IoSlice::new(&[]); 16];
            let mut count = 0;
            for piece in std::iter::once(&self.head).chain(self.pieces.iter()).filter(|b| !b.is_empty()).take(slices.len()) {
                slices[count] = IoSlice::new(piece);
                count += 1;
            }
            let written = std::task::ready!(Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..count]))
                .map_err(|e| format!("writing to the replica: {e}"))?;
            if written == 0 {
                return Poll::Ready(Err("writing to the replica: connection closed".into()));
            }
            self.consume(written);
        }
    }

    /// Drops the first `n` bytes not yet written.
    fn consume(&mut self, mut n: usize) {
        let from_head = n.min(self.head.len());
        self.head.advance(from_head);
        n -= from_head;
        while n > 0 {
            let Some(front) = self.pieces.front_mut() else { return };
            let take = n.min(front.len());
            front.advance(take);
            n -= take;
            if front.is_empty() {
                self.pieces.pop_front();
            }
        }
    }

    fn done(&self) -> bool {
        self.body.is_none() && self.head.is_empty() && self.pieces.is_empty()
    }

    /// The same request again, if it is all in hand (no body still to come).
    fn again(&self) -> Option<Upload> {
        self.body.is_none().then(|| Upload { head: self.head.clone(), pieces: self.pieces.clone(), body: None, framing: self.framing })
    }
}

/// Writes the request while reading until the answer's head is in; a body too big for the
/// sockets' buffers keeps going out as the answer streams back (an echo needs both at once).
async fn read_head(conn: &mut Conn, upload: &mut Upload, reader: &mut ResponseReader, mut keep: Keep<'_>) -> Result<(), String> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(Err(e)) = upload.poll_write(&mut conn.stream, cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            match reader.step(&mut conn.read, keep.reborrow()).map_err(|e| e.to_string())? {
                Step::Head => return Poll::Ready(Ok(())),
                Step::More => match std::task::ready!(conn.poll_read_more(cx)) {
                    Ok(0) => return Poll::Ready(Err("the replica closed the connection before answering".into())),
                    Ok(_) => {}
                    Err(e) => return Poll::Ready(Err(format!("reading from the replica: {e}"))),
                },
                Step::Body(_) | Step::Done(_) => return Poll::Ready(Err("an answer without a head".into())),
            }
        }
    })
    .await
}

/// The request line and headers, and the framing header the body needs, written into `out`.
fn encode_head(head: &request::Parts, framing: Framing, out: &mut BytesMut) -> Bytes {
    let target = head.uri.path_and_query().map_or("/", |p| p.as_str());
    let length = head.method.as_str().len() + target.len() + 48 + head.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>();
    crate::http1::head_room(out, length);
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.split().freeze()
}

/// A request under way on a connection: what is still to be written, and the answer's reader.
struct Flight {
    conn: Conn,
    upload: Upload,
    reader: ResponseReader,
    /// Bytes at the front of `conn.read` that are body, not yet handed out.
    ready: usize,
}

/// A replica's answer body, read from its connection as it is polled; the connection goes
/// back to its client connection's [`Upstreams`] once the answer is whole.
pub struct ReplicaBody {
    /// Boxed: the answer's body is moved several times on its way into hyper.
    flight: Option<Box<Flight>>,
    home: (Upstreams, Backend),
}

impl ReplicaBody {
    /// The answer says where its body ends (a length, or no body at all), so it can go on as it came.
    pub fn framed_by_length(&self) -> bool {
        self.flight.as_ref().is_none_or(|f| f.reader.framed_by_length())
    }

    /// The answer is whole: its connection goes back if it can carry the next request.
    fn finish(&mut self, done: Done) {
        if let Some(flight) = self.flight.take() {
            if done.reusable && flight.upload.done() {
                self.home.0.keep(self.home.1, flight.conn);
            }
        }
    }

    fn fail(&mut self, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.flight = None;
        Poll::Ready(Some(Err(io::Error::other(error))))
    }
}

impl Body for ReplicaBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        let Some(flight) = this.flight.as_mut() else { return Poll::Ready(None) };
        // The rest of a big request body goes out while the answer comes back.
        if let Poll::Ready(Err(e)) = flight.upload.poll_write(&mut flight.conn.stream, cx) {
            return this.fail(e);
        }
        loop {
            if flight.ready > 0 {
                let data = flight.conn.read.split_to(std::mem::take(&mut flight.ready)).freeze();
                // Looked ahead, so the last piece goes out as the last: hyper may drop a body
                // once it has sent the length it announced, and the connection must go home first.
                match flight.reader.step(&mut flight.conn.read, Keep::Nothing) {
                    Ok(Step::Done(done)) => this.finish(done),
                    Ok(Step::Body(n)) => flight.ready = n,
                    Ok(Step::More | Step::Head) => {}
                    Err(e) => return this.fail(e),
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match flight.reader.step(&mut flight.conn.read, Keep::Nothing) {
                Ok(Step::Body(n)) => flight.ready = n,
                Ok(Step::Head) => {}
                Ok(Step::Done(done)) => {
                    this.finish(done);
                    return Poll::Ready(None);
                }
                Ok(Step::More) => match std::task::ready!(flight.conn.poll_read_more(cx)) {
                    Ok(0) => {
                        let closed = flight.reader.closed();
                        this.flight = None;
                        return match closed {
                            Ok(_) => Poll::Ready(None),
                            Err(e) => Poll::Ready(Some(Err(io::Error::other(e)))),
                        };
                    }
                    Ok(_) => {}
                    Err(e) => return this.fail(e),
                },
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.flight.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.flight.as_ref().and_then(|f| Some(f.reader.body_left()? + f.ready as u64)) {
            Some(left) => SizeHint::with_exact(left),
            None => SizeHint::default(),
        }
    }
}

/// A connection for an upgrade (WebSocket…), over hyper's client and driven by a task of its
/// own: once the replica answers 101 the tunnel outlives the client connection's HTTP handling.
pub async fn connect_for_upgrade(backend: Backend, tasks: &TaskTracker) -> Result<UpgradeSender, ConnectError> {
    let stream = connect(backend).await?;
    let (sender, connection) =
        http1::handshake(TokioIo::new(stream)).await.map_err(|e| ConnectError(format!("handshake: {e}")))?;
    tasks.spawn(async move {
        let _closed = connection.with_upgrades().await;
    });
    Ok(sender)
}

async fn connect(backend: Backend) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(ConnectError(format!("tcp connect error: {e}"))),
        Err(_) => return Err(ConnectError(format!("tcp connect timed out after {CONNECT_TIMEOUT:?}"))),
    };
    // Latency only: a socket without NODELAY still forwards.
    stream.set_nodelay(true).ok();
    Ok(stream)
}
