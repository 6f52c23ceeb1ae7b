//! What the kernel allows, read from a /proc tree (the real one, or a fake in tests): the
//! sysctls a run of many connections can exhaust, this process's descriptor limit, and the local
//! ports already taken on the addresses the run connects from.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::PortSource;

/// The kernel's limits as read; a value that could not be read is `None` and its check skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kernel {
    /// `fs.file-max`: open files on the whole host.
    pub file_max: Option<u64>,
    /// Files open on the host now (first field of `fs.file-nr`).
    pub files_open: Option<u64>,
    /// `fs.nr_open`: the most descriptors one process may be allowed.
    pub nr_open: Option<u64>,
    /// This process's hard `RLIMIT_NOFILE` (children inherit it).
    pub nofile_hard: Option<u64>,
    /// `net.ipv4.ip_local_port_range`, both ends included.
    pub port_range: Option<(u32, u32)>,
    /// `net.ipv4.tcp_mem`: low, pressure, high, in pages.
    pub tcp_mem_pages: Option<[u64; 3]>,
    /// `net.core.somaxconn`: the most a listener's accept queue holds.
    pub somaxconn: Option<u64>,
    /// `net.netfilter.nf_conntrack_max` and `nf_conntrack_count`, when the module is loaded.
    pub conntrack: Option<Conntrack>,
    /// Local ports in the ephemeral range already taken, one count per entry of the `sources`
    /// given to [`Kernel::read`].
    pub ports_in_use: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conntrack {
    pub max: u64,
    pub count: u64,
}

impl Kernel {
    /// Reads the limits under `proc_root` (normally `/proc`), counting the ports in use for
    /// each of `sources`.
    pub fn read(proc_root: &Path, sources: &[PortSource]) -> Kernel {
        let sys = |name: &str| std::fs::read_to_string(proc_root.join("sys").join(name)).ok();
        let numbers = |name: &str| -> Vec<u64> {
            sys(name)
                .map(|text| {
                    text.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let first = |name: &str| numbers(name).first().copied();
        let port_range = match numbers("net/ipv4/ip_local_port_range")[..] {
            [low, high] if low <= high && high <= 65535 => Some((low as u32, high as u32)),
            _ => None,
        };
        let tcp_mem_pages = match numbers("net/ipv4/tcp_mem")[..] {
            [low, pressure, high] => Some([low, pressure, high]),
            _ => None,
        };
        let conntrack = match (
            first("net/netfilter/nf_conntrack_max"),
            first("net/netfilter/nf_conntrack_count"),
        ) {
            (Some(max), count) => Some(Conntrack {
                max,
                count: count.unwrap_or(0),
            }),
            (None, _) => None,
        };
        let ports_in_use = match port_range {
            Some(range) => count_ports_in_use(proc_root, sources, range),
            None => vec![0; sources.len()],
        };
        Kernel {
            file_max: first("fs/file-max"),
            files_open: first("fs/file-nr"),
            nr_open: first("fs/nr_open"),
            nofile_hard: nofile_hard(proc_root),
            port_range,
            tcp_mem_pages,
            somaxconn: first("net/core/somaxconn"),
            conntrack,
            ports_in_use,
        }
    }
}

/// The hard "Max open files" of `self/limits` ("unlimited" counts as no limit).
fn nofile_hard(proc_root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.join("self/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line["Max open files".len()..].split_whitespace().nth(1)?;
    match hard {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// TCP state `TIME_WAIT` as `net/tcp` prints it.
const TIME_WAIT: &str = "06";

/// For each source, the distinct ports of the range that sockets in `net/tcp` and `net/tcp6`
/// hold and a connect from it cannot use: on a bound address, any socket on that address (or on
/// the wildcard); from the kernel's choice of address, the sockets to the same destination.
/// Sockets in TIME_WAIT are left out: connections went on being made from addresses with more of
/// them than the range has ports (a run of 40,000 right after one of 20,000, here).
fn count_ports_in_use(proc_root: &Path, sources: &[PortSource], range: (u32, u32)) -> Vec<u64> {
    // One bit per port per source: a port listed twice counts once.
    let mut taken = vec![[0u64; 1024]; sources.len()];
    for table in ["net/tcp", "net/tcp6"] {
        let Ok(file) = std::fs::File::open(proc_root.join(table)) else {
            continue;
        };
        for line in BufReader::new(file).lines().skip(1).map_while(Result::ok) {
            let mut fields = line.split_whitespace().skip(1);
            let (Some(local), Some(remote), Some(state)) = (
                fields.next().and_then(parse_socket),
                fields.next().and_then(parse_socket),
                fields.next(),
            ) else {
                continue;
            };
            let port = local.port();
            if state == TIME_WAIT || !(range.0..=range.1).contains(&u32::from(port)) {
                continue;
            }
            for (source, bits) in sources.iter().zip(taken.iter_mut()) {
                let holds = match source {
                    PortSource::Bound(ip) => local.ip() == *ip || local.ip().is_unspecified(),
                    PortSource::Kernel {
                        destination: Some(destination),
                    } => remote == *destination,
                    PortSource::Kernel { destination: None } => false,
                };
                if holds {
                    bits[usize::from(port / 64)] |= 1 << (port % 64);
                }
            }
        }
    }
    taken
        .iter()
        .map(|bits| bits.iter().map(|w| u64::from(w.count_ones())).sum())
        .collect()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6), each 32-bit word as the kernel
/// prints it: in this machine's byte order.
fn parse_socket(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(octets);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
pub(super) mod fake {
    //! A fake /proc tree for tests.

    use std::net::{IpAddr, SocketAddr};
    use std::path::Path;

    /// Writes `file` under `root`, creating its directories.
    pub fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("fake proc dir");
        }
        std::fs::write(path, text).expect("fake proc file");
    }

    /// One `net/tcp` line as the kernel prints it.
    pub fn tcp_line(local: SocketAddr, remote: SocketAddr) -> String {
        tcp_line_in(local, remote, "01")
    }

    /// One `net/tcp` line of a socket in `state` (hex, as printed: 01 established).
    pub fn tcp_line_in(local: SocketAddr, remote: SocketAddr, state: &str) -> String {
        let hex = |addr: SocketAddr| match addr.ip() {
            IpAddr::V4(ip) => format!(
                "{:08X}:{:04X}",
                u32::from_ne_bytes(ip.octets()),
                addr.port()
            ),
            IpAddr::V6(_) => unreachable!("IPv4 only in the fake"),
        };
        format!(
            "   0: {} {} {state} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1",
            hex(local),
            hex(remote)
        )
    }

    /// A /proc tree with this machine's typical values.
    pub fn typical(root: &Path) {
        write(root, "sys/fs/file-max", "2466170\n");
        write(root, "sys/fs/file-nr", "30690\t0\t2466170\n");
        write(root, "sys/fs/nr_open", "1048576\n");
        write(root, "sys/net/ipv4/ip_local_port_range", "32768\t60999\n");
        write(root, "sys/net/ipv4/tcp_mem", "287898\t383867\t575796\n");
        write(root, "sys/net/core/somaxconn", "4096\n");
        write(
            root,
            "self/limits",
            "Limit                     Soft Limit           Hard Limit           Units     \n\
             Max open files            20000                20000                files     \n",
        );
        write(
            root,
            "net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn reads_the_sysctls_and_the_descriptor_limit() {
        let root = tempfile::tempdir().expect("temp dir");
        typical(root.path());
        let kernel = Kernel::read(root.path(), &[]);
        assert_eq!(kernel.file_max, Some(2_466_170));
        assert_eq!(kernel.files_open, Some(30_690));
        assert_eq!(kernel.nr_open, Some(1_048_576));
        assert_eq!(kernel.nofile_hard, Some(20_000));
        assert_eq!(kernel.port_range, Some((32_768, 60_999)));
        assert_eq!(kernel.tcp_mem_pages, Some([287_898, 383_867, 575_796]));
        assert_eq!(kernel.somaxconn, Some(4096));
        assert_eq!(kernel.conntrack, None, "no nf_conntrack module in the fake");

        write(
            root.path(),
            "sys/net/netfilter/nf_conntrack_max",
            "262144\n",
        );
        write(root.path(), "sys/net/netfilter/nf_conntrack_count", "12\n");
        let kernel = Kernel::read(root.path(), &[]);
        assert_eq!(
            kernel.conntrack,
            Some(Conntrack {
                max: 262_144,
                count: 12
            })
        );
    }

    #[test]
    fn what_cannot_be_read_is_none() {
        let root = tempfile::tempdir().expect("temp dir");
        write(
            root.path(),
            "sys/net/ipv4/ip_local_port_range",
            "60999 32768\n",
        );
        let kernel = Kernel::read(
            root.path(),
            &[PortSource::Bound("127.0.0.2".parse().expect("ip"))],
        );
        assert_eq!(kernel.port_range, None, "a reversed range is not a range");
        assert_eq!(kernel.file_max, None);
        assert_eq!(kernel.nofile_hard, None);
        assert_eq!(kernel.ports_in_use, vec![0]);
    }

    #[test]
    fn counts_the_ports_taken_per_source() {
        let root = tempfile::tempdir().expect("temp dir");
        typical(root.path());
        let target = addr("127.0.0.1:9000");
        let lines = [
            // Two connections from 127.0.0.2 in the range, one below it.
            tcp_line(addr("127.0.0.2:40000"), target),
            tcp_line(addr("127.0.0.2:40001"), addr("127.0.0.1:9001")),
            tcp_line(addr("127.0.0.2:1000"), target),
            // A wildcard listener on a port of the range takes it on every address.
            tcp_line(addr("0.0.0.0:50000"), addr("0.0.0.0:0")),
            // From 127.0.0.1 to the target: counts for the kernel's choice towards it.
            tcp_line(addr("127.0.0.1:45000"), target),
            // Listed twice: one port.
            tcp_line(addr("127.0.0.3:40000"), target),
            tcp_line(addr("127.0.0.3:40000"), target),
            // In TIME_WAIT: not counted.
            tcp_line_in(addr("127.0.0.3:40002"), target, "06"),
        ];
        let mut text = String::from("  sl  local_address rem_address\n");
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        write(root.path(), "net/tcp", &text);
        let sources = [
            PortSource::Bound("127.0.0.2".parse().expect("ip")),
            PortSource::Bound("127.0.0.3".parse().expect("ip")),
            PortSource::Kernel {
                destination: Some(target),
            },
            PortSource::Kernel { destination: None },
        ];
        let kernel = Kernel::read(root.path(), &sources);
        // Towards the target: ports 40000 (from two addresses: one port) and 45000.
        assert_eq!(kernel.ports_in_use, vec![3, 2, 2, 0]);
    }

    #[test]
    fn parses_both_address_families() {
        let v4 = u32::from_ne_bytes([127, 0, 0, 2]);
        assert_eq!(
            parse_socket(&format!("{v4:08X}:1F90")),
            Some(addr("127.0.0.2:8080"))
        );
        let word = |bytes: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(bytes));
        let mapped = format!(
            "{}{}{}{}:0050",
            word([0, 0, 0, 0]),
            word([0, 0, 0, 0]),
            word([0, 0, 0xff, 0xff]),
            word([127, 0, 0, 3])
        );
        assert_eq!(parse_socket(&mapped), Some(addr("127.0.0.3:80")));
        let loopback6 = format!(
            "{}{}{}{}:0050",
            word([0; 4]),
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0, 1])
        );
        assert_eq!(parse_socket(&loopback6), Some(addr("[::1]:80")));
        assert_eq!(parse_socket("zz:0050"), None);
    }
}
