#!/usr/bin/env bats
# 02-docs.bats - the man pages and shell completions agree with the command
# table and each command's usage line, the pages are lint clean, and the
# examples in them run (git's t0450, jq's man.test).

load helper

MAN="$AM_TOP/man"
COMP="$AM_TOP/completions"

# Commands that have their own page: the command table minus the built-ins.
page_commands() {
	"$AM" help --commands | grep -vx -e help -e version
}

# A page as plain text, wide enough that nothing wraps.
render() {
	mandoc -Tascii -Owidth=250 "$1" | sed 's/.\x08//g'
}

# One section of a rendered page (section headings start in column 0).
section() {
	render "$1" | awk -v s="$2" '/^[^ ]/ { on = ($0 == s); next } on'
}

# The usage of a command, without "usage:" and "am CMD", one line each.
usage_of() {
	"$AM" help "$1" | sed -n '/^$/q; s/^usage://; s/^ *am [^ ]*//; p'
}

# Option names (-n, --owner-key) in the text on stdin, one a line, sorted.
opt_names() {
	grep -oE '(^|[][ |(])--?[A-Za-z][-A-Za-z0-9]*' | sed -E 's/^[][ |(]//' | sort -u
}

# Metavariables (ID, PUBFILE) in the text on stdin, lowercased, sorted.
metavars() {
	grep -oE '(^|[][ |(])[A-Z][A-Z0-9_]*' | sed -E 's/^[][ |(]//' | tr 'A-Z' 'a-z' | sort -u
}

# Fail, showing both sides, unless two lists are equal.
same() {
	if [ "$2" != "$3" ]; then
		echo "$1 differ:"
		diff <(echo "$2") <(echo "$3")
		return 1
	fi
}

@test "docs: every command has a man page, and am(1) lists every command" {
	local cmd
	for cmd in $(page_commands); do
		[ -f "$MAN/am-$cmd.1" ] || { echo "missing man/am-$cmd.1"; return 1; }
	done
	for cmd in $("$AM" help --commands); do
		grep -qE "^\.It Ic $cmd( |$)" "$MAN/am.1" || {
			echo "am(1) does not list '$cmd'"
			return 1
		}
	done
	[ -f "$MAN/am-ledger.5" ]
}

@test "docs: each SYNOPSIS agrees with the command's usage line" {
	local cmd syn use
	for cmd in $(page_commands); do
		syn=$(section "$MAN/am-$cmd.1" SYNOPSIS)
		use=$(usage_of "$cmd")
		[ -n "$syn" ] || { echo "am-$cmd.1 has no SYNOPSIS"; return 1; }
		echo "$syn" | grep -q "am $cmd" || {
			echo "am-$cmd.1 SYNOPSIS does not name 'am $cmd': $syn"
			return 1
		}
		same "am-$cmd(1) SYNOPSIS and 'am $cmd -h' options" \
			"$(echo "$syn" | opt_names)" "$(echo "$use" | opt_names)"
		same "am-$cmd(1) SYNOPSIS and 'am $cmd -h' arguments" \
			"$(echo "$syn" | metavars)" "$(echo "$use" | metavars)"
		# -h prints the same usage as "am help CMD".
		run "$AM" "$cmd" -h
		expect 0 "usage: am $cmd"
	done
	syn=$(section "$MAN/am.1" SYNOPSIS)
	use=$("$AM" -h | sed -n '1s/^usage: am//p')
	same "am(1) SYNOPSIS and 'am -h' options" \
		"$(echo "$syn" | opt_names)" "$(echo "$use" | opt_names)"
	same "am(1) SYNOPSIS and 'am -h' arguments" \
		"$(echo "$syn" | metavars)" "$(echo "$use" | metavars)"
}

@test "docs: the option names of each usage line are described in its page" {
	local cmd opt
	for cmd in $(page_commands); do
		for opt in $(usage_of "$cmd" | opt_names); do
			section "$MAN/am-$cmd.1" DESCRIPTION | grep -qE -- "(^|[ ,])$opt( |,|$)" || {
				echo "am-$cmd(1) does not describe $opt"
				return 1
			}
		done
	done
}

@test "docs: man pages have the required sections and am(1) the exit codes" {
	local page s v
	for page in "$MAN"/am.1 "$MAN"/am-*.1; do
		for s in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			render "$page" | grep -qx "$s" || { echo "${page##*/}: no $s"; return 1; }
		done
	done
	for v in AM_WORKSPACE AM_NOW XDG_STATE_HOME XDG_CONFIG_HOME HOME NO_COLOR; do
		section "$MAN/am.1" ENVIRONMENT | grep -qE "^ +$v " || {
			echo "am(1) ENVIRONMENT does not describe $v"
			return 1
		}
	done
	for v in 0 1 2 3 4 5 6 7 8; do
		section "$MAN/am.1" "EXIT STATUS" | grep -qE "^ +$v " || {
			echo "am(1) EXIT STATUS does not list $v"
			return 1
		}
	done
}

@test "docs: mandoc -Tlint -Wwarning is clean" {
	run mandoc -Tlint -Wwarning "$MAN"/*.[1-8]
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "completions: bash offers every command and each command's options" {
	local cmd opt
	source "$COMP/am.bash"
	COMP_WORDS=(am "")
	COMP_CWORD=1
	_am
	for cmd in $("$AM" help --commands); do
		[[ " ${COMPREPLY[*]} " == *" $cmd "* ]] || {
			echo "bash completion does not offer '$cmd': ${COMPREPLY[*]}"
			return 1
		}
	done
	COMP_WORDS=(am -C "$BATS_TEST_TMPDIR" --json "")
	COMP_CWORD=4
	_am
	[[ " ${COMPREPLY[*]} " == *" verify "* ]]
	for cmd in $("$AM" help --commands); do
		COMP_WORDS=(am "$cmd" -)
		COMP_CWORD=2
		_am
		for opt in $(usage_of "$cmd" | opt_names); do
			[[ " ${COMPREPLY[*]} " == *" $opt "* ]] || {
				echo "bash completion of 'am $cmd -' lacks $opt: ${COMPREPLY[*]}"
				return 1
			}
		done
	done
	COMP_WORDS=(am -)
	COMP_CWORD=1
	_am
	for opt in $("$AM" -h | sed -n 1p | opt_names); do
		[[ " ${COMPREPLY[*]} " == *" $opt "* ]] || {
			echo "bash completion of 'am -' lacks $opt: ${COMPREPLY[*]}"
			return 1
		}
	done
}

@test "completions: bash completes operation ids from the ledger" {
	init_ws
	source "$COMP/am.bash"
	local op
	op=$(am log -n 1 | awk '{ print $2 }')
	COMP_WORDS=(am show "")
	COMP_CWORD=2
	_am
	[ "${COMPREPLY[*]}" = "$op" ]
	COMP_WORDS=(am log --operation "${op:0:3}")
	COMP_CWORD=3
	_am
	[ "${COMPREPLY[*]}" = "$op" ]
}

@test "completions: zsh and fish name every command and option" {
	local cmd opt
	for cmd in $("$AM" help --commands); do
		grep -qE "^[[:space:]]*'$cmd:" "$COMP/_am" || {
			echo "_am does not offer '$cmd'"
			return 1
		}
		grep -qE "^complete -c am .*-a $cmd( |$)" "$COMP/am.fish" || {
			echo "am.fish does not offer '$cmd'"
			return 1
		}
		for opt in $(usage_of "$cmd" | opt_names); do
			grep -qE -- "(^|[^-[:alnum:]])$opt\[|[{,]$opt[,}]" "$COMP/_am" || {
				echo "_am lacks $opt for $cmd"
				return 1
			}
			# -n '__am_using CMD [VERB][; or ...]' ... -l OPT
			case $opt in
			--*) grep -qE -- "__am_using $cmd[ ';].* -l ${opt#--}( |$)" "$COMP/am.fish" ;;
			*) grep -qE -- "__am_using $cmd[ ';].* -s ${opt#-}( |$)" "$COMP/am.fish" ;;
			esac || {
				echo "am.fish lacks $opt for $cmd"
				return 1
			}
		done
	done
	grep -q '^#compdef am$' "$COMP/_am"
	if command -v zsh >/dev/null; then
		zsh -n "$COMP/_am"
	fi
	if command -v fish >/dev/null; then
		fish -n "$COMP/am.fish"
	fi
}

# The example commands of a page: the "$ " lines of its EXAMPLES section as
# rendered (so mdoc escapes are resolved), lines continuing them, and the
# body of a here-document a command ends with ("<<'EOF'" or "<<EOF"), with
# its indentation kept relative to the "$".
example_lines() {
	section "$1" EXAMPLES | awk -v q="'" '
		function heredoc() {
			if (match($0, "<<" q "?[A-Za-z_]+" q "?$")) {
				hd = substr($0, RSTART + 2, RLENGTH - 2)
				gsub(q, "", hd)
			}
		}
		hd != "" { l = substr($0, ind + 1); print l; if (l == hd) hd = ""; next }
		cont { sub(/^ +/, ""); print; cont = /\\$/; heredoc(); next }
		/^ +\$ / { ind = index($0, "$") - 1; sub(/^ +\$ /, ""); print; cont = /\\$/; heredoc() }'
}

# Run the examples of a page as one script, in a fresh HOME: in an empty
# directory if they make their own workspace (they run "am ... init"),
# else in a fresh workspace.  Every command must exit 0.
run_examples() {
	local page=$1 name=${1##*/} dir script line cmd='' hd='' here="<<'?([A-Za-z_]+)'?\$"
	dir="$BATS_TEST_TMPDIR/examples/$name"
	script="$dir/examples.sh"
	mkdir -p "$dir/home" "$dir/cwd"
	: >"$script"
	while IFS= read -r line; do
		cmd=${cmd:+$cmd$'\n'}$line
		if [ -n "$hd" ]; then
			[ "$line" = "$hd" ] || continue
			hd=''
		elif [[ $line =~ $here ]]; then
			hd=${BASH_REMATCH[1]}
			continue
		fi
		[[ $line == *\\ ]] && continue
		printf 'printf "%%s\\n" %q\n%s\nst=$?; [ $st -eq 0 ] || { echo "%s: example exited $st"; exit 1; }\n' \
			"\$ $cmd" "$cmd" "$name" >>"$script"
		cmd=''
	done < <(example_lines "$page")
	[ -s "$script" ] || { echo "$name: no examples"; return 1; }
	(
		export HOME="$dir/home"
		export XDG_STATE_HOME="$HOME/.local/state" XDG_CONFIG_HOME="$HOME/.config"
		export XDG_CACHE_HOME="$HOME/.cache"
		# PyJWT (am-delegation(7)) comes from Debian's python3-jwt (make
		# deps); a python3 earlier on PATH (pyenv, a venv) may lack it.
		if ! python3 -c 'import jwt' 2>/dev/null &&
			/usr/bin/python3 -c 'import jwt' 2>/dev/null; then
			mkdir -p "$dir/bin"
			ln -sf /usr/bin/python3 "$dir/bin/python3"
			PATH="$dir/bin:$PATH"
		fi
		cd "$dir/cwd"
		if ! example_lines "$page" | grep -qE '(^|[ ;&|(])am( [^ ]+)* init( |$)'; then
			am -q init . >/dev/null || exit 1
		fi
		bash "$script"
	)
}

@test "docs: the EXAMPLES of every man page run" {
	local page
	for page in "$MAN"/*.[1-8]; do
		run run_examples "$page"
		if [ "$status" -ne 0 ]; then
			echo "$output"
			return 1
		fi
	done
}

@test "docs: every command page and am-delegation(7) have runnable EXAMPLES" {
	local cmd
	for cmd in $(page_commands); do
		[ -n "$(example_lines "$MAN/am-$cmd.1")" ] || {
			echo "am-$cmd(1) has no runnable examples"
			return 1
		}
	done
	# The token interop example really runs PyJWT on am's tokens.
	example_lines "$MAN/am-delegation.7" | grep -q '^python3 check-token.py "\$C"$'
	example_lines "$MAN/am-delegation.7" | grep -qF 'jwt.decode(token, key, algorithms=["EdDSA"],'
}

@test "docs: am-delegation(7) describes the token and every budget dimension" {
	local s dims d
	for s in NAME DESCRIPTION EXAMPLES "SEE ALSO" STANDARDS; do
		render "$MAN/am-delegation.7" | grep -qx "$s" || { echo "am-delegation.7: no $s"; return 1; }
	done
	# The dimensions am knows, as its own error message lists them.
	run "$AM" delegation create --to x --operations y --budget nosuchdimension=1
	expect 2 "known: "
	dims=$(echo "$output" | sed -n 's/.*(known: \(.*\))$/\1/p' | tr -d ,)
	[ "$(echo $dims | wc -w)" -eq 8 ]
	for d in $dims; do
		section "$MAN/am-delegation.7" DESCRIPTION | grep -qw "$d" || {
			echo "am-delegation(7) does not name budget dimension $d"
			return 1
		}
		section "$MAN/am-delegation.1" DESCRIPTION | grep -qw "$d" || {
			echo "am-delegation(1) does not name budget dimension $d"
			return 1
		}
		grep -qw "$d" "$COMP/am.bash" "$COMP/_am" "$COMP/am.fish" || return 1
	done
	for s in EdDSA am-delegation+jwt kid iss sub aud iat nbf exp jti operations profile \
		tools modelProviders budget tenant prf tokenSha256 recordSignature; do
		section "$MAN/am-delegation.7" DESCRIPTION | grep -qw -- "$s" || {
			echo "am-delegation(7) does not describe $s"
			return 1
		}
	done
}
