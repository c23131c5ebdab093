//! Bounded listening: a TCP listener that caps open connections (in all and
//! per client address) and closes a connection that moves no bytes for a
//! while. The gRPC server uses it, and the server program passes it to the
//! REST API too, so both listeners share one implementation of their limits.
//!
//! # Behavior
//! - A connection over a limit is accepted and closed at once (the client
//!   sees a reset or an immediate close instead of hanging in the backlog),
//!   and counted in [`ListenerStats::refused`].
//! - A connection whose reads and writes both make no progress for
//!   [`ConnectionLimits::idle_timeout`] fails with `TimedOut` on its next
//!   read or write, which closes it; counted in [`ListenerStats::timed_out`].
//!   Progress in either direction restarts the timer, so a slow handler
//!   that then answers is not cut off by its own silence while the client
//!   waits (the timer runs only while the connection is being polled).
//! - The permit of a connection is returned when its stream is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use oxmon_core::config::LimitsConfig;
use oxmon_core::sync::LockExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once. `0` means no limit.
    pub max_connections: usize,
    /// Most connections open at once from one client address. `0` means no
    /// limit (agents behind one NAT share an address).
    pub max_per_address: usize,
    /// A connection that moves no bytes for this long is closed. `None`
    /// keeps idle connections open.
    pub idle_timeout: Option<Duration>,
}

impl ConnectionLimits {
    /// The gRPC listener's limits in `[limits]`. A request being handled
    /// moves no bytes, so the idle timeout is never shorter than the
    /// request timeout.
    pub fn grpc(limits: &LimitsConfig) -> Self {
        Self::listener(
            limits.grpc_max_connections,
            limits.grpc_max_connections_per_address,
            limits.grpc_idle_timeout_secs,
            limits.grpc_request_timeout_secs,
        )
    }

    /// The REST listener's limits in `[limits]`, on the same terms.
    pub fn http(limits: &LimitsConfig) -> Self {
        Self::listener(
            limits.http_max_connections,
            limits.http_max_connections_per_address,
            limits.http_idle_timeout_secs,
            limits.http_request_timeout_secs,
        )
    }

    fn listener(max: usize, per_address: usize, idle_secs: u64, request_secs: u64) -> Self {
        Self {
            max_connections: max,
            max_per_address: per_address,
            idle_timeout: Some(Duration::from_secs(idle_secs.max(request_secs))),
        }
    }
}

impl Default for ConnectionLimits {
    /// 1,024 connections, 128 per address, closed after 120 s idle.
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            max_per_address: 128,
            idle_timeout: Some(Duration::from_secs(120)),
        }
    }
}

/// What a [`LimitedListener`] has done since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStats {
    /// Connections open now.
    pub open: usize,
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections closed at once because a limit was reached.
    pub refused: u64,
    /// Connections closed because they were idle too long.
    pub timed_out: u64,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// A TCP listener with [`ConnectionLimits`]. See the module docs.
#[derive(Debug)]
pub struct LimitedListener {
    listener: TcpListener,
    limits: ConnectionLimits,
    counters: Arc<Counters>,
}

/// Reads this listener's counters from elsewhere (the `/metrics` page).
#[derive(Debug, Clone)]
pub struct ListenerStatsHandle(Arc<Counters>);

impl ListenerStatsHandle {
    /// The counters now.
    pub fn get(&self) -> ListenerStats {
        let c = &self.0;
        ListenerStats {
            open: c.open.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
        }
    }
}

impl LimitedListener {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            listener,
            limits,
            counters: Arc::default(),
        }
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle on the counters that outlives the listener.
    pub fn stats(&self) -> ListenerStatsHandle {
        ListenerStatsHandle(self.counters.clone())
    }

    /// The next connection within the limits. Connections over a limit are
    /// closed and skipped; errors of one connection (a reset before accept,
    /// no file descriptor left) are logged and retried after a short pause,
    /// so the loop never spins and never ends on a client's doing.
    pub async fn accept(&self) -> (LimitedStream, SocketAddr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Some(permit) = self.admit(addr.ip()) {
                let _ = stream.set_nodelay(true);
                return (
                    LimitedStream::new(stream, permit, self.limits.idle_timeout),
                    addr,
                );
            }
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<Permit> {
        let l = &self.limits;
        let c = &self.counters;
        let open = c.open.fetch_add(1, Ordering::AcqRel);
        if l.max_connections != 0 && open >= l.max_connections {
            c.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        if l.max_per_address != 0 {
            let mut map = c.per_address.locked();
            let n = map.entry(ip).or_insert(0);
            if *n >= l.max_per_address {
                drop(map);
                c.open.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            *n += 1;
        }
        c.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Permit {
            counters: c.clone(),
            ip: (l.max_per_address != 0).then_some(ip),
        })
    }
}

#[derive(Debug)]
struct Permit {
    counters: Arc<Counters>,
    ip: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut map = self.counters.per_address.locked();
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// One accepted connection: a `TcpStream` holding its place in the limits
/// and closing itself when idle too long.
#[derive(Debug)]
pub struct LimitedStream {
    stream: TcpStream,
    permit: Permit,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    timed_out: bool,
}

impl LimitedStream {
    fn new(stream: TcpStream, permit: Permit, idle: Option<Duration>) -> Self {
        Self {
            stream,
            permit,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            timed_out: false,
        }
    }

    /// The underlying stream (for its addresses).
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    fn progressed(&mut self) {
        if let Some((d, sleep)) = &mut self.idle {
            sleep.as_mut().reset(Instant::now() + *d);
        }
    }

    /// A write's outcome: progress restarts the idle timer; pending checks it.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }

    /// Called when the inner stream is pending: `Ready(err)` once idle too long.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some((_, sleep)) = &mut self.idle else {
            return Poll::Pending;
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                if !self.timed_out {
                    self.timed_out = true;
                    self.permit
                        .counters
                        .timed_out
                        .fetch_add(1, Ordering::Relaxed);
                }
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle too long",
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn listener(limits: ConnectionLimits) -> (LimitedListener, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (LimitedListener::new(l, limits), addr)
    }

    /// Reads until EOF or error; true when the server closed the connection.
    async fn closed_by_server(c: &mut TcpStream) -> bool {
        let mut buf = [0_u8; 16];
        matches!(c.read(&mut buf).await, Ok(0) | Err(_))
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed_and_counted() {
        let (l, addr) = listener(ConnectionLimits {
            max_connections: 2,
            max_per_address: 0,
            idle_timeout: None,
        })
        .await;
        let stats = l.stats();
        let accept = tokio::spawn(async move {
            let mut kept = Vec::new();
            for _ in 0..2 {
                kept.push(l.accept().await.0);
            }
            // The third accept() call sees the refused one and waits for more.
            (l, kept)
        });
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let (l, kept) = accept.await.unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        let waiter = tokio::spawn(async move { l.accept().await.1 });
        assert!(closed_by_server(&mut c).await);
        assert_eq!(stats.get().refused, 1);
        assert_eq!(stats.get().open, 2);
        // A freed place is served again.
        drop(kept);
        let _d = TcpStream::connect(addr).await.unwrap();
        waiter.await.unwrap();
        assert_eq!(stats.get().open, 0);
        assert_eq!(stats.get().accepted, 3);
    }

    #[tokio::test]
    async fn per_address_limit() {
        let (l, addr) = listener(ConnectionLimits {
            max_connections: 0,
            max_per_address: 1,
            idle_timeout: None,
        })
        .await;
        let stats = l.stats();
        let _a = TcpStream::connect(addr).await.unwrap();
        let (kept, _) = l.accept().await;
        let mut b = TcpStream::connect(addr).await.unwrap();
        let l = Arc::new(l);
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.accept().await.0 });
        assert!(closed_by_server(&mut b).await);
        assert_eq!(stats.get().refused, 1);
        drop(kept);
        let _c = TcpStream::connect(addr).await.unwrap();
        let _served = waiter.await.unwrap();
        assert_eq!(stats.get().open, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_time_out_and_active_ones_do_not() {
        let (l, addr) = listener(ConnectionLimits {
            max_connections: 10,
            max_per_address: 0,
            idle_timeout: Some(Duration::from_secs(5)),
        })
        .await;
        let stats = l.stats();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = l.accept().await;
        let echo = tokio::spawn(async move {
            let mut buf = [0_u8; 8];
            loop {
                match server.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(n) => server.write_all(&buf[..n]).await.unwrap(),
                    Err(e) => return Some(e.kind()),
                }
            }
        });
        // Traffic every 4 s keeps it open past the 5 s timeout.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(4)).await;
            client.write_all(b"x").await.unwrap();
            let mut b = [0_u8; 1];
            client.read_exact(&mut b).await.unwrap();
        }
        assert_eq!(stats.get().timed_out, 0);
        // Then silence: closed.
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(echo.await.unwrap(), Some(io::ErrorKind::TimedOut));
        assert_eq!(stats.get().timed_out, 1);
        assert_eq!(stats.get().open, 0);
    }

    #[test]
    fn limits_from_the_config_never_idle_out_a_request_in_progress() {
        let config = oxmon_core::config::ServerConfig::from_toml(
            "[limits]\ngrpc_max_connections = 7\ngrpc_idle_timeout_secs = 5\ngrpc_request_timeout_secs = 20\nhttp_max_connections_per_address = 3\nhttp_idle_timeout_secs = 90\nhttp_request_timeout_secs = 60",
            "server.toml",
        )
        .unwrap();
        let grpc = ConnectionLimits::grpc(&config.limits);
        assert_eq!(grpc.max_connections, 7);
        assert_eq!(grpc.idle_timeout, Some(Duration::from_secs(20)));
        let http = ConnectionLimits::http(&config.limits);
        assert_eq!(http.max_per_address, 3);
        assert_eq!(http.idle_timeout, Some(Duration::from_secs(90)));
    }
}
