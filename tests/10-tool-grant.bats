#!/usr/bin/env bats
# am tool-grant: apply (resolve, pin, gate, record), revoke, list, show and
# check; tools that resolve to nothing, a directory or out of the profile's
# paths; the delegation's tool scope; and tenant separation of grants.

load helper

URN=urn:srcos:agent-machine:tool-grant:

# A workspace, no enterprise layer, and $OWNER.
ws() {
	no_managed
	init_ws
}

# grant TOOL [ARGS...]: apply as the owner under personal to ada; prints the id.
grant() {
	local t=$1
	shift
	am tool-grant apply "$t" --to ada --profile personal --key "$OWNER" "$@" 2>/dev/null
}

# delegate ARGS...: a delegation token from the owner to ada.
delegate() {
	am delegation create --to ada --key "$OWNER" "$@" 2>/dev/null
}

@test "apply pins the binary's sha256 and records a ToolGrantRecord with its command and decision" {
	ws
	git_path=$(readlink -f "$(command -v git)")
	sha=$(sha256sum "$git_path" | cut -d' ' -f1)
	run am --json tool-grant apply git --to ada --profile personal --key "$OWNER"
	expect 0
	echo "$output" > "$HOME/out"
	id=$(json 'print(d["grantId"])' < "$HOME/out")
	rec=$(json 'print(d["record"])' < "$HOME/out")
	dec=$(json 'print(d["decision"])' < "$HOME/out")
	op=$(json 'print(d["operation"])' < "$HOME/out")
	json 'assert d["path"]==sys.argv[1] and d["sha256"]=="sha256:"+sys.argv[2], d' "$git_path" "$sha" < "$HOME/out"
	[[ "$id" =~ ^${URN}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]

	am --json show "$rec" | json '
a=sys.argv
assert d["kind"]=="ToolGrantRecord" and d["grantId"]==a[1] and d["toolName"]=="git", d
assert d["path"]==a[2] and d["sha256"]=="sha256:"+a[3] and d["grantee"]=="ada", d
assert d["profile"]=="personal" and d["state"]=="active" and d["grantedBy"]=="owner", d
assert d["applyCommandRef"]==a[4] and d["decisionRef"]==a[5], d
assert d["expiresAt"] > d["grantedAt"] and "tenant" not in d, d' "$id" "$git_path" "$sha" "$op" "$dec"
	am --json show "$dec" | json '
assert d["kind"]=="PolicyDecision" and d["decision"]=="permit" and d["gate"]=="toolGrant", d
assert d["resource"]==sys.argv[1] and d["matchedRules"]==["personal/tools.permit[0]"], d
assert d["operationId"]==sys.argv[2], d' "$git_path" "$op"
	am --json show "$op" | json '
o=d["operation"]
assert o["operationType"]=="agent_machine.tool_grant.apply" and o["state"]=="completed", o
assert o["decisionRefs"]==[sys.argv[1]] and o["artifactRefs"]==[sys.argv[2]], o' "$dec" "$rec"
	# Human output: the id on stdout, what was pinned on stderr.
	run grant make
	expect 0
	[[ "$output" =~ ^${URN}[0-9a-f-]{36}$ ]]
	run am tool-grant apply make --to bob --profile personal --key "$OWNER"
	expect 0 "am: granted $(readlink -f "$(command -v make)") (sha256:"
	run am verify
	expect 0
}

@test "apply --expires: a duration or a time; the default is a day" {
	ws
	now=$(date +%s)
	id=$(grant git)
	exp=$(am --json tool-grant show "$id" | json 'print(d["expiresAt"])')
	e=$(date -d "$exp" +%s)
	[ $((e - now)) -ge 86300 ] && [ $((e - now)) -le 86500 ]
	id=$(grant sed --expires 2h)
	exp=$(am --json tool-grant show "$id" | json 'print(d["expiresAt"])')
	e=$(date -d "$exp" +%s)
	[ $((e - now)) -ge 7100 ] && [ $((e - now)) -le 7300 ]
	before=$(tip)
	run am tool-grant apply git --to ada --profile personal --expires soon --key "$OWNER"
	expect 2 "--expires 'soon'"
	[ "$(tip)" = "$before" ]
}

@test "apply --expires in the past is refused" {
	ws
	before=$(tip)
	run am tool-grant apply git --to ada --profile personal --expires 2001-01-01T00:00:00Z --key "$OWNER"
	[ "$status" -eq 2 ] ||
		skip "BUG: cmd/tool_grant.c grant_apply() accepts an --expires time in the past (exit $status) and records a grant that is expired from the start; expected exit 2, nothing recorded"
	[ "$(tip)" = "$before" ]
}

@test "an expired grant no longer checks and is not active" {
	ws
	id=$(grant git --expires 1s)
	sleep 2
	run am tool-grant check git --to ada
	expect 3 "the grant has expired"
	run am tool-grant list --active
	expect 0
	[[ "$output" != *"${id#"$URN"}"* ]]
	run am tool-grant list
	expect 0 "${id#"$URN"}  expired"
}

@test "a forbidden tool is refused (exit 3): the decision and a failed operation are recorded, no grant" {
	ws
	command -v unshare >/dev/null
	before=$(tip)
	run am tool-grant apply unshare --to ada --profile personal --key "$OWNER"
	expect 3 "am: tool grant denied by policy: tool '$(readlink -f "$(command -v unshare)")' is forbidden (personal/tools.forbid[7]; decision sha256:"
	# One commit: the operation, its decision and its failure.
	[ "$(G rev-list --count "$before..refs/am/ledger")" = 1 ]
	op=$(am --json log | json 'print(d[0]["operationId"])')
	am --json show "$op" | json '
o=d["operation"]
assert o["operationType"]=="agent_machine.tool_grant.apply" and o["state"]=="failed", o
assert len(o["decisionRefs"])==1 and o["artifactRefs"]==[], o
e=d["events"][-1]
assert e["eventType"]=="failure" and e["toState"]=="failed", e
assert e["details"]["errorClass"]=="policy_denied" and e["details"]["gate"]=="toolGrant", e
assert e["details"]["decisionRef"]==o["decisionRefs"][0], e
print(o["decisionRefs"][0])' > "$HOME/dec"
	am --json show "$(cat "$HOME/dec")" | json '
assert d["kind"]=="PolicyDecision" and d["decision"]=="deny" and d["matchedRules"]==["personal/tools.forbid[7]"], d'
	run am tool-grant list
	expect 0
	[ -z "$output" ]
	G ls-tree -r --name-only refs/am/ledger | grep -q '^grants/' && false
	run am policy explain "$op"
	expect 0 "deny"
	# A tool no rule permits: the default deny, recorded the same way.
	run am tool-grant apply curl --to ada --profile corporate_firewall --key "$OWNER"
	expect 3 "corporate_firewall/default"
	# The forbid is on the resolved binary: a link with an innocent name does not hide it.
	mkdir -p "$WS/bin"
	ln -s "$(command -v unshare)" "$WS/bin/git"
	run am tool-grant apply "$WS/bin/git" --to ada --profile personal --key "$OWNER"
	expect 3 "personal/tools.forbid[7]"
	run am --json tool-grant list
	[ "$output" = "[]" ]
}

@test "apply needs authority: exit 4 and nothing written" {
	ws
	before=$(tip)
	run am tool-grant apply git --to ada --profile personal
	expect 4 "am: no delegated authority for agent_machine.tool_grant.apply"
	run am tool-grant apply unshare --to ada --profile personal
	expect 4 "no delegated authority"
	tok=$(delegate --operations agent_machine.profile.create --profile personal --tools git)
	before=$(tip)
	run am tool-grant apply git --to ada --delegation "$tok"
	expect 4 "operation agent_machine.tool_grant.apply is outside the delegation's scope"
	[ "$(tip)" = "$before" ]
	run am tool-grant apply git --profile personal --key "$OWNER"
	expect 2 "--to DELEGATE is required"
	run am tool-grant apply --to ada --profile personal --key "$OWNER"
	expect 2 "expected one TOOL"
	[ "$(tip)" = "$before" ]
}

@test "a delegation grants only the tools it names, under its own profile" {
	ws
	tok=$(delegate --operations agent_machine.tool_grant.apply,agent_machine.tool_grant.revoke \
		--profile personal --tools git,sed)
	jti=$(am delegation list --json | json 'print(d[0]["id"])')
	before=$(tip)
	run am tool-grant apply make --to ada --delegation "$tok"
	expect 4 "tool 'make' is outside the delegation's scope (am.tools)"
	run am tool-grant apply "$(command -v make)" --to ada --delegation "$tok"
	expect 4 "tool 'make' is outside the delegation's scope"
	# a link named git to make is make
	mkdir -p "$WS/bin"
	ln -s "$(command -v make)" "$WS/bin/git"
	run am tool-grant apply "$WS/bin/git" --to ada --delegation "$tok"
	expect 4 "outside the delegation's scope"
	run am tool-grant apply git --to ada --profile corporate_firewall --delegation "$tok"
	expect 4 "profile 'corporate_firewall' is outside the delegation's scope"
	[ "$(tip)" = "$before" ]
	# In scope: the profile comes from the delegation, the record names it.
	run am --json tool-grant apply git --to ada --delegation "$tok"
	expect 0
	rec=$(echo "$output" | json 'print(d["record"])')
	am --json show "$rec" | json '
assert d["profile"]=="personal" and d["grantedBy"]=="ada" and d["delegationRef"]==sys.argv[1], d' "$jti"
	# and the delegation does not widen the profile: a forbidden tool it names is still denied
	tok2=$(delegate --operations agent_machine.tool_grant.apply --profile personal --tools unshare)
	run am tool-grant apply unshare --to ada --delegation "$tok2"
	expect 3 "is forbidden"
}

@test "revoke records revokeCommandRef; the grant leaves list --active and check fails" {
	ws
	id=$(grant git)
	other=$(grant sed)
	run am tool-grant check git --to ada
	expect 0 "granted: $(readlink -f "$(command -v git)") to 'ada' ($id)"
	before=$(tip)
	run am tool-grant revoke "$id"
	expect 4 "no delegated authority for agent_machine.tool_grant.revoke"
	[ "$(tip)" = "$before" ]
	run am --json tool-grant revoke "$id" --reason "no longer needed" --key "$OWNER"
	expect 0
	op=$(echo "$output" | json 'assert d["revoked"]==sys.argv[1], d; print(d["operation"])' "$id")
	rec=$(echo "$output" | json 'print(d["record"])')
	am --json show "$rec" | json '
assert d["kind"]=="ToolGrantRecord" and d["grantId"]==sys.argv[1] and d["state"]=="revoked", d
assert d["revokeCommandRef"]==sys.argv[2] and d["revokedBy"]=="owner" and d["revokeReason"]=="no longer needed", d
assert d["previous"].startswith("sha256:") and d["applyCommandRef"]!=sys.argv[2], d' "$id" "$op"
	am --json show "$op" | json '
o=d["operation"]
assert o["operationType"]=="agent_machine.tool_grant.revoke" and o["state"]=="completed", o'
	run am tool-grant check git --to ada
	expect 3 "is not granted to 'ada': the grant was revoked"
	run am tool-grant list --active
	expect 0
	[[ "$output" != *"${id#"$URN"}"* ]]
	[[ "$output" == *"${other#"$URN"}  active"* ]]
	run am --json tool-grant list
	echo "$output" | json '
s={g["id"]:g["state"] for g in d}
assert s=={sys.argv[1]:"revoked", sys.argv[2]:"active"}, s' "$id" "$other"
	run am --json tool-grant show "$id"
	expect 0
	echo "$output" | json 'assert d["status"]=="revoked" and d["revokeCommandRef"]==sys.argv[1], d' "$op"
	# Twice is a conflict; a new grant works again.
	before=$(tip)
	run am tool-grant revoke "$id" --key "$OWNER"
	expect 7 "already revoked"
	[ "$(tip)" = "$before" ]
	grant git >/dev/null
	run am tool-grant check git --to ada
	expect 0
}

@test "list, show and check" {
	ws
	id=$(grant git)
	short=${id#"$URN"}
	run am tool-grant list
	expect 0
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "$short  active   git"*ada*"$(readlink -f "$(command -v git)")" ]]
	run am --json tool-grant list --active
	expect 0
	echo "$output" | json '
assert len(d)==1, d
g=d[0]
assert g["id"]==sys.argv[1] and g["toolName"]=="git" and g["grantee"]=="ada" and g["state"]=="active", g
assert g["sha256"].startswith("sha256:") and g["record"].startswith("sha256:") and g["revoked"] is False, g' "$id"
	for spec in "$id" "$short" "${short:0:8}"; do
		run am tool-grant show "$spec"
		expect 0
		echo "$output" | json 'assert d["kind"]=="ToolGrantRecord" and d["grantId"]==sys.argv[1] and d["status"]=="active", d' "$id"
	done
	run am tool-grant show "${URN}00000000-0000-4000-8000-000000000000"
	expect 6 "no grant"
	run am tool-grant show not-an-id
	expect 2 "is not a grant id"
	run am tool-grant check git --to ada
	expect 0
	run am --json tool-grant check "$(command -v git)" --to ada
	expect 0
	echo "$output" | json 'assert d=={"granted":True,"grantId":sys.argv[1],"path":sys.argv[2]}, d' "$id" "$(readlink -f "$(command -v git)")"
	run am tool-grant check git --to bob
	expect 3 "is not granted to 'bob': no grant"
	run am tool-grant check sed --to ada
	expect 3 "no grant"
	run am tool-grant check git
	expect 2
	run am tool-grant check no-such-tool-anywhere --to ada
	expect 2 "resolves to nothing"
	# Read-only: no authority needed, nothing written.
	before=$(tip)
	am tool-grant list >/dev/null
	am tool-grant show "$id" >/dev/null
	am tool-grant check git --to ada >/dev/null
	[ "$(tip)" = "$before" ]
}

@test "check fails once the granted binary changed" {
	ws
	mkdir -p "$WS/bin"
	cp "$(readlink -f "$(type -P true)")" "$WS/bin/mytool"
	id=$(grant "$WS/bin/mytool")
	[ -n "$id" ]
	am --json tool-grant show "$id" | json 'assert d["path"]==sys.argv[1] and d["sha256"]=="sha256:"+sys.argv[2], d' \
		"$(readlink -f "$WS/bin/mytool")" "$(sha256sum "$WS/bin/mytool" | cut -d' ' -f1)"
	run am tool-grant check "$WS/bin/mytool" --to ada
	expect 0
	cd "$WS/bin"
	run am tool-grant check ./mytool --to ada
	expect 0
	printf 'x' >> "$WS/bin/mytool"
	run am tool-grant check ./mytool --to ada
	expect 3 "the binary changed since it was granted (sha256 differs)"
	# Replaced by another binary under the same name: the same.
	cp "$(readlink -f "$(type -P false)")" "$WS/bin/mytool"
	run am tool-grant check "$WS/bin/mytool" --to ada
	expect 3 "binary changed"
}

@test "tools that resolve to nothing, to a directory or out of the profile's paths are refused, nothing written" {
	ws
	mkdir -p "$WS/bin" "$HOME/outside"
	cp "$(readlink -f "$(type -P true)")" "$HOME/outside/tool"
	ln -s "$HOME/outside/tool" "$WS/bin/escape"
	printf 'not executable' > "$WS/bin/data"
	before=$(tip)
	run am tool-grant apply no-such-tool-anywhere --to ada --profile personal --key "$OWNER"
	expect 2 "tool 'no-such-tool-anywhere' resolves to nothing (not found in PATH)"
	run am tool-grant apply "$WS/bin/missing" --to ada --profile personal --key "$OWNER"
	expect 2 "tool '$WS/bin/missing' resolves to nothing"
	run am tool-grant apply "$WS/bin" --to ada --profile personal --key "$OWNER"
	expect 2 "tool '$WS/bin' is a directory, not an executable"
	run am tool-grant apply "$WS/bin/data" --to ada --profile personal --key "$OWNER"
	expect 2 "is not an executable file"
	run am tool-grant apply "$WS/bin/escape" --to ada --profile personal --key "$OWNER"
	expect 3 "tool '$WS/bin/escape' resolves to '$HOME/outside/tool', outside the paths profile personal allows"
	run am tool-grant apply "$HOME/outside/tool" --to ada --profile personal --key "$OWNER"
	expect 3 "outside the paths profile personal allows"
	# A name found through PATH that leads out of the paths is refused too.
	ln -s "$HOME/outside/tool" "$HOME/outside/sneaky"
	PATH="$HOME/outside:$PATH" run am tool-grant apply sneaky --to ada --profile personal --key "$OWNER"
	expect 3 "outside the paths profile personal allows"
	# A profile that does not name the workspace: its binaries are outside.
	cp "$(readlink -f "$(type -P true)")" "$WS/bin/mytool"
	am -q profile create ro --type personal --set 'filesystem.readWrite=[]' --key "$OWNER"
	before=$(tip)
	run am tool-grant apply "$WS/bin/mytool" --to ada --profile ro --key "$OWNER"
	expect 3 "outside the paths profile ro allows"
	[ "$(tip)" = "$before" ]
	run am tool-grant list
	[ -z "$output" ]
	# A link inside the paths pins the real binary.
	ln -s "$(command -v git)" "$WS/bin/g"
	id=$(grant "$WS/bin/g")
	am --json tool-grant show "$id" | json 'assert d["path"]==sys.argv[1] and d["toolName"]==sys.argv[2], d' \
		"$(readlink -f "$(command -v git)")" "$WS/bin/g"
}

@test "tenant separation: a grant under tenant A is invisible and unusable under tenant B" {
	ws
	# By a delegation bound to acme: profile and tenant come from it.
	tok=$(delegate --operations agent_machine.tool_grant.apply,agent_machine.tool_grant.revoke \
		--profile multi_corporate_firewall --tools git,make --tenant acme)
	run am --json tool-grant apply git --to ada --delegation "$tok"
	expect 0
	a=$(echo "$output" | json 'print(d["grantId"])')
	rec=$(echo "$output" | json 'print(d["record"])')
	am --json show "$rec" | json 'assert d["tenant"]=="acme" and d["profile"]=="multi_corporate_firewall", d'
	# By the owner with --tenant.
	b=$(am tool-grant apply make --to ada --profile multi_corporate_firewall --tenant globex --key "$OWNER" 2>/dev/null)
	[ -n "$b" ]

	[ "$(am --json tool-grant list --tenant acme | json 'print([g["id"] for g in d])')" = "['$a']" ]
	[ "$(am --json tool-grant list --tenant globex | json 'print([g["id"] for g in d])')" = "['$b']" ]
	[ "$(am --json tool-grant list | json 'print(len(d))')" = 0 ]
	run am tool-grant list --tenant initech
	expect 0
	[ -z "$output" ]
	# The delegation's tenant is the context of read-only commands too.
	[ "$(AM_DELEGATION=$tok am --json tool-grant list | json 'print([g["id"] for g in d])')" = "['$a']" ]

	run am tool-grant show "$a" --tenant globex
	expect 6 "no grant '$a' under tenant globex"
	run am tool-grant show "$a"
	expect 6
	run am tool-grant show "$a" --tenant acme
	expect 0
	run am tool-grant check git --to ada --tenant globex
	expect 3 "no grant"
	run am tool-grant check git --to ada
	expect 3
	run am tool-grant check git --to ada --tenant acme
	expect 0
	AM_DELEGATION=$tok run am tool-grant check git --to ada
	expect 0
	AM_DELEGATION=$tok run am tool-grant check make --to ada
	expect 3

	# Nor can B's side revoke A's grant.
	before=$(tip)
	run am tool-grant revoke "$a" --tenant globex --key "$OWNER"
	expect 6
	[ "$(tip)" = "$before" ]
	# A delegation bound to acme cannot grant for globex.
	run am tool-grant apply make --to ada --tenant globex --delegation "$tok"
	expect 4 "tenant 'globex' is outside the delegation's scope"
	[ "$(tip)" = "$before" ]
}

@test "multi_corporate_firewall: a grant bound to no tenant or an unknown one is denied and recorded" {
	ws
	run am tool-grant apply git --to ada --profile multi_corporate_firewall --key "$OWNER"
	expect 3 "binds every request to exactly one tenant"
	run am tool-grant apply git --to ada --profile multi_corporate_firewall --tenant initech --key "$OWNER"
	expect 3 "tenant 'initech' is not a tenant of profile multi_corporate_firewall"
	[ "$(am --json log | json 'print(len([e for e in d if e["eventType"]=="failure"]))')" = 2 ]
	run am --json tool-grant list --tenant initech
	[ "$output" = "[]" ]
}
