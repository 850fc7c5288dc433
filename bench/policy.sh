#!/bin/sh
# policy.sh - policy decisions per second in process against a profile of
# 200 rules (100 tool rules, 100 host rules), and "am tool-grant apply" end
# to end against "git add && git commit" of one file.  Writes
# bench/results/policy.txt.  Target: grant apply <= 1.0x the git CLI.
set -eu
cd "$(dirname "$0")/.."
[ -x ./am ] && [ -x bench/policy ] || { echo "policy.sh: run 'make bench' first" >&2; exit 1; }
runs=${BENCH_RUNS:-30}
top=$(pwd)
. bench/lib.sh
bench_home policy
mkdir -p "$tmp/profiles"
# A personal template with 200 rules; the matching rules come last, so each
# decision scans them all.
/usr/bin/python3 - "$top/profiles/personal.json" "$tmp/profiles/personal.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["tools"]["permit"] = ["tool%d" % i for i in range(99)] + ["git"]
p["tools"]["forbid"] = []
p["network"]["allow"] = ["host%d.example.com:443" % i for i in range(99)] + ["*.github.com:443"]
p["network"]["deny"] = []
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
export AM_PROFILES_DIR="$tmp/profiles"
tool=$("$top/bench/policy" personal toolGrant /usr/bin/git 200000)
net=$("$top/bench/policy" personal networkProfile api.github.com:443 200000)
unset AM_PROFILES_DIR

AM="$top/am"
OWNER="$XDG_CONFIG_HOME/am/owner_ed25519"
"$AM" -q init "$tmp/ws" >/dev/null
cd "$tmp/ws"
t0=$(ns)
i=0
while [ $i -lt "$runs" ]; do
	"$AM" -q tool-grant apply git --to "agent$i" --profile personal --key "$OWNER" > /dev/null
	i=$((i + 1))
done
t1=$(ns)
grant=$(( (t1 - t0) / runs / 1000 ))
gitc=$(git_commit_us "$tmp/g" "$runs")
mkdir -p "$top/bench/results"
{
	echo "policy: decisions against a 200-rule profile (in process), tool-grant apply end to end"
	echo "$tool" "$net" "$grant" "$gitc" | awk '{
		printf "%-40s %10.3f us  %12.0f decisions/s\n", "toolGrant decision (200 rules)", $1, 1e6 / $1
		printf "%-40s %10.3f us  %12.0f decisions/s\n", "networkProfile decision (200 rules)", $3, 1e6 / $3
		printf "%-40s %10d us  ratio to git %.2f\n", "am tool-grant apply (process)", $5, $5 / $6
		printf "%-40s %10d us\n", "git add + git commit (processes)", $6
	}'
} | tee "$top/bench/results/policy.txt"
