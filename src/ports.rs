//! Ports: who listens (from `/proc/net/tcp{,6}`, with the socket inode that
//! leads to the owner), and quick probes with their latency.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    Grpc,
    Ui,
    Http,
    /// A port a declared service listens on.
    Port,
}

impl PortRole {
    pub fn name(self) -> &'static str {
        match self {
            PortRole::Grpc => "grpc",
            PortRole::Ui => "ui",
            PortRole::Http => "http",
            PortRole::Port => "port",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
}

/// All listening TCP sockets (IPv4 and IPv6) in this network namespace.
pub fn listeners() -> Vec<Listener> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_listeners(&text));
        }
    }
    out
}

fn parse_listeners(text: &str) -> impl Iterator<Item = Listener> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(3) != Some(&"0A") {
            return None;
        }
        let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        let inode = f.get(9)?.parse().ok()?;
        Some(Listener { port, inode })
    })
}

/// Reading `/proc/net/tcp` walks the kernel's whole TCP hash table (costly
/// even with few sockets), so inspections reuse the last table while the
/// set of open ports and the service's PID stay the same, for up to 60 s.
/// One entry per key: the services of a stack each keep theirs.
pub fn listeners_cached(key: &str) -> Vec<Listener> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;
    type Tables = HashMap<String, (Instant, Vec<Listener>)>;
    static CACHE: Mutex<Option<Tables>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let map = c.get_or_insert_with(HashMap::new);
    map.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
    if let Some((_, l)) = map.get(key) {
        return l.clone();
    }
    let fresh = listeners();
    if map.len() < 64 {
        map.insert(key.to_string(), (Instant::now(), fresh.clone()));
    }
    fresh
}

/// Can we bind 127.0.0.1:port right now? (What the service itself will try;
/// microseconds, unlike a `/proc/net/tcp` walk.)
pub fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Does something accept TCP connections on 127.0.0.1:port?
pub async fn probe_tcp(port: u16, timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(_)) => Ok(t0.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} ms", timeout.as_millis())),
    }
}

/// `GET path` over HTTP/1.1 and read the status line. This is a readiness
/// probe on loopback, not a general client: one request, status code only.
pub async fn probe_http(port: u16, path: &str, timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).ok();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let got = s.read(&mut buf[n..]).await.map_err(|e| e.to_string())?;
            if got == 0 {
                break;
            }
            n += got;
        }
        let head = String::from_utf8_lossy(&buf[..n]);
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if head.starts_with("HTTP/") && status == "200" {
            Ok(())
        } else {
            Err(format!(
                "answered {:?}",
                head.lines().next().unwrap_or("nothing")
            ))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(t0.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer in {} ms", timeout.as_millis())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_sockets_only() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5551 1 0 100 0 0 10 0\n\
           1: 0100007F:1C41 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 5552 1 0 100 0 0 10 0\n";
        let l: Vec<_> = parse_listeners(text).collect();
        assert_eq!(
            l,
            vec![Listener {
                port: 7233,
                inode: 5551
            }]
        );
    }

    #[tokio::test]
    async fn probes_report_open_and_closed_ports() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(probe_tcp(port, Duration::from_secs(1)).await.is_ok());
        assert!(listeners().iter().any(|x| x.port == port));
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
        assert!(err.contains("503"), "{err}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(probe_tcp(closed, Duration::from_secs(1)).await.is_err());
    }
}
