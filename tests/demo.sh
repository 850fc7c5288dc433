#!/bin/sh
# make demo: am's main job, end to end, in a throw-away HOME.
# Each step prints the command it runs; the demo stops at the first failure.
set -eu
AM_TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH="$AM_TOP:$PATH"
D=$(mktemp -d /tmp/am-demo.XXXXXX)
export HOME="$D/home" XDG_STATE_HOME="$D/home/.local/state" XDG_CONFIG_HOME="$D/home/.config"
export XDG_CACHE_HOME="$D/home/.cache"
unset AM_KEY AM_DELEGATION AM_WORKSPACE SSH_AUTH_SOCK
mkdir -p "$HOME"
WS="$D/workspace"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# show LINE CMD...: print LINE as the command, run CMD (for long tokens).
show() { printf '$ %s\n' "$1"; shift; "$@"; }
refused() { # refused LINE CMD...: a command that must be refused; show its exit code
	printf '$ %s\n' "$1"; shift
	rc=0; "$@" || rc=$?
	if [ "$rc" -eq 0 ]; then echo "demo: expected a refusal" >&2; exit 1; fi
	echo "(refused, exit $rc)"
}

step "am init: a workspace whose ledger is a signed git repository"
run am init "$WS"
cd "$WS"
OWNER="$XDG_CONFIG_HOME/am/owner_ed25519"

step "the init operation is itself a recorded, signed commit"
run am log
OP=$(am --json log | sed -n 's/.*"operationId": "\(.*\)".*/\1/p' | head -1)
run am show "$OP"

step "plain git accepts the ledger's signatures"
git -C .am/ledger.git show refs/am/ledger:allowed_signers > "$D/allowed_signers"
run git -C .am/ledger.git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$D/allowed_signers" \
	verify-commit refs/am/ledger

step "no ambient authority: a delegation for an agent, signed by the owner"
printf '$ T=$(am delegation create --to coder --operations agent_machine.execution.start \\\n'
printf '      --profile personal --tools git,make --budget tokens=100000,wallClockSeconds=30m \\\n'
printf '      --expires 8h --key %s)\n' "$OWNER"
T=$(am delegation create --to coder --operations agent_machine.execution.start \
	--profile personal --tools git,make --budget tokens=100000,wallClockSeconds=30m \
	--expires 8h --key "$OWNER")
echo "$T" | cut -c1-72 | sed 's/$/.../'
show 'am delegation verify "$T"' am delegation verify "$T"

step "the agent narrows it for a sub-agent; anything wider is refused"
printf '$ C=$(am delegation create --to coder/tests --operations agent_machine.execution.start \\\n'
printf '      --tools make --budget tokens=5000 --delegation "$T")\n'
C=$(am delegation create --to coder/tests --operations agent_machine.execution.start \
	--tools make --budget tokens=5000 --delegation "$T")
show 'am delegation verify "$C"' am delegation verify "$C"
refused 'am delegation create --to coder/tests --operations agent_machine.container.run --delegation "$T"' \
	am delegation create --to coder/tests --operations agent_machine.container.run --delegation "$T"
refused 'am delegation create --to coder/tests --operations agent_machine.execution.start --budget tokens=999999 --delegation "$T"' \
	am delegation create --to coder/tests --operations agent_machine.execution.start \
	--budget tokens=999999 --delegation "$T"
refused 'am trust add coder.pub --name coder --role operator    # no --key: no authority' \
	am trust add "$XDG_CONFIG_HOME/am/owner_ed25519.pub" --name coder --role operator

step "revoking the parent stops the child at once"
ID=$(am --json delegation verify "$T" | sed -n 's/^  "id": "\(.*\)".*/\1/p')
run am delegation revoke "$ID" --reason "demo" --key "$OWNER"
refused 'am delegation verify "$C"' am delegation verify "$C"
run am delegation list

step "profiles: a corporate profile under an enterprise layer the user cannot override"
MANAGED="$D/managed.d"
mkdir -p "$MANAGED"
cat > "$MANAGED/00-corp.json" <<'JSON'
{
  "appliesTo": ["corporate_firewall"],
  "tools": { "forbid": ["curl", "wget"] },
  "budget": { "wallClockSeconds": 1800 },
  "locked": ["network.mode", "budget.wallClockSeconds"]
}
JSON
chmod 0644 "$MANAGED/00-corp.json"
if [ "$(id -u)" = 0 ]; then
	export AM_MANAGED_DIR="$MANAGED"
	printf '$ export AM_MANAGED_DIR=%s    # root-owned, not group/other-writable\n' "$MANAGED"
else
	echo "(not root: enterprise files must be root-owned, so this demo skips the enterprise layer)"
fi
run am profile create corp --type corporate_firewall --set budget.tokens=500000 --key "$OWNER"
run am profile show corp --layers
refused 'am profile create corp2 --type corporate_firewall --set network.mode=open --key ...' \
	am profile create corp2 --type corporate_firewall --set network.mode=open --key "$OWNER"
run am policy check --profile corp --action network.connect --resource git.corp.example:443
refused 'am policy check --profile corp --action network.connect --resource example.org:443' \
	am policy check --profile corp --action network.connect --resource example.org:443

step "tool grants: a permitted and a refused grant, each with its decision explained"
run am tool-grant apply git --to coder --profile corp --key "$OWNER"
GRANT=$(am --json tool-grant list | sed -n 's/.*"id": "\(.*\)".*/\1/p' | head -1)
refused 'am tool-grant apply curl --to coder --profile corp --key ...' \
	am tool-grant apply curl --to coder --profile corp --key "$OWNER"
for OPID in $(am --json log --type agent_machine.tool_grant.apply | sed -n 's/.*"operationId": "\(.*\)".*/\1/p' | sort -u); do
	run am policy explain "$OPID"
done
run am tool-grant revoke "$GRANT" --reason "demo" --key "$OWNER"
run am tool-grant list

step "the main job: a governed run of a sample agent under the personal profile"
mkdir -p "$HOME/.ssh" && ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519" -C demo-secret
cp "$AM_TOP/tests/fixtures/demo-agent.sh" "$WS/agent.sh"
printf '$ B=$(am delegation create --to builder --operations agent_machine.execution.start,agent_machine.execution.cancel \\\n'
printf '      --profile personal --tools cat,sleep --budget wallClockSeconds=600,agentConcurrency=2 --key ...)\n'
B=$(am delegation create --to builder --operations agent_machine.execution.start,agent_machine.execution.cancel \
	--profile personal --tools cat,sleep --budget wallClockSeconds=600,agentConcurrency=2 --key "$OWNER")
run am tool-grant apply cat --to builder --profile personal --key "$OWNER"
run am tool-grant apply sleep --to builder --profile personal --key "$OWNER"
show 'am execution start --dry-run --delegation "$B" -- ./agent.sh "$HOME" | head -24' \
	am execution start --dry-run --delegation "$B" -- ./agent.sh "$HOME" | head -24
show 'am execution start --delegation "$B" -- ./agent.sh "$HOME"' \
	am execution start --delegation "$B" -- ./agent.sh "$HOME"
RUN=$(am --json log --type agent_machine.execution.start | sed -n 's/.*"operationId": "\(.*\)".*/\1/p' | head -1)
run am log --operation "$RUN"
run am execution status "$RUN"

step "a budget runs out: 2 seconds of wall clock for an endless loop (exit 124)"
refused 'am execution start --budget wallClockSeconds=2 --grace 1 --delegation "$B" -- /bin/sh -c "while :; do :; done"' \
	am execution start --budget wallClockSeconds=2 --grace 1 --delegation "$B" -- /bin/sh -c 'while :; do :; done'

step "a detached run, canceled: the whole process tree is gone, the slot freed"
printf '$ ID=$(am execution start --detach --delegation "$B" -- /bin/sh -c "sleep 300")\n'
ID=$(am execution start --detach --delegation "$B" -- /bin/sh -c 'sleep 300')
echo "$ID"
show 'am execution cancel "$ID" --grace 1 --delegation "$B"' \
	am execution cancel "$ID" --grace 1 --delegation "$B"
run am execution list

step "am verify re-checks every hash, signature, transition and delegation record"
run am verify

step "a support bundle that carries no secret: an agent leaks a token into its log"
# The token is made up here, at run time: nothing secret-looking is in the repository.
FAKE="gh""p_$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 36)"
show 'am execution start --delegation "$B" -- /bin/sh -c "echo deploying with GITHUB_TOKEN=<made-up>" >/dev/null' \
	am execution start --delegation "$B" -- /bin/sh -c "echo deploying with GITHUB_TOKEN=$FAKE" >/dev/null
if git -C "$WS/.am/ledger.git" grep -q "$FAKE" refs/am/ledger -- 2>/dev/null; then
	echo "demo: the token reached the ledger (this must never happen)" >&2
	exit 1
fi
echo "(the ledger records the command with the token redacted)"
run am diagnostics scan "$XDG_STATE_HOME/am/executions" || true
run am diagnostics export-redacted -o "$D/bundle.tar.zst" --key "$OWNER"
printf '$ tar --zstd -xOf bundle.tar.zst manifest.json    # what was redacted, never a value\n'
tar --zstd -xOf "$D/bundle.tar.zst" manifest.json | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["redaction"]
for f in r["report"]:
    print("  %(rule)-16s %(file)s:%(line)d (x%(count)d)" % f)'

tar --zstd -xOf "$D/bundle.tar.zst" manifest.json | grep -E '"(credentials|tokens|localSecrets|sensitivePrompts)Included"'
if tar --zstd -xOf "$D/bundle.tar.zst" | grep -q "$FAKE"; then
	echo "demo: the token is in the bundle (this must never happen)" >&2
	exit 1
fi
echo "(the made-up token appears nowhere in the bundle)"
run am diagnostics verify "$D/bundle.tar.zst"
echo
echo "demo: done; files are in $D"
