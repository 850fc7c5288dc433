#!/usr/bin/env bats
# am profile: create, list, show (--layers), diff, check and export.  The
# files of tests/fixtures/profiles/ are golden cases of am profile check:
# NAME.json is checked (layer-*.json with --layer) and its output must be
# NAME.expected ("exit N", then what am printed).  AM_UPDATE_GOLDEN=1
# rewrites the expected files.

load helper

FIX="$AM_TOP/tests/fixtures/profiles"

# Every test: no enterprise layer unless it makes one, and $OWNER.
ws() { no_managed; }

# file NAME JSON: a profile file in $HOME.
file() { printf '%s\n' "$2" > "$HOME/$1"; }

@test "golden: am profile check on every fixture" {
	ws
	cd "$FIX"
	failed=""
	n=0
	for f in *.json; do
		flags=()
		[[ $f == layer-* ]] && flags=(--layer)
		run am profile check "${flags[@]}" "$f"
		actual=$(printf 'exit %s\n%s' "$status" "$output")
		if [ -n "${AM_UPDATE_GOLDEN:-}" ]; then
			printf '%s\n' "$actual" > "${f%.json}.expected"
		fi
		if ! diff -u "${f%.json}.expected" <(printf '%s\n' "$actual"); then
			failed="$failed $f"
		fi
		n=$((n + 1))
	done
	echo "failed:$failed"
	[ "$n" -ge 40 ]
	[ -z "$failed" ]
	# The fixtures say what they are: ok and warn pass, bad fail with exit 2
	# naming the file and a JSON path.
	for f in ok-*.expected warn-*.expected layer-ok-*.expected; do
		[ "$(head -1 "$f")" = "exit 0" ]
	done
	for f in warn-*.expected; do grep -q "^am: warning: ${f%.expected}.json: \\." "$f"; done
	for f in bad-*.expected layer-bad-*.expected; do
		[ "$(head -1 "$f")" = "exit 2" ]
		grep -qE "^am: ${f%.expected}\\.json: \\.[A-Za-z0-9_.]*(\\[[0-9]+\\][A-Za-z0-9_.]*)*: " "$f"
	done
}

@test "profile check --json: ok with the warnings, or one error document naming the path" {
	ws
	cd "$FIX"
	run am --json profile check warn-shadowed-tool.json
	expect 0
	echo "$output" | json '
assert d["ok"] is True and d["file"]=="warn-shadowed-tool.json", d
assert d["warnings"]==[{"path":".tools.permit[1]","message":".tools.permit[1]: '"'sudo'"' is shadowed by tools.forbid '"'sudo'"' (forbid wins)"}], d'
	run am --json profile check ok-corporate.json
	expect 0
	echo "$output" | json 'assert d["ok"] is True and d["warnings"]==[], d'
	run am --json profile check bad-wrong-type-list-item.json
	expect 2
	echo "$output" | json '
e=d["error"]
assert e["class"]=="usage" and e["path"]==".network.allow[2]", e
assert e["message"]=="bad-wrong-type-list-item.json: .network.allow[2]: expected string", e'
	run am -q profile check ok-minimal.json
	expect 0
	[ -z "$output" ]
	run am profile check "$BATS_TEST_TMPDIR/nonexistent.json"
	expect 6 "nonexistent.json"
	run am profile check
	expect 2
}

@test "profile check: every template passes without a warning" {
	ws
	for f in "$AM_TOP"/profiles/*.json; do
		[ "${f##*/}" = profile.schema.json ] && continue
		run am profile check "$f"
		expect 0
		[ "$output" = "$f: ok" ]
	done
}

@test "profile check: a multi_corporate_firewall profile needs tenants, each named once" {
	ws
	file t.json '{"type": "multi_corporate_firewall", "tenants": []}'
	run am profile check "$HOME/t.json"
	[ "$status" -eq 2 ] ||
		skip "BUG: core/profile.c am_profile_check() accepts a multi_corporate_firewall profile with an empty tenants list (exit $status); am-profile(5) tenants: must not be empty"
	expect 2 ".tenants"
	file t.json '{"type": "multi_corporate_firewall", "tenants": [{"name": "acme"}, {"name": "acme"}]}'
	run am profile check "$HOME/t.json"
	expect 2 ".tenants[1].name"
}

@test "profile check: warns about permitUserOwned from a lower layer and keys the type rule overrides" {
	ws
	file t.json '{"type": "corporate_firewall", "modelProviders": {"permitUserOwned": true}}'
	run am profile check "$HOME/t.json"
	expect 0
	[[ "$output" == *warning*permitUserOwned* ]] ||
		skip "BUG: core/profile.c find_warnings() does not warn about permitUserOwned true in a profile file, which only the enterprise layer may set (am-profile(5) permitUserOwned): $output"
	file t.json '{"type": "airgapped_local_only", "network": {"mode": "open"}}'
	run am profile check "$HOME/t.json"
	expect 0 "warning"
}

# --- create

@test "profile create needs authority: exit 4 and nothing written" {
	ws
	init_ws
	before=$(tip)
	run am profile create build --type personal
	expect 4 "am: no delegated authority for agent_machine.profile.create"
	[ "$(tip)" = "$before" ]
	run am profile list
	[[ "$output" != *build* ]]
	# A delegation for another profile is out of scope.
	tok=$(am delegation create --to ada --operations agent_machine.profile.create --profile personal \
		--key "$OWNER" 2>/dev/null)
	before=$(tip)
	run am profile create build --type personal --delegation "$tok"
	expect 4 "profile 'build' is outside the delegation's scope"
	[ "$(tip)" = "$before" ]
	# One for it works (here: a recorded profile named like its template),
	# and the operation names the agent.
	run am profile create personal --type personal --set budget.tokens=5 --delegation "$tok"
	expect 0 "am: recorded profile 'personal' (personal) sha256:"
	[ "$(am --json log | json 'print([e["actor"] for e in d if e["operationType"]=="agent_machine.profile.create"][0])')" = ada ]
	run am profile show personal
	expect 0 "record   sha256:"
}

@test "profile create records an AgentMachineProfile that show and log display" {
	ws
	init_ws
	out=$(am --json profile create build --type personal --set network.mode=loopback \
		--set 'tools.permit=["git","make","cc"]' --key "$OWNER" 2>"$HOME/err")
	# The template's allow ["*"] is moot once the mode is loopback: a warning.
	grep -qx "am: warning: build: .network.allow\[0\]: '\*' can never match: network.mode is loopback" "$HOME/err"
	ref=$(echo "$out" | json 'print(d["ref"])')
	op=$(echo "$out" | json 'assert d["profile"]=="build", d; print(d["operation"])')
	[ "$(G show refs/am/ledger:profiles/build)" = "$ref" ]

	run am --json show "$ref"
	expect 0
	echo "$output" | json '
assert d["kind"]=="AgentMachineProfile" and d["name"]=="build" and d["profileType"]=="personal", d
assert d["owner"]=="user" and "tenant" not in d, d
p=d["profile"]
assert p["name"]=="build" and p["type"]=="personal", p
assert p["network"]["mode"]=="loopback" and p["tools"]["permit"]==["git","make","cc"], p
assert p["tools"]["forbid"][0]=="sudo", p'
	run am show "$ref"
	expect 0 "AgentMachineProfile"

	run am --json show "$op"
	expect 0
	echo "$output" | json '
o=d["operation"]
assert o["operationType"]=="agent_machine.profile.create" and o["state"]=="completed", o
assert o["artifactRefs"]==[sys.argv[1]], o
assert d["events"][-1]["details"]=={"profile":"build","profileRef":sys.argv[1]}, d["events"][-1]' "$ref"
	run am log
	expect 0
	[[ "${lines[0]}" == *"complete  running->completed"*"agent_machine.profile.create"*owner* ]]
	run am verify
	expect 0
	# It now resolves from the workspace, not the template.
	run am profile show build
	expect 0 "record   $ref"
	[[ "$output" == *"egress   loopback only"* ]]
}

@test "profile create: a name already recorded is a conflict (exit 7), nothing written" {
	ws
	init_ws
	am -q profile create build --type personal --key "$OWNER"
	before=$(tip)
	run am profile create build --type corporate_firewall --key "$OWNER"
	expect 7 "a profile named 'build' is already recorded"
	[ "$(tip)" = "$before" ]
	run am --json show "$(G show refs/am/ledger:profiles/build)"
	echo "$output" | json 'assert d["profileType"]=="personal", d'
}

@test "profile create: each bad profile file is refused naming the JSON path and reason, nothing written" {
	ws
	init_ws
	before=$(tip)
	for f in "$FIX"/bad-*.json; do
		# the NAME argument replaces a file's name
		[ "${f##*/}" = bad-name.json ] && continue
		run am profile create x --from "$f" --key "$OWNER"
		[ "$status" -eq 2 ] || { echo "$f: exit $status: $output"; false; }
		# the same path and reason am profile check names
		reason=$(sed -n '2s/^am: [^:]*: //p' "${f%.json}.expected")
		[[ "$output" == *"${reason%% (byte*}"* ]] || { echo "$f: $output; wanted $reason"; false; }
	done
	[ "$(tip)" = "$before" ]
	run am profile list
	[[ "$output" != *workspace* ]]
}

@test "profile create --from: an invalid file is named in the message" {
	ws
	init_ws
	run am profile create x --from "$FIX/bad-budget-negative.json" --key "$OWNER"
	expect 2 ".budget.tokens: expected a non-negative integer"
	[[ "$output" == *bad-budget-negative.json* ]] ||
		skip "BUG: cmd/profile.c profile_create() prefixes a schema error of --from FILE with \"cannot create profile 'x'\" only, not naming FILE (a parse error does name it): $output"
}

@test "profile create: bad options and values exit 2, nothing written" {
	ws
	init_ws
	before=$(tip)
	run am profile create x --type banana --key "$OWNER"
	expect 2 "unknown profile type 'banana'"
	run am profile create x --key "$OWNER"
	expect 2 "--type (or --from FILE) is required"
	run am profile create 'Not A Name' --type personal --key "$OWNER"
	expect 2 ".name"
	run am profile create x --type personal --set budget.tokenz=5 --key "$OWNER"
	expect 2 "--set .budget.tokenz: no such profile field"
	run am profile create x --type personal --set budget.tokens=-5 --key "$OWNER"
	expect 2 ".budget.tokens: expected a non-negative integer"
	run am profile create x --type personal --set budget.tokens=9007199254740992 --key "$OWNER"
	expect 2 ".budget.tokens"
	run am profile create x --type personal --set budget.tokens=1.5 --key "$OWNER"
	expect 2 ".budget.tokens"
	run am profile create x --type personal --set 'network.allow=["git..corp.example"]' --key "$OWNER"
	expect 2 ".network.allow[0]: host pattern 'git..corp.example' cannot parse"
	run am profile create x --type personal --set network.mode=wide --key "$OWNER"
	expect 2 ".network.mode: expected one of none, loopback, proxy, open"
	run am profile create x --type personal --set 'locked=["network"]' --key "$OWNER"
	expect 2 "'locked' and 'appliesTo' belong to enterprise files only"
	file p.json '{"type": "personal"}'
	run am profile create x --type corporate_firewall --from "$HOME/p.json" --key "$OWNER"
	expect 2 "has type 'personal' but --type is 'corporate_firewall'"
	run am profile create x --from "$HOME/missing.json" --key "$OWNER"
	expect 6 "missing.json"
	[ "$(tip)" = "$before" ]
}

@test "profile create: --set of a field the enterprise locked is denied (exit 3), nothing written" {
	ws
	init_ws
	managed 00-corp.json '{"network": {"mode": "proxy"}, "locked": ["network.mode", "budget"]}'
	before=$(tip)
	run am profile create x --type personal --set network.mode=open --key "$OWNER"
	expect 3 "--set network.mode: the field is locked by the enterprise layer (00-corp.json)"
	run am profile create x --type personal --set .budget.tokens=5 --key "$OWNER"
	expect 3 "--set budget.tokens: the field is locked by the enterprise layer (00-corp.json)"
	[ "$(tip)" = "$before" ]
	# A lock for another type does not apply.
	managed 00-corp.json '{"network": {"mode": "proxy"}, "locked": ["network.mode"], "appliesTo": ["corporate_firewall"]}'
	run am profile create x --type personal --set network.mode=loopback --key "$OWNER"
	expect 0
}

@test "profile create --from: a file that sets a locked field to another value is denied (exit 3)" {
	ws
	init_ws
	managed 00-corp.json '{"network": {"mode": "proxy"}, "locked": ["network.mode"]}'
	file p.json '{"type": "personal", "network": {"mode": "open"}}'
	before=$(tip)
	run am profile create x --from "$HOME/p.json" --key "$OWNER"
	[ "$status" -eq 3 ] ||
		skip "BUG: cmd/profile.c profile_create() checks locks for --set only: --from FILE setting locked network.mode is recorded (exit $status), its value silently ignored on resolve; am-profile(5) Layers: refused with exit 3 naming the path and the managed file"
	[[ "$output" == *network.mode*00-corp.json* ]]
	[ "$(tip)" = "$before" ]
}

# --- list, show, diff, export

@test "profile list: the seven templates, then the recorded profiles" {
	ws
	init_ws
	run am profile list
	expect 0
	[ "${#lines[@]}" -eq 7 ]
	for t in personal corporate_firewall multi_corporate_firewall local_model_provider \
		hosted_model_provider airgapped_local_only user_owned_model; do
		[[ "$output" == *"$t"*builtin* ]]
	done
	am -q profile create work --type corporate_firewall --key "$OWNER"
	run am --json profile list
	expect 0
	echo "$output" | json '
assert len(d)==8, d
w=[e for e in d if e["name"]=="work"][0]
assert w["type"]=="corporate_firewall" and w["source"]=="workspace" and w["ref"].startswith("sha256:"), w
assert all(e["source"]=="builtin" and e["name"]==e["type"] for e in d if e["name"]!="work"), d'
	run am profile list
	[[ "${lines[7]}" == work*corporate_firewall*workspace ]]
	# Outside a workspace: the templates.
	cd "$BATS_TEST_TMPDIR"
	run am profile list
	expect 0
	[ "${#lines[@]}" -eq 7 ]
}

@test "profile show: type, owner and egress first; airgapped says it has no egress" {
	ws
	cd "$BATS_TEST_TMPDIR"
	run am profile show airgapped_local_only
	expect 0
	[ "${lines[0]}" = "profile  airgapped_local_only" ]
	[ "${lines[1]}" = "type     airgapped_local_only" ]
	[[ "$output" == *"egress   none: airgapped, no network egress at all except loopback model providers"* ]]
	run am profile show corporate_firewall
	expect 0 "egress   through the am egress proxy to allowed hosts, chained to http://proxy.corp.example:3128"
	[[ "$output" == *"owner    enterprise"* ]]
	run am profile show personal
	expect 0 "egress   open (host network)"
	run am --json profile show multi_corporate_firewall
	expect 0
	echo "$output" | json '
assert d["type"]=="multi_corporate_firewall" and d["owner"]=="enterprise", d
assert [t["name"] for t in d["tenants"]]==["acme","globex"], d'
	run am profile show nosuch
	expect 6 "no profile 'nosuch'"
	run am profile show
	expect 2
}

@test "profile show --layers: where each value came from, and what is locked" {
	ws
	init_ws
	managed 10-corp.json '{"network": {"mode": "proxy", "allow": ["git.corp.example:443"]}, "tools": {"forbid": ["curl"]}, "locked": ["network.mode", "budget.tokens"]}'
	am -q profile create build --type personal --set 'tools.permit=["git","curl"]' --set budget.modelCalls=5 --key "$OWNER"
	mkdir -p "$XDG_CONFIG_HOME/am/profiles"
	run am profile show build --layers
	expect 0
	grep -E '^network\.mode +enterprise:10-corp\.json +"proxy"  \(locked\)$' <<<"$output"
	grep -E '^network\.allow +enterprise:10-corp\.json +\["git\.corp\.example:443"\]$' <<<"$output"
	grep -E '^budget\.modelCalls +workspace +5$' <<<"$output"
	# locked, and the enterprise gives no value: the template's, not the workspace's
	grep -E '^budget\.tokens +builtin +2000000  \(locked\)$' <<<"$output"
	grep -E '^tools\.permit +workspace +\["git","curl"\]$' <<<"$output"
	grep -E '^tools\.forbid +[a-z:.0-9-]+ +\[.*"curl"\]$' <<<"$output"
	run am --json profile show build --layers
	expect 0
	echo "$output" | json '
v={e["path"]:e for e in d}
assert v["network.mode"]=={"path":"network.mode","value":"proxy","origin":"enterprise:10-corp.json","locked":True}, v["network.mode"]
assert v["budget.modelCalls"]["origin"]=="workspace" and v["budget.modelCalls"]["locked"] is False
assert v["network.allow"]["locked"] is False
assert "curl" in v["tools.forbid"]["value"]'
	# The user layer, for a name that is not recorded.
	echo '{"network": {"allow": ["example.com"]}, "budget": {"agentConcurrency": 2}}' > "$XDG_CONFIG_HOME/am/profiles/personal.json"
	run am profile show personal --layers
	expect 0
	grep -E '^budget\.agentConcurrency +user +2$' <<<"$output"
	grep -E '^budget\.modelCalls +builtin +1000$' <<<"$output"
	# network.allow is the enterprise's: it is the higher layer.
	grep -E '^network\.allow +enterprise:10-corp\.json' <<<"$output"
}

@test "profile show --layers: a list the enterprise added to names the layers it came from" {
	ws
	cd "$BATS_TEST_TMPDIR"
	managed 10-corp.json '{"tools": {"forbid": ["curl"]}}'
	run am profile show personal --layers
	expect 0
	line=$(grep -E '^tools\.forbid ' <<<"$output")
	[[ "$line" == *'"gpg-agent","curl"]' ]]
	[[ "$line" == *enterprise:10-corp.json* ]] ||
		skip "BUG: core/profile.c merge() gives an enterprise-extended list the origin \"merged\", naming neither layer: $line"
}

@test "profile show --layers: a locked parent keeps the template's values under it" {
	ws
	cd "$BATS_TEST_TMPDIR"
	managed 50-lock.json '{"containers": {"network": "none"}, "locked": ["containers"]}'
	run am --json profile show personal --layers
	expect 0
	echo "$output" | json '
v={e["path"]:e for e in d}
import sys
miss=[p for p in ("containers.permit","containers.allowTags","containers.imageDigests") if p not in v]
if miss: print("BUG missing", miss); sys.exit(0)
assert v["containers.allowTags"]["value"] is True and v["containers.allowTags"]["locked"] is True
assert v["containers.network"]=={"path":"containers.network","value":"none","origin":"enterprise:50-lock.json","locked":True}' > "$BATS_TEST_TMPDIR/out"
	if grep -q BUG "$BATS_TEST_TMPDIR/out"; then
		skip "BUG: core/profile.c merge() skips a locked path for every lower layer including the builtin template, so locking a parent (containers) drops the template's values under it ($(cat "$BATS_TEST_TMPDIR/out")); am-profile(5): a locked path keeps the enterprise value or else the template's"
	fi
}

@test "profile show: a user layer others can write is refused" {
	ws
	cd "$BATS_TEST_TMPDIR"
	mkdir -p "$XDG_CONFIG_HOME/am/profiles"
	echo '{"network": {"mode": "loopback"}}' > "$XDG_CONFIG_HOME/am/profiles/personal.json"
	chmod 600 "$XDG_CONFIG_HOME/am/profiles/personal.json"
	run am profile show personal
	expect 0 "egress   loopback only"
	chmod 666 "$XDG_CONFIG_HOME/am/profiles/personal.json"
	run am profile show personal
	[ "$status" -ne 0 ] ||
		skip "BUG: core/profile.c am_profile_resolve() reads the user layer \$XDG_CONFIG_HOME/am/profiles/NAME.json without checking its owner or mode; am-profile(5) Layers: it must be owned by the user and not writable by group or others"
	[[ "$output" == *personal.json* ]]
}

@test "profile diff: the values that differ, by path" {
	ws
	init_ws
	run am profile diff personal corporate_firewall
	expect 0
	[[ "$output" == *$'network.mode\n  - personal: "open"\n  + corporate_firewall: "proxy"'* ]]
	[[ "$output" == *$'owner\n  - personal: "user"\n  + corporate_firewall: "enterprise"'* ]]
	[[ "$output" != *$'\nbudget.tokens\n'* ]]
	am -q profile create build --type personal --set budget.tokens=5 --key "$OWNER"
	run am --json profile diff personal build
	expect 0
	echo "$output" | json 'assert d==[{"path":"budget.tokens","personal":2000000,"build":5}], d'
	run am --json profile diff build build
	expect 0
	[ "$(echo "$output" | json 'print(len(d))')" = 0 ]
	run am profile diff build
	expect 2
	run am profile diff build nosuch
	expect 6 "no profile 'nosuch'"
}

@test "profile export: the resolved profile as an AgentMachineProfile; its profile recreates it" {
	ws
	init_ws
	am -q profile create build --type local_model_provider --set budget.tokens=5 --key "$OWNER"
	ref=$(G show refs/am/ledger:profiles/build)
	run am profile export build
	expect 0
	echo "$output" > "$HOME/export.json"
	json '
assert d["kind"]=="AgentMachineProfile" and d["name"]=="build" and d["profileType"]=="local_model_provider", d
assert d["recordRef"]==sys.argv[1], d
assert d["profile"]["budget"]["tokens"]==5 and d["profile"]["modelProviders"]["promptEgress"]=="deny", d' "$ref" < "$HOME/export.json"
	json 'json.dump(d["profile"], open(sys.argv[1], "w"))' "$HOME/p.json" < "$HOME/export.json"
	run am profile check "$HOME/p.json"
	expect 0
	am -q profile create build2 --from "$HOME/p.json" --key "$OWNER"
	run am --json profile diff build build2
	expect 0
	[ "$output" = "[]" ]
	run am profile export personal
	expect 0
	echo "$output" | json 'assert d["profileType"]=="personal" and "recordRef" not in d, d'
	run am profile export nosuch
	expect 6
}
