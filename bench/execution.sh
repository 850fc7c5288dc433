#!/bin/sh
# execution.sh - the cost of one governed execution of /bin/true, end to
# end (`am execution start`: authority, profile, preflight commit, sandbox,
# supervision, final commit), side by side with the same /bin/true in
# bubblewrap, firejail and runc.  Prints a table and the ratios and writes
# them to bench/results/execution.txt.
#
#   am        am -q -C WS execution start --profile personal --key KEY -- /bin/true
#   bwrap     bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true
#   firejail  firejail --quiet --noprofile --net=none true
#   runc      runc run -b BUNDLE ID (busybox-static rootfs, /bin/true, no tty)
#
# Timed with hyperfine (no shell in between) if installed, else with a
# bounded loop of BENCH_RUNS runs.  Missing firejail and busybox-static are
# installed with apt-get when running as root; a side that still cannot
# run is left out and said so.
#
# Environment:
#   BENCH_RUNS    timed runs per side (default 30, after 3 warm-up runs)
#   BENCH_TMPDIR  where the workspace and the bundle go (default /tmp)
#
# Targets (the issue): am faster than firejail and than runc; am within 3x
# of bwrap.  The script prints whether each was met; it does not fail when
# one is missed.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
runs=${BENCH_RUNS:-30}
out=bench/results/execution.txt
case $runs in '' | *[!0-9]*) echo "execution.sh: bad BENCH_RUNS '$runs'" >&2; exit 2 ;; esac
[ -x ./am ] || { echo "execution.sh: run 'make' first" >&2; exit 1; }

# Install what is missing, as root only, quietly.
need=
command -v firejail >/dev/null 2>&1 || need="$need firejail"
{ [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; } || need="$need busybox-static"
if [ -n "$need" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "execution.sh: installing$need" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null 2>&1; } ||
		echo "execution.sh: could not install$need" >&2
fi

tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/am-bench-exec.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/home" bench/results
export HOME="$tmp/home" XDG_STATE_HOME="$tmp/home/state" XDG_CONFIG_HOME="$tmp/home/config"
export XDG_CACHE_HOME="$tmp/home/cache" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
export AM_MANAGED_DIR="$tmp/managed.d"
unset AM_WORKSPACE AM_DELEGATION AM_KEY SSH_AUTH_SOCK

# am: a workspace and its owner key.
"$top/am" -q init "$tmp/ws" >/dev/null
key="$XDG_CONFIG_HOME/am/owner_ed25519"
am_cmd="$top/am -q -C $tmp/ws execution start --profile personal --key $key -- /bin/true"
$am_cmd || { echo "execution.sh: am execution start -- /bin/true failed" >&2; exit 1; }

# The others, each checked once before it is timed.
names="am" cmds=
set -- "$am_cmd"
try() {
	name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		names="$names $name"
		return 0
	fi
	echo "execution.sh: $name left out: '$*' does not run here" >&2
	return 1
}
bw="bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true"
fj="firejail --quiet --noprofile --net=none true"
command -v bwrap >/dev/null 2>&1 && try bwrap $bw && set -- "$@" "$bw"
command -v firejail >/dev/null 2>&1 && try firejail $fj && set -- "$@" "$fj"
if command -v runc >/dev/null 2>&1 && [ -x /bin/busybox ]; then
	b="$tmp/bundle"
	mkdir -p "$b/rootfs/bin"
	cp /bin/busybox "$b/rootfs/bin/busybox"
	ln -s busybox "$b/rootfs/bin/true"
	(cd "$b" && runc spec)
	# /bin/true, no terminal, read-only root.
	sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' \
		-e 's/"readonly": false/"readonly": true/' "$b/config.json"
	rc="runc run -b $b am-bench-$$"
	try runc $rc && set -- "$@" "$rc"
fi

# Time every side: hyperfine, else a bounded loop; "name mean_ms sd_ms".
if command -v hyperfine >/dev/null 2>&1; then
	hyperfine -N --warmup 3 --runs "$runs" --export-csv "$tmp/t.csv" "$@" >"$tmp/hyperfine.log" 2>&1 ||
		{ cat "$tmp/hyperfine.log" >&2; exit 1; }
	method="hyperfine -N, 3 warm-up runs, $runs timed runs each"
	# command,mean,stddev,median,user,system,min,max (seconds)
	awk -F, -v names="$names" 'BEGIN { split(names, n, " ") }
		NR > 1 { printf "%s %.2f %.2f\n", n[NR - 1], $2 * 1000, $3 * 1000 }' "$tmp/t.csv" >"$tmp/t"
else
	method="loop of $runs runs each after 3 warm-up runs (no hyperfine)"
	: >"$tmp/t"
	i=0
	for name in $names; do
		i=$((i + 1))
		eval "cmd=\${$i}"
		for w in 1 2 3; do $cmd >/dev/null 2>&1; done
		t0=$(date +%s%N)
		r=0
		while [ $r -lt "$runs" ]; do $cmd >/dev/null 2>&1; r=$((r + 1)); done
		t1=$(date +%s%N)
		echo "$name $(awk -v a="$t0" -v b="$t1" -v n="$runs" 'BEGIN { printf "%.2f", (b - a) / n / 1e6 }') -" >>"$tmp/t"
	done
fi

{
	echo "am execution start -- /bin/true, end to end (authority, profile, preflight"
	echo "commit, sandbox, final commit), against the same true in other sandboxes."
	echo "$method.  $(uname -sr), $(nproc) cpus."
	echo
	printf '%-9s %9s %8s %10s\n' side "mean ms" "+- ms" "am/side"
	am_ms=$(awk '$1 == "am" { print $2 }' "$tmp/t")
	while read -r name ms sd; do
		printf '%-9s %9s %8s %10s\n' "$name" "$ms" "$sd" \
			"$(awk -v a="$am_ms" -v b="$ms" 'BEGIN { printf "%.2fx", a / b }')"
	done <"$tmp/t"
	echo
	ratio() { awk -v a="$am_ms" -v n="$1" '$1 == n { printf "%.2f", a / $2 }' "$tmp/t"; }
	target() { # name limit what
		r=$(ratio "$1")
		if [ -z "$r" ]; then
			echo "target: $3: not measured ($1 left out)"
		elif awk -v r="$r" -v l="$2" 'BEGIN { exit !(r < l) }'; then
			echo "target: $3: met (am/$1 = $r)"
		else
			echo "target: $3: MISSED (am/$1 = $r)"
		fi
	}
	target firejail 1 "faster than firejail"
	target runc 1 "faster than runc"
	target bwrap 3 "within 3x of bwrap"
} | tee "$tmp/out"
cp "$tmp/out" "$out"
