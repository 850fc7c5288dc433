/* execution.c - am execution: run an agent under its delegation, profile
 * and budget, contained by the kernel; follow and end it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "am.h"
#include "authority.h"
#include "canon.h"
#include "execution.h"
#include "ledger.h"
#include "operation.h"

/* Open the ledger and release what dead supervisors left behind. */
static int
open_swept(struct am_ctx *ctx, struct am_ledger **l)
{
	struct am_error *err = NULL;
	int rc = am_open_ledger(ctx, l);

	if (rc)
		return rc;
	if (am_exec_sweep(*l, &err) < 0) {
		am_warn(ctx, "cannot release lost executions: %s", err->msg);
		am_error_free(err);
	}
	return 0;
}

static int
exec_start(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "budget", required_argument, NULL, 'b' },
		{ "detach", no_argument, NULL, 'd' },
		{ "retries", required_argument, NULL, 'r' },
		{ "idempotency-key", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "grace", required_argument, NULL, 'g' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req areq = { .operation = "agent_machine.execution.start" };
	struct am_exec_req r = { .grace = -1 };
	struct am_exec *x = NULL;
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *token = NULL, *existing = NULL;
	const char *why;
	long long v;
	int c, rc = 0, detach = 0, dry = 0;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': r.profile = optarg; break;
		case 'b':
			if (am_budget_parse(optarg, &r.budget, &err) < 0)
				return am_report(ctx, err);
			break;
		case 'd': detach = 1; break;
		case 'r':
			if ((why = am_strtonum(optarg, 0, 100, &v)) != NULL)
				return am_usage_error(ctx, "--retries '%s': %s", optarg, why);
			r.retries = (int)v;
			break;
		case 'i': r.idem_key = optarg; break;
		case 'n': r.name = optarg; break;
		case 'g':
			if ((why = am_strtonum(optarg, 0, 3600, &v)) != NULL)
				return am_usage_error(ctx, "--grace '%s': %s", optarg, why);
			r.grace = (int)v;
			break;
		case 'D': dry = 1; break;
		case 'j': ctx->json = 1; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (optind >= argc)
		return am_usage_error(ctx, "no command (give it after --)");
	if (r.retries > 0 && r.idem_key == NULL)
		return am_usage_error(ctx, "--retries needs --idempotency-key (retries are one operation)");
	r.argv = argv + optind;
	if ((rc = open_swept(ctx, &l)) != 0)
		return rc;
	areq.profile = r.profile;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &areq, &auth)) != 0)
		goto out;
	if (ao.key == NULL && getenv("AM_KEY") == NULL && am_token_arg(ao.delegation, &token, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	r.token = token;
	r.foreground = !detach;
	if (am_exec_prepare(l, &auth, &r, &x, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (dry) {
		am_print_json(am_exec_plan_json(x));
		goto out;
	}
	if (am_exec_preflight(l, x, &existing, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (existing) {
		if (ctx->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "operation", existing);
			cJSON_AddBoolToObject(o, "existing", 1);
			am_print_json(o);
		} else {
			printf("%s\n", existing);
			am_info(ctx, "am: idempotency key already used by finished operation %s; not run again",
				existing);
		}
		goto out;
	}
	if (detach) {
		int pfd[2];
		pid_t pid;
		char b;

		if (pipe2(pfd, O_CLOEXEC) < 0) {
			am_error_set(&err, AM_EFAIL, "pipe: %s", strerror(errno));
			rc = am_report(ctx, err);
			goto out;
		}
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			/* The supervisor outlives this command: its own session,
			 * no terminal, output only to the machine-local logs. */
			close(pfd[0]);
			am_detach();
			rc = am_exec_supervise(l, x, -1, -1, pfd[1], &err) >= 0 ? 0 : 1;
			am_merge_pending();
			_exit(rc);
		}
		close(pfd[1]);
		if (pid < 0 || read(pfd[0], &b, 1) != 1) {
			close(pfd[0]);
			am_error_set(&err, AM_EFAIL, "the execution did not start (see am execution status %s)",
				     am_exec_op_id(x));
			rc = am_report(ctx, err);
			goto out;
		}
		close(pfd[0]);
		if (ctx->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "operation", am_exec_op_id(x));
			cJSON_AddStringToObject(o, "state", "running");
			am_print_json(o);
		} else {
			printf("%s\n", am_exec_op_id(x));
		}
		goto out;
	}
	am_info(ctx, "am: running %s", am_exec_op_id(x));
	fflush(stdout);
	rc = am_exec_supervise(l, x, 1, 2, -1, &err);
	if (err) {
		am_warn(ctx, "%s", err->msg);
		am_error_free(err);
	}
out:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(existing);
	am_exec_free(x);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

/* The record of an execution: index, operation, LocalAgentExecution. */
static cJSON *
exec_status(struct am_ledger *l, const char *op, struct am_error **err)
{
	const char *u = strrchr(op, ':') + 1;
	AM_AUTOFREE char *ep = am_xasprintf("executions/%.2s/%s", u, u);
	AM_AUTOFREE char *data = NULL;
	cJSON *doc = cJSON_CreateObject(), *idx = NULL, *oidx = NULL, *rec = NULL;
	size_t len;

	if (am_op_index(l, op, &oidx, err) < 0)
		goto fail;
	cJSON_AddStringToObject(doc, "operation", op);
	cJSON_AddStringToObject(doc, "state", am_json_text(oidx, "state"));
	if (am_ledger_read(l, ep, &data, &len, NULL) == 0 && (idx = am_canon_parse(data, len, NULL))) {
		cJSON_AddStringToObject(doc, "profile", am_json_text(idx, "profile"));
		cJSON_AddStringToObject(doc, "actor", am_json_text(idx, "actor"));
		if (*am_json_text(idx, "name"))
			cJSON_AddStringToObject(doc, "name", am_json_text(idx, "name"));
		cJSON_AddStringToObject(doc, "startedAt", am_json_text(idx, "startedAt"));
		cJSON_AddItemToObject(doc, "effectiveBudget",
				      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(idx, "reserved"), 1));
		if (*am_json_text(idx, "record") && am_ledger_artifact(l, am_json_text(idx, "record"), &rec, NULL) == 0) {
			cJSON_AddStringToObject(doc, "record", am_json_text(idx, "record"));
			cJSON_AddItemToObject(doc, "execution", rec);
		}
	}
	cJSON_Delete(idx);
	cJSON_Delete(oidx);
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}

static int
resolve_op(struct am_ctx *ctx, struct am_ledger *l, const char *spec, char **op)
{
	struct am_error *err = NULL;

	if (am_op_resolve(l, spec, op, &err) < 0)
		return am_report(ctx, err);
	return 0;
}

static int
exec_status_cmd(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *op = NULL;
	const char *spec = NULL;
	cJSON *doc;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (!spec)
			spec = argv[i];
		else
			return am_usage_error(ctx, "expected one ID");
	}
	if (!spec)
		return am_usage_error(ctx, "expected one ID");
	if ((rc = open_swept(ctx, &l)) != 0)
		return rc;
	if ((rc = resolve_op(ctx, l, spec, &op)) != 0)
		goto out;
	if ((doc = exec_status(l, op, &err)) == NULL) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		am_print_json(doc);
	} else {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "execution");
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "usage"), *b, *v;

		printf("operation %s\nstate     %s\nprofile   %s\nactor     %s\nstarted   %s\n", op,
		       am_json_text(doc, "state"), am_json_text(doc, "profile"), am_json_text(doc, "actor"), am_json_text(doc, "startedAt"));
		if (e) {
			printf("ended     %s\nexit      %d\nrecord    %s\n", am_json_text(e, "endedAt"),
			       (int)cJSON_GetObjectItemCaseSensitive(e, "exitCode")->valuedouble, am_json_text(doc, "record"));
			printf("usage    ");
			cJSON_ArrayForEach(v, u)
				if (cJSON_IsNumber(v))
					printf(" %s=%.0f", v->string, v->valuedouble);
			printf("\n");
		}
		b = cJSON_GetObjectItemCaseSensitive(doc, "effectiveBudget");
		printf("budget   ");
		cJSON_ArrayForEach(v, b)
			printf(" %s=%.0f", v->string, v->valuedouble);
		printf("\n");
		cJSON_Delete(doc);
	}
out:
	free(op);
	am_ledger_free(l);
	return rc;
}

static int
exec_list(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *state = NULL;
	char **ids = NULL;
	size_t n, j;
	cJSON *out = cJSON_CreateArray();
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'j': ctx->json = 1; break;
		default: cJSON_Delete(out); return am_usage_error(ctx, "bad option");
		}
	}
	if ((rc = open_swept(ctx, &l)) != 0) {
		cJSON_Delete(out);
		return rc;
	}
	if (am_ledger_list_fanout(l, "executions", &ids, &n, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	for (j = 0; j < n; j++) {
		AM_AUTOFREE char *op = am_xasprintf("%s%s", AM_OP_URN, ids[j]);
		cJSON *doc = exec_status(l, op, NULL);

		if (doc == NULL)
			continue;
		if (state && strcmp(state, am_json_text(doc, "state")) != 0) {
			cJSON_Delete(doc);
			continue;
		}
		if (ctx->json) {
			cJSON_DeleteItemFromObjectCaseSensitive(doc, "execution");
			cJSON_AddItemToArray(out, doc);
		} else {
			printf("%s  %-10s %-20s %-16s %s\n", ids[j], am_json_text(doc, "state"), am_json_text(doc, "profile"),
			       am_json_text(doc, "actor"), am_json_text(doc, "startedAt"));
			cJSON_Delete(doc);
		}
	}
	if (ctx->json) {
		am_print_json(out);
		out = NULL;
	}
out:
	cJSON_Delete(out);
	am_strv_free(ids);
	am_ledger_free(l);
	return rc;
}

/* Exit status of a finished execution as recorded. */
static int
recorded_exit(struct am_ledger *l, const char *op)
{
	cJSON *doc = exec_status(l, op, NULL);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "execution");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "exitCode");
	int rc = cJSON_IsNumber(code) ? (int)code->valuedouble : 1;

	if (e == NULL && strcmp(am_json_text(doc, "state"), "completed") != 0)
		rc = 1;
	cJSON_Delete(doc);
	return rc;
}

static int
op_terminal(struct am_ledger *l, const char *op)
{
	cJSON *idx = NULL;
	int t;

	if (am_op_index(l, op, &idx, NULL) < 0)
		return 1;
	t = am_op_state_terminal(am_json_text(idx, "state"));
	cJSON_Delete(idx);
	return t;
}

static int
exec_wait(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *op = NULL;
	int rc, n = 0;

	if (argc != 2)
		return am_usage_error(ctx, "expected one ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if ((rc = resolve_op(ctx, l, argv[1], &op)) != 0)
		goto out;
	while (!op_terminal(l, op)) {
		/* Every second or so, notice a supervisor that died. */
		if (++n % 10 == 0 && am_exec_sweep(l, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
		usleep(100000);
	}
	rc = recorded_exit(l, op);
	if (!ctx->quiet && !ctx->json) {
		cJSON *idx = NULL;

		am_op_index(l, op, &idx, NULL);
		fprintf(stderr, "am: %s %s (exit %d)\n", op, am_json_text(idx, "state"), rc);
		cJSON_Delete(idx);
	}
out:
	free(op);
	am_ledger_free(l);
	return rc;
}

static int
exec_logs(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "stderr", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	char *op = NULL;
	AM_AUTOFREE char *dir = NULL;
	AM_AUTOFREE char *path = NULL;
	int c, rc, follow = 0, which = 1, fd;
	char buf[65536];

	while ((c = getopt_long(argc, argv, "f", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = 1; break;
		case 'e': which = 2; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if ((rc = resolve_op(ctx, l, argv[optind], &op)) != 0)
		goto out;
	dir = am_exec_dir(op);
	path = am_xasprintf("%s/%s", dir, which == 1 ? "stdout" : "stderr");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		struct am_error *err = NULL;

		am_error_set(&err, AM_ENOTFOUND, "no logs of %s on this machine (%s)", op, path);
		rc = am_report(ctx, err);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			am_write_all(1, buf, (size_t)n);
			continue;
		}
		if (!follow || op_terminal(l, op)) {
			/* one last drain after the end */
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				am_write_all(1, buf, (size_t)n);
			break;
		}
		usleep(100000);
	}
	close(fd);
out:
	free(op);
	am_ledger_free(l);
	return rc;
}

static int
exec_progress(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "percent", required_argument, NULL, 'p' },
		{ "message", required_argument, NULL, 'm' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	const char *msg = NULL, *fdenv = getenv("AM_PROGRESS_FD"), *op = getenv("AM_OPERATION"), *why;
	long long pct = -1, fd;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((why = am_strtonum(optarg, 0, 100, &pct)) != NULL)
				return am_usage_error(ctx, "--percent '%s': %s (0..100)", optarg, why);
			break;
		case 'm': msg = optarg; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (pct < 0 && msg == NULL)
		return am_usage_error(ctx, "give --percent and/or --message");
	if (msg && strpbrk(msg, "\n\t"))
		return am_usage_error(ctx, "--message may not contain tabs or newlines");
	/* Inside a sandbox the ledger is out of reach: report to the
	 * supervisor through the descriptor it passed. */
	if (fdenv && am_strtonum(fdenv, 3, 1024, &fd) == NULL) {
		char line[1200];
		int n = snprintf(line, sizeof(line), "%lld\t%s\n", pct, msg ? msg : "");

		if (am_write_all((int)fd, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1)) < 0) {
			struct am_error *err = NULL;

			am_error_set(&err, AM_EFAIL, "cannot report progress on fd %lld: %s", fd, strerror(errno));
			return am_report(ctx, err);
		}
		/* Done: leave at once.  Inside the sandbox there is nothing to
		 * flush, and exit handlers (a sanitizer's leak check, which needs
		 * the ptrace seccomp denies) have nothing to do there. */
		_exit(0);
	}
	if (op == NULL)
		return am_usage_error(ctx, "AM_OPERATION is not set (run this from inside an execution)");
	{
		struct am_ledger *l = NULL;
		struct am_authz auth = { 0 };
		struct am_authz_req req = { .operation = "agent_machine.execution.start" };
		struct am_error *err = NULL;

		if ((rc = am_open_ledger(ctx, &l)) != 0)
			return rc;
		if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) == 0 &&
		    am_exec_progress(l, op, (int)pct, msg, &err) < 0)
			rc = am_report(ctx, err);
		am_authz_free(&auth);
		am_ledger_free(l);
	}
	return rc;
}

static int
exec_cancel(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "grace", required_argument, NULL, 'g' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req req = { .operation = "agent_machine.execution.cancel" };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *op = NULL;
	long long grace = 5;
	const char *why;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if ((why = am_strtonum(optarg, 0, 3600, &grace)) != NULL)
				return am_usage_error(ctx, "--grace '%s': %s", optarg, why);
			break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if ((rc = resolve_op(ctx, l, argv[optind], &op)) != 0)
		goto out;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0)
		goto out;
	if (am_exec_cancel(l, op, (int)grace, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	am_info(ctx, "am: canceled %s", op);
out:
	free(op);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

static int
cmd_execution_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "start", exec_start }, { "status", exec_status_cmd }, { "list", exec_list },
		{ "wait", exec_wait }, { "logs", exec_logs }, { "progress", exec_progress },
		{ "cancel", exec_cancel },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_execution = {
	.name = "execution",
	.summary = "run an agent contained, under its delegation, profile and budget",
	.usage = "start [--profile NAME] [--budget k=v,...] [--detach] [--retries N]\n"
		 "    [--idempotency-key K] [--name LABEL] [--grace S] [--dry-run]\n"
		 "    [--key FILE | --delegation TOKEN] -- COMMAND [ARGS...]\n"
		 "status [--json] ID\n"
		 "list [--state S] [--json]\n"
		 "wait ID\n"
		 "logs ID [--follow] [--stderr]\n"
		 "progress [--percent N] [--message M]\n"
		 "cancel ID [--grace S] [--key FILE | --delegation TOKEN]",
	.exec = cmd_execution_exec,
};
