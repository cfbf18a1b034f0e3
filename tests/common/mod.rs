//! Helpers shared by the integration tests. Every peer uses interface
//! 127.0.0.1 and a port of its own, so tests run in parallel and no
//! datagram leaves the host.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use simplep2p::Config;

pub const BIN: &str = env!("CARGO_BIN_EXE_simplep2p");
/// Longest any test waits for a process to get ready or finish.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A UDP port nobody on this host is using right now, from the OS.
pub fn free_port() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
    sock.local_addr().unwrap().port()
}

/// A loopback-only configuration on `port`.
pub fn config(port: u16) -> Config {
    Config::default().interface(Ipv4Addr::LOCALHOST).port(port)
}

/// The global options that keep a `simplep2p` process on loopback and `port`.
pub fn net_args(port: u16) -> Vec<String> {
    vec!["--interface".into(), "127.0.0.1".into(), "--port".into(), port.to_string()]
}

/// A `simplep2p recv` process, started and seen ready.
pub struct RecvProcess {
    pub child: Child,
    pub uuid: String,
}

impl RecvProcess {
    /// Starts `simplep2p <net> recv <extra>` and waits for its ready line.
    pub fn start(port: u16, extra: &[&str]) -> RecvProcess {
        let mut cmd = Command::new(BIN);
        cmd.args(net_args(port)).arg("recv").args(extra);
        let (child, ready) = spawn_ready(cmd, "simplep2p: ready: peer ");
        let uuid = ready["simplep2p: ready: peer ".len()..][..36].to_string();
        RecvProcess { child, uuid }
    }

    /// Starts an emulated original C++ peer (`tests/legacy/original_peer.py
    /// wait`) and waits for its ready line.
    pub fn original(port: u16) -> RecvProcess {
        let mut cmd = Command::new("python3");
        cmd.arg(original_peer_script()).args(["wait", "--port", &port.to_string()]);
        let (child, ready) = spawn_ready(cmd, "ready ");
        let uuid = ready["ready ".len()..].trim().to_string();
        RecvProcess { child, uuid }
    }

    /// Waits for the process to exit by itself and returns its stdout.
    pub fn wait_output(mut self) -> (i32, String) {
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), out)
    }

    /// Stops the process and returns what it printed on stdout.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let _ = self.child.wait();
        out
    }
}

impl Drop for RecvProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator of an original C++ SimpleP2P peer.
pub fn original_peer_script() -> String {
    format!("{}/tests/legacy/original_peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// Spawns `cmd` with piped stdout and stderr and waits (at most
/// [`DEADLINE`]) for its first stderr line, which must start with `prefix`.
/// Stderr is drained afterwards so the process never blocks on it.
pub fn spawn_ready(mut cmd: Command, prefix: &str) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let ready = rx.recv_timeout(DEADLINE).expect("the process printed its ready line");
    assert!(ready.starts_with(prefix), "unexpected first line: {ready}");
    (child, ready)
}

/// Runs `simplep2p <net> <args>` to the end: (exit code, stdout, stderr).
pub fn run(port: u16, args: &[&str]) -> (i32, String, String) {
    run_with_stdin(port, args, None)
}

/// As [`run`], with bytes fed on standard input.
pub fn run_with_stdin(port: u16, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(net_args(port))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simplep2p");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).unwrap();
    }
    let out = with_watchdog(child.id(), || child.wait_with_output().unwrap());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `f`, killing process `pid` if it takes longer than [`DEADLINE`], so
/// a hung process fails the test instead of hanging it.
pub fn with_watchdog<T>(pid: u32, f: impl FnOnce() -> T) -> T {
    let (done, finished) = mpsc::channel::<()>();
    let dog = thread::spawn(move || {
        if finished.recv_timeout(DEADLINE).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = f();
    let _ = done.send(());
    let _ = dog.join();
    out
}
