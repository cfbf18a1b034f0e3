//! The emulated-LAN harness (`common::segments`) proved with plain sockets,
//! no simplep2p peer: multicast crosses a segment's switch and stays on
//! that segment, over IPv4 and IPv6 link-local; a link taken down hears
//! nothing until it is up again; interfaces and addresses can come later;
//! the kernel needs a route to choose an IPv4 interface by itself; and a
//! dropped lab leaves nothing behind.
//!
//! The sockets live in lab hosts: [`lab_tool`], this binary run again
//! inside a host, opens them and reports on stdout. Without root or `ip`
//! these tests print why and pass, unless SIMPLEP2P_REQUIRE_NETNS=1.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::segments::{Host, Lab, PREFIX, Stack, ip_path, is_rerun, list_namespaces};
use common::{DEADLINE, with_watchdog};

/// The IPv4 group (simplep2p's default one).
const GROUP4: &str = "239.255.0.1";
/// An IPv6 link-local group: IANA's ff02::114, "any private experiment".
const GROUP6: &str = "ff02::114";

/// What [`lab_tool`] prints before each report, so that a report is found
/// even on the line where libtest has printed "test lab_tool ... ".
const MARK: &str = "lab-tool: ";

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn ipv4_multicast_reaches_its_own_segment_only() {
    const PORT: u16 = 47_701;
    let Some(lab) = Lab::new("v4") else { return };
    let (a, b) = (lab.segment("a"), lab.segment("b"));
    let h0 = lab.host("h0");
    let h1 = lab.host("h1");
    let h2 = lab.host_with("h2", Stack::V4Only);
    assert_eq!(lab.attach(&h0, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64")), "eth0");
    assert_eq!(lab.attach(&h0, &b, Some("10.77.2.1/24"), Some("fd77:2::1/64")), "eth1");
    assert_eq!(lab.attach(&h1, &a, Some("10.77.1.2/24"), None), "eth0");
    assert_eq!(lab.attach(&h2, &b, Some("10.77.2.2/24"), None), "eth0");
    assert_eq!(h2.ip(&["-6", "addr"]), "", "an IPv4-only host has no IPv6 address at all");

    let h0_on_a = Listener::start(&h0, "eth0", GROUP4, PORT);
    let h0_on_b = Listener::start(&h0, "eth1", GROUP4, PORT);
    let h2_on_b = Listener::start(&h2, "eth0", GROUP4, PORT);
    send(&h1, "eth0", GROUP4, PORT, "from-a");
    assert_eq!(h0_on_a.until("from-a"), [(ip("10.77.1.2"), "from-a".into())]);
    // Markers sent on b afterwards: both b listeners hear theirs, and
    // nothing from a before it.
    send(&h2, "eth0", GROUP4, PORT, "marker-from-h2");
    assert_eq!(h0_on_b.until("marker-from-h2"), [(ip("10.77.2.2"), "marker-from-h2".into())]);
    send(&h0, "eth1", GROUP4, PORT, "marker-from-h0");
    assert_eq!(h2_on_b.until("marker-from-h0"), [(ip("10.77.2.1"), "marker-from-h0".into())]);
}

#[test]
fn ipv6_link_local_multicast_reaches_its_own_segment_only() {
    const PORT: u16 = 47_702;
    let Some(lab) = Lab::new("v6") else { return };
    let (a, b) = (lab.segment("a"), lab.segment("b"));
    let h0 = lab.host("h0");
    let h1 = lab.host_with("h1", Stack::V6Only);
    let h2 = lab.host_with("h2", Stack::V6Only);
    lab.attach(&h0, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64"));
    lab.attach(&h0, &b, Some("10.77.2.1/24"), Some("fd77:2::1/64"));
    lab.attach(&h1, &a, None, Some("fd77:1::2/64"));
    lab.attach(&h2, &b, None, Some("fd77:2::2/64"));
    assert!(!h1.ip(&["-4", "addr"]).contains("10.77."), "an IPv6-only host has no IPv4 address");

    let h0_on_a = Listener::start(&h0, "eth0", GROUP6, PORT);
    let h0_on_b = Listener::start(&h0, "eth1", GROUP6, PORT);
    let h2_on_b = Listener::start(&h2, "eth0", GROUP6, PORT);
    // Link-local multicast comes from the sender's link-local address.
    send(&h1, "eth0", GROUP6, PORT, "from-a");
    assert_eq!(h0_on_a.until("from-a"), [(h1.link_local("eth0").into(), "from-a".into())]);
    send(&h2, "eth0", GROUP6, PORT, "marker-from-h2");
    let from_h2 = (h2.link_local("eth0").into(), "marker-from-h2".into());
    assert_eq!(h0_on_b.until("marker-from-h2"), [from_h2]);
    send(&h0, "eth1", GROUP6, PORT, "marker-from-h0");
    let from_h0 = (h0.link_local("eth1").into(), "marker-from-h0".into());
    assert_eq!(h2_on_b.until("marker-from-h0"), [from_h0]);
}

#[test]
fn ipv4_a_link_taken_down_hears_nothing_until_it_is_up_again() {
    link_down_and_up(GROUP4, 47_703);
}

#[test]
fn ipv6_a_link_taken_down_hears_nothing_until_it_is_up_again() {
    link_down_and_up(GROUP6, 47_704);
}

/// h1 sends to `group`; h2's link goes down and up again; h3, always up,
/// is the witness that each datagram has crossed the switch.
fn link_down_and_up(group: &str, port: u16) {
    let Some(lab) = Lab::new("updown") else { return };
    let a = lab.segment("a");
    let (h1, h2, h3) = (lab.host("h1"), lab.host("h2"), lab.host("h3"));
    lab.attach(&h1, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64"));
    lab.attach(&h2, &a, Some("10.77.1.2/24"), Some("fd77:1::2/64"));
    lab.attach(&h3, &a, Some("10.77.1.3/24"), Some("fd77:1::3/64"));
    let from: IpAddr = if group == GROUP4 { ip("10.77.1.1") } else { h1.link_local("eth0").into() };
    let got = |msg: &str| vec![(from, msg.to_string())];

    let (h2_hears, h3_hears) =
        (Listener::start(&h2, "eth0", group, port), Listener::start(&h3, "eth0", group, port));
    send(&h1, "eth0", group, port, "1");
    assert_eq!(h2_hears.until("1"), got("1"));
    assert_eq!(h3_hears.until("1"), got("1"));

    h2.link_down("eth0");
    send(&h1, "eth0", group, port, "2");
    // h3 has it: the switch has flooded it, while h2's port was down.
    assert_eq!(h3_hears.until("2"), got("2"));

    h2.link_up("eth0");
    assert!(h2.ip(&["addr", "show", "eth0"]).contains("fd77:1::2/64"), "IPv6 address kept");
    send(&h1, "eth0", group, port, "3");
    assert_eq!(h3_hears.until("3"), got("3"));
    assert_eq!(h2_hears.until("3"), got("3"), "h2 heard nothing while down, all once up");
}

#[test]
fn an_interface_attached_after_start_works_and_addresses_come_and_go() {
    const PORT: u16 = 47_705;
    let Some(lab) = Lab::new("later") else { return };
    let b = lab.segment("b");
    let h2 = lab.host("h2");
    lab.attach(&h2, &b, Some("10.77.2.2/24"), None);
    let h2_hears = Listener::start(&h2, "eth0", GROUP4, PORT);

    // h0 gets its interface, then its address, while h2 listens.
    let h0 = lab.host("h0");
    assert_eq!(lab.attach(&h0, &b, None, None), "eth0");
    h0.add_addr("eth0", "10.77.2.1/24");
    send(&h0, "eth0", GROUP4, PORT, "first");
    assert_eq!(h2_hears.until("first"), [(ip("10.77.2.1"), "first".into())]);
    h0.del_addr("eth0", "10.77.2.1/24");
    h0.add_addr("eth0", "10.77.2.7/24");
    send(&h0, "eth0", GROUP4, PORT, "second");
    assert_eq!(h2_hears.until("second"), [(ip("10.77.2.7"), "second".into())]);
}

#[test]
fn the_kernel_chooses_an_ipv4_interface_only_given_a_route() {
    let Some(lab) = Lab::new("route") else { return };
    let a = lab.segment("a");
    let (bare, mcast, default) = (lab.host("bare"), lab.host("mcast"), lab.host("default"));
    lab.attach(&bare, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64"));
    lab.attach(&mcast, &a, Some("10.77.1.2/24"), None);
    lab.attach(&default, &a, Some("10.77.1.3/24"), None);
    mcast.route_multicast("eth0");
    default.default_route("eth0");

    assert_eq!(join_any(&bare, GROUP4), format!("error {}", libc::ENODEV));
    assert_eq!(join_any(&mcast, GROUP4), "joined");
    assert_eq!(join_any(&default, GROUP4), "joined");
    // IPv6 has ff00::/8 on every interface, route or not.
    assert_eq!(join_any(&bare, GROUP6), "joined");
}

#[test]
fn a_dropped_lab_leaves_no_namespace_and_no_process() {
    let Some(lab) = Lab::new("drop") else { return };
    let a = lab.segment("a");
    let h = lab.host("h");
    lab.attach(&h, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64"));
    let mut sleeper = h.spawn("sleep", ["600"]);
    let prefix = lab.prefix().to_string();
    let ours = |n: &String| n.starts_with(&format!("{prefix}-"));
    assert_eq!(list_namespaces().iter().filter(|n| ours(n)).count(), 2);

    drop(lab);
    assert!(!list_namespaces().iter().any(ours), "left: {:?}", list_namespaces());
    let status = with_watchdog(sleeper.id(), || sleeper.wait().unwrap());
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));

    // The same when a test fails: the lab is dropped as the panic unwinds.
    let prefix = Mutex::new(String::new());
    let failed = std::panic::catch_unwind(|| {
        let lab = Lab::new("unwind").expect("labs work here: the one above did");
        *prefix.lock().unwrap() = lab.prefix().to_string();
        lab.host("h");
        panic!("a failing test, on purpose");
    });
    assert!(failed.is_err());
    let prefix = prefix.into_inner().unwrap();
    assert!(!list_namespaces().iter().any(|n| n.starts_with(&prefix)), "{prefix} left");
}

#[test]
fn a_lab_deletes_what_a_killed_run_left_behind() {
    let Some(first) = Lab::new("first") else { return };
    drop(first);
    // A pid above the kernel's limit (2^22): no such process can exist.
    let leftover = format!("{PREFIX}-4194305-0-killed-h");
    let status = Command::new(ip_path()).args(["netns", "add", &leftover]).status().unwrap();
    assert!(status.success());
    let _second = Lab::new("second").unwrap();
    assert!(!list_namespaces().contains(&leftover), "{leftover} left");
}

// ---------------------------------------------------------------------------
// Sockets inside lab hosts.

/// A [`lab_tool`] listening to a group on one interface of a host.
struct Listener {
    child: Child,
    /// Kept open: the tool stops when it closes.
    _stdin: ChildStdin,
    reports: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Listener {
    /// Joins `group` on `ifname` of `host`, on `port`, and returns once
    /// joined. Hears only what arrives on that interface.
    fn start(host: &Host, ifname: &str, group: &str, port: u16) -> Listener {
        let mut cmd = tool(host, "recv", ifname, group, port);
        cmd.stdin(Stdio::piped());
        let (mut child, reports, stderr) = spawn_reporting(cmd);
        let what = format!("{}'s {ifname} listening to {group}", host.name());
        let _stdin = child.stdin.take().unwrap();
        let ready = reports.recv_timeout(DEADLINE);
        assert_eq!(ready.as_deref(), Ok("ready"), "{what}: {}", stderr.lock().unwrap());
        Listener { child, _stdin, reports, stderr, what }
    }

    /// The datagrams heard, (source, payload), up to and including the
    /// first whose payload is `msg`, which must come within [`DEADLINE`].
    fn until(&self, msg: &str) -> Vec<(IpAddr, String)> {
        let deadline = Instant::now() + DEADLINE;
        let mut heard = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(report) = self.reports.recv_timeout(left) else {
                panic!(
                    "{}: no {msg:?} in {DEADLINE:?}, heard {heard:?}; stderr: {}",
                    self.what,
                    self.stderr.lock().unwrap()
                );
            };
            let (from, payload) = report.strip_prefix("got ").unwrap().split_once(' ').unwrap();
            heard.push((from.parse().unwrap(), payload.to_string()));
            if payload == msg {
                return heard;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `msg` once to `group` on `port`, out of `ifname` of `host`.
fn send(host: &Host, ifname: &str, group: &str, port: u16, msg: &str) {
    let mut cmd = tool(host, "send", ifname, group, port);
    cmd.env("LAB_MSG", msg);
    let report = run_tool(cmd);
    assert_eq!(report, "sent", "{}'s {ifname} sending {msg:?}", host.name());
}

/// Joins `group` on a socket of `host` without naming an interface:
/// "joined", or "error <errno>".
fn join_any(host: &Host, group: &str) -> String {
    run_tool(tool(host, "join-any", "", group, 0))
}

/// [`lab_tool`] in `host`, in `role`.
fn tool(host: &Host, role: &str, ifname: &str, group: &str, port: u16) -> Command {
    let mut cmd = host.rerun("lab_tool");
    cmd.env("LAB_ROLE", role).env("LAB_IF", ifname).env("LAB_GROUP", group);
    cmd.env("LAB_PORT", port.to_string());
    cmd
}

/// Runs a [`lab_tool`] to its end (at most [`DEADLINE`]): its one report.
fn run_tool(cmd: Command) -> String {
    let (mut child, reports, stderr) = spawn_reporting(cmd);
    let status = with_watchdog(child.id(), || child.wait().unwrap());
    let report = reports.recv_timeout(DEADLINE);
    let stderr = stderr.lock().unwrap();
    assert!(status.success(), "lab_tool failed: {stderr}");
    report.unwrap_or_else(|_| panic!("lab_tool reported nothing: {stderr}"))
}

/// Spawns `cmd` with stdout and stderr piped: its reports (stdout lines
/// after [`MARK`]), in order, and its stderr so far.
fn spawn_reporting(mut cmd: Command) -> (Child, mpsc::Receiver<String>, Arc<Mutex<String>>) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let (tx, reports) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, report)) = line.split_once(MARK) {
                let _ = tx.send(report.to_string());
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let (mut pipe, sink) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (child, reports, stderr)
}

fn ip(addr: &str) -> IpAddr {
    addr.parse().unwrap()
}

/// Not a test: the sockets of the tests above, run inside a lab host (see
/// `Host::rerun`), in role LAB_ROLE:
/// - "recv": joins LAB_GROUP on interface LAB_IF only, on port LAB_PORT;
///   reports "ready", then "got <source> <payload>" for each datagram,
///   until its stdin closes;
/// - "send": sends LAB_MSG to LAB_GROUP:LAB_PORT out of LAB_IF, without
///   looping it back to the host itself; reports "sent";
/// - "join-any": joins LAB_GROUP on an interface the kernel chooses;
///   reports "joined" or "error <errno>".
#[test]
#[ignore = "run inside lab hosts by the other tests"]
fn lab_tool() {
    use socket2::{Domain, InterfaceIndexOrAddress, Socket, Type};
    if !is_rerun("lab_tool") {
        return;
    }
    let var = |name| std::env::var(name).unwrap();
    let group: IpAddr = var("LAB_GROUP").parse().unwrap();
    let port: u16 = var("LAB_PORT").parse().unwrap();
    let ifname = var("LAB_IF");
    let index = || {
        let name = std::ffi::CString::new(ifname.clone()).unwrap();
        // SAFETY: a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(index, 0, "no interface {ifname}");
        index
    };
    let domain = if group.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let sock = Socket::new(domain, Type::DGRAM, None).unwrap();
    match (var("LAB_ROLE").as_str(), group) {
        ("recv", group) => {
            sock.set_reuse_address(true).unwrap();
            match group {
                IpAddr::V4(g) => {
                    sock.bind(&SocketAddr::from((g, port)).into()).unwrap();
                    // Only the joined interface's datagrams.
                    sock.set_multicast_all_v4(false).unwrap();
                    sock.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(index())).unwrap();
                }
                IpAddr::V6(g) => {
                    // Bound to the group with the interface as scope id,
                    // which binds the socket to that interface: unlike
                    // IPv4's, IPV6_MULTICAST_ALL off is not enough, as
                    // Linux checks only that the socket joined the group,
                    // on whichever interface.
                    let at = SocketAddrV6::new(g, port, 0, index());
                    sock.bind(&SocketAddr::V6(at).into()).unwrap();
                    sock.join_multicast_v6(&g, index()).unwrap();
                }
            }
            let sock: UdpSocket = sock.into();
            sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let closed = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&closed);
            thread::spawn(move || {
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
                flag.store(true, Ordering::Release);
            });
            println!("{MARK}ready");
            let give_up = Instant::now() + 3 * DEADLINE; // should the parent never close
            let mut buf = [0u8; 2048];
            while !closed.load(Ordering::Acquire) && Instant::now() < give_up {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    println!("{MARK}got {} {}", from.ip(), String::from_utf8_lossy(&buf[..n]));
                }
            }
        }
        ("send", IpAddr::V4(g)) => {
            // SO_BINDTODEVICE: the interface, with no route needed.
            sock.bind_device(Some(ifname.as_bytes())).unwrap();
            sock.set_multicast_loop_v4(false).unwrap();
            sock.send_to(var("LAB_MSG").as_bytes(), &SocketAddr::from((g, port)).into()).unwrap();
            println!("{MARK}sent");
        }
        ("send", IpAddr::V6(g)) => {
            sock.set_multicast_if_v6(index()).unwrap();
            sock.set_multicast_loop_v6(false).unwrap();
            let to = SocketAddrV6::new(g, port, 0, index());
            sock.send_to(var("LAB_MSG").as_bytes(), &SocketAddr::V6(to).into()).unwrap();
            println!("{MARK}sent");
        }
        ("join-any", group) => {
            let joined = match group {
                IpAddr::V4(g) => sock.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(g) => sock.join_multicast_v6(&g, 0),
            };
            match joined {
                Ok(()) => println!("{MARK}joined"),
                Err(e) => println!("{MARK}error {}", e.raw_os_error().unwrap()),
            }
        }
        (role, _) => panic!("unknown LAB_ROLE {role}"),
    }
}
