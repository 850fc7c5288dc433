# fish completion for am(1)
#
# Install as $PREFIX/share/fish/vendor_completions.d/am.fish.  The command
# and option lists mirror the command table in cmd/am.c and each command's
# usage line; tests/02-docs.bats checks that they agree.

set -l am_commands init log show verify help version
set -l am_optypes agent_machine.workspace.init agent_machine.profile.create \
    agent_machine.execution.start agent_machine.execution.cancel \
    agent_machine.tool_grant.apply agent_machine.tool_grant.revoke \
    agent_machine.container.run agent_machine.model_provider.bind \
    agent_machine.diagnostics.export_redacted

# Operation uuid prefixes of the workspace, as "am log" prints them.
function __am_operations
    am log 2>/dev/null | awk '{ print $2 }' | sort -u
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
complete -c am -n $nocmd -a help -d 'Show help for am or a command'
complete -c am -n $nocmd -a version -d 'Print the version'

# am init [--owner-key PUBFILE] [--owner-name NAME] [DIR]
complete -c am -n '__fish_seen_subcommand_from init' -s h -l help -d 'Print the usage'
complete -c am -n '__fish_seen_subcommand_from init' -l owner-key -r -F -d 'Trust this public key file as the owner'
complete -c am -n '__fish_seen_subcommand_from init' -l owner-name -x -d 'Name of the owner principal'
complete -c am -n '__fish_seen_subcommand_from init' -a '(__fish_complete_directories)'

# am log [--operation ID] [--type TYPE] [--since TIME] [-n N] [--json]
complete -c am -n '__fish_seen_subcommand_from log' -s h -l help -d 'Print the usage'
complete -c am -n '__fish_seen_subcommand_from log' -l operation -x -a '(__am_operations)' -d 'Only events of this operation'
complete -c am -n '__fish_seen_subcommand_from log' -l type -x -a "$am_optypes" -d 'Only events of operations of this type'
complete -c am -n '__fish_seen_subcommand_from log' -l since -x -d 'Only events since TIME (RFC 3339 or e.g. 2h)'
complete -c am -n '__fish_seen_subcommand_from log' -s n -l max-count -x -d 'Show at most N events'
complete -c am -n '__fish_seen_subcommand_from log' -l json -d 'Print a JSON array'

# am show [--json] ID
complete -c am -n '__fish_seen_subcommand_from show' -s h -l help -d 'Print the usage'
complete -c am -n '__fish_seen_subcommand_from show' -l json -d 'Print an operation as JSON'
complete -c am -n '__fish_seen_subcommand_from show' -a '(__am_operations)' -d 'Operation'

# am verify
complete -c am -n '__fish_seen_subcommand_from verify' -s h -l help -d 'Print the usage'
complete -c am -n '__fish_seen_subcommand_from verify' -l json -d 'Print one JSON document'
complete -c am -n '__fish_seen_subcommand_from verify' -s q -d 'Print nothing on success'

# am help [COMMAND], am version [--features]
complete -c am -n '__fish_seen_subcommand_from help' -l commands -d 'Print the command names, one per line'
complete -c am -n '__fish_seen_subcommand_from help' -a "$am_commands"
complete -c am -n '__fish_seen_subcommand_from version' -l features -d 'Also print the library versions'
