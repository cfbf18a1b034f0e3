//! One check of the configuration, the same refusal from Rust and the CLI
//! (the C and Python bindings test theirs next to their code).

mod common;

use common::{config, free_port, run};
use simplep2p::{Error, Peer};

#[test]
fn rust_refuses_port_0_ttl_over_255_long_names_and_empty_queues() {
    let port = free_port();
    let refused = |c: simplep2p::Config| Peer::start(c).map(drop).unwrap_err();
    assert!(matches!(refused(config(0)), Error::BadPort));
    assert!(matches!(refused(config(port).ttl(256)), Error::BadTtl(256)));
    assert!(matches!(refused(config(port).name("n".repeat(65))), Error::NameTooLong(65)));
    assert!(matches!(refused(config(port).queue_capacity(0)), Error::BadQueueCapacity(0)));
    assert!(Peer::start(config(port).ttl(255)).is_ok());
}

#[test]
fn the_cli_refuses_them_with_exit_2_and_one_line_that_says_the_range() {
    let port = free_port();
    for (args, says) in [
        (&["--ttl", "256", "peers"][..], "pass 0 to 255"),
        (&["--name", &"n".repeat(65), "peers"], "the limit is 64 bytes"),
    ] {
        let (code, out, err) = run(port, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("simplep2p: ") && err.contains(says), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }
}
