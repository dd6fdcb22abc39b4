//! The client side of an HTTP/1.1 connection, read in place as nginx reads it: a plain
//! request is parsed where it lies in the connection's buffer, goes to a replica with only
//! this hop's headers left out, and its answer is written back as it came.
//!
//! A plain request is HTTP/1.1 with an origin-form target, a body of known length up to
//! [`WHOLE_BODY`] (read whole before it goes out, as nginx buffers one), and nothing else the
//! address must act on (see [`Survey::unusual`]). Anything else — an upgrade, a chunked or
//! larger body, `Expect`, HTTP/1.0, a head too large or malformed — and everything after it
//! on that connection goes to hyper's server (`http`), handed the bytes already read.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hyper::body::Body;
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::balance::{Backend, InFlight};
use super::conn::Accepted;
use super::fault::Injected;
use super::headers::{forwarded_for, Peer, Survey};
use super::http::{is_idempotent, Abandoned, Meta, Tracker, UpstreamError, Waiting};
use super::upstream::{ReplicaBody, Upstreams};
use super::watch::Activity;
use super::ProxyShared;

/// Headers a plain request may carry (hyper's server takes up to 100).
const MAX_HEADERS: usize = 64;
/// A head still incomplete at this size goes to hyper's server, which allows larger ones.
const MAX_HEAD: usize = 16 * 1024;
/// The largest body read whole before it goes out; a larger one streams through hyper.
pub const WHOLE_BODY: u64 = 64 * 1024;
/// Room for each read from the client: a request rarely fills it, and a short read tells
/// tokio the socket is drained.
const READ_ROOM: usize = 8 * 1024;
/// Pieces of an answer queued for one write at most (a chunk takes three).
const GATHERED: usize = 12;
/// Bytes of requests pipelined behind the one under way read ahead at most.
const READ_AHEAD: usize = MAX_HEAD + WHOLE_BODY as usize;

/// How a connection's plain requests ended.
pub(super) enum Ended {
    /// The connection is done with.
    Closed,
    /// A request that is not plain: hyper's server takes the connection from these bytes.
    Unusual(Accepted, Bytes),
}

/// One client connection's plain requests.
pub(super) struct Front {
    pub shared: Arc<ProxyShared>,
    pub client: Accepted,
    pub peer: Option<Peer>,
    pub upstreams: Upstreams,
    pub activity: Arc<Activity>,
}

/// What a plain request's head said, once its head for the replicas is written.
#[derive(Debug, PartialEq, Eq)]
struct Plain {
    /// Bytes of the client's head.
    used: usize,
    survey: Survey,
    head_request: bool,
    idempotent: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Parse {
    /// The head is not all in.
    Partial,
    /// Not a plain request.
    Unusual,
    Plain(Plain),
}

/// Reads the request head at the front of `buf`; for a plain one, writes its head for the
/// replicas into `out`, without the blank line that ends it (a request without `host` gets
/// each replica's).
fn parse(buf: &[u8], peer: Option<&Peer>, out: &mut BytesMut) -> Parse {
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let used = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut headers) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parse::Partial,
        // Too large, too many headers, malformed: hyper's server answers it.
        Ok(httparse::Status::Partial) | Err(_) => return Parse::Unusual,
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version) else { return Parse::Unusual };
    if !target.starts_with('/') || method == "CONNECT" {
        return Parse::Unusual;
    }
    let mut survey = Survey::default();
    let mut forwarded = None;
    for h in request.headers.iter() {
        survey.note(h.name.as_bytes(), h.value);
        if forwarded.is_none() && h.name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded = Some(h.value);
        }
    }
    if survey.unusual || survey.content_length > WHOLE_BODY {
        return Parse::Unusual;
    }
    let length = method.len() + target.len() + 64 + request.headers.iter().map(|h| h.name.len() + h.value.len() + 4).sum::<usize>();
    crate::http1::head_room(out, length);
    out.extend_from_slice(method.as_bytes());
    out.put_u8(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in request.headers.iter() {
        let name = h.name.as_bytes();
        if crate::http1::is_hop_by_hop(name) || (peer.is_some() && name.eq_ignore_ascii_case(b"x-forwarded-for")) {
            continue;
        }
        out.extend_from_slice(name);
        out.put_slice(b": ");
        out.extend_from_slice(h.value);
        out.put_slice(b"\r\n");
    }
    if let Some(peer) = peer {
        out.put_slice(b"x-forwarded-for: ");
        forwarded_for(forwarded, peer.as_bytes(), out);
        out.put_slice(b"\r\n");
    }
    let idempotent = hyper::Method::from_bytes(method.as_bytes()).is_ok_and(|m| is_idempotent(&m));
    Parse::Plain(Plain { used, survey, head_request: method == "HEAD", idempotent })
}

/// What answers a request: a replica, or the address itself.
enum Answer {
    Replica { status: u16, body: ReplicaBody, slot: InFlight },
    Own { status: StatusCode, body: serde_json::Value, replica: Option<u32>, failed: bool },
}

/// A request on its way to the replicas.
struct Outgoing<'a> {
    /// Its line and headers, without the blank line.
    head: &'a Bytes,
    body: &'a Bytes,
    hostless: bool,
    head_request: bool,
}

impl Front {
    /// Serves plain requests until the connection closes or one is not plain.
    pub(super) async fn serve(self) -> Ended {
        let Front { shared, mut client, peer, upstreams, activity } = self;
        let mut buf = BytesMut::new();
        let mut heads = BytesMut::new();
        let mut pieces = VecDeque::new();
        loop {
            // The address stops (or the connection was idle too long): no next request.
            if activity.decided() {
                return Ended::Closed;
            }
            let plain = loop {
                match parse(&buf, peer.as_ref(), &mut heads) {
                    Parse::Plain(plain) => break plain,
                    Parse::Unusual => return Ended::Unusual(client, buf.freeze()),
                    Parse::Partial => {
                        if !read_more(&mut client, &mut buf, &activity).await {
                            return Ended::Closed;
                        }
                    }
                }
            };
            let whole = plain.used + plain.survey.content_length as usize;
            while buf.len() < whole {
                if !read_more(&mut client, &mut buf, &activity).await {
                    return Ended::Closed;
                }
            }
            buf.advance(plain.used);
            let body = buf.split_to(whole - plain.used).freeze();
            if plain.survey.host {
                heads.put_slice(b"\r\n");
            }
            let head = heads.split().freeze();
            let Plain { mut survey, head_request, idempotent, .. } = plain;
            let close = survey.close;
            let meta = Meta::new(&shared, survey.caller.take(), survey.content_length, &activity);
            let waiting = Waiting { activity: &activity, since: meta.started };
            let mut abandoned = Abandoned { shared: &shared, meta: Some(meta), replica: None, injected: Default::default() };
            let out = Outgoing { head: &head, body: &body, hostless: !survey.host, head_request };
            let replayable = idempotent && body.is_empty();
            let answer = {
                let responding = pin!(respond(&shared, &upstreams, &out, replayable, waiting, (&mut abandoned.replica, &mut abandoned.injected), &mut heads));
                watch_client(responding, &mut client, &mut buf).await
            };
            // The client closed the connection first: `abandoned` records it.
            let Some(answer) = answer else { return Ended::Closed };
            let (meta, injected) = (abandoned.meta.take(), abandoned.injected);
            let written = match answer {
                Answer::Replica { status, body, slot } => {
                    let tracker = Tracker { shared: shared.clone(), replica: Some(slot.backend.replica), _in_flight: Some(slot), status, meta, failed: false, bytes: 0, injected };
                    relay_answer(&mut client, &mut heads, &mut pieces, body, close, tracker).await
                }
                Answer::Own { status, body, replica, failed } => {
                    let body = Bytes::from(body.to_string());
                    // Recorded before the client can read the answer, as a replica's answer is.
                    drop(Tracker { shared: shared.clone(), replica, _in_flight: None, status: status.as_u16(), meta, failed, bytes: body.len() as u64, injected });
                    own_answer(&mut heads, &mut pieces, status, body, close);
                    write_all(&mut client, &mut pieces).await.is_ok()
                }
            };
            if !written || close {
                return Ended::Closed;
            }
        }
    }
}

/// Forwards, retries once elsewhere if safe, or answers 503/502/504; `sent_to` learns each
/// replica tried, `injected` what a fault added.
async fn respond(
    shared: &Arc<ProxyShared>,
    upstreams: &Upstreams,
    out: &Outgoing<'_>,
    replayable: bool,
    mut waiting: Waiting<'_>,
    (sent_to, injected): (&mut Option<u32>, &mut Injected),
    heads: &mut BytesMut,
) -> Answer {
    let Some(first) = shared.balancer.pick(None) else {
        let (status, body) = shared.no_replica();
        return Answer::Own { status, body, replica: None, failed: false };
    };
    // A fault applies after the pick, to that replica's requests.
    if let Some(fault) = shared.faults.current() {
        match super::inject::http(shared, &fault, first.backend.replica, waiting.since, injected).await {
            super::inject::Applied::Forward { since } => waiting.since = since,
            super::inject::Applied::Abort { status, body } => return Answer::Own { status, body, replica: None, failed: false },
        }
    }
    *sent_to = Some(first.backend.replica);
    let (error, failed) = match send(shared, upstreams, out, first, waiting, heads).await {
        Ok(answer) => return answer,
        Err(failure) => failure,
    };
    // A replica that took the request and said nothing may still be working on it: not sent again.
    let retry = if replayable && !error.timed_out { shared.balancer.pick(Some(failed)) } else { None };
    let error = match retry {
        Some(second) => {
            *sent_to = Some(second.backend.replica);
            match send(shared, upstreams, out, second, waiting, heads).await {
                Ok(answer) => return answer,
                Err((error, _)) => error,
            }
        }
        None => error,
    };
    let (status, body) = shared.failure(&error);
    Answer::Own { status, body, replica: Some(error.replica), failed: true }
}

/// Sends the request to the slot's replica and reads the head of its answer into `heads`.
async fn send(
    shared: &ProxyShared,
    upstreams: &Upstreams,
    out: &Outgoing<'_>,
    slot: InFlight,
    waiting: Waiting<'_>,
    heads: &mut BytesMut,
) -> Result<Answer, (UpstreamError, Backend)> {
    let backend = slot.backend;
    let head = match out.hostless {
        false => out.head.clone(),
        true => {
            let authority = &slot.counters().authority;
            let mut head = BytesMut::with_capacity(out.head.len() + authority.len() + 12);
            head.extend_from_slice(out.head);
            head.put_slice(b"host: ");
            head.extend_from_slice(authority.as_bytes());
            head.put_slice(b"\r\n\r\n");
            head.freeze()
        }
    };
    let limit = shared.options.response_timeout;
    let sending = pin!(upstreams.relay(backend, head, out.body.clone(), out.head_request, heads));
    let (sent, timed_out) = match waiting.activity.answer_within(waiting.since, sending).await {
        Some(sent) => (sent, false),
        None => (Err(format!("no answer within {limit:?}")), true),
    };
    match sent {
        Ok((status, body)) => Ok(Answer::Replica { status, body, slot }),
        Err(detail) => {
            slot.counters().failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err((UpstreamError { replica: backend.replica, detail, timed_out }, backend))
        }
    }
}

/// Waits for the answer while reading what the client sends meanwhile: a close means it gave
/// up (`None`), bytes are the next requests, kept for later.
async fn watch_client<F: Future<Output = Answer>>(mut answer: Pin<&mut F>, client: &mut Accepted, buf: &mut BytesMut) -> Option<Answer> {
    poll_fn(|cx| {
        if let Poll::Ready(answer) = answer.as_mut().poll(cx) {
            return Poll::Ready(Some(answer));
        }
        while buf.len() < READ_AHEAD {
            match std::task::ready!(poll_read(client, cx, buf)) {
                Ok(0) | Err(_) => return Poll::Ready(None),
                Ok(_) => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// Reads more of the client's bytes; false once it closed, or the connection should (idle, stop).
async fn read_more(client: &mut Accepted, buf: &mut BytesMut, activity: &Activity) -> bool {
    let mut closing = pin!(activity.closing());
    poll_fn(|cx| {
        if closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        poll_read(client, cx, buf).map(|read| matches!(read, Ok(n) if n > 0))
    })
    .await
}

fn poll_read(client: &mut Accepted, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_ROOM {
        buf.reserve(READ_ROOM);
    }
    let mut read = ReadBuf::uninit(buf.spare_capacity_mut());
    std::task::ready!(Pin::new(client).poll_read(cx, &mut read))?;
    let n = read.filled().len();
    // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
    unsafe { buf.advance_mut(n) };
    Poll::Ready(Ok(n))
}

/// Writes a replica's answer as it comes: its head (from `heads`), then its body, chunked
/// anew when the replica's framing was its own (chunked, or up to its close). True when it
/// was all written and the connection can carry the next request.
async fn relay_answer(client: &mut Accepted, heads: &mut BytesMut, pieces: &mut VecDeque<Bytes>, mut body: ReplicaBody, close: bool, mut tracker: Tracker) -> bool {
    let chunked = !body.framed_by_length();
    if chunked {
        heads.put_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        heads.put_slice(b"connection: close\r\n");
    }
    heads.put_slice(b"\r\n");
    pieces.push_back(heads.split().freeze());
    let mut body_is = BodyIs::Coming;
    loop {
        // What the answer has ready goes out with what is queued, in one write (a few reads'
        // worth at most, so a fast replica and a slow client hold little in between).
        while body_is == BodyIs::Coming && pieces.len() < GATHERED {
            match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(frame) => body_is = queue(frame, chunked, pieces, &mut tracker, heads),
                Poll::Pending => break,
            }
        }
        // The body is all queued: the request is recorded before the client can read its end.
        if body_is != BodyIs::Coming {
            tracker.record();
        }
        if !pieces.is_empty() {
            if write_all(client, pieces).await.is_err() {
                return false;
            }
            continue;
        }
        match body_is {
            BodyIs::Whole => return true,
            // Cut short: the client's framing is unfinished, so the connection cannot go on.
            BodyIs::Cut => return false,
            BodyIs::Coming => {}
        }
        let frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        body_is = queue(frame, chunked, pieces, &mut tracker, heads);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyIs {
    Coming,
    Whole,
    Cut,
}

type Frame = Option<Result<hyper::body::Frame<Bytes>, io::Error>>;

/// Queues a frame of the answer's body for the client.
fn queue(frame: Frame, chunked: bool, pieces: &mut VecDeque<Bytes>, tracker: &mut Tracker, scratch: &mut BytesMut) -> BodyIs {
    match frame {
        Some(Ok(frame)) => {
            let Ok(data) = frame.into_data() else { return BodyIs::Coming };
            if data.is_empty() {
                return BodyIs::Coming;
            }
            tracker.bytes += data.len() as u64;
            if chunked {
                scratch.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
                pieces.push_back(scratch.split().freeze());
                pieces.push_back(data);
                pieces.push_back(Bytes::from_static(b"\r\n"));
            } else {
                pieces.push_back(data);
            }
            BodyIs::Coming
        }
        None => {
            if chunked {
                pieces.push_back(Bytes::from_static(b"0\r\n\r\n"));
            }
            BodyIs::Whole
        }
        Some(Err(_)) => BodyIs::Cut,
    }
}

/// The address's own answer (503, 502, 504) as JSON, queued.
fn own_answer(heads: &mut BytesMut, pieces: &mut VecDeque<Bytes>, status: StatusCode, body: Bytes, close: bool) {
    let reason = status.canonical_reason().unwrap_or("");
    heads.put_slice(format!("HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", status.as_u16(), body.len()).as_bytes());
    if close {
        heads.put_slice(b"connection: close\r\n");
    }
    heads.put_slice(b"\r\n");
    pieces.push_back(heads.split().freeze());
    pieces.push_back(body);
}

/// Writes every queued piece, several at a time.
async fn write_all(client: &mut Accepted, pieces: &mut VecDeque<Bytes>) -> io::Result<()> {
    while !pieces.is_empty() {
        let written = poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); 16];
            let count = pieces.len().min(slices.len());
            for (slice, piece) in slices.iter_mut().zip(pieces.iter()) {
                *slice = IoSlice::new(piece);
            }
            Pin::new(&mut *client).poll_write_vectored(cx, &slices[..count])
        })
        .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 {
            let Some(front) = pieces.front_mut() else { break };
            let take = left.min(front.len());
            front.advance(take);
            left -= take;
            if front.is_empty() {
                pieces.pop_front();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
