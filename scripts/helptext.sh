#!/bin/sh
# scripts/helptext.sh BIN: the text of `BIN --help`, of `BIN CMD --help` for
# every command that --help lists, and of `BIN --version`, parsed into one
# record a line, fields separated by a tab, for scripts/man.sh and
# scripts/completions.sh. Both are generated from these records alone, so
# neither can say anything --help does not.
#
#   V  line                              a line of --version
#   U  cmd  usage                        the Usage line, without "Usage: "
#   D  cmd  paragraph                    the description, one record a paragraph
#   O  cmd  names  value  repeat  text   an option: names ("-V --version"),
#                                        its value's name from the Usage line
#                                        ("" for a switch), repeat 1 if the
#                                        Usage line says it repeats (<v...>)
#   A  cmd  name  text                   a positional argument
#   C  cmd  name  text                   a command (only in the top level)
#   N  cmd  line                         a line of the notes, less their first
#                                        two columns of indent ("" between
#                                        paragraphs, where --help has a blank)
#
# cmd is "-" for the top level. A description's wrapped lines are joined with
# one space. Anything argh's layout does not explain (an unknown section, a
# stray line, a command with commands of its own) stops it with exit 1, so a
# change to --help that the generators would misread fails `make test`
# instead of drifting silently.
# POSIX sh and awk. It runs only --help and --version: nothing opens a socket.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BIN" >&2
    exit 2
fi
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# parse CMD FILE: the records of one --help text.
parse() {
    awk -v cmd="$1" '
    function fail(msg) { printf "helptext.sh: %s --help, line %d: %s\n", cmd, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
    function trim(s) { sub(/^[ ]+/, "", s); sub(/[ ]+$/, "", s); return s }
    # The entry that is being read (an option, argument or command): print it.
    function flush(   n, i, w, names, value, repeat) {
        if (kind == "") return
        if (kind == "O") {
            n = split(entry, w, /, /)
            names = ""; value = ""; repeat = 0
            for (i = 1; i <= n; i++) {
                if (w[i] !~ /^--?[A-Za-z0-9][-A-Za-z0-9]*$/) fail("not an option name: " w[i])
                names = names (i > 1 ? " " : "") w[i]
                if (w[i] in val) { value = val[w[i]]; repeat = rep[w[i]] }
            }
            print "O\t" cmd "\t" names "\t" value "\t" repeat "\t" text
        } else {
            if (entry !~ /^[A-Za-z0-9][-A-Za-z0-9_]*$/) fail("not a name: " entry)
            print kind "\t" cmd "\t" entry "\t" text
        }
        kind = ""
    }
    # The options that take a value, from the Usage line: "[--opt <v>]" takes
    # one, "[--switch]" does not, "<v...>" may be given several times.
    function values(usage,   n, t, i, w, v) {
        n = split(usage, t, / +/)
        for (i = 1; i < n; i++) {
            w = t[i]; sub(/^\[/, "", w)
            if (w ~ /^-/ && w !~ /\]$/ && t[i + 1] ~ /^</) {
                v = t[i + 1]; gsub(/[][<>]/, "", v)
                rep[w] = (v ~ /\.\.\.$/) ? 1 : 0
                sub(/\.\.\.$/, "", v)
                val[w] = v
            }
        }
    }
    BEGIN { state = "usage"; kind = "" }
    { gsub(/\t/, "        "); sub(/[ ]+$/, "") }
    state == "usage" {
        if (NR == 1) {
            if ($0 !~ /^Usage: /) fail("no Usage line")
            usage = substr($0, 8)
        } else if ($0 ~ /^ /) {
            usage = usage " " trim($0)
        } else if ($0 == "") {
            usage = trim(usage)
            values(usage)
            print "U\t" cmd "\t" usage
            state = "desc"; para = ""
        } else fail("unexpected line after Usage")
        next
    }
    # A section heading: no indent, ends with a colon.
    /^[A-Z][A-Za-z ]*:$/ {
        flush()
        if (state == "desc" && para != "") { print "D\t" cmd "\t" para; para = "" }
        if ($0 == "Options:") state = "O"
        else if ($0 == "Positional Arguments:") state = "A"
        else if ($0 == "Commands:") { if (cmd != "-") fail("a command with commands of its own"); state = "C" }
        else if ($0 == "Notes:") { state = "N"; blank = 0 }
        else fail("unknown section " $0)
        next
    }
    state == "desc" {
        if ($0 == "") { if (para != "") print "D\t" cmd "\t" para; para = "" }
        else if ($0 ~ /^ /) fail("indented line in the description")
        else para = (para == "" ? "" : para " ") $0
        next
    }
    state == "N" {
        if ($0 == "") { blank = 1; next }
        if ($0 !~ /^  /) fail("a note line without indent")
        if (blank) { print "N\t" cmd "\t"; blank = 0 }
        print "N\t" cmd "\t" substr($0, 3)
        next
    }
    # Options, Positional Arguments, Commands: "  name   text", wrapped text
    # indented further; a long name stands alone, its text on the next lines.
    $0 == "" { flush(); next }
    /^  [^ ]/ {
        flush()
        kind = state
        line = substr($0, 3)
        if (match(line, /  +/)) { entry = substr(line, 1, RSTART - 1); text = trim(substr(line, RSTART)) }
        else { entry = line; text = "" }
        next
    }
    /^   / {
        if (kind == "") fail("a continuation line with no entry")
        text = (text == "" ? "" : text " ") trim($0)
        next
    }
    { fail("unexpected line") }
    END {
        if (bad) exit 1
        if (state == "usage") fail("no blank line after Usage")
        flush()
        if (state == "desc" && para != "") print "D\t" cmd "\t" para
    }
    ' "$2"
}

"$bin" --version >"$tmp/version" || { echo "helptext.sh: $bin --version failed" >&2; exit 1; }
"$bin" --help >"$tmp/top" || { echo "helptext.sh: $bin --help failed" >&2; exit 1; }
sed 's/^/V	/' "$tmp/version"
parse - "$tmp/top" >"$tmp/top.rec"
cat "$tmp/top.rec"
# shellcheck disable=SC2013 # command names are single words: parse checks
for c in $(awk -F '\t' '$1 == "C" { print $3 }' "$tmp/top.rec"); do
    "$bin" "$c" --help >"$tmp/cmd" || { echo "helptext.sh: $bin $c --help failed" >&2; exit 1; }
    parse "$c" "$tmp/cmd"
done
