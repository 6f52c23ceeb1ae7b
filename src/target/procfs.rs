//! Finding a target's processes and a port's holder in /proc. A `target.command` may leave its
//! process group, session and parent behind (`setsid server &`, a double fork): its processes
//! are found by a marker in their environment, which children inherit, together with the
//! children (by parent pid) of the command's own process. No cgroups needed; a process that
//! clears its environment and leaves the tree escapes, and then the port check names it.

use std::collections::{HashMap, HashSet};

/// The environment variable that marks a target's processes (`<wschaos pid>-<n>`).
pub const MARKER: &str = "WSCHAOS_TARGET";

/// What one process's `/proc/<pid>/stat` says (the process tree here, the target's cost in
/// `cost.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcessStat {
    pub ppid: i32,
    /// Clock ticks since boot when it started: with the pid, tells a reused pid apart.
    pub started: u64,
    /// User + system CPU, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_pages: u64,
    pub zombie: bool,
}

fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Parses a `/proc/<pid>/stat` line.
pub(super) fn parse_stat(text: &str) -> Option<ProcessStat> {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the comm, counted from 0: state, ppid 1, ..., utime 11, stime 12,
    // starttime 19, rss 21 (proc(5) numbers them 3, 4, 14, 15, 22, 24).
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let state = *fields.first()?;
    Some(ProcessStat {
        ppid: fields.get(1)?.parse().ok()?,
        started: number(19)?,
        cpu_ticks: number(11)? + number(12)?,
        rss_pages: number(21)?,
        zombie: state == "Z" || state == "X",
    })
}

pub(super) fn read_stat(pid: i32) -> Option<ProcessStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn carries_marker(pid: i32, entry: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == entry))
}

/// Live (not zombie) processes of the target marked `marker`: those whose environment carries
/// it, and every descendant of them or of `root` (the command's own process). This process is
/// never one.
pub fn members(root: Option<i32>, marker: &str) -> Vec<i32> {
    tree_of(root, Some(marker))
}

/// Live processes of the tree under `root`: it and its descendants (`run --target-pid`).
pub fn tree(root: i32) -> Vec<i32> {
    tree_of(Some(root), None)
}

/// Those marked `marker` (when given), `root`, and every descendant of them.
fn tree_of(root: Option<i32>, marker: Option<&str>) -> Vec<i32> {
    let entry = marker.map(|marker| format!("{MARKER}={marker}").into_bytes());
    let me = std::process::id() as i32;
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut found = HashSet::new();
    for pid in pids() {
        if pid == me {
            continue;
        }
        let Some(stat) = read_stat(pid) else { continue };
        if stat.zombie {
            continue;
        }
        children.entry(stat.ppid).or_default().push(pid);
        if entry
            .as_ref()
            .is_some_and(|entry| carries_marker(pid, entry))
        {
            found.insert(pid);
        }
    }
    let mut stack: Vec<i32> = found.iter().copied().chain(root).collect();
    while let Some(pid) = stack.pop() {
        if let Some(kids) = children.get(&pid) {
            for kid in kids {
                if found.insert(*kid) {
                    stack.push(*kid);
                }
            }
        }
    }
    found.extend(root.filter(|r| read_stat(*r).is_some_and(|s| !s.zombie)));
    let mut members: Vec<i32> = found.into_iter().collect();
    members.sort_unstable();
    members
}

/// Whether any process is still marked `marker`, or anything descends from `root`.
pub fn any_left(root: Option<i32>, marker: &str) -> bool {
    !members(root, marker).is_empty()
}

/// The process listening on TCP `port` (any address), as "pid N (command line)", if it can be
/// found (it must belong to this user for its descriptors to be readable).
pub fn listener_of(port: u16) -> Option<String> {
    let inodes: HashSet<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port))
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    for pid in pids() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.filter_map(|fd| fd.ok()).any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| {
                link.to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .is_some_and(|inode| inodes.contains(inode))
            })
        });
        if holds {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            return Some(format!("pid {pid} ({cmdline})"));
        }
    }
    None
}

/// The socket inode of a /proc/net/tcp line if it is a listener on `port`.
fn listening_inode(line: &str, port: u16) -> Option<String> {
    const LISTEN: &str = "0A";
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let local_port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
    (local_port == port && *fields.get(3)? == LISTEN)
        .then(|| fields.get(9).map(|s| s.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_line_gives_its_inode_and_others_do_not() {
        let listen = "   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  \
                      1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(listen, 0x1F91), Some("123456".into()));
        assert_eq!(listening_inode(listen, 0x1F92), None);
        let established = listen.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 0x1F91), None);
    }

    #[test]
    fn a_marked_child_is_found_and_this_process_is_not() {
        let marker = format!("test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(MARKER, &marker)
            .spawn()
            .expect("start sleep");
        let pid = child.id() as i32;
        // The new program's environment shows in /proc only once its exec has finished, a
        // moment after spawn returns.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while members(None, &marker).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(members(None, &marker), vec![pid]);
        assert_eq!(members(None, "another"), Vec::<i32>::new());
        assert_eq!(tree(pid), vec![pid], "a tree is its root and descendants");
        let _ = child.kill();
        let _ = child.wait();
        assert!(!any_left(None, &marker));
    }

    #[test]
    fn this_processes_own_listener_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let holder = listener_of(port).expect("a holder");
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
    }
}
