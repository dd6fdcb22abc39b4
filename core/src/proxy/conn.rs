//! An accepted connection that closes with a reset when the proxy stops, so no socket
//! of the proxy's port lingers in TIME_WAIT and the port can be bound again at once; handed
//! on with the bytes already read from it, it gives them again first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub struct Accepted {
    stream: TcpStream,
    stop: CancellationToken,
    /// Bytes read from the stream already, read again first (see [`Accepted::unread`]).
    unread: Bytes,
}

impl Accepted {
    pub fn new(stream: TcpStream, stop: CancellationToken) -> Self {
        Self { stream, stop, unread: Bytes::new() }
    }

    /// The connection as it was before `read` was taken from it, for whoever reads it next.
    pub fn unread(mut self, read: Bytes) -> Self {
        self.unread = read;
        self
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        if self.stop.is_cancelled() {
            // Best effort: without it the port is only blocked for a TIME_WAIT.
            self.stream.set_zero_linger().ok();
        }
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unread.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.unread.len().min(buf.remaining());
        buf.put_slice(&self.unread[..n]);
        self.unread.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

