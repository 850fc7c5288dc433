#!/usr/bin/env bats
# The command table, global options, help and exit codes (SPEC section 13).

load helper

@test "am with no command prints usage and exits 2" {
	run am
	expect 2 "usage: am"
}

@test "am help lists every command of the table" {
	run am help
	expect 0 "commands:"
	for c in $(am help --commands); do
		[[ "$output" == *"$c"* ]]
	done
}

@test "unknown command exits 2 and suggests the nearest one" {
	run am verfy
	expect 2 "did you mean 'verify'?"
	run am lgo
	expect 2 "did you mean 'log'?"
	run am zzzzzzzz
	expect 2 "not an am command"
}

@test "unknown command with --json gives a JSON error" {
	run am --json verfy
	expect 2
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["error"]["class"]=="usage", d'
}

@test "am CMD -h and am help CMD print the command's usage" {
	for c in init log show verify; do
		run am "$c" -h
		expect 0 "usage: am $c"
		run am help "$c"
		expect 0 "usage: am $c"
	done
	run am help nosuch
	expect 2 "no such command"
}

@test "am version prints the version; --json is a document" {
	run am version
	expect 0 "am 0."
	run am --json version
	expect 0
	echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["version"]'
}

@test "commands outside a workspace exit 6 like git" {
	cd "$HOME"
	for c in log verify "show abcdef"; do
		run am $c
		expect 6 "not an am workspace (or any parent)"
	done
}

@test "-C DIR runs as if started in DIR" {
	init_ws
	cd "$HOME"
	run am -C "$WS" verify
	expect 0 "ok:"
	run am -C "$HOME/nonexistent" verify
	expect 6 "cannot change to"
}

@test "AM_WORKSPACE names the workspace" {
	init_ws
	cd "$HOME"
	AM_WORKSPACE="$WS" run am verify
	expect 0 "ok:"
	AM_WORKSPACE="$HOME" run am verify
	expect 6 "not an am workspace"
}

@test "a bad option exits 2 with the command's usage" {
	init_ws
	run am log --bogus
	expect 2 "usage: am log"
}

@test "-q silences informational output" {
	run am -q init "$WS"
	expect 0
	[ -z "$output" ]
}
