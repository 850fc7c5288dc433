#!/usr/bin/env bats
# am key and am trust: OpenSSH key pairs, the principals a workspace trusts,
# and who may change them (an owner's own key, in a file or in ssh-agent).

load helper

OWNER() { echo "$XDG_CONFIG_HOME/am/owner_ed25519"; }

# The principals in the ledger's allowed_signers, sorted, one a line.
signers() { G show refs/am/ledger:allowed_signers | grep -v '^#' | cut -d' ' -f1 | sort | tr '\n' ' '; }
# The same names from am trust list --json.
trusted() { am --json trust list | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(sys.stdin))) + " ")'; }

# refused EXIT TEXT CMD...: CMD exits EXIT naming TEXT and the ledger tip
# does not move.
refused() {
	local want=$1 text=$2 before
	shift 2
	before=$(tip)
	run "$@"
	expect "$want" "$text"
	[ "$(tip)" = "$before" ] || { echo "ledger written by a refused command"; return 1; }
}

teardown() {
	if [ -n "${AGENT_PID:-}" ]; then
		kill "$AGENT_PID" 2>/dev/null || true
	fi
}

# Start an ssh-agent on $SOCK and wait until it answers.
start_agent() {
	SOCK="$BATS_TEST_TMPDIR/agent.sock"
	AGENT_PID=$(ssh-agent -a "$SOCK" 3>&- | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
	[ -n "$AGENT_PID" ]
	local i rc
	for i in $(seq 50); do
		rc=0
		SSH_AUTH_SOCK="$SOCK" ssh-add -l >/dev/null 2>&1 || rc=$?
		[ "$rc" -le 1 ] && break # 1: no identities, but it answered
		sleep 0.1
	done
	[ "$rc" -le 1 ]
	export SSH_AUTH_SOCK="$SOCK"
}

@test "key generate writes a pair ssh-keygen accepts, 0600 private, and never overwrites" {
	out=$(am key generate "$HOME/k" 2>/dev/null)
	fpr=$(ssh-keygen -l -f "$HOME/k" | cut -d' ' -f2)
	[ "$(ssh-keygen -l -f "$HOME/k.pub" | cut -d' ' -f2)" = "$fpr" ]
	ssh-keygen -l -f "$HOME/k" | grep -q '(ED25519)$'
	[ "$out" = "$fpr" ] # the fingerprint alone on stdout
	[ "$(stat -c %a "$HOME/k")" = 600 ]
	# ssh-keygen derives the same public key from the private file.
	[ "$(ssh-keygen -y -f "$HOME/k" | cut -d' ' -f1,2)" = "$(cut -d' ' -f1,2 "$HOME/k.pub")" ]

	sum=$(cat "$HOME/k" "$HOME/k.pub" | sha256sum)
	run am key generate "$HOME/k"
	expect 2 "already exists"
	[ "$(cat "$HOME/k" "$HOME/k.pub" | sha256sum)" = "$sum" ]
	# Only the private half there: still refused, and no .pub appears.
	cp "$HOME/k" "$HOME/j"
	run am key generate "$HOME/j"
	expect 2 "already exists"
	[ ! -e "$HOME/j.pub" ]
	cmp -s "$HOME/k" "$HOME/j"
}

@test "key generate without FILE writes under XDG_CONFIG_HOME/am" {
	run am --json key generate -C me@test
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["privateKey"].endswith("/am/key_ed25519") and d["publicKey"]==d["privateKey"]+".pub", d'
	[ -f "$XDG_CONFIG_HOME/am/key_ed25519.pub" ]
	grep -q ' me@test$' "$XDG_CONFIG_HOME/am/key_ed25519.pub"
}

@test "key show prints the fingerprint and public line of either half" {
	ssh-keygen -q -t ed25519 -N '' -C bob -f "$HOME/bob"
	fpr=$(ssh-keygen -l -f "$HOME/bob.pub" | cut -d' ' -f2)
	for f in "$HOME/bob.pub" "$HOME/bob"; do
		run am key show "$f"
		expect 0
		[ "${lines[0]}" = "$fpr" ]
		[ "$(echo "${lines[1]}" | cut -d' ' -f1,2)" = "$(cut -d' ' -f1,2 "$HOME/bob.pub")" ]
	done
	run am --json key show "$HOME/bob.pub"
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["fingerprint"]=="'"$fpr"'" and d["publicKey"].startswith("ssh-ed25519 "), d'
	ssh-keygen -q -t rsa -b 1024 -N '' -f "$HOME/rsa"
	run am key show "$HOME/rsa.pub"
	[ "$status" -ne 0 ]
	[[ "$output" == *ed25519* ]]
}

@test "a private key readable by group or others is refused by --key, nothing written" {
	init_ws
	am key generate "$HOME/op" >/dev/null 2>&1
	for mode in 640 604 644; do
		chmod "$mode" "$(OWNER)"
		refused 4 "permissions 0$mode are too open" am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)"
		AM_KEY="$(OWNER)" refused 4 "permissions 0$mode are too open" am trust add "$HOME/op.pub" --name op --role operator
	done
	chmod 600 "$(OWNER)"
	run am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)"
	expect 0
}

@test "trust add, list and remove with the owner's key keep allowed_signers in step" {
	init_ws
	m=$(am --json trust list | /usr/bin/python3 -c 'import json,sys; print([p["name"] for p in json.load(sys.stdin) if p["role"]=="machine"][0])')
	[ "$(signers)" = "$(echo "$m owner" | tr ' ' '\n' | sort | tr '\n' ' ')" ]
	am key generate "$HOME/op" >/dev/null 2>&1
	am key generate "$HOME/own2" >/dev/null 2>&1
	fpr=$(ssh-keygen -l -f "$HOME/op.pub" | cut -d' ' -f2)

	run am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)"
	expect 0 "trusted 'op'"
	run am --json trust add "$HOME/own2.pub" --name own2 --role owner --key "$(OWNER)"
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["name"]=="own2" and d["role"]=="owner" and d["operation"].startswith("urn:srcos:agent-machine:operation:"), d'

	run am trust list
	expect 0
	echo "$output" | grep -q "^op  *operator  *$fpr\$"
	echo "$output" | grep -q '^own2  *owner  *SHA256:'
	[ "$(trusted)" = "$(signers)" ]
	G show refs/am/ledger:allowed_signers | grep -qx "op namespaces=\"am-delegation\" $(cut -d' ' -f1,2 "$HOME/op.pub")"
	G log -1 --format=%s refs/am/ledger | grep -q '^agent_machine.trust.add urn:srcos:agent-machine:operation:'

	# A name already in use is a conflict, not an overwrite; so is a key
	# already trusted under another name (a kid names one principal).
	refused 7 "already trusted" am trust add "$HOME/own2.pub" --name op --role owner --key "$(OWNER)"
	refused 7 "already trusted as 'op'" am trust add "$HOME/op.pub" --name op9 --role owner --key "$(OWNER)"

	run am trust remove op --key "$(OWNER)"
	expect 0 "removed 'op'"
	[ "$(am trust list | grep -c '^op ')" = 0 ]
	[ "$(G show refs/am/ledger:allowed_signers | grep -c '^op ')" = 0 ]
	[ "$(trusted)" = "$(signers)" ]
	# The second owner may now remove the first.
	run am trust remove owner --key "$HOME/own2"
	expect 0
	[ "$(trusted)" = "$(signers)" ]
	[ "$(G show refs/am/ledger:allowed_signers | grep -c '^owner ')" = 0 ]
	refused 6 "no trusted principal 'nobody'" am trust remove nobody --key "$HOME/own2"
	run am verify
	expect 0
}

@test "each commit is authored by who acted: a principal's key or a delegation" {
	# SPEC section 3: commit author is the acting principal/delegate.
	init_ws
	am key generate "$HOME/op" >/dev/null 2>&1
	am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)" 2>/dev/null
	[ "$(G log -1 --format='%an <%ae>' refs/am/ledger)" = "owner <$(ssh-keygen -l -f "$(OWNER).pub" | cut -d' ' -f2)>" ]
	tok=$(am delegation create --to agent7 --operations agent_machine.delegation.create --profile personal --key "$HOME/op" 2>/dev/null)
	[ "$(G log -1 --format='%an <%ae>' refs/am/ledger)" = "op <$(ssh-keygen -l -f "$HOME/op.pub" | cut -d' ' -f2)>" ]
	id=$(am --json delegation verify "$tok" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	am delegation create --to sub --operations agent_machine.delegation.create --delegation "$tok" >/dev/null 2>&1
	[ "$(G log -1 --format='%an <%ae>' refs/am/ledger)" = "agent7 <delegation:$id>" ]
}

@test "an operator's key may not add or remove principals" {
	init_ws
	am key generate "$HOME/op" >/dev/null 2>&1
	am key generate "$HOME/x" >/dev/null 2>&1
	am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)" 2>/dev/null
	refused 4 "only an owner may" am trust add "$HOME/x.pub" --name x --role operator --key "$HOME/op"
	refused 4 "only an owner may" am trust add "$HOME/x.pub" --name x --role owner --key "$HOME/op"
	refused 4 "only an owner may" am trust remove op --key "$HOME/op"
	refused 4 "only an owner may" am trust remove owner --key "$HOME/op"
	# A key nobody trusted is no better.
	refused 4 "not a trusted principal" am trust add "$HOME/x.pub" --name x --role owner --key "$HOME/x"
	# Nor is a delegation, even one from the owner.
	tok=$(am delegation create --to agent --operations agent_machine.trust.add --profile personal --key "$(OWNER)" 2>/dev/null)
	refused 4 "needs an owner's own key" am trust add "$HOME/x.pub" --name x --role owner --delegation "$tok"
}

@test "without a key: exit 4 no delegated authority, nothing written" {
	init_ws
	am key generate "$HOME/x" >/dev/null 2>&1
	refused 4 "am: no delegated authority for agent_machine.trust.add" am trust add "$HOME/x.pub" --name x --role operator
	refused 4 "am: no delegated authority for agent_machine.trust.remove" am trust remove owner
	# A public key file alone is not a key to sign with.
	refused 4 "no ssh-agent" am trust add "$HOME/x.pub" --name x --role operator --key "$(OWNER).pub"
	run am --json trust add "$HOME/x.pub" --name x --role operator
	expect 4
	echo "$output" | /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin)["error"]; assert e["class"]=="authority" and e["message"]=="no delegated authority for agent_machine.trust.add", e'
}

@test "the last owner and this machine's key cannot be removed" {
	init_ws
	m=$(am --json trust list | /usr/bin/python3 -c 'import json,sys; print([p["name"] for p in json.load(sys.stdin) if p["role"]=="machine"][0])')
	refused 7 "'owner' is the last owner" am trust remove owner --key "$(OWNER)"
	refused 7 "this machine's ledger key" am trust remove "$m" --key "$(OWNER)"
	# Another machine's key may go.
	am key generate "$HOME/m2" >/dev/null 2>&1
	am trust add "$HOME/m2.pub" --name m2 --role machine --key "$(OWNER)" 2>/dev/null
	run am trust remove m2 --key "$(OWNER)"
	expect 0
}

@test "ledger commits made after trust changes verify with ssh-keygen and git against allowed_signers" {
	init_ws
	am key generate "$HOME/op" >/dev/null 2>&1
	am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER)" 2>/dev/null
	am trust remove op --key "$(OWNER)" 2>/dev/null
	am trust add "$HOME/op.pub" --name op2 --role owner --key "$(OWNER)" 2>/dev/null
	[ "$(G rev-list --count refs/am/ledger)" = 4 ]
	G show refs/am/ledger:allowed_signers > "$HOME/as"
	for c in $(G rev-list refs/am/ledger); do
		G cat-file commit "$c" > "$HOME/c"
		rm -f "$HOME/sig" "$HOME/payload"
		awk '/^gpgsig /{s=1; sub(/^gpgsig /,""); print > "'"$HOME/sig"'"; next} s && /^ /{sub(/^ /,""); print > "'"$HOME/sig"'"; next} {s=0; print > "'"$HOME/payload"'"}' "$HOME/c"
		who=$(ssh-keygen -Y find-principals -s "$HOME/sig" -f "$HOME/as")
		[[ "$who" == machine-* ]]
		run ssh-keygen -Y verify -f "$HOME/as" -I "$who" -n git -s "$HOME/sig" < "$HOME/payload"
		expect 0 "Good \"git\" signature for $who"
		run G -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$HOME/as" verify-commit "$c"
		expect 0 'Good "git" signature'
	done
	# A payload changed by one byte does not (the check above can fail).
	echo >> "$HOME/payload"
	run ssh-keygen -Y verify -f "$HOME/as" -I "$who" -n git -s "$HOME/sig" < "$HOME/payload"
	[ "$status" -ne 0 ]
	run am verify
	expect 0
}

@test "the owner's key in ssh-agent signs trust changes; a dead agent is a clear exit 4" {
	init_ws
	am key generate "$HOME/op" >/dev/null 2>&1
	start_agent
	# The agent answers but does not hold the key yet.
	refused 4 "does not hold the key" am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER).pub"
	ssh-add -q "$(OWNER)"
	run am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER).pub"
	expect 0 "trusted 'op'"
	G show refs/am/ledger:allowed_signers | grep -q '^op '
	# AM_KEY works the same way.
	AM_KEY="$(OWNER).pub" run am trust remove op
	expect 0 "removed 'op'"

	kill "$AGENT_PID"
	for i in $(seq 50); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	AGENT_PID=
	refused 4 "ssh-agent at '$SOCK'" am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER).pub"
	unset SSH_AUTH_SOCK
	refused 4 'no ssh-agent ($SSH_AUTH_SOCK unset)' am trust add "$HOME/op.pub" --name op --role operator --key "$(OWNER).pub"
	run am verify
	expect 0
}
