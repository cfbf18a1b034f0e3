//! Group keys through the library: keyed peers work as open ones do, and a
//! peer without the key (or with another) is not in the group.

mod common;

use std::time::Duration;

use common::{ABSENT_TIMEOUT, TIMEOUT, config, eventually, free_port};
use simplep2p::{Error, Key, Peer};

#[test]
fn peers_with_the_same_key_find_and_message_each_other() {
    let port = free_port();
    let key = Key::generate().unwrap();
    let a = Peer::start(config(port).key(key.clone()).name("a")).unwrap();
    let b = Peer::start(config(port).key(key).name("b")).unwrap();
    let found = a.discover_within(Some(1), TIMEOUT).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "b");
    let report = a.send_within(b"sealed hello", TIMEOUT).unwrap();
    assert!(report.all_acked(), "{report:?}");
    assert_eq!(b.recv_timeout(TIMEOUT).unwrap().unwrap().data, b"sealed hello");
    let report = a.send_group(b"to all", TIMEOUT).unwrap();
    assert!(report.all_acked(), "{report:?}");
    assert_eq!(b.recv_timeout(TIMEOUT).unwrap().unwrap().data, b"to all");
    assert_eq!(a.stats().auth_failed + b.stats().auth_failed, 0);
}

#[test]
fn two_groups_with_different_keys_on_one_port_never_see_each_other() {
    let port = free_port();
    let (k1, k2) = (Key::generate().unwrap(), Key::generate().unwrap());
    let a1 = Peer::start(config(port).key(k1.clone())).unwrap();
    let b1 = Peer::start(config(port).key(k1)).unwrap();
    let a2 = Peer::start(config(port).key(k2.clone())).unwrap();
    let b2 = Peer::start(config(port).key(k2)).unwrap();
    let open = Peer::start(config(port)).unwrap();

    let found = a1.discover_within(Some(2), ABSENT_TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![b1.id()]);
    let found = a2.discover_within(Some(2), ABSENT_TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![b2.id()]);
    let found = open.discover_within(Some(1), ABSENT_TIMEOUT).unwrap();
    assert!(found.is_empty(), "an open peer found keyed ones: {found:?}");

    let report = a1.send_group(b"group one", TIMEOUT).unwrap();
    assert!(report.all_acked());
    assert_eq!(b1.recv_timeout(TIMEOUT).unwrap().unwrap().data, b"group one");
    assert!(b2.try_recv().unwrap().is_none());
    assert!(open.try_recv().unwrap().is_none());
    // The others were told nothing, and counted what they could not open.
    eventually("b2 and the open peer count auth failures", || {
        b2.stats().auth_failed > 0 && open.stats().auth_failed > 0
    });
    assert_eq!(b2.stats().malformed + open.stats().malformed, 0);
}

#[test]
fn a_key_file_with_two_keys_opens_both_and_seals_with_the_first() {
    let dir = std::env::temp_dir().join(format!("sp2p-keys-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (old, new) = (Key::generate().unwrap(), Key::generate().unwrap());
    let file = common::key_file(&dir, "both", &[&new, &old]);
    let port = free_port();
    let both = Peer::start(config(port).key_file(&file)).unwrap();
    let old_only = Peer::start(config(port).key(old)).unwrap();
    let new_only = Peer::start(config(port).key(new)).unwrap();
    // It opens what either seals: the old-key peer's probe reaches it...
    let found = old_only.discover_within(Some(1), ABSENT_TIMEOUT).unwrap();
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(both.stats().auth_failed, 0);
    // ...but its answer is sealed with its first key, which that peer lacks.
    eventually("the old-key peer fails to open the answer", || old_only.stats().auth_failed > 0);
    // The new-key peer hears it, and is the only one it finds.
    let found = new_only.discover_within(Some(1), TIMEOUT).unwrap();
    assert_eq!(found[0].id, both.id());
    let found = both.discover_within(Some(2), ABSENT_TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![new_only.id()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn legacy_under_a_key_is_refused_and_off_by_default() {
    let key = Key::generate().unwrap();
    let port = free_port();
    let err = Peer::start(config(port).key(key.clone()).legacy(true)).unwrap_err();
    assert!(matches!(err, Error::LegacyWithKey), "{err}");
    let peer = Peer::start(config(port).key(key)).unwrap();
    let err = peer.discover_legacy(None, Duration::from_millis(10)).unwrap_err();
    assert!(matches!(err, Error::LegacyOff), "{err}");
}
