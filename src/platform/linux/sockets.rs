//! Listening sockets, from the kernel's own tables: `sock_diag` (netlink)
//! walks only the listening hash; `/proc/net/tcp{,6}` is the fallback.
//! Their owners are found by socket inode in the process scan.

use crate::platform::Listener;

/// All listening TCP sockets (IPv4 and IPv6) in this network namespace,
/// from the kernel's own tables: nothing connects to anyone (a connect probe
/// is an accepted-then-dropped connection the service may log as an error).
/// `sock_diag` walks only the listening hash; `/proc/net/tcp{,6}` (the whole
/// TCP table) is the fallback where netlink is refused.
pub fn listeners() -> Vec<Listener> {
    if let Ok(l) = sock_diag::dump(1 << sock_diag::TCP_LISTEN) {
        return l
            .into_iter()
            .map(|s| Listener {
                port: s.sport,
                inode: s.inode,
            })
            .collect();
    }
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_listeners(&text));
        }
    }
    // As in `connections_to`: a line can be printed twice.
    out.sort_unstable_by_key(|l| (l.port, l.inode));
    out.dedup();
    out
}

/// The inodes of the established TCP connections to port `port` (any
/// address) in this network namespace: the client ends of connections to a
/// server there, as the kernel keeps them.
pub fn connections_to(port: u16) -> Vec<u64> {
    if let Ok(all) = sock_diag::dump(1 << sock_diag::TCP_ESTABLISHED) {
        return all
            .into_iter()
            .filter(|s| s.dport == port)
            .map(|s| s.inode)
            .collect();
    }
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_connections_to(&text, port));
        }
    }
    // The kernel prints the table a page at a time and a socket that moves
    // in the hash between two reads is printed twice.
    out.sort_unstable();
    out.dedup();
    out
}

/// `/proc/net/tcp` lines in state ESTABLISHED (`01`) whose remote port is `port`.
fn parse_connections_to(text: &str, port: u16) -> impl Iterator<Item = u64> + '_ {
    text.lines().skip(1).filter_map(move |line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(3) != Some(&"01") {
            return None;
        }
        let rem = u16::from_str_radix(f.get(2)?.rsplit(':').next()?, 16).ok()?;
        (rem == port).then(|| f.get(9)?.parse().ok())?
    })
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

/// The kernel's socket diagnostics (`NETLINK_SOCK_DIAG`, see sock_diag(7)):
/// one dump request per address family for TCP sockets in the states asked.
mod sock_diag {
    use rustix::net::{netlink, AddressFamily, RecvFlags, SendFlags, SocketType};

    /// One socket: its ports and inode.
    pub struct Sock {
        pub sport: u16,
        pub dport: u16,
        pub inode: u64,
    }

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const IPPROTO_TCP: u8 = 6;
    pub const TCP_ESTABLISHED: u32 = 1;
    pub const TCP_LISTEN: u32 = 10;
    /// `struct nlmsghdr`.
    const HDR: usize = 16;
    /// `struct inet_diag_msg`: the source and destination ports at 4 and 6
    /// (big-endian), the inode at 68.
    const MSG: usize = 72;

    /// Every TCP socket whose state is in `states` (a bit per state).
    pub fn dump(states: u32) -> std::io::Result<Vec<Sock>> {
        let fd = rustix::net::socket(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            Some(netlink::SOCK_DIAG),
        )?;
        let mut out = Vec::new();
        for (seq, family) in [
            (1u32, libc_af(AddressFamily::INET)),
            (2, libc_af(AddressFamily::INET6)),
        ] {
            rustix::net::send(&fd, &request(seq, family, states), SendFlags::empty())?;
            let mut buf = vec![0u8; 32 * 1024];
            'dump: loop {
                let (n, _) = rustix::net::recv(&fd, &mut buf, RecvFlags::empty())?;
                let mut at = 0;
                while at + HDR <= n {
                    let len =
                        u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as usize;
                    let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                    if len < HDR || at + len > n {
                        break;
                    }
                    match kind {
                        NLMSG_DONE => break 'dump,
                        NLMSG_ERROR => {
                            return Err(std::io::Error::other("sock_diag refused the dump"))
                        }
                        SOCK_DIAG_BY_FAMILY if len >= HDR + MSG => {
                            out.push(parse(&buf[at + HDR..at + len]));
                        }
                        _ => {}
                    }
                    at += (len + 3) & !3;
                }
                if n == 0 {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn libc_af(f: AddressFamily) -> u8 {
        f.as_raw() as u8
    }

    /// `nlmsghdr` + `inet_diag_req_v2` asking for every TCP socket in `states`.
    fn request(seq: u32, family: u8, states: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(HDR + 56);
        b.extend_from_slice(&((HDR + 56) as u32).to_ne_bytes());
        b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
        b.extend_from_slice(&states.to_ne_bytes());
        b.resize(HDR + 56, 0); // inet_diag_sockid: all wildcards
        b
    }

    fn parse(msg: &[u8]) -> Sock {
        let inode = u32::from_ne_bytes(msg[68..72].try_into().unwrap_or_default());
        Sock {
            sport: u16::from_be_bytes([msg[4], msg[5]]),
            dport: u16::from_be_bytes([msg[6], msg[7]]),
            inode: inode as u64,
        }
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
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    #[test]
    fn finds_a_listener_and_its_inode_like_proc_net_tcp() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let diag = sock_diag::dump(1 << sock_diag::TCP_LISTEN).expect("sock_diag");
        let mine: Vec<_> = diag.iter().filter(|x| x.sport == port).collect();
        assert_eq!(mine.len(), 1);
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let mut proc_: Vec<_> = parse_listeners(&text).filter(|x| x.port == port).collect();
        proc_.dedup(); // a busy table may print a line twice
        assert_eq!(proc_.len(), 1);
        assert_eq!(proc_[0].inode, mine[0].inode);
        // A connected (not listening) socket is not a listener.
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let cport = c.local_addr().unwrap().port();
        assert!(!listeners().iter().any(|x| x.port == cport));
    }

    #[test]
    fn a_connection_to_a_port_is_found_by_its_inode_both_ways() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_server_end, _) = l.accept().unwrap();
        let found = connections_to(port);
        assert_eq!(found.len(), 1, "only the client's end: {found:?}");
        // The same inode as our own descriptor of it.
        use std::os::fd::AsRawFd;
        let target = std::fs::read_link(format!("/proc/self/fd/{}", c.as_raw_fd())).unwrap();
        assert_eq!(target.to_string_lossy(), format!("socket:[{}]", found[0]));
        // `/proc/net/tcp` names the same one (a busy table may print a line
        // twice: the kernel prints it a page at a time).
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let mut from_proc: Vec<u64> = parse_connections_to(&text, port).collect();
        from_proc.dedup();
        assert_eq!(from_proc, found);
        drop(c);
    }
}
