#!/bin/sh
# diagnostics.sh - the wall-clock time of `am diagnostics export-redacted`
# (collect, redact, tar+zstd, read back and re-scan) against
# `tar -cf - DIR | zstd -T0` of the same logs, which compresses but
# neither redacts nor checks anything.  The input is a workspace whose
# operations have about BENCH_MB of machine-local execution logs generated
# by tests/gen-corpus.py (service logs, agent JSONL with prompts, notes,
# YAML, secrets sprinkled in).  Prints a table and writes it to
# bench/results/diagnostics.txt.
#
# Environment:
#   BENCH_MB      megabytes of logs (default 200)
#   BENCH_RUNS    timed runs per side, interleaved; the best counts (default 5)
#   BENCH_TMPDIR  where the temporary workspace goes (default /tmp)
#
# Target (the issue): am <= 2x tar | zstd -T0.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
mb=${BENCH_MB:-200}
runs=${BENCH_RUNS:-5}
out=bench/results/diagnostics.txt

[ -x ./am ] || { echo "diagnostics.sh: run 'make' first" >&2; exit 1; }
command -v zstd >/dev/null || { echo "diagnostics.sh: needs zstd(1)" >&2; exit 1; }
case $mb$runs in *[!0-9]*) echo "diagnostics.sh: BENCH_MB and BENCH_RUNS are numbers" >&2; exit 2 ;; esac

tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/am-bench-diag.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/home"
export HOME="$tmp/home" XDG_STATE_HOME="$tmp/home/state" XDG_CONFIG_HOME="$tmp/home/config"
export XDG_CACHE_HOME="$tmp/home/cache" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
unset AM_WORKSPACE AM_KEY AM_DELEGATION

./am -q init "$tmp/ws" >/dev/null
key="$XDG_CONFIG_HOME/am/owner_ed25519"
# A few recorded operations to hang the logs on.
for i in 1 2 3 4 5 6 7; do
	./am -C "$tmp/ws" delegation create --to "agent$i" --profile personal \
		--operations agent_machine.execution.start --key "$key" >/dev/null 2>&1
done

echo "generating about $mb MB of execution logs..."
python3 tests/gen-corpus.py --out "$tmp/corpus" --seed 1 --bulk-mb "$mb" --no-fixed
./am -C "$tmp/ws" --json log | python3 -c '
import json, os, shutil, sys
ops = sorted({e["operationId"].rsplit(":", 1)[1] for e in json.load(sys.stdin)})
src, dst = sys.argv[1], sys.argv[2]
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(os.path.join(src, "bulk")) for f in fs)
for i, f in enumerate(files):
    d = os.path.join(dst, ops[i % len(ops)])
    os.makedirs(d, exist_ok=True)
    ext = ".jsonl" if f.endswith(".jsonl") else ".log"
    shutil.move(f, os.path.join(d, "%05d%s" % (i, ext)))
' "$tmp/corpus" "$XDG_STATE_HOME/am/executions"
rm -rf "$tmp/corpus"
logs="$XDG_STATE_HOME/am/executions"
size=$(du -sb "$logs" | cut -f1)
nf=$(find "$logs" -type f | wc -l)
find "$logs" -type f -exec cat {} + >/dev/null # page cache

# The two sides, as shell commands (run by sh -c, so that the time of
# the whole pipeline is measured).
export tmp key XDG_STATE_HOME
am_cmd='./am -q -C "$tmp/ws" diagnostics export-redacted -o "$tmp/am.tar.zst" --key "$key" >/dev/null'
tar_cmd='tar -cf - -C "$XDG_STATE_HOME/am" executions | zstd -q -T0 >"$tmp/tar.tar.zst"'

# secs CMD: "WALL CPU" seconds of one run (CPU: user + system of the whole
# pipeline, when /usr/bin/time can say; else "-").
secs() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%e %U %S' -o "$tmp/time" sh -c "$1"
		awk '{ printf "%.3f %.2f\n", $1, $2 + $3 }' "$tmp/time"
	else
		t0=$(date +%s%N)
		sh -c "$1"
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000000 )) | awk '{ printf "%.3f -\n", $1 / 1000 }'
	fi
}

# The best wall-clock time of each side, with the CPU time of that run.
best_am= best_tar=
i=0
while [ "$i" -lt "$runs" ]; do
	a=$(secs "$am_cmd")
	t=$(secs "$tar_cmd")
	echo "run $((i + 1)): am ${a% *} s (cpu ${a#* } s), tar | zstd -T0 ${t% *} s (cpu ${t#* } s)"
	best_am=$(printf '%s\n%s\n' "$a" "${best_am:-$a}" | sort -n | head -1)
	best_tar=$(printf '%s\n%s\n' "$t" "${best_tar:-$t}" | sort -n | head -1)
	i=$((i + 1))
done
am_size=$(stat -c %s "$tmp/am.tar.zst")
tar_size=$(stat -c %s "$tmp/tar.tar.zst")
red=$(tar --zstd -xOf "$tmp/am.tar.zst" manifest.json | python3 -c '
import json, sys; r = json.load(sys.stdin)["redaction"]; print(r["secrets"], r["prompts"])')

{
	echo "am diagnostics export-redacted (collect, redact, tar+zstd, read back and"
	echo "re-scan) vs tar -cf - DIR | zstd -T0 (compress only) of the same"
	echo "execution logs: $nf files, $size bytes.  Best of $runs runs each, interleaved."
	echo "$(uname -sr), $(nproc) cpus, $(zstd --version | head -1)"
	echo
	printf '%-22s %9s %9s %12s\n' "" seconds "cpu s" "output bytes"
	printf '%-22s %9s %9s %12s\n' "am export-redacted" ${best_am} "$am_size"
	printf '%-22s %9s %9s %12s\n' "tar | zstd -T0" ${best_tar} "$tar_size"
	echo
	echo "am redacted $(echo "$red" | cut -d' ' -f1) secrets and $(echo "$red" | cut -d' ' -f2) prompt fields"
	awk -v a="${best_am% *}" -v t="${best_tar% *}" -v ac="${best_am#* }" -v tc="${best_tar#* }" 'BEGIN {
		r = a / t
		printf "am / tar|zstd: %.2fx wall clock (target <= 2.0x: %s)", r, r <= 2.0 ? "met" : "MISSED"
		if (tc + 0 > 0)
			printf ", %.2fx CPU time", ac / tc
		printf "\n"
	}'
} | tee "$tmp/result"
mkdir -p bench/results
cp "$tmp/result" "$out"
