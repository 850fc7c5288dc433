/* execution.c - see execution.h */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <sodium.h>

#include "budget.h"
#include "canon.h"
#include "execution.h"
#include "operation.h"
#include "policy.h"
#include "profile.h"
#include "redact.h"
#include "sandbox.h"
#include "toolgrant.h"
#include "util.h"

#define MAX_PIDS_DEFAULT 256

struct strv {
	char **v;
	size_t n;
};

static void
strv_add(struct strv *s, const char *x)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return;
	s->v = am_xrealloc(s->v, (s->n + 2) * sizeof(char *));
	s->v[s->n++] = am_xstrdup(x);
	s->v[s->n] = NULL;
}

static void
strv_clear(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* An attempt's sandbox and the read ends of its output and progress pipes. */
struct attempt {
	struct am_sandbox *sb;
	int out, err, progress;
};

struct am_exec {
	pid_t leased_by;       /* the process the lease names (preflight writes it) */
	const struct am_authz *auth;
	struct am_exec_req req;
	struct am_profile profile;
	int have_profile;
	char *entry;           /* absolute real path */
	struct strv argv, env, ro, rw, deny, exec, tools;
	char *ledger_dir;
	int ledger_ro;
	enum am_net net;
	char *net_note;
	struct am_decision entry_decision;
	struct am_account accounts[9];
	size_t naccounts;
	struct am_budget effective;
	char op[AM_OP_ID_LEN];
	char *uuid;            /* op uuid */
	char *idem_key;
	char *child_token;     /* AM_DELEGATION for the child */
	char *decision_ref;
	char *cwd;
	int64_t started;
	struct am_sandbox_features features;
	struct attempt held;   /* the first attempt's sandbox, set up during the preflight commit */
};

const char *am_exec_op_id(const struct am_exec *x) { return x->op; }

static void
attempt_close(struct attempt *a)
{
	am_sandbox_free(a->sb); /* kills it if it is still there */
	if (a->out >= 0)
		close(a->out);
	if (a->err >= 0)
		close(a->err);
	if (a->progress >= 0)
		close(a->progress);
	a->sb = NULL;
	a->out = a->err = a->progress = -1;
}

void
am_exec_free(struct am_exec *x)
{
	if (x == NULL)
		return;
	attempt_close(&x->held);
	if (x->have_profile)
		am_profile_free(&x->profile);
	am_decision_free(&x->entry_decision);
	free(x->entry);
	strv_clear(&x->argv);
	strv_clear(&x->env);
	strv_clear(&x->ro);
	strv_clear(&x->rw);
	strv_clear(&x->deny);
	strv_clear(&x->exec);
	strv_clear(&x->tools);
	free(x->ledger_dir);
	free(x->net_note);
	free(x->uuid);
	free(x->idem_key);
	if (x->child_token)
		sodium_memzero(x->child_token, strlen(x->child_token));
	free(x->child_token);
	free(x->decision_ref);
	free(x->cwd);
	free(x);
}

char *
am_exec_dir(const char *op_id)
{
	AM_AUTOFREE char *state = am_state_dir();
	const char *u = strrchr(op_id, ':') ? strrchr(op_id, ':') + 1 : op_id;

	return am_xasprintf("%s/executions/%s", state, u);
}

/* "#!interp [arg]": the interpreter a script needs to execute, and for
 * "#!/usr/bin/env prog" the program env will run. */
static void
add_interpreters(struct am_exec *x, const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *nl, *sp, *interp, *rp;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 3 || buf[0] != '#' || buf[1] != '!')
		return;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	interp = buf + 2;
	while (*interp == ' ' || *interp == '\t')
		interp++;
	sp = strpbrk(interp, " \t");
	if (sp)
		*sp++ = '\0';
	rp = realpath(interp, NULL);
	if (rp == NULL)
		return;
	strv_add(&x->exec, rp);
	free(rp);
	if (sp && strcmp(strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp, "env") == 0) {
		char *prog;

		while (*sp == ' ' || *sp == '\t')
			sp++;
		sp[strcspn(sp, " \t")] = '\0';
		if (*sp && am_tool_resolve(sp, NULL, NULL, &prog, NULL) == 0) {
			strv_add(&x->exec, prog);
			free(prog);
		}
	}
}

static void
add_existing(struct strv *s, const char *pat, const char *root)
{
	AM_AUTOFREE char *e = am_profile_path_expand(pat, root);
	AM_AUTOFREE char *r = realpath(e, NULL);
	struct stat st;

	if (r && stat(r, &st) == 0)
		strv_add(s, r);
}

/* Narrow AM_DELEGATION's values: proxies, LANG, TERM pass; nothing else
 * of the caller's environment reaches the child (no inherited secrets). */
static void
build_env(struct am_exec *x)
{
	static const char *const pass[] = { "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", NULL };
	struct strv dirs = { 0 };
	struct am_buf path = AM_BUF_INIT;
	size_t i;

	for (i = 0; i < x->exec.n; i++) {
		AM_AUTOFREE char *d = am_xstrdup(x->exec.v[i]);

		*strrchr(d, '/') = '\0';
		strv_add(&dirs, *d ? d : "/");
	}
	/* PATH lists the directories of granted tools and the entry point:
	 * everything else there is present but not executable (Landlock). */
	for (i = 0; i < dirs.n; i++)
		am_buf_addf(&path, "%s%s", i ? ":" : "", dirs.v[i]);
	strv_clear(&x->env);
	{
		char *e = am_xasprintf("PATH=%s", path.data ? path.data : "/usr/bin");

		strv_add(&x->env, e);
		free(e);
	}
	strv_add(&x->env, "HOME=/tmp/home");
	strv_add(&x->env, "TMPDIR=/tmp");
	strv_add(&x->env, "AM_PROGRESS_FD=4");
	for (i = 0; pass[i]; i++) {
		const char *v = getenv(pass[i]);

		if (v) {
			char *e = am_xasprintf("%s=%s", pass[i], v);

			strv_add(&x->env, e);
			free(e);
		}
	}
	am_buf_free(&path);
	strv_clear(&dirs);
}

int
am_exec_prepare(struct am_ledger *l, const struct am_authz *a, const struct am_exec_req *r,
		struct am_exec **out, struct am_error **err)
{
	struct am_exec *x = am_xcalloc(1, sizeof(*x));
	const char *root = am_ledger_root(l), *pname, *mode, *type, *ledger;
	cJSON *grants = NULL, *g;
	char cwd[4096];
	size_t i;
	int rc = -1;

	*out = NULL;
	x->auth = a;
	x->held.out = x->held.err = x->held.progress = -1;
	x->req = *r;
	if (r->argv == NULL || r->argv[0] == NULL) {
		am_error_set(err, AM_EUSAGE, "no command to run (give it after --)");
		goto out;
	}
	/* argv keeps duplicates, so not strv_add. */
	for (i = 0; r->argv[i]; i++) {
		x->argv.v = am_xrealloc(x->argv.v, (i + 2) * sizeof(char *));
		x->argv.v[i] = am_xstrdup(r->argv[i]);
		x->argv.v[i + 1] = NULL;
		x->argv.n = i + 1;
	}
	pname = r->profile ? r->profile : a->profile;
	if (pname == NULL) {
		am_error_set(err, AM_EUSAGE, "--profile NAME is required (acting with a key)");
		goto out;
	}
	if (am_profile_resolve(l, pname, &x->profile, err) < 0)
		goto out;
	x->have_profile = 1;
	type = am_json_str(x->profile.effective, "type");
	/* The entry point: resolved like a tool, and it must lie where the
	 * profile lets the execution read. */
	if (am_tool_resolve(r->argv[0], &x->profile, root, &x->entry, err) < 0) {
		/* Exec-style statuses: 127 not found, 126 cannot execute. */
		if ((*err)->cls == AM_EUSAGE)
			(*err)->cls = strstr((*err)->msg, "resolves to nothing") ? AM_ENOCMD : AM_ENOEXEC;
		goto out;
	}
	free(x->argv.v[0]);
	x->argv.v[0] = am_xstrdup(x->entry);
	strv_add(&x->exec, x->entry);
	add_interpreters(x, x->entry);
	if (am_policy_decide_tool(&x->profile, r->argv[0], x->entry, a->tenant, &x->entry_decision, err) < 0)
		goto out;
	/* A script's interpreter runs too: the same gate judges it, so
	 * "#!/usr/bin/env curl" cannot get around tools.forbid. */
	for (i = 1; x->entry_decision.permit && i < x->exec.n; i++) {
		struct am_decision d;

		if (am_policy_decide_tool(&x->profile, NULL, x->exec.v[i], a->tenant, &d, err) < 0)
			goto out;
		if (!d.permit) {
			char *why = am_xasprintf("interpreter of %s: %s", x->entry, d.reason);

			free(d.reason);
			d.reason = why;
			am_decision_free(&x->entry_decision);
			x->entry_decision = d;
		} else {
			am_decision_free(&d);
		}
	}
	/* Only personal profiles may use the host network; for any other the
	 * networkProfile gate refuses open mode outright. */
	{
		const char *m = am_json_str(cJSON_GetObjectItemCaseSensitive(x->profile.effective, "network"), "mode");

		if (x->entry_decision.permit && m && strcmp(m, "open") == 0 && type &&
		    strcmp(type, "personal") != 0) {
			am_decision_free(&x->entry_decision);
			if (am_policy_decide(&x->profile, "networkProfile", "egress.invalid:443", a->tenant,
					     &x->entry_decision, err) < 0)
				goto out;
		}
	}
	/* Granted tools whose binary still matches its pinned hash. */
	if (am_grants_list(l, a->tenant, &grants, err) < 0)
		goto out;
	cJSON_ArrayForEach(g, grants) {
		const char *gp = am_json_str(g, "path"), *ge = am_json_str(g, "grantee"), *sha = am_json_str(g, "sha256"),
			   *exp = am_json_str(g, "expiresAt");
		int64_t e = 0;
		char hex[65];

		if (!gp || !ge || !sha || strcmp(ge, a->name) != 0 ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "revoked")))
			continue;
		if (exp && am_time_parse(exp, &e) == 0 && e <= am_now())
			continue;
		if (am_file_sha256(gp, hex, NULL) < 0 || strcmp(sha + 7, hex) != 0)
			continue; /* changed since the grant: not executable */
		if (a->chain.depth > 0) {
			/* Under a delegation, a grant counts only for tools its
			 * am.tools claim names. */
			const cJSON *t;
			const char *base = strrchr(gp, '/') + 1, *tn = am_json_str(g, "toolName");
			int named = 0;

			cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(a->chain.am, "tools"))
				if (cJSON_IsString(t) && (strcmp(t->valuestring, base) == 0 ||
							  (tn && strcmp(t->valuestring, tn) == 0)))
					named = 1;
			if (!named)
				continue;
		}
		strv_add(&x->exec, gp);
		strv_add(&x->tools, gp);
	}
	cJSON_Delete(grants);
	{
		/* am itself, so the agent can report progress (it then only
		 * writes to AM_PROGRESS_FD; it cannot reach the ledger). */
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n > 0) {
			self[n] = '\0';
			strv_add(&x->exec, self);
		}
	}
	{
		const cJSON *fs = cJSON_GetObjectItemCaseSensitive(x->profile.effective, "filesystem"), *p;

		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(fs, "readOnly"))
			add_existing(&x->ro, p->valuestring, root);
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(fs, "readWrite"))
			add_existing(&x->rw, p->valuestring, root);
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(fs, "deny"))
			add_existing(&x->deny, p->valuestring, root);
	}
	x->ledger_dir = am_xasprintf("%s/.am", root);
	ledger = am_json_str(cJSON_GetObjectItemCaseSensitive(x->profile.effective, "artifactAccess"), "ledger");
	x->ledger_ro = ledger && strcmp(ledger, "read-only") == 0;
	mode = am_json_str(cJSON_GetObjectItemCaseSensitive(x->profile.effective, "network"), "mode");
	if (mode && strcmp(mode, "loopback") == 0) {
		x->net = AM_NET_LOOPBACK;
	} else if (mode && strcmp(mode, "open") == 0 && type && strcmp(type, "personal") == 0) {
		x->net = AM_NET_HOST;
	} else {
		x->net = AM_NET_NONE;
		if (mode && strcmp(mode, "proxy") == 0)
			x->net_note = am_xstrdup("network.mode proxy: the egress proxy is not available yet, so the execution has no network (fail closed)");
		else if (mode && strcmp(mode, "open") == 0)
			x->net_note = am_xstrdup("network.mode open is only for personal profiles: no network");
	}
	if (getcwd(cwd, sizeof(cwd)) && (strncmp(cwd, root, strlen(root)) == 0))
		x->cwd = am_xstrdup(cwd);
	else
		x->cwd = am_xstrdup(root);
	x->naccounts = am_budget_accounts(a, x->accounts);
	am_sandbox_probe(&x->features);
	build_env(x);
	rc = 0;
	*out = x;
	x = NULL;
out:
	am_exec_free(x);
	return rc;
}

static char *const empty_strv[] = { NULL };

static void
fill_plan(const struct am_exec *x, struct am_sandbox_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->argv = x->argv.v;
	p->env = x->env.v;
	p->cwd = x->cwd;
	p->ro_paths = x->ro.v ? x->ro.v : empty_strv;
	p->rw_paths = x->rw.v ? x->rw.v : empty_strv;
	p->deny_paths = x->deny.v ? x->deny.v : empty_strv;
	p->exec_paths = x->exec.v;
	p->ledger_dir = x->ledger_dir;
	p->ledger_readonly = x->ledger_ro;
	p->net = x->net;
	p->scratch_bytes = (uint64_t)x->effective.v[AM_DIM_DISK];
	p->memory_bytes = (uint64_t)x->effective.v[AM_DIM_MEMORY];
	p->cpu_seconds = (uint64_t)x->effective.v[AM_DIM_CPU];
	p->max_pids = MAX_PIDS_DEFAULT;
	p->max_file_bytes = 0;
	p->name = x->uuid ? x->uuid : "dry-run";
	p->progress_fd = -1;
	p->stdin_fd = p->stdout_fd = p->stderr_fd = -1;
}

/* Start attempt number n: its pipes, the plan with this operation's
 * environment (its id and narrowed delegation), the sandbox (held: see
 * am_sandbox_start). */
static int
attempt_start(struct am_exec *x, int n, int stdin_fd, int hold, struct attempt *a,
	      struct am_error **err)
{
	struct am_sandbox_plan p;
	struct strv env = { 0 };
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, pr[2] = { -1, -1 }, rc;
	char name[64], *e;
	size_t i;

	a->sb = NULL;
	a->out = a->err = a->progress = -1;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(pr, O_CLOEXEC) < 0) {
		am_error_set(err, AM_EFAIL, "pipe: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	fill_plan(x, &p);
	snprintf(name, sizeof(name), "%s-%d", x->uuid, n);
	p.name = name;
	p.stdin_fd = stdin_fd;
	p.stdout_fd = po[1];
	p.stderr_fd = pe[1];
	p.progress_fd = pr[1];
	p.hold = hold;
	for (i = 0; i < x->env.n; i++)
		strv_add(&env, x->env.v[i]);
	e = am_xasprintf("AM_OPERATION=%s", x->op);
	strv_add(&env, e);
	free(e);
	if (x->child_token) {
		e = am_xasprintf("AM_DELEGATION=%s", x->child_token);
		strv_add(&env, e);
		sodium_memzero(e, strlen(e));
		free(e);
	}
	p.env = env.v;
	rc = am_sandbox_start(&p, &a->sb, err);
	for (i = 0; i < env.n; i++)
		if (am_starts_with(env.v[i], "AM_DELEGATION="))
			sodium_memzero(env.v[i], strlen(env.v[i]));
	strv_clear(&env);
out:
	/* The write ends are the sandbox's now. */
	if (po[1] >= 0)
		close(po[1]);
	if (pe[1] >= 0)
		close(pe[1]);
	if (pr[1] >= 0)
		close(pr[1]);
	a->out = po[0];
	a->err = pe[0];
	a->progress = pr[0];
	if (rc < 0)
		attempt_close(a);
	return rc;
}

cJSON *
am_exec_plan_json(const struct am_exec *x)
{
	struct am_sandbox_plan p;
	struct am_error *err = NULL;
	cJSON *doc = cJSON_CreateObject(), *b;
	size_t i;
	int d;

	fill_plan(x, &p);
	cJSON_AddStringToObject(doc, "profile", x->profile.name);
	cJSON_AddStringToObject(doc, "actor", x->auth->name);
	if (x->auth->delegation)
		cJSON_AddStringToObject(doc, "delegation", x->auth->delegation);
	cJSON_AddStringToObject(doc, "entryPoint", x->entry);
	{
		cJSON *dec = cJSON_AddObjectToObject(doc, "entryDecision");

		cJSON_AddStringToObject(dec, "decision", x->entry_decision.permit ? "permit" : "deny");
		cJSON_AddItemToObject(dec, "rules", cJSON_Duplicate(x->entry_decision.rules, 1));
		cJSON_AddStringToObject(dec, "reason", x->entry_decision.reason);
	}
	cJSON_AddItemToObject(doc, "grantedTools", cJSON_CreateArray());
	for (i = 0; i < x->tools.n; i++)
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, "grantedTools"),
				     cJSON_CreateString(x->tools.v[i]));
	/* The budget a real start would reserve is computed in its commit;
	 * the dry run shows the request and the profile's ceilings. */
	b = cJSON_AddObjectToObject(doc, "budgetCeilings");
	for (d = 0; d < AM_BUDGET_DIMS; d++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(x->profile.effective, "budget"), am_budget_dims[d]);
		int64_t v = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : 0;

		if ((x->req.budget.set & (1u << d)) && x->req.budget.v[d] < v)
			v = x->req.budget.v[d];
		cJSON_AddNumberToObject(b, am_budget_dims[d], (double)v);
	}
	if (x->net_note)
		cJSON_AddStringToObject(doc, "networkNote", x->net_note);
	{
		struct am_exec *y = (struct am_exec *)x;
		struct am_budget saved = y->effective;

		for (d = 0; d < AM_BUDGET_DIMS; d++)
			y->effective.v[d] = (int64_t)cJSON_GetObjectItemCaseSensitive(b, am_budget_dims[d])->valuedouble;
		fill_plan(y, &p);
		cJSON_AddItemToObject(doc, "sandbox", am_sandbox_plan_json(&p, &x->features));
		y->effective = saved;
	}
	if (am_sandbox_check(&p, &x->features, &err) < 0) {
		cJSON_AddStringToObject(doc, "refused", err->msg);
		am_error_free(err);
	}
	cJSON_AddItemToObject(doc, "kernel", am_sandbox_features_json(&x->features));
	return doc;
}

static void write_lease(const char *op);

/* ---- commit 1: preflight ---- */

struct pre_ctx {
	struct am_exec *x;
	char *existing;           /* idempotency hit: finished op id */
	struct am_error *denial;  /* recorded denial, returned after commit */
};

static char *
idem_path(const char *key)
{
	char h[65];

	am_sha256_hex(h, key, strlen(key));
	return am_xasprintf("idempotency/%.2s/%s", h, h);
}

static char *
exec_index_path(const char *uuid)
{
	return am_xasprintf("executions/%.2s/%s", uuid, uuid);
}

/* Record a refusal in this commit: the operation fails with a failure
 * event naming the class, and the error is handed back after the commit. */
static int
record_denial(struct am_txn *t, struct pre_ctx *c, const char *cls, const char *dim,
	      struct am_error *why, struct am_error **err)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "errorClass", cls);
	if (dim)
		cJSON_AddStringToObject(d, "dimension", dim);
	if (c->x->decision_ref)
		cJSON_AddStringToObject(d, "decisionRef", c->x->decision_ref);
	cJSON_AddStringToObject(d, "reason", why->msg);
	c->denial = why;
	return am_op_transition(t, c->x->op, "failed", "failure", d, err);
}

static int
preflight_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct pre_ctx *c = arg;
	struct am_exec *x = c->x;
	struct am_actor actor = am_authz_actor(x->auth);
	struct am_error *why = NULL;
	AM_AUTOFREE char *ipath = idem_path(x->idem_key);
	AM_AUTOFREE char *prev = NULL;
	cJSON *dec, *idx, *details;
	char ref[AM_ID_LEN], now[21];
	int rc;

	am_error_free(c->denial);
	c->denial = NULL;
	free(c->existing);
	c->existing = NULL;
	attempt_close(&x->held); /* from an earlier run of this callback */
	/* The same idempotency key names the same operation: finished, it is
	 * not run again; still going, a second start is a conflict. */
	if (am_txn_read(t, ipath, &prev, NULL, NULL) == 0) {
		char *state = NULL;

		prev[strcspn(prev, "\n")] = '\0';
		if (am_op_state(t, prev, &state, err) < 0)
			return -1;
		if (!am_op_state_terminal(state)) {
			am_error_set(err, AM_ECONFLICT, "operation %s with idempotency key '%s' is still %s",
				     prev, x->idem_key, state);
			free(state);
			return -1;
		}
		free(state);
		c->existing = am_xstrdup(prev);
		return 0; /* nothing staged: no commit */
	}
	if (am_op_create(t, "agent_machine.execution.start", &actor, x->idem_key, x->op, err) < 0 ||
	    am_op_transition(t, x->op, "preflighting", NULL, NULL, err) < 0)
		return -1;
	free(x->uuid);
	x->uuid = am_xstrdup(strrchr(x->op, ':') + 1);
	{
		char *line = am_xasprintf("%s\n", x->op);

		am_txn_put_file(t, ipath, line, strlen(line));
		free(line);
	}
	dec = am_decision_artifact(&x->entry_decision, &x->profile, x->op, am_txn_time(t));
	rc = am_txn_put_artifact(t, dec, ref, err);
	cJSON_Delete(dec);
	if (rc < 0 || am_op_link(t, x->op, "decisionRefs", ref, err) < 0)
		return -1;
	free(x->decision_ref);
	x->decision_ref = am_xstrdup(ref);
	if (!x->entry_decision.permit) {
		am_error_set(&why, AM_EDENIED, "denied by policy: %s (%s)", x->entry_decision.reason,
			     cJSON_GetArrayItem(x->entry_decision.rules, 0)->valuestring);
		return record_denial(t, c, "policy_denied", NULL, why, err);
	}
	if (am_budget_reserve(t, x->accounts, x->naccounts, &x->req.budget,
			      cJSON_GetObjectItemCaseSensitive(x->profile.effective, "budget"), x->op,
			      &x->effective, &why) < 0) {
		const char *dim = NULL;
		int d;

		if (why->cls != AM_EBUDGET) {
			*err = why;
			return -1;
		}
		for (d = 0; d < AM_BUDGET_DIMS; d++)
			if (strstr(why->msg, am_budget_dims[d]))
				dim = am_budget_dims[d];
		return record_denial(t, c, "budget_exceeded", dim, why, err);
	}
	/* AM_DELEGATION for the child: a child of the caller's delegation,
	 * bounded to this execution's budget and lifetime. */
	if (x->req.token && x->auth->delegation) {
		struct am_delegation_req dr = { 0 };
		char *jti = NULL;
		char dop[AM_OP_ID_LEN];
		const cJSON *ops = cJSON_GetObjectItemCaseSensitive(x->auth->chain.am, "operations"), *o;
		char **opsv = am_xcalloc((size_t)cJSON_GetArraySize(ops) + 1, sizeof(char *));
		size_t n = 0;
		int d;

		cJSON_ArrayForEach(o, ops)
			opsv[n++] = o->valuestring;
		dr.to = am_xasprintf("%s/%.8s", x->auth->name, x->uuid);
		dr.operations = (const char *const *)opsv;
		for (d = 0; d < AM_BUDGET_DIMS; d++)
			if (x->auth->chain.budget.set & (1u << d)) {
				dr.budget.v[d] = x->effective.v[d];
				dr.budget.set |= 1u << d;
			}
		dr.expires = am_txn_time(t) + x->effective.v[AM_DIM_WALL] + (x->req.grace >= 0 ? x->req.grace : 5) + 60;
		if (dr.expires > x->auth->chain.exp)
			dr.expires = x->auth->chain.exp;
		free(x->child_token);
		x->child_token = NULL;
		rc = am_delegation_stage(t, x->auth, x->req.token, &dr, &x->child_token, &jti, dop, err);
		free((char *)dr.to);
		free(opsv);
		free(jti);
		if (rc < 0)
			return -1;
	}
	am_time_format(now, am_txn_time(t));
	x->started = am_txn_time(t);
	idx = cJSON_CreateObject();
	cJSON_AddStringToObject(idx, "operation", x->op);
	cJSON_AddStringToObject(idx, "state", "running");
	cJSON_AddStringToObject(idx, "profile", x->profile.name);
	cJSON_AddStringToObject(idx, "actor", x->auth->name);
	if (x->req.name)
		cJSON_AddStringToObject(idx, "name", x->req.name);
	cJSON_AddStringToObject(idx, "startedAt", now);
	{
		cJSON *acc = cJSON_AddArrayToObject(idx, "accounts");
		size_t i;

		for (i = 0; i < x->naccounts; i++)
			cJSON_AddItemToArray(acc, cJSON_CreateString(x->accounts[i].name));
	}
	cJSON_AddItemToObject(idx, "reserved", am_budget_to_json(&x->effective));
	{
		AM_AUTOFREE char *ep = exec_index_path(x->uuid);

		rc = am_txn_put_json(t, ep, idx, err);
	}
	cJSON_Delete(idx);
	if (rc < 0)
		return -1;
	details = cJSON_CreateObject();
	cJSON_AddItemToObject(details, "effectiveBudget", am_budget_to_json(&x->effective));
	cJSON_AddStringToObject(details, "entryPoint", x->entry);
	cJSON_AddStringToObject(details, "profile", x->profile.name);
	if (am_op_transition(t, x->op, "running", "start", details, err) < 0)
		return -1;
	if (x->req.foreground) {
		/* The sandbox is set up while this commit is written: on two
		 * CPUs its own steps (namespaces, mounts, Landlock, seccomp) and
		 * the commit run side by side.  The command execs only when
		 * am_exec_supervise releases it, after the commit, so "running"
		 * is recorded before the agent runs.  A lost race runs this
		 * callback again, with a new operation: a new sandbox. */
		struct am_error *e = NULL;

		if (attempt_start(x, 1, 0, 1, &x->held, &e) < 0)
			am_error_free(e); /* the first attempt tries again and records why */
	}
	return 0;
}

int
am_exec_preflight(struct am_ledger *l, struct am_exec *x, char **existing, struct am_error **err)
{
	struct pre_ctx c = { x, NULL, NULL };
	struct am_sandbox_plan p;

	*existing = NULL;
	if (x->req.idem_key == NULL) {
		char u[37];

		am_uuid(u);
		x->idem_key = am_xstrdup(u);
	} else {
		x->idem_key = am_xstrdup(x->req.idem_key);
	}
	/* Fail closed before anything is recorded if this kernel cannot
	 * enforce the plan at all. */
	fill_plan(x, &p);
	p.scratch_bytes = 1;
	if (am_sandbox_check(&p, &x->features, err) < 0)
		return -1;
	if (am_ledger_transact(l, preflight_txn, &c, NULL, err) < 0) {
		attempt_close(&x->held);
		am_error_free(c.denial);
		free(c.existing);
		return -1;
	}
	if (c.existing || c.denial)
		attempt_close(&x->held);
	if (c.existing) {
		*existing = c.existing;
		return 0;
	}
	if (c.denial) {
		*err = c.denial;
		return -1;
	}
	/* The lease at once, before anything else can fail: an operation that
	 * is running in the ledger always has one, so a crash from here on is
	 * found by the next sweep and its slot freed. */
	write_lease(x->op);
	x->leased_by = getpid();
	return 0;
}

/* ---- the supervised run ---- */

static int sig_w = -1;

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (sig_w >= 0)
		(void)!write(sig_w, &c, 1);
	errno = saved;
}

/* localDiskBytes as measured: the scratch tmpfs in use (fstatfs of the
 * descriptor the sandbox hands over, cheap, every turn of the loop) plus
 * how much the writable paths grew since the baseline taken before the
 * first attempt (a walk of them, spaced so that it costs at most about a
 * tenth of the time: at least 1 s apart and 10 times as long as the last
 * walk took). */
struct disk_meter {
	char *const *roots;  /* the plan's writable paths */
	char *skip[3];       /* the ledger and this execution's logs: am's, not the agent's */
	uint64_t baseline;
	uint64_t growth;     /* max(0, last walk - baseline) */
	uint64_t scratch;    /* last sample */
	uint64_t peak;       /* of scratch + growth */
	int64_t next_walk;   /* monotonic ms */
};

/* Walk the writable paths: the baseline (first) or their growth. */
static void
disk_walk(struct disk_meter *m, int baseline)
{
	int64_t t0 = am_mono_ms(), took;
	uint64_t now = 0;

	am_sandbox_disk_usage(m->roots, m->skip, &now); /* what it could not read: not counted */
	if (baseline)
		m->baseline = now;
	else
		m->growth = now > m->baseline ? now - m->baseline : 0;
	took = am_mono_ms() - t0;
	m->next_walk = am_mono_ms() + (took * 10 > 1000 ? took * 10 : 1000);
}

/* Sample the scratch (and walk the writable paths when it is time, or
 * when force); returns the disk in use now. */
static uint64_t
disk_sample(struct disk_meter *m, const struct am_sandbox *sb, int force)
{
	uint64_t s;

	if (force || am_mono_ms() >= m->next_walk)
		disk_walk(m, 0);
	if (am_sandbox_scratch_used(sb, &s) == 0)
		m->scratch = s;
	if (m->scratch + m->growth > m->peak)
		m->peak = m->scratch + m->growth;
	return m->scratch + m->growth;
}

struct stream {
	int fd;         /* read end, -1 when done */
	int tee;        /* terminal copy, -1: none */
	int log;        /* machine-local log file */
	crypto_hash_sha256_state h;
	uint64_t bytes;
};

static void
stream_pump(struct stream *s)
{
	char buf[65536];
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	crypto_hash_sha256_update(&s->h, (unsigned char *)buf, (unsigned long long)n);
	s->bytes += (uint64_t)n;
	am_write_all(s->log, buf, (size_t)n);
	if (s->tee >= 0 && am_write_all(s->tee, buf, (size_t)n) < 0)
		s->tee = -1; /* a closed terminal must not stop the run */
}

static cJSON *
stream_json(struct stream *s)
{
	cJSON *o = cJSON_CreateObject();
	unsigned char h[32];
	char hex[72];

	crypto_hash_sha256_final(&s->h, h);
	memcpy(hex, "sha256:", 7);
	am_hex(hex + 7, h, 32);
	cJSON_AddStringToObject(o, "sha256", hex);
	cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
	return o;
}

/* Leases live apart from the executions' log directories, one file each
 * while a supervisor runs, so that finding the lost ones reads the live
 * few, not every execution this machine ever ran. */
static char *
lease_path(const char *op_or_uuid)
{
	AM_AUTOFREE char *state = am_state_dir();
	const char *u = strrchr(op_or_uuid, ':') ? strrchr(op_or_uuid, ':') + 1 : op_or_uuid;

	return am_xasprintf("%s/leases/%s.json", state, u);
}

static void
write_lease(const char *op)
{
	AM_AUTOFREE char *path = lease_path(op);
	char exp[21];
	char *doc;

	am_time_format(exp, am_now() + AM_LEASE_SECONDS);
	doc = am_xasprintf("{\"operation\":\"%s\",\"pid\":%d,\"expiresAt\":\"%s\"}\n", op, (int)getpid(), exp);
	am_write_state_file(path, doc, strlen(doc), NULL);
	free(doc);
}

struct event_ctx {
	const char *op;
	const char *to;    /* transition target, or NULL for a progress event */
	const char *ev;
	cJSON *details;
};

static int
event_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct event_ctx *c = arg;
	cJSON *d = c->details ? cJSON_Duplicate(c->details, 1) : NULL;

	if (c->to)
		return am_op_transition(t, c->op, c->to, c->ev, d, err);
	return am_op_event(t, c->op, c->ev, d, err);
}

static int
record_event(struct am_ledger *l, const char *op, const char *to, const char *ev, cJSON *details,
	     struct am_error **err)
{
	struct event_ctx c = { op, to, ev, details };
	int rc = am_ledger_transact(l, event_txn, &c, NULL, err);

	cJSON_Delete(details);
	return rc;
}

struct finish_ctx {
	struct am_exec *x;
	const char *to;        /* completed, failed, canceled */
	const char *ev;
	cJSON *details;        /* failure/complete details */
	cJSON *record;         /* LocalAgentExecution */
	struct am_budget used;
	char ref[AM_ID_LEN];
};

static int
finish_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct finish_ctx *c = arg;
	struct am_exec *x = c->x;
	AM_AUTOFREE char *ep = exec_index_path(x->uuid);
	AM_AUTOFREE char *data = NULL;
	char *accts[9];
	cJSON *idx = NULL, *d;
	size_t i, len;
	int rc = -1;

	if (am_txn_put_artifact(t, c->record, c->ref, err) < 0 ||
	    am_op_link(t, x->op, "artifactRefs", c->ref, err) < 0)
		return -1;
	for (i = 0; i < x->naccounts; i++)
		accts[i] = x->accounts[i].name;
	if (am_budget_settle(t, accts, x->naccounts, x->op, &x->effective, &c->used, err) < 0)
		return -1;
	if (am_txn_read(t, ep, &data, &len, err) < 0 || (idx = am_canon_parse(data, len, err)) == NULL)
		return -1;
	cJSON_ReplaceItemInObjectCaseSensitive(idx, "state", cJSON_CreateString(c->to));
	cJSON_AddStringToObject(idx, "record", c->ref);
	if (am_txn_put_json(t, ep, idx, err) < 0)
		goto out;
	d = cJSON_Duplicate(c->details, 1);
	cJSON_AddStringToObject(d, "executionRef", c->ref);
	rc = am_op_transition(t, x->op, c->to, c->ev, d, err);
out:
	cJSON_Delete(idx);
	return rc;
}

/* argv for the record, with values that look like secrets removed: the
 * value after --password/--token/... flags and of NAME=VALUE words whose
 * name says secret. */
static cJSON *
redacted_argv(char *const *argv)
{
	static const char *const flags[] = { "--password", "--passwd", "--token", "--api-key",
					     "--secret", "--auth", NULL };
	cJSON *a = cJSON_CreateArray();
	struct am_redact *red = am_redact_new();
	size_t i, j;
	int hide_next = 0;

	for (i = 0; argv[i]; i++) {
		const char *w = argv[i], *eq = strchr(w, '=');
		int hide = hide_next;

		hide_next = 0;
		for (j = 0; flags[j]; j++) {
			size_t n = strlen(flags[j]);

			if (strcmp(w, flags[j]) == 0)
				hide_next = 1;
			else if (strncmp(w, flags[j], n) == 0 && w[n] == '=')
				hide = 2;
		}
		if (eq && !hide) {
			AM_AUTOFREE char *name = am_xstrndup(w, (size_t)(eq - w));
			char *p;

			for (p = name; *p; p++)
				*p = (char)toupper((unsigned char)*p);
			if (strstr(name, "SECRET") || strstr(name, "TOKEN") || strstr(name, "PASSWORD") ||
			    strstr(name, "PASSWD") || strstr(name, "API_KEY") || strstr(name, "APIKEY"))
				hide = 2;
		}
		if (hide == 1) {
			cJSON_AddItemToArray(a, cJSON_CreateString("[REDACTED]"));
		} else if (hide == 2) {
			char *r = am_xasprintf("%.*s=[REDACTED]", (int)(eq ? eq - w : (long)strlen(w)), w);

			cJSON_AddItemToArray(a, cJSON_CreateString(r));
			free(r);
		} else {
			/* Anything else still goes through the secret detectors: a
			 * token inside "sh -c '... TOKEN=...'" must not reach the
			 * ledger either. */
			char *out = NULL;
			size_t olen;

			if (red && am_redact_buf(red, "argv", AM_REDACT_TEXT, w, strlen(w), &out, &olen, NULL) == 0 &&
			    memchr(out, '\0', olen) == NULL) {
				cJSON_AddItemToArray(a, cJSON_CreateString(out));
			} else {
				cJSON_AddItemToArray(a, cJSON_CreateString(red ? "[REDACTED]" : w));
			}
			free(out);
		}
	}
	am_redact_free(red);
	return a;
}

static cJSON *
argv_hash(char *const *argv)
{
	crypto_hash_sha256_state st;
	unsigned char h[32];
	char hex[72];
	size_t i;

	/* NUL-separated, so ["a b"] and ["a","b"] differ. */
	crypto_hash_sha256_init(&st);
	for (i = 0; argv[i]; i++)
		crypto_hash_sha256_update(&st, (const unsigned char *)argv[i], strlen(argv[i]) + 1);
	crypto_hash_sha256_final(&st, h);
	memcpy(hex, "sha256:", 7);
	am_hex(hex + 7, h, 32);
	return cJSON_CreateString(hex);
}

int
am_exec_supervise(struct am_ledger *l, struct am_exec *x, int out_fd, int err_fd, int notify_fd,
		  struct am_error **err)
{
	AM_AUTOFREE char *dir = am_exec_dir(x->op);
	struct stream so = { .fd = -1, .tee = out_fd, .log = -1 };
	struct stream se = { .fd = -1, .tee = err_fd, .log = -1 };
	struct am_usage usage = { 0 };
	struct am_sandbox *ended_sb = NULL;
	struct finish_ctx fc = { 0 };
	struct sigaction sa = { 0 }, old_term, old_int, old_hup;
	int sp[2] = { -1, -1 }, prog = -1, pidfd = -1;
	int status = 0, attempt = 0, canceled = 0, wall_hit = 0, exit_code = 1, rc = -1;
	int64_t wall_ms = x->effective.v[AM_DIM_WALL] * 1000, start_ms = am_mono_ms(), deadline;
	int64_t term_at = 0, last_lease = 0, last_commit = 0;
	int64_t disk_budget = x->effective.v[AM_DIM_DISK];
	struct disk_meter dm = { 0 };
	int disk_hit = 0; /* 1: killed over localDiskBytes; 2: over it at the end */
	int grace_ms = (x->req.grace >= 0 ? x->req.grace : 5) * 1000;
	int thresholds = 0;
	char progbuf[1024];
	size_t proglen = 0;
	cJSON *pending = NULL;

	if (wall_ms <= 0 || wall_ms > (int64_t)1 << 50)
		wall_ms = (int64_t)1 << 50;
	deadline = start_ms + wall_ms;
	if (am_mkdir_p(dir, 0700, err) < 0)
		return 1;
	{
		AM_AUTOFREE char *po = am_xasprintf("%s/stdout", dir);
		AM_AUTOFREE char *pe = am_xasprintf("%s/stderr", dir);

		so.log = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		se.log = open(pe, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	crypto_hash_sha256_init(&so.h);
	crypto_hash_sha256_init(&se.h);
	/* The lease names the supervisor: written again only when that is
	 * not the process that just wrote it (--detach forks one). */
	if (x->leased_by != getpid())
		write_lease(x->op);
	last_lease = am_mono_ms();
	/* The writable paths' baseline: what is there before the command
	 * starts is not the execution's. */
	dm.roots = x->rw.v ? x->rw.v : empty_strv;
	dm.skip[0] = x->ledger_dir;
	dm.skip[1] = dir;
	disk_walk(&dm, 1);
	/* Signals become events on a pipe: a cancel request (SIGTERM from
	 * am execution cancel, or ^C in the foreground) is handled in the
	 * loop, with the ledger, not in a handler. */
	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) {
		am_error_set(err, AM_EFAIL, "pipe: %s", strerror(errno));
		goto out;
	}
	sig_w = sp[1];
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGHUP, &sa, &old_hup);
	signal(SIGPIPE, SIG_IGN);

	for (;;) {
		struct attempt a;
		struct am_sandbox *sb;
		int ended = 0;

		attempt++;
		if (attempt == 1 && x->held.sb) {
			/* Set up while the preflight commit was written. */
			a = x->held;
			x->held.sb = NULL;
			x->held.out = x->held.err = x->held.progress = -1;
			rc = am_sandbox_release(a.sb, err);
			if (rc < 0)
				attempt_close(&a);
		} else {
			rc = attempt_start(x, attempt, notify_fd >= 0 ? -1 : 0, 0, &a, err);
		}
		sb = a.sb;
		so.fd = a.out;
		se.fd = a.err;
		prog = a.progress;
		if (rc < 0) {
			fc.to = "failed";
			fc.ev = "failure";
			fc.details = cJSON_CreateObject();
			cJSON_AddStringToObject(fc.details, "errorClass", "sandbox_error");
			cJSON_AddStringToObject(fc.details, "reason", (*err)->msg);
			exit_code = 126;
			break;
		}
		if (notify_fd >= 0) {
			(void)!write(notify_fd, "r", 1);
			close(notify_fd);
			notify_fd = -1;
		}
		/* A pidfd of the sandbox init wakes the loop the moment the
		 * command ends, instead of at the next poll timeout. */
		pidfd = (int)syscall(SYS_pidfd_open, am_sandbox_pid(sb), 0);
		while (!ended || so.fd >= 0 || se.fd >= 0) {
			struct pollfd pfd[5];
			int n = 0, i, timeout;
			int64_t now = am_mono_ms();

			if (so.fd >= 0)
				pfd[n].fd = so.fd, pfd[n].events = POLLIN, n++;
			if (se.fd >= 0)
				pfd[n].fd = se.fd, pfd[n].events = POLLIN, n++;
			if (prog >= 0)
				pfd[n].fd = prog, pfd[n].events = POLLIN, n++;
			pfd[n].fd = sp[0], pfd[n].events = POLLIN, n++;
			if (pidfd >= 0 && !ended)
				pfd[n].fd = pidfd, pfd[n].events = POLLIN, n++;
			timeout = ended ? 50 : 200;
			if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
				break;
			for (i = 0; i < n; i++) {
				if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (pfd[i].fd == so.fd)
					stream_pump(&so);
				else if (pfd[i].fd == se.fd)
					stream_pump(&se);
				else if (pfd[i].fd == prog) {
					ssize_t r = read(prog, progbuf + proglen, sizeof(progbuf) - 1 - proglen);
					char *nl;

					if (r <= 0) {
						close(prog);
						prog = -1;
						continue;
					}
					proglen += (size_t)r;
					progbuf[proglen] = '\0';
					/* "PERCENT\tMESSAGE\n" lines from am execution progress */
					while ((nl = strchr(progbuf, '\n')) != NULL) {
						long long pct = -1;
						char *tab;

						*nl = '\0';
						tab = strchr(progbuf, '\t');
						if (tab)
							*tab = '\0';
						am_strtonum(progbuf, -1, 100, &pct);
						cJSON_Delete(pending);
						pending = cJSON_CreateObject();
						cJSON_AddStringToObject(pending, "source", "agent");
						if (pct >= 0)
							cJSON_AddNumberToObject(pending, "percent", (double)pct);
						if (tab && tab[1])
							cJSON_AddStringToObject(pending, "message", tab + 1);
						memmove(progbuf, nl + 1, proglen - (size_t)(nl + 1 - progbuf) + 1);
						proglen -= (size_t)(nl + 1 - progbuf);
					}
					if (proglen >= sizeof(progbuf) - 1)
						proglen = 0; /* an over-long line is dropped */
				} else if (pfd[i].fd == sp[0]) {
					unsigned char c;

					while (read(sp[0], &c, 1) == 1)
						if (!canceled && !ended) {
							struct am_error *e2 = NULL;
							cJSON *d = cJSON_CreateObject();

							canceled = 1;
							{
								/* am execution cancel --grace leaves
								 * its grace period here. */
								AM_AUTOFREE char *cf = am_xasprintf("%s/cancel", dir);
								AM_AUTOFREE char *cg = NULL;
								long long g;

								if (am_read_file(cf, 64, &cg, NULL, NULL) == 0) {
									cg[strcspn(cg, "\n")] = '\0';
									if (am_strtonum(cg, 0, 3600, &g) == NULL)
										grace_ms = (int)g * 1000;
								}
							}
							cJSON_AddStringToObject(d, "reason",
										c == SIGINT ? "interrupted" : "cancel requested");
							if (record_event(l, x->op, "canceling", "cancel", d, &e2) < 0)
								am_error_free(e2);
							am_sandbox_signal(sb, SIGTERM);
							term_at = am_mono_ms();
						}
				}
			}
			if (!ended) {
				ended = am_sandbox_wait(sb, 0, &status, &usage, NULL);
				if (ended < 0)
					ended = 1;
			}
			now = am_mono_ms();
			if (!ended) {
				/* Over the disk budget: killed at once, like the
				 * memory limit does (the scratch alone cannot get
				 * there, its size is the budget; writes to the
				 * workspace can). */
				if (disk_sample(&dm, sb, 0) > (uint64_t)disk_budget && disk_budget > 0 &&
				    !disk_hit) {
					disk_hit = 1;
					am_sandbox_kill(sb);
				}
				if (!term_at && now >= deadline) {
					wall_hit = 1;
					am_sandbox_signal(sb, SIGTERM);
					term_at = now;
				} else if (term_at && now >= term_at + grace_ms) {
					am_sandbox_kill(sb);
				}
				{
					int64_t pct = (now - start_ms) * 100 / wall_ms;
					int mark = pct >= 100 ? 4 : pct >= 80 ? 2 : pct >= 50 ? 1 : 0;

					if (mark && !(thresholds & mark)) {
						thresholds |= mark | (mark == 4 ? 3 : mark == 2 ? 1 : 0);
						cJSON_Delete(pending);
						pending = cJSON_CreateObject();
						cJSON_AddStringToObject(pending, "source", "budget");
						cJSON_AddStringToObject(pending, "dimension", "wallClockSeconds");
						cJSON_AddNumberToObject(pending, "percent",
									mark == 4 ? 100 : mark == 2 ? 80 : 50);
					}
				}
				/* Progress: at most one commit a second (coalesced). */
				if (pending && now - last_commit >= 1000 && !canceled) {
					struct am_error *e2 = NULL;

					if (record_event(l, x->op, NULL, "progress", pending, &e2) < 0)
						am_error_free(e2);
					pending = NULL;
					last_commit = now;
				}
				if (now - last_lease >= 5000) {
					write_lease(x->op);
					last_lease = now;
				}
			}
		}
		if (pidfd >= 0) {
			close(pidfd);
			pidfd = -1;
		}
		if (prog >= 0) {
			close(prog);
			prog = -1;
		}
		if (pending && !canceled) {
			/* The last report before the end is kept too. */
			struct am_error *e2 = NULL;

			if (record_event(l, x->op, NULL, "progress", pending, &e2) < 0)
				am_error_free(e2);
			pending = NULL;
		}
		/* Once more at the end: a fast writer may have finished between
		 * two samples. */
		if (disk_sample(&dm, sb, 1) > (uint64_t)disk_budget && disk_budget > 0 && !disk_hit)
			disk_hit = 2;
		/* Its cgroups and scratch go after the record is written: nothing
		 * there is read again, and removing them (a memory cgroup's rmdir,
		 * the tmpfs's last reference) need not delay it. */
		ended_sb = sb;
		exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		/* Retry a plain failure while attempts and wall time remain. */
		if (exit_code != 0 && !canceled && !wall_hit && !usage.oom_killed && !disk_hit &&
		    attempt <= x->req.retries && am_mono_ms() < deadline) {
			struct am_error *e2 = NULL;
			cJSON *d = cJSON_CreateObject();

			cJSON_AddNumberToObject(d, "attempt", attempt);
			cJSON_AddNumberToObject(d, "exitCode", exit_code);
			cJSON_AddStringToObject(d, "errorClass", "nonzero_exit");
			/* running -> retrying -> running: never through the
			 * terminal failed, so wait and cancel see one live run. */
			if (record_event(l, x->op, "retrying", "retry", d, &e2) < 0 ||
			    record_event(l, x->op, "running", "start", NULL, &e2) < 0) {
				*err = e2;
				goto out;
			}
			term_at = 0;
			am_sandbox_free(ended_sb);
			ended_sb = NULL;
			continue;
		}
		break;
	}
	if (fc.to == NULL) {
		fc.details = cJSON_CreateObject();
		if (canceled) {
			fc.to = "canceled";
			fc.ev = "cancel";
		} else if (wall_hit) {
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass", "budget_exceeded");
			cJSON_AddStringToObject(fc.details, "dimension", "wallClockSeconds");
			exit_code = 124;
		} else if (disk_hit) {
			/* Killed: 137 (SIGKILL), as for the memory limit.  Ended on
			 * its own: the command's status, or 5 (am's status for an
			 * exhausted budget) where that was 0, so a run over its
			 * budget never looks like a success. */
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass", "budget_exceeded");
			cJSON_AddStringToObject(fc.details, "dimension", "localDiskBytes");
			if (exit_code == 0)
				exit_code = AM_EBUDGET;
		} else if (usage.oom_killed) {
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass", "budget_exceeded");
			cJSON_AddStringToObject(fc.details, "dimension", "sandboxMemoryBytes");
		} else if (exit_code == 128 + SIGXCPU ||
			   (exit_code != 0 && x->effective.v[AM_DIM_CPU] &&
			    usage.cpu_usec / 1000000 >= (uint64_t)x->effective.v[AM_DIM_CPU])) {
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass", "budget_exceeded");
			cJSON_AddStringToObject(fc.details, "dimension", "cpuGpuComputeSeconds");
		} else if (exit_code != 0 && disk_budget > 0 &&
			   dm.peak * 100 >= (uint64_t)disk_budget * 95) {
			/* Failed with the scratch (nearly) full: ENOSPC or
			 * SIGXFSZ (RLIMIT_FSIZE) stopped it. */
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass", "budget_exceeded");
			cJSON_AddStringToObject(fc.details, "dimension", "localDiskBytes");
		} else if (exit_code == 0) {
			fc.to = "completed";
			fc.ev = "complete";
		} else {
			fc.to = "failed";
			fc.ev = "failure";
			cJSON_AddStringToObject(fc.details, "errorClass",
						WIFSIGNALED(status) || exit_code > 128 ? "signal" : "nonzero_exit");
		}
		cJSON_AddNumberToObject(fc.details, "exitCode", exit_code);
	}
	{
		cJSON *r = cJSON_CreateObject(), *u, *cmd;
		char now[21], started[21], mid[17];
		int64_t wall_used = (am_mono_ms() - start_ms + 999) / 1000;
		struct am_key *mk = NULL;

		am_time_format(now, am_now());
		am_time_format(started, x->started);
		if (am_machine_key(0, &mk, NULL) == 0)
			am_machine_id(mk, mid);
		else
			snprintf(mid, sizeof(mid), "unknown");
		am_key_free(mk);
		cJSON_AddStringToObject(r, "kind", "LocalAgentExecution");
		cJSON_AddStringToObject(r, "specVersion", AM_SPEC_VERSION);
		cJSON_AddStringToObject(r, "id", x->uuid);
		cJSON_AddStringToObject(r, "operationId", x->op);
		cJSON_AddStringToObject(r, "deviceId", mid);
		cJSON_AddStringToObject(r, "agentId", x->auth->name);
		if (x->req.name)
			cJSON_AddStringToObject(r, "name", x->req.name);
		cmd = cJSON_AddObjectToObject(r, "command");
		cJSON_AddItemToObject(cmd, "argvSha256", argv_hash(x->argv.v));
		cJSON_AddItemToObject(cmd, "argv", redacted_argv(x->argv.v));
		cJSON_AddStringToObject(cmd, "entryPoint", x->entry);
		cJSON_AddStringToObject(r, "profile", x->profile.name);
		if (x->profile.record)
			cJSON_AddStringToObject(r, "profileRef", x->profile.record);
		if (x->auth->delegation)
			cJSON_AddStringToObject(r, "delegationRef", x->auth->delegation);
		if (x->auth->tenant)
			cJSON_AddStringToObject(r, "tenant", x->auth->tenant);
		cJSON_AddStringToObject(r, "policyGateId", x->decision_ref ? x->decision_ref : "");
		cJSON_AddItemToObject(r, "effectiveBudget", am_budget_to_json(&x->effective));
		u = cJSON_AddObjectToObject(r, "usage");
		fc.used.v[AM_DIM_WALL] = wall_used;
		fc.used.v[AM_DIM_CPU] = (int64_t)((usage.cpu_usec + 999999) / 1000000);
		fc.used.set = (1u << AM_DIM_WALL) | (1u << AM_DIM_CPU);
		cJSON_AddNumberToObject(u, "wallClockSeconds", (double)wall_used);
		cJSON_AddNumberToObject(u, "cpuGpuComputeSeconds", (double)fc.used.v[AM_DIM_CPU]);
		cJSON_AddNumberToObject(u, "cpuMicroseconds", (double)usage.cpu_usec);
		cJSON_AddNumberToObject(u, "sandboxMemoryBytes", (double)usage.memory_peak);
		cJSON_AddNumberToObject(u, "localDiskBytes", (double)dm.peak);
		cJSON_AddNumberToObject(u, "modelCalls", 0);
		cJSON_AddNumberToObject(u, "tokens", 0);
		cJSON_AddNumberToObject(u, "connectorCalls", 0);
		cJSON_AddNumberToObject(u, "agentConcurrency", 1);
		if (usage.pids_peak)
			cJSON_AddNumberToObject(u, "processesPeak", (double)usage.pids_peak);
		cJSON_AddBoolToObject(u, "pidsLimitHit", usage.pids_limited);
		cJSON_AddBoolToObject(u, "oomKilled", usage.oom_killed);
		{
			cJSON *o = cJSON_AddObjectToObject(r, "output");

			cJSON_AddItemToObject(o, "stdout", stream_json(&so));
			cJSON_AddItemToObject(o, "stderr", stream_json(&se));
		}
		cJSON_AddNumberToObject(r, "exitCode", exit_code);
		cJSON_AddNumberToObject(r, "attempts", attempt);
		cJSON_AddStringToObject(r, "status", strcmp(fc.to, "canceled") == 0 ? "cancelled" : fc.to);
		cJSON_AddStringToObject(r, "startedAt", started);
		cJSON_AddStringToObject(r, "endedAt", now);
		cJSON_AddStringToObject(r, "network", x->net == AM_NET_HOST ? "open" :
					x->net == AM_NET_LOOPBACK ? "loopback" : "none");
		fc.record = r;
	}
	fc.x = x;
	{
		struct am_error *e2 = NULL;

		if (am_ledger_transact(l, finish_txn, &fc, NULL, &e2) < 0) {
			*err = e2;
			goto out;
		}
	}
	{
		AM_AUTOFREE char *lp = lease_path(x->op);

		unlink(lp);
	}
	rc = exit_code;
out:
	am_sandbox_free(ended_sb);
	if (pending)
		cJSON_Delete(pending);
	cJSON_Delete(fc.details);
	cJSON_Delete(fc.record);
	if (so.log >= 0)
		close(so.log);
	if (se.log >= 0)
		close(se.log);
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);
	if (sp[0] >= 0) {
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		sig_w = -1;
		close(sp[0]);
		close(sp[1]);
	}
	if (notify_fd >= 0)
		close(notify_fd);
	return rc < 0 ? 1 : rc;
}

/* ---- leases, cancel, progress ---- */

struct sweep_ctx {
	const char *op;
	const char *uuid;
	int64_t lease_time;
};

static int
sweep_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct sweep_ctx *c = arg;
	AM_AUTOFREE char *ep = exec_index_path(c->uuid);
	AM_AUTOFREE char *data = NULL;
	AM_AUTOFREE char *state = NULL;
	cJSON *idx = NULL, *d;
	struct am_budget reserved = { 0 }, used = { 0 };
	char *accts[9];
	size_t len, n = 0;
	const cJSON *a;
	int64_t started = 0;
	int rc = -1;

	if (am_op_state(t, c->op, &state, err) < 0)
		return -1;
	if (am_op_state_terminal(state))
		return 0; /* ended after all: nothing to do */
	if (am_txn_read(t, ep, &data, &len, err) < 0 || (idx = am_canon_parse(data, len, err)) == NULL)
		return -1;
	if (am_budget_from_json(cJSON_GetObjectItemCaseSensitive(idx, "reserved"), &reserved, err) < 0)
		goto out;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(idx, "accounts"))
		if (n < 9 && cJSON_IsString(a))
			accts[n++] = a->valuestring;
	/* Charge the wall-clock time up to the last lease: the run may have
	 * used it; what it did not reach is released. */
	am_time_parse(am_json_str(idx, "startedAt") ? am_json_str(idx, "startedAt") : "", &started);
	used.v[AM_DIM_WALL] = c->lease_time > started ? c->lease_time - started : 0;
	if (used.v[AM_DIM_WALL] > reserved.v[AM_DIM_WALL])
		used.v[AM_DIM_WALL] = reserved.v[AM_DIM_WALL];
	used.set = 1u << AM_DIM_WALL;
	if (am_budget_settle(t, accts, n, c->op, &reserved, &used, err) < 0)
		goto out;
	cJSON_ReplaceItemInObjectCaseSensitive(idx, "state", cJSON_CreateString("failed"));
	if (am_txn_put_json(t, ep, idx, err) < 0)
		goto out;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "errorClass", "supervisor_lost");
	cJSON_AddStringToObject(d, "reason", "the supervisor died or its lease expired");
	/* canceling may only end in canceled (transition table). */
	if (strcmp(state, "canceling") == 0) {
		cJSON_ReplaceItemInObjectCaseSensitive(idx, "state", cJSON_CreateString("canceled"));
		am_txn_put_json(t, ep, idx, err);
		rc = am_op_transition(t, c->op, "canceled", "cancel", d, err);
	} else {
		rc = am_op_transition(t, c->op, "failed", "failure", d, err);
	}
out:
	cJSON_Delete(idx);
	return rc;
}

/* Is the lease's supervisor alive?  A dead pid, or a lease not renewed in
 * time (a reboot, a pid reused), means it is gone. */
static int
lease_alive(const cJSON *lease, int64_t *expires)
{
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(lease, "pid");

	*expires = 0;
	am_time_parse(am_json_str(lease, "expiresAt") ? am_json_str(lease, "expiresAt") : "", expires);
	if (!cJSON_IsNumber(pid) || kill((pid_t)pid->valuedouble, 0) < 0)
		return 0;
	{
		/* A zombie is dead even though kill(0) finds it. */
		char path[64], buf[256];
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid->valuedouble);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				char *rp;

				buf[n] = '\0';
				rp = strrchr(buf, ')');
				if (rp && rp[1] == ' ' && rp[2] == 'Z')
					return 0;
			}
		}
	}
	return *expires >= am_now();
}

static cJSON *
read_lease(const char *op_or_uuid)
{
	AM_AUTOFREE char *path = lease_path(op_or_uuid);
	AM_AUTOFREE char *data = NULL;
	size_t len;

	if (am_read_file(path, 4096, &data, &len, NULL) < 0)
		return NULL;
	return am_canon_parse(data, len, NULL);
}

int
am_exec_sweep(struct am_ledger *l, struct am_error **err)
{
	AM_AUTOFREE char *state = am_state_dir();
	AM_AUTOFREE char *base = am_xasprintf("%s/leases", state);
	DIR *d = opendir(base);
	struct dirent *e;
	int marked = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		AM_AUTOFREE char *uuid = NULL;
		AM_AUTOFREE char *op = NULL;
		cJSON *lease;
		int64_t exp;

		if (e->d_name[0] == '.' || strlen(e->d_name) != 41 || strcmp(e->d_name + 36, ".json") != 0)
			continue;
		uuid = am_xstrndup(e->d_name, 36);
		lease = read_lease(uuid);
		if (lease == NULL)
			continue;
		if (lease_alive(lease, &exp) || am_json_str(lease, "operation") == NULL) {
			cJSON_Delete(lease);
			continue;
		}
		op = am_xstrdup(am_json_str(lease, "operation"));
		cJSON_Delete(lease);
		{
			struct sweep_ctx c = { op, uuid, exp - AM_LEASE_SECONDS };
			AM_AUTOFREE char *path = am_op_index_path(op);
			AM_AUTOFREE char *probe = NULL;

			/* Only leases of this workspace's operations. */
			if (am_ledger_read(l, path, &probe, NULL, NULL) < 0)
				continue;
			if (am_ledger_transact(l, sweep_txn, &c, NULL, err) < 0) {
				closedir(d);
				return -1;
			}
		}
		{
			AM_AUTOFREE char *lp = lease_path(uuid);

			unlink(lp);
		}
		/* Its sandbox died with it (PR_SET_PDEATHSIG); its cgroups did not. */
		am_sandbox_reclaim(uuid);
		marked++;
	}
	closedir(d);
	return marked;
}

int
am_exec_cancel(struct am_ledger *l, const char *op_id, int grace, struct am_error **err)
{
	AM_AUTOFREE char *dir = am_exec_dir(op_id);
	cJSON *lease = read_lease(op_id), *idx = NULL;
	int64_t exp, until;
	const cJSON *pid;

	if (lease == NULL || !lease_alive(lease, &exp)) {
		cJSON_Delete(lease);
		if (am_exec_sweep(l, err) < 0)
			return -1;
		if (am_op_index(l, op_id, &idx, err) < 0)
			return -1;
		am_error_set(err, AM_ECONFLICT, "operation %s is not running (it is %s)", op_id,
			     am_json_str(idx, "state") ? am_json_str(idx, "state") : "?");
		cJSON_Delete(idx);
		return -1;
	}
	pid = cJSON_GetObjectItemCaseSensitive(lease, "pid");
	{
		AM_AUTOFREE char *cf = am_xasprintf("%s/cancel", dir);
		char g[16];

		snprintf(g, sizeof(g), "%d\n", grace);
		am_write_file_atomic(cf, g, strlen(g), 0600, 0, NULL);
	}
	/* The supervisor records canceling, signals the sandbox, waits the
	 * grace period, kills what is left and records canceled. */
	if (kill((pid_t)pid->valuedouble, SIGTERM) < 0) {
		cJSON_Delete(lease);
		return am_error_set(err, AM_EFAIL, "cannot signal the supervisor: %s", strerror(errno));
	}
	cJSON_Delete(lease);
	until = am_mono_ms() + (int64_t)(grace > 0 ? grace : 5) * 1000 + 15000;
	while (am_mono_ms() < until) {
		const char *st;
		int done;

		if (am_op_index(l, op_id, &idx, err) < 0)
			return -1;
		st = am_json_str(idx, "state");
		done = st && am_op_state_terminal(st);
		cJSON_Delete(idx);
		if (done)
			return 0;
		usleep(50000);
	}
	return am_error_set(err, AM_ECONFLICT, "operation %s did not end within the grace period", op_id);
}

int
am_exec_progress(struct am_ledger *l, const char *op_id, int percent, const char *message,
		 struct am_error **err)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "source", "agent");
	if (percent >= 0)
		cJSON_AddNumberToObject(d, "percent", percent);
	if (message)
		cJSON_AddStringToObject(d, "message", message);
	return record_event(l, op_id, NULL, "progress", d, err);
}
