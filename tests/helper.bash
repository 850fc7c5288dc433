# helper.bash - shared by every bats suite: each test gets its own HOME,
# XDG directories and workspace, and ./am first on PATH.

AM_TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
AM="$AM_TOP/am"
export AM AM_TOP

setup() {
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_STATE_HOME="$HOME/.local/state" XDG_CONFIG_HOME="$HOME/.config"
	export XDG_CACHE_HOME="$HOME/.cache"
	mkdir -p "$HOME"
	unset AM_WORKSPACE AM_DELEGATION AM_KEY AM_NOW SSH_AUTH_SOCK NO_COLOR
	export PATH="$AM_TOP:$PATH"
	WS="$BATS_TEST_TMPDIR/ws"
	export GIT_CONFIG_NOSYSTEM=1
	git config --global user.name test 2>/dev/null || true
	git config --global user.email test@example.invalid 2>/dev/null || true
}

# Make a workspace at $WS and cd into it.
init_ws() {
	am -q init "$WS" >/dev/null
	cd "$WS"
}

# The ledger's git dir; G ARGS...: git in it; tip: its commit.
ledger() { echo "$WS/.am/ledger.git"; }
G() { git -C "$WS/.am/ledger.git" "$@"; }
tip() { G rev-parse refs/am/ledger; }

# json CODE [ARGS...]: run python CODE with d = the JSON document on stdin.
json() {
	local code=$1
	shift
	/usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $code" "$@"
}

# No enterprise layer unless the test makes one (the host's
# /etc/am/managed.d must not leak in), and $OWNER, the owner key that
# am init generates.
no_managed() {
	export AM_MANAGED_DIR="$BATS_TEST_TMPDIR/managed.d"
	OWNER="$XDG_CONFIG_HOME/am/owner_ed25519"
}

# managed FILE JSON: a root-owned enterprise file, mode 644, in a 755 dir.
managed() {
	install -d -m 755 "$AM_MANAGED_DIR"
	printf '%s\n' "$2" > "$AM_MANAGED_DIR/$1"
	chmod 644 "$AM_MANAGED_DIR/$1"
}

# Run a C unit test binary; it prints failed checks itself.
run_unit() {
	run "$AM_TOP/tests/unit/$1"
	echo "$output"
	[ "$status" -eq 0 ]
}

# Assert the last `run` exited with $1 and (optionally) printed $2.
expect() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit $1, got $status; output:"
		echo "$output"
		return 1
	fi
	if [ $# -ge 2 ] && [[ "$output" != *"$2"* ]]; then
		echo "expected output to contain: $2"
		echo "got: $output"
		return 1
	fi
}
