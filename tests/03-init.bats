#!/usr/bin/env bats
# am init: a workspace, its bare ledger, the machine key and owner trust.

load helper

@test "init creates a bare ledger with refs/am/ledger and one signed commit" {
	run am init "$WS"
	expect 0 "Initialized am workspace urn:srcos:agent-machine:workspace:"
	[ "$(git -C "$WS/.am/ledger.git" rev-parse --is-bare-repository)" = true ]
	[ "$(git -C "$WS/.am/ledger.git" rev-list --count refs/am/ledger)" = 1 ]
	git -C "$WS/.am/ledger.git" cat-file commit refs/am/ledger | grep -q '^gpgsig -----BEGIN SSH SIGNATURE-----'
	git -C "$WS/.am/ledger.git" log -1 --format=%s refs/am/ledger | grep -q '^agent_machine.workspace.init urn:srcos:agent-machine:operation:'
}

@test "the init commit verifies with plain git verify-commit and ssh-keygen" {
	init_ws
	g="$WS/.am/ledger.git"
	git -C "$g" show refs/am/ledger:allowed_signers > "$HOME/as"
	run git -C "$g" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$HOME/as" verify-commit refs/am/ledger
	expect 0 'Good "git" signature'
	# The same with ssh-keygen directly, over the commit minus its signature.
	git -C "$g" cat-file commit refs/am/ledger > "$HOME/c"
	awk '/^gpgsig /{s=1; sub(/^gpgsig /,""); print > "'"$HOME/sig"'"; next} s && /^ /{sub(/^ /,""); print > "'"$HOME/sig"'"; next} {s=0; print > "'"$HOME/payload"'"}' "$HOME/c"
	m=$(grep -m1 machine "$HOME/as" | cut -d' ' -f1)
	run ssh-keygen -Y verify -f "$HOME/as" -I "$m" -n git -s "$HOME/sig" < "$HOME/payload"
	expect 0 "Good"
}

@test "the machine key is 0600 under XDG_STATE_HOME, outside the workspace" {
	init_ws
	k="$XDG_STATE_HOME/am/machine_ed25519"
	[ "$(stat -c %a "$k")" = 600 ]
	ssh-keygen -l -f "$k" >/dev/null
	! find "$WS" -name 'machine_ed25519*' | grep -q .
}

@test "owner defaults to ~/.ssh/id_ed25519.pub when present" {
	mkdir -p "$HOME/.ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519" -C me
	fpr=$(ssh-keygen -l -f "$HOME/.ssh/id_ed25519.pub" | cut -d' ' -f2)
	run am --json init --owner-name alice "$WS"
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); o=d["owner"]; assert o["name"]=="alice" and o["fingerprint"]=="'"$fpr"'" and not o["generated"], d'
	git -C "$WS/.am/ledger.git" show refs/am/ledger:allowed_signers | grep -q "^alice namespaces=\"am-delegation\" ssh-ed25519 "
}

@test "without a key am generates the owner key under XDG_CONFIG_HOME" {
	run am --json init "$WS"
	expect 0
	[ -f "$XDG_CONFIG_HOME/am/owner_ed25519.pub" ]
	[ "$(stat -c %a "$XDG_CONFIG_HOME/am/owner_ed25519")" = 600 ]
}

@test "--owner-key names the owner's public key" {
	ssh-keygen -q -t ed25519 -N '' -f "$HOME/bob" -C bob
	run am init --owner-key "$HOME/bob.pub" --owner-name bob "$WS"
	expect 0 "owner bob SHA256:"
	run am init --owner-key "$HOME/nokey.pub" "$BATS_TEST_TMPDIR/ws2"
	expect 6 "--owner-key"
	[ ! -e "$BATS_TEST_TMPDIR/ws2/.am" ]
}

@test "re-running init on a workspace is a no-op that says so" {
	init_ws
	before=$(git -C "$WS/.am/ledger.git" rev-parse refs/am/ledger)
	run am init "$WS"
	expect 0 "already an am workspace"
	[ "$(git -C "$WS/.am/ledger.git" rev-parse refs/am/ledger)" = "$before" ]
}

@test "init on a file fails with exit 2 and writes nothing" {
	echo x > "$HOME/afile"
	run am init "$HOME/afile"
	expect 2 "not a directory"
	[ "$(cat "$HOME/afile")" = x ]
}

@test "init on an unwritable directory fails cleanly" {
	if [ "$(id -u)" = 0 ]; then
		# root ignores mode bits; a read-only bind mount is the honest test.
		mkdir -p "$HOME/ro"
		if ! mount --bind -o ro "$HOME/ro" "$HOME/ro" 2>/dev/null; then
			skip "cannot make a read-only mount here"
		fi
		mount -o remount,bind,ro "$HOME/ro"
		run am init "$HOME/ro"
		umount "$HOME/ro"
	else
		mkdir -p "$HOME/ro" && chmod 555 "$HOME/ro"
		run am init "$HOME/ro"
	fi
	expect 1 "cannot init"
	[ ! -e "$HOME/ro/.am" ]
	! ls -a "$HOME/ro" | grep -q '^\.am'
}

@test "a .am that is not a ledger is refused (exit 7) and left alone" {
	mkdir -p "$WS/.am"
	echo keep > "$WS/.am/file"
	run am init "$WS"
	expect 7 "not an am ledger"
	[ "$(cat "$WS/.am/file")" = keep ]
}

@test "init inside a git work tree adds .am/ to .git/info/exclude" {
	mkdir -p "$WS" && git -C "$WS" init -q
	run am init "$WS"
	expect 0 "info/exclude"
	grep -qx '/.am/' "$WS/.git/info/exclude"
	[ -z "$(git -C "$WS" status --porcelain)" ]
	# a second init does not duplicate the line
	run am init "$WS"
	[ "$(grep -c '/.am/' "$WS/.git/info/exclude")" = 1 ]
}

@test "init creates a missing directory, and . by default" {
	run am init "$BATS_TEST_TMPDIR/new/deep"
	expect 0
	[ -d "$BATS_TEST_TMPDIR/new/deep/.am/ledger.git" ]
	mkdir -p "$WS" && cd "$WS"
	run am init
	expect 0
	[ -d "$WS/.am/ledger.git" ]
}
