#!/bin/sh
# redact.sh - single-core throughput and recall of am's redactor (core/redact.c,
# through bench/redact_bench) against secretlint with its recommended preset,
# on a synthetic workspace from tests/gen-corpus.py (default 200 MB).
#
#   sh bench/redact.sh            REDACT_BENCH_MB=50 sh bench/redact.sh
#   REDACT_BENCH_SECRETLINT=0 ... skips secretlint (no npm registry needed)
#
# Recall for am: a planted secret counts as found when neither it nor any of
# its planted encodings (nor a 12-byte slice of them) is left in the redacted
# copy.  Recall for secretlint, which only reports: when it reports the file
# and line the secret was planted on.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${REDACT_BENCH_MB:-200}
seed=${REDACT_BENCH_SEED:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/am-redact-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

bin=$top/bench/redact_bench
if [ ! -x "$bin" ] || [ "$bin" -ot "$top/core/redact.c" ]; then
	bin=$tmp/redact_bench
	${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -I"$top/core" -o "$bin" "$top/bench/redact_bench.c" \
		"$top/core/redact.c" "$top/core/util.c" "$top/core/error.c" \
		$(pkg-config --cflags --libs libcjson libsodium)
fi
pin=
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi

echo "generating a ${mb} MB workspace (seed $seed)..."
python3 "$top/tests/gen-corpus.py" --out "$tmp/corpus" --seed "$seed" --bulk-mb "$mb"
size=$(du -sb --exclude=manifest.json "$tmp/corpus" | cut -f1)
nf=$(find "$tmp/corpus" -type f ! -name manifest.json | wc -l)
echo "corpus: $nf files, $size bytes"
find "$tmp/corpus" -type f -exec cat {} + >/dev/null	# page cache

echo "am (one core, best of 3, output discarded):"
$pin "$bin" -n 3 "$tmp/corpus" | tee "$tmp/am.txt"
$pin "$bin" -o "$tmp/out" "$tmp/corpus" >/dev/null

check() { # check TOOL: recall from $tmp/out (am) or $tmp/sl.txt (secretlint)
python3 - "$tmp" "$1" <<'EOF'
import json, os, sys, collections
tmp, tool = sys.argv[1], sys.argv[2]
src = os.path.join(tmp, "corpus")
m = json.load(open(os.path.join(src, "manifest.json")))
def slices(v):
    return [v] if len(v) < 24 else [v, v[len(v)//2-6:len(v)//2+6], v[-12:]]
found = collections.Counter(); total = collections.Counter()
if tool == "am":
    cache = {}
    def out(f):
        if f not in cache:
            cache.clear()
            cache[f] = open(os.path.join(tmp, "out", f), "rb").read().decode("utf-8", "replace")
        return cache[f]
    for p in m["planted"]:
        total[p["rule"]] += 1
        o = out(p["file"])
        if not any(s in o for x in [p["value"]] + p["forms"] for s in slices(x)):
            found[p["rule"]] += 1
    canary = sum(1 for c in m["canaries"] if c["value"] in out(c["file"]))
    neg = sum(1 for n in m["negatives"] if n["value"] not in out(n["file"]))
    bad = 0
    for f in m["json"]:
        s = open(os.path.join(src, f), encoding="utf-8").read().split("\n")
        o = out(f).split("\n")
        for a, b in zip(s, o):
            try:
                json.loads(a)
            except ValueError:
                continue
            try:
                json.loads(b)
            except ValueError:
                bad += 1
    extra = "prompt canaries left %d/%d, negatives lost %d/%d, JSON lines broken %d" % (
        canary, len(m["canaries"]), neg, len(m["negatives"]), bad)
else:
    hits = set()
    for line in open(os.path.join(tmp, "sl.txt"), encoding="utf-8", errors="replace"):
        parts = line.split(":", 3)
        if len(parts) >= 3 and parts[1].isdigit():
            hits.add((os.path.relpath(parts[0], src), int(parts[1])))
    for p in m["planted"]:
        total[p["rule"]] += 1
        if (p["file"], p["line"]) in hits:
            found[p["rule"]] += 1
    extra = ""
t, f = sum(total.values()), sum(found.values())
print("%s recall: %d/%d = %.1f%%  %s" % (tool, f, t, 100.0 * f / max(t, 1), extra))
missed = ["%s %d/%d" % (r, found[r], total[r]) for r in sorted(total) if found[r] < total[r]]
if missed:
    print("  %s missed: %s" % (tool, ", ".join(missed)))
EOF
}
check am

if [ "${REDACT_BENCH_SECRETLINT:-1}" = 0 ]; then exit 0; fi
echo "secretlint (installing into a temporary directory)..."
mkdir -p "$tmp/sl"
if ! (cd "$tmp/sl" && npm install --no-audit --no-fund --silent secretlint \
	@secretlint/secretlint-rule-preset-recommend >/dev/null 2>&1); then
	echo "secretlint: npm install failed; skipped"
	exit 0
fi
echo '{"rules":[{"id":"@secretlint/secretlint-rule-preset-recommend"}]}' >"$tmp/sl/rc.json"
echo 'manifest.json' >"$tmp/sl/ignore"
t0=$(date +%s.%N)
(cd "$tmp/sl" && $pin node_modules/.bin/secretlint --secretlintrc rc.json --secretlintignore ignore \
	--format unix --no-color "$tmp/corpus/**/*" >"$tmp/sl.txt" 2>"$tmp/sl.err") || true
t1=$(date +%s.%N)
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print('secretlint: %.1f s, %.1f MB/s' % (t, int(sys.argv[3])/1e6/t))" "$t0" "$t1" "$size"
if [ -s "$tmp/sl.err" ]; then head -3 "$tmp/sl.err"; fi
check secretlint
