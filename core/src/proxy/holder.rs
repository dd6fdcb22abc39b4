//! Who holds a TCP port: `/proc/net/tcp{,6}` gives the listening socket's inode, and a
//! scan of `/proc/*/fd` finds the process that has it open. Best effort: `None` where the
//! OS does not tell (another user's process, no `/proc`).

use std::fs;

/// "pid 1234 (nginx)" for the process listening on `port`, if it can be found.
pub fn port_holder(port: u16) -> Option<String> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                let comm = comm.trim();
                return Some(if comm.is_empty() {
                    format!("pid {pid}")
                } else {
                    format!("pid {pid} ({comm})")
                });
            }
        }
    }
    None
}

/// Inodes of sockets bound to `port`, listening ones first.
fn listening_inodes(port: u16) -> Vec<u64> {
    let mut listening = Vec::new();
    let mut bound = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for (local_port, state, inode) in text.lines().skip(1).filter_map(parse_row) {
            if local_port != port || inode == 0 {
                continue;
            }
            // 0A = LISTEN; 07 = CLOSE (bound, not listening) also holds the port.
            match state {
                0x0A => listening.push(inode),
                0x07 => bound.push(inode),
                _ => {}
            }
        }
    }
    listening.extend(bound);
    listening
}

/// (local port, state, inode) of one `/proc/net/tcp` row.
fn parse_row(row: &str) -> Option<(u16, u8, u64)> {
    let fields: Vec<&str> = row.split_whitespace().collect();
    let local = fields.get(1)?;
    let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some((port, state, inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_proc_net_tcp_row() {
        let row = "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_row(row), Some((8080, 0x0A, 123456)));
        assert_eq!(parse_row("garbage"), None);
    }

    #[test]
    fn finds_this_process_holding_a_port() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let holder = port_holder(port).expect("holder found");
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
    }
}
