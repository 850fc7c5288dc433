/* tool-grant.c - am tool-grant: grant, revoke and inspect the tools a
 * delegate may execute. */
#include <getopt.h>

#include "am.h"
#include "authority.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"
#include "policy.h"
#include "profile.h"
#include "toolgrant.h"

struct apply_ctx {
	const struct am_authz *auth;
	const struct am_profile *profile;
	const struct am_decision *decision;
	const char *tool, *path, *grantee, *tenant;
	char sha[72];
	int64_t expires;
	char op[AM_OP_ID_LEN];
	char grant_id[80];
	char record[AM_ID_LEN];
	char decision_ref[AM_ID_LEN];
};

static int
put_index(struct am_txn *t, const char *uuid, const cJSON *idx, struct am_error **err)
{
	AM_AUTOFREE char *path = am_xasprintf("grants/%.2s/%s", uuid, uuid);

	return am_txn_put_json(t, path, idx, err);
}

/* The gate was evaluated before: record the decision, then either the
 * grant (permit) or a failure event (deny), in one commit. */
static int
apply_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct apply_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	cJSON *dec, *rec, *idx, *details;
	char uuid[37], now[21], exp[21];
	int rc;

	if (am_op_create(t, "agent_machine.tool_grant.apply", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "preflighting", NULL, NULL, err) < 0)
		return -1;
	dec = am_decision_artifact(c->decision, c->profile, c->op, am_txn_time(t));
	rc = am_txn_put_artifact(t, dec, c->decision_ref, err);
	cJSON_Delete(dec);
	if (rc < 0 || am_op_link(t, c->op, "decisionRefs", c->decision_ref, err) < 0)
		return -1;
	if (!c->decision->permit) {
		details = cJSON_CreateObject();
		cJSON_AddStringToObject(details, "errorClass", "policy_denied");
		cJSON_AddStringToObject(details, "gate", "toolGrant");
		cJSON_AddStringToObject(details, "decisionRef", c->decision_ref);
		cJSON_AddStringToObject(details, "reason", c->decision->reason);
		return am_op_transition(t, c->op, "failed", NULL, details, err);
	}
	if (am_op_transition(t, c->op, "running", NULL, NULL, err) < 0)
		return -1;
	am_uuid(uuid);
	snprintf(c->grant_id, sizeof(c->grant_id), "%s%s", AM_GRANT_URN, uuid);
	am_time_format(now, am_txn_time(t));
	am_time_format(exp, c->expires);
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "kind", "ToolGrantRecord");
	cJSON_AddStringToObject(rec, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(rec, "grantId", c->grant_id);
	cJSON_AddStringToObject(rec, "toolName", c->tool);
	cJSON_AddStringToObject(rec, "path", c->path);
	cJSON_AddStringToObject(rec, "sha256", c->sha);
	cJSON_AddStringToObject(rec, "grantee", c->grantee);
	cJSON_AddStringToObject(rec, "profile", c->profile->name);
	if (c->tenant)
		cJSON_AddStringToObject(rec, "tenant", c->tenant);
	cJSON_AddStringToObject(rec, "grantedBy", c->auth->name);
	if (c->auth->delegation)
		cJSON_AddStringToObject(rec, "delegationRef", c->auth->delegation);
	cJSON_AddStringToObject(rec, "grantedAt", now);
	cJSON_AddStringToObject(rec, "expiresAt", exp);
	cJSON_AddStringToObject(rec, "state", "active");
	cJSON_AddStringToObject(rec, "applyCommandRef", c->op);
	cJSON_AddStringToObject(rec, "decisionRef", c->decision_ref);
	rc = am_txn_put_artifact(t, rec, c->record, err);
	cJSON_Delete(rec);
	if (rc < 0 || am_op_link(t, c->op, "artifactRefs", c->record, err) < 0)
		return -1;
	idx = cJSON_CreateObject();
	cJSON_AddStringToObject(idx, "id", c->grant_id);
	cJSON_AddStringToObject(idx, "record", c->record);
	cJSON_AddStringToObject(idx, "toolName", c->tool);
	cJSON_AddStringToObject(idx, "path", c->path);
	cJSON_AddStringToObject(idx, "sha256", c->sha);
	cJSON_AddStringToObject(idx, "grantee", c->grantee);
	cJSON_AddStringToObject(idx, "profile", c->profile->name);
	if (c->tenant)
		cJSON_AddStringToObject(idx, "tenant", c->tenant);
	cJSON_AddStringToObject(idx, "expiresAt", exp);
	cJSON_AddBoolToObject(idx, "revoked", 0);
	cJSON_AddStringToObject(idx, "applyCommandRef", c->op);
	rc = put_index(t, uuid, idx, err);
	cJSON_Delete(idx);
	if (rc < 0)
		return -1;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "grantId", c->grant_id);
	cJSON_AddStringToObject(details, "recordRef", c->record);
	return am_op_transition(t, c->op, "completed", NULL, details, err);
}

/* The tenant a command looks under: --tenant, else the tenant of the
 * delegation (--delegation, else $AM_DELEGATION; verified), else none. */
static int
context_tenant(struct am_ledger *l, const char *opt, const char *deleg, char **tenant,
	       struct am_error **err)
{
	char *token = NULL;
	struct am_authz a;

	*tenant = opt ? am_xstrdup(opt) : NULL;
	if (opt || am_token_arg(deleg, &token, err) < 0 || token == NULL)
		return *err ? -1 : 0;
	if (am_authorize_holder(l, token, &a, err) < 0) {
		free(token);
		return -1;
	}
	*tenant = a.tenant ? am_xstrdup(a.tenant) : NULL;
	am_authz_free(&a);
	free(token);
	return 0;
}

static int
grant_apply(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "profile", required_argument, NULL, 'p' },
		{ "expires", required_argument, NULL, 'e' },
		{ "tenant", required_argument, NULL, 'n' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req req = { .operation = "agent_machine.tool_grant.apply" };
	struct am_profile prof = { 0 };
	struct am_decision dec = { 0 };
	struct apply_ctx c = { 0 };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *profile = NULL, *expires = NULL, *tenant = NULL, *base;
	char *path = NULL, *owned_profile = NULL, *owned_tenant = NULL;
	char hex[65];
	int ch, rc = 0, have_prof = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': c.grantee = optarg; break;
		case 'p': profile = optarg; break;
		case 'e': expires = optarg; break;
		case 'n': tenant = optarg; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one TOOL");
	if (c.grantee == NULL)
		return am_usage_error(ctx, "--to DELEGATE is required");
	c.tool = argv[optind];
	c.expires = am_now() + 86400;
	if (expires) {
		int64_t d;

		if (am_time_parse(expires, &c.expires) < 0) {
			if (am_duration_parse(expires, &d) < 0 || d == 0)
				return am_usage_error(ctx, "--expires '%s': expected a duration or an RFC 3339 time",
						      expires);
			c.expires = am_now() + d;
		}
		if (c.expires <= am_now())
			return am_usage_error(ctx, "--expires '%s': the grant would already be expired", expires);
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	/* The profile: --profile, else the delegation's. */
	if (profile == NULL && ao.key == NULL && getenv("AM_KEY") == NULL) {
		char *token = NULL;
		struct am_authz h;

		if (am_token_arg(ao.delegation, &token, &err) == 0 && token &&
		    am_authorize_holder(l, token, &h, NULL) == 0) {
			profile = owned_profile = h.profile ? am_xstrdup(h.profile) : NULL;
			if (tenant == NULL && h.tenant)
				tenant = owned_tenant = am_xstrdup(h.tenant);
			am_authz_free(&h);
		}
		free(token);
		am_error_free(err);
		err = NULL;
	}
	if (profile == NULL) {
		rc = am_usage_error(ctx, "--profile NAME is required");
		goto out;
	}
	if (am_profile_resolve(l, profile, &prof, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	have_prof = 1;
	if (am_tool_resolve(c.tool, &prof, am_ledger_root(l), &path, &err) < 0 ||
	    am_file_sha256(path, hex, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	base = strrchr(path, '/') + 1;
	/* Authority first: without it nothing, not even a denial, is written. */
	req.tool = strchr(c.tool, '/') ? base : c.tool;
	req.profile = prof.name;
	req.tenant = tenant;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0)
		goto out;
	if (am_policy_decide_tool(&prof, c.tool, path, auth.tenant ? auth.tenant : tenant, &dec, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	c.auth = &auth;
	c.profile = &prof;
	c.decision = &dec;
	c.path = path;
	c.tenant = auth.tenant ? auth.tenant : tenant;
	snprintf(c.sha, sizeof(c.sha), "sha256:%s", hex);
	if (am_ledger_transact(l, apply_txn, &c, NULL, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (!dec.permit) {
		am_error_set(&err, AM_EDENIED, "tool grant denied by policy: %s (%s; decision %s, operation %s)",
			     dec.reason, cJSON_GetArrayItem(dec.rules, 0)->valuestring, c.decision_ref, c.op);
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "grantId", c.grant_id);
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "sha256", c.sha);
		cJSON_AddStringToObject(o, "record", c.record);
		cJSON_AddStringToObject(o, "decision", c.decision_ref);
		cJSON_AddStringToObject(o, "operation", c.op);
		am_print_json(o);
	} else {
		printf("%s\n", c.grant_id);
		am_info(ctx, "am: granted %s (%s) to '%s' under profile %s", path, c.sha, c.grantee, prof.name);
	}
out:
	if (have_prof)
		am_profile_free(&prof);
	am_decision_free(&dec);
	am_authz_free(&auth);
	free(path);
	free(owned_profile);
	free(owned_tenant);
	am_ledger_free(l);
	return rc;
}

struct revoke_ctx {
	const struct am_authz *auth;
	cJSON *idx;
	const char *reason;
	char op[AM_OP_ID_LEN];
	char record[AM_ID_LEN];
};

static int
revoke_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct revoke_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	const char *id = am_json_text(c->idx, "id");
	const char *uuid = id + strlen(AM_GRANT_URN);
	AM_AUTOFREE char *path = am_xasprintf("grants/%.2s/%s", uuid, uuid);
	AM_AUTOFREE char *data = NULL;
	AM_AUTOFREE char *rpath = NULL;
	AM_AUTOFREE char *rdata = NULL;
	cJSON *idx = NULL, *rec = NULL, *details;
	char now[21];
	size_t len;
	int rc = -1;

	/* Re-read inside the txn: a racing revoke must lose, not double up. */
	if (am_txn_read(t, path, &data, &len, err) < 0 || (idx = am_canon_parse(data, len, err)) == NULL)
		return -1;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "revoked"))) {
		am_error_set(err, AM_ECONFLICT, "grant %s is already revoked", id);
		goto out;
	}
	rpath = am_artifact_path(am_json_text(idx, "record"));
	if (rpath == NULL || am_txn_read(t, rpath, &rdata, &len, err) < 0 ||
	    (rec = am_canon_parse(rdata, len, err)) == NULL)
		goto out;
	if (am_op_create(t, "agent_machine.tool_grant.revoke", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0)
		goto out;
	am_time_format(now, am_txn_time(t));
	cJSON_ReplaceItemInObjectCaseSensitive(rec, "state", cJSON_CreateString("revoked"));
	cJSON_AddStringToObject(rec, "revokedAt", now);
	cJSON_AddStringToObject(rec, "revokedBy", c->auth->name);
	cJSON_AddStringToObject(rec, "revokeCommandRef", c->op);
	if (c->reason)
		cJSON_AddStringToObject(rec, "revokeReason", c->reason);
	cJSON_AddStringToObject(rec, "previous", am_json_text(idx, "record"));
	if (am_txn_put_artifact(t, rec, c->record, err) < 0 ||
	    am_op_link(t, c->op, "artifactRefs", c->record, err) < 0)
		goto out;
	cJSON_ReplaceItemInObjectCaseSensitive(idx, "revoked", cJSON_CreateTrue());
	cJSON_ReplaceItemInObjectCaseSensitive(idx, "record", cJSON_CreateString(c->record));
	cJSON_AddStringToObject(idx, "revokeCommandRef", c->op);
	if (put_index(t, uuid, idx, err) < 0)
		goto out;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "grantId", id);
	cJSON_AddStringToObject(details, "recordRef", c->record);
	rc = am_op_transition(t, c->op, "completed", NULL, details, err);
out:
	cJSON_Delete(idx);
	cJSON_Delete(rec);
	return rc;
}

static int
grant_revoke(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 'n' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz auth = { 0 };
	struct am_authz_req req = { .operation = "agent_machine.tool_grant.revoke" };
	struct revoke_ctx c = { 0 };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *topt = NULL;
	char *tenant = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': c.reason = optarg; break;
		case 'n': topt = optarg; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one GRANT_ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (context_tenant(l, topt, ao.delegation, &tenant, &err) < 0 ||
	    am_grant_find(l, tenant, argv[optind], &c.idx, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	req.tool = am_json_text(c.idx, "toolName");
	if (strchr(req.tool, '/'))
		req.tool = strrchr(req.tool, '/') + 1;
	req.profile = am_json_text(c.idx, "profile");
	req.tenant = tenant;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0)
		goto out;
	c.auth = &auth;
	if (am_ledger_transact(l, revoke_txn, &c, NULL, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "revoked", am_json_text(c.idx, "id"));
		cJSON_AddStringToObject(o, "record", c.record);
		cJSON_AddStringToObject(o, "operation", c.op);
		am_print_json(o);
	} else {
		am_info(ctx, "am: revoked %s (%s)", am_json_text(c.idx, "id"), c.op);
	}
out:
	free(tenant);
	cJSON_Delete(c.idx);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

static const char *
grant_state(const cJSON *g)
{
	int64_t exp;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "revoked")))
		return "revoked";
	if (am_time_parse(am_json_text(g, "expiresAt"), &exp) == 0 && exp <= am_now())
		return "expired";
	return "active";
}

static int
grant_list(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "active", no_argument, NULL, 'a' },
		{ "tenant", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *topt = NULL;
	char *tenant = NULL;
	cJSON *all = NULL, *g, *out = cJSON_CreateArray();
	int ch, active = 0, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': active = 1; break;
		case 'n': topt = optarg; break;
		case 'j': ctx->json = 1; break;
		default: cJSON_Delete(out); return am_usage_error(ctx, "bad option");
		}
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0) {
		cJSON_Delete(out);
		return rc;
	}
	if (context_tenant(l, topt, NULL, &tenant, &err) < 0 || am_grants_list(l, tenant, &all, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	cJSON_ArrayForEach(g, all) {
		const char *st = grant_state(g);

		if (active && strcmp(st, "active") != 0)
			continue;
		if (ctx->json) {
			cJSON *e = cJSON_Duplicate(g, 1);

			cJSON_AddStringToObject(e, "state", st);
			cJSON_AddItemToArray(out, e);
		} else {
			printf("%s  %-8s %-12s %-16s %s\n", am_json_text(g, "id") + strlen(AM_GRANT_URN), st,
			       am_json_text(g, "toolName"), am_json_text(g, "grantee"), am_json_text(g, "path"));
		}
	}
	if (ctx->json) {
		am_print_json(out);
		out = NULL;
	}
out:
	cJSON_Delete(out);
	cJSON_Delete(all);
	free(tenant);
	am_ledger_free(l);
	return rc;
}

static int
grant_show(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tenant", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *topt = NULL;
	char *tenant = NULL;
	cJSON *idx = NULL, *rec = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': topt = optarg; break;
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one GRANT_ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (context_tenant(l, topt, NULL, &tenant, &err) < 0 ||
	    am_grant_find(l, tenant, argv[optind], &idx, &err) < 0 ||
	    am_ledger_artifact(l, am_json_text(idx, "record"), &rec, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	cJSON_AddStringToObject(rec, "ref", am_json_text(idx, "record"));
	cJSON_AddStringToObject(rec, "status", grant_state(idx));
	am_print_json(rec);
	rec = NULL;
out:
	cJSON_Delete(idx);
	cJSON_Delete(rec);
	free(tenant);
	am_ledger_free(l);
	return rc;
}

static int
grant_check(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "tenant", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *topt = NULL, *to = NULL;
	char *tenant = NULL, *path = NULL;
	cJSON *g = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': to = optarg; break;
		case 'n': topt = optarg; break;
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1 || to == NULL)
		return am_usage_error(ctx, "expected TOOL --to DELEGATE");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (context_tenant(l, topt, NULL, &tenant, &err) < 0 ||
	    am_tool_resolve(argv[optind], NULL, NULL, &path, &err) < 0 ||
	    am_grant_check(l, tenant, to, path, &g, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddBoolToObject(o, "granted", 1);
		cJSON_AddStringToObject(o, "grantId", am_json_text(g, "id"));
		cJSON_AddStringToObject(o, "path", path);
		am_print_json(o);
	} else if (!ctx->quiet) {
		printf("granted: %s to '%s' (%s)\n", path, to, am_json_text(g, "id"));
	}
out:
	cJSON_Delete(g);
	free(path);
	free(tenant);
	am_ledger_free(l);
	return rc;
}

static int
cmd_tool_grant_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "apply", grant_apply }, { "revoke", grant_revoke }, { "list", grant_list },
		{ "show", grant_show }, { "check", grant_check },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_tool_grant = {
	.name = "tool-grant",
	.summary = "apply, revoke and inspect tool grants",
	.usage = "apply TOOL --to DELEGATE [--profile NAME] [--expires D] [--tenant T]\n"
		 "    [--key FILE | --delegation TOKEN]\n"
		 "revoke GRANT_ID [--reason TEXT] [--tenant T] [--key FILE | --delegation TOKEN]\n"
		 "list [--active] [--tenant T] [--json]\n"
		 "show GRANT_ID [--tenant T] [--json]\n"
		 "check TOOL --to DELEGATE [--tenant T] [--json]",
	.exec = cmd_tool_grant_exec,
};
