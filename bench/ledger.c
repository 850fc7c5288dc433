/* ledger.c - the ledger benchmark driver (bench/ledger.sh runs it).
 *
 *   ledger fill ROOT N [BATCH]   append N operations in-process, BATCH per
 *                                commit (default 1), to build history
 *   ledger one ROOT              open the ledger, record one operation, exit:
 *                                what one recorded operation costs a user
 *   ledger time ROOT REPO RUNS   RUNS times (after 3 warm-up rounds), time
 *                                "ledger one ROOT" as a fresh process, then
 *                                in the git work tree REPO write one new
 *                                small file (untimed) and time "git add
 *                                FILE" + "git commit -q -m m"
 *
 * One recorded operation is one am_ledger_transact that creates an
 * operation and moves it queued -> running -> completed: its artifacts,
 * its events, the index entry and one signed commit.
 *
 * Both sides are measured the same way: wall time from the first spawn to
 * the last wait, of the processes a user's shell would start (one for am,
 * two for git), with no shell of our own in between.  It prints a line
 * "median mean min max" in microseconds for am, then one for git.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <git2.h>
#include <sodium.h>

#include "ledger.h"
#include "operation.h"
#include "util.h"

extern char **environ;

#define WARMUP 3

static const struct am_actor actor = { "user", "bench", NULL, NULL, NULL };

/* One whole operation: queued -> running -> completed. */
static int
op_one(struct am_txn *t, struct am_error **err)
{
	char id[AM_OP_ID_LEN];

	if (am_op_create(t, "agent_machine.bench.op", &actor, NULL, id, err) < 0 ||
	    am_op_transition(t, id, "running", NULL, NULL, err) < 0)
		return -1;
	return am_op_transition(t, id, "completed", NULL, NULL, err);
}

/* A transaction of *(long *)arg whole operations. */
static int
ops_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	long i, n = *(long *)arg;

	for (i = 0; i < n; i++)
		if (op_one(t, err) < 0)
			return -1;
	return 0;
}

static long
number(const char *s, long min, long max)
{
	long long v;
	const char *why = am_strtonum(s, min, max, &v);

	if (why) {
		fprintf(stderr, "ledger: number '%s' is %s\n", s, why);
		exit(2);
	}
	return (long)v;
}

/* What am does after its commits (cmd/am.c): if the packs are due a merge,
 * a detached child does it. */
static void
merge_in_background(const char *gitdir)
{
	if (am_ledger_merge_due(gitdir))
		am_ledger_merge_detached(gitdir);
}

/* Building a history: merges are left for ledger.sh to do at the end (one
 * git repack), not done again and again on the way. */
static void
merge_later(const char *gitdir)
{
	(void)gitdir;
}

/* fill ROOT N BATCH, and one ROOT (N = BATCH = 1).  Objects are packed as
 * am packs them, a pack per commit, small packs merged. */
static int
record(const char *root, long n, long batch)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	long done = 0, k;

	if (am_ledger_open(root, &l, &err) < 0)
		goto fail;
	while (done < n) {
		k = n - done < batch ? n - done : batch;
		if (am_ledger_transact(l, ops_txn, &k, NULL, &err) < 0)
			goto fail;
		done += k;
	}
	am_ledger_free(l);
	return 0;
fail:
	fprintf(stderr, "ledger: %s\n", err ? err->msg : "?");
	am_error_free(err);
	am_ledger_free(l);
	return 1;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spawn argv and wait for it; 0 if it exited 0. */
static int
run(char *const argv[])
{
	pid_t pid;
	int st, rc;

	rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "ledger: cannot run %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ledger: %s failed\n", argv[0]);
		return -1;
	}
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(int64_t *ns, long runs)
{
	double sum = 0;
	long i;

	qsort(ns, (size_t)runs, sizeof(*ns), cmp_i64);
	for (i = 0; i < runs; i++)
		sum += (double)ns[i];
	printf("%.0f %.0f %.0f %.0f\n",
	       runs % 2 ? ns[runs / 2] / 1e3 : (ns[runs / 2 - 1] + ns[runs / 2]) / 2e3,
	       sum / runs / 1e3, ns[0] / 1e3, ns[runs - 1] / 1e3);
}

/* Write the next new small file of the git side (untimed).  It goes where
 * the history's files are (f/<xx>/), so the commit touches one leaf
 * directory of the same size as theirs. */
static int
git_new_file(long i, char *path, size_t size)
{
	char body[64];
	unsigned r = randombytes_uniform(256);
	int fd;

	snprintf(path, size, "f/%02x/new%d.%ld", r, (int)getpid(), i);
	snprintf(body, sizeof(body), "new file %ld\n", i);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 && errno == ENOENT) {
		char dir[8];

		snprintf(dir, sizeof(dir), "f/%02x", r);
		mkdir("f", 0755);
		mkdir(dir, 0755);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	}
	if (fd < 0 || am_write_all(fd, body, strlen(body)) < 0) {
		fprintf(stderr, "ledger: cannot write '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* time ROOT REPO RUNS: alternate one am run and one git run, so that
 * whatever else the machine does falls on both sides alike. */
static int
time_both(const char *root, const char *repo, long runs)
{
	char self[4096], path[64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *am[] = { self, "one", NULL, NULL };
	char *add[] = { "git", "add", path, NULL };
	char *commit[] = { "git", "commit", "-q", "-m", "m", NULL };
	int64_t *am_ns = am_xcalloc((size_t)runs, sizeof(int64_t));
	int64_t *git_ns = am_xcalloc((size_t)runs, sizeof(int64_t));
	AM_AUTOFREE char *abs_root = realpath(root, NULL);
	int64_t t0;
	long i;

	if (n < 0 || abs_root == NULL) {
		perror("ledger");
		return 1;
	}
	self[n] = '\0';
	am[2] = abs_root;
	if (chdir(repo) < 0) {
		fprintf(stderr, "ledger: cannot change to '%s': %s\n", repo, strerror(errno));
		return 1;
	}
	for (i = -WARMUP; i < runs; i++) {
		t0 = now_ns();
		if (run(am) < 0)
			return 1;
		if (i >= 0)
			am_ns[i] = now_ns() - t0;
		if (git_new_file(i + WARMUP, path, sizeof(path)) < 0)
			return 1;
		t0 = now_ns();
		if (run(add) < 0 || run(commit) < 0)
			return 1;
		if (i >= 0)
			git_ns[i] = now_ns() - t0;
	}
	report(am_ns, runs);
	report(git_ns, runs);
	free(am_ns);
	free(git_ns);
	return 0;
}

static _Noreturn void
usage(void)
{
	fputs("usage: ledger fill ROOT N [BATCH] | one ROOT | time ROOT REPO RUNS\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 3)
		usage();
	if (sodium_init() < 0)
		return 1;
	if (strcmp(argv[1], "time") == 0 && argc == 5)
		return time_both(argv[2], argv[3], number(argv[4], 1, 100000));
	git_libgit2_init();
	if (strcmp(argv[1], "one") == 0 && argc == 3) {
		am_ledger_set_background_merge(merge_in_background);
		rc = record(argv[2], 1, 1);
	} else if (strcmp(argv[1], "fill") == 0 && (argc == 4 || argc == 5)) {
		am_ledger_set_background_merge(merge_later);
		rc = record(argv[2], number(argv[3], 0, 100000000),
			    argc == 5 ? number(argv[4], 1, 100000) : 1);
	} else {
		usage();
	}
	git_libgit2_shutdown();
	return rc;
}
