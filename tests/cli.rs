//! The `simplep2p` command against real background `recv` processes.

mod common;

use std::time::{Duration, Instant};

use common::{
    ABSENT_TIMEOUT, RecvProcess, TIMEOUT_MS, config, eventually, free_port, run, run_with_stdin,
};
use simplep2p::Peer;

fn start(port: u16, n: usize) -> Vec<RecvProcess> {
    (0..n).map(|_| RecvProcess::start(port, &[])).collect()
}

/// The milliseconds in "... in 2.1 ms".
fn reported_ms(line: &str) -> f64 {
    let ms = line.rsplit_once(" in ").unwrap().1.trim_end_matches(" ms").split(' ').next().unwrap();
    ms.parse().unwrap()
}

#[test]
fn send_with_no_peers_fails_without_hanging() {
    let port = free_port();
    let start = Instant::now();
    let (code, out, _) = run(port, &["send", "hello", "--timeout", "300"]);
    let took = start.elapsed();
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAIL no peers found in "), "{out}");
    // A deadline against a hang, not a measure of speed (that is make bench).
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let (code, out, _) = run(port, &["send", "hello", "--expect", "2", "--timeout", "200"]);
    assert_eq!(code, 1);
    assert!(out.contains("(expected 2)"), "{out}");
}

#[test]
fn send_to_five_peers_passes_and_each_prints_the_message() {
    let port = free_port();
    let peers = start(port, 5);
    let (code, out, err) =
        run(port, &["send", "hello there", "--expect", "5", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("PASS 5/5 peers acknowledged in "), "{out}");
    let ms = reported_ms(out.lines().next().unwrap());
    assert!(ms.is_finite() && ms >= 0.0, "the time it took, in ms: {out}");
    let (code, out, _) =
        run(port, &["send", "--json", "again", "--expect", "5", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0);
    assert!(out.starts_with("{\"result\":\"PASS\",\"acknowledged\":5,\"peers\":5,"), "{out}");
    for p in peers {
        let printed = p.stop_after_lines(2);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 2, "{printed}");
        assert!(lines[0].ends_with(" hello there"), "{printed}");
        assert!(lines[1].ends_with(" again"), "{printed}");
    }
}

#[test]
fn peers_lists_every_peer_then_the_count() {
    let port = free_port();
    let procs = start(port, 3);
    let (code, out, _) = run(port, &["peers", "--expect", "3", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[3], "3 peers");
    for p in &procs {
        assert!(lines[..3].iter().any(|l| l.starts_with(&p.uuid)), "{} not listed", p.uuid);
    }
    let (code, out, _) = run(port, &["peers", "--expect", "4", "--timeout", "200"]);
    assert_eq!(code, 1, "fewer than --expect must fail: {out}");
}

#[test]
fn any_bytes_arrive_byte_exact() {
    let port = free_port();
    let receiver = RecvProcess::start(port, &["--json", "--count", "1"]);
    let mut data = "spaces and\nnewlines\r\n, UTF-8 ✓ é, binary: ".as_bytes().to_vec();
    data.extend([0, 1, 0x7f, 0x80, 0xfe, 0xff]);
    let args = ["send", "--stdin", "--expect", "1", "--timeout", TIMEOUT_MS];
    let (code, out, err) = run_with_stdin(port, &args, Some(&data));
    assert_eq!(code, 0, "{out}{err}");
    let (code, printed) = receiver.wait_output();
    assert_eq!(code, 0);
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    assert!(printed.contains(&format!("\"message\":null,\"hex\":\"{hex}\"")), "{printed}");
}

#[test]
fn text_output_escapes_so_one_message_is_one_line() {
    let port = free_port();
    let receiver = RecvProcess::start(port, &["--count", "1"]);
    let uuid = receiver.uuid.clone();
    let text = "tab\there\nnext line \\ done ✓";
    let (code, out, _) = run(port, &["send", text, "--expect", "1", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    let (_, printed) = receiver.wait_output();
    assert!(printed.ends_with(" tab\\there\\nnext line \\\\ done ✓\n"), "{printed}");
    let (sender, _) = printed.split_once(' ').unwrap();
    assert_eq!(sender.len(), 36);
    assert_ne!(sender, uuid, "a recv never prints its own messages");
}

#[test]
fn recv_count_exits_after_that_many_messages() {
    let port = free_port();
    let receiver = RecvProcess::start(port, &["--count", "2"]);
    for word in ["one", "two"] {
        assert_eq!(run(port, &["send", word, "--expect", "1", "--timeout", TIMEOUT_MS]).0, 0);
    }
    let (code, printed) = receiver.wait_output();
    assert_eq!(code, 0);
    assert_eq!(printed.lines().count(), 2, "{printed}");
}

#[test]
fn a_peer_killed_with_sigkill_is_reported_missing_and_nothing_hangs() {
    let port = free_port();
    let mut procs = start(port, 3);
    let me = Peer::start(config(port)).unwrap();
    assert_eq!(me.discover(Some(3)).unwrap().len(), 3);
    let mut victim = procs.remove(1);
    victim.child.kill().unwrap(); // SIGKILL: no goodbye
    victim.child.wait().unwrap();
    // The victim never answers, so the send waits out its timeout.
    let start = Instant::now();
    let report = me.send_to(b"still there?", &me.known_peers(), ABSENT_TIMEOUT).unwrap();
    let took = start.elapsed();
    assert!(took < ABSENT_TIMEOUT + Duration::from_secs(5), "the send hung: {took:?}");
    assert_eq!(report.acked.len(), 2);
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].id.to_string(), victim.uuid);
    // A fresh CLI send sees the two that are left, plus `me`.
    let (code, out, _) = run(port, &["send", "x", "--expect", "3", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("PASS 3/3 "), "{out}");
}

#[test]
fn oversize_message_is_refused_with_exit_2() {
    let port = free_port();
    let big = "x".repeat(simplep2p::wire::MAX_MESSAGE + 1);
    let (code, out, err) = run(port, &["send", &big]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("16384-byte limit; nothing was sent"), "{err}");
    let data = vec![b'y'; simplep2p::wire::MAX_MESSAGE + 1];
    let (code, _, err) = run_with_stdin(port, &["send", "--stdin"], Some(&data));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn usage_errors_exit_2_with_one_line_on_stderr() {
    let port = free_port();
    // (`send` alone sends "hello", as the original's did.)
    for args in [
        &["send", "a", "--expect", "0"][..],
        &["send", "a", "--timeout", "0"],
        &["send", "a", "--stdin"],
        &["bogus"],
        &[],
    ] {
        let (code, out, err) = run(port, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
        assert!(err.starts_with("simplep2p: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = std::process::Command::new(common::BIN)
        .args(["--interface", "127.0.0.1", "--port", "0", "peers"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port 0 is not allowed"));
    // Absurd timeouts are no reason to panic.
    let _peer = RecvProcess::start(port, &[]);
    let (code, out, err) =
        run(port, &["peers", "--expect", "1", "--timeout", &u64::MAX.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        run(port, &["send", "x", "--expect", "1", "--timeout", &u64::MAX.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(port, &["--group", "10.1.2.3", "peers"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an IPv4 multicast address"), "{err}");
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let (code, out, _) = run(free_port(), &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Commands:") && out.contains("recv") && out.contains("Exit codes"));
    let (code, out, _) = run(free_port(), &["send", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--expect") && out.contains("--stdin"));
    let (code, out, _) = run(free_port(), &["--version"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(format!("simplep2p {}", env!("CARGO_PKG_VERSION")).as_str()));
    let protocols = lines.next().unwrap();
    assert!(protocols.starts_with("protocols: simplep2p SP2P version 2; sealed SP2S "), "{out}");
    assert!(protocols.contains("the original SimpleP2P's text"), "{out}");
}

#[test]
fn the_originals_demo_runs_unchanged_in_a_namespace_of_its_own() {
    // The original README's demo, word for word but for the binary's path
    // (a `src/simplep2p-cli` that is ours): five receivers, a second's
    // sleep, then `send` with no message, which sends "hello". In a
    // namespace, where its default interface (loopback) is safe.
    let dir = std::env::temp_dir().join(format!("simplep2p-demo-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let cli = dir.join("src/simplep2p-cli");
    let _ = std::fs::remove_file(&cli);
    std::os::unix::fs::symlink(common::BIN, &cli).unwrap();
    let demo = "./src/simplep2p-cli recv &\nbg0=$!\n./src/simplep2p-cli recv &\nbg1=$!\n\
                ./src/simplep2p-cli recv &\nbg1=$!\n./src/simplep2p-cli recv &\nbg1=$!\n\
                ./src/simplep2p-cli recv &\nbg1=$!\nsleep 1\n./src/simplep2p-cli send\n\
                kill $bg0\nkill $bg1\n";
    std::fs::write(dir.join("demo.sh"), demo).unwrap();
    // The demo kills only two of its five receivers: the rest are ended
    // here, by their path, and only in this test's own network namespace
    // (the process table is the host's).
    let script = format!(
        "cd {0} && sh demo.sh > out.txt 2>/dev/null; \
         pkill --ns $$ --nslist net -f '^./src/simplep2p-cli recv' ; cat out.txt",
        dir.display()
    );
    let Some(out) = common::netns::in_netns(&script) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pass = stdout.lines().find(|l| l.starts_with("PASS"));
    assert!(pass.is_some_and(|l| l.starts_with("PASS 5/5")), "{stdout}");
    assert_eq!(stdout.matches(" hello\n").count(), 5, "each receiver printed it: {stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigint_and_sigterm_make_recv_say_goodbye_and_exit_0() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    for signal in ["-INT", "-TERM"] {
        let mut proc = RecvProcess::start(port, &[]);
        assert_eq!(me.discover(Some(1)).unwrap().len(), 1);
        let pid = proc.child.id().to_string();
        let sent = std::process::Command::new("kill").args([signal, &pid]).status();
        assert!(sent.unwrap().success());
        // A recv that does not exit is killed by the watchdog: no exit code.
        let status = common::with_watchdog(proc.child.id(), || proc.child.wait().unwrap());
        assert_eq!(status.code(), Some(0), "{signal}: {status}");
        // Its goodbye reaches `me`, which forgets it without any probe.
        eventually(&format!("{signal}: me forgets recv on its goodbye"), || {
            me.known_peers().is_empty()
        });
    }
}

#[test]
fn recv_stats_prints_the_counters_on_exit() {
    use std::io::BufRead;
    let port = free_port();
    let mut child = std::process::Command::new(common::BIN)
        .args(common::net_args(port))
        .args(["recv", "--stats", "--count", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = common::with_watchdog(child.id(), || lines.next().unwrap().unwrap());
    assert!(ready.starts_with("simplep2p: ready: "), "{ready}");
    assert_eq!(run(port, &["send", "counted", "--expect", "1", "--timeout", TIMEOUT_MS]).0, 0);
    let line = common::with_watchdog(child.id(), || lines.next().unwrap().unwrap());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(line.starts_with("simplep2p: stats: datagrams_in="), "{line}");
    for counter in
        ["malformed=0", "queue_full=0", " duplicates=", " retransmissions=", " io_errors="]
    {
        assert!(line.contains(counter), "{counter} missing: {line}");
    }
}
