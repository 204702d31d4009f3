//! Ports: who listens (from `/proc/net/tcp{,6}`, with the socket inode that
//! leads to the owner), and quick probes with their latency.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use crate::config::service::PortRole;

pub use crate::platform::{listeners, Listener};

/// Does anything listen on TCP `port` (any address)? Asked of the kernel,
/// never of the service.
pub fn listening(port: u16) -> bool {
    listeners().iter().any(|l| l.port == port)
}

/// Can we bind 127.0.0.1:port right now? (What the service itself will try;
/// microseconds, unlike a `/proc/net/tcp` walk.)
pub fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// An HTTP readiness answer is read to its end up to this size.
const MAX_ANSWER: usize = 1 << 20;

/// `GET path` over HTTP/1.1 and read the status line. This is a readiness
/// probe on loopback, not a general client: one request, status code only.
pub async fn probe_http(
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<Duration, super::CheckFailed> {
    let t0 = Instant::now();
    let attempt = async {
        let fail = |e: std::io::Error| super::CheckFailed(e.to_string());
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(fail)?;
        s.set_nodelay(true).ok();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.map_err(fail)?;
        // Read the whole answer (bounded) before closing: closing with
        // unread bytes makes the kernel reset the connection, which the
        // service sees (and may log) as a failed write.
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        loop {
            let got = s.read(&mut buf).await.map_err(fail)?;
            if got == 0 || total > MAX_ANSWER {
                break;
            }
            total += got;
            if head.len() < 256 {
                let room = 256 - head.len();
                head.extend_from_slice(&buf[..got.min(room)]);
            }
        }
        let _ = s.shutdown().await;
        let head = String::from_utf8_lossy(&head);
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if head.starts_with("HTTP/") && status == "200" {
            Ok(())
        } else {
            super::fail(format!(
                "answered {:?}",
                head.lines().next().unwrap_or("nothing")
            ))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(t0.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => super::fail(format!("no answer in {} ms", timeout.as_millis())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_report_open_and_closed_ports() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening(port));
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            // Every connection (the TCP probe's included) gets an answer.
            for mut c in l.incoming().flatten().take(2) {
                let mut b = [0u8; 256];
                let _ = c.read(&mut b);
                let _ = c.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
            }
        });
        let err = probe_http(port, "/", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.0.contains("503"), "{err}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!listening(closed));
    }
}
