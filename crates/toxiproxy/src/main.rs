//! `ferrokv-toxiproxy`: flags like `toxiproxy-server`, then serve the API until SIGINT/SIGTERM.
//!
//! Flags (single or double dash, `-flag value` or `-flag=value`): `-host` (default
//! `localhost`), `-port` (default 8474; 0 picks a free port), `-config FILE` (a JSON array of
//! proxies to populate at start), `-seed N`, `-version`. Once the API listens, one line goes
//! to stdout: `ferrokv-toxiproxy API listening on ADDR`. Logs go to stderr; `LOG_LEVEL` (as in
//! Toxiproxy) or `RUST_LOG` sets the filter.

use std::io::Write;

use anyhow::{bail, Context};
use ferrokv_toxiproxy::{Server, ServerConfig, VERSION};

#[derive(Debug, PartialEq)]
struct Flags {
    host: String,
    port: String,
    config: Option<String>,
    seed: Option<u64>,
    version: bool,
}

const USAGE: &str =
    "usage: ferrokv-toxiproxy [-host HOST] [-port PORT] [-config FILE] [-seed N] [-version]";

fn parse_flags(args: impl IntoIterator<Item = String>) -> anyhow::Result<Flags> {
    let mut flags = Flags {
        host: "localhost".into(),
        port: "8474".into(),
        config: None,
        seed: None,
        version: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(bare) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            bail!("unexpected argument {arg:?}\n{USAGE}");
        };
        let (name, inline) = match bare.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (bare, None),
        };
        if name == "version" {
            flags.version = true;
            continue;
        }
        if name == "h" || name == "help" {
            bail!("{USAGE}");
        }
        let mut value = || match inline.clone() {
            Some(v) => Ok(v),
            None => args
                .next()
                .with_context(|| format!("flag -{name} needs a value\n{USAGE}")),
        };
        match name {
            "host" => flags.host = value()?,
            "port" => flags.port = value()?,
            "config" => flags.config = Some(value()?),
            "seed" => {
                let v = value()?;
                // Toxiproxy's seed is an int64; accept negative ones too.
                let seed = v
                    .parse::<u64>()
                    .or_else(|_| v.parse::<i64>().map(|s| s as u64));
                flags.seed = Some(seed.with_context(|| format!("bad -seed {v:?}"))?);
            }
            _ => bail!("unknown flag {arg:?}\n{USAGE}"),
        }
    }
    Ok(flags)
}

fn main() -> anyhow::Result<()> {
    let flags = parse_flags(std::env::args().skip(1))?;
    if flags.version {
        println!("ferrokv-toxiproxy version {VERSION}");
        return Ok(());
    }
    let filter = std::env::var("LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(flags))
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let port: u16 = flags
        .port
        .parse()
        .with_context(|| format!("bad -port {:?}", flags.port))?;
    let host = flags.host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    // Like Go, prefer IPv4: `localhost` means 127.0.0.1 where both exist.
    addrs.sort_by_key(|a| !a.is_ipv4());
    let listener = tokio::net::TcpListener::bind(addrs.as_slice())
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    let server = Server::new(ServerConfig { seed: flags.seed });
    if let Some(path) = &flags.config {
        // As Toxiproxy: a bad config file is logged, not fatal.
        match std::fs::read(path) {
            Ok(json) => match server.populate_json(&json).await {
                Ok(p) => {
                    tracing::info!(config = %path, proxies = p.len(), "Populated proxies from file")
                }
                Err(e) => {
                    tracing::error!(config = %path, error = %e, "Failed to populate proxies from file")
                }
            },
            Err(e) => tracing::error!(config = %path, error = %e, "Error reading config file"),
        }
    }
    tracing::info!(address = %addr, "Starting Toxiproxy HTTP server");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ferrokv-toxiproxy API listening on {addr}")?;
        out.flush()?;
    }
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Flags> {
        parse_flags(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_accept_go_and_gnu_spellings() {
        let f = parse(&[]).unwrap();
        assert_eq!((f.host.as_str(), f.port.as_str()), ("localhost", "8474"));
        for args in [
            &["-host", "127.0.0.1", "-port", "0"][..],
            &["--host", "127.0.0.1", "--port", "0"],
            &["-host=127.0.0.1", "--port=0"],
        ] {
            let f = parse(args).unwrap();
            assert_eq!(
                (f.host.as_str(), f.port.as_str()),
                ("127.0.0.1", "0"),
                "{args:?}"
            );
        }
        assert_eq!(parse(&["-seed", "-3"]).unwrap().seed, Some(-3i64 as u64));
        assert!(parse(&["-version"]).unwrap().version);
    }

    #[test]
    fn bad_flags_are_errors() {
        for args in [
            &["-port"][..],
            &["-bogus", "1"],
            &["stray"],
            &["-seed", "x"],
            &["-h"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
