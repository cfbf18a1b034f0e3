# Every target is named for what a person wants; none is a file.
.PHONY: demo test soak lint bench doc build release staticlib install uninstall clean

CARGO ?= cargo

# The tests make their own keys: a developer's own key file must not leak in.
unexport SIMPLEP2P_KEY_FILE

# Poly1305's portable code, not its AVX2 code: the AVX2 code spends about
# 2 us setting up each short datagram, the portable one seals or opens one
# in about 0.6 us (make bench: keyed send to 50 at 1.12x the open send
# instead of 1.33x). The portable code is also the audited one. A plain
# `cargo build` gets the AVX2 code: correct, slower under a key.
# Added once: a make that this one runs (make test's install check) inherits
# it, and the same flag twice would be other flags to cargo, which then
# rebuilds everything.
ifeq ($(findstring poly1305_backend,$(RUSTFLAGS)),)
export RUSTFLAGS := $(RUSTFLAGS) --cfg poly1305_backend="soft"
endif

# The main job: five receivers and a send, all on loopback.
demo: release
	BIN=target/release/simplep2p scripts/demo.sh

# Everything the project checks.
# Rust tests; the man page and completions made from --help (check-man.sh,
# check-completions.sh); install_c.sh (make install into a temporary prefix, and a C
# program built outside the repository with pkg-config, shared and static);
# python_test.sh (pip installs the package into the virtual environment
# PYENV and runs the Python tests against it); runtest.sh (the CLI, the C
# example and the original's Python programs against background peers).
# Not --all-targets: that runs benches/bench.rs too (harness = false, so its
# main is the whole benchmark, slow and meaningless in a debug build). `make
# lint` still compiles it, with clippy --all-targets.
PYENV := target/pyenv
test:
	$(CARGO) test --lib --bins --tests
	$(CARGO) test --doc
	$(CARGO) build
	scripts/check-man.sh target/debug/simplep2p
	scripts/check-completions.sh target/debug/simplep2p
	MAKE="$(MAKE)" scripts/install_c.sh
	VENV=$(PYENV) scripts/python_test.sh
	BIN=target/debug/simplep2p PYTHON=$(PYENV)/bin/python scripts/runtest.sh
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

# The static library, on its own (see [lib] in Cargo.toml: built beside the
# rlib it would be neither LTO'd nor small).
staticlib:
	$(CARGO) rustc --release --lib --crate-type staticlib

# make install [PREFIX=/usr/local] [DESTDIR=staging]: the CLI, the shared
# library as libsimplep2p.so.VERSION with its SONAME and development
# symlinks, the static library (debug info stripped), the header,
# simplep2p.pc, the man page and the bash and zsh completions. Linux only (the SONAME is read back from the library).
# For a PREFIX other than /usr, the .pc file adds an rpath to LIBDIR, so a
# program built with `pkg-config --cflags --libs simplep2p` runs without
# LD_LIBRARY_PATH or ldconfig; RPATH= leaves it out.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
RPATH ?= $(if $(filter /usr,$(PREFIX)),,-Wl$(comma)-rpath$(comma)$${libdir})
comma := ,
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

install: release staticlib man completions
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	install -m 755 target/release/simplep2p "$(DESTDIR)$(BINDIR)/simplep2p"
	soname=$$(objdump -p target/release/libsimplep2p.so | awk '$$1 == "SONAME" { print $$2 }'); \
	test -n "$$soname" || { echo "install: target/release/libsimplep2p.so has no SONAME" >&2; exit 1; }; \
	install -m 755 target/release/libsimplep2p.so "$(DESTDIR)$(LIBDIR)/libsimplep2p.so.$(VERSION)" && \
	ln -sfn "libsimplep2p.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/$$soname" && \
	ln -sfn "$$soname" "$(DESTDIR)$(LIBDIR)/libsimplep2p.so"
	install -m 644 target/release/libsimplep2p.a "$(DESTDIR)$(LIBDIR)/libsimplep2p.a"
	strip --strip-debug "$(DESTDIR)$(LIBDIR)/libsimplep2p.a"
	install -m 644 bindings/c/simplep2p.h "$(DESTDIR)$(INCLUDEDIR)/simplep2p.h"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|$(RPATH)|' -e '/^# Written by/d' \
		bindings/c/simplep2p.pc.in >"$(DESTDIR)$(PKGCONFIGDIR)/simplep2p.pc"
	install -d "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)"
	install -m 644 target/man/simplep2p.1 "$(DESTDIR)$(MANDIR)/man1/simplep2p.1"
	install -m 644 target/completions/simplep2p.bash "$(DESTDIR)$(BASHCOMPDIR)/simplep2p"
	install -m 644 target/completions/_simplep2p "$(DESTDIR)$(ZSHCOMPDIR)/_simplep2p"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/simplep2p" "$(DESTDIR)$(LIBDIR)"/libsimplep2p.so* \
		"$(DESTDIR)$(LIBDIR)/libsimplep2p.a" "$(DESTDIR)$(INCLUDEDIR)/simplep2p.h" \
		"$(DESTDIR)$(PKGCONFIGDIR)/simplep2p.pc" "$(DESTDIR)$(MANDIR)/man1/simplep2p.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/simplep2p" "$(DESTDIR)$(ZSHCOMPDIR)/_simplep2p"

clean:
	$(CARGO) clean
