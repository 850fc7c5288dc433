#!/usr/bin/env bats
# am verify: each kind of tampering is caught with exit 8, naming the problem.

load helper


# forge [-S KEY] PATH=FILE...: a commit on top of refs/am/ledger whose tree
# has the given files replaced, optionally SSH-signed with KEY, made with plain
# git the way an attacker with write access to .am/ would.
forge() {
	local sign=()
	if [ "$1" = -S ]; then
		sign=(-c gpg.format=ssh -c "user.signingkey=$2")
		shift 2
	fi
	local idx="$BATS_TEST_TMPDIR/forge.idx" tree commit spec blob
	GIT_INDEX_FILE="$idx" G read-tree refs/am/ledger
	for spec in "$@"; do
		blob=$(G hash-object -w "${spec#*=}")
		GIT_INDEX_FILE="$idx" G update-index --add --cacheinfo "100644,$blob,${spec%%=*}"
	done
	tree=$(GIT_INDEX_FILE="$idx" G write-tree)
	if [ ${#sign[@]} -gt 0 ]; then
		commit=$(G "${sign[@]}" commit-tree -S -p refs/am/ledger -m forged "$tree")
	else
		commit=$(G commit-tree -p refs/am/ledger -m forged "$tree")
	fi
	G update-ref refs/am/ledger "$commit"
}

canon() { /usr/bin/python3 -c 'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()),sort_keys=True,separators=(",",":"),ensure_ascii=False))'; }

@test "verify on an untouched ledger exits 0" {
	init_ws
	run am verify
	expect 0 "ok: 1 commits signed"
	run am --json verify
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["commits"]==1 and d["operations"]==1 and d["events"]==3'
}

@test "an artifact whose bytes no longer hash to its name" {
	init_ws
	path=$(G ls-tree -r --name-only refs/am/ledger artifacts | head -1)
	G show "refs/am/ledger:$path" | sed 's/"specVersion":"0.1.0"/"specVersion":"0.1.1"/' > "$HOME/bad"
	forge -S "$XDG_STATE_HOME/am/machine_ed25519" "$path=$HOME/bad"
	run am verify
	expect 8 "bytes no longer hash to its name"
}

@test "a commit with no signature" {
	init_ws
	echo "x" > "$HOME/f"
	forge "notes=$HOME/f"
	run am verify
	expect 8 "has no signature"
}

@test "a commit signed by a foreign key" {
	init_ws
	ssh-keygen -q -t ed25519 -N '' -f "$HOME/evil"
	echo "x" > "$HOME/f"
	forge -S "$HOME/evil" "notes=$HOME/f"
	run am verify
	expect 8 "not a trusted machine key"
}

@test "a commit signed by the owner (trusted, but not a machine key)" {
	init_ws
	echo "x" > "$HOME/f"
	forge -S "$XDG_CONFIG_HOME/am/owner_ed25519" "notes=$HOME/f"
	run am verify
	expect 8 "not a trusted machine key"
}

@test "a commit that trusts its own signer is still refused" {
	init_ws
	ssh-keygen -q -t ed25519 -N '' -f "$HOME/evil"
	G show refs/am/ledger:trust.json | /usr/bin/python3 -c '
import json,sys; t=json.load(sys.stdin)
t["evil"]={"role":"machine","key":open(sys.argv[1]).read().split()[0]+" "+open(sys.argv[1]).read().split()[1],"fingerprint":"x","principal":"x"}
sys.stdout.write(json.dumps(t,sort_keys=True,separators=(",",":")))' "$HOME/evil.pub" > "$HOME/trust"
	forge -S "$HOME/evil" "trust.json=$HOME/trust"
	run am verify
	expect 8 "not a trusted machine key"
}

@test "a rewritten history (same tree, new root) is caught by the recorded tip" {
	init_ws
	tree=$(G rev-parse 'refs/am/ledger^{tree}')
	c=$(G -c gpg.format=ssh -c user.signingkey="$XDG_STATE_HOME/am/machine_ed25519" commit-tree -S -m rewritten "$tree")
	G update-ref refs/am/ledger "$c"
	run am verify
	expect 8 "history rewritten"
}

@test "an event sequence that breaks the transition table" {
	init_ws
	op=$(G ls-tree -r --name-only refs/am/ledger ops | head -1)
	idx=$(G show "refs/am/ledger:$op")
	last=$(echo "$idx" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][-1])')
	h=${last#sha256:}
	# completed -> running is illegal: completed is terminal.
	G show "refs/am/ledger:artifacts/${h:0:2}/${h:2:2}/$h" | /usr/bin/python3 -c '
import json,sys; e=json.load(sys.stdin)
e["sequence"]=4; e["fromState"]="completed"; e["toState"]="running"; e["eventType"]="start"; e["previousEventRef"]=sys.argv[1]
sys.stdout.write(json.dumps(e,sort_keys=True,separators=(",",":")))' "$last" > "$HOME/ev"
	n=$(sha256sum "$HOME/ev" | cut -d' ' -f1)
	echo "$idx" | /usr/bin/python3 -c '
import json,sys; i=json.load(sys.stdin); i["events"].append("sha256:"+sys.argv[1]); i["state"]="running"
sys.stdout.write(json.dumps(i,sort_keys=True,separators=(",",":")))' "$n" > "$HOME/idx"
	forge -S "$XDG_STATE_HOME/am/machine_ed25519" "artifacts/${n:0:2}/${n:2:2}/$n=$HOME/ev" "$op=$HOME/idx"
	run am verify
	expect 8 "breaks the transition table: completed -> running"
}

@test "a stray file in the artifacts tree" {
	init_ws
	echo '{}' > "$HOME/f"
	forge -S "$XDG_STATE_HOME/am/machine_ed25519" "artifacts/00/00/notahash=$HOME/f"
	run am verify
	expect 8 "stray"
}

@test "a commit signed by the machine key on top of a valid ledger verifies" {
	# The positive control for the forgery tests: forge() itself is sound.
	init_ws
	echo "x" > "$HOME/f"
	forge -S "$XDG_STATE_HOME/am/machine_ed25519" "notes=$HOME/f"
	run am verify
	expect 0 "ok: 2 commits signed"
}

@test "sixty commits: their packs are merged, and git fsck and verify-pack accept them" {
	# One pack a commit; merges deltify the transactions' packs once and
	# copy merged packs as they are (am-ledger(5), "Object storage").
	init_ws
	local key="$XDG_CONFIG_HOME/am/owner_ed25519" i idx packs
	for i in $(seq 30); do
		am -q execution start --profile personal --key "$key" -- /bin/true
	done
	# The background merges kept them few (one pack a commit otherwise:
	# 61); a merge under way adds one before it removes its inputs.
	packs=("$(ledger)"/objects/pack/*.pack)
	[ "${#packs[@]}" -le 16 ]
	# Merge in the foreground what is still due, after any background merge
	# (it waits for that one's lock).
	AM_PACK_MERGE="$(ledger)" "$AM"
	packs=("$(ledger)"/objects/pack/*.pack)
	[ "${#packs[@]}" -le 9 ]
	[ -z "$(find "$(ledger)/objects" -mindepth 1 -maxdepth 1 -name '??')" ] # no loose objects
	G fsck --full --strict
	for idx in "$(ledger)"/objects/pack/*.idx; do G verify-pack "$idx"; done
	# the pack builder deltified what transactions stored
	G verify-pack -v "$(ledger)"/objects/pack/*.idx | grep -q "chain length = 1:"
	run am verify
	expect 0 "ok: 61 commits signed"
}

@test "a ledger whose ref git pack-refs moved into packed-refs still takes commits" {
	init_ws
	G pack-refs --all
	[ ! -e "$(ledger)/refs/am/ledger" ]
	run am -q execution start --profile personal --key "$XDG_CONFIG_HOME/am/owner_ed25519" -- /bin/true
	expect 0
	[ -e "$(ledger)/refs/am/ledger" ]
	run am verify
	expect 0 "ok: 3 commits signed"
}
