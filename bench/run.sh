#!/bin/sh
# run.sh - run every benchmark, bench/*.sh except this one and lib.sh, in
# turn (make bench).  A failing benchmark does not stop the others; the exit status
# says whether any failed.  Results go to bench/results/.
set -u

cd "$(dirname "$0")/.."
failed=
for b in bench/*.sh; do
	case $b in bench/run.sh | bench/lib.sh) continue ;; esac
	echo "== $b"
	sh "$b" || failed="$failed $b"
	echo
done
if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed" >&2
	exit 1
fi
