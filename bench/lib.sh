# lib.sh - sourced by the bench scripts that time am commands against git.

# Nanoseconds of the clock, for intervals.
ns() { date +%s%N; }

# A temporary directory $tmp (removed on exit, under BENCH_TMPDIR, default
# /tmp) holding HOME and the XDG directories, so that nothing of the user's
# is read or written.
bench_home() {
	tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/am-bench-$1.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM
	export HOME="$tmp/home" XDG_STATE_HOME="$tmp/home/state" XDG_CONFIG_HOME="$tmp/home/config"
	export XDG_CACHE_HOME="$tmp/home/cache" TZ=UTC
	export GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
	unset AM_KEY AM_DELEGATION AM_WORKSPACE AM_MANAGED_DIR
	mkdir -p "$HOME"
}

# Microseconds per "git add FILE && git commit" of one new small file, over
# $2 commits in a new repository at $1: the git side of the ratios.
git_commit_us() {
	git init -q "$1"
	git -C "$1" config user.name b
	git -C "$1" config user.email b@example.invalid
	t0=$(ns)
	i=0
	while [ $i -lt "$2" ]; do
		echo "$i" > "$1/f$i"
		git -C "$1" add "f$i" && git -C "$1" commit -q -m "$i"
		i=$((i + 1))
	done
	t1=$(ns)
	echo $(( (t1 - t0) / $2 / 1000 ))
}
