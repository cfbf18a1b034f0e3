#!/usr/bin/env bash
# `make install` into a temporary prefix, then a C program outside the
# repository built with the README's own line,
#   cc app.c $(pkg-config --cflags --libs simplep2p)
# and run with no LD_LIBRARY_PATH against receivers of the installed CLI;
# then the same program linked with the static library. Every peer is on
# 127.0.0.1 and a port of this script's own.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
MAKE=${MAKE:-make}
BIN=unset # the installed CLI, once make install has put it in place (below)
. scripts/lib.sh

PREFIX=$WORK/prefix
if ! $MAKE -s install PREFIX="$PREFIX" >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log" >&2
    echo "install: make install failed" >&2
    exit 1
fi
BIN=$PREFIX/bin/simplep2p
lib=$PREFIX/lib
check "the library is installed under its version, SONAME and development names" \
    test -f "$lib/libsimplep2p.so.$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" \
    -a -L "$lib/libsimplep2p.so.0" -a -L "$lib/libsimplep2p.so"
soname=$(objdump -p "$lib/libsimplep2p.so" | awk '$1 == "SONAME" { print $2 }')
check "its SONAME is libsimplep2p.so.0 (is $soname)" test "$soname" = libsimplep2p.so.0
size=$(stat -c %s "$lib/libsimplep2p.a")
check "the static library is at most 5 MB ($size bytes)" test "$size" -le 5000000
check "the header and the CLI are installed" test -f "$PREFIX/include/simplep2p.h" -a -x "$BIN"
check "the man page and the bash and zsh completions are installed" \
    test -f "$PREFIX/share/man/man1/simplep2p.1" \
    -a -f "$PREFIX/share/bash-completion/completions/simplep2p" \
    -a -f "$PREFIX/share/zsh/site-functions/_simplep2p"
if command -v man >/dev/null; then
    check "man finds the installed page by name" \
        has_line 'simplep2p' "$(MANPATH=$PREFIX/share/man man -P cat simplep2p 2>/dev/null | head -5)"
fi

# Outside the repository, with nothing of it on any path but the prefix.
app=$WORK/app
mkdir -p "$app"
cp bindings/c/example.c "$app/app.c"
cd "$app" || exit 1
export PKG_CONFIG_PATH=$lib/pkgconfig
unset LD_LIBRARY_PATH
check "pkg-config knows simplep2p $(pkg-config --modversion simplep2p 2>&1)" pkg-config --exists simplep2p
# shellcheck disable=SC2046 # the flags are words on purpose
if cc -Wall -Wextra -Werror app.c $(pkg-config --cflags --libs simplep2p) -o app 2>"$WORK/cc.err"; then
    check "the program needs libsimplep2p.so.0" has_line 'NEEDED.*libsimplep2p\.so\.0' "$(objdump -p app)"
    start_peers 2 || exit 1
    out=$(./app 127.0.0.1 "$PORT" 2 "from installed C" 2>&1)
    check "it runs without LD_LIBRARY_PATH and prints PASS 2/2" has_line '^PASS 2/2 peers acknowledged$' "$out" ||
        echo "$out" >&2
    stop_peers
    check "each installed recv printed the message" \
        test "$(cat "$WORK"/peer[12].out | grep -c ' from installed C$')" -eq 2
else
    check "cc app.c \$(pkg-config --cflags --libs simplep2p)" false
    cat "$WORK/cc.err" >&2
fi

# The static library: the same program with nothing of simplep2p to load.
# shellcheck disable=SC2046
if cc -Wall -Wextra -Werror app.c $(pkg-config --cflags simplep2p) "$lib/libsimplep2p.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o app-static 2>"$WORK/cc.err"; then
    check "the static build loads no libsimplep2p" test -z "$(objdump -p app-static | grep libsimplep2p)"
    start_peers 1 || exit 1
    out=$(./app-static 127.0.0.1 "$PORT" 1 "from static C" 2>&1)
    check "the static build prints PASS 1/1" has_line '^PASS 1/1 peers acknowledged$' "$out" || echo "$out" >&2
    stop_peers
else
    check "cc app.c ... libsimplep2p.a" false
    cat "$WORK/cc.err" >&2
fi
cd "$REPO" || exit 1

echo "install: $passed passed, $failed failed"
((failed == 0))
