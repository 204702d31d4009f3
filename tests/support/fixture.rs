//! A stand-in service for fault-injection tests. It listens on the gRPC port,
//! answers the readiness probe on the HTTP port, and misbehaves on request:
//!
//!   --grpc N --http N        ports to serve (127.0.0.1)
//!   --ignore-term            ignore SIGTERM (so only SIGKILL ends it)
//!   --children N             leave N children in the group (they ignore SIGTERM too with --ignore-term)
//!   --escape                 start a grandchild that leaves with setsid
//!   --exit-after-ms N        exit after N ms (with --exit-code C, default 1)
//!   --never-ready            never answer the readiness probe
//!   --ready-after-ms N       answer it only after N ms
//!   --flood                  write log lines as fast as possible
//!   --count N [--every-us U] write "count line i" for i in 0..N, one write
//!                            each, U µs apart (default 100), then "count done"
//!   --burn-pct N             keep N % of one core busy
//!   --child                  (internal) just sleep
//!
//! It logs (to stderr, beside any flood on stdout) every connection to its gRPC port and every HTTP request, and
//! any connection that ends in an error: a watcher that disturbs it shows.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn arg_value(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// Leaving children unreaped is the point: they act out orphans and escapees.
#[allow(clippy::zombie_processes)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    if has("--ignore-term") {
        // SAFETY: setting a signal disposition to ignore is always sound.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
    }
    if has("--child") {
        if has("--setsid") {
            let _ = nix::unistd::setsid();
        }
        sleep_forever();
    }
    let me = std::env::current_exe().expect("own path");
    let pass_term: &[&str] = if has("--ignore-term") {
        &["--ignore-term"]
    } else {
        &[]
    };
    for _ in 0..arg_value(&args, "--children").unwrap_or(0) {
        std::process::Command::new(&me)
            .arg("--child")
            .args(pass_term)
            .spawn()
            .expect("spawn child");
    }
    if has("--escape") {
        std::process::Command::new(&me)
            .args(["--child", "--setsid"])
            .spawn()
            .expect("spawn escapee");
    }
    println!("fixture {} up: {:?}", std::process::id(), &args[1..]);

    if let Some(port) = arg_value(&args, "--grpc") {
        let l = TcpListener::bind(("127.0.0.1", port as u16)).expect("bind grpc");
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                say(format!(
                    "fixture grpc connection from {:?}",
                    c.peer_addr().ok()
                ));
                drop(c);
            }
        });
    }
    let started = Instant::now();
    let ready_after = Duration::from_millis(arg_value(&args, "--ready-after-ms").unwrap_or(0));
    if let (Some(port), false) = (arg_value(&args, "--http"), has("--never-ready")) {
        let l = TcpListener::bind(("127.0.0.1", port as u16)).expect("bind http");
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                say(format!(
                    "fixture http {}",
                    head.lines().next().unwrap_or("(nothing)")
                ));
                let reply: &[u8] = if started.elapsed() >= ready_after {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                };
                if let Err(e) = c.write_all(reply).and_then(|_| c.flush()) {
                    say(format!("fixture http error: {e}"));
                }
                // Close our side, then see how the client closes: one that
                // drops the connection with our answer unread resets it.
                let _ = c.shutdown(std::net::Shutdown::Write);
                let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                if let Err(e) = c.read(&mut buf) {
                    say(format!("fixture http error: {e}"));
                }
            }
        });
    }
    if let Some(pct) = arg_value(&args, "--burn-pct") {
        std::thread::spawn(move || {
            let slot = Duration::from_millis(10);
            let busy = slot * pct.min(100) as u32 / 100;
            loop {
                let t = Instant::now();
                while t.elapsed() < busy {
                    std::hint::black_box(0u64.wrapping_add(1));
                }
                std::thread::sleep(slot.saturating_sub(t.elapsed()));
            }
        });
    }
    if has("--flood") {
        std::thread::spawn(|| {
            let mut out = std::io::stdout().lock();
            let mut i: u64 = 0;
            loop {
                i += 1;
                if writeln!(out, "flood line {i} lorem ipsum dolor sit amet consectetur").is_err() {
                    std::process::exit(141);
                }
            }
        });
    }
    if let Some(n) = arg_value(&args, "--count") {
        let every = Duration::from_micros(arg_value(&args, "--every-us").unwrap_or(100));
        std::thread::spawn(move || {
            let out = std::io::stdout();
            for i in 0..n {
                // One write per line, as a service logging line by line does.
                let line = format!("count line {i} {}\n", "x".repeat(24));
                if out.lock().write_all(line.as_bytes()).is_err() {
                    std::process::exit(141);
                }
                std::thread::sleep(every);
            }
            let _ = out.lock().write_all(b"count done\n");
        });
    }
    if let Some(ms) = arg_value(&args, "--exit-after-ms") {
        std::thread::sleep(Duration::from_millis(ms));
        println!("fixture {} exiting", std::process::id());
        std::process::exit(arg_value(&args, "--exit-code").unwrap_or(1) as i32);
    }
    sleep_forever();
}

/// One line to stderr in one write: a line written in pieces (what
/// `eprintln!` does) interleaves with other threads' lines in a shared log.
fn say(line: String) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}
