/* profile.c - am profile: create, list, show, diff, check and export
 * profiles (am-profile(5) documents every field). */
#include <getopt.h>

#include "am.h"
#include "authority.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"
#include "profile.h"

static void
print_warnings(struct am_ctx *ctx, const char *what, struct am_warning *w)
{
	size_t i;

	for (i = 0; w && w[i].path; i++)
		am_warn(ctx, "%s: %s", what, w[i].msg);
}

struct create_ctx {
	const struct am_authz *auth;
	const char *name;
	const cJSON *doc;
	char op[AM_OP_ID_LEN];
	char ref[AM_ID_LEN];
};

static int
create_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct create_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	AM_AUTOFREE char *path = am_xasprintf("profiles/%s", c->name);
	AM_AUTOFREE char *old = NULL;
	AM_AUTOFREE char *line = NULL;
	cJSON *art, *details;
	int rc;

	if (am_txn_read(t, path, &old, NULL, NULL) == 0)
		return am_error_set(err, AM_ECONFLICT, "a profile named '%s' is already recorded", c->name);
	if (am_op_create(t, "agent_machine.profile.create", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0)
		return -1;
	art = am_profile_artifact(c->doc, c->name);
	rc = am_txn_put_artifact(t, art, c->ref, err);
	cJSON_Delete(art);
	if (rc < 0 || am_op_link(t, c->op, "artifactRefs", c->ref, err) < 0)
		return -1;
	line = am_xasprintf("%s\n", c->ref);
	am_txn_put_file(t, path, line, strlen(line));
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "profile", c->name);
	cJSON_AddStringToObject(details, "profileRef", c->ref);
	return am_op_transition(t, c->op, "completed", NULL, details, err);
}

static int
profile_create(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "set", required_argument, NULL, 's' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req req = { .operation = "agent_machine.profile.create" };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	struct am_warning *warnings = NULL;
	struct create_ctx c = { 0 };
	const char *type = NULL, *from = NULL;
	char **sets = am_xcalloc(1, sizeof(char *));
	size_t nsets = 0, i;
	cJSON *doc = NULL, *locked = NULL;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': type = optarg; break;
		case 'f': from = optarg; break;
		case 's':
			sets = am_xrealloc(sets, (nsets + 2) * sizeof(char *));
			sets[nsets++] = am_xstrdup(optarg);
			sets[nsets] = NULL;
			break;
		AM_AUTH_CASES(ao);
		default: rc = am_usage_error(ctx, "bad option"); goto out;
		}
	}
	if (argc - optind != 1) {
		rc = am_usage_error(ctx, "expected one NAME");
		goto out;
	}
	c.name = argv[optind];
	if (from) {
		AM_AUTOFREE char *data = NULL;
		size_t len;

		if (am_read_file(from, 1 << 20, &data, &len, &err) < 0 ||
		    (doc = am_canon_parse(data, len, &err)) == NULL) {
			am_error_prefix(&err, "cannot read profile '%s'", from);
			rc = am_report(ctx, err);
			goto out;
		}
		if (!cJSON_IsObject(doc)) {
			am_error_set(&err, AM_EUSAGE, "cannot read profile '%s': .: expected object", from);
			rc = am_report(ctx, err);
			goto out;
		}
		if (type && strcmp(am_json_text(doc, "type"), type) != 0 && cJSON_HasObjectItem(doc, "type")) {
			am_error_set(&err, AM_EUSAGE, "'%s' has type '%s' but --type is '%s'", from,
				     am_json_text(doc, "type"), type);
			rc = am_report(ctx, err);
			goto out;
		}
		if (!cJSON_HasObjectItem(doc, "type") && type)
			cJSON_AddStringToObject(doc, "type", type);
	} else if (type) {
		if (am_profile_template(type, &doc, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
	} else {
		rc = am_usage_error(ctx, "--type (or --from FILE) is required");
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "name");
	cJSON_AddStringToObject(doc, "name", c.name);
	if (am_profile_locked(am_json_text(doc, "type"), c.name, &locked, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	for (i = 0; i < nsets; i++) {
		const cJSON *lk;
		AM_AUTOFREE char *path = am_xstrndup(sets[i], strcspn(sets[i], "="));

		cJSON_ArrayForEach(lk, locked) {
			const char *lp = am_json_text(lk, "path");
			size_t n = strlen(lp);
			const char *pp = path[0] == '.' ? path + 1 : path;

			if (strncmp(pp, lp, n) == 0 && (pp[n] == '\0' || pp[n] == '.')) {
				am_error_set(&err, AM_EDENIED,
					     "--set %s: the field is locked by the enterprise layer (%s)", pp,
					     am_json_text(lk, "file"));
				rc = am_report(ctx, err);
				goto out;
			}
		}
		if (am_profile_set(doc, sets[i], &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
	}
	/* A --from file may not set what the enterprise layer locks either. */
	if (from) {
		cJSON *flat = am_profile_flatten(doc), *v;
		const cJSON *lk;

		cJSON_ArrayForEach(v, flat) {
			cJSON_ArrayForEach(lk, locked) {
				const char *lp = am_json_text(lk, "path");
				size_t n = strlen(lp);

				if (strncmp(v->string, lp, n) == 0 && (v->string[n] == '\0' || v->string[n] == '.')) {
					am_error_set(&err, AM_EDENIED,
						     "'%s': .%s is locked by the enterprise layer (%s)", from,
						     v->string, am_json_text(lk, "file"));
					cJSON_Delete(flat);
					rc = am_report(ctx, err);
					goto out;
				}
			}
		}
		cJSON_Delete(flat);
	}
	if (am_profile_check(doc, 0, &warnings, &err) < 0) {
		if (from)
			am_error_prefix(&err, "cannot create profile '%s' from '%s'", c.name, from);
		else
			am_error_prefix(&err, "cannot create profile '%s'", c.name);
		rc = am_report(ctx, err);
		goto out;
	}
	if (cJSON_HasObjectItem(doc, "locked") || cJSON_HasObjectItem(doc, "appliesTo")) {
		am_error_set(&err, AM_EUSAGE, "'locked' and 'appliesTo' belong to enterprise files only");
		rc = am_report(ctx, err);
		goto out;
	}
	print_warnings(ctx, c.name, warnings);
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		goto out;
	req.profile = c.name;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0)
		goto out;
	c.auth = &auth;
	c.doc = doc;
	if (am_ledger_transact(l, create_txn, &c, NULL, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "profile", c.name);
		cJSON_AddStringToObject(o, "ref", c.ref);
		cJSON_AddStringToObject(o, "operation", c.op);
		am_print_json(o);
	} else {
		am_info(ctx, "am: recorded profile '%s' (%s) %s", c.name, am_json_text(doc, "type"), c.ref);
	}
out:
	am_warnings_free(warnings);
	am_strv_free(sets);
	cJSON_Delete(doc);
	cJSON_Delete(locked);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

/* Open the workspace ledger if there is one (profiles work without). */
static struct am_ledger *
maybe_ledger(void)
{
	struct am_ledger *l = NULL;
	char *root = NULL;

	if (am_workspace_find(".", &root, NULL) == 0)
		am_ledger_open(root, &l, NULL);
	free(root);
	return l;
}

static int
profile_list(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l;
	cJSON *out = cJSON_CreateArray();
	char **names = NULL;
	size_t n = 0, i;

	if (argc > 1 && strcmp(argv[1], "--json") == 0)
		ctx->json = 1;
	else if (argc > 1) {
		cJSON_Delete(out);
		return am_usage_error(ctx, "unexpected argument '%s'", argv[1]);
	}
	l = maybe_ledger();
	for (i = 0; am_profile_types[i]; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "name", am_profile_types[i]);
		cJSON_AddStringToObject(e, "type", am_profile_types[i]);
		cJSON_AddStringToObject(e, "source", "builtin");
		cJSON_AddItemToArray(out, e);
	}
	if (l && am_ledger_list(l, "profiles", &names, &n, NULL) == 0) {
		for (i = 0; i < n; i++) {
			AM_AUTOFREE char *path = am_xasprintf("profiles/%s", names[i]);
			AM_AUTOFREE char *ref = NULL;
			cJSON *art = NULL, *e;

			if (am_ledger_read(l, path, &ref, NULL, NULL) < 0)
				continue;
			ref[strcspn(ref, "\n")] = '\0';
			if (am_ledger_artifact(l, ref, &art, NULL) < 0)
				continue;
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "name", names[i]);
			cJSON_AddStringToObject(e, "type", am_json_text(art, "profileType"));
			cJSON_AddStringToObject(e, "source", "workspace");
			cJSON_AddStringToObject(e, "ref", ref);
			cJSON_AddItemToArray(out, e);
			cJSON_Delete(art);
		}
	}
	am_strv_free(names);
	am_ledger_free(l);
	if (ctx->json) {
		am_print_json(out);
		return 0;
	}
	{
		const cJSON *e;

		cJSON_ArrayForEach(e, out)
			printf("%-28s %-26s %s\n", am_json_text(e, "name"), am_json_text(e, "type"), am_json_text(e, "source"));
	}
	cJSON_Delete(out);
	return 0;
}

static char *
value_text(const cJSON *v)
{
	char *t = am_canon_dump(v, NULL, NULL);

	return t ? t : am_xstrdup("?");
}

/* Egress in one line: what a user most needs to know about a profile. */
static void
print_summary(const struct am_profile *p)
{
	const cJSON *e = p->effective;
	const cJSON *net = cJSON_GetObjectItemCaseSensitive(e, "network");
	const char *mode = am_json_text(net, "mode");

	printf("profile  %s\ntype     %s\nowner    %s\n", p->name, am_json_text(e, "type"), am_json_text(e, "owner"));
	if (*am_json_text(e, "tenant"))
		printf("tenant   %s\n", am_json_text(e, "tenant"));
	if (strcmp(am_json_text(e, "type"), "airgapped_local_only") == 0)
		printf("egress   none: airgapped, no network egress at all except loopback model providers\n");
	else if (strcmp(mode, "none") == 0)
		printf("egress   none (network.mode none)\n");
	else if (strcmp(mode, "loopback") == 0)
		printf("egress   loopback only\n");
	else if (strcmp(mode, "proxy") == 0)
		printf("egress   through the am egress proxy to allowed hosts%s%s\n",
		       *am_json_text(cJSON_GetObjectItemCaseSensitive(net, "proxy"), "upstream") ? ", chained to " : "",
		       am_json_text(cJSON_GetObjectItemCaseSensitive(net, "proxy"), "upstream"));
	else
		printf("egress   open (host network) to allowed hosts\n");
	printf("record   %s\n", p->record ? p->record : "(built-in template, not recorded)");
}

static int
profile_show(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "layers", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_profile p;
	struct am_ledger *l;
	struct am_error *err = NULL;
	int ch, layers = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': layers = 1; break;
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one NAME");
	l = maybe_ledger();
	if (am_profile_resolve(l, argv[optind], &p, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	am_ledger_free(l);
	if (layers) {
		cJSON *flat = am_profile_flatten(p.effective), *v, *out = cJSON_CreateArray();

		cJSON_ArrayForEach(v, flat) {
			const cJSON *o = NULL;
			AM_AUTOFREE char *path = am_xstrdup(v->string);
			char *dot;

			/* the origin of the closest recorded ancestor path */
			for (;;) {
				o = cJSON_GetObjectItemCaseSensitive(p.origins, path);
				if (o || (dot = strrchr(path, '.')) == NULL)
					break;
				*dot = '\0';
			}
			if (ctx->json) {
				cJSON *e = cJSON_CreateObject();

				cJSON_AddStringToObject(e, "path", v->string);
				cJSON_AddItemToObject(e, "value", cJSON_Duplicate(v, 1));
				cJSON_AddStringToObject(e, "origin", cJSON_IsString(o) ? o->valuestring : "builtin");
				cJSON_AddBoolToObject(e, "locked", am_profile_is_locked(p.locked, v->string));
				cJSON_AddItemToArray(out, e);
			} else {
				AM_AUTOFREE char *t = value_text(v);

				printf("%-34s %-28s %s%s\n", v->string, cJSON_IsString(o) ? o->valuestring : "builtin",
				       t, am_profile_is_locked(p.locked, v->string) ? "  (locked)" : "");
			}
		}
		cJSON_Delete(flat);
		if (ctx->json)
			am_print_json(out);
		else
			cJSON_Delete(out);
	} else if (ctx->json) {
		am_print_json(cJSON_Duplicate(p.effective, 1));
	} else {
		char *t;

		print_summary(&p);
		t = am_json_pretty(p.effective);
		printf("\n%s", t);
		free(t);
	}
	am_profile_free(&p);
	return 0;
}

static int
profile_diff(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_profile a, b;
	struct am_ledger *l;
	struct am_error *err = NULL;
	cJSON *fa, *fb, *v, *out = cJSON_CreateArray();
	int diffs = 0, i;
	const char *names[2] = { NULL, NULL };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (!names[0])
			names[0] = argv[i];
		else if (!names[1])
			names[1] = argv[i];
		else
			names[0] = NULL;
	}
	if (!names[0] || !names[1]) {
		cJSON_Delete(out);
		return am_usage_error(ctx, "expected two profile names");
	}
	l = maybe_ledger();
	if (am_profile_resolve(l, names[0], &a, &err) < 0) {
		am_ledger_free(l);
		cJSON_Delete(out);
		return am_report(ctx, err);
	}
	if (am_profile_resolve(l, names[1], &b, &err) < 0) {
		am_profile_free(&a);
		am_ledger_free(l);
		cJSON_Delete(out);
		return am_report(ctx, err);
	}
	am_ledger_free(l);
	cJSON_DeleteItemFromObjectCaseSensitive(a.effective, "name");
	cJSON_DeleteItemFromObjectCaseSensitive(b.effective, "name");
	fa = am_profile_flatten(a.effective);
	fb = am_profile_flatten(b.effective);
	/* Every path of either side, in a's order then b's extras. */
	for (i = 0; i < 2; i++) {
		cJSON *x = i ? fb : fa, *y = i ? fa : fb;

		cJSON_ArrayForEach(v, x) {
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(y, v->string);

			if (i == 1 && w)
				continue; /* already compared */
			if (w && cJSON_Compare(v, w, 1))
				continue;
			diffs++;
			{
				const cJSON *va = i ? w : v, *vb = i ? v : w;
				AM_AUTOFREE char *ta = va ? value_text(va) : am_xstrdup("(absent)");
				AM_AUTOFREE char *tb = vb ? value_text(vb) : am_xstrdup("(absent)");

				if (ctx->json) {
					cJSON *e = cJSON_CreateObject();

					cJSON_AddStringToObject(e, "path", v->string);
					cJSON_AddItemToObject(e, names[0], va ? cJSON_Duplicate(va, 1) : cJSON_CreateNull());
					cJSON_AddItemToObject(e, names[1], vb ? cJSON_Duplicate(vb, 1) : cJSON_CreateNull());
					cJSON_AddItemToArray(out, e);
				} else {
					printf("%s\n  - %s: %s\n  + %s: %s\n", v->string, names[0], ta, names[1], tb);
				}
			}
		}
	}
	if (ctx->json)
		am_print_json(out);
	else
		cJSON_Delete(out);
	cJSON_Delete(fa);
	cJSON_Delete(fb);
	am_profile_free(&a);
	am_profile_free(&b);
	(void)diffs;
	return 0;
}

static int
profile_check(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_error *err = NULL;
	struct am_warning *w = NULL;
	AM_AUTOFREE char *data = NULL;
	const char *file = NULL;
	cJSON *doc;
	size_t len;
	int i, layer = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (strcmp(argv[i], "--layer") == 0)
			layer = 1;
		else if (file == NULL)
			file = argv[i];
		else
			return am_usage_error(ctx, "expected one FILE");
	}
	if (file == NULL)
		return am_usage_error(ctx, "expected one FILE");
	if (am_read_file(file, 1 << 20, &data, &len, &err) < 0)
		return am_report(ctx, err);
	doc = am_canon_parse(data, len, &err);
	if (doc == NULL || am_profile_check(doc, layer, &w, &err) < 0) {
		cJSON_Delete(doc);
		am_error_prefix(&err, "%s", file);
		return am_report(ctx, err);
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject(), *ws = cJSON_AddArrayToObject(o, "warnings");

		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "file", file);
		for (i = 0; w && w[i].path; i++) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "path", w[i].path);
			cJSON_AddStringToObject(e, "message", w[i].msg);
			cJSON_AddItemToArray(ws, e);
		}
		am_print_json(o);
	} else {
		print_warnings(ctx, file, w);
		if (!ctx->quiet)
			printf("%s: ok\n", file);
	}
	am_warnings_free(w);
	cJSON_Delete(doc);
	return 0;
}

static int
profile_export(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_profile p;
	struct am_ledger *l;
	struct am_error *err = NULL;
	cJSON *art;

	if (argc != 2)
		return am_usage_error(ctx, "expected one NAME");
	l = maybe_ledger();
	if (am_profile_resolve(l, argv[1], &p, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	am_ledger_free(l);
	art = am_profile_artifact(p.effective, p.name);
	if (p.record)
		cJSON_AddStringToObject(art, "recordRef", p.record);
	am_print_json(art);
	am_profile_free(&p);
	return 0;
}

static int
cmd_profile_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "create", profile_create }, { "list", profile_list }, { "show", profile_show },
		{ "diff", profile_diff }, { "check", profile_check }, { "export", profile_export },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_profile = {
	.name = "profile",
	.summary = "create, inspect, compare and check policy profiles",
	.usage = "create NAME --type TYPE [--from FILE] [--set PATH=VALUE ...]\n"
		 "    [--key FILE | --delegation TOKEN]\n"
		 "list [--json]\n"
		 "show NAME [--layers] [--json]\n"
		 "diff A B [--json]\n"
		 "check FILE [--layer] [--json]\n"
		 "export NAME",
	.exec = cmd_profile_exec,
};
