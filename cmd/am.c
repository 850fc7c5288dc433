/* am.c - main: global options, the command table, dispatch, exit code. */
#include <getopt.h>
#include <stdarg.h>
#include <errno.h>

#include <git2.h>
#include <sodium.h>

#include "am.h"
#include "canon.h"
#include "authority.h"
#include "ledger.h"
#include "sandbox.h"

extern const struct am_cmd am_cmd_init, am_cmd_log, am_cmd_show, am_cmd_verify,
	am_cmd_key, am_cmd_trust, am_cmd_delegation, am_cmd_profile, am_cmd_policy,
	am_cmd_tool_grant, am_cmd_execution, am_cmd_diagnostics;

/* The command table; help, usage and completions are generated from it. */
const struct am_cmd *const am_commands[] = {
	&am_cmd_init,
	&am_cmd_log,
	&am_cmd_show,
	&am_cmd_verify,
	&am_cmd_key,
	&am_cmd_trust,
	&am_cmd_delegation,
	&am_cmd_profile,
	&am_cmd_policy,
	&am_cmd_tool_grant,
	&am_cmd_execution,
	&am_cmd_diagnostics,
	NULL,
};

/* Built-in commands that live here because they have no state of their own. */
static const char *const builtin_names[] = { "help", "version", NULL };

static const char global_usage[] =
	"usage: am [-C DIR] [--json] [-q] [--no-color] COMMAND [ARGS...]\n";

int
am_report(struct am_ctx *ctx, struct am_error *err)
{
	int code;

	if (err == NULL)
		return 1;
	code = (int)err->cls;
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(doc, "error");

		cJSON_AddStringToObject(e, "class", am_errclass_name(err->cls));
		cJSON_AddStringToObject(e, "message", err->msg);
		if (err->path)
			cJSON_AddStringToObject(e, "path", err->path);
		am_print_json(doc);
	} else {
		fprintf(stderr, "am: %s\n", err->msg);
	}
	am_error_free(err);
	return code;
}

void
am_print_usage(FILE *f, const struct am_cmd *cmd)
{
	const char *u = cmd->usage, *nl;
	int first = 1;

	if (*u == '\0')
		fprintf(f, "usage: am %s\n", cmd->name);
	while (*u) {
		nl = strchr(u, '\n');
		if (*u == ' ') /* a continuation of the previous line */
			fprintf(f, "       %*s%.*s\n", (int)strlen(cmd->name) + 3, "",
				(int)(nl ? nl - u : (long)strlen(u)), u);
		else
			fprintf(f, "%s am %s %.*s\n", first ? "usage:" : "      ", cmd->name,
				(int)(nl ? nl - u : (long)strlen(u)), u);
		first = 0;
		if (nl == NULL)
			break;
		u = nl + 1;
	}
}

int
am_usage_error(struct am_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	struct am_error *err = NULL;

	va_start(ap, fmt);
	am_error_vset(&err, AM_EUSAGE, NULL, fmt, ap);
	va_end(ap);
	if (!ctx->json && ctx->cmd) {
		fprintf(stderr, "am: %s\n", err->msg);
		am_print_usage(stderr, ctx->cmd);
		am_error_free(err);
		return AM_EUSAGE;
	}
	return am_report(ctx, err);
}

void
am_info(struct am_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->quiet || ctx->json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
am_warn(struct am_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("am: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
am_print_json(cJSON *doc)
{
	char *s = am_json_pretty(doc);

	fputs(s, stdout);
	free(s);
	cJSON_Delete(doc);
}

int
am_help_requested(struct am_ctx *ctx, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			am_print_usage(stdout, ctx->cmd);
			printf("\n%s\nSee am-%s(1).\n", ctx->cmd->summary, ctx->cmd->name);
			return 1;
		}
	}
	return 0;
}

int
am_open_ledger(struct am_ctx *ctx, struct am_ledger **l)
{
	struct am_error *err = NULL;
	char *root = NULL;

	if (am_workspace_find(".", &root, &err) < 0 || am_ledger_open(root, l, &err) < 0) {
		free(root);
		return am_report(ctx, err);
	}
	free(root);
	return 0;
}

int
am_cmd_authorize(struct am_ctx *ctx, struct am_ledger *l, const struct am_auth_opts *o,
		 struct am_authz_req *req, struct am_authz *out)
{
	struct am_error *err = NULL;
	char *token = NULL;
	int rc;

	if (o->key && o->delegation)
		return am_usage_error(ctx, "--key and --delegation are alternatives; give one");
	if (am_token_arg(o->delegation, &token, &err) < 0)
		return am_report(ctx, err);
	req->key_path = o->key;
	req->token = token;
	rc = am_authorize(l, req, out, &err);
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	req->token = NULL;
	return rc < 0 ? am_report(ctx, err) : 0;
}

int
am_run_verb(struct am_ctx *ctx, int argc, char **argv, const struct am_verb *verbs, size_t n)
{
	size_t i;

	if (argc < 2)
		return am_usage_error(ctx, "expected a verb");
	optind = 0;
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(ctx, argc - 1, argv + 1);
	return am_usage_error(ctx, "unknown verb '%s'", argv[1]);
}

char **
am_split_list(const char *s)
{
	char **v = am_xcalloc(1, sizeof(*v));
	size_t n = 0;

	while (s && *s) {
		size_t len = strcspn(s, ",");

		if (len > 0) {
			v = am_xrealloc(v, (n + 2) * sizeof(*v));
			v[n++] = am_xstrndup(s, len);
			v[n] = NULL;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	return v;
}

static const struct am_cmd *
find_cmd(const char *name)
{
	size_t i;

	for (i = 0; am_commands[i]; i++)
		if (strcmp(am_commands[i]->name, name) == 0)
			return am_commands[i];
	return NULL;
}

/* Damerau-free Levenshtein distance, for "did you mean". */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, *row, prev, tmp, best;

	row = am_xcalloc(lb + 1, sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	best = row[lb];
	free(row);
	return best;
}

/* The closest command name to s, or NULL if none is close. */
static const char *
suggest(const char *s)
{
	const char *best = NULL;
	size_t i, d, bestd = (size_t)-1;

	for (i = 0; am_commands[i]; i++) {
		d = edit_distance(s, am_commands[i]->name);
		if (am_starts_with(am_commands[i]->name, s) && strlen(s) >= 2)
			d = 1;
		if (d < bestd)
			bestd = d, best = am_commands[i]->name;
	}
	for (i = 0; builtin_names[i]; i++) {
		d = edit_distance(s, builtin_names[i]);
		if (d < bestd)
			bestd = d, best = builtin_names[i];
	}
	return bestd <= 2 || (bestd <= 3 && strlen(s) > 5) ? best : NULL;
}

static void
print_overview(FILE *f)
{
	size_t i;

	fputs(global_usage, f);
	fputs("\ncommands:\n", f);
	for (i = 0; am_commands[i]; i++)
		fprintf(f, "   %-14s %s\n", am_commands[i]->name, am_commands[i]->summary);
	fprintf(f, "   %-14s %s\n", "help", "show help for am or a command");
	fprintf(f, "   %-14s %s\n", "version", "print the version (and --features)");
	fputs("\nSee am(1) and am-COMMAND(1).\n", f);
}

/* "am help [CMD]" */
static int
cmd_help(struct am_ctx *ctx, int argc, char **argv)
{
	const struct am_cmd *c;

	if (argc < 2) {
		print_overview(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--commands") == 0) {
		/* One name a line: what the shell completions are tested against. */
		size_t i;

		for (i = 0; am_commands[i]; i++)
			puts(am_commands[i]->name);
		for (i = 0; builtin_names[i]; i++)
			puts(builtin_names[i]);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		puts("usage: am help [COMMAND]");
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "version") == 0) {
		printf("usage: am %s%s\n", argv[1], strcmp(argv[1], "help") == 0 ?
		       " [COMMAND]" : " [--features]");
		return 0;
	}
	c = find_cmd(argv[1]);
	if (c == NULL) {
		const char *s = suggest(argv[1]);

		fprintf(stderr, "am: no such command '%s'", argv[1]);
		if (s)
			fprintf(stderr, "; did you mean '%s'?", s);
		fputc('\n', stderr);
		return AM_EUSAGE;
	}
	ctx->cmd = c;
	am_print_usage(stdout, c);
	printf("\n%s\nSee am-%s(1).\n", c->summary, c->name);
	return 0;
}

/* "am version [--features]" */
static int
cmd_version(struct am_ctx *ctx, int argc, char **argv)
{
	int major, minor, rev;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		puts("usage: am version [--features]");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--features") != 0) {
		fprintf(stderr, "am: unexpected argument '%s'\nusage: am version [--features]\n", argv[1]);
		return AM_EUSAGE;
	}
	git_libgit2_version(&major, &minor, &rev);
	if (ctx->json || argc > 1) {
		cJSON *doc = cJSON_CreateObject();
		char v[32];

		cJSON_AddStringToObject(doc, "version", AM_VERSION);
		snprintf(v, sizeof(v), "%d.%d.%d", major, minor, rev);
		cJSON_AddStringToObject(doc, "libgit2", v);
		cJSON_AddStringToObject(doc, "libsodium", sodium_version_string());
		if (argc > 1) {
			/* What this kernel enforces for executions (am-execution(1)). */
			struct am_sandbox_features f;

			am_sandbox_probe(&f);
			cJSON_AddItemToObject(doc, "sandbox", am_sandbox_features_json(&f));
		}
		if (ctx->json) {
			am_print_json(doc);
			return 0;
		}
		{
			char *t = am_json_pretty(doc);

			printf("am %s\n%s", AM_VERSION, t);
			free(t);
			cJSON_Delete(doc);
		}
		return 0;
	}
	printf("am %s\n", AM_VERSION);
	return 0;
}

static char *merge_gitdir; /* the ledger committed to, its merge not yet considered */

void
am_merge_pending(void)
{
	if (merge_gitdir && am_ledger_merge_due(merge_gitdir))
		am_ledger_merge_detached(merge_gitdir);
	free(merge_gitdir);
	merge_gitdir = NULL;
}

/* The ledger's hook after every commit.  Most commands commit once or
 * twice (an execution: when it starts and when it ends) and consider the
 * merge when they end, so that the merger does not take the CPU from
 * them; a supervisor that records progress for hours merges as it goes. */
static void
merge_after_commit(const char *gitdir)
{
	static int commits;

	free(merge_gitdir);
	merge_gitdir = am_xstrdup(gitdir);
	if (++commits > 2)
		am_merge_pending();
}

int
main(int argc, char **argv)
{
	struct am_ctx ctx = { 0 };
	const struct am_cmd *cmd;
	const char *nc = getenv("NO_COLOR");
	/* AM_PACK_MERGE=GITDIR: merge that ledger's packs in the foreground
	 * and exit (am-ledger(5), an internal interface for tests). */
	const char *merge = getenv("AM_PACK_MERGE");
	struct am_error *err = NULL;
	int i, rc;

	if (merge && *merge) {
		am_ledger_init();
		if (am_ledger_merge_packs(merge, &err) < 0) {
			fprintf(stderr, "am: merging the packs of '%s': %s\n", merge, err->msg);
			am_error_free(err);
			_exit(1);
		}
		_exit(0);
	}
	am_ledger_set_background_merge(merge_after_commit);

	ctx.color = isatty(1) && (nc == NULL || *nc == '\0');
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			ctx.json = 1;
		} else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			ctx.quiet = 1;
		} else if (strcmp(argv[i], "--no-color") == 0) {
			ctx.color = 0;
		} else if (strcmp(argv[i], "-C") == 0 || am_starts_with(argv[i], "-C")) {
			const char *dir = argv[i][2] ? argv[i] + 2 : argv[++i];

			if (dir == NULL) {
				fputs("am: option -C needs a directory\n", stderr);
				return AM_EUSAGE;
			}
			if (chdir(dir) < 0) {
				fprintf(stderr, "am: cannot change to '%s': %s\n", dir, strerror(errno));
				return errno == ENOENT ? AM_ENOTFOUND : AM_EFAIL;
			}
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			print_overview(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("am %s\n", AM_VERSION);
			return 0;
		} else {
			fprintf(stderr, "am: unknown option '%s'\n%s", argv[i], global_usage);
			return AM_EUSAGE;
		}
	}
	if (i >= argc) {
		print_overview(stderr);
		return AM_EUSAGE;
	}
	if (sodium_init() < 0) {
		fputs("am: cannot initialize libsodium\n", stderr);
		return AM_EFAIL;
	}
	ctx.cmdname = argv[i];
	if (strcmp(argv[i], "help") == 0)
		return cmd_help(&ctx, argc - i, argv + i);
	if (strcmp(argv[i], "version") == 0)
		return cmd_version(&ctx, argc - i, argv + i);
	cmd = find_cmd(argv[i]);
	if (cmd == NULL) {
		const char *s = suggest(argv[i]);

		if (s)
			am_error_set(&err, AM_EUSAGE,
				     "'%s' is not an am command; did you mean '%s'?", argv[i], s);
		else
			am_error_set(&err, AM_EUSAGE,
				     "'%s' is not an am command; see 'am help'", argv[i]);
		return am_report(&ctx, err);
	}
	ctx.cmd = cmd;
	if (am_help_requested(&ctx, argc - i, argv + i))
		return 0;
	am_ledger_init();
	optind = 0; /* reset getopt for the command's own parse */
	rc = cmd->exec(&ctx, argc - i, argv + i);
	fflush(stdout);
	if (ferror(stdout) && rc == 0) {
		fputs("am: write error on stdout\n", stderr);
		rc = AM_EFAIL;
	}
	git_libgit2_shutdown();
	am_merge_pending();
	/* Inside an execution's sandbox am leaves without exit handlers: a
	 * sanitizer's leak check there would need the ptrace seccomp denies. */
	if (getenv("AM_PROGRESS_FD")) {
		fflush(NULL);
		_exit(rc);
	}
	return rc;
}
