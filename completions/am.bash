# bash completion for am(1)                                  -*- shell-script -*-
#
# Install as $PREFIX/share/bash-completion/completions/am, or source it.
# The command and option lists mirror the command table in cmd/am.c and
# each command's usage line; tests/02-docs.bats checks that they agree.
# Needs nothing from the bash-completion package.

_am_commands='init log show verify help version'
_am_global_opts='-C --json -q --quiet --no-color -h --help --version'
_am_optypes='agent_machine.workspace.init agent_machine.profile.create
agent_machine.execution.start agent_machine.execution.cancel
agent_machine.tool_grant.apply agent_machine.tool_grant.revoke
agent_machine.container.run agent_machine.model_provider.bind
agent_machine.diagnostics.export_redacted'

# Options of one command (after "am COMMAND").
_am_cmd_opts()
{
	case $1 in
	init) echo '--owner-key --owner-name -h --help' ;;
	log) echo '--operation --type --since -n --max-count --json -h --help' ;;
	show) echo '--json -h --help' ;;
	verify) echo '--json -q -h --help' ;;
	help) echo '--commands' ;;
	version) echo '--features' ;;
	esac
}

# Operation uuid prefixes of the workspace (as "am log" prints them);
# "$@" holds any -C DIR given before the command.
_am_operations()
{
	am "$@" log 2>/dev/null | awk '{ print $2 }' | sort -u
}

# Set COMPREPLY to the words of $1 that start with the current word.
_am_reply()
{
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_am()
{
	local cur prev cmd='' i=1 n
	local -a cdir=()

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=''
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}

	# Global options come first; the first other word is the command.
	while [ "$i" -lt "$COMP_CWORD" ]; do
		case ${COMP_WORDS[i]} in
		-C)
			cdir=(-C "${COMP_WORDS[i+1]}")
			i=$((i + 2))
			continue
			;;
		-C?*) cdir=("${COMP_WORDS[i]}") ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
		i=$((i + 1))
	done

	if [ -z "$cmd" ]; then
		if [ "$prev" = -C ]; then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -d -- "$cur"))
		elif [[ $cur == -* ]]; then
			_am_reply "$_am_global_opts"
		else
			_am_reply "$_am_commands"
		fi
		return 0
	fi

	case $cmd:$prev in
	init:--owner-key)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	init:--owner-name | log:--since | log:-n | log:--max-count)
		return 0
		;;
	log:--operation)
		_am_reply "$(_am_operations "${cdir[@]}")"
		return 0
		;;
	log:--type)
		_am_reply "$_am_optypes"
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		_am_reply "$(_am_cmd_opts "$cmd")"
		return 0
	fi
	n=$((COMP_CWORD - i)) # position of the current word after the command
	case $cmd in
	init)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		;;
	show)
		_am_reply "$(_am_operations "${cdir[@]}")"
		;;
	help)
		[ "$n" -eq 1 ] && _am_reply "$_am_commands"
		;;
	esac
	return 0
}

complete -F _am am
