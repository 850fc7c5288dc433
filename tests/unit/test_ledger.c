/* test_ledger.c - the operation engine and the ledger under concurrency and
 * crashes: 4 processes x 250 operations at once, then writers killed with
 * SIGKILL at random moments; the ledger must always open and verify, and
 * every operation must be whole or absent. */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <ftw.h>

#include <git2.h>
#include <sodium.h>

#include "canon.h"
#include "ledger.h"
#include "operation.h"
#include "t.h"
#include "util.h"
#include "verify.h"
#include "workspace.h"

static struct am_actor actor = { "user", "tester", NULL, NULL, NULL };

/* One whole operation in one commit: queued -> running -> completed. */
static int
op_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	char id[AM_OP_ID_LEN];

	(void)arg;
	if (am_op_create(t, "agent_machine.test.op", &actor, NULL, id, err) < 0 ||
	    am_op_transition(t, id, "running", NULL, NULL, err) < 0)
		return -1;
	return am_op_transition(t, id, "completed", NULL, NULL, err);
}

static int
commit_ops(const char *root, int n)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	int i;

	/* A forked writer must be its own process as far as libgit2 knows:
	 * re-initialize so it re-seeds its temporary-file names (a real am
	 * process is exec'd and seeds on its own). */
	git_libgit2_shutdown();
	git_libgit2_init();
	if (am_ledger_open(root, &l, &err) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (am_ledger_transact(l, op_txn, NULL, NULL, &err) < 0)
			goto fail;
	am_ledger_free(l);
	return 0;
fail:
	fprintf(stderr, "writer %d: %s\n", (int)getpid(), err ? err->msg : "?");
	am_error_free(err);
	am_ledger_free(l);
	return -1;
}

static size_t
count_ops(const char *root, int verify)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	struct am_verify_report rep = { 0 };

	if (am_ledger_open(root, &l, &err) < 0) {
		fprintf(stderr, "open: %s\n", err->msg);
		am_error_free(err);
		return (size_t)-1;
	}
	if (verify && am_verify(l, &rep, &err) < 0) {
		fprintf(stderr, "verify: %s\n", err->msg);
		am_error_free(err);
		am_ledger_free(l);
		return (size_t)-1;
	}
	am_ledger_free(l);
	return rep.operations;
}

static char op2[AM_OP_ID_LEN];

/* queued -> completed: illegal. */
static int
bad_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	char id[AM_OP_ID_LEN];

	if (am_op_create(t, "agent_machine.test.op", &actor, NULL, id, err) < 0)
		return -1;
	return am_op_transition(t, id, "completed", NULL, NULL, err);
}

static int
progress_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	if (am_op_create(t, "agent_machine.test.op", &actor, NULL, op2, err) < 0 ||
	    am_op_transition(t, op2, "running", NULL, NULL, err) < 0)
		return -1;
	return am_op_event(t, op2, "progress", NULL, err);
}

static int
finish_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	return am_op_transition(t, op2, "completed", NULL, NULL, err);
}

static int
late_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	return am_op_event(t, op2, "progress", NULL, err);
}

/* The transition table and the engine's refusals. */
static void
test_table(const char *root)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;

	T_OK(am_op_transition_allowed(NULL, "queued"));
	T_OK(!am_op_transition_allowed(NULL, "running"));
	T_OK(am_op_transition_allowed("queued", "preflighting"));
	T_OK(am_op_transition_allowed("preflighting", "running"));
	T_OK(am_op_transition_allowed("running", "canceling"));
	T_OK(am_op_transition_allowed("canceling", "canceled"));
	T_OK(am_op_transition_allowed("failed", "retrying"));
	T_OK(!am_op_transition_allowed("completed", "running"));
	T_OK(!am_op_transition_allowed("queued", "completed"));
	T_OK(!am_op_transition_allowed("canceled", "running"));
	T_OK(!am_op_transition_allowed("running", "queued"));
	T_OK(!am_op_transition_allowed("bogus", "running"));
	T_OK(am_task_transition_allowed("running", "stale"));
	T_OK(!am_op_transition_allowed("running", "stale"));
	T_STREQ(am_event_type_for("canceled"), "cancel");
	T_STREQ(am_event_type_for("failed"), "failure");
	T_STREQ(am_event_type_for("retrying"), "retry");
	T_STREQ(am_event_type_for("completed"), "complete");

	T_OK(am_ledger_open(root, &l, &err) == 0);
	{
		/* An illegal transition is refused with class conflict (exit 7)
		 * and nothing is committed. */
		char tip1[41], now[41];
		git_oid oid;

		T_OK(am_ledger_transact(l, op_txn, NULL, tip1, &err) == 0);
		T_OK(am_ledger_transact(l, bad_txn, NULL, NULL, &err) == -1);
		T_OK(err && err->cls == AM_ECONFLICT);
		T_OK(err && strstr(err->msg, "illegal transition") != NULL);
		am_error_free(err);
		err = NULL;
		git_reference_name_to_id(&oid, am_ledger_repo(l), AM_LEDGER_REF);
		git_oid_tostr(now, sizeof(now), &oid);
		T_STREQ(now, tip1);
	}
	/* Progress events keep the state; events after a terminal state are
	 * refused. */
	T_OK(am_ledger_transact(l, progress_txn, NULL, NULL, &err) == 0);
	T_OK(am_ledger_transact(l, finish_txn, NULL, NULL, &err) == 0);
	T_OK(am_ledger_transact(l, late_txn, NULL, NULL, &err) == -1);
	T_OK(err && err->cls == AM_ECONFLICT);
	am_error_free(err);
	err = NULL;
	am_ledger_free(l);
}

static int
rm_entry(const char *p, const struct stat *st, int f, struct FTW *w)
{
	(void)st, (void)f, (void)w;
	return remove(p);
}

int
main(void)
{
	char tmpl[] = "/tmp/am-test-ledger-XXXXXX";
	char *top = mkdtemp(tmpl);
	AM_AUTOFREE char *home = am_xasprintf("%s/home", top);
	AM_AUTOFREE char *ws = am_xasprintf("%s/ws", top);
	struct am_init_opts o = { ws, NULL, "tester" };
	struct am_init_result r;
	struct am_error *err = NULL;
	size_t before, after;
	int i, kills = 0, quick = getenv("AM_TEST_QUICK") != NULL;
	pid_t pids[4];

	if (sodium_init() < 0)
		return 1;
	git_libgit2_init();
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	setenv("XDG_STATE_HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	T_OK(am_workspace_init(&o, &r, &err) == 0);
	if (err) {
		fprintf(stderr, "init: %s\n", err->msg);
		T_DONE();
	}

	test_table(r.root);
	before = count_ops(r.root, 1);
	T_OK(before == 3);

	/* 4 concurrent writers x 250 operations. */
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(commit_ops(r.root, quick ? 25 : 250) == 0 ? 0 : 1);
	}
	for (i = 0; i < 4; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	after = count_ops(r.root, 1);
	T_OK(after == before + (quick ? 100 : 1000));
	printf("concurrent: %zu operations after 4 writers\n", after);
	/* One pack per commit, merged geometrically while the writers raced
	 * (each merged inline: no background merger is set here): a few
	 * packs, not a thousand, and no loose objects. */
	{
		AM_AUTOFREE char *packs = am_xasprintf("%s/.am/ledger.git/objects/pack", r.root);
		AM_AUTOFREE char *objs = am_xasprintf("%s/.am/ledger.git/objects", r.root);
		DIR *d = opendir(packs);
		struct dirent *e;
		int n = 0, fanout = 0;

		while (d && (e = readdir(d)) != NULL)
			n += strlen(e->d_name) > 5 && strcmp(e->d_name + strlen(e->d_name) - 5, ".pack") == 0;
		if (d)
			closedir(d);
		d = opendir(objs);
		while (d && (e = readdir(d)) != NULL)
			fanout += strlen(e->d_name) == 2 && e->d_name[0] != '.';
		if (d)
			closedir(d);
		printf("packs: %d\n", n);
		T_OK(n >= 1 && n <= 16);
		T_OK(fanout == 0); /* no loose object directories */
	}

	/* Writers killed at random moments: 200 kills (20 when quick). */
	for (kills = 0; kills < (quick ? 20 : 200); kills++) {
		pid_t p = fork();

		if (p == 0)
			_exit(commit_ops(r.root, 1000000) == 0 ? 0 : 1);
		usleep(500 + randombytes_uniform(8000));
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		/* The ledger always opens; verify every 25 kills and at the end
		 * (verify walks the whole history, so every kill would be slow). */
		if (count_ops(r.root, kills % 25 == 24) == (size_t)-1) {
			T_OK(!"ledger broken after kill");
			break;
		}
	}
	after = count_ops(r.root, 1);
	T_OK(after != (size_t)-1 && after >= before);
	printf("crash: %d kills, %zu operations, ledger verifies\n", kills, after);

	am_init_result_free(&r);
	nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	git_libgit2_shutdown();
	T_DONE();
}
