#!/bin/sh
# authority.sh - what authority costs: verifying a delegation chain of depth
# 1 and 5 (in process, the check every delegated command makes), and
# "am delegation create" end to end, each against one "git commit" of one
# small file.  Writes bench/results/authority.txt.
set -eu
cd "$(dirname "$0")/.."
[ -x ./am ] && [ -x bench/authority ] || { echo "authority.sh: run 'make bench' first" >&2; exit 1; }
runs=${BENCH_RUNS:-50}
. bench/lib.sh
bench_home auth
AM=$(pwd)/am
OWNER="$XDG_CONFIG_HOME/am/owner_ed25519"
"$AM" -q init "$tmp/ws" >/dev/null
cd "$tmp/ws"

# Chains of depth 1 and 5.
"$AM" -q delegation create --to a1 --operations agent_machine.execution.start \
	--profile personal --budget tokens=1000000 --key "$OWNER" > "$tmp/d1"
cp "$tmp/d1" "$tmp/cur"
for i in 2 3 4 5; do
	"$AM" -q delegation create --to "a$i" --operations agent_machine.execution.start \
		--delegation "@$tmp/cur" > "$tmp/next"
	mv "$tmp/next" "$tmp/cur"
done
cp "$tmp/cur" "$tmp/d5"

v1=$("$OLDPWD/bench/authority" "$tmp/ws" "$tmp/d1" 2000)
v5=$("$OLDPWD/bench/authority" "$tmp/ws" "$tmp/d5" 2000)

t0=$(ns)
i=0
while [ $i -lt "$runs" ]; do
	"$AM" -q delegation create --to "bench$i" --operations agent_machine.execution.start \
		--profile personal --key "$OWNER" > /dev/null
	i=$((i + 1))
done
t1=$(ns)
create=$(( (t1 - t0) / runs / 1000 ))

gitc=$(git_commit_us "$tmp/g" "$runs")

mkdir -p "$OLDPWD/bench/results"
{
	echo "authority: verification in process, and delegation create end to end"
	printf '%-34s %10s %12s\n' "what" "us" "ratio to git"
	awk -v v1="$v1" -v v5="$v5" -v c="$create" -v g="$gitc" 'BEGIN {
		printf "%-34s %10.1f %12.4f\n", "verify, chain depth 1", v1, v1 / g
		printf "%-34s %10.1f %12.4f\n", "verify, chain depth 5", v5, v5 / g
		printf "%-34s %10d %12.2f\n", "am delegation create (process)", c, c / g
		printf "%-34s %10d %12.2f\n", "git add + git commit (processes)", g, 1
	}'
} | tee "$OLDPWD/bench/results/authority.txt"
