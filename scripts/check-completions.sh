#!/usr/bin/env bash
# scripts/check-completions.sh BIN [OUTDIR]: makes the bash and zsh
# completions from BIN's --help with scripts/completions.sh (into OUTDIR, by
# default target/completions) and tests them as a shell uses them:
#   bash: sources simplep2p.bash and calls its function with COMP_WORDS and
#   COMP_CWORD set as bash sets them for a TAB at the end of a line;
#   zsh (where installed; .ci/run installs it): loads _simplep2p with
#   compinit in an interactive zsh on a pseudo-terminal, types each line and
#   a TAB, and records every match the completion offers.
# Each: the commands; every option that each --help lists, for its command;
# a prefix that has one match; an option value skipped when finding the
# command; file names after --key-file and keygen --out; interface names
# after --interface; nothing after an option whose value is a number.
# Runs only --help and --version: nothing opens a socket.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: $0 BIN [OUTDIR]}
OUT=${2:-target/completions}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: check-completions: $*" >&2
    failures=$((failures + 1))
}

scripts/completions.sh "$BIN" "$OUT"
[[ $OUT == /* ]] || OUT=$PWD/$OUT
bash -n "$OUT/simplep2p.bash" || fail "bash -n $OUT/simplep2p.bash"
head -1 "$OUT/_simplep2p" | grep -qx '#compdef simplep2p' || fail "_simplep2p does not start with #compdef"

# What --help lists: the commands, and for each command (and "-", the top
# level) the options a completion must offer after it.
scripts/helptext.sh "$BIN" >"$tmp/records"
mapfile -t commands < <(awk -F '\t' '$1 == "C" { print $3 }' "$tmp/records")
((${#commands[@]} >= 5)) || fail "--help lists ${#commands[@]} commands"
# options_of CMD: its options, and after a command whose notes say so the
# top level's too, less --help and --version (the top level's alone).
options_of() {
    awk -F '\t' -v c="$1" '
        $1 == "N" && $2 == c && $3 ~ /Global options may also follow/ { globals = 1 }
        $1 == "O" { n = split($3, w, / /); for (i = 1; i <= n; i++) names[$2, ++k[$2]] = w[i] }
        END {
            for (i = 1; i <= k[c]; i++) print names[c, i]
            if (globals) for (i = 1; i <= k["-"]; i++) if (names["-", i] !~ /^(-h|--help|-V|--version)$/) print names["-", i]
        }' "$tmp/records" | sort
}

# Files for the file name cases, in the folder every shell starts in.
mkdir "$tmp/cwd" "$tmp/cwd/keys"
touch "$tmp/cwd/group.key" "$tmp/cwd/other.txt"
# The host's interface names now. They can change while a check runs (a
# test making lab namespaces' bridges, a VPN): a check that compares with
# them reads them before and after, and tries again if they moved.
interfaces_now() { find /sys/class/net -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort || true; }
interfaces=$(interfaces_now)

# expect SHELL LINE WANT GOT: WANT and GOT are sorted lists, one a line.
expect() {
    if [[ $3 != "$4" ]]; then
        fail "$1: '$2<TAB>' offers [${4//$'\n'/ }], not [${3//$'\n'/ }]"
    fi
}
sorted() { printf '%s\n' "$@" | sed '/^$/d' | sort -u; }

# ---- bash ----
# complete LINE: what _simplep2p offers for a TAB at the end of LINE, sorted.
bash_complete() {
    (
        cd "$tmp/cwd"
        # shellcheck source=/dev/null
        source "$OUT/simplep2p.bash"
        complete -p simplep2p | grep -q -- '-F _simplep2p simplep2p$' || echo "NOT-REGISTERED"
        read -ra COMP_WORDS <<<"$1"
        [[ $1 == *' ' ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$1
        COMP_POINT=${#1}
        _simplep2p simplep2p "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
        printf '%s\n' "${COMPREPLY[@]}"
    ) | sed '/^$/d' | sort -u
}
bash_expect() { expect bash "$1" "$2" "$(bash_complete "$1")"; }
# bash_expect_interfaces LINE: LINE<TAB> offers the interface names, as
# they were both before and after the completion ran.
bash_expect_interfaces() {
    local before got after tries
    for tries in 1 2 3 4 5 6 7 8 9 10; do
        before=$(interfaces_now)
        got=$(bash_complete "$1")
        after=$(interfaces_now)
        if [[ $before == "$after" ]]; then
            expect bash "$1" "$before" "$got"
            return
        fi
    done
    fail "bash: the host's interfaces changed during each of $tries tries of '$1<TAB>'"
}

bash_expect 'simplep2p se' send
bash_expect 'simplep2p ' "$(sorted "${commands[@]}")"
bash_expect 'simplep2p -' "$(options_of -)"
for c in "${commands[@]}"; do
    bash_expect "simplep2p $c -" "$(options_of "$c")"
done
bash_expect 'simplep2p send --ti' --timeout
bash_expect 'simplep2p recv --c' --count
bash_expect 'simplep2p recv --na' --name
bash_expect 'simplep2p keygen --na' ''
bash_expect 'simplep2p --ver' --version
bash_expect 'simplep2p recv --ver' ''
bash_expect 'simplep2p --name recv se' send
bash_expect 'simplep2p --port 1 --interface lo pe' peers
bash_expect 'simplep2p send --interface lo --ti' --timeout
bash_expect 'simplep2p send -- --ti' ''
bash_expect 'simplep2p --key-file ' "$(sorted group.key keys other.txt)"
bash_expect 'simplep2p --key-file g' group.key
bash_expect 'simplep2p recv --key-file o' other.txt
bash_expect 'simplep2p keygen --out k' keys
bash_expect_interfaces 'simplep2p --interface '
bash_expect_interfaces 'simplep2p watch --exclude-interface '
bash_expect 'simplep2p --port ' ''
bash_expect 'simplep2p send --timeout ' ''
[[ -n $interfaces ]] || echo "check-completions: /sys/class/net is empty here: interface names checked as none" >&2

# ---- zsh ----
if ! command -v zsh >/dev/null; then
    if [[ -n ${CI:-} ]]; then
        fail "zsh is not installed (.ci/run installs it)"
    else
        echo "check-completions: zsh is not installed: _simplep2p NOT tested (apt-get install zsh)" >&2
    fi
else
    zsh -n "$OUT/_simplep2p" || fail "zsh -n $OUT/_simplep2p"
    # Types each line of $tmp/zsh.lines and a TAB into an interactive zsh,
    # each line's matches into $tmp/zsh.N (every compadd call, recorded).
    cat >"$tmp/zsh.drive" <<'EOF'
zmodload zsh/zpty || exit 1
dir=$1 lines=$2 cwd=$3
zpty z zsh -f -i || exit 1
zpty -w z "cd ${(q)cwd}; PS1='> '; RPROMPT=''; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" menu no'
zpty -w z 'compadd() { local -a m; builtin compadd -O m "$@"; print -rl -- $m >> $OUTFILE; builtin compadd "$@" }'
# TAB completes, then says it is done: typing on at once could cut it short.
zpty -w z 'tab() { zle complete-word; : > $OUTFILE.done }; zle -N tab; bindkey "^I" tab'
# sync MARK: waits until the shell has run all that was typed before.
sync() { zpty -w z "print -r -- \${:-SY}NC$1"; zpty -r z reply "*SYNC$1*" || exit 1 }
sync 0
n=0
while IFS= read -r line; do
    n=$((n + 1))
    zpty -w z "OUTFILE=${(q)lines}.$n; : > \$OUTFILE"
    sync $n
    zpty -w -n z "$line"$'\t'
    k=0
    while [[ ! -e $lines.$n.done ]]; do
        ((++k > 400)) && { print -u2 "no completion for: $line"; exit 1 }
        sleep 0.05
    done
    zpty -w z $'\C-e\C-u''print -r -- ${:-DO}NE'$n
    zpty -r z reply "*DONE$n*" || exit 1
done < $lines
zpty -d z
EOF
    zlines=(
        'simplep2p se'
        'simplep2p '
        'simplep2p -'
        'simplep2p send --ti'
        'simplep2p recv --na'
        'simplep2p keygen --na'
        'simplep2p --ver'
        'simplep2p --name recv se'
        'simplep2p --key-file '
        'simplep2p keygen --out k'
        'simplep2p --interface '
        'simplep2p --port '
    )
    for c in "${commands[@]}"; do zlines+=("simplep2p $c -"); done
    printf '%s\n' "${zlines[@]}" >"$tmp/zsh.lines"
    # Again while the host's interfaces moved during the run.
    for tries in 1 2 3 4 5; do
        interfaces=$(interfaces_now)
        zsh_ok=1
        timeout 60 zsh -f "$tmp/zsh.drive" "$OUT" "$tmp/zsh.lines" "$tmp/cwd" >/dev/null 2>"$tmp/zsh.err" || zsh_ok=
        [[ -z $zsh_ok || $interfaces == "$(interfaces_now)" ]] && break
    done
    if [[ -z $zsh_ok ]]; then
        fail "zsh did not complete the lines: $(cat "$tmp/zsh.err")"
    else
        zsh_got() {
            local i
            for i in "${!zlines[@]}"; do
                if [[ ${zlines[i]} == "$1" ]]; then
                    sed '/^$/d' "$tmp/zsh.lines.$((i + 1))" | sort -u
                    return
                fi
            done
        }
        zsh_expect() {
            # A line never typed would offer nothing and pass an empty
            # expectation without zsh having run it.
            local line typed=
            for line in "${zlines[@]}"; do [[ $line == "$1" ]] && typed=1; done
            [[ -n $typed ]] || fail "zsh: '$1' is checked but not in the lines typed"
            expect zsh "$1" "$2" "$(zsh_got "$1")"
        }
        zsh_expect 'simplep2p se' send
        zsh_expect 'simplep2p ' "$(sorted "${commands[@]}")"
        zsh_expect 'simplep2p -' "$(options_of -)"
        for c in "${commands[@]}"; do
            zsh_expect "simplep2p $c -" "$(options_of "$c")"
        done
        zsh_expect 'simplep2p send --ti' --timeout
        zsh_expect 'simplep2p recv --na' --name
        zsh_expect 'simplep2p keygen --na' ''
        zsh_expect 'simplep2p --ver' --version
        zsh_expect 'simplep2p --name recv se' send
        zsh_expect 'simplep2p --key-file ' "$(sorted group.key keys other.txt)"
        zsh_expect 'simplep2p keygen --out k' keys
        zsh_expect 'simplep2p --interface ' "$interfaces"
        zsh_expect 'simplep2p --port ' ''
        zsh_tested=1
    fi
fi

if ((failures)); then
    echo "check-completions: $failures failed" >&2
    exit 1
fi
echo "check-completions: bash${zsh_tested:+ and zsh} completions in $OUT offer what --help lists"
