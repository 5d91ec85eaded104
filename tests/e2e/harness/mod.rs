//! The one e2e harness: server processes, a RESP client, polling, tool discovery.
//!
//! - [`Server`] runs `ferrokv-server` (the binary cargo built for this test target) or a real
//!   `redis-server`, each in its own tempdir on a free port, logs captured. It dies by PID on
//!   `Drop` (SIGTERM, then SIGKILL after a deadline) and prints its log if the test panicked.
//! - [`Conn`] is a synchronous RESP client; [`Reply`] keeps a reply's raw bytes.
//! - [`eventually`] polls with a deadline; tests never sleep to wait for something.
//! - [`require_tool`] skips a test whose external tool (`redis-server`, `redis-cli`) is
//!   missing, except under `CI=true`, where a missing tool is a failure.
//!
//! `E2E_SUBJECT=redis` makes [`Server::ferrokv`] start real `redis-server` instead: it checks
//! the tests themselves against the specification (every test must pass that way).

pub mod conn;
pub mod inspect;
pub mod notify;
pub mod reply;
pub mod script;

use std::ffi::OsString;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

pub use conn::Conn;
pub use ferrokv_proto::resp::Frame;
pub use reply::Reply;

/// The marker both servers print once they listen; ferrokv follows it with `tcp <ip>:<port>`.
const READY_MARK: &str = "Ready to accept connections";
const FERROKV_READY: &str = "Ready to accept connections tcp ";
/// How long a server may take to start (debug builds on a busy 2-core CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to start `redis-server` when the chosen port was taken meanwhile.
const REDIS_PORT_ATTEMPTS: usize = 5;

/// Which server program a [`Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Ferrokv,
    Redis,
}

impl Flavor {
    /// The program tests treat as "the server under test": ferrokv, unless
    /// `E2E_SUBJECT=redis`.
    pub fn subject() -> Flavor {
        match std::env::var("E2E_SUBJECT").as_deref() {
            Ok("redis") => Flavor::Redis,
            _ => Flavor::Ferrokv,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavor::Ferrokv => "ferrokv",
            Flavor::Redis => "redis",
        }
    }
}

/// A running server process in its own tempdir.
pub struct Server {
    flavor: Flavor,
    // Field order matters: the process dies before its tempdir is removed.
    process: Option<Process>,
    addr: SocketAddr,
    /// Config file (first argument) and directives after the harness defaults, kept for
    /// [`Server::restart`].
    config: Option<PathBuf>,
    extra: Vec<OsString>,
    dir: TempDir,
}

impl Server {
    /// The server under test (see [`Flavor::subject`]) with the test defaults.
    pub fn ferrokv() -> Server {
        Server::start(Flavor::subject(), &[] as &[&str])
    }

    /// Real `redis-server` with the test defaults.
    pub fn redis() -> Server {
        Server::start(Flavor::Redis, &[] as &[&str])
    }

    /// Starts `flavor` in a fresh tempdir with the test defaults (`--bind 127.0.0.1`, a free
    /// port, `--dir <tempdir> --save "" --appendonly no`). `extra` are redis-server style
    /// directives (`["--appendonly", "yes"]`) appended after the defaults, so they win.
    pub fn start<S: AsRef<std::ffi::OsStr>>(flavor: Flavor, extra: &[S]) -> Server {
        Server::launch_new(flavor, None, extra)
    }

    /// Like [`Server::start`], with `config` written to `server.conf` in the tempdir and passed
    /// as the first argument (flags still override it, as with redis-server).
    pub fn start_with_config<S: AsRef<std::ffi::OsStr>>(
        flavor: Flavor,
        config: &str,
        extra: &[S],
    ) -> Server {
        Server::launch_new(flavor, Some(config), extra)
    }

    fn launch_new<S: AsRef<std::ffi::OsStr>>(
        flavor: Flavor,
        config: Option<&str>,
        extra: &[S],
    ) -> Server {
        let dir = tempfile::Builder::new()
            .prefix(&format!("e2e-{}-", flavor.name()))
            .tempdir()
            .expect("create tempdir");
        let config = config.map(|text| {
            let path = dir.path().join("server.conf");
            std::fs::write(&path, text).expect("write server.conf");
            path
        });
        let extra: Vec<OsString> = extra.iter().map(|s| s.as_ref().to_owned()).collect();
        let (process, addr) = launch(flavor, dir.path(), config.as_deref(), &extra);
        Server {
            flavor,
            process: Some(process),
            addr,
            config,
            extra,
            dir,
        }
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's working directory (`--dir`), removed when the server is dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID, `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    /// A new client connection; failing to connect fails the test.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr)
            .unwrap_or_else(|e| panic!("connect to {} at {}: {e}", self.flavor.name(), self.addr))
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.process.as_ref().map(Process::log).unwrap_or_default()
    }

    /// True once the process has exited (crashed or stopped).
    pub fn exited(&mut self) -> bool {
        match self.process.as_mut() {
            Some(p) => p.exited(),
            None => true,
        }
    }

    /// Graceful stop: SIGTERM, SIGKILL after a deadline, then reap. Returns the log.
    pub fn stop(&mut self) -> String {
        match self.process.take() {
            Some(mut p) => {
                p.terminate(Signal::SIGTERM);
                p.log()
            }
            None => String::new(),
        }
    }

    /// Crash: SIGKILL at once, then reap. Returns the log.
    pub fn kill(&mut self) -> String {
        match self.process.take() {
            Some(mut p) => {
                p.terminate(Signal::SIGKILL);
                p.log()
            }
            None => String::new(),
        }
    }

    /// Stops the server (if running) and starts it again in the same directory with the same
    /// directives. The address may change: read [`Server::addr`] again.
    pub fn restart(&mut self) {
        self.stop();
        let (process, addr) = launch(
            self.flavor,
            self.dir.path(),
            self.config.as_deref(),
            &self.extra,
        );
        self.process = Some(process);
        self.addr = addr;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Signal::SIGTERM);
            if thread::panicking() {
                eprintln!(
                    "----- {} {} log -----\n{}----- end of log -----",
                    self.flavor.name(),
                    self.addr,
                    p.log()
                );
            }
        }
    }
}

/// Starts the program in `dir` and waits until it serves PING.
fn launch(
    flavor: Flavor,
    dir: &Path,
    config: Option<&Path>,
    extra: &[OsString],
) -> (Process, SocketAddr) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The config file, if any, must be the first argument.
        let mut args: Vec<OsString> = config.iter().map(|c| c.as_os_str().to_owned()).collect();
        let (program, port) = match flavor {
            Flavor::Ferrokv => {
                args.extend(os_args(&[
                    "--bind",
                    "127.0.0.1",
                    "--listen-ephemeral-port",
                    "yes",
                ]));
                (PathBuf::from(env!("CARGO_BIN_EXE_ferrokv-server")), None)
            }
            Flavor::Redis => {
                let port = free_port();
                args.extend(os_args(&[
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                ]));
                (PathBuf::from("redis-server"), Some(port))
            }
        };
        args.push("--dir".into());
        args.push(dir.as_os_str().to_owned());
        args.extend(os_args(&["--save", "", "--appendonly", "no"]));
        args.extend(extra.iter().cloned());
        let mut process = Process::spawn(&program, &args, dir)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        match wait_ready(&mut process, port) {
            Ok(addr) => return (process, addr),
            // Another process took the port between our probe and redis's bind.
            Err(why) if port.is_some() && attempt < REDIS_PORT_ATTEMPTS && process.exited() => {
                eprintln!("redis-server did not start ({why}); retrying on another port");
            }
            Err(why) => {
                process.terminate(Signal::SIGKILL);
                panic!(
                    "{} did not start: {why}\ncommand: {} {args:?}\n--- log ---\n{}",
                    flavor.name(),
                    program.display(),
                    process.log()
                );
            }
        }
    }
}

/// Waits for the ready line, then for a PONG. `port` is known for redis; ferrokv's address
/// comes from its ready line.
fn wait_ready(process: &mut Process, port: Option<u16>) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = loop {
        let log = process.log();
        if let Some(addr) = ready_addr(&log, port) {
            break addr?;
        }
        if process.exited() {
            return Err(format!("exited early ({})", process.status()));
        }
        if Instant::now() > deadline {
            return Err(format!("no {READY_MARK:?} line within {START_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    };
    loop {
        let pong = Conn::connect(addr).and_then(|mut c| c.try_cmd(&["PING"]));
        match pong {
            Ok(Frame::Simple(s)) if &s[..] == b"PONG" => return Ok(addr),
            // Serving, but behind `requirepass`, or a replica with `replica-serve-stale-data
            // no` whose link is down (Sentinel counts that PING reply as alive too).
            Ok(Frame::Error(e)) if e.starts_with(b"NOAUTH") || e.starts_with(b"MASTERDOWN") => {
                return Ok(addr)
            }
            _ if process.exited() => {
                return Err(format!("exited after ready ({})", process.status()))
            }
            other if Instant::now() > deadline => return Err(format!("PING to {addr}: {other:?}")),
            _ => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Finds the ready line. ferrokv: `Ready to accept connections tcp 127.0.0.1:PORT`; real
/// redis 7.0 prints the marker alone and listens on the `port` we gave it.
fn ready_addr(log: &str, port: Option<u16>) -> Option<Result<SocketAddr, String>> {
    match port {
        Some(port) => log
            .contains(READY_MARK)
            .then(|| Ok(SocketAddr::from(([127, 0, 0, 1], port)))),
        None => {
            let at = log.find(FERROKV_READY)?;
            let rest = &log[at + FERROKV_READY.len()..];
            let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            // The line may still be arriving.
            if !rest.contains('\n') {
                return None;
            }
            Some(
                token
                    .parse()
                    .map_err(|e| format!("bad address {token:?} in ready line: {e}")),
            )
        }
    }
}

/// A free TCP port on 127.0.0.1 (a `:0` bind, closed again; racy by nature, see retries).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// A child process whose stdout and stderr are drained into one shared buffer.
struct Process {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    pumps: Vec<JoinHandle<()>>,
}

impl Process {
    fn spawn(program: &Path, args: &[OsString], cwd: &Path) -> std::io::Result<Process> {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut pumps = Vec::new();
        let out: Option<Box<dyn Read + Send>> = child.stdout.take().map(|s| Box::new(s) as _);
        let err: Option<Box<dyn Read + Send>> = child.stderr.take().map(|s| Box::new(s) as _);
        for mut pipe in [out, err].into_iter().flatten() {
            let log = Arc::clone(&log);
            // Drains until the child closes the pipe (it exits), so the server never blocks
            // on a full pipe.
            pumps.push(thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            }));
        }
        Ok(Process { child, log, pumps })
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    fn status(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => "running".into(),
            Err(e) => format!("unknown: {e}"),
        }
    }

    /// Sends `signal` (unless already exited), escalates to SIGKILL after [`STOP_TIMEOUT`],
    /// reaps the child and joins the log pumps.
    fn terminate(&mut self, signal: Signal) {
        if !self.exited() {
            let pid = Pid::from_raw(self.child.id() as i32);
            let _ = kill(pid, signal);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while !self.exited() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if !self.exited() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        let _ = self.child.wait();
        // A forked grandchild (BGSAVE) may still hold the pipes: wait a little for the pumps
        // to see EOF, then leave them detached rather than hang the test.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.pumps.iter().any(|p| !p.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for pump in self.pumps.drain(..) {
            if pump.is_finished() {
                let _ = pump.join();
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate(Signal::SIGKILL);
    }
}

/// A child process started by a test itself (when the harness's [`Server`] does not fit, e.g.
/// to talk to it before its ready line): killed (SIGKILL) and reaped when dropped, even if
/// the test panics.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.0.id() as i32);
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// Starts ferrokv on a fixed free port (the address is needed before the ready line, which
/// follows the load) with `--dir dir`, its output going to `dir/ferrokv.log`. For tests that
/// watch a startup load with [`watch_loading`]. Returns the process and its address.
pub fn spawn_ferrokv_on_free_port(dir: &Path, args: &[&str]) -> (KillOnDrop, SocketAddr) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("ferrokv.log")).expect("create ferrokv.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ferrokv-server"))
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log file"))
        .stderr(log)
        .spawn()
        .expect("spawn ferrokv-server");
    (KillOnDrop(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

/// What a client saw while a server loaded its dataset at startup ([`watch_loading`]).
pub struct LoadWatch {
    /// A connection to the server once it served `probe`.
    pub conn: Conn,
    /// `-LOADING` replies received.
    pub loading_replies: usize,
    /// `loading_loaded_bytes` of every INFO taken while `loading:1`, in order.
    pub loaded_bytes: Vec<u64>,
}

/// Sends `probe` to the server `child` at `addr` until it answers without an error, checking
/// on the way that every error is Redis's `-LOADING` and that INFO during the load says
/// `loading:1` with `loading_total_bytes:total`. Panics after `timeout` or if the server
/// exits (with `log`'s contents, when given).
pub fn watch_loading(
    child: &mut KillOnDrop,
    addr: SocketAddr,
    probe: &[&str],
    total: u64,
    timeout: Duration,
    log: Option<&Path>,
) -> LoadWatch {
    let deadline = Instant::now() + timeout;
    let (mut loading_replies, mut loaded_bytes) = (0, Vec::new());
    loop {
        assert!(
            Instant::now() < deadline,
            "the server did not serve within {timeout:?}"
        );
        if let Ok(Some(status)) = child.0.try_wait() {
            let log = log.map(|p| std::fs::read_to_string(p).unwrap_or_default());
            panic!(
                "the server exited while loading: {status}\n{}",
                log.unwrap_or_default()
            );
        }
        let Ok(mut c) = Conn::connect(addr) else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        match c.try_cmd(probe) {
            Ok(Frame::Error(e)) => {
                assert_eq!(&e[..], b"LOADING Redis is loading the dataset in memory");
                loading_replies += 1;
                if let Ok(Frame::Bulk(info) | Frame::Verbatim { text: info, .. }) =
                    c.try_cmd(&["INFO", "persistence"])
                {
                    let info = String::from_utf8_lossy(&info).into_owned();
                    if info.contains("loading:1\r\n") {
                        assert!(
                            info.contains(&format!("loading_total_bytes:{total}\r\n")),
                            "{info}"
                        );
                        assert!(info.contains("loading_loaded_perc:"), "{info}");
                        let loaded: u64 = info
                            .lines()
                            .find_map(|l| l.strip_prefix("loading_loaded_bytes:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or_else(|| panic!("no loading_loaded_bytes in {info}"));
                        loaded_bytes.push(loaded);
                    }
                }
            }
            Ok(_) => {
                return LoadWatch {
                    conn: c,
                    loading_replies,
                    loaded_bytes,
                }
            }
            Err(_) => {}
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` until it returns `Ok`, at most `timeout`; panics with the last error.
pub fn eventually<T, E: std::fmt::Debug>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("not true within {timeout:?}: {e:?}"),
            Err(_) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// True if `program` is an executable file on `PATH` (not every Redis tool has `--version`:
/// `redis-check-aof` does not).
pub fn tool_available(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// True if real `redis-server` is installed.
pub fn redis_available() -> bool {
    tool_available("redis-server")
}

/// Whether a test needing `program` can run. Missing: prints a skip line and returns false,
/// or panics under `CI=true` (CI installs every tool, so missing there is a failure).
pub fn require_tool(program: &str, test: &str) -> bool {
    if tool_available(program) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: `{program}` is not installed, and CI=true requires it (run .ci/run)");
    }
    eprintln!("SKIPPED {test}: `{program}` not found on PATH (install redis-server / redis-tools)");
    false
}

/// [`require_tool`] for `redis-server`.
pub fn require_redis(test: &str) -> bool {
    if redis_available() {
        return true;
    }
    require_tool("redis-server", test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_gives_the_address() {
        let log = "1:M * Ready to accept connections tcp 127.0.0.1:40123\n";
        assert_eq!(
            ready_addr(log, None).unwrap().unwrap(),
            "127.0.0.1:40123".parse().unwrap()
        );
        assert!(ready_addr("x Ready to accept connections tcp 127.0.0.1:4", None).is_none());
        assert!(ready_addr("Ready to accept connections tcp nope\n", None)
            .unwrap()
            .is_err());
        assert!(ready_addr("Ready to accept connections\n", None).is_none());
        assert_eq!(
            ready_addr("Ready to accept connections\n", Some(7))
                .unwrap()
                .unwrap()
                .port(),
            7
        );
    }

    #[test]
    fn eventually_returns_the_first_success() {
        let mut n = 0;
        assert_eq!(
            eventually(Duration::from_secs(5), || {
                n += 1;
                if n < 3 {
                    Err(n)
                } else {
                    Ok(n)
                }
            }),
            3
        );
    }

    #[test]
    #[should_panic(expected = "not true within")]
    fn eventually_gives_up() {
        eventually(Duration::from_millis(30), || Err::<(), _>("never"));
    }
}
