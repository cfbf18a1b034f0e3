//! The `keygen` command: a fresh group key, printed or written to a new
//! file that only its owner may read.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use argh::FromArgs;
use simplep2p::Key;

use super::output::shown;
use super::{EXIT_OK, Failure, diag, print_result, usage};

#[derive(FromArgs, Debug)]
/// Make a fresh group key (256 random bits, 64 hex digits on one line) and
/// print it, or write it to a new file with --out.
#[argh(subcommand, name = "keygen", help_triggers("-h", "--help"))]
#[argh(note = "Give every peer of the group the same key file, with --key-file PATH or
SIMPLEP2P_KEY_FILE=PATH: every datagram is then sealed, and programs
without the key can neither see nor affect the group. --out creates the
file with mode 0600 and never overwrites one; a key file that other users
may read is refused, as ssh refuses such a private key, so prefer --out
to redirecting the printed key into a file.")]
#[argh(note = "To change a group's key without downtime, make a new key and edit every
peer's key file to hold the old key and the new one (one per line), then
the new one first, then the new one alone, finishing each step on every
peer before the next: running peers pick a changed file up within a
second. See the README, \"Changing a group's key\".")]
#[argh(note = "Exit codes: 0 done; 2 the --out file exists or cannot be created;
3 the key could not be printed (standard output closed).")]
pub(super) struct KeygenArgs {
    /// write the key to this new file (mode 0600) instead of printing it;
    /// an existing file is never overwritten
    #[argh(option)]
    out: Option<PathBuf>,
}

pub(super) fn keygen(cmd: &KeygenArgs) -> Result<i32, Failure> {
    let key = Key::generate()?;
    let Some(path) = &cmd.out else {
        return print_result(&format!("{}\n", key.to_hex()), EXIT_OK);
    };
    write_new(path, &key)?;
    diag(format_args!(
        "wrote a new key to {} (mode 0600): give every peer of the group a copy, with --key-file",
        shown(path)
    ));
    Ok(EXIT_OK)
}

/// Creates `path`, which must not exist, readable by its owner alone from
/// the moment it exists, and writes the key to it.
fn write_new(path: &Path, key: &Key) -> Result<(), Failure> {
    // create_new is O_CREAT|O_EXCL: it also refuses a symlink, dangling or
    // not, so the key cannot be sent through one to somewhere else.
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                usage(format!(
                    "{} exists already: keygen never overwrites a file; remove it or pass another --out",
                    shown(path)
                ))
            } else {
                usage(format!("could not create {}: {e}", shown(path)))
            }
        })?;
    let written =
        file.write_all(format!("{}\n", key.to_hex()).as_bytes()).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A half-written key file would only be refused later: take it
        // away. It is ours, made a moment ago by create_new.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(usage(format!("could not write the key to {}: {e}", shown(path))));
    }
    Ok(())
}
