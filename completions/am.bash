# bash completion for am(1)                                  -*- shell-script -*-
#
# Install as $PREFIX/share/bash-completion/completions/am, or source it.
# The command and option lists mirror the command table in cmd/am.c and
# each command's usage line; tests/02-docs.bats checks that they agree.
# Needs nothing from the bash-completion package.

_am_commands='init log show verify key trust delegation profile policy tool-grant
execution diagnostics help version'
_am_global_opts='-C --json -q --quiet --no-color -h --help --version'
_am_optypes='agent_machine.workspace.init agent_machine.profile.create
agent_machine.execution.start agent_machine.execution.cancel
agent_machine.tool_grant.apply agent_machine.tool_grant.revoke
agent_machine.container.run agent_machine.model_provider.bind
agent_machine.diagnostics.export_redacted
agent_machine.delegation.create agent_machine.delegation.revoke
agent_machine.trust.add agent_machine.trust.remove'
_am_budget_dims='modelCalls tokens connectorCalls cpuGpuComputeSeconds
localDiskBytes sandboxMemoryBytes wallClockSeconds agentConcurrency'
_am_profile_types='personal corporate_firewall multi_corporate_firewall
local_model_provider hosted_model_provider airgapped_local_only user_owned_model'
_am_actions='toolGrant networkProfile modelProviderUse containerExecution
artifactAccess tool.execute network.connect model.invoke container.run
artifact.read agent_machine.tool_grant.apply agent_machine.model_provider.bind
agent_machine.container.run'
_am_states='queued preflighting running paused retrying canceling canceled
failed completed completed_with_warnings blocked awaiting_decision compensated'

# The verbs of a command that has them.
_am_verbs()
{
	case $1 in
	key) echo 'generate show' ;;
	trust) echo 'add list remove' ;;
	delegation) echo 'create show list verify revoke' ;;
	profile) echo 'create list show diff check export' ;;
	policy) echo 'check explain' ;;
	tool-grant) echo 'apply revoke list show check' ;;
	execution) echo 'start status list wait logs progress cancel' ;;
	diagnostics) echo 'export-redacted scan verify' ;;
	esac
}

# Options of one command (after "am COMMAND"), or of one of its verbs; with
# no verb yet, those of all its verbs.
_am_cmd_opts()
{
	case $1:$2 in
	init:*) echo '--owner-key --owner-name -h --help' ;;
	log:*) echo '--operation --type --since -n --max-count --json -h --help' ;;
	show:*) echo '--json -h --help' ;;
	verify:*) echo '--json -q -h --help' ;;
	key:generate) echo '-C' ;;
	key:show) ;;
	key:*) echo '-C -h --help' ;;
	trust:add) echo '--name --role --key' ;;
	trust:list) echo '--json' ;;
	trust:remove) echo '--key' ;;
	trust:*) echo '--name --role --key --json -h --help' ;;
	delegation:create)
		echo '--to --operations --profile --tools --model-providers --budget' \
			'--expires --tenant --key --delegation'
		;;
	delegation:show | delegation:list | delegation:verify) echo '--json' ;;
	delegation:revoke) echo '--reason --key --delegation' ;;
	delegation:*)
		echo '--to --operations --profile --tools --model-providers --budget' \
			'--expires --tenant --key --delegation --reason --json -h --help'
		;;
	profile:create) echo '--type --from --set --key --delegation' ;;
	profile:list | profile:diff) echo '--json' ;;
	profile:show) echo '--layers --json' ;;
	profile:check) echo '--layer --json' ;;
	profile:export) ;;
	profile:*)
		echo '--type --from --set --key --delegation --layers --layer --json' \
			'-h --help'
		;;
	policy:check) echo '--profile --action --resource --tenant --json' ;;
	policy:explain) echo '--json' ;;
	policy:*) echo '--profile --action --resource --tenant --json -h --help' ;;
	tool-grant:apply) echo '--to --profile --expires --tenant --key --delegation' ;;
	tool-grant:revoke) echo '--reason --tenant --key --delegation' ;;
	tool-grant:list) echo '--active --tenant --json' ;;
	tool-grant:show) echo '--tenant --json' ;;
	tool-grant:check) echo '--to --tenant --json' ;;
	tool-grant:*)
		echo '--to --profile --expires --tenant --key --delegation --reason' \
			'--active --json -h --help'
		;;
	execution:start)
		echo '--profile --budget --detach --retries --idempotency-key --name' \
			'--grace --dry-run --key --delegation'
		;;
	execution:status) echo '--json' ;;
	execution:list) echo '--state --json' ;;
	execution:wait) ;;
	execution:logs) echo '--follow -f --stderr' ;;
	execution:progress) echo '--percent --message' ;;
	execution:cancel) echo '--grace --key --delegation' ;;
	execution:*)
		echo '--profile --budget --detach --retries --idempotency-key --name' \
			'--grace --dry-run --key --delegation --json --state --follow -f' \
			'--stderr --percent --message -h --help'
		;;
	diagnostics:export-redacted) echo '-o --operation --since --key --delegation' ;;
	diagnostics:scan | diagnostics:verify) echo '--json' ;;
	diagnostics:*) echo '-o --operation --since --key --delegation --json -h --help' ;;
	help:*) echo '--commands' ;;
	version:*) echo '--features' ;;
	esac
}

# Operation uuid prefixes of the workspace (as "am log" prints them);
# "$@" holds any -C DIR given before the command.
_am_operations()
{
	am "$@" log 2>/dev/null | awk '{ print $2 }' | sort -u
}

# Delegation ids and principal names of the workspace.
_am_delegations()
{
	am "$@" delegation list 2>/dev/null | awk '{ print $1 }'
}

_am_principals()
{
	am "$@" trust list 2>/dev/null | awk '{ print $1 }'
}

# Profile names (templates and recorded), tool grant uuids, and the uuid
# prefixes of executions (from the log, which reading never changes).
_am_profiles()
{
	am "$@" profile list 2>/dev/null | awk '{ print $1 }'
}

_am_grants()
{
	am "$@" tool-grant list 2>/dev/null | awk '{ print $1 }'
}

_am_executions()
{
	am "$@" log --type agent_machine.execution.start 2>/dev/null |
		awk '{ print $2 }' | sort -u
}

# Set COMPREPLY to the words of $1 that start with the current word.
_am_reply()
{
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

# Complete the last element of a comma-separated list from the words of $1.
_am_reply_list()
{
	local IFS=$' \t\n' head='' last=$cur
	if [[ $cur == *,* ]]; then
		head=${cur%,*},
		last=${cur##*,}
	fi
	COMPREPLY=($(compgen -P "$head" -W "$1" -- "$last"))
	compopt -o nospace 2>/dev/null
}

_am_files()
{
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$cur"))
}

_am()
{
	local cur prev cmd='' verb='' i=1 n
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
	n=$((COMP_CWORD - i)) # position of the current word after the command
	if [ -n "$(_am_verbs "$cmd")" ] && [ "$n" -gt 1 ]; then
		verb=${COMP_WORDS[i+1]}
	fi

	# am execution start ... -- COMMAND [ARGS...]: a command, then files.
	if [ "$cmd:$verb" = execution:start ]; then
		local j=$((i + 2))
		while [ "$j" -lt "$COMP_CWORD" ]; do
			if [ "${COMP_WORDS[j]}" = -- ]; then
				if [ "$j" -eq $((COMP_CWORD - 1)) ]; then
					COMPREPLY=($(compgen -c -- "$cur" | sort -u))
				else
					_am_files
				fi
				return 0
			fi
			j=$((j + 1))
		done
	fi

	case $cmd:$prev in
	init:--owner-key | *:--key | profile:--from | diagnostics:-o)
		_am_files
		return 0
		;;
	init:--owner-name | log:--since | diagnostics:--since | log:-n | log:--max-count | key:-C | \
		trust:--name | delegation:--to | \
		delegation:--tools | delegation:--model-providers | \
		*:--expires | *:--tenant | *:--reason | profile:--set | \
		policy:--resource | tool-grant:--to | execution:--retries | \
		execution:--idempotency-key | execution:--name | *:--grace | \
		execution:--percent | execution:--message)
		return 0
		;;
	*:--profile)
		_am_reply "$(_am_profiles "${cdir[@]}")"
		return 0
		;;
	profile:--type)
		_am_reply "$_am_profile_types"
		return 0
		;;
	policy:--action)
		_am_reply "$_am_actions"
		return 0
		;;
	execution:--state)
		_am_reply "$_am_states"
		return 0
		;;
	log:--operation | diagnostics:--operation)
		_am_reply "$(_am_operations "${cdir[@]}")"
		return 0
		;;
	log:--type)
		_am_reply "$_am_optypes"
		return 0
		;;
	trust:--role)
		_am_reply 'owner operator machine'
		return 0
		;;
	delegation:--operations)
		_am_reply_list "$_am_optypes"
		return 0
		;;
	delegation:--budget | execution:--budget)
		_am_reply_list "$(printf '%s= ' $_am_budget_dims)"
		return 0
		;;
	*:--delegation)
		# A token file, as @FILE.
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -P @ -f -- "${cur#@}"))
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		_am_reply "$(_am_cmd_opts "$cmd" "$verb")"
		return 0
	fi
	if [ -n "$(_am_verbs "$cmd")" ] && [ "$n" -eq 1 ]; then
		_am_reply "$(_am_verbs "$cmd")"
		return 0
	fi
	case $cmd:$verb in
	init:*)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		;;
	show:*)
		_am_reply "$(_am_operations "${cdir[@]}")"
		;;
	help:*)
		[ "$n" -eq 1 ] && _am_reply "$_am_commands"
		;;
	key:generate | key:show | trust:add | delegation:verify)
		_am_files
		;;
	trust:remove)
		_am_reply "$(_am_principals "${cdir[@]}")"
		;;
	delegation:show | delegation:revoke)
		_am_reply "$(_am_delegations "${cdir[@]}")"
		;;
	profile:show | profile:diff | profile:export)
		_am_reply "$(_am_profiles "${cdir[@]}")"
		;;
	profile:check)
		_am_files
		;;
	policy:explain)
		_am_reply "$(_am_operations "${cdir[@]}")"
		;;
	tool-grant:apply | tool-grant:check)
		COMPREPLY=($(compgen -c -- "$cur" | sort -u))
		;;
	tool-grant:revoke | tool-grant:show)
		_am_reply "$(_am_grants "${cdir[@]}")"
		;;
	execution:status | execution:wait | execution:logs | execution:cancel)
		_am_reply "$(_am_executions "${cdir[@]}")"
		;;
	execution:start)
		COMPREPLY=($(compgen -W -- -- "$cur"))
		;;
	esac
	return 0
}

complete -F _am am
