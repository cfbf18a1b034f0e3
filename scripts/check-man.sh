#!/usr/bin/env bash
# scripts/check-man.sh BIN [OUT]: makes the man page from BIN's --help with
# scripts/man.sh (into OUT, by default target/man/simplep2p.1), renders it as
# `man` does at 80 columns, and fails on any warning of the renderer, or if
# a text of --help is missing from the rendered page: every Usage line,
# description, option (its names, value and text together), argument,
# command and note line, each where it belongs (a command's under its own
# heading in COMMANDS, the top level's options under OPTIONS). Text is
# compared with all white space removed, so the renderer's filling and line
# breaks do not matter, but every other character does.
# The page is made from --help whenever it is built, so it cannot drift from
# the binary; this checks that the generator leaves nothing of --help out and
# writes roff that renders cleanly. Also: the page is the same when made
# twice, and help text laid out as argh never does stops man.sh.
# Runs only --help and --version: nothing opens a socket.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: $0 BIN [OUT]}
OUT=${2:-target/man/simplep2p.1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: check-man: $*" >&2
    exit 1
}

scripts/man.sh "$BIN" "$OUT"
scripts/man.sh "$BIN" "$tmp/again.1"
cmp -s "$OUT" "$tmp/again.1" || fail "two runs of man.sh made different pages"

# Render as a reader's man does, warnings on; groff alone if there is no man.
if command -v man >/dev/null; then
    how="MANWIDTH=80 man --warnings -l"
    MANWIDTH=80 env -u MAN_KEEP_FORMATTING man --warnings -l "$OUT" >"$tmp/page.txt" 2>"$tmp/warnings" ||
        fail "man -l $OUT exited $?: $(cat "$tmp/warnings")"
elif command -v groff >/dev/null; then
    how="groff -man -Tutf8 -ww"
    groff -man -Tutf8 -ww -rLL=80n -P-cbu "$OUT" >"$tmp/page.txt" 2>"$tmp/warnings" ||
        fail "groff $OUT exited $?: $(cat "$tmp/warnings")"
elif [[ -n ${CI:-} ]]; then
    fail "neither man nor groff is installed (.ci/run installs man-db)"
else
    echo "check-man: SKIPPED rendering: neither man nor groff is installed (apt-get install man-db)" >&2
    exit 0
fi
[[ ! -s $tmp/warnings ]] || fail "$how $OUT warns:
$(cat "$tmp/warnings")"
[[ -s $tmp/page.txt ]] || fail "$how $OUT printed nothing"
if command -v mandoc >/dev/null; then
    mandoc -Tlint -Wwarning "$OUT" >"$tmp/lint" 2>&1 || fail "mandoc -Tlint $OUT:
$(cat "$tmp/lint")"
fi

# Each text of --help, against the rendered page cut into parts: "PAGE" (all
# of it), each section by its heading, and "CMD name" for each command's
# subsection of COMMANDS.
scripts/helptext.sh "$BIN" >"$tmp/records"
awk -F '\t' '
function squash(s) { gsub(/‐/, "-", s); gsub(/[ \t\r\n]+/, "", s); return s }
function need(part, what, text) {
    checked++
    if (index(body[part], squash(text)) == 0) {
        printf "missing from %s: %s: %s\n", part, what, text
        missing++
    }
}
FNR == NR { rec[++nr] = $0; next }
{
    # Headings: sections at column 0, a command subsection at 3 in COMMANDS.
    if ($0 ~ /^[A-Z][A-Z ]*[A-Z]$/) { section = $0; part = section; seen[section] = 1 }
    else if (section == "COMMANDS" && $0 ~ /^   [^ ]/) { part = "CMD " substr($0, 4); seen[part] = 1; next }
    body["PAGE"] = body["PAGE"] squash($0)
    if (part != "") body[part] = body[part] squash($0)
}
END {
    split("NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS EXIT_STATUS ENVIRONMENT SEE_ALSO", want, / /)
    for (i in want) { s = want[i]; gsub(/_/, " ", s); if (!(s in seen)) { print "no section " s; missing++ } }
    for (r = 1; r <= nr; r++) {
        n = split(rec[r], f, /\t/)
        kind = f[1]; cmd = f[2]
        part = (cmd == "-") ? "" : "CMD " cmd
        if (kind == "V") need("PAGE", "--version", f[2])
        else if (kind == "U") {
            u = f[3]; gsub(/[<>]/, "", u)
            need("SYNOPSIS", "Usage", u)
            if (part != "") need(part, "Usage", u)
        } else if (kind == "D") need(part == "" ? "DESCRIPTION" : part, "description", f[3])
        else if (kind == "O") {
            label = f[3]; gsub(/ /, ", ", label)
            if (f[4] != "") label = label " " f[4]
            need(part == "" ? "OPTIONS" : part, "option", label " " f[6])
        } else if (kind == "A") need(part, "argument", f[3] " " f[4])
        else if (kind == "C") {
            if (!(("CMD " f[3]) in seen)) { print "no subsection for command " f[3]; missing++ }
            else need("CMD " f[3], "command", f[4])
        } else if (kind == "N") {
            # Each line; the notes of a command also all in one piece, in
            # order; those of the top level are split between EXIT STATUS
            # and NOTES, so there each list line with the line before it.
            if (f[3] == "") continue
            need(part == "" ? "PAGE" : part, "note", f[3])
            if (part != "") notes[part] = notes[part] "\n" f[3]
            else if (f[3] ~ /^ / && prev != "") need("PAGE", "note", prev "\n" f[3])
            prev = f[3]
        }
        else if (kind == "") continue
        else { print "unknown record " kind; missing++ }
        if (kind != "V" && match(rec[r], /SIMPLEP2P_[A-Z0-9_]+/)) need("ENVIRONMENT", "variable", substr(rec[r], RSTART, RLENGTH))
    }
    for (part in notes) need(part, "notes, in one piece", notes[part])
    if (missing) exit 1
    printf "%d texts of --help checked\n", checked > "/dev/stderr"
}
' "$tmp/records" "$tmp/page.txt" >"$tmp/missing" 2>"$tmp/count" || fail "$OUT leaves out what --help says:
$(cat "$tmp/missing")"
count=$(grep -o '^[0-9]*' "$tmp/count")
[[ $count -gt 50 ]] || fail "only $count texts of --help were checked: did helptext.sh read it?"

# Help text in a layout the generator does not know must stop it, not be
# left out: a stand-in binary whose --help has an unknown section.
abs=$BIN
[[ $abs == /* ]] || abs=$PWD/$BIN
cat >"$tmp/fake" <<EOF
#!/bin/sh
if [ "\$1" = --help ]; then "$abs" --help; printf '\nExamples:\n  simplep2p recv\n'; else exec "$abs" "\$@"; fi
EOF
chmod +x "$tmp/fake"
if scripts/man.sh "$tmp/fake" "$tmp/fake.1" 2>"$tmp/fake.err"; then
    fail "man.sh took a --help with an unknown section and said nothing"
fi
grep -q 'unknown section Examples:' "$tmp/fake.err" || fail "man.sh failed on an unknown section, but not saying so: $(cat "$tmp/fake.err")"

echo "check-man: $OUT has all $count texts of --help and renders with no warning ($how)"
