//! Emulated LANs for tests that need several hosts on several segments:
//! each host and each segment is a network namespace of its own (`ip netns
//! add`), a segment holds a bridge (the switch) and a host is wired to it
//! by a veth pair (the cable). Addresses are 10.x and fd00::/8 ones that
//! exist only inside these namespaces; nothing is ever added to the
//! machine's own (root) namespace, so no packet can leave the machine.
//!
//! ```ignore
//! let Some(lab) = Lab::new("two-segs") else { return }; // skipped here
//! let (a, b) = (lab.segment("a"), lab.segment("b"));
//! let h0 = lab.host("h0");
//! let h1 = lab.host_with("h1", Stack::V6Only);
//! lab.attach(&h0, &a, Some("10.77.1.1/24"), Some("fd77:1::1/64")); // eth0
//! lab.attach(&h0, &b, Some("10.77.2.1/24"), None); // eth1
//! lab.attach(&h1, &a, None, Some("fd77:1::2/64")); // eth0
//! let out = h1.cmd(BIN, ["peers"]).output().unwrap();
//! // Dropping the lab kills what still runs in it and deletes it all.
//! ```
//!
//! Every call returns when what it made is usable: a link is up at both
//! ends, its switch port forwards, and its IPv6 addresses (link-local
//! included) are no longer tentative. Calls that fail panic, saying what
//! failed.
//!
//! # What the kernel needs for multicast here
//!
//! * The switch: a Linux bridge floods multicast to every port as long as
//!   no IGMP/MLD querier is on the segment, even with snooping on (the
//!   default). Snooping is turned off anyway (`mcast_snooping 0`), so that
//!   delivery never depends on a host's membership reports (sent again,
//!   after a random delay, when a link comes back up) or on a querier a
//!   test might add: the bridge is a plain hub for multicast. STP is off,
//!   so a port forwards as soon as it is up (no forward delay).
//! * IPv4, joining a group (239.x) on a named interface (by address or
//!   index) and sending with `IP_MULTICAST_IF` or `SO_BINDTODEVICE` need no
//!   route at all. Leaving the choice to the kernel (joining on
//!   `INADDR_ANY`, sending with no interface set) needs a route that covers
//!   the group: without one the join fails with ENODEV and the send with
//!   ENETUNREACH. A lab host has no route but its segments' subnets;
//!   [`Host::route_multicast`] (224.0.0.0/4) or [`Host::default_route`]
//!   adds one, and the kernel then picks that route's interface.
//! * IPv6: the kernel adds `multicast ff00::/8 dev <if> table local` for
//!   every interface with IPv6 up, so joining with interface index 0 and
//!   sending with no interface never fail; with several interfaces the
//!   kernel picks one of those routes, so a test that cares names the
//!   interface (index, or scope id in the destination). A link-local
//!   source must exist to send, hence the wait for it.
//! * IPv6 addresses: duplicate address detection is off in hosts
//!   (`accept_dad=0`, and `nodad` on every address), so no address is ever
//!   tentative after the wait; `keep_addr_on_down=1` keeps the fd00::/8
//!   addresses over a link going down and up, as IPv4 ones are kept (the
//!   kernel re-creates the link-local one on up). IPv6 is off in segment
//!   namespaces, so the switch itself never speaks.
//! * Reverse-path filtering is off in hosts (`rp_filter=0`): a new
//!   namespace copies the machine's IPv4 settings, and a lab must behave
//!   the same whatever those are.
//! * A socket on a multi-homed host that wants only one interface's
//!   traffic: over IPv4, `IP_MULTICAST_ALL` off is enough (Linux then
//!   checks the socket's own joins, interface included; on, it delivers a
//!   group's datagrams from every interface where any socket of the host
//!   joined it). Over IPv6 it is not: Linux checks only that the socket
//!   joined the group, on whichever interface, so the socket must be bound
//!   to the interface: to the group address with the interface as scope
//!   id (`[ff02::114%eth1]:port`), or with `SO_BINDTODEVICE`
//!   (tests/segments.rs's `lab_tool` listens the first way on each family).
//!
//! # Names and cleanup
//!
//! Every namespace is named `sp2plab-<pid>-<n>-<tag>-<name>` (`<n>` counts
//! labs in this process), so parallel tests and test runs never collide.
//! Host interfaces are `eth0`, `eth1`, ... in attach order, so tests can
//! name them; switch ports are `p0`, `p1`, ... Dropping a [`Lab`] (also
//! while a failing test unwinds) kills every process left in its
//! namespaces and deletes them; veths and bridges die with their
//! namespaces. A run killed before that leaves namespaces behind whose pid
//! no longer exists: the next [`Lab::new`] deletes them.
//!
//! Without root or `ip` (or where `ip netns add` is refused) a test using a
//! lab prints why and passes, unless SIMPLEP2P_REQUIRE_NETNS=1 (as in CI),
//! which turns the skip into a failure, as in [`super::netns`].

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::Ipv6Addr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{DEADLINE, eventually};

/// The first part of every lab namespace's name.
pub const PREFIX: &str = "sp2plab";

/// Set, to the test's name, in a copy of the test binary that
/// [`Host::rerun`] runs inside a host.
pub const RERUN: &str = "SIMPLEP2P_LAB_RERUN";

/// The switch (bridge) in every segment namespace.
pub const BRIDGE: &str = "br0";

/// Labs made by this process so far: part of each lab's names.
static LABS: AtomicU32 = AtomicU32::new(0);

/// Which IP versions a host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// IPv4 and IPv6 (the default): IPv6 link-local on every interface,
    /// IPv4 wherever [`Lab::attach`] gives an address.
    Dual,
    /// IPv6 off in the whole host (`disable_ipv6=1`, `::1` included).
    V4Only,
    /// No IPv4 address anywhere but 127.0.0.1 ([`Lab::attach`] and
    /// [`Host::add_addr`] refuse one).
    V6Only,
}

/// An emulated network: segments and hosts, each a namespace, deleted
/// with everything in them when the lab is dropped.
pub struct Lab {
    prefix: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every namespace made, in order.
    namespaces: Vec<String>,
    /// Per host namespace, the number of its next `ethN`.
    next_if: HashMap<String, u32>,
    /// Per segment namespace, the number of its next port `pN`.
    next_port: HashMap<String, u32>,
    /// (host namespace, interface) to (segment namespace, port).
    cables: HashMap<(String, String), (String, String)>,
}

/// A segment: a namespace holding the bridge [`BRIDGE`].
pub struct Segment<'l> {
    lab: &'l Lab,
    name: String,
    ns: String,
}

/// A host: a namespace with `lo` up and an interface per [`Lab::attach`].
pub struct Host<'l> {
    lab: &'l Lab,
    name: String,
    ns: String,
    stack: Stack,
}

impl Lab {
    /// A new, empty lab whose names include `tag` (letters, digits, `-`);
    /// `None` (after saying why) when labs cannot be made here. Deletes
    /// what killed runs left behind.
    pub fn new(tag: &str) -> Option<Lab> {
        check_name(tag);
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{PREFIX}-{}-{n}-{tag}", std::process::id());
        if let Some(why) = unavailable(&prefix) {
            skip(&why);
            return None;
        }
        sweep_leftovers();
        Some(Lab { prefix, state: Mutex::default() })
    }

    /// The start of every namespace name of this lab (`ip netns list`
    /// shows them).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The names of the namespaces made so far.
    pub fn namespaces(&self) -> Vec<String> {
        self.state.lock().unwrap().namespaces.clone()
    }

    /// A new segment: a namespace holding a bridge, up, that floods
    /// multicast to every port (see the module's documentation).
    pub fn segment(&self, name: &str) -> Segment<'_> {
        let ns = self.add_namespace("seg", name);
        // Off before the bridge exists, so that it never gets IPv6.
        sysctls(
            &ns,
            &[("ipv6/conf/all/disable_ipv6", "1"), ("ipv6/conf/default/disable_ipv6", "1")],
        );
        let br = ["link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"];
        ip(&ns, &[&br[..], &["mcast_snooping", "0"]].concat());
        ip(&ns, &["link", "set", BRIDGE, "up"]);
        Segment { lab: self, name: name.into(), ns }
    }

    /// A new dual-stack host with `lo` up and no other interface yet.
    pub fn host(&self, name: &str) -> Host<'_> {
        self.host_with(name, Stack::Dual)
    }

    /// A new host with IP versions `stack`, `lo` up, no other interface.
    pub fn host_with(&self, name: &str, stack: Stack) -> Host<'_> {
        let ns = self.add_namespace("host", name);
        let v6_off = if stack == Stack::V4Only { "1" } else { "0" };
        // The "default" values are what interfaces made later get.
        let mut settings = vec![
            ("ipv4/conf/all/rp_filter", "0"),
            ("ipv4/conf/default/rp_filter", "0"),
            ("ipv6/conf/all/disable_ipv6", v6_off),
            ("ipv6/conf/default/disable_ipv6", v6_off),
        ];
        if stack != Stack::V4Only {
            settings.extend([
                ("ipv6/conf/all/accept_dad", "0"),
                ("ipv6/conf/default/accept_dad", "0"),
                ("ipv6/conf/all/keep_addr_on_down", "1"),
                ("ipv6/conf/default/keep_addr_on_down", "1"),
            ]);
        }
        sysctls(&ns, &settings);
        ip(&ns, &["link", "set", "lo", "up"]);
        Host { lab: self, name: name.into(), ns, stack }
    }

    /// Wires `host` to `segment` with a new interface, `eth0` for its
    /// first, `eth1` for the next, ..., with IPv4 address `v4` and IPv6
    /// address `v6` (CIDR: "10.77.1.2/24", "fd77:1::2/64"), and returns
    /// its name once it is usable. Works as well while processes run in
    /// the host: to them, an interface appears.
    pub fn attach(
        &self,
        host: &Host,
        segment: &Segment,
        v4: Option<&str>,
        v6: Option<&str>,
    ) -> String {
        assert!(v4.is_none() || host.stack != Stack::V6Only, "{} is IPv6-only", host.name);
        assert!(v6.is_none() || host.stack != Stack::V4Only, "{} is IPv4-only", host.name);
        let (ifname, port) = {
            let mut st = self.state.lock().unwrap();
            let i = st.next_if.entry(host.ns.clone()).or_default();
            let ifname = format!("eth{i}");
            *i += 1;
            let p = st.next_port.entry(segment.ns.clone()).or_default();
            let port = format!("p{p}");
            *p += 1;
            let cable = (segment.ns.clone(), port.clone());
            st.cables.insert((host.ns.clone(), ifname.clone()), cable);
            (ifname, port)
        };
        // Made in the host, its peer end moved to the segment at once: the
        // pair never exists in the root namespace.
        let veth = ["link", "add", &ifname, "type", "veth", "peer", "name", &port];
        ip(&host.ns, &[&veth[..], &["netns", &segment.ns]].concat());
        ip(&segment.ns, &["link", "set", &port, "master", BRIDGE, "up"]);
        for addr in v4.iter().chain(&v6) {
            host.add_addr(&ifname, addr);
        }
        host.link_up(&ifname);
        ifname
    }

    /// Makes namespace `<prefix>-<name>` and records it for [`Drop`].
    fn add_namespace(&self, kind: &str, name: &str) -> String {
        check_name(name);
        let ns = format!("{}-{name}", self.prefix);
        let mut st = self.state.lock().unwrap();
        assert!(!st.namespaces.contains(&ns), "a second {kind} named {name}");
        run(Command::new(ip_path()).args(["netns", "add", &ns]));
        st.namespaces.push(ns.clone());
        ns
    }
}

impl Drop for Lab {
    /// Kills what still runs in the lab's namespaces and deletes them.
    /// Never panics (it may run while a failed test unwinds).
    fn drop(&mut self) {
        let namespaces = std::mem::take(&mut self.state.get_mut().unwrap().namespaces);
        remove_namespaces(&namespaces);
    }
}

impl Segment<'_> {
    /// The segment's name as given to [`Lab::segment`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its namespace.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Runs `ip <args>` in the segment; panics unless it succeeds; its
    /// standard output.
    pub fn ip(&self, args: &[&str]) -> String {
        ip(&self.ns, args)
    }

    /// The lab it belongs to.
    pub fn lab(&self) -> &Lab {
        self.lab
    }
}

impl Host<'_> {
    /// The host's name as given to [`Lab::host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its namespace.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Its IP versions.
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// `simplep2p --port P <args>` in this host, to the end (killed after
    /// [`DEADLINE`], so that a process that never ends fails the test),
    /// with what it printed shown in the test's output.
    pub fn simplep2p(&self, port: u16, args: &[&str]) -> Output {
        let port = port.to_string();
        let mut cmd = self.cmd(super::BIN, ["--port", &port].iter().chain(args));
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = child.spawn().expect("start simplep2p");
        let out = super::with_watchdog(child.id(), || child.wait_with_output().unwrap());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        eprintln!("{} $ simplep2p {args:?}\n{}{}", self.name, text(&out.stdout), text(&out.stderr));
        out
    }

    /// `program args` to run inside the host (through `ip netns exec`,
    /// which execs it: the child's pid is the program's).
    pub fn cmd<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(ip_path());
        cmd.args(["netns", "exec", &self.ns]).arg(program).args(args);
        cmd
    }

    /// Starts `program args` inside the host, stdin empty, stdout and
    /// stderr piped. Dropping the lab kills it if it still runs.
    pub fn spawn<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.cmd(program, args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap_or_else(|e| panic!("start a process in {}: {e}", self.name))
    }

    /// This test binary again, inside the host, running only the test
    /// `test` (which should be `#[ignore]`d and do its work only when
    /// [`is_rerun`] says so: run by `cargo test -- --ignored`, it must
    /// pass without doing anything). Add arguments with `.env(...)`.
    pub fn rerun(&self, test: &str) -> Command {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd =
            self.cmd(exe, ["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]);
        cmd.env(RERUN, test);
        cmd
    }

    /// Runs `ip <args>` in the host; panics unless it succeeds; its
    /// standard output.
    pub fn ip(&self, args: &[&str]) -> String {
        ip(&self.ns, args)
    }

    /// Adds address `cidr` ("10.77.1.9/24", "fd77:1::9/64"; IPv6 ones
    /// without duplicate address detection) to interface `ifname`.
    pub fn add_addr(&self, ifname: &str, cidr: &str) {
        let v6 = cidr.contains(':');
        assert!(v6 || self.stack != Stack::V6Only, "{} is IPv6-only", self.name);
        assert!(!v6 || self.stack != Stack::V4Only, "{} is IPv4-only", self.name);
        let nodad: &[&str] = if v6 { &["nodad"] } else { &[] };
        self.ip(&[&["addr", "add", cidr, "dev", ifname], nodad].concat());
    }

    /// Removes address `cidr` from interface `ifname`.
    pub fn del_addr(&self, ifname: &str, cidr: &str) {
        self.ip(&["addr", "del", cidr, "dev", ifname]);
    }

    /// Takes interface `ifname` down (as `ip link set down` does: the
    /// other end loses carrier, its switch port stops forwarding).
    pub fn link_down(&self, ifname: &str) {
        self.ip(&["link", "set", ifname, "down"]);
    }

    /// Brings interface `ifname` up and waits (at most [`DEADLINE`]) until
    /// it is usable: carrier, its switch port forwarding, with IPv6 a
    /// link-local address and nothing tentative.
    pub fn link_up(&self, ifname: &str) {
        self.ip(&["link", "set", ifname, "up"]);
        let cable =
            self.lab.state.lock().unwrap().cables.get(&(self.ns.clone(), ifname.into())).cloned();
        eventually(&format!("{}'s {ifname} has carrier", self.name), || {
            let link = self.ip(&["link", "show", "dev", ifname]);
            link.contains(",LOWER_UP") && link.contains("state UP")
        });
        if let Some((seg, port)) = cable {
            eventually(&format!("switch port {port} of {}'s {ifname} forwards", self.name), || {
                ip(&seg, &["-d", "link", "show", "dev", &port]).contains("state forwarding")
            });
        }
        if self.stack != Stack::V4Only {
            eventually(&format!("{}'s {ifname} has usable IPv6 addresses", self.name), || {
                let addrs = self.ip(&["-6", "addr", "show", "dev", ifname]);
                addrs.contains("scope link") && !addrs.contains("tentative")
            });
        }
    }

    /// The IPv6 link-local address of interface `ifname`.
    pub fn link_local(&self, ifname: &str) -> Ipv6Addr {
        let out = self.ip(&["-6", "-o", "addr", "show", "dev", ifname, "scope", "link"]);
        let word = out.split_whitespace().skip_while(|w| *w != "inet6").nth(1);
        let addr = word.and_then(|w| w.split('/').next()?.parse().ok());
        addr.unwrap_or_else(|| panic!("no link-local address on {}'s {ifname}: {out}", self.name))
    }

    /// The index of interface `ifname` (an IPv6 scope id).
    pub fn ifindex(&self, ifname: &str) -> u32 {
        let out = self.ip(&["-o", "link", "show", "dev", ifname]);
        out.split(':').next().and_then(|n| n.trim().parse().ok()).expect("an interface index")
    }

    /// Routes all IPv4 multicast (224.0.0.0/4) out of `ifname`, so that
    /// the kernel can choose the interface for a join or a send that names
    /// none (IPv6 needs nothing: see the module's documentation).
    pub fn route_multicast(&self, ifname: &str) {
        self.ip(&["route", "add", "224.0.0.0/4", "dev", ifname]);
    }

    /// A default route out of `ifname`, on-link (no gateway), for each IP
    /// version the host has: the host's usual state on a LAN, where it also
    /// covers multicast.
    pub fn default_route(&self, ifname: &str) {
        if self.stack != Stack::V6Only {
            self.ip(&["-4", "route", "add", "default", "dev", ifname]);
        }
        if self.stack != Stack::V4Only {
            self.ip(&["-6", "route", "add", "default", "dev", ifname]);
        }
    }

    /// Writes `value` to the host's `/proc/sys/net/<key>` (e.g.
    /// "ipv4/conf/eth0/rp_filter").
    pub fn sysctl(&self, key: &str, value: &str) {
        sysctls(&self.ns, &[(key, value)]);
    }

    /// The lab it belongs to.
    pub fn lab(&self) -> &Lab {
        self.lab
    }
}

/// In a copy of the test binary started by [`Host::rerun`]: whether it was
/// started to run `test` (if not, the test should return at once).
pub fn is_rerun(test: &str) -> bool {
    std::env::var_os(RERUN).is_some_and(|v| v == test)
}

/// True when `ns` belongs to a lab whose process is gone.
fn is_leftover(ns: &str) -> bool {
    let Some(rest) = ns.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let pid = rest.split('-').next().unwrap_or("");
    pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes the namespaces of labs whose test process died before its
/// [`Lab`] was dropped. Only those: another test run's labs stay.
fn sweep_leftovers() {
    let leftovers: Vec<String> = list_namespaces().into_iter().filter(|n| is_leftover(n)).collect();
    if !leftovers.is_empty() {
        eprintln!("deleting namespaces a killed test run left behind: {leftovers:?}");
        remove_namespaces(&leftovers);
    }
}

/// The names `ip netns list` shows.
pub fn list_namespaces() -> Vec<String> {
    let out = Command::new(ip_path()).args(["netns", "list"]).output();
    let out = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    // "name" or "name (id: 3)".
    out.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect()
}

/// Kills the processes in `namespaces`, waits (at most [`DEADLINE`]) until
/// they are gone, and deletes the namespaces. Never panics.
fn remove_namespaces(namespaces: &[String]) {
    let deadline = Instant::now() + DEADLINE;
    for ns in namespaces {
        loop {
            let pids = Command::new(ip_path()).args(["netns", "pids", ns]).output();
            let pids = pids.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            let pids: Vec<i32> = pids
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) on a pid; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = Command::new(ip_path()).args(["netns", "del", ns]).stderr(Stdio::null()).status();
    }
}

/// Why labs cannot be made here, if they cannot: tries `ip netns add`.
fn unavailable(prefix: &str) -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (ip netns add needs it)".into());
    }
    let probe = format!("{prefix}-probe");
    let out = match Command::new(ip_path()).args(["netns", "add", &probe]).output() {
        Ok(out) => out,
        Err(e) => return Some(format!("ip: {e} (apt-get install iproute2)")),
    };
    if !out.status.success() {
        return Some(format!("ip netns add: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    remove_namespaces(&[probe]);
    None
}

/// Says why the test is skipped; fails instead under
/// SIMPLEP2P_REQUIRE_NETNS=1.
fn skip(why: &str) {
    assert!(
        std::env::var_os("SIMPLEP2P_REQUIRE_NETNS").is_none_or(|v| v != "1"),
        "SIMPLEP2P_REQUIRE_NETNS=1 but {why}"
    );
    eprintln!("skipped: {why}; run as root with iproute2 installed to test");
}

/// `ip`: on PATH, or in sbin, which a non-login root shell may not have
/// on PATH.
pub fn ip_path() -> &'static str {
    static PATH: OnceLock<&'static str> = OnceLock::new();
    PATH.get_or_init(|| {
        ["ip", "/usr/sbin/ip", "/sbin/ip"]
            .into_iter()
            .find(|p| Command::new(p).arg("-V").output().is_ok())
            .unwrap_or("ip")
    })
}

/// Runs `ip -n <ns> <args>`; panics unless it succeeds; its stdout.
fn ip(ns: &str, args: &[&str]) -> String {
    run(Command::new(ip_path()).args(["-n", ns]).args(args))
}

/// Writes each (key, value) to `/proc/sys/net/<key>` inside `ns`.
fn sysctls(ns: &str, settings: &[(&str, &str)]) {
    // Through a shell in the namespace: /proc/sys/net shows the
    // namespace of whoever opens it. Keys and values are the harness's own.
    let script: String =
        settings.iter().map(|(k, v)| format!("echo {v} > /proc/sys/net/{k} && ")).collect();
    run(Command::new(ip_path()).args(["netns", "exec", ns, "sh", "-c", &format!("{script}true")]));
}

/// Runs `cmd` to its end; panics, with its stderr, unless it succeeds.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {}", stderr.trim());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics unless `name` is a safe part of a namespace name.
fn check_name(name: &str) {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    assert!(ok, "lab names are letters, digits and '-': {name:?}");
}
