#!/usr/bin/env bats
# Runs each C unit test binary of tests/unit as one bats test.

load helper

@test "unit: sshkey and sshsig against OpenSSH" { run_unit test_sshsig; }
