#!/usr/bin/env bats
# am diagnostics: export-redacted (authority, what is collected, the
# redaction oracle of tests/gen-corpus.py applied to the extracted bundle,
# the recorded AgentMachineDiagnosticBundle), verify (a good bundle, a
# tampered one) and scan (findings without values, exit 1 / 0).

load helper

CORPUS() { echo "$BATS_TEST_TMPDIR/corpus"; }

# A workspace with some history: a delegation, a profile, a tool grant.
ws() {
	no_managed
	init_ws
	am delegation create --to ada --profile personal --key "$OWNER" \
		--operations agent_machine.execution.start,agent_machine.diagnostics.export_redacted \
		> "$BATS_TEST_TMPDIR/ada.token" 2>/dev/null
	am -q profile create team --type corporate_firewall --key "$OWNER"
	am -q tool-grant apply git --to ada --profile personal --key "$OWNER" >/dev/null
}

# The ids of the recorded operations, one a line.
ops() {
	am --json log | json 'print("\n".join(sorted({e["operationId"] for e in d})))'
}

# Generate the corpus and copy its files into the machine-local execution
# logs of the recorded operations (as stdout, stderr, NN.log, NN.json and
# NN.jsonl: neutral names, since a name like "secret" or "netrc" would have
# the whole file dropped); map.json says where each went in the bundle.
plant() {
	python3 "$AM_TOP/tests/gen-corpus.py" --out "$(CORPUS)" --seed "${1:-7}"
	python3 - "$(CORPUS)" "$XDG_STATE_HOME/am/executions" "$BATS_TEST_TMPDIR/map.json" $(ops) <<'EOF'
import json, os, shutil, sys
src, dst, mapf, ops = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
m = json.load(open(os.path.join(src, "manifest.json")))
files = sorted({p["file"] for p in m["planted"]} | {n["file"] for n in m["negatives"]}
               | {c["file"] for c in m["canaries"]} | set(m["json"]))
out = {}
for i, f in enumerate(files):
    uuid = ops[i % len(ops)].rsplit(":", 1)[1]
    if f == "http/session.txt":
        name = "stdout"
    elif f == "logs/crash.log":
        name = "stderr"
    else:
        ext = ".jsonl" if f.endswith(".jsonl") else ".json" if f.endswith(".json") else ".log"
        name = "%02d%s" % (i, ext)
    os.makedirs(os.path.join(dst, uuid), exist_ok=True)
    shutil.copyfile(os.path.join(src, f), os.path.join(dst, uuid, name))
    out[f] = "executions/%s/%s" % (uuid, name)
json.dump(out, open(mapf, "w"))
EOF
}

# oracle DIR: apply the corpus manifest to the extracted bundle in DIR.
oracle() {
	python3 - "$1" "$(CORPUS)" "$BATS_TEST_TMPDIR/map.json" <<'EOF'
import base64, json, os, sys, urllib.parse
x, src, mapf = sys.argv[1:4]
m = json.load(open(os.path.join(src, "manifest.json")))
where = json.load(open(mapf))
blobs = {}
for root, _, names in os.walk(x):
    for n in names:
        p = os.path.join(root, n)
        blobs[os.path.relpath(p, x)] = open(p, "rb").read().decode("utf-8", "replace")
everything = "\n".join(blobs.values())

def encodings(v):
    """v as it could leak: raw, base64 (both alphabets, padded or not),
    percent-encoded (either case), \\u-escaped, JSON-escaped."""
    b = v.encode()
    enc = {"base64": base64.b64encode(b).decode(),
           "base64-nopad": base64.b64encode(b).decode().rstrip("="),
           "base64url": base64.urlsafe_b64encode(b).decode().rstrip("="),
           "percent": "".join("%%%02X" % c for c in b),
           "percent-lower": "".join("%%%02x" % c for c in b),
           "urlquote": urllib.parse.quote(v, safe=""),
           "u-escaped": "".join("\\u%04x" % ord(ch) for ch in v),
           "json": json.dumps(v)[1:-1]}
    out = {k: e for k, e in enc.items() if len(e) >= 8}
    out["raw"] = v
    return out

bad = []
assert len(m["planted"]) > 100, len(m["planted"])
for p in m["planted"]:
    forms = encodings(p["value"])
    for i, f in enumerate(p["forms"]):
        forms["planted-form-%d" % i] = f
    for kind, f in forms.items():
        if f in everything:
            bad.append("planted %s from %s:%d left %s" % (p["rule"], p["file"], p["line"], kind))
for c in m["canaries"]:
    if c["value"] in everything:
        bad.append("prompt canary of %s left" % c["file"])
for n in m["negatives"]:
    if n["value"] not in blobs.get(where[n["file"]], ""):
        bad.append("negative of %s lost: %r" % (n["file"], n["value"][:40]))
for f in m["json"]:
    orig = open(os.path.join(src, f), encoding="utf-8").read()
    red = blobs[where[f]]
    if f.endswith(".jsonl"):
        for i, (a, b) in enumerate(zip(orig.split("\n"), red.split("\n"))):
            try:
                json.loads(a)
            except ValueError:
                continue
            try:
                json.loads(b)
            except ValueError:
                bad.append("%s line %d no longer parses" % (f, i + 1))
    else:
        try:
            json.loads(red)
        except ValueError as e:
            bad.append("%s no longer parses: %s" % (f, e))
# Everything am wrote as JSON parses too.
for p, t in blobs.items():
    try:
        if p.endswith(".json"):
            json.loads(t)
        elif p.startswith("ledger/") and p.endswith(".jsonl"):
            [json.loads(l) for l in t.split("\n") if l]
    except ValueError as e:
        bad.append("%s does not parse: %s" % (p, e))
print("\n".join(bad[:40]))
print("%d planted, %d canaries, %d negatives checked; %d problems" % (
    len(m["planted"]), len(m["canaries"]), len(m["negatives"]), len(bad)))
sys.exit(1 if bad else 0)
EOF
}

# export ARGS...: run export-redacted as the owner into $BATS_TEST_TMPDIR/b.tar.zst
# and extract it into $BATS_TEST_TMPDIR/x.
export_bundle() {
	B="$BATS_TEST_TMPDIR/b.tar.zst"
	X="$BATS_TEST_TMPDIR/x"
	run am diagnostics export-redacted -o "$B" "$@"
	expect 0
	rm -rf "$X"
	mkdir -p "$X"
	tar --zstd -xf "$B" -C "$X"
}

@test "export-redacted: no planted secret or prompt survives in any encoding, negatives do, JSON parses" {
	ws
	plant 7
	export_bundle --key "$OWNER"
	[ "${lines[0]}" = "$B" ]
	[[ "${lines[1]}" == "am: wrote $B: "*" secrets and "*" prompt fields redacted, re-scan clean"* ]]
	n=$(tar --zstd -tf "$B" | wc -l)
	[[ "${lines[1]}" == "am: wrote $B: $n files, $(stat -c %s "$B") bytes, sha256:$(sha256sum "$B" | cut -d' ' -f1);"* ]]
	run oracle "$X"
	echo "$output"
	[ "$status" -eq 0 ]
	# The corpus really went in: every mapped log is in the bundle.
	json 'import os
for f, p in d.items():
    assert os.path.isfile(os.path.join(sys.argv[1], p)), p' "$X" < "$BATS_TEST_TMPDIR/map.json"
	# ... and was redacted with typed pseudonyms.
	grep -rq '\[REDACTED:github-token:[0-9a-f]\{6\}\]' "$X/executions"
	grep -rq '"\$redacted":"prompt"' "$X/executions"
}

@test "export-redacted: the manifest's four flags are false and the ledger records the bundle by digest" {
	ws
	plant 3
	export_bundle --key "$OWNER"
	json '
for k in ("credentialsIncluded", "tokensIncluded", "localSecretsIncluded", "sensitivePromptsIncluded"):
    assert d[k] is False, k
assert d["kind"] == "AgentMachineDiagnosticBundle" and d["specVersion"] == "0.1.0", d["kind"]
assert d["operationType"] == "agent_machine.diagnostics.export_redacted"
assert d["fileCount"] == len(d["files"]) + 1
r = d["redaction"]
assert r["secrets"] > 100 and r["prompts"] > 100, r
assert len(r["report"]) > 50 and all(set(e) == {"rule", "file", "line", "count"} for e in r["report"])
assert all(e["rule"] != "prompt" for e in r["report"])
assert sum(e["count"] for e in r["report"]) == r["secrets"]
assert sum(e["count"] for e in r["promptFields"]) == r["prompts"]' < "$X/manifest.json"
	# The files the manifest lists are the bundle's.
	diff <(json 'print("\n".join(sorted(f["path"] for f in d["files"]) + ["manifest.json"]))' \
		< "$X/manifest.json") <(tar --zstd -tf "$B" | sort)
	# The report names rules, files and lines: no value, no unsalted hash.
	python3 - "$X/manifest.json" "$(CORPUS)/manifest.json" <<'EOF'
import hashlib, json, sys
text = open(sys.argv[1]).read()
for p in json.load(open(sys.argv[2]))["planted"]:
    v = p["value"]
    for h in (v, hashlib.sha256(v.encode()).hexdigest(), hashlib.sha1(v.encode()).hexdigest(),
              hashlib.md5(v.encode()).hexdigest(), hashlib.sha256(v.encode()).hexdigest()[:12]):
        assert h not in text, p["rule"]
EOF
	# The recorded artifact: same manifest, plus the archive's digest and size.
	op=$(json 'print(d["operationId"])' < "$X/manifest.json")
	am --json show "$op" > "$BATS_TEST_TMPDIR/op.json"
	json 'assert d["operation"]["state"] == "completed", d["operation"]["state"]
assert [e["eventType"] for e in d["events"]] == ["start", "start", "complete"], d["events"]' \
		< "$BATS_TEST_TMPDIR/op.json"
	ref=$(json 'print(d["operation"]["artifactRefs"][-1])' < "$BATS_TEST_TMPDIR/op.json")
	am --json show "$ref" > "$BATS_TEST_TMPDIR/art.json"
	json '
import os
m = json.load(open(sys.argv[1]))
assert d["digest"] == "sha256:" + sys.argv[2], (d["digest"], sys.argv[2])
assert d["size"] == int(sys.argv[3])
for k in ("credentialsIncluded", "tokensIncluded", "localSecretsIncluded", "sensitivePromptsIncluded"):
    assert d[k] is False, k
assert d["fileCount"] == m["fileCount"] and d["redaction"] == m["redaction"]
assert {k: v for k, v in d.items() if k not in ("digest", "size")} == m' \
		"$X/manifest.json" "$(sha256sum "$B" | cut -d' ' -f1)" "$(stat -c %s "$B")" \
		< "$BATS_TEST_TMPDIR/art.json"
	run am verify
	expect 0
}

@test "export-redacted needs authority: exit 4, no file, no record" {
	ws
	before=$(tip)
	cd "$BATS_TEST_TMPDIR"
	mkdir out
	run am -C "$WS" diagnostics export-redacted -o "$BATS_TEST_TMPDIR/out/b.tar.zst"
	expect 4 "no delegated authority for agent_machine.diagnostics.export_redacted"
	run am -C "$WS" diagnostics export-redacted
	expect 4
	[ -z "$(ls -A out)" ]
	[ -z "$(ls "$WS" | grep diagnostics)" ]
	[ "$(tip)" = "$before" ]
	# A delegation without the operation in scope is refused the same way.
	tok=$(am -C "$WS" delegation create --to bob --operations agent_machine.execution.start \
		--profile personal --key "$OWNER" 2>/dev/null)
	before=$(tip)
	run am -C "$WS" diagnostics export-redacted -o out/b.tar.zst --delegation "$tok"
	expect 4
	[ -z "$(ls -A out)" ]
	[ "$(tip)" = "$before" ]
}

@test "export-redacted collects less: environment values, secret-named logs and lease files stay out" {
	ws
	plant 5
	python3 - "$(CORPUS)/manifest.json" > "$BATS_TEST_TMPDIR/tok" <<'EOF'
import json, sys
print(next(p["value"] for p in json.load(open(sys.argv[1]))["planted"] if p["rule"] == "github-token"))
EOF
	ghp=$(cat "$BATS_TEST_TMPDIR/tok")
	uuid=$(ops | head -1 | sed 's/.*://')
	d="$XDG_STATE_HOME/am/executions/$uuid"
	echo "harmless" > "$d/$ghp.log"
	echo "-----BEGIN PRIVATE KEY-----" > "$d/server.key"
	echo "{\"pid\":1,\"note\":\"$ghp\"}" > "$d/lease.json"
	echo "a core file" > "$d/core.dump"
	ln -s /etc/hostname "$d/link.log"
	ada=$(cat "$BATS_TEST_TMPDIR/ada.token")
	export_bundle --delegation "$ada"
	# Environment: a token in the environment is named, never valued.
	GITHUB_TOKEN=$ghp AM_DELEGATION=$ada LANG=C.UTF-8 run am diagnostics export-redacted -o "$B"
	expect 0
	rm -rf "$X" && mkdir "$X" && tar --zstd -xf "$B" -C "$X"
	json '
env, names = d["environment"], d["environmentNames"]
assert "GITHUB_TOKEN" in names and "AM_DELEGATION" in names and "HOME" in names, names
assert "GITHUB_TOKEN" not in env and "AM_DELEGATION" not in env and env["LANG"] == "C.UTF-8", env
assert d["kernel"]["release"] and "nodename" not in d["kernel"]
assert "versions" in d and d["versions"]["am"] and d["versions"]["libarchive"]
assert "landlockAbi" in d and "cgroupMode" in d and isinstance(d["runtimes"], list)' < "$X/machine/facts.json"
	! grep -rqF "$ghp" "$X"
	! grep -rqF "$ada" "$X"
	! grep -rq "BEGIN PRIVATE KEY" "$X"
	[ ! -e "$X/executions/$uuid/lease.json" ]
	[ ! -e "$X/executions/$uuid/server.key" ]
	[ ! -e "$X/executions/$uuid/core.dump" ]
	[ ! -e "$X/executions/$uuid/link.log" ]
	# What was left out is said, without the secret-looking names.
	json '
dr = d["dropped"]
assert sum(1 for e in dr if e["path"] == "executions/%s/" % sys.argv[1]) == 2, dr
assert {"path": "executions/%s/core.dump" % sys.argv[1], "reason": "not an allow-listed log file"} in dr, dr
assert {"path": "executions/%s/link.log" % sys.argv[1], "reason": "not a regular file"} in dr, dr' \
		"$uuid" < "$X/manifest.json"
	# The delegate is the recorded actor.
	op=$(json 'print(d["operationId"])' < "$X/manifest.json")
	am --json log --operation "$op" | json 'assert all(e["actor"] == "ada" for e in d), d'
}

@test "export-redacted --operation and --since limit what is collected" {
	ws
	plant 9
	one=$(ops | sed -n 2p)
	export_bundle --key "$OWNER" --operation "${one##*:}"
	python3 -c 'import json,sys; assert [json.loads(l)["id"] for l in open(sys.argv[1])] == [sys.argv[2]]' \
		"$X/ledger/operations.jsonl" "$one"
	python3 -c 'import json,sys; assert {json.loads(l)["operationId"] for l in open(sys.argv[1])} == {sys.argv[2]}' \
		"$X/ledger/events.jsonl" "$one"
	[ "$(ls "$X/executions")" = "${one##*:}" ]
	json 'assert d["scope"]["operation"] == sys.argv[1] and d["scope"]["operations"] == 1' "$one" \
		< "$X/manifest.json"
	# --since: everything recorded is older than tomorrow, newer than an hour ago.
	export_bundle --key "$OWNER" --since "$(date -u -d tomorrow +%Y-%m-%dT%H:%M:%SZ)"
	[ ! -s "$X/ledger/operations.jsonl" ]
	[ ! -s "$X/ledger/events.jsonl" ]
	[ ! -d "$X/executions" ]
	export_bundle --key "$OWNER" --since 1h
	[ "$(wc -l < "$X/ledger/operations.jsonl")" -ge "$(ops | wc -l)" ]
	run am diagnostics export-redacted --key "$OWNER" --since yesterdayish
	expect 2 "--since"
	run am diagnostics export-redacted --key "$OWNER" --operation 000000
	expect 6
}

@test "export-redacted writes nothing half-done: a missing directory fails before any record" {
	ws
	before=$(tip)
	run am diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/no/such/dir/b.tar.zst"
	expect 6 "cannot create"
	[ "$(tip)" = "$before" ]
	run am diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/"
	expect 2
	# A successful export leaves no temporary file beside its output.
	mkdir "$BATS_TEST_TMPDIR/o"
	run am diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/o/b.tar.zst"
	expect 0
	[ "$(ls -A "$BATS_TEST_TMPDIR/o")" = "b.tar.zst" ]
	# The default name is in the current directory, with a UTC timestamp.
	AM_NOW=1795665763 run am diagnostics export-redacted --key "$OWNER"
	expect 0
	[ "${lines[0]}" = am-diagnostics-20261126T040243Z.tar.zst ]
	[ -f "$WS/am-diagnostics-20261126T040243Z.tar.zst" ]
}

@test "export-redacted interrupted: exit 130, no file, no temporary file, the operation canceled" {
	ws
	uuid=$(ops | head -1 | sed 's/.*://')
	mkdir -p "$XDG_STATE_HOME/am/executions/$uuid" "$BATS_TEST_TMPDIR/o"
	yes "2026-11-26T04:02:43Z INFO request finished in 12ms status=200" |
		head -c 400000000 > "$XDG_STATE_HOME/am/executions/$uuid/stdout"
	am diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/o/b.tar.zst" \
		2> "$BATS_TEST_TMPDIR/err" &
	pid=$!
	sleep 1
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 130 ]
	grep -q "interrupted; no bundle written" "$BATS_TEST_TMPDIR/err"
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/o")" ]
	am --json log --type agent_machine.diagnostics.export_redacted | json '
assert d[0]["eventType"] == "cancel" and d[0]["toState"] == "canceled", d[0]
assert d[0]["details"]["errorClass"] == "canceled", d[0]'
	run am verify
	expect 0
}

@test "export-redacted memory stays bounded: a 300 MB log, well under 300 MB resident" {
	[ -x /usr/bin/time ] || skip "no /usr/bin/time to measure with"
	ws
	uuid=$(ops | head -1 | sed 's/.*://')
	mkdir -p "$XDG_STATE_HOME/am/executions/$uuid"
	yes "2026-11-26T04:02:43Z INFO request finished in 12ms status=200" |
		head -c 300000000 > "$XDG_STATE_HOME/am/executions/$uuid/stdout"
	/usr/bin/time -f "%M" -o "$BATS_TEST_TMPDIR/rss" \
		am -q diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/b.tar.zst"
	echo "max resident: $(cat "$BATS_TEST_TMPDIR/rss") KB"
	[ "$(tail -1 "$BATS_TEST_TMPDIR/rss")" -lt 200000 ]
	[ "$(tar --zstd -xOf "$BATS_TEST_TMPDIR/b.tar.zst" "executions/$uuid/stdout" | wc -c)" -eq 300000000 ]
}

@test "export-redacted draws a progress bar on a terminal only" {
	command -v script >/dev/null || skip "no script(1) to make a terminal"
	ws
	run am diagnostics export-redacted --key "$OWNER" -o "$BATS_TEST_TMPDIR/a.tar.zst"
	expect 0
	[[ "$output" != *collecting* ]] && [[ "$output" != *$'\r'* ]]
	script -qec "am diagnostics export-redacted --key '$OWNER' -o '$BATS_TEST_TMPDIR/b.tar.zst'" \
		/dev/null > "$BATS_TEST_TMPDIR/tty.out"
	grep -q "am: collecting .*\[#*\.*\] .*%" "$BATS_TEST_TMPDIR/tty.out"
	# -q and --json keep it quiet even there.
	script -qec "am -q diagnostics export-redacted --key '$OWNER' -o '$BATS_TEST_TMPDIR/c.tar.zst'" \
		/dev/null > "$BATS_TEST_TMPDIR/tty.out"
	! grep -q "collecting" "$BATS_TEST_TMPDIR/tty.out"
}

@test "verify: a fresh bundle passes; the recorded digest is checked" {
	ws
	plant 11
	export_bundle --key "$OWNER"
	run am diagnostics verify "$B"
	expect 0 "ok: $B"
	[[ "$output" == *"recorded as sha256:"* ]]
	run am --json diagnostics verify "$B"
	expect 0
	echo "$output" | json 'assert d["ok"] and d["problems"] == [] and d["recorded"].startswith("sha256:")
assert d["digest"] == "sha256:" + sys.argv[1]' "$(sha256sum "$B" | cut -d' ' -f1)"
	# Outside the workspace it is checked without a record.
	cd "$BATS_TEST_TMPDIR"
	run am diagnostics verify "$B"
	expect 0 "not checked against a record"
	run am diagnostics verify "$BATS_TEST_TMPDIR/nonexistent.tar.zst"
	expect 6
}

@test "verify: a bundle with an entry appended, altered flags or a cut tail exits 8" {
	ws
	plant 13
	export_bundle --key "$OWNER"
	ghp=$(python3 -c 'import json,sys; print(next(p["value"] for p in json.load(open(sys.argv[1]))["planted"] if p["rule"] == "github-token"))' "$(CORPUS)/manifest.json")
	# Append a secret-bearing entry with tar.
	t="$BATS_TEST_TMPDIR/t"
	mkdir -p "$t/notes"
	echo "deploy with GH_TOKEN=$ghp today" > "$t/notes/extra.log"
	zstd -q -d "$B" -o "$t/b.tar"
	tar -rf "$t/b.tar" -C "$t" notes/extra.log
	zstd -q "$t/b.tar" -o "$t/tampered.tar.zst"
	run am diagnostics verify "$t/tampered.tar.zst"
	expect 8 "notes/extra.log:1: github-token"
	[[ "$output" != *"$ghp"* ]]
	[[ "$output" == *"not listed in manifest.json"* ]]
	[[ "$output" == *"changed after the export"* ]]
	# A harmless extra file is caught too (manifest and record disagree).
	echo "just a note" > "$t/notes/extra.log"
	zstd -q -d -f "$B" -o "$t/b.tar"
	tar -rf "$t/b.tar" -C "$t" notes/extra.log
	zstd -q -f "$t/b.tar" -o "$t/tampered.tar.zst"
	run am diagnostics verify "$t/tampered.tar.zst"
	expect 8 "entry 'notes/extra.log' is not listed in manifest.json"
	# A manifest that no longer promises the four flags.
	rm -rf "$t/x" && mkdir "$t/x" && tar --zstd -xf "$B" -C "$t/x"
	sed -i 's/"tokensIncluded": false/"tokensIncluded": true/' "$t/x/manifest.json"
	(cd "$t/x" && tar --zstd -cf "$t/flags.tar.zst" $(tar --zstd -tf "$B"))
	run am diagnostics verify "$t/flags.tar.zst"
	expect 8 "tokensIncluded is not false"
	# Cut short.
	head -c $(( $(stat -c %s "$B") / 2 )) "$B" > "$t/cut.tar.zst"
	run am diagnostics verify "$t/cut.tar.zst"
	expect 8
	# Not a bundle at all.
	echo "hello" > "$t/plain.tar.zst"
	run am diagnostics verify "$t/plain.tar.zst"
	expect 8
	# The original still verifies.
	run am diagnostics verify "$B"
	expect 0
}

@test "scan: findings as file:line: rule without values, exit 1; a clean tree exits 0" {
	python3 "$AM_TOP/tests/gen-corpus.py" --out "$(CORPUS)" --seed 17
	run am diagnostics scan "$(CORPUS)"
	expect 1
	python3 - "$(CORPUS)/manifest.json" "$output" <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1]))
out = sys.argv[2]
for p in m["planted"]:
    assert p["value"] not in out, p["rule"]
lines = [l for l in out.split("\n") if l and not l.startswith("am: ")]
assert all(re.fullmatch(r"\S+:\d+: [a-z0-9-]+", l) for l in lines), lines[:5]
hits = {(l.rsplit(":", 2)[0], int(l.rsplit(":", 2)[1])) for l in lines}
root = sys.argv[1][:-len("manifest.json")]
planted = {(root + p["file"], p["line"]) for p in m["planted"]}
# Every file with a secret is reported, and nearly every planted line (a
# multi-line private key is reported at its first line, not its middle).
assert {f for f, _ in planted} <= {f for f, _ in hits}, {f for f, _ in planted} - {f for f, _ in hits}
missed = planted - hits
assert len(missed) <= len(planted) // 20, sorted(missed)[:10]
assert "secrets in" in out.split("\n")[-1]
EOF
	# --json, and one file, and standard input.
	run am diagnostics scan --json "$(CORPUS)/env/app.env"
	expect 1
	echo "$output" | json 'assert d["secrets"] > 20 and d["files"] == 1 and not d["clean"]
assert all(set(f) == {"file", "line", "rule", "count"} for f in d["findings"])
assert all(f["file"].endswith("env/app.env") for f in d["findings"])'
	run bash -c "cat '$(CORPUS)/home/.netrc' | am diagnostics scan -"
	expect 1 "(stdin):1: netrc-password"
	# Clean: the negatives only, and an empty directory.
	mkdir -p "$BATS_TEST_TMPDIR/clean/sub"
	cp "$(CORPUS)/neg/negatives.txt" "$(CORPUS)/neg/code.go" "$BATS_TEST_TMPDIR/clean/sub/"
	run am diagnostics scan "$BATS_TEST_TMPDIR/clean"
	expect 0 "0 secrets in 0 of 2 files"
	run am --json diagnostics scan "$BATS_TEST_TMPDIR/clean"
	expect 0
	echo "$output" | json 'assert d["clean"] and d["secrets"] == 0 and d["findings"] == []'
	# A .git directory is not descended into; a missing path is exit 6.
	mkdir -p "$BATS_TEST_TMPDIR/clean/.git"
	cp "$(CORPUS)/env/app.env" "$BATS_TEST_TMPDIR/clean/.git/"
	run am diagnostics scan "$BATS_TEST_TMPDIR/clean"
	expect 0
	run am diagnostics scan "$BATS_TEST_TMPDIR/missing"
	expect 6
	run am diagnostics scan
	expect 2
}

@test "a real execution's output is collected and redacted" {
	ws
	ghp=gh""p_$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 36)
	run am execution start --profile personal --key "$OWNER" -- /bin/echo "token $ghp done"
	if [ "$status" -ne 0 ]; then
		skip "am execution start cannot run here (exit $status): $output"
	fi
	op=$(am --json log --type agent_machine.execution.start | json 'print(d[0]["operationId"])')
	export_bundle --key "$OWNER" --operation "$op"
	out="$X/executions/${op##*:}/stdout"
	[ -f "$out" ]
	grep -q '^token \[REDACTED:github-token:[0-9a-f]\{6\}\] done$' "$out"
	! grep -rqF "$ghp" "$X"
}
