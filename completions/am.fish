# fish completion for am(1)
#
# Install as $PREFIX/share/fish/vendor_completions.d/am.fish.  The command
# and option lists mirror the command table in cmd/am.c and each command's
# usage line; tests/02-docs.bats checks that they agree.

set -l am_commands init log show verify key trust delegation help version
set -l am_optypes agent_machine.workspace.init agent_machine.profile.create \
    agent_machine.execution.start agent_machine.execution.cancel \
    agent_machine.tool_grant.apply agent_machine.tool_grant.revoke \
    agent_machine.container.run agent_machine.model_provider.bind \
    agent_machine.diagnostics.export_redacted \
    agent_machine.delegation.create agent_machine.delegation.revoke \
    agent_machine.trust.add agent_machine.trust.remove
set -l am_budget_dims modelCalls= tokens= connectorCalls= cpuGpuComputeSeconds= \
    localDiskBytes= sandboxMemoryBytes= wallClockSeconds= agentConcurrency=

# The words after "am" and its global options: the command and its
# arguments.  (A verb such as "show" or "verify" is also a command name, so
# __fish_seen_subcommand_from cannot tell "am delegation verify" from
# "am verify".)
function __am_args
    set -l words (commandline -opc)
    set -e words[1]
    while set -q words[1]
        switch $words[1]
            case -C
                set -e words[1]
                set -q words[1]; and set -e words[1]
            case '-*'
                set -e words[1]
            case '*'
                break
        end
    end
    printf '%s\n' $words
end

# True if the command is $argv[1] and, given $argv[2], its verb is that.
function __am_using
    set -l a (__am_args)
    test "$a[1]" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    test "$a[2]" = "$argv[2]"
end

# True if the command is $argv[1] and it has no verb yet.
function __am_needs_verb
    set -l a (__am_args)
    test "$a[1]" = "$argv[1]"; and test (count $a) -eq 1
end

# Operation uuid prefixes of the workspace, as "am log" prints them.
function __am_operations
    am log 2>/dev/null | awk '{ print $2 }' | sort -u
end

# Delegation ids and principal names of the workspace.
function __am_delegations
    am delegation list 2>/dev/null | awk '{ print $1 }'
end

function __am_principals
    am trust list 2>/dev/null | awk '{ print $1 }'
end

# The words for the last element of a comma-separated list, after the
# elements already typed.
function __am_list -a words
    set -l tok (commandline -ct)
    set -l head (string replace -r '[^,]*$' '' -- $tok)
    for w in (string split ' ' -- $words)
        echo $head$w
    end
end

complete -c am -f

# Global options, before the command.
set -l nocmd "not __fish_seen_subcommand_from $am_commands"
complete -c am -n $nocmd -s C -x -a '(__fish_complete_directories)' -d 'Run as if am was started in DIR'
complete -c am -n $nocmd -l json -d 'Print one JSON document on standard output'
complete -c am -n $nocmd -s q -l quiet -d 'Print no informational messages'
complete -c am -n $nocmd -l no-color -d 'Do not colour output'
complete -c am -n $nocmd -s h -l help -d 'List the commands'
complete -c am -n $nocmd -l version -d 'Print the version'

# Commands.
complete -c am -n $nocmd -a init -d 'Create a workspace and its signed ledger'
complete -c am -n $nocmd -a log -d 'List ledger events, newest first'
complete -c am -n $nocmd -a show -d 'Print an artifact or an operation'
complete -c am -n $nocmd -a verify -d 'Check hashes, signatures, history and transitions'
complete -c am -n $nocmd -a key -d 'Generate and inspect OpenSSH ed25519 keys'
complete -c am -n $nocmd -a trust -d 'Add, list and remove trusted principals'
complete -c am -n $nocmd -a delegation -d 'Create, inspect, verify and revoke delegations'
complete -c am -n $nocmd -a help -d 'Show help for am or a command'
complete -c am -n $nocmd -a version -d 'Print the version'

# am init [--owner-key PUBFILE] [--owner-name NAME] [DIR]
complete -c am -n '__am_using init' -s h -l help -d 'Print the usage'
complete -c am -n '__am_using init' -l owner-key -r -F -d 'Trust this public key file as the owner'
complete -c am -n '__am_using init' -l owner-name -x -d 'Name of the owner principal'
complete -c am -n '__am_using init' -a '(__fish_complete_directories)'

# am log [--operation ID] [--type TYPE] [--since TIME] [-n N] [--json]
complete -c am -n '__am_using log' -s h -l help -d 'Print the usage'
complete -c am -n '__am_using log' -l operation -x -a '(__am_operations)' -d 'Only events of this operation'
complete -c am -n '__am_using log' -l type -x -a "$am_optypes" -d 'Only events of operations of this type'
complete -c am -n '__am_using log' -l since -x -d 'Only events since TIME (RFC 3339 or e.g. 2h)'
complete -c am -n '__am_using log' -s n -l max-count -x -d 'Show at most N events'
complete -c am -n '__am_using log' -l json -d 'Print a JSON array'

# am show [--json] ID
complete -c am -n '__am_using show' -s h -l help -d 'Print the usage'
complete -c am -n '__am_using show' -l json -d 'Print an operation as JSON'
complete -c am -n '__am_using show' -a '(__am_operations)' -d 'Operation'

# am verify
complete -c am -n '__am_using verify' -s h -l help -d 'Print the usage'
complete -c am -n '__am_using verify' -l json -d 'Print one JSON document'
complete -c am -n '__am_using verify' -s q -d 'Print nothing on success'

# am key generate [-C COMMENT] [FILE] | show FILE
complete -c am -n '__am_using key' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb key' -a generate -d 'Write a new ed25519 key pair'
complete -c am -n '__am_needs_verb key' -a show -d 'Print the fingerprint and public key of a key file'
complete -c am -n '__am_using key generate' -s C -x -d 'Comment stored in the key files'
complete -c am -n '__am_using key generate' -F
complete -c am -n '__am_using key show' -F

# am trust add PUBFILE --name NAME --role ROLE [--key FILE] | list [--json]
# | remove NAME [--key FILE]
complete -c am -n '__am_using trust' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb trust' -a add -d 'Trust a public key as a principal'
complete -c am -n '__am_needs_verb trust' -a list -d 'List the trusted principals'
complete -c am -n '__am_needs_verb trust' -a remove -d 'Stop trusting a principal'
complete -c am -n '__am_using trust add' -l name -x -d 'Name of the new principal'
complete -c am -n '__am_using trust add' -l role -x -a 'owner operator machine' -d 'Role of the new principal'
complete -c am -n '__am_using trust add' -F
complete -c am -n '__am_using trust list' -l json -d 'Print a JSON array'
complete -c am -n '__am_using trust remove' -a '(__am_principals)' -d 'Principal'
complete -c am -n '__am_using trust add; or __am_using trust remove' -l key -r -F -d 'Act with this owner key file'

# am delegation create ... | show [--json] ID | list [--json]
# | verify [--json] TOKEN|@FILE|- | revoke ID [--reason TEXT] [--key FILE | --delegation TOKEN]
complete -c am -n '__am_using delegation' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb delegation' -a create -d 'Create a delegation and print its token'
complete -c am -n '__am_needs_verb delegation' -a show -d 'Print a recorded delegation'
complete -c am -n '__am_needs_verb delegation' -a list -d 'List the recorded delegations'
complete -c am -n '__am_needs_verb delegation' -a verify -d 'Check a token and its chain'
complete -c am -n '__am_needs_verb delegation' -a revoke -d 'Revoke a delegation and its descendants'
complete -c am -n '__am_using delegation create' -l to -x -d 'Name of the delegate'
complete -c am -n '__am_using delegation create' -l operations -x -a "(__am_list '$am_optypes')" -d 'Operation types it allows'
complete -c am -n '__am_using delegation create' -l profile -x -d 'Policy profile it acts under'
complete -c am -n '__am_using delegation create' -l tools -x -d 'Tools it may use, comma-separated'
complete -c am -n '__am_using delegation create' -l model-providers -x -d 'Model providers it may use, comma-separated'
complete -c am -n '__am_using delegation create' -l budget -x -a "(__am_list '$am_budget_dims')" -d 'Upper bounds, k=v,...'
complete -c am -n '__am_using delegation create' -l expires -x -d 'Duration (8h, 7d) or RFC 3339 time'
complete -c am -n '__am_using delegation create' -l tenant -x -d 'Tenant it acts for'
complete -c am -n '__am_using delegation create; or __am_using delegation revoke' -l key -r -F -d 'Sign with this key file'
complete -c am -n '__am_using delegation create; or __am_using delegation revoke' -l delegation -x -d 'Act under this token (or @FILE)'
complete -c am -n '__am_using delegation show; or __am_using delegation list; or __am_using delegation verify' -l json -d 'Print JSON'
complete -c am -n '__am_using delegation show; or __am_using delegation revoke' -a '(__am_delegations)' -d 'Delegation'
complete -c am -n '__am_using delegation revoke' -l reason -x -d 'Why it is revoked'
complete -c am -n '__am_using delegation verify' -F

# am help [COMMAND], am version [--features]
complete -c am -n '__am_using help' -l commands -d 'Print the command names, one per line'
complete -c am -n '__am_using help' -a "$am_commands"
complete -c am -n '__am_using version' -l features -d 'Also print the library versions'
