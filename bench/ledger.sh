#!/bin/sh
# ledger.sh - the cost of one recorded am operation (artifacts + events +
# signed commit, in a fresh process) against "git add FILE && git commit"
# of one small file in a plain git repository with as many commits, at each
# history length in BENCH_SIZES.  Prints a table and writes it to
# bench/results/ledger.txt.
#
# Environment:
#   BENCH_SIZES       history lengths (default "100 10000 100000")
#   BENCH_RUNS        timed runs per side and size (default 50, after 3
#                     warm-up runs)
#   BENCH_FILL_BATCH  operations per commit while building am's history
#                     (default 100; 1 builds it one commit per operation,
#                     2-3x slower)
#   BENCH_TMPDIR      where the temporary workspaces go (default /tmp)
#
# Targets (the issue): am <= 1.0x git at every size, and am at the largest
# size <= 1.5x am at the smallest.
set -eu

cd "$(dirname "$0")/.."
sizes=${BENCH_SIZES:-100 10000 100000}
runs=${BENCH_RUNS:-50}
batch=${BENCH_FILL_BATCH:-100}
out=bench/results/ledger.txt

[ -x ./am ] && [ -x bench/ledger ] || { echo "ledger.sh: run 'make bench' first" >&2; exit 1; }
for n in $sizes; do
	case $n in '' | *[!0-9]*) echo "ledger.sh: bad size '$n'" >&2; exit 2 ;; esac
done

tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/am-bench-ledger.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
# Everything am and git read from HOME stays inside the temporary directory.
mkdir -p "$tmp/home"
export HOME="$tmp/home" XDG_STATE_HOME="$tmp/home/state" XDG_CONFIG_HOME="$tmp/home/config"
export GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
unset AM_WORKSPACE GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE

now() { date +%s; }

# A plain git repository of n commits, each adding one small file under
# f/<xx>/ (256 directories, like the ledger's fan-out), checked out.
git_repo() {
	n=$1 dir=$2
	git init -q -b main "$dir"
	git -C "$dir" config user.name bench
	git -C "$dir" config user.email bench@example.invalid
	awk -v n="$n" 'BEGIN {
		for (i = 1; i <= n; i++) {
			body = "file " i "\n"
			printf "commit refs/heads/main\ncommitter bench <bench@example.invalid> %d +0000\ndata 2\nm\n", 1700000000 + i
			printf "M 644 inline f/%02x/%d\ndata %d\n%s", i % 256, i, length(body), body
		}
	}' | git -C "$dir" fast-import --quiet
	git -C "$dir" reset -q --hard main
	# Settle the index past git's racy-timestamp window, as in a repository
	# that was not checked out this very second.
	sleep 1
	git -C "$dir" update-index -q --refresh
}

./am -q init "$tmp/ws" >/dev/null
have=1 # am init records one operation

{
	echo "am ledger: one recorded operation (fresh process: open, operation"
	echo "queued->running->completed, 5 artifacts + index + signed commit) vs"
	echo "git add FILE && git commit -q -m m of one small file, in a plain repo"
	echo "with one file per commit.  Median of $runs runs each, interleaved."
	echo "am history built in-process, $batch operations per signed commit: the"
	echo "same tip tree (artifacts, ops index) as one commit per operation, fewer"
	echo "commits; objects packed as am leaves them (a pack per commit, small packs"
	echo "merged; the big merges am leaves to a background process: one git repack)."
	echo "$(uname -sr), $(nproc) cpus, $(git --version)"
	echo
	printf '%8s  %10s  %10s  %7s\n' ops "am us/op" "git us/op" am/git
} >"$tmp/head"
cat "$tmp/head"

first_am= last_am= over=
: >"$tmp/rows"
for n in $sizes; do
	if [ "$n" -lt "$have" ]; then
		echo "ledger.sh: sizes must grow ($n after $have)" >&2
		exit 2
	fi
	t0=$(now)
	bench/ledger fill "$tmp/ws" $((n - have)) "$batch"
	# The big merges am leaves to a background process, done once here.
	git -C "$tmp/ws/.am/ledger.git" repack -a -d -q
	have=$n
	t1=$(now)
	rm -rf "$tmp/git"
	git_repo "$n" "$tmp/git"
	t2=$(now)
	# Flush what building the histories wrote, so that writeback does not
	# land on the timed runs (it made a fresh workspace look 1.5x slower).
	sync
	bench/ledger time "$tmp/ws" "$tmp/git" "$runs" >"$tmp/t"
	have=$((have + runs + 3))
	am=$(sed -n 1p "$tmp/t" | cut -d' ' -f1)
	git=$(sed -n 2p "$tmp/t" | cut -d' ' -f1)
	ratio=$(awk -v a="$am" -v g="$git" 'BEGIN { printf "%.2f", a / g }')
	if awk -v r="$ratio" 'BEGIN { exit !(r > 1.0) }'; then
		over="$over $n"
	fi
	row=$(printf '%8s  %10s  %10s  %6sx' "$n" "$am" "$git" "$ratio")
	echo "$row" >>"$tmp/rows"
	echo "$row    (history built in: am $((t1 - t0))s, git $((t2 - t1))s)"
	[ -n "$first_am" ] || first_am=$am
	last_am=$am
	rm -rf "$tmp/git"
done

growth=$(awk -v a="$last_am" -v b="$first_am" 'BEGIN { printf "%.2f", a / b }')
first=$(echo $sizes | awk '{ print $1 }')
last=$(echo $sizes | awk '{ print $NF }')
verdict=met
awk -v r="$growth" 'BEGIN { exit !(r > 1.5) }' && verdict=MISSED
{
	echo
	echo "am@$last / am@$first: ${growth}x (target <= 1.5x: $verdict)"
	if [ -z "$over" ]; then
		echo "am/git (target <= 1.0x at every size): met"
	else
		echo "am/git (target <= 1.0x at every size): MISSED at$over ops"
	fi
} >"$tmp/tail"
cat "$tmp/tail"
mkdir -p bench/results
cat "$tmp/head" "$tmp/rows" "$tmp/tail" >"$out"
echo "wrote $out"
