#!/bin/sh
# scripts/man.sh BIN OUT: writes OUT, the man page simplep2p(1), made from
# `BIN --help`, `BIN CMD --help` for every command --help lists and
# `BIN --version` (parsed by scripts/helptext.sh). Every word of it comes
# from those texts except the section headings, the ENVIRONMENT entries (a
# variable that --help names and this script does not describe stops it) and
# SEE ALSO; so a page made at build time cannot drift from the binary, and
# scripts/check-man.sh checks that every text of --help is in it, rendered.
#
#   NAME         the program and the first sentence of its description
#   SYNOPSIS     every Usage line
#   DESCRIPTION  the top level's description
#   OPTIONS      the top level's options, one .TP each
#   COMMANDS     per command: its Usage line, description, arguments,
#                options and notes
#   EXIT STATUS  the top level's note that starts "Exit codes"
#   ENVIRONMENT  the SIMPLEP2P_* variables that --help names
#   NOTES        the top level's other notes
#
# Notes are hand-wrapped lines in --help; a note line that ends a sentence
# ends a paragraph, and lines indented further are a list ("term  text",
# continued further in): one .TP each.
# POSIX sh and awk. It runs only --help and --version: nothing opens a socket.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN OUT" >&2
    exit 2
fi
bin=$1
out=$2
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

"$here/helptext.sh" "$bin" >"$tmp/records"

# The page's date: SOURCE_DATE_EPOCH's (as reproducible builds set it), or
# the last commit's, so that the same sources make the same page.
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
    date=$(git -C "$here" log -1 --format=%cs 2>/dev/null || date -u +%Y-%m-%d)
fi

awk -F '\t' -v q="'" -v date="$date" '
function fail(msg) { print "man.sh: " msg > "/dev/stderr"; bad = 1; exit 1 }
# s with every a replaced by b, literally.
function repl(s, a, b,   o, i) {
    o = ""
    while ((i = index(s, a)) > 0) { o = o substr(s, 1, i - 1) b; s = substr(s, i + length(a)) }
    return o s
}
# Options named in running text (--out, -V) with \- for their hyphens, so
# that they render as the ASCII hyphen-minus one types, never a hyphen or a
# minus sign; a hyphen inside a word (set-up, U+0000-U+001F) is left alone.
function opts(s,   o, c) {
    o = ""
    while (match(s, /--?[A-Za-z][-A-Za-z0-9]*/)) {
        c = RSTART > 1 ? substr(s, RSTART - 1, 1) : ""
        if (c ~ /[A-Za-z0-9_+]/) o = o substr(s, 1, RSTART + RLENGTH - 1)
        else o = o substr(s, 1, RSTART - 1) repl(substr(s, RSTART, RLENGTH), "-", "\\-")
        s = substr(s, RSTART + RLENGTH)
    }
    return o s
}
# Running text as roff: backslashes and quotes as themselves (\e, \(aq,
# \(ga), options as above, and no line that starts with a control character.
function esc(s) {
    s = repl(s, "\\", "\\e")
    s = opts(s)
    s = repl(s, q, "\\(aq")
    s = repl(s, "`", "\\(ga")
    if (s ~ /^\./) s = "\\&" s
    return s
}
function bold(s) { return "\\fB" repl(s, "-", "\\-") "\\fR" }
function ital(s) { return "\\fI" esc(s) "\\fR" }
# One word of a Usage line: [--opt, <value...>], --, [<message>].
function usage_word(w,   pre, post, dots) {
    pre = ""; post = ""; dots = ""
    while (w ~ /^\[/) { pre = pre "["; w = substr(w, 2) }
    while (w ~ /\]$/) { post = post "]"; w = substr(w, 1, length(w) - 1) }
    if (w ~ /^-/) w = bold(w)
    else if (w ~ /^<.*>$/) {
        w = substr(w, 2, length(w) - 2)
        if (w ~ /\.\.\.$/) { dots = "..."; w = substr(w, 1, length(w) - 3) }
        w = ital(w) dots
    } else w = esc(w)
    return pre w post
}
# A Usage line as .SY ... .YS; an option and its value never split.
function synopsis(c, u,   n, t, i, o, w) {
    n = split(u, t, / +/)
    print ".SY " t[1]
    o = ""; i = 2
    if (c != "-") { o = bold(t[2]); i = 3 }
    for (; i <= n; i++) {
        w = usage_word(t[i])
        if (t[i] ~ /^\[?-/ && t[i] !~ /\]$/ && i < n && t[i + 1] ~ /^</) { i++; w = w "\\ " usage_word(t[i]) }
        o = o (o == "" ? "" : " ") w
    }
    print o
    print ".YS"
}
function option(names, value,   n, w, i, o) {
    n = split(names, w, / /)
    o = ""
    for (i = 1; i <= n; i++) o = o (i > 1 ? ", " : "") bold(w[i])
    if (value != "") o = o " " ital(value)
    return o
}
# The notes of c as blocks: blk[c, k] is "P" (a paragraph, its text in
# btext[c, k]) or "L" (a list of nitem[c, k] items, term and text in
# iterm[c, k, j] and itext[c, k, j], the widest term iwide[c, k]).
function blocks(c,   i, k, line, open, ind, term, text, j) {
    k = 0; open = 0
    for (i = 1; i <= nn[c]; i++) {
        line = nl[c, i]
        if (line == "") { open = 0; continue }
        if (line !~ /^ /) {
            if (!open || blk[c, k] != "P") { blk[c, ++k] = "P"; btext[c, k] = line; open = 1 }
            else btext[c, k] = btext[c, k] " " line
            if (line ~ "[.!?][\"" q ")]*$") open = 0
            continue
        }
        match(line, /^ +/); ind = RLENGTH
        line = substr(line, ind + 1)
        if (open && blk[c, k] == "L" && ind > iind[c, k]) { j = nitem[c, k]; itext[c, k, j] = itext[c, k, j] " " line; continue }
        if (!open || blk[c, k] != "L") { blk[c, ++k] = "L"; nitem[c, k] = 0; iind[c, k] = ind; iwide[c, k] = 0; open = 1 }
        if (match(line, /  +/)) { term = substr(line, 1, RSTART - 1); text = substr(line, RSTART + RLENGTH) }
        else { term = line; text = "" }
        j = ++nitem[c, k]
        iterm[c, k, j] = term; itext[c, k, j] = text
        if (length(term) > iwide[c, k]) iwide[c, k] = length(term)
    }
    nblk[c] = k
}
function block(c, k,   j) {
    if (blk[c, k] == "P") { if (!fresh) print ".PP"; fresh = 0; print esc(btext[c, k]); return }
    fresh = 0
    print ".RS"
    for (j = 1; j <= nitem[c, k]; j++) {
        print ".TP " (iwide[c, k] + 2) "n"
        print esc(iterm[c, k, j])
        print esc(itext[c, k, j])
    }
    print ".RE"
}
function options(c,   i) {
    for (i = 1; i <= na[c]; i++) { print ".TP"; print ital(aname[c, i]); print esc(atext[c, i]) }
    for (i = 1; i <= no[c]; i++) { print ".TP"; print option(onames[c, i], ovalue[c, i]); print esc(otext[c, i]) }
}
{
    if ($1 != "V") for (i = 3; i <= NF; i++) if (match($i, /SIMPLEP2P_[A-Z0-9_]+/)) env[substr($i, RSTART, RLENGTH)] = 1
}
$1 == "V" { ver[++nv] = $2; next }
$1 == "U" { usage[$2] = $3; next }
$1 == "D" { d = ++nd[$2]; desc[$2, d] = $3; next }
$1 == "O" { i = ++no[$2]; onames[$2, i] = $3; ovalue[$2, i] = $4; otext[$2, i] = $6; next }
$1 == "A" { i = ++na[$2]; aname[$2, i] = $3; atext[$2, i] = $4; next }
$1 == "C" { cmds[++nc] = $3; next }
$1 == "N" { nl[$2, ++nn[$2]] = $3; next }
{ fail("unknown record " $1) }
END {
    if (bad) exit 1
    envdesc["SIMPLEP2P_KEY_FILE"] = "The group key file to use when no --key-file is given, if it is set and not empty: as if it were given with --key-file."
    for (e in env) if (!(e in envdesc)) fail("--help names " e ": describe it in scripts/man.sh")
    if (!("-" in usage)) fail("no Usage line")
    split(usage["-"], t, / /); prog = t[1]
    split(ver[1], t, / /)
    if (t[1] != prog || t[2] == "") fail("--version does not start with the program name and version: " ver[1])

    print ".\\\" simplep2p(1). Generated by scripts/man.sh from the --help and --version"
    print ".\\\" of " ver[1] ": do not edit, change the help text in src/cli.rs instead."
    print ".TH " toupper(prog) " 1 " date " \"" ver[1] "\" \"User Commands\""
    print ".nr HY 0"
    print ".nh"
    print ".SH NAME"
    name = desc["-", 1]
    if (match(name, /\. /)) name = substr(name, 1, RSTART)
    sub(/\.$/, "", name)
    if (name ~ /^[A-Z][a-z]/) name = tolower(substr(name, 1, 1)) substr(name, 2)
    print prog " \\- " esc(name)

    print ".SH SYNOPSIS"
    synopsis("-", usage["-"])
    for (i = 1; i <= nc; i++) synopsis(cmds[i], usage[cmds[i]])

    print ".SH DESCRIPTION"
    for (i = 1; i <= nd["-"]; i++) { if (i > 1) print ".PP"; print esc(desc["-", i]) }
    for (i = 2; i <= nv; i++) { print ".PP"; print esc(ver[i]) }

    print ".SH OPTIONS"
    options("-")

    print ".SH COMMANDS"
    for (i = 1; i <= nc; i++) {
        c = cmds[i]
        if (!(c in usage)) fail("no --help for command " c)
        print ".SS " c
        synopsis(c, usage[c])
        for (j = 1; j <= nd[c]; j++) { print ".PP"; print esc(desc[c, j]) }
        options(c)
        blocks(c)
        for (k = 1; k <= nblk[c]; k++) block(c, k)
    }

    blocks("-")
    ek = 0
    for (k = 1; k <= nblk["-"]; k++) if (blk["-", k] == "P" && btext["-", k] ~ /^Exit codes/) { ek = k; break }
    if (!ek) fail("no note in --help starts \"Exit codes\"")
    print ".SH EXIT STATUS"
    fresh = 1
    block("-", ek)
    last = ek
    if (ek < nblk["-"] && blk["-", ek + 1] == "L") { last = ek + 1; block("-", last) }

    print ".SH ENVIRONMENT"
    ne = 0
    for (e in env) { for (i = ++ne; i > 1 && envs[i - 1] > e; i--) envs[i] = envs[i - 1]; envs[i] = e }
    for (i = 1; i <= ne; i++) { print ".TP"; print "\\fB" envs[i] "\\fR"; print esc(envdesc[envs[i]]) }

    if (nblk["-"] > last - ek + 1) {
        print ".SH NOTES"
        fresh = 1
        for (k = 1; k <= nblk["-"]; k++) if (k < ek || k > last) block("-", k)
    }

    print ".SH SEE ALSO"
    print "The files README.md (the command line, the library, and the C and Python"
    print "bindings) and PROTOCOL.md (the datagrams on the wire) of the simplep2p sources."
}
' "$tmp/records" >"$tmp/page"

mkdir -p "$(dirname "$out")"
mv "$tmp/page" "$out"
