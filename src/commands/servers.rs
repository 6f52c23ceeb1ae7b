//! `wschaos serve` and `wschaos proxy`: the standalone servers, their `--procs` siblings, and
//! the warning when one listens beyond loopback.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::{Error, exit};
use crate::chaos::{AckMatcher, ProxyConfig, ProxyControl, ProxyFault, UpstreamTls, Victims};
use crate::scenario::{self, Push};
use crate::server::EmbeddedServer;
use crate::server::conn_limit::ConnLimit;
use crate::tls::ClientTls;

/// `wschaos serve`'s options besides the address.
pub(super) struct ServeOptions<'a> {
    pub(super) workers: usize,
    pub(super) procs: u32,
    pub(super) reuse_port: bool,
    /// `--max-conns` and, in the extra processes of --procs, the shared count's descriptor.
    pub(super) limit: Option<(u64, Option<i32>)>,
    /// Certificate chain and key files (PEM): serve wss://.
    pub(super) tls: Option<(&'a Path, &'a Path)>,
    /// `--push-rate`: push a stream to every connection.
    pub(super) push: Option<Push>,
}

pub(super) fn serve(addr: SocketAddr, options: &ServeOptions<'_>) -> Result<u8, Error> {
    let ServeOptions {
        workers,
        procs,
        reuse_port,
        limit,
        tls,
        push,
    } = options;
    let (workers, procs, reuse_port, tls) = (*workers, *procs, *reuse_port, *tls);
    let identity = tls
        .map(|(cert, key)| crate::tls::ServerIdentity::from_files(cert, key))
        .transpose()
        .map_err(Error::Serve)?;
    let limit = conn_limit(*limit, procs)?;
    crate::fd_limit::raise(0);
    actix_rt::System::new().block_on(async move {
        let shared = reuse_port || procs > 1;
        let server = EmbeddedServer::start_limited(
            addr,
            workers,
            shared,
            identity.as_ref(),
            push.as_ref(),
            limit.clone(),
        )
        .map_err(|err| Error::Serve(format!("cannot listen on {addr}: {err}")))?;
        // The extra processes of --procs (started with the hidden --reuse-port) leave the
        // warning to their parent.
        if procs > 1 || !reuse_port {
            warn_if_reachable("wschaos serve", server.addr());
        }
        // The others bind the port this one got (port 0 resolves here).
        let _siblings = (1..procs)
            .map(|_| Sibling::start(server.addr(), workers, tls, limit.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        println!("{}", server.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        // What this process served (not its --procs siblings), for a benchmark to read.
        if let Ok(counts) = serde_json::to_string(&server.stats().counts()) {
            eprintln!("served {counts}");
        }
        Ok(exit::OK)
    })
}

/// `--max-conns`: a count of this process alone, one the --procs siblings share (created here),
/// or, in a sibling, the one it inherited.
fn conn_limit(
    limit: Option<(u64, Option<i32>)>,
    procs: u32,
) -> Result<Option<Arc<ConnLimit>>, Error> {
    let limit = match limit {
        None => return Ok(None),
        Some((max, Some(fd))) => ConnLimit::attach(max, fd),
        Some((max, None)) if procs > 1 => ConnLimit::shared(max),
        Some((max, None)) => Ok(ConnLimit::local(max)),
    };
    limit
        .map(|limit| Some(Arc::new(limit)))
        .map_err(|err| Error::Serve(format!("cannot set up --max-conns: {err}")))
}

/// Says on stderr when a standalone server listens where other machines can reach it.
fn warn_if_reachable(server: &str, addr: SocketAddr) {
    if let Some(warning) = exposure_warning(server, addr) {
        eprintln!("{warning}");
    }
}

/// The warning for a listen address outside loopback (127.0.0.0/8, ::1, or ::ffff:127.x.y.z);
/// none for loopback.
fn exposure_warning(server: &str, addr: SocketAddr) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "warning: {server} listens on {addr}, which is reachable from other machines; \
         wschaos's servers are meant for loopback testing (the default, 127.0.0.1)"
    ))
}

/// One more `wschaos serve` process on the same port; it dies with this one.
struct Sibling(std::process::Child);

impl Sibling {
    fn start(
        addr: SocketAddr,
        workers: usize,
        tls: Option<(&Path, &Path)>,
        limit: Option<&ConnLimit>,
    ) -> Result<Self, Error> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::Serve(format!("cannot find this executable: {e}")))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["serve", "--reuse-port", "--host"])
            .arg(addr.ip().to_string())
            .arg("--port")
            .arg(addr.port().to_string())
            .arg("--workers")
            .arg(workers.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(limit) = limit {
            cmd.arg("--max-conns").arg(limit.max().to_string());
            // The descriptor is inheritable; the sibling maps the same count.
            if let Some(fd) = limit.shared_fd() {
                cmd.arg("--conn-limit-fd").arg(fd.to_string());
            }
        }
        crate::signals::die_with_parent(&mut cmd);
        cmd.spawn()
            .map(Sibling)
            .map_err(|e| Error::Serve(format!("cannot start another serve process: {e}")))
    }
}

impl Drop for Sibling {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wschaos proxy`'s per-connection limits.
pub(super) struct ProxyLimits {
    pub(super) max_frame: u64,
    pub(super) send_timeout: std::time::Duration,
}

pub(super) fn proxy(
    listen: SocketAddr,
    upstream: &str,
    tls: &scenario::TargetTls,
    faults: Vec<ProxyFault>,
    ack: AckMatcher,
    limits: ProxyLimits,
    seed: u64,
) -> Result<u8, Error> {
    let (wss, url) = scenario::parse_upstream_url(upstream)
        .map_err(|e| Error::Proxy(format!("--upstream: {e}")))?;
    let tls = if wss {
        let client = ClientTls::new(tls, &url.host, None).map_err(Error::Proxy)?;
        if tls.insecure {
            eprintln!("WARNING: --insecure: the upstream's certificate is not verified");
        }
        Some(UpstreamTls {
            connector: client.proxy_connector(),
            server_name: client.server_name.clone(),
        })
    } else {
        let given = tls.ca_file.is_some()
            || tls.insecure
            || tls.server_name.is_some()
            || tls.client_identity.is_some();
        if given {
            return Err(Error::Proxy(
                "--ca-file, --insecure, --server-name and --client-cert are for a wss:// \
                 --upstream"
                    .into(),
            ));
        }
        None
    };
    actix_rt::System::new().block_on(async move {
        let upstream = url
            .resolve()
            .await
            .ok_or_else(|| Error::Proxy(format!("cannot resolve the address of {url}")))?;
        let control = Arc::new(ProxyControl::new());
        for (id, fault) in faults.into_iter().enumerate() {
            control.activate(id, fault, Victims::All);
        }
        let config = ProxyConfig {
            upstream,
            ack,
            max_frame: limits.max_frame,
            seed,
            send_timeout: limits.send_timeout,
            tls,
        };
        let proxy = crate::chaos::spawn(listen, config, control.clone())
            .map_err(|err| Error::Proxy(format!("cannot listen on {listen}: {err}")))?;
        warn_if_reachable("wschaos proxy", proxy.addr());
        println!("{}", proxy.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        drop(proxy);
        eprintln!("{:?}", control.stats());
        Ok(exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_outside_loopback_get_the_warning() {
        for loopback in [
            "127.0.0.1:9001",
            "127.8.9.10:1",
            "[::1]:9001",
            "[::ffff:127.0.0.1]:80",
        ] {
            let addr: SocketAddr = loopback.parse().expect("address");
            assert_eq!(exposure_warning("wschaos serve", addr), None, "{addr}");
        }
        for exposed in [
            "0.0.0.0:9001",
            "[::]:9001",
            "10.0.0.1:9001",
            "192.168.1.2:9001",
            "[2001:db8::1]:9001",
            "[::ffff:10.0.0.1]:9001",
        ] {
            let addr: SocketAddr = exposed.parse().expect("address");
            let warning = exposure_warning("wschaos proxy", addr).expect("a warning");
            assert!(
                warning.starts_with(&format!("warning: wschaos proxy listens on {addr}, ")),
                "{warning}"
            );
            assert!(
                warning.contains("reachable from other machines"),
                "{warning}"
            );
            assert!(warning.contains("meant for loopback testing"), "{warning}");
        }
    }
}
