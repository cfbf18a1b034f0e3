# Every target is named for what a person wants; none is a file.
.PHONY: demo test soak lint bench doc build release clean

CARGO ?= cargo

# The tests make their own keys: a developer's own key file must not leak in.
unexport SIMPLEP2P_KEY_FILE

# Poly1305's portable code, not its AVX2 code: the AVX2 code spends about
# 2 us setting up each short datagram, the portable one seals or opens one
# in about 0.6 us (make bench: keyed send to 50 at 1.12x the open send
# instead of 1.33x). The portable code is also the audited one. A plain
# `cargo build` gets the AVX2 code: correct, slower under a key.
export RUSTFLAGS := $(RUSTFLAGS) --cfg poly1305_backend="soft"

# The main job: five receivers and a send, all on loopback.
demo: release
	BIN=target/release/simplep2p scripts/demo.sh

# Everything the project checks.
# Rust tests, then the Python binding's tests, then runtest.sh (the CLI, the
# C example and the original's Python programs against background peers).
# Not --all-targets: that runs benches/bench.rs too (harness = false, so its
# main is the whole benchmark, slow and meaningless in a debug build). `make
# lint` still compiles it, with clippy --all-targets.
test:
	$(CARGO) test --lib --bins --tests
	$(CARGO) test --doc
	$(CARGO) build
	scripts/check-man.sh target/debug/simplep2p && scripts/check-completions.sh target/debug/simplep2p
	SIMPLEP2P_LIB=target/debug/libsimplep2p.so python3 -m unittest discover -s tests/python -p 'test_*.py'
	BIN=target/debug/simplep2p scripts/runtest.sh
	scripts/minimal.sh

# make test's 30%-loss membership run (five peers, 1 s heartbeats: no live
# peer may be reported lost) for 10 minutes instead of 30 s. Needs root and
# nftables (a private network namespace); fails rather than skips without.
SOAK_SECS ?= 600
soak:
	SIMPLEP2P_SOAK_SECS=$(SOAK_SECS) SIMPLEP2P_REQUIRE_NETNS=1 $(CARGO) test --test membership -- \
		--exact at_30_percent_loss_five_members_never_lose_a_live_one --nocapture

# The table of speed and resource figures against a raw-socket floor (a
# couple of minutes; not part of make test).
bench:
	$(CARGO) bench --bench bench

# The man page and the bash and zsh completions, made from the release
# binary's --help at build time, so they cannot drift from it (make test
# checks them): target/man/simplep2p.1, target/completions/simplep2p.bash and
# target/completions/_simplep2p. Read the page with
# `man ./target/man/simplep2p.1`.
.PHONY: man completions
man: release
	scripts/man.sh target/release/simplep2p target/man/simplep2p.1

completions: release
	scripts/completions.sh target/release/simplep2p target/completions

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --lib --bins -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

build:
	$(CARGO) build

release:
	$(CARGO) build --release

clean:
	$(CARGO) clean
