//! Listening sockets and their owners, from /proc/net/{tcp,tcp6,udp,udp6}.
//!
//! Sockets are read from the kernel's tables and matched to processes through
//! the socket inodes in /proc/PID/fd; no port is ever connected to.

use std::collections::HashMap;
use std::net::IpAddr;

use procfs::net::TcpState;
use procfs::process::FDTarget;

/// The transport of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP (listening state).
    Tcp,
    /// UDP (bound, unconnected).
    Udp,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Local port.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Local address (0.0.0.0 or :: for all).
    pub address: IpAddr,
    /// Owning process, when it could be found.
    pub pid: Option<u32>,
    /// Its short name.
    pub process: Option<String>,
}

/// All listening TCP and bound UDP sockets with ports in `range`, with owners.
pub fn listeners(range: std::ops::RangeInclusive<u16>) -> Vec<Listener> {
    let mut found: Vec<(u64, Listener)> = Vec::new();
    let mut push = |inode: u64, addr: std::net::SocketAddr, protocol| {
        if range.contains(&addr.port()) {
            found.push((
                inode,
                Listener { port: addr.port(), protocol, address: addr.ip(), pid: None, process: None },
            ));
        }
    };
    for table in [procfs::net::tcp(), procfs::net::tcp6()].into_iter().flatten() {
        for e in table.into_iter().filter(|e| e.state == TcpState::Listen) {
            push(e.inode, e.local_address, Protocol::Tcp);
        }
    }
    for table in [procfs::net::udp(), procfs::net::udp6()].into_iter().flatten() {
        for e in table.into_iter().filter(|e| e.remote_address.port() == 0) {
            push(e.inode, e.local_address, Protocol::Udp);
        }
    }
    let owners = socket_owners(found.iter().map(|(i, _)| *i).collect());
    found
        .into_iter()
        .map(|(inode, mut l)| {
            if let Some((pid, name)) = owners.get(&inode) {
                l.pid = Some(*pid);
                l.process = Some(name.clone());
            }
            l
        })
        .collect()
}

/// The TCP listener on `port`, if any, with its owner.
pub fn tcp_listener_on(port: u16) -> Option<Listener> {
    listeners(port..=port).into_iter().find(|l| l.protocol == Protocol::Tcp)
}

/// Maps socket inodes to the (pid, name) holding them, scanning /proc/*/fd once.
fn socket_owners(mut wanted: Vec<u64>) -> HashMap<u64, (u32, String)> {
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    wanted.sort_unstable();
    let Ok(all) = procfs::process::all_processes() else {
        return out;
    };
    for p in all.flatten() {
        let Ok(fds) = p.fd() else { continue };
        for fd in fds.flatten() {
            if let FDTarget::Socket(inode) = fd.target
                && wanted.binary_search(&inode).is_ok()
                && !out.contains_key(&inode)
            {
                let name = p.stat().map(|s| s.comm).unwrap_or_default();
                out.insert(inode, (u32::try_from(p.pid).unwrap_or(0), name));
            }
        }
        if out.len() == wanted.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_own_listener_and_pid() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = tcp_listener_on(port).expect("our listener is in /proc/net/tcp");
        assert_eq!(found.pid, Some(std::process::id()));
        assert_eq!(found.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        drop(l);
        assert_eq!(tcp_listener_on(port), None);
    }

    #[test]
    fn identity_of_self() {
        let me = crate::process_identity(std::process::id()).unwrap();
        assert!(me.start_ticks > 0);
        assert_eq!(crate::process_identity(std::process::id()).unwrap(), me);
    }
}
