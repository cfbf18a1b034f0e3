//! `make bench`: simplep2p against the physical floor, measured side by side
//! in one run on loopback (interface 127.0.0.1, ports from the OS).
//!
//! The floor is plain sockets and no library: one socket multicasts a small
//! datagram and N responder processes (this program, re-run as
//! `responder`) answer it with a unicast datagram each; or one process
//! ping-pongs with another (`pong`). simplep2p is measured with N real
//! `simplep2p recv` processes. Every figure is a ratio to the floor of the
//! same run, so the machine's speed cancels out.
//!
//! Keyed rows (a group key, issue 12) are ratios to open runs measured in
//! the same run, interleaved with them so that machine noise falls on both.
//!
//! Membership rows (issue 13) are times to an observer's events, and an
//! idle `recv` among 50: targets of their own, not ratios.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use simplep2p::{Config, DEFAULT_GROUP, Events, Key, MemberEvent, Peer, Uuid, Verdict};

const BIN: &str = env!("CARGO_BIN_EXE_simplep2p");
const SIZES: [usize; 4] = [1, 10, 50, 200];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("responder") => return responder(args[1].parse().unwrap(), args[2].parse().unwrap()),
        Some("pong") => return pong(),
        Some("receiver") => return receiver(args[1].parse().unwrap(), args.get(2)),
        _ => {}
    }
    let key = KeyFile::new();
    let mut table = Table::default();
    println!(
        "simplep2p bench: loopback, {} cores; every ratio is to the floor of this run\n",
        cores()
    );
    // The floor depends on whether the scheduler puts prober and responders
    // on one core or two; the best of five fresh starts is the strictest.
    let floors: Vec<(usize, Stats)> = SIZES
        .iter()
        .map(|&n| (n, (0..5).map(|_| floor_rounds(n)).min_by_key(|s| s.p50).unwrap()))
        .collect();
    let (rtt, raw_rate) = ping_pong();
    for (n, s) in &floors {
        table.row(
            &format!("floor: multicast + {n} unicast replies (best of 5)"),
            s.p50,
            s.p99,
            None,
            "",
        );
    }
    table.row_text(
        "floor: 1:1 unicast ping-pong",
        &format!("{} p50, {raw_rate:.0} round trips/s", us(rtt)),
    );

    for (n, floor) in &floors {
        let lib = library_rounds(*n);
        let target = if *n == 1 { 3.0 } else { 2.0 };
        table.row(
            &format!("discover(expect = {n})"),
            lib.discover.p50,
            lib.discover.p99,
            Some((floor.p50, target)),
            "",
        );
        table.row(
            &format!("send to {n}, all acked"),
            lib.send.p50,
            lib.send.p99,
            Some((floor.p50, target)),
            "",
        );
        // No target: unicast to each is N datagrams where the floor has one.
        let ratio = lib.targeted.p50.as_secs_f64() / floor.p50.as_secs_f64();
        table.row_text(
            &format!("send_to {n} (unicast to each)"),
            &format!(
                "p50 {:>10}  p99 {:>10}  = {ratio:.2} x floor",
                us(lib.targeted.p50),
                us(lib.targeted.p99)
            ),
        );
        if lib.failures > 0 {
            table.row_text(&format!("  FAILURES at N = {n}"), &lib.failures.to_string());
        }
        if let Some(rate) = lib.throughput {
            let ratio = rate / raw_rate;
            let mark = if *n == 1 {
                verdict(ratio >= 0.5, "at least 0.5 of ping-pong")
            } else {
                String::new()
            };
            table.row_text(
                &format!("sequential sends to {n}"),
                &format!("{rate:.0} msgs/s = {ratio:.2} x ping-pong rate {mark}"),
            );
        }
        if *n == KEYED_N {
            keyed_rows(&mut table, floor, &key.path);
        }
    }
    cli_rows(&mut table, &key.path);
    membership_rows(&mut table);
    resource_rows(&mut table);
    table.print();
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---- the floor: plain sockets -------------------------------------------

/// Re-run as a responder: answer every probe on the group with a unicast
/// datagram carrying (round, index).
fn responder(port: u16, index: u32) {
    let sock = group_member(port);
    eprintln!("ready");
    let reply_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 64];
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf) else { return };
        if n == 4 {
            let mut reply = [0u8; 8];
            reply[..4].copy_from_slice(&buf[..4]);
            reply[4..].copy_from_slice(&index.to_be_bytes());
            let _ = reply_sock.send_to(&reply, src);
        }
    }
}

fn group_member(port: u16) -> UdpSocket {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    sock.set_reuse_address(true).unwrap();
    sock.bind(&SocketAddr::from((DEFAULT_GROUP, port)).into()).unwrap();
    sock.join_multicast_v4(&DEFAULT_GROUP, &Ipv4Addr::LOCALHOST).unwrap();
    sock.into()
}

/// A socket on loopback whose multicast stays on loopback.
fn loopback_socket() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&sock).set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    sock
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Background processes, waited for by their first stderr line, killed on drop.
struct Procs(Vec<Child>);

impl Procs {
    fn start(n: usize, make: impl Fn(usize) -> Command) -> Procs {
        let mut procs = Procs(Vec::with_capacity(n));
        for i in 0..n {
            let child =
                make(i).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
            procs.0.push(child);
        }
        for child in &mut procs.0 {
            let mut line = String::new();
            BufReader::new(child.stderr.as_mut().unwrap()).read_line(&mut line).unwrap();
            assert!(line.contains("ready"), "not ready: {line}");
        }
        procs
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats { p50: at(0.5), p99: at(0.99) }
}

fn rounds_for(n: usize) -> usize {
    if n >= 200 { 200 } else { 500 }
}

fn floor_rounds(n: usize) -> Stats {
    let port = free_port();
    let exe = std::env::current_exe().unwrap();
    let _procs = Procs::start(n, |i| {
        let mut c = Command::new(&exe);
        c.args(["responder", &port.to_string(), &i.to_string()]);
        c
    });
    let sock = loopback_socket();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let group = SocketAddr::from((DEFAULT_GROUP, port));
    let mut seen = vec![u32::MAX; n];
    let mut samples = Vec::new();
    let mut buf = [0u8; 64];
    for round in 0..(rounds_for(n) + 20) as u32 {
        let start = Instant::now();
        sock.send_to(&round.to_be_bytes(), group).unwrap();
        let mut got = 0;
        while got < n {
            let (len, _) = sock.recv_from(&mut buf).expect("a reply within 2 s");
            if len == 8 && buf[..4] == round.to_be_bytes() {
                let i = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
                if seen[i] != round {
                    seen[i] = round;
                    got += 1;
                }
            }
        }
        if round >= 20 {
            samples.push(start.elapsed()); // the first 20 rounds warm up
        }
    }
    stats(samples)
}

/// Re-run as the other end of the ping-pong: echo every datagram.
fn pong() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    eprintln!("ready {}", sock.local_addr().unwrap());
    let mut buf = [0u8; 64];
    while let Ok((n, src)) = sock.recv_from(&mut buf) {
        let _ = sock.send_to(&buf[..n], src);
    }
}

/// 1:1 unicast round trips: (p50 RTT, round trips per second).
fn ping_pong() -> (Duration, f64) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe).arg("pong").stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().strip_prefix("ready ").unwrap().parse().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(addr).unwrap();
    let mut buf = [0u8; 64];
    let mut samples = Vec::new();
    let start = Instant::now();
    for i in 0..20_000u32 {
        let t = Instant::now();
        sock.send(&i.to_be_bytes()).unwrap();
        sock.recv(&mut buf).unwrap();
        samples.push(t.elapsed());
    }
    let rate = samples.len() as f64 / start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    (stats(samples).p50, rate)
}

// ---- simplep2p ---------------------------------------------------------

struct LibRun {
    discover: Stats,
    send: Stats,
    targeted: Stats,
    throughput: Option<f64>,
    failures: usize,
}

/// Receivers for the discover and send rows. At N = 200 they do not beat:
/// 200 peers on one 2-core host hear 40,000 heartbeats a second between
/// them (about 120% of a core, measured), which is the cost of membership
/// at that size on one host, not of a discovery or a send; on a LAN each
/// host pays only its own share (the idle-in-a-group-of-50 row).
fn start_peers(n: usize, port: u16) -> Procs {
    Procs::start(n, |_| {
        let mut c = Command::new(BIN);
        c.args(["--interface", "127.0.0.1", "--port", &port.to_string()]);
        if n >= 200 {
            c.args(["--heartbeat", "0"]);
        }
        c.arg("recv");
        c
    })
}

fn library_rounds(n: usize) -> LibRun {
    let port = free_port();
    let _peers = start_peers(n, port);
    let config = Config::default().interface(Ipv4Addr::LOCALHOST).port(port);
    let me = Peer::start(config).unwrap();
    let timeout = Duration::from_secs(2);
    let mut failures = 0;
    let mut discover = Vec::new();
    for round in 0..rounds_for(n) + 20 {
        let t = Instant::now();
        let found = me.discover_within(Some(n), timeout).unwrap();
        let took = t.elapsed();
        failures += usize::from(found.len() != n);
        if round >= 20 {
            discover.push(took);
        }
    }
    let targets = me.known_peers();
    let mut send = Vec::new();
    for round in 0..rounds_for(n) + 20 {
        let t = Instant::now();
        // To the group, as the floor does: one multicast, N answers.
        let report = me.send_group(b"bench", timeout).unwrap();
        let took = t.elapsed();
        failures += usize::from(!report.all_acked());
        if round >= 20 {
            send.push(took);
        }
    }
    let mut targeted = Vec::new();
    for round in 0..rounds_for(n) + 20 {
        let t = Instant::now();
        let report = me.send_to(b"bench", &targets, timeout).unwrap();
        let took = t.elapsed();
        failures += usize::from(!report.all_acked());
        if round >= 20 {
            targeted.push(took);
        }
    }
    let throughput = (n == 1 || n == 10).then(|| {
        let start = Instant::now();
        let mut sent = 0u32;
        while start.elapsed() < Duration::from_secs(1) {
            failures += usize::from(!me.send_to(b"t", &targets, timeout).unwrap().all_acked());
            sent += 1;
        }
        f64::from(sent) / start.elapsed().as_secs_f64()
    });
    LibRun {
        discover: stats(discover),
        send: stats(send),
        targeted: stats(targeted),
        throughput,
        failures,
    }
}

// ---- under a group key ---------------------------------------------------

/// The group size of the keyed rows.
const KEYED_N: usize = 50;

/// A fresh key in a key file of mode 0600 (as `keygen --out` writes it), in
/// a private folder removed on drop.
struct KeyFile {
    dir: PathBuf,
    path: PathBuf,
}

impl KeyFile {
    fn new() -> KeyFile {
        let dir = std::env::temp_dir().join(format!("simplep2p-bench-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let path = dir.join("group.key");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        writeln!(file, "{}", Key::generate().unwrap().to_hex()).unwrap();
        KeyFile { dir, path }
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The config of a library peer on loopback, keyed with the key in
/// `key_file` (through `Config::key`) if one is given.
fn lib_config(port: u16, key_file: Option<&Path>) -> Config {
    let mut config = Config::default().interface(Ipv4Addr::LOCALHOST).port(port);
    for key in key_file.map(|p| simplep2p::read_key_file(p).unwrap()).unwrap_or_default() {
        config = config.key(key);
    }
    config
}

/// Re-run as a receiver for the keyed comparison: a library peer that does
/// what `simplep2p recv` does (write the line, then acknowledge), so that
/// open and keyed receivers differ only in the key.
fn receiver(port: u16, key_file: Option<&String>) {
    let config = lib_config(port, key_file.map(Path::new));
    let peer = Peer::start_with_handler(config, |msg| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {}", msg.sender, String::from_utf8_lossy(&msg.data));
        let _ = out.flush();
        Verdict::Ack
    })
    .unwrap();
    eprintln!("ready");
    peer.wait_closed(None);
}

fn start_receivers(n: usize, port: u16, key_file: Option<&Path>) -> Procs {
    let exe = std::env::current_exe().unwrap();
    Procs::start(n, |_| {
        let mut c = Command::new(&exe);
        c.args(["receiver", &port.to_string()]);
        c.args(key_file);
        c
    })
}

/// `send_group` to `KEYED_N` receivers, open and keyed, alternating round
/// by round (open-keyed, keyed-open, ...), so that a busy moment on a
/// shared machine slows both alike: (open, keyed, failures).
fn keyed_rounds(key_file: &Path) -> (Stats, Stats, usize) {
    let n = KEYED_N;
    let (open_port, keyed_port) = (free_port(), free_port());
    let _open_peers = start_receivers(n, open_port, None);
    let _keyed_peers = start_receivers(n, keyed_port, Some(key_file));
    let open = Peer::start(lib_config(open_port, None)).unwrap();
    let keyed = Peer::start(lib_config(keyed_port, Some(key_file))).unwrap();
    let timeout = Duration::from_secs(2);
    let mut failures = 0;
    let mut round = |me: &Peer, samples: &mut Vec<Duration>| {
        let t = Instant::now();
        let report = me.send_group(b"bench", timeout).unwrap();
        let took = t.elapsed();
        failures += usize::from(!report.all_acked());
        samples.push(took);
    };
    // Warm up both, as the open rows do: discovery proves every address,
    // and 20 sends are thrown away.
    for me in [&open, &keyed] {
        for _ in 0..20 {
            me.discover_within(Some(n), timeout).unwrap();
            round(me, &mut Vec::new());
        }
    }
    let (mut open_samples, mut keyed_samples) = (Vec::new(), Vec::new());
    for i in 0..rounds_for(n) {
        let mut arms = [(&open, &mut open_samples), (&keyed, &mut keyed_samples)];
        if i % 2 == 1 {
            arms.reverse();
        }
        for (me, samples) in arms {
            round(me, samples);
        }
    }
    (stats(open_samples), stats(keyed_samples), failures)
}

fn keyed_rows(table: &mut Table, floor: &Stats, key_file: &Path) {
    let (open, keyed, failures) = keyed_rounds(key_file);
    let n = KEYED_N;
    // The open half, for scale: it should sit near the "send to 50" row.
    let of_floor = open.p50.as_secs_f64() / floor.p50.as_secs_f64();
    table.row_text(
        &format!("send to {n}, open, library receivers"),
        &format!("p50 {:>10}  p99 {:>10}  = {of_floor:.2} x floor", us(open.p50), us(open.p99)),
    );
    let ratio = keyed.p50.as_secs_f64() / open.p50.as_secs_f64();
    table.row_text(
        &format!("send to {n}, keyed, library receivers"),
        &format!(
            "p50 {:>10}  p99 {:>10}  = {ratio:.2} x open {}",
            us(keyed.p50),
            us(keyed.p99),
            verdict(ratio <= 1.2 && failures == 0, "<= 1.2x, all acked")
        ),
    );
    if failures > 0 {
        table.row_text(&format!("  FAILURES, open and keyed at N = {n}"), &failures.to_string());
    }
}

// ---- the command line end to end -----------------------------------------

/// Whether this build's CLI takes a key file (issue 12 adds `--key-file`).
fn cli_has_key_file() -> bool {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    String::from_utf8_lossy(&help.stdout).contains("--key-file")
}

/// 20 runs of the whole `send --expect 50` process, with one more run
/// against the keyed group after each open one (the order alternating).
fn cli_rows(table: &mut Table, key_file: &Path) {
    let port = free_port();
    let _peers = start_peers(50, port);
    let net = ["--interface", "127.0.0.1", "--port"];
    let port_s = port.to_string();
    let keyed = cli_has_key_file().then(|| {
        let port = free_port();
        let peers = Procs::start(50, |_| {
            let mut c = Command::new(BIN);
            c.args(net).arg(port.to_string()).arg("--key-file").arg(key_file).arg("recv");
            c
        });
        (peers, port.to_string())
    });
    let send = |port: &str, key: bool| {
        let mut c = Command::new(BIN);
        c.args(net).arg(port);
        if key {
            c.arg("--key-file").arg(key_file);
        }
        let t = Instant::now();
        let out = c.args(["send", "hi", "--expect", "50"]).output().unwrap();
        (t.elapsed(), out.status.success() && out.stdout.starts_with(b"PASS 50/50"))
    };
    let (mut times, mut keyed_times) = (Vec::new(), Vec::new());
    let (mut passes, mut keyed_passes) = (0, 0);
    for i in 0..20 {
        let mut runs =
            [(false, &mut times, &mut passes), (true, &mut keyed_times, &mut keyed_passes)];
        if i % 2 == 1 {
            runs.reverse();
        }
        for (key, times, passes) in runs {
            let port = match (&keyed, key) {
                (_, false) => &port_s,
                (Some((_, keyed_port)), true) => keyed_port,
                (None, true) => continue,
            };
            let (took, pass) = send(port, key);
            times.push(took);
            *passes += usize::from(pass);
        }
    }
    let s = stats(times);
    let ratio = 2.0 / s.p50.as_secs_f64();
    table.row_text(
        "CLI: simplep2p send --expect 50 (whole process)",
        &format!(
            "{} median, {passes}/20 PASS 50/50 = {ratio:.0} x faster than the original's 2.0 s {}",
            ms(s.p50),
            verdict(ratio >= 100.0 && passes == 20, "100x, 20/20")
        ),
    );
    let keyed_text = if keyed.is_some() {
        let k = stats(keyed_times);
        format!(
            "{} median, {keyed_passes}/20 PASS 50/50 = {:.2} x open {}",
            ms(k.p50),
            k.p50.as_secs_f64() / s.p50.as_secs_f64(),
            verdict(k.p50 <= Duration::from_millis(20) && keyed_passes == 20, "<= 20 ms, 20/20")
        )
    } else {
        format!("not measured: this CLI has no --key-file {}", verdict(false, "<= 20 ms, 20/20"))
    };
    table.row_text("CLI: simplep2p send --expect 50, keyed (--key-file)", &keyed_text);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        Command::new(BIN).args(net).arg(&port_s).arg("peers").output().unwrap();
        times.push(t.elapsed());
    }
    table.row_text(
        "CLI: simplep2p peers, no --expect (quiet window)",
        &format!("{} median", ms(stats(times).p50)),
    );
}

// ---- membership (issue 13) -------------------------------------------------

/// Starts (and stops) measured for each of Joined and Left.
const JOINS: usize = 20;

/// How long any one join or leave may take before it counts as never seen.
const EVENT_WAIT: Duration = Duration::from_secs(2);

/// Join, leave and loss as an observer (a library peer) sees them, at the
/// default 1 s heartbeats and at 250 ms, each pair of rows in a group of
/// its own.
fn membership_rows(table: &mut Table) {
    for (beat, losses) in [(Duration::from_secs(1), 3), (Duration::from_millis(250), 5)] {
        let port = free_port();
        let config = lib_config(port, None).heartbeat(Some(beat));
        let observer = Peer::start(config.clone()).unwrap();
        let events = observer.events();
        let every = format!("{} ms beats", beat.as_millis());
        let join_target = Duration::from_millis(10);

        let (mut joins, mut leaves) = (Timings::default(), Timings::default());
        for i in 0..JOINS {
            let t = Instant::now();
            let peer = Peer::start(config.clone().name(format!("bench-lib-{i}"))).unwrap();
            let id = peer.id();
            joins.add(t, wait_for(&events, EVENT_WAIT, |e| is(e, "joined", id)));
            let t = Instant::now();
            peer.close();
            leaves.add(t, wait_for(&events, EVENT_WAIT, |e| is(e, "left", id)));
        }
        joins.row(table, &format!("{every}: Joined, from Peer::start called"), join_target);
        leaves.row(table, &format!("{every}: Left, from Peer::close called"), join_target);

        let (mut joins, mut leaves) = (Timings::default(), Timings::default());
        for i in 0..JOINS {
            let t = Instant::now();
            let child = spawn_recv(port, beat, &format!("bench-recv-{i}"));
            joins.add(t, wait_for(&events, EVENT_WAIT, |e| is_named(e, "joined", &child.1)));
            let t = Instant::now();
            // SAFETY: kill(2) on our own child, which is not yet waited for.
            unsafe { libc::kill(child.0.0[0].id() as libc::pid_t, libc::SIGTERM) };
            leaves.add(t, wait_for(&events, EVENT_WAIT, |e| is_named(e, "left", &child.1)));
        }
        joins.row(table, &format!("{every}: Joined, from spawning simplep2p recv"), join_target);
        leaves.row(table, &format!("{every}: Left, from SIGTERM to simplep2p recv"), join_target);

        // A loss is timed from SIGKILL just after the observer heard the
        // victim's heartbeat: the slowest phase, so the bound holds for all.
        let mut lost = Timings::default();
        for i in 0..losses {
            let mut child = spawn_recv(port, beat, &format!("bench-lost-{i}"));
            let Some((joined, id)) =
                wait_for(&events, EVENT_WAIT, |e| is_named(e, "joined", &child.1))
            else {
                lost.missed += 1;
                continue;
            };
            // Past the announcement burst (beats at 0-100 ms), in the steady beat.
            std::thread::sleep(
                (joined + Duration::from_millis(200)).saturating_duration_since(Instant::now()),
            );
            let heard =
                |peer: &Peer| peer.members().into_iter().find(|m| m.id == id).map(|m| m.last_heard);
            let before = heard(&observer);
            let deadline = Instant::now() + beat * 2;
            while heard(&observer) == before && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let t = Instant::now();
            let _ = child.0.0[0].kill();
            let _ = child.0.0[0].wait();
            lost.add(t, wait_for(&events, beat * 3 + EVENT_WAIT, |e| is(e, "lost", id)));
        }
        lost.row_max(
            table,
            &format!("{every}: Lost, from SIGKILL to simplep2p recv"),
            beat * 3 + Duration::from_millis(250),
        );
    }
}

/// A `simplep2p recv` on `port` with heartbeats every `beat`, named `name`
/// so the observer can tell it from the others; not waited for.
fn spawn_recv(port: u16, beat: Duration, name: &str) -> (Procs, String) {
    let child = Command::new(BIN)
        .args(["--interface", "127.0.0.1", "--port", &port.to_string()])
        .args(["--heartbeat", &beat.as_millis().to_string(), "--name", name, "recv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    (Procs(vec![child]), name.to_string())
}

fn is(event: &MemberEvent, name: &str, id: Uuid) -> Option<()> {
    (event.name() == name && event.member().is_some_and(|m| m.id == id)).then_some(())
}

/// The member's id, if it is the event named `name` about the member named `who`.
fn is_named(event: &MemberEvent, name: &str, who: &str) -> Option<Uuid> {
    event.member().filter(|m| event.name() == name && m.name == who).map(|m| m.id)
}

/// Reads events until `pick` takes one or `wait` is over: when it was read,
/// and what `pick` made of it.
fn wait_for<T>(
    events: &Events,
    wait: Duration,
    pick: impl Fn(&MemberEvent) -> Option<T>,
) -> Option<(Instant, T)> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let event = events.next_timeout(Some(left))?;
        if let Some(got) = pick(&event) {
            return Some((Instant::now(), got));
        }
    }
}

/// How long events took to be seen, and how many never were.
#[derive(Default)]
struct Timings {
    took: Vec<Duration>,
    missed: usize,
}

impl Timings {
    fn add<T>(&mut self, from: Instant, seen: Option<(Instant, T)>) {
        match seen {
            Some((at, _)) => self.took.push(at - from),
            None => self.missed += 1,
        }
    }

    /// Median and max, out of how many, and what `pass` makes of them.
    fn text(&self, pass: impl Fn(Duration, Duration) -> bool, target: &str) -> String {
        let runs = self.took.len() + self.missed;
        let mut took = self.took.clone();
        took.sort();
        let Some(&max) = took.last() else {
            return format!("never seen in {runs} runs {}", verdict(false, target));
        };
        let median = took[took.len() / 2];
        let missed =
            if self.missed > 0 { format!(", {} never seen", self.missed) } else { String::new() };
        format!(
            "median {}  max {}  ({runs} runs{missed}) {}",
            ms(median),
            ms(max),
            verdict(self.missed == 0 && pass(median, max), target)
        )
    }

    /// The median against `target`.
    fn row(&self, table: &mut Table, what: &str, target: Duration) {
        let text = self.text(|median, _| median <= target, &format!("median <= {}", ms(target)));
        table.row_text(what, &text);
    }

    /// Every run against `target`: a bound, not a typical figure.
    fn row_max(&self, table: &mut Table, what: &str, target: Duration) {
        let text = self.text(|_, max| max <= target, &format!("max <= {}", ms(target)));
        table.row_text(what, &text);
    }
}

// ---- resources -----------------------------------------------------------

fn proc_field(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    line[key.len()..].trim().to_string()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn resource_rows(table: &mut Table) {
    let port = free_port();
    let peers = start_peers(1, port);
    let pid = peers.0[0].id();
    let rss_kib: u64 = proc_field(pid, "VmRSS:").trim_end_matches(" kB").parse().unwrap();
    let threads: u32 = proc_field(pid, "Threads:").parse().unwrap();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(5)); // the idle window being measured
    let idle = cpu_ticks(pid) - before;
    drop(peers);
    let mib = rss_kib as f64 / 1024.0;
    table.row_text(
        "idle recv: resident memory",
        &format!("{mib:.2} MiB {}", verdict(mib < 2.5, "< 2.5 MiB")),
    );
    table.row_text("idle recv: threads", &format!("{threads} {}", verdict(threads <= 3, "<= 3")));
    table.row_text(
        "idle recv: CPU over 5 s",
        &format!("{} ms {}", idle * 10, verdict(idle == 0, "none measurable (10 ms ticks)")),
    );
    group_idle_rows(table);
    let size = std::fs::metadata(BIN).unwrap().len();
    table.row_text(
        "release binary (stripped by the profile)",
        &format!("{:.0} KiB {}", size as f64 / 1024.0, verdict(size < 1024 * 1024, "< 1 MiB")),
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = Command::new(&cargo).args(["tree", "--prefix", "none", "-e", "normal"]).output();
    if let Ok(tree) = tree {
        let mut crates: Vec<String> = String::from_utf8_lossy(&tree.stdout)
            .lines()
            .map(|l| l.trim_end_matches(" (*)").to_string())
            .collect();
        crates.sort();
        crates.dedup();
        table.row_text(
            "crates in the dependency tree (normal, with simplep2p)",
            &crates.len().to_string(),
        );
    }
    let dir = std::env::temp_dir().join(format!("simplep2p-bench-build-{}", std::process::id()));
    let t = Instant::now();
    let built = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let took = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    if built.is_ok_and(|s| s.success()) {
        table.row_text("clean release build", &format!("{:.1} s", took.as_secs_f64()));
    }
}

/// The size of the group in which an idle `recv` is measured.
const IDLE_GROUP: usize = 50;

/// One idle `simplep2p recv` among `IDLE_GROUP` of them, all at the
/// default 1 s heartbeats, so it hears 49 heartbeats a second.
fn group_idle_rows(table: &mut Table) {
    let peers = start_peers(IDLE_GROUP, free_port());
    // Every member joins every other within the announcement burst; three
    // beats later the tables are settled.
    std::thread::sleep(Duration::from_secs(3));
    let pids: Vec<u32> = peers.0.iter().map(Child::id).collect();
    let before: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(10)); // the idle window being measured
    let after: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let window = t.elapsed().as_secs_f64();
    let pid = pids[0];
    let rss_kib: u64 = proc_field(pid, "VmRSS:").trim_end_matches(" kB").parse().unwrap();
    let threads: u32 = proc_field(pid, "Threads:").parse().unwrap();
    drop(peers);
    // SAFETY: sysconf has no preconditions.
    let tick = 1.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let share = |ticks: u64| ticks as f64 * tick / window * 100.0;
    let used: Vec<u64> = before.iter().zip(&after).map(|(b, a)| a - b).collect();
    let one = share(used[0]);
    let mean = share(used.iter().sum::<u64>()) / IDLE_GROUP as f64;
    let busiest = share(*used.iter().max().unwrap());
    let n = IDLE_GROUP;
    table.row_text(
        &format!("idle recv in a group of {n}, 1 s beats: CPU"),
        &format!(
            "{one:.2}% of a core over {window:.0} s (all {n}: mean {mean:.2}%, busiest {busiest:.2}%) {}",
            verdict(one < 1.0, "< 1%")
        ),
    );
    let mib = rss_kib as f64 / 1024.0;
    table.row_text(
        &format!("idle recv in a group of {n}, 1 s beats: resident memory"),
        &format!("{mib:.2} MiB {}", verdict(mib < 3.0, "< 3 MiB")),
    );
    table.row_text(
        &format!("idle recv in a group of {n}, 1 s beats: threads"),
        &format!("{threads} {}", verdict(threads <= 3, "<= 3")),
    );
}

// ---- the table -------------------------------------------------------------

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn verdict(ok: bool, target: &str) -> String {
    format!("[{} {target}]", if ok { "meets" } else { "MISSES" })
}

#[derive(Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn row(
        &mut self,
        what: &str,
        p50: Duration,
        p99: Duration,
        floor: Option<(Duration, f64)>,
        _: &str,
    ) {
        let mut text = format!("p50 {:>10}  p99 {:>10}", us(p50), us(p99));
        if let Some((f, target)) = floor {
            let ratio = p50.as_secs_f64() / f.as_secs_f64();
            text += &format!(
                "  = {ratio:.2} x floor {}",
                verdict(ratio <= target, &format!("<= {target}x"))
            );
        }
        self.0.push((what.to_string(), text));
    }

    fn row_text(&mut self, what: &str, text: &str) {
        self.0.push((what.to_string(), text.to_string()));
    }

    fn print(&self) {
        let width = self.0.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        for (what, text) in &self.0 {
            println!("{what:<width$}  {text}");
        }
    }
}
