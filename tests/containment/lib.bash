# lib.bash - shared by 12-execution.bats and 13-containment.bats (after
# helper.bash): a workspace with its owner, grants, executions and what
# the ledger says about them.

bats_require_minimum_version 1.5.0

PY=/usr/bin/python3

# A workspace at $WS (the current directory), no enterprise layer, $OWNER
# (the owner's key) and $ACTOR (the owner's principal name, the grantee of
# executions started with that key).
ws() {
	no_managed
	init_ws
	ACTOR=$(am --json trust list | json 'print([p["name"] for p in d if p["role"]=="owner"][0])')
}

# grant TOOL [GRANTEE [PROFILE]]: a tool grant by the owner (to $ACTOR
# under personal unless named); prints nothing, fails if refused.
grant() {
	am -q tool-grant apply "$1" --to "${2:-$ACTOR}" --profile "${3:-personal}" --key "$OWNER" >/dev/null
}

# ex ARGS... : am execution start with the owner's key under personal.
ex() { am execution start --profile personal --key "$OWNER" "$@"; }

# exp PROFILE ARGS... : the same under another profile.
exp() {
	local p=$1
	shift
	am execution start --profile "$p" --key "$OWNER" "$@"
}

# delegate TO ARGS...: a delegation from the owner to TO that may start and
# cancel executions under personal.
delegate() {
	local to=$1
	shift
	am delegation create --to "$to" --operations agent_machine.execution.start,agent_machine.execution.cancel \
		--profile personal --key "$OWNER" "$@" 2>/dev/null
}

# The operation of the newest event in the ledger.
last_op() { am --json log -n 1 | json 'print(d[0]["operationId"])'; }

# events OP: "eventType fromState->toState" per event, oldest first.
events() {
	am --json log --operation "$1" | json '
for e in reversed(d): print(e["eventType"], "%s->%s" % (e["fromState"] or "", e["toState"]))'
}

# final OP: the details of OP's newest event, as JSON.
final() { am --json log --operation "$1" -n 1 | json 'print(json.dumps(d[0]["details"]))'; }

# record OP: its LocalAgentExecution artifact, as JSON.
record() { am execution status --json "$1" | json 'print(json.dumps(d["execution"]))'; }

# ended OP: OP ended in the ledger (a final state and a LocalAgentExecution
# that names it).
ended() {
	am execution status --json "$1" | json '
assert d["state"] in ("completed","failed","canceled"), d["state"]
e=d["execution"]
assert e["kind"]=="LocalAgentExecution" and e["operationId"]==sys.argv[1], e
assert d["record"].startswith("sha256:")' "$1"
}

# wait_for FILE [TENTHS]: until FILE exists, at most TENTHS/10 s (10 s).
wait_for() {
	local i
	for ((i = 0; i < ${2:-100}; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1"
	return 1
}

# hostpid NSPID CMDLINE: the host pid of the process running exactly
# CMDLINE whose pid in its own PID namespace is NSPID.
hostpid() {
	local p
	for p in $(pgrep -fx "$2"); do
		if [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null)" = "$1" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# The machine-local directory of an execution.
exec_dir() { echo "$XDG_STATE_HOME/am/executions/${1##*:}"; }

# lease OP: the file of its supervisor's lease.
lease() { echo "$XDG_STATE_HOME/am/leases/${1##*:}.json"; }

# supervisor OP: the pid its lease names.
supervisor() { json 'print(d["pid"])' < "$(lease "$1")"; }

# The kernel features am sees, as JSON.
features() { am --json version --features | json 'print(json.dumps(d["sandbox"]))'; }

# progress OP: the details of OP's progress events, oldest first, as JSON.
progress() {
	am --json log --operation "$1" | json '
print(json.dumps([e["details"] for e in reversed(d) if e["eventType"]=="progress"]))'
}

# Inside an execution (with sleep granted): wait until the file go exists
# in the working directory, at most 20 s.
WAIT_GO='i=0; while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done'
