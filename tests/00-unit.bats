#!/usr/bin/env bats
# Runs each C unit test binary of tests/unit as one bats test.

load helper

@test "unit: sshkey and sshsig against OpenSSH" { run_unit test_sshsig; }
@test "unit: canonical JSON (RFC 8785) and the strict parser" { run_unit test_canon; }
@test "unit: operation engine; 4 concurrent writers; 200 SIGKILLed writers" { run_unit test_ledger; }
@test "unit: redaction engine (every rule, chunking, 100 MB line)" { run_unit test_redact; }
@test "unit: sandbox containment, as root and as amtest" { [ "$(id -u)" != 0 ] || id amtest >/dev/null 2>&1 || useradd amtest; run_unit test_sandbox; }
@test "unit: disk usage walk of writable paths (localDiskBytes)" { run_unit test_diskusage; }
