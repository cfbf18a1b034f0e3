//! Helpers shared by the integration tests. Every peer uses interface
//! 127.0.0.1 and a port of its own, so tests run in parallel and no
//! datagram leaves the host.
//!
//! The tests assert behaviour, not speed (speed is `make bench`'s job), so
//! that they hold on a busy machine: an event is waited for with
//! [`eventually`], a discovery or send that should succeed gets [`TIMEOUT`]
//! (it returns as soon as it has succeeded, so a long timeout costs nothing),
//! and wall-clock bounds are only generous deadlines against hangs.
#![allow(dead_code)] // each test file uses its own subset

pub mod netns;
pub mod segments;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use simplep2p::{Config, DEFAULT_GROUP};

pub const BIN: &str = env!("CARGO_BIN_EXE_simplep2p");
/// Longest any test waits for a process to get ready or finish, or for an
/// event (see [`eventually`]).
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The timeout of a discovery (with an expected count) or a send that is
/// expected to succeed: it returns as soon as it has, so this is only how
/// long a busy machine may take. Below [`DEADLINE`], so that a process
/// waiting it out is not killed by the watchdog first.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// [`TIMEOUT`] as the CLI's `--timeout` option takes it.
pub const TIMEOUT_MS: &str = "5000";
/// The timeout of a discovery or send that waits for someone who never
/// answers (a killed peer, a second peer that does not exist), and so runs
/// to its end, while live peers must still answer: hundreds of times what
/// they usually take, short enough for a test to do it a few times.
pub const ABSENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(2);

/// Polls `cond` every few milliseconds until it holds; fails the test,
/// saying `what` was awaited, if it does not within [`DEADLINE`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        thread::sleep(POLL);
    }
}

/// Sockets that hold the ports handed out by [`free_port`].
static RESERVED: Mutex<Vec<UdpSocket>> = Mutex::new(Vec::new());

/// A UDP port nobody on this host is using right now, from the OS, and
/// never handed out twice. A socket on 127.0.0.1 keeps it for the rest of
/// the test process, so that neither this process nor another test run on
/// the host (which asks the OS the same way) gets it again meanwhile; it
/// is in nobody's way, since peers bind the group address on it. A second
/// one holds the group address itself with SO_REUSEADDR, as peers do:
/// otherwise a socket bound there without it (tests/peer.rs asks the OS
/// for any port on the group address, to hold one) may get this port and
/// keep every peer off it.
pub fn free_port() -> u16 {
    loop {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = sock.local_addr().unwrap().port();
        // Someone's group socket may hold it already: binding it without
        // SO_REUSEADDR fails then.
        if UdpSocket::bind((DEFAULT_GROUP, port)).is_ok()
            && let Ok(group_sock) = group_holder(port)
        {
            RESERVED.lock().unwrap().extend([sock, group_sock]);
            return port;
        }
    }
}

/// A socket on the group address and `port`, sharing it with peers
/// (SO_REUSEADDR), joined to nothing and hearing no group's traffic.
fn group_holder(port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    sock.set_reuse_address(true)?;
    // Else it gets every datagram for the group that this host joined.
    sock.set_multicast_all_v4(false)?;
    sock.bind(&group(port).into())?;
    Ok(sock.into())
}

/// A loopback-only configuration on `port`, with [`TIMEOUT`] for
/// discoveries and sends.
pub fn config(port: u16) -> Config {
    Config::default()
        .interface(Ipv4Addr::LOCALHOST)
        .port(port)
        .discover_timeout(TIMEOUT)
        .send_timeout(TIMEOUT)
}

/// The global options that keep a `simplep2p` process on loopback and `port`.
pub fn net_args(port: u16) -> Vec<String> {
    vec!["--interface".into(), "127.0.0.1".into(), "--port".into(), port.to_string()]
}

/// The group's address on `port`.
pub fn group(port: u16) -> SocketAddr {
    SocketAddr::from((DEFAULT_GROUP, port))
}

/// A socket on loopback for speaking the wire format by hand; its multicast
/// stays on loopback, and a read gives up after [`DEADLINE`].
pub fn raw_socket() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Without this, multicast would follow the default route off the host.
    socket2::SockRef::from(&sock).set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    sock
}

/// A hand-made group member on loopback: joined to the group on `port`, to
/// read what is multicast there and reply by hand. A read gives up after
/// [`DEADLINE`].
pub fn raw_member(port: u16) -> UdpSocket {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    sock.set_reuse_address(true).unwrap();
    sock.bind(&group(port).into()).unwrap();
    sock.join_multicast_v4(&DEFAULT_GROUP, &Ipv4Addr::LOCALHOST).unwrap();
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    sock
}

/// Proves a hand-made peer's address, as every peer does when a prober
/// challenges it: reads `sock` until a challenge arrives (at most
/// [`DEADLINE`]) and echoes its token as `who`.
pub fn prove(sock: &UdpSocket, who: simplep2p::Uuid) {
    use simplep2p::wire::{self, Body, Frame};
    let mut buf = [0u8; 70_000];
    loop {
        let (n, src) = sock.recv_from(&mut buf).expect("a challenge");
        if let Ok(Frame { id, body: Body::Challenge, .. }) = wire::decode(&buf[..n]) {
            let proof = Frame { flags: 0, sender: who, id, body: Body::Proof };
            sock.send_to(&proof.to_vec().unwrap(), src).unwrap();
            return;
        }
    }
}

/// Peak resident memory of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// User plus system CPU time of a process, in clock ticks (1/100 s here).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the ")" that closes the command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The /proc/net/udp rows of a process's UDP sockets, split into fields.
pub fn udp_rows(pid: u32) -> Vec<Vec<String>> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|f| f.len() > 12 && inodes.contains(&f[9]))
        .collect()
}

/// Datagrams the kernel dropped for a process's UDP sockets (full buffers).
pub fn kernel_drops(pid: u32) -> u64 {
    udp_rows(pid).iter().map(|f| f[f.len() - 1].parse::<u64>().unwrap()).sum()
}

/// Waits (see [`eventually`]) until a process has read everything queued
/// on its UDP sockets.
pub fn wait_drained(pid: u32) {
    // The rx_queue half of "tx_queue:rx_queue", in hex.
    eventually("the process drains its UDP sockets", || {
        udp_rows(pid).iter().all(|f| f[4].ends_with(":00000000"))
    });
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

    /// Waits (at most [`DEADLINE`]) for the process to exit by itself and
    /// returns its exit code and stdout.
    pub fn wait_output(mut self) -> (i32, String) {
        let mut stdout = self.child.stdout.take().unwrap();
        let out = with_watchdog(self.child.id(), || {
            let mut out = String::new();
            stdout.read_to_string(&mut out).unwrap();
            out
        });
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), out)
    }

    /// Waits (at most [`DEADLINE`]) until the process has printed `lines`
    /// lines on stdout, then stops it and returns all it printed. A `recv`
    /// acknowledges a message before it prints it, so a sender's PASS does
    /// not mean the line is out yet.
    pub fn stop_after_lines(mut self, lines: usize) -> String {
        let mut stdout = self.child.stdout.take().unwrap();
        let mut out = with_watchdog(self.child.id(), || {
            let mut out = Vec::new();
            let mut chunk = [0u8; 4096];
            while out.iter().filter(|&&b| b == b'\n').count() < lines {
                match stdout.read(&mut chunk).unwrap() {
                    0 => break, // it exited (or the watchdog killed it)
                    n => out.extend_from_slice(&chunk[..n]),
                }
            }
            out
        });
        let _ = self.child.kill();
        stdout.read_to_end(&mut out).unwrap();
        let _ = self.child.wait();
        String::from_utf8_lossy(&out).into_owned()
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
        // On to the end, after the ready line is taken too: a pipe closed
        // early would fail the process's next write to stderr.
        let (mut stderr, mut line) = (BufReader::new(stderr), Vec::new());
        while stderr.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(String::from_utf8_lossy(&line).trim_end_matches('\n').to_string());
            line.clear();
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

/// Writes `keys` to a new key file `name` in `dir`, mode 0600, as
/// `simplep2p keygen` would; replaces it by renaming, as an editor does.
pub fn key_file(dir: &std::path::Path, name: &str, keys: &[&simplep2p::Key]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let text: String = keys.iter().map(|k| k.to_hex() + "\n").collect();
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Reads `sock` as a hand-made group member does, skipping the heartbeats
/// every peer multicasts, so a test sees only the datagrams it is about.
pub fn recv_skipping_heartbeats(sock: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    use simplep2p::wire::{self, Body};
    loop {
        let (n, src) = sock.recv_from(buf).expect("a datagram before the deadline");
        if !matches!(wire::decode(&buf[..n]), Ok(f) if matches!(f.body, Body::Heartbeat { .. })) {
            return (n, src);
        }
    }
}
