//! Group keys through the `simplep2p` command: `keygen`, `--key-file` and
//! `SIMPLEP2P_KEY_FILE`, what a wrong key looks like to the user, and that
//! no command but `keygen` ever shows a key.
// Without the `crypto` feature only the refusal is tested.
#![cfg_attr(not(feature = "crypto"), allow(dead_code, unused_imports))]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    ABSENT_TIMEOUT, BIN, RecvProcess, TIMEOUT_MS, free_port, group, key_file, raw_socket,
    spawn_ready, with_watchdog,
};
use simplep2p::{KEY_FILE_ENV, Key, Peer, Uuid};

/// `ABSENT_TIMEOUT` as `--timeout` takes it.
fn absent_ms() -> String {
    ABSENT_TIMEOUT.as_millis().to_string()
}

/// A directory of this test's own, only its owner may enter; removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("sp2p-cli-keys-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Dir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `simplep2p <net> <args>` with `SIMPLEP2P_KEY_FILE` set to `env`, or
/// unset: (exit code, stdout, stderr).
fn run_env(port: u16, args: &[&str], env: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(common::net_args(port)).args(args);
    match env {
        Some(path) => cmd.env(KEY_FILE_ENV, path),
        None => cmd.env_remove(KEY_FILE_ENV),
    };
    let child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = with_watchdog(child.id(), || child.wait_with_output().unwrap());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As [`run_env`], with no key from the environment.
fn run(port: u16, args: &[&str]) -> (i32, String, String) {
    run_env(port, args, None)
}

/// A `recv` with the environment's key file set to `env` (or unset).
fn recv(port: u16, extra: &[&str], env: Option<&Path>) -> RecvProcess {
    let mut cmd = Command::new(BIN);
    cmd.args(common::net_args(port)).arg("recv").args(extra);
    match env {
        Some(path) => cmd.env(KEY_FILE_ENV, path),
        None => cmd.env_remove(KEY_FILE_ENV),
    };
    let prefix = "simplep2p: ready: peer ";
    let (child, ready) = spawn_ready(cmd, prefix);
    assert!(ready.contains(", sealed with a group key, unicast "), "{ready}");
    RecvProcess { uuid: ready[prefix.len()..][..36].to_string(), child }
}

/// Fails the test if any of `outputs` shows one of `keys`, in either case.
fn secret_kept(keys: &[&Key], outputs: &[&str]) {
    for key in keys {
        let hex = key.to_hex();
        for out in outputs {
            let lower = out.to_lowercase();
            assert!(!lower.contains(&hex), "a key was shown: {out}");
        }
    }
}

/// One line, the diagnostic, on stderr.
fn one_line(err: &str) -> &str {
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("simplep2p: "), "{err:?}");
    err.trim_end()
}

/// The lines of `err` that contain `what`.
fn lines_with<'a>(err: &'a str, what: &str) -> Vec<&'a str> {
    err.lines().filter(|l| l.contains(what)).collect()
}

fn is_key_line(line: &str) -> bool {
    line.len() == 64 && line.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A keyed peer of the group (library) discovering again and again until
/// dropped, so that the group's sealed traffic reaches everyone on `port`
/// (receivers send nothing unprompted).
struct Chatter {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Chatter {
    fn start(port: u16, key: &Path) -> Chatter {
        let peer = Peer::start(common::config(port).key_file(key).receiver(false)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                peer.discover_within(None, Duration::from_millis(100)).unwrap();
            }
        });
        Chatter { stop, thread: Some(thread) }
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Without the `crypto` feature a key is refused, naming the feature.
#[cfg(not(feature = "crypto"))]
#[test]
fn a_build_without_crypto_refuses_a_key_file_naming_the_feature() {
    let port = free_port();
    let dir = Dir::new("nocrypto");
    let key = Key::generate().unwrap();
    let file = key_file(&dir.0, "group.key", &[&key]);
    let (code, out, err) = run(port, &["peers", "--key-file", s(&file)]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(one_line(&err).contains("\"crypto\" feature"), "{err}");
}

#[cfg(feature = "crypto")]
mod keyed {
    use super::*;

    #[test]
    fn keygen_prints_a_fresh_key_on_one_line() {
        let port = free_port();
        let (code, first, err) = run(port, &["keygen"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.is_empty(), "nothing on stderr: {err}");
        let (_, second, _) = run(port, &["keygen"]);
        for out in [&first, &second] {
            assert!(out.ends_with('\n') && out.lines().count() == 1, "{out:?}");
            assert!(is_key_line(out.trim_end()), "{out:?}");
            assert!(out.trim_end().parse::<Key>().is_ok());
        }
        assert_ne!(first, second, "two keys the same");

        // A closed standard output loses the key: exit 3, and nothing else shown.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child =
            Command::new(BIN).arg("keygen").stdout(writer).stderr(Stdio::piped()).spawn().unwrap();
        let out = with_watchdog(child.id(), || child.wait_with_output().unwrap());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(one_line(&err).contains("standard output closed"), "{err}");
        assert!(!err.split(|c: char| !c.is_ascii_hexdigit()).any(|w| w.len() >= 32), "{err}");
    }

    #[test]
    fn keygen_out_makes_a_new_0600_file_and_never_overwrites_one() {
        let port = free_port();
        let dir = Dir::new("keygen-out");
        let path = dir.join("group.key");
        let (code, out, err) = run(port, &["keygen", "--out", s(&path)]);
        assert_eq!(code, 0, "{err}");
        assert!(out.is_empty(), "the key is in the file, not on stdout: {out}");
        assert!(one_line(&err).contains("wrote a new key to "), "{err}");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1, "{text:?}");
        assert!(is_key_line(text.trim_end()), "{text:?}");
        let keys = simplep2p::read_key_file(&path).unwrap();
        assert_eq!(keys.len(), 1);
        secret_kept(&[&keys[0]], &[&out, &err]);

        // Again: refused, the file untouched.
        let (code, out, err) = run(port, &["keygen", "--out", s(&path)]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(one_line(&err).contains("exists already"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // Nor through a symlink, even one to where nothing is yet.
        let target = dir.join("elsewhere");
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (code, _, err) = run(port, &["keygen", "--out", s(&link)]);
        assert_eq!(code, 2, "{err}");
        one_line(&err);
        assert!(!target.exists(), "the key went through the symlink");

        // keygen reads no key: --key-file is a mistake for --out.
        let (code, out, err) = run(port, &["--key-file", s(&path), "keygen"]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(one_line(&err).contains("keygen --out PATH"), "{err}");
    }

    #[test]
    fn key_file_problems_are_one_line_exit_2_and_show_no_key() {
        let port = free_port();
        let dir = Dir::new("problems");
        let key = Key::generate().unwrap();
        let open = key_file(&dir.0, "open.key", &[&key]);
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let good = key_file(&dir.0, "good.key", &[&key]);
        let two = key_file(&dir.0, "two.key", &[&key, &key]);
        let bad = dir.join("bad.key");
        std::fs::write(&bad, format!("# a comment\n{}x\n", key.to_hex())).unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        let missing = dir.join("missing.key");

        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["peers", "--key-file", s(&open)], "(mode 0644): run 'chmod 600' on it"),
            (vec!["--key-file", s(&open), "recv"], "run 'chmod 600' on it"),
            (vec!["send", "x", "--key-file", s(&open)], "run 'chmod 600' on it"),
            (vec!["peers", "--key-file", s(&missing)], "simplep2p keygen --out PATH"),
            (vec!["peers", "--key-file", s(&bad)], "line 2 is not a key"),
            (vec!["peers", "--key-file", s(&good), "--key-file", s(&two)], "3 keys given"),
            (vec!["peers", "--key-file", s(&dir.0)], "is not a file"),
        ];
        for (args, want) in &cases {
            let (code, out, err) = run(port, args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: {out}");
            assert!(one_line(&err).contains(want), "{args:?}: {err}");
            secret_kept(&[&key], &[&out, &err]);
        }
        // From the environment, the error says so.
        let (code, _, err) = run_env(port, &["peers"], Some(&open));
        assert_eq!(code, 2, "{err}");
        assert!(one_line(&err).contains("(from SIMPLEP2P_KEY_FILE)"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        secret_kept(&[&key], &[&err]);
    }

    #[test]
    fn recv_and_send_with_the_same_key_file_pass() {
        let port = free_port();
        let dir = Dir::new("same");
        let key = Key::generate().unwrap();
        let file = key_file(&dir.0, "group.key", &[&key]);
        let receiver = recv(port, &["--key-file", s(&file), "--count", "2"], None);
        let (code, out, err) = run(
            port,
            &[
                "send",
                "sealed hello",
                "--key-file",
                s(&file),
                "--expect",
                "1",
                "--timeout",
                TIMEOUT_MS,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with("PASS 1/1 peers acknowledged in "), "{out}");
        assert!(err.is_empty(), "{err}");
        // --no-legacy under a key is what a key means anyway: fine.
        let (code, out, err) = run(
            port,
            &[
                "--no-legacy",
                "--key-file",
                s(&file),
                "peers",
                "--expect",
                "1",
                "--timeout",
                TIMEOUT_MS,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with(&receiver.uuid), "{out}");
        let (code, json, err) = run(
            port,
            &[
                "send",
                "--json",
                "again",
                "--key-file",
                s(&file),
                "--expect",
                "1",
                "--timeout",
                TIMEOUT_MS,
            ],
        );
        assert_eq!(code, 0, "{json}{err}");
        let (code, printed) = receiver.wait_output();
        assert_eq!(code, 0);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 2, "{printed}");
        assert!(lines[0].ends_with(" sealed hello") && lines[1].ends_with(" again"), "{printed}");
        secret_kept(&[&key], &[&out, &err, &json, &printed]);
    }

    #[test]
    fn a_send_with_another_key_fails_says_why_and_delivers_nothing() {
        let port = free_port();
        let dir = Dir::new("other");
        let (ours, theirs) = (Key::generate().unwrap(), Key::generate().unwrap());
        let group_file = key_file(&dir.0, "group.key", &[&ours]);
        let other_file = key_file(&dir.0, "other.key", &[&theirs]);
        let receiver = recv(port, &["--key-file", s(&group_file)], None);
        // Receivers say nothing unprompted: a member of the group discovering
        // is the sealed traffic a wrong-key run hears and cannot open.
        let chatter = Chatter::start(port, &group_file);
        let absent = absent_ms();
        let mut outputs = Vec::new();

        let (code, out, err) =
            run(port, &["send", "not for you", "--key-file", s(&other_file), "--timeout", &absent]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.starts_with("FAIL no peers found in "), "{out}");
        let said = lines_with(&err, "datagrams failed authentication: check --key-file");
        assert_eq!(said.len(), 1, "one line says why: {err}");
        assert!(said[0].starts_with("simplep2p: ") && said[0].contains("another key"), "{err}");
        outputs.extend([out, err]);

        let (code, out, err) =
            run(port, &["peers", "--key-file", s(&other_file), "--timeout", &absent]);
        assert_eq!(code, 1, "{out}{err}");
        assert_eq!(out, "0 peers\n");
        assert_eq!(lines_with(&err, "failed authentication: check --key-file").len(), 1, "{err}");
        outputs.extend([out, err]);

        // A run with no key hears the sealed datagrams too, and says so.
        let (code, out, err) = run(port, &["send", "open text", "--timeout", &absent]);
        assert_eq!(code, 1, "{out}{err}");
        let said = lines_with(&err, "failed authentication: check --key-file");
        assert_eq!(said.len(), 1, "{err}");
        assert!(said[0].contains("no key"), "{err}");
        outputs.extend([out, err]);
        drop(chatter);

        // The group was untouched: its member printed nothing.
        let printed = receiver.stop_after_lines(0);
        assert!(printed.is_empty(), "delivered without the key: {printed}");
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        secret_kept(&[&ours, &theirs], &outputs);
    }

    #[test]
    fn two_key_files_open_both_and_seal_with_the_first() {
        let port = free_port();
        let dir = Dir::new("two");
        let (old, new) = (Key::generate().unwrap(), Key::generate().unwrap());
        let old_file = key_file(&dir.0, "old.key", &[&old]);
        let new_file = key_file(&dir.0, "new.key", &[&new]);
        // Mid-rotation: the receiver seals with the old key, opens both.
        let receiver = recv(port, &["--key-file", s(&old_file), "--key-file", s(&new_file)], None);
        let (code, out, err) = run(
            port,
            &[
                "--key-file",
                s(&new_file),
                "send",
                "rotating",
                "--key-file",
                s(&old_file),
                "--expect",
                "1",
                "--timeout",
                TIMEOUT_MS,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        // With the new key alone, the probe opens there but the answer, sealed
        // with the old key, does not open here: counted, and said.
        let (code, out2, err2) =
            run(port, &["send", "half", "--key-file", s(&new_file), "--timeout", &absent_ms()]);
        assert_eq!(code, 1, "{out2}{err2}");
        assert_eq!(lines_with(&err2, "failed authentication: check --key-file").len(), 1, "{err2}");
        let printed = receiver.stop_after_lines(1);
        assert!(printed.lines().next().unwrap().ends_with(" rotating"), "{printed}");
        secret_kept(&[&old, &new], &[&out, &err, &out2, &err2, &printed]);
    }

    #[test]
    fn the_environment_names_the_key_file_when_no_option_does() {
        let port = free_port();
        let dir = Dir::new("env");
        let key = Key::generate().unwrap();
        let file = key_file(&dir.0, "group.key", &[&key]);
        let receiver = recv(port, &[], Some(&file));
        let (code, out, err) = run_env(
            port,
            &["send", "from env", "--expect", "1", "--timeout", TIMEOUT_MS],
            Some(&file),
        );
        assert_eq!(code, 0, "{out}{err}");
        // Without it, the same send finds no one.
        let (code, out2, _) = run(port, &["send", "keyless", "--timeout", &absent_ms()]);
        assert_eq!(code, 1, "{out2}");
        // --key-file wins over the environment, even a bad file there.
        let open = key_file(&dir.0, "open.key", &[&key]);
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, out3, err3) = run_env(
            port,
            &["send", "option", "--key-file", s(&file), "--expect", "1", "--timeout", TIMEOUT_MS],
            Some(&open),
        );
        assert_eq!(code, 0, "{out3}{err3}");
        let printed = receiver.stop_after_lines(2);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 2, "{printed}");
        assert!(lines[0].ends_with(" from env") && lines[1].ends_with(" option"), "{printed}");
        secret_kept(&[&key], &[&out, &err, &out2, &out3, &err3, &printed]);
    }

    #[test]
    fn legacy_under_a_key_is_a_usage_error() {
        let port = free_port();
        let dir = Dir::new("legacy");
        let key = Key::generate().unwrap();
        let file = key_file(&dir.0, "group.key", &[&key]);
        for args in [
            &["send", "--legacy", "word", "--key-file", s(&file)][..],
            &["--key-file", s(&file), "peers", "--legacy"],
        ] {
            let (code, out, err) = run(port, args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: {out}");
            assert!(one_line(&err).contains("cannot be authenticated"), "{args:?}: {err}");
            secret_kept(&[&key], &[&err]);
        }
        let (code, _, err) = run_env(port, &["peers", "--legacy"], Some(&file));
        assert_eq!(code, 2, "{err}");
        assert!(one_line(&err).contains("cannot be authenticated"), "{err}");
    }

    #[test]
    fn datagrams_sealed_outside_the_clock_window_are_reported() {
        use simplep2p::wire::sealed::{self, Cipher, Nonce};
        use simplep2p::wire::{Body, Frame};

        let port = free_port();
        let dir = Dir::new("stale");
        let key = Key::generate().unwrap();
        let file = key_file(&dir.0, "group.key", &[&key]);
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&key.to_hex()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let cipher = Cipher::new(&bytes.try_into().unwrap());
        // A group member whose clock is a minute behind, probing.
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let prober = thread::spawn(move || {
            let sock = raw_socket();
            let sender = Uuid::new_v4();
            let mut counter = 0;
            while !flag.load(Ordering::Relaxed) {
                let probe =
                    Frame { flags: 0, sender, id: counter + 1, body: Body::Probe { padding: 0 } };
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                let sealed_at_us = (now - Duration::from_secs(60)).as_micros() as u64;
                let nonce = Nonce { sealed_at_us, salt: 7, counter };
                let mut out = Vec::new();
                sealed::seal(&cipher, nonce, &probe.to_vec().unwrap(), &mut out);
                sock.send_to(&out, group(port)).unwrap();
                counter += 1;
                thread::sleep(Duration::from_millis(10));
            }
        });
        let (code, out, err) =
            run(port, &["send", "hello", "--key-file", s(&file), "--timeout", &absent_ms()]);
        stop.store(true, Ordering::Relaxed);
        prober.join().unwrap();
        assert_eq!(code, 1, "{out}{err}");
        let said = lines_with(&err, "clock window");
        assert_eq!(said.len(), 1, "{err}");
        assert!(said[0].contains("±10 s") && said[0].contains("NTP"), "{err}");
        assert!(lines_with(&err, "failed authentication").is_empty(), "they did open: {err}");
        secret_kept(&[&key], &[&out, &err]);
    }
}
