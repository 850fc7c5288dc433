/* diagnostics.c - am diagnostics: export a redacted diagnostic bundle,
 * scan files for secrets, re-check a bundle (am-diagnostics(1)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#include "am.h"
#include "canon.h"
#include "authority.h"
#include "bundle.h"
#include "ledger.h"
#include "operation.h"
#include "redact.h"

static volatile sig_atomic_t interrupted;

/* SIGINT, SIGTERM, SIGHUP during an export: stop at the next chunk. */
static void
on_signal(int sig)
{
	interrupted = sig;
}

/* ---- the progress bar (stderr, only on a terminal) ----------------------- */

struct bar {
	int on;        /* draw at all */
	int drawn;     /* something is on the line */
	int64_t last;  /* ms of the last redraw */
	char phase[16];
};

/* am_bundle_progress_fn: redraw the bar at most ten times a second. */
static int
bar_cb(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct bar *b = arg;
	int64_t now;
	const char *label = strcmp(phase, "verify") == 0 ? "re-scanning" : "collecting";

	if (interrupted)
		return 1;
	if (!b->on)
		return 0;
	now = am_mono_ms();
	if (strcmp(b->phase, phase) == 0 && now - b->last < 100 && done < total)
		return 0;
	snprintf(b->phase, sizeof(b->phase), "%s", phase);
	b->last = now;
	if (total > 0) {
		int pct = (int)(done >= total ? 100 : done * 100 / total), i, w = 30;
		char fill[31];

		for (i = 0; i < w; i++)
			fill[i] = i < pct * w / 100 ? '#' : '.';
		fill[w] = '\0';
		fprintf(stderr, "\r\033[Kam: %-11s [%s] %3d%% %.1f/%.1f MB", label, fill, pct,
			(double)done / 1e6, (double)total / 1e6);
	} else {
		fprintf(stderr, "\r\033[Kam: %-11s %.1f MB", label, (double)done / 1e6);
	}
	fflush(stderr);
	b->drawn = 1;
	return 0;
}

/* Erase the bar before anything else is printed. */
static void
bar_clear(struct bar *b)
{
	if (b->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		b->drawn = 0;
	}
}

/* ---- export-redacted ------------------------------------------------------ */

struct export_ctx {
	const struct am_authz *auth;
	const char *scope_op;
	int64_t since;
	char op[AM_OP_ID_LEN];
	/* finish */
	const cJSON *artifact;
	const struct am_bundle_result *res;
	char ref[AM_ID_LEN];
	/* fail */
	const char *error_class;
	const char *reason;
};

/* Commit 1: the export operation, queued -> running. */
static int
start_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct export_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	cJSON *details = cJSON_CreateObject();

	if (am_op_create(t, AM_BUNDLE_OPERATION, &actor, NULL, c->op, err) < 0) {
		cJSON_Delete(details);
		return -1;
	}
	if (c->scope_op)
		cJSON_AddStringToObject(details, "scopeOperation", c->scope_op);
	if (c->since) {
		char ts[21];

		am_time_format(ts, c->since);
		cJSON_AddStringToObject(details, "since", ts);
	}
	return am_op_transition(t, c->op, "running", NULL, details, err);
}

/* Commit 2: the bundle artifact and its index, running -> completed. */
static int
finish_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct export_ctx *c = arg;
	cJSON *details;

	if (am_bundle_record(t, c->op, c->artifact, c->ref, err) < 0)
		return -1;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "bundleRef", c->ref);
	cJSON_AddStringToObject(details, "digest", c->res->digest);
	cJSON_AddNumberToObject(details, "size", (double)c->res->size);
	cJSON_AddNumberToObject(details, "files", (double)c->res->files);
	cJSON_AddNumberToObject(details, "secretsRedacted", (double)c->res->secrets);
	cJSON_AddNumberToObject(details, "promptsRedacted", (double)c->res->prompts);
	return am_op_transition(t, c->op, "completed", NULL, details, err);
}

/* Commit 2 of a failed export: failed, or canceling -> canceled. */
static int
fail_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct export_ctx *c = arg;
	cJSON *details = cJSON_CreateObject();

	cJSON_AddStringToObject(details, "errorClass", c->error_class);
	cJSON_AddStringToObject(details, "reason", c->reason);
	if (strcmp(c->error_class, "canceled") == 0) {
		if (am_op_transition(t, c->op, "canceling", "cancel", NULL, err) < 0) {
			cJSON_Delete(details);
			return -1;
		}
		return am_op_transition(t, c->op, "canceled", "cancel", details, err);
	}
	return am_op_transition(t, c->op, "failed", NULL, details, err);
}

/* Record that the export did not happen; a failure to record it is only
 * a warning (the first error is the one the user needs). */
static void
record_failure(struct am_ctx *ctx, struct am_ledger *l, struct export_ctx *c, const char *cls,
	       const char *reason)
{
	struct am_error *err = NULL;

	c->error_class = cls;
	c->reason = reason;
	if (am_ledger_transact(l, fail_txn, c, NULL, &err) < 0) {
		am_warn(ctx, "cannot record the failure of %s: %s", c->op, err->msg);
		am_error_free(err);
	}
}

/* am-diagnostics-<UTC time>.tar.zst in the current directory. */
static char *
default_output(void)
{
	time_t t = (time_t)am_now();
	struct tm tm;
	char ts[32];

	gmtime_r(&t, &tm);
	/* No ':' in the name: tar(1) would read "host:path" as a remote file. */
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	return am_xasprintf("am-diagnostics-%s.tar.zst", ts);
}

/* "am diagnostics export-redacted" */
static int
diag_export(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "operation", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req req = { .operation = AM_BUNDLE_OPERATION };
	struct am_bundle_opts bo = { 0 };
	struct am_bundle_result res = { 0 };
	struct export_ctx c = { 0 };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	struct bar bar = { 0 };
	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	const char *opspec = NULL;
	char *output = NULL, *tmp = NULL, *scope = NULL;
	cJSON *artifact = NULL;
	int ch, fd = -1, rc = 0, i, handlers = 0;

	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			free(output);
			output = am_xstrdup(optarg);
			break;
		case 'p': opspec = optarg; break;
		case 's':
			if (am_time_parse(optarg, &c.since) < 0) {
				int64_t d;

				if (am_duration_parse(optarg, &d) < 0) {
					rc = am_usage_error(ctx, "--since '%s': expected an RFC 3339 time or a duration such as 2h",
							    optarg);
					goto out;
				}
				c.since = am_now() - d;
			}
			break;
		AM_AUTH_CASES(ao);
		default: rc = am_usage_error(ctx, "bad option"); goto out;
		}
	}
	if (optind < argc) {
		rc = am_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		goto out;
	/* Authority first: without it nothing at all is written. */
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0)
		goto out;
	if (opspec && am_op_resolve(l, opspec, &scope, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (output == NULL)
		output = default_output();
	{
		struct stat st;

		if (stat(output, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = am_usage_error(ctx, "-o '%s' is a directory; name the bundle file", output);
			goto out;
		}
	}
	if (am_bundle_tmpfile(output, &tmp, &fd, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	c.auth = &auth;
	c.scope_op = scope;
	if (am_ledger_transact(l, start_txn, &c, NULL, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	/* A signal stops the export at the next chunk and removes the
	 * temporary file, instead of leaving half a bundle behind. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	handlers = 1;
	bar.on = isatty(2) && !ctx->quiet && !ctx->json;
	bo.operation = scope;
	bo.since = c.since;
	bo.export_op = c.op;
	bo.progress = bar_cb;
	bo.progress_arg = &bar;
	if (am_bundle_write(l, &bo, fd, tmp, &res, &err) < 0) {
		const char *cls = interrupted ? "canceled"
				  : err->cls == AM_EINTEGRITY ? "secret_detected" : "bundle_error";
		const cJSON *lk;

		bar_clear(&bar);
		unlink(tmp);
		cJSON_ArrayForEach(lk, res.leak_report)
			fprintf(stderr, "am: %s:%d: %s: secret found by the re-scan\n", am_json_text(lk, "file"),
				cJSON_GetObjectItemCaseSensitive(lk, "line")->valueint, am_json_text(lk, "rule"));
		record_failure(ctx, l, &c, cls, err->msg);
		if (interrupted) {
			/* As a shell reports a command a signal ended. */
			am_error_free(err);
			fprintf(stderr, "am: interrupted; no bundle written\n");
			rc = 128 + interrupted;
			goto out;
		}
		rc = am_report(ctx, err);
		goto out;
	}
	fd = -1;
	bar_clear(&bar);
	if (rename(tmp, output) < 0) {
		int e = errno;

		unlink(tmp);
		am_error_set(&err, AM_EFAIL, "cannot write '%s': %s", output, strerror(e));
		record_failure(ctx, l, &c, "bundle_error", err->msg);
		rc = am_report(ctx, err);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	artifact = am_bundle_artifact(&res);
	c.artifact = artifact;
	c.res = &res;
	if (am_ledger_transact(l, finish_txn, &c, NULL, &err) < 0) {
		/* An unrecorded bundle is not handed out. */
		unlink(output);
		record_failure(ctx, l, &c, "bundle_error", err->msg);
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "bundle", output);
		cJSON_AddStringToObject(o, "digest", res.digest);
		cJSON_AddNumberToObject(o, "size", (double)res.size);
		cJSON_AddNumberToObject(o, "files", (double)res.files);
		cJSON_AddNumberToObject(o, "secretsRedacted", (double)res.secrets);
		cJSON_AddNumberToObject(o, "promptsRedacted", (double)res.prompts);
		cJSON_AddStringToObject(o, "ref", c.ref);
		cJSON_AddStringToObject(o, "operation", c.op);
		am_print_json(o);
	} else {
		puts(output);
		fflush(stdout);
		am_info(ctx, "am: wrote %s: %llu files, %llu bytes, %s; %llu secret%s and %llu prompt field%s redacted, re-scan clean (%s)",
			output, (unsigned long long)res.files, (unsigned long long)res.size, res.digest,
			(unsigned long long)res.secrets, res.secrets == 1 ? "" : "s",
			(unsigned long long)res.prompts, res.prompts == 1 ? "" : "s", c.op);
	}
out:
	if (handlers)
		for (i = 0; i < 3; i++)
			sigaction(sigs[i], &old[i], NULL);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	cJSON_Delete(artifact);
	am_bundle_result_free(&res);
	free(output);
	free(scope);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

/* ---- scan ------------------------------------------------------------------ */

struct scan_out {
	struct am_ctx *ctx;
	cJSON *findings;   /* --json */
	char *last_file;
	uint64_t last_line;
	const char *last_rule;
	cJSON *last;       /* the finding to add repeats to (--json) */
	uint64_t secrets;
	uint64_t files_hit; /* files with a secret (findings come file by file) */
};

/* am_redact_finding_fn of scan: print (or collect) secrets, merging repeats on a line. */
static void
scan_finding(void *arg, const struct am_redact_finding *f)
{
	struct scan_out *o = arg;

	if (!f->secret)
		return;
	o->secrets++;
	if (o->last_file && strcmp(o->last_file, f->file) == 0 && o->last_line == f->line &&
	    o->last_rule == f->rule) {
		if (o->last) {
			cJSON *c = cJSON_GetObjectItemCaseSensitive(o->last, "count");

			cJSON_SetNumberValue(c, c->valuedouble + 1);
		}
		return;
	}
	if (o->last_file == NULL || strcmp(o->last_file, f->file) != 0) {
		free(o->last_file);
		o->last_file = am_xstrdup(f->file);
		o->files_hit++;
	}
	o->last_line = f->line;
	o->last_rule = f->rule;
	if (o->findings) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "file", f->file);
		cJSON_AddNumberToObject(e, "line", (double)f->line);
		cJSON_AddStringToObject(e, "rule", f->rule);
		cJSON_AddNumberToObject(e, "count", 1);
		cJSON_AddItemToArray(o->findings, e);
		o->last = e;
	} else {
		printf("%s:%llu: %s\n", f->file, (unsigned long long)f->line, f->rule);
	}
}

/* "am diagnostics scan" */
static int
diag_scan(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct scan_out o = { ctx };
	struct am_scan_stats st = { 0 };
	struct am_redact *r;
	cJSON *errors = NULL;
	int ch, i, rc = 0, stdin_seen = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (optind >= argc)
		return am_usage_error(ctx, "expected PATH... or - (standard input)");
	for (i = optind; i < argc; i++)
		if (strcmp(argv[i], "-") == 0 && stdin_seen++)
			return am_usage_error(ctx, "'-' (standard input) given twice");
	r = am_redact_new();
	if (ctx->json) {
		o.findings = cJSON_CreateArray();
		errors = cJSON_CreateArray();
	}
	am_redact_set_finding_cb(r, scan_finding, &o);
	/* Every path is scanned even after a failure, so one unreadable file
	 * does not hide the secrets in the others; the failure decides the
	 * exit status. */
	for (i = optind; i < argc; i++) {
		struct am_error *err = NULL;

		if (am_scan_path(r, argv[i], &st, &err) < 0) {
			if (rc == 0)
				rc = (int)err->cls;
			if (errors) {
				cJSON *e = cJSON_CreateObject();

				cJSON_AddStringToObject(e, "class", am_errclass_name(err->cls));
				cJSON_AddStringToObject(e, "message", err->msg);
				cJSON_AddItemToArray(errors, e);
				am_error_free(err);
			} else {
				fflush(stdout);
				am_report(ctx, err);
			}
		}
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddBoolToObject(doc, "clean", o.secrets == 0 && rc == 0);
		cJSON_AddNumberToObject(doc, "files", (double)st.files);
		cJSON_AddNumberToObject(doc, "bytes", (double)st.bytes);
		cJSON_AddNumberToObject(doc, "skipped", (double)st.skipped);
		cJSON_AddNumberToObject(doc, "secrets", (double)o.secrets);
		cJSON_AddNumberToObject(doc, "filesWithSecrets", (double)o.files_hit);
		cJSON_AddItemToObject(doc, "findings", o.findings);
		cJSON_AddItemToObject(doc, "errors", errors);
		am_print_json(doc);
	} else if (!ctx->quiet) {
		fflush(stdout);
		fprintf(stderr, "am: %llu secret%s in %llu of %llu file%s scanned (%llu bytes)\n",
			(unsigned long long)o.secrets, o.secrets == 1 ? "" : "s",
			(unsigned long long)o.files_hit, (unsigned long long)st.files,
			st.files == 1 ? "" : "s", (unsigned long long)st.bytes);
	}
	free(o.last_file);
	am_redact_free(r);
	if (rc)
		return rc;
	return o.secrets ? 1 : 0;
}

/* ---- verify ------------------------------------------------------------------ */

/* "am diagnostics verify" */
static int
diag_verify(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_bundle_check c;
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *root = NULL;
	const cJSON *p;
	int ch, n;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one FILE.tar.zst");
	/* Outside a workspace the bundle is still checked, just not against
	 * a record. */
	if (am_workspace_find(".", &root, NULL) == 0)
		am_ledger_open(root, &l, NULL);
	free(root);
	if (am_bundle_verify(l, argv[optind], &c, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	am_ledger_free(l);
	n = cJSON_GetArraySize(c.problems);
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddBoolToObject(doc, "ok", n == 0);
		cJSON_AddStringToObject(doc, "file", argv[optind]);
		cJSON_AddStringToObject(doc, "digest", c.digest);
		cJSON_AddNumberToObject(doc, "size", (double)c.size);
		cJSON_AddNumberToObject(doc, "files", (double)c.files);
		if (c.recorded)
			cJSON_AddStringToObject(doc, "recorded", c.recorded);
		else
			cJSON_AddNullToObject(doc, "recorded");
		if (c.note)
			cJSON_AddStringToObject(doc, "note", c.note);
		cJSON_AddItemToObject(doc, "problems", cJSON_Duplicate(c.problems, 1));
		am_print_json(doc);
	} else if (n == 0) {
		if (!ctx->quiet)
			printf("ok: %s: %llu files, %llu bytes, %s%s%s\n", argv[optind],
			       (unsigned long long)c.files, (unsigned long long)c.size, c.digest,
			       c.recorded ? ", recorded as " : "", c.recorded ? c.recorded : "");
		if (c.note)
			am_info(ctx, "am: %s: %s", argv[optind], c.note);
	} else {
		cJSON_ArrayForEach(p, c.problems)
			fprintf(stderr, "am: %s: %s\n", argv[optind], p->valuestring);
	}
	am_bundle_check_free(&c);
	return n == 0 ? 0 : AM_EINTEGRITY;
}

/* Dispatch to the verb. */
static int
cmd_diagnostics_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "export-redacted", diag_export }, { "scan", diag_scan }, { "verify", diag_verify },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_diagnostics = {
	.name = "diagnostics",
	.summary = "export a redacted diagnostic bundle, scan for secrets, check a bundle",
	.usage = "export-redacted [-o FILE.tar.zst] [--operation ID] [--since TIME]\n"
		 "    [--key FILE | --delegation TOKEN]\n"
		 "scan [--json] PATH...|-\n"
		 "verify [--json] FILE.tar.zst",
	.exec = cmd_diagnostics_exec,
};
