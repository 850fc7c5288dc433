#!/usr/bin/env bats
# am log and am show.

load helper

opid() { am --json log | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["operationId"])'; }

@test "log lists the init operation's events newest first" {
	init_ws
	run am log
	expect 0
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == *"complete"*"running->completed"*"agent_machine.workspace.init"* ]]
	[[ "${lines[2]}" == *"start"*"queued"* ]]
}

@test "log --json is an array of events with stable fields" {
	init_ws
	run am log --json
	expect 0
	echo "$output" | /usr/bin/python3 -c '
import json,sys
d=json.load(sys.stdin)
assert [e["sequence"] for e in d]==[3,2,1], d
for e in d:
    for k in ("id","kind","operationId","operationType","eventType","toState","at","commit"):
        assert k in e, k
    assert e["kind"]=="OperationEvent" and e["id"].startswith("sha256:")
'
}

@test "log filters by --operation, --type, --since and -n" {
	init_ws
	id=$(opid)
	run am log --operation "${id##*:}"
	expect 0
	[ "${#lines[@]}" -eq 3 ]
	run am log --operation "${id##*:}" -n 1
	[ "${#lines[@]}" -eq 1 ]
	run am log --type agent_machine.execution.start
	expect 0
	[ -z "$output" ]
	run am log --since 2099-01-01T00:00:00Z
	expect 0
	[ -z "$output" ]
	run am log --since 1h
	[ "${#lines[@]}" -eq 3 ]
	run am log --since yesterdayish
	expect 2 "--since"
	run am log --operation 000000
	expect 6 "no operation"
}

@test "show prints an operation by full id, uuid and 6-char prefix" {
	init_ws
	id=$(opid)
	u=${id##*:}
	for spec in "$id" "$u" "${u:0:6}"; do
		run am show "$spec"
		expect 0 "operation $id"
		[[ "$output" == *"state     completed"* ]]
	done
	run am --json show "$u"
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["operation"]["state"]=="completed" and len(d["events"])==3'
}

@test "show prints an artifact by id or prefix, and its bytes hash to its id" {
	init_ws
	ev=$(am --json log | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	hex=${ev#sha256:}
	run am show "$ev"
	expect 0 '"kind": "OperationEvent"'
	run am show "${hex:0:8}"
	expect 0 '"kind": "OperationEvent"'
	f="$WS/.am/ledger.git"
	git -C "$f" show "refs/am/ledger:artifacts/${hex:0:2}/${hex:2:2}/$hex" | sha256sum | grep -q "^$hex "
}

@test "show of an unknown or malformed id exits 6 or 2" {
	init_ws
	run am show abcdef0123
	expect 6 "no artifact or operation"
	run am show sha256:0000000000000000000000000000000000000000000000000000000000000000
	expect 6
	run am show xyz
	expect 6
	run am show
	expect 2 "usage: am show"
}

@test "every artifact file in the ledger hashes to its own name" {
	init_ws
	g="$WS/.am/ledger.git"
	n=0
	while read -r path; do
		name=${path##*/}
		git -C "$g" show "refs/am/ledger:$path" | sha256sum | grep -q "^$name " || { echo "bad $path"; return 1; }
		n=$((n+1))
	done < <(git -C "$g" ls-tree -r --name-only refs/am/ledger artifacts)
	[ "$n" -gt 5 ]
}
