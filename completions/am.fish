# fish completion for am(1)
#
# Install as $PREFIX/share/fish/vendor_completions.d/am.fish.  The command
# and option lists mirror the command table in cmd/am.c and each command's
# usage line; tests/02-docs.bats checks that they agree.

set -l am_commands init log show verify key trust delegation profile policy tool-grant \
    execution help version
set -l am_optypes agent_machine.workspace.init agent_machine.profile.create \
    agent_machine.execution.start agent_machine.execution.cancel \
    agent_machine.tool_grant.apply agent_machine.tool_grant.revoke \
    agent_machine.container.run agent_machine.model_provider.bind \
    agent_machine.diagnostics.export_redacted \
    agent_machine.delegation.create agent_machine.delegation.revoke \
    agent_machine.trust.add agent_machine.trust.remove
set -l am_budget_dims modelCalls= tokens= connectorCalls= cpuGpuComputeSeconds= \
    localDiskBytes= sandboxMemoryBytes= wallClockSeconds= agentConcurrency=
set -l am_profile_types personal corporate_firewall multi_corporate_firewall \
    local_model_provider hosted_model_provider airgapped_local_only user_owned_model
set -l am_actions toolGrant networkProfile modelProviderUse containerExecution \
    artifactAccess tool.execute network.connect model.invoke container.run \
    artifact.read agent_machine.tool_grant.apply agent_machine.model_provider.bind \
    agent_machine.container.run
set -l am_states queued preflighting running paused retrying canceling canceled \
    failed completed completed_with_warnings blocked awaiting_decision compensated

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

# Profile names, tool grant uuids, and execution uuid prefixes (from the log).
function __am_profiles
    am profile list 2>/dev/null | awk '{ print $1 }'
end

function __am_grants
    am tool-grant list 2>/dev/null | awk '{ print $1 }'
end

function __am_executions
    am log --type agent_machine.execution.start 2>/dev/null | awk '{ print $2 }' | sort -u
end

# True in "am execution start ... --": the command and its arguments follow.
function __am_after_dashdash
    set -l a (__am_args)
    test "$a[1]" = execution; and test "$a[2]" = start; and contains -- -- $a
end

# Complete the command after "--" and its arguments.
function __am_complete_command
    set -l words (commandline -opc) (commandline -ct)
    set -l i (contains -i -- -- $words)
    __fish_complete_subcommand --commandline $words[(math $i + 1)..-1]
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
complete -c am -n $nocmd -a profile -d 'Create, inspect, compare and check policy profiles'
complete -c am -n $nocmd -a policy -d 'Check requests against a profile, explain decisions'
complete -c am -n $nocmd -a tool-grant -d 'Apply, revoke and inspect tool grants'
complete -c am -n $nocmd -a execution -d 'Run an agent contained, under delegation, profile and budget'
complete -c am -n $nocmd -a diagnostics -d 'Export a redacted bundle, scan for secrets, check a bundle'
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

# am profile create NAME --type TYPE [--from FILE] [--set PATH=VALUE ...]
# [--key FILE | --delegation TOKEN] | list [--json] | show NAME [--layers]
# [--json] | diff A B [--json] | check FILE [--layer] [--json] | export NAME
complete -c am -n '__am_using profile' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb profile' -a create -d 'Validate and record a profile'
complete -c am -n '__am_needs_verb profile' -a list -d 'List the templates and recorded profiles'
complete -c am -n '__am_needs_verb profile' -a show -d 'Print a resolved profile'
complete -c am -n '__am_needs_verb profile' -a diff -d 'Print the values in which two profiles differ'
complete -c am -n '__am_needs_verb profile' -a check -d 'Check a profile file'
complete -c am -n '__am_needs_verb profile' -a export -d 'Print a profile as an AgentMachineProfile'
complete -c am -n '__am_using profile create' -l type -x -a "$am_profile_types" -d 'Profile type'
complete -c am -n '__am_using profile create' -l from -r -F -d 'Start from this profile file'
complete -c am -n '__am_using profile create' -l set -x -d 'Set a key, PATH=VALUE'
complete -c am -n '__am_using profile create' -l key -r -F -d 'Act with this key file'
complete -c am -n '__am_using profile create' -l delegation -x -d 'Act under this token (or @FILE)'
complete -c am -n '__am_using profile show' -l layers -d 'Show the layer each value came from'
complete -c am -n '__am_using profile check' -l layer -d 'Check a user or enterprise layer'
complete -c am -n '__am_using profile list; or __am_using profile show; or __am_using profile diff; or __am_using profile check' -l json -d 'Print JSON'
complete -c am -n '__am_using profile show; or __am_using profile diff; or __am_using profile export' -a '(__am_profiles)' -d 'Profile'
complete -c am -n '__am_using profile check' -F

# am policy check --profile NAME --action ACTION --resource R [--tenant T]
# [--json] | explain [--json] OPERATION
complete -c am -n '__am_using policy' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb policy' -a check -d 'Decide one request against a profile'
complete -c am -n '__am_needs_verb policy' -a explain -d 'Print the decisions an operation went through'
complete -c am -n '__am_using policy check' -l profile -x -a '(__am_profiles)' -d 'Profile to decide with'
complete -c am -n '__am_using policy check' -l action -x -a "$am_actions" -d 'Gate, action or operation type'
complete -c am -n '__am_using policy check' -l resource -x -d 'Tool, host:port, URL, image or artifact kind'
complete -c am -n '__am_using policy check' -l tenant -x -d 'Tenant of the request'
complete -c am -n '__am_using policy check; or __am_using policy explain' -l json -d 'Print JSON'
complete -c am -n '__am_using policy explain' -a '(__am_operations)' -d 'Operation'

# am tool-grant apply TOOL --to DELEGATE [--profile NAME] [--expires D]
# [--tenant T] [--key FILE | --delegation TOKEN] | revoke GRANT_ID
# [--reason TEXT] [--tenant T] [--key FILE | --delegation TOKEN]
# | list [--active] [--tenant T] [--json] | show GRANT_ID [--tenant T] [--json]
# | check TOOL --to DELEGATE [--tenant T] [--json]
complete -c am -n '__am_using tool-grant' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb tool-grant' -a apply -d 'Grant a tool to a delegate'
complete -c am -n '__am_needs_verb tool-grant' -a revoke -d 'Revoke a grant'
complete -c am -n '__am_needs_verb tool-grant' -a list -d 'List the grants'
complete -c am -n '__am_needs_verb tool-grant' -a show -d 'Print a grant'
complete -c am -n '__am_needs_verb tool-grant' -a check -d 'Say whether a delegate may execute a tool'
complete -c am -n '__am_using tool-grant apply; or __am_using tool-grant check' -l to -x -d 'Delegate'
complete -c am -n '__am_using tool-grant apply' -l profile -x -a '(__am_profiles)' -d 'Profile that decides the grant'
complete -c am -n '__am_using tool-grant apply' -l expires -x -d 'Duration (8h, 7d) or RFC 3339 time'
complete -c am -n '__am_using tool-grant apply; or __am_using tool-grant revoke' -l key -r -F -d 'Act with this key file'
complete -c am -n '__am_using tool-grant apply; or __am_using tool-grant revoke' -l delegation -x -d 'Act under this token (or @FILE)'
complete -c am -n '__am_using tool-grant revoke' -l reason -x -d 'Why it is revoked'
complete -c am -n '__am_using tool-grant list' -l active -d 'Only grants neither revoked nor expired'
complete -c am -n '__am_using tool-grant apply; or __am_using tool-grant revoke; or __am_using tool-grant list; or __am_using tool-grant show; or __am_using tool-grant check' -l tenant -x -d 'Tenant of the grants'
complete -c am -n '__am_using tool-grant list; or __am_using tool-grant show; or __am_using tool-grant check' -l json -d 'Print JSON'
complete -c am -n '__am_using tool-grant apply; or __am_using tool-grant check' -a '(__fish_complete_command)' -d 'Tool'
complete -c am -n '__am_using tool-grant revoke; or __am_using tool-grant show' -a '(__am_grants)' -d 'Tool grant'

# am execution start [options] -- COMMAND [ARGS...] | status [--json] ID
# | list [--state S] [--json] | wait ID | logs ID [--follow] [--stderr]
# | progress [--percent N] [--message M] | cancel ID [--grace S]
# [--key FILE | --delegation TOKEN]
complete -c am -n '__am_using execution; and not __am_after_dashdash' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb execution' -a start -d 'Run a command contained'
complete -c am -n '__am_needs_verb execution' -a status -d 'Print the state of an execution'
complete -c am -n '__am_needs_verb execution' -a list -d 'List the executions'
complete -c am -n '__am_needs_verb execution' -a wait -d 'Wait for an execution to end'
complete -c am -n '__am_needs_verb execution' -a logs -d 'Print the output of an execution'
complete -c am -n '__am_needs_verb execution' -a progress -d 'Report progress from inside an execution'
complete -c am -n '__am_needs_verb execution' -a cancel -d 'Cancel a running execution'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l profile -x -a '(__am_profiles)' -d 'Profile to run under'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l budget -x -a "(__am_list '$am_budget_dims')" -d 'What it asks for, k=v,...'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l detach -d 'Run in the background, print the operation id'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l retries -x -d 'Run a failed attempt again up to N times'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l idempotency-key -x -d 'Key that names this execution'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l name -x -d 'Label recorded with it'
complete -c am -n '__am_using execution start; and not __am_after_dashdash' -l dry-run -d 'Print the plan and exit'
complete -c am -n '__am_using execution start; and not __am_after_dashdash; or __am_using execution cancel' -l grace -x -d 'Seconds between SIGTERM and SIGKILL'
complete -c am -n '__am_using execution start; and not __am_after_dashdash; or __am_using execution cancel' -l key -r -F -d 'Act with this key file'
complete -c am -n '__am_using execution start; and not __am_after_dashdash; or __am_using execution cancel' -l delegation -x -d 'Act under this token (or @FILE)'
complete -c am -n '__am_after_dashdash' -a '(__am_complete_command)'
complete -c am -n '__am_using execution status; or __am_using execution list' -l json -d 'Print JSON'
complete -c am -n '__am_using execution list' -l state -x -a "$am_states" -d 'Only executions in this state'
complete -c am -n '__am_using execution logs' -s f -l follow -d 'Keep printing until it ends'
complete -c am -n '__am_using execution logs' -l stderr -d 'Print the standard error'
complete -c am -n '__am_using execution progress' -l percent -x -d 'How far the work is, 0 to 100'
complete -c am -n '__am_using execution progress' -l message -x -d 'What the command is doing'
complete -c am -n '__am_using execution status; or __am_using execution wait; or __am_using execution logs; or __am_using execution cancel' -a '(__am_executions)' -d 'Execution'

# am help [COMMAND], am version [--features]
complete -c am -n '__am_using help' -l commands -d 'Print the command names, one per line'
complete -c am -n '__am_using help' -a "$am_commands"
complete -c am -n '__am_using version' -l features -d 'Also print library versions and sandbox features'

# am diagnostics export-redacted [-o FILE.tar.zst] [--operation ID] [--since TIME]
# [--key FILE | --delegation TOKEN] | scan [--json] PATH...|- | verify [--json] FILE.tar.zst
complete -c am -n '__am_using diagnostics' -s h -l help -d 'Print the usage'
complete -c am -n '__am_needs_verb diagnostics' -a export-redacted -d 'Write a redacted diagnostic bundle'
complete -c am -n '__am_needs_verb diagnostics' -a scan -d 'Find secrets in files, directories or stdin'
complete -c am -n '__am_needs_verb diagnostics' -a verify -d 'Re-check a bundle'
complete -c am -n '__am_using diagnostics export-redacted' -s o -r -F -d 'Write the bundle to this file'
complete -c am -n '__am_using diagnostics export-redacted' -l operation -x -a '(__am_operations)' -d 'Only this operation'
complete -c am -n '__am_using diagnostics export-redacted' -l since -x -d 'Only what changed since TIME or a duration'
complete -c am -n '__am_using diagnostics export-redacted' -l key -r -F -d 'Act with this key file'
complete -c am -n '__am_using diagnostics export-redacted' -l delegation -x -d 'Act under this token (or @FILE)'
complete -c am -n '__am_using diagnostics scan; or __am_using diagnostics verify' -l json -d 'Print JSON'
complete -c am -n '__am_using diagnostics scan; or __am_using diagnostics verify' -F
