/* delegation.c - am delegation: create, show, list, verify and revoke
 * signed delegations (tokens: am-delegation(7)). */
#include <getopt.h>

#include "am.h"
#include "authority.h"
#include "canon.h"
#include "ledger.h"
#include "sshkey.h"

static int
deleg_create(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "operations", required_argument, NULL, 'o' },
		{ "profile", required_argument, NULL, 'p' },
		{ "tools", required_argument, NULL, 'T' },
		{ "model-providers", required_argument, NULL, 'm' },
		{ "budget", required_argument, NULL, 'b' },
		{ "expires", required_argument, NULL, 'e' },
		{ "tenant", required_argument, NULL, 'n' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_delegation_req r = { 0 };
	struct am_authz auth = { 0 };
	struct am_ledger *l = NULL;
	struct am_key *key = NULL;
	struct am_error *err = NULL;
	char **ops = NULL, **tools = NULL, **provs = NULL;
	char *token = NULL, *jti = NULL, *parent = NULL;
	char op[AM_OP_ID_LEN];
	const char *expires = NULL;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't': r.to = optarg; break;
		case 'o': am_strv_free(ops); ops = am_split_list(optarg); break;
		case 'p': r.profile = optarg; break;
		case 'T': am_strv_free(tools); tools = am_split_list(optarg); break;
		case 'm': am_strv_free(provs); provs = am_split_list(optarg); break;
		case 'b':
			if (am_budget_parse(optarg, &r.budget, &err) < 0) {
				rc = am_report(ctx, err);
				goto out;
			}
			break;
		case 'e': expires = optarg; break;
		case 'n': r.tenant = optarg; break;
		AM_AUTH_CASES(ao);
		default: rc = am_usage_error(ctx, "bad option"); goto out;
		}
	}
	if (optind < argc) {
		rc = am_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (r.to == NULL || ops == NULL) {
		rc = am_usage_error(ctx, "--to and --operations are required");
		goto out;
	}
	if (expires) {
		int64_t d;

		if (am_time_parse(expires, &r.expires) < 0) {
			if (am_duration_parse(expires, &d) < 0 || d == 0) {
				rc = am_usage_error(ctx, "--expires '%s': expected a duration (90m, 8h, 7d) or an RFC 3339 time",
						    expires);
				goto out;
			}
			r.expires = am_now() + d;
		}
	}
	r.operations = (const char *const *)ops;
	r.tools = (const char *const *)tools;
	r.providers = (const char *const *)provs;
	if (ao.key && ao.delegation) {
		rc = am_usage_error(ctx, "--key and --delegation are alternatives; give one");
		goto out;
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		goto out;
	if (am_token_arg(ao.delegation, &parent, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ao.key || (parent == NULL && getenv("AM_KEY"))) {
		/* A root delegation: the principal's own key signs it. */
		struct am_authz_req req = { .operation = "agent_machine.delegation.create" };
		struct am_auth_opts keyonly = { ao.key, NULL };

		free(parent);
		parent = NULL;
		if ((rc = am_cmd_authorize(ctx, l, &keyonly, &req, &auth)) != 0)
			goto out;
		if (am_key_load(ao.key ? ao.key : getenv("AM_KEY"), &key, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
		if (r.profile == NULL) {
			rc = am_usage_error(ctx, "--profile is required for a root delegation");
			goto out;
		}
	} else if (parent) {
		if (am_authorize_holder(l, parent, &auth, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
	} else {
		am_error_set(&err, AM_EAUTH, "no delegated authority for agent_machine.delegation.create");
		rc = am_report(ctx, err);
		goto out;
	}
	if (am_delegation_create(l, &auth, key, parent, &r, &token, &jti, op, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "token", token);
		cJSON_AddStringToObject(doc, "id", jti);
		cJSON_AddStringToObject(doc, "operation", op);
		am_print_json(doc);
	} else {
		/* The token goes to stdout alone, so $(am delegation create ...)
		 * captures exactly it; everything else goes to stderr. */
		puts(token);
		am_info(ctx, "am: delegation %s for '%s' (%s)", jti, r.to, op);
	}
out:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(parent);
	free(jti);
	am_strv_free(ops);
	am_strv_free(tools);
	am_strv_free(provs);
	am_key_free(key);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

/* Status of a recorded delegation: revoked (itself or an ancestor), expired, active. */
static const char *
status_of(struct am_ledger *l, const char *jti, const cJSON *artifact)
{
	int64_t exp;

	if (am_delegation_revoked(l, jti))
		return "revoked";
	if (am_time_parse(am_json_text(artifact, "expiresAt"), &exp) == 0 && exp <= am_now())
		return "expired";
	return "active";
}

static int
load_artifact(struct am_ledger *l, const char *jti, cJSON **doc, struct am_error **err)
{
	cJSON *idx = NULL;
	int rc;

	if (am_delegation_index(l, jti, &idx, err) < 0)
		return -1;
	rc = am_ledger_artifact(l, am_json_text(idx, "artifact"), doc, err);
	cJSON_Delete(idx);
	return rc;
}

static int
deleg_show(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *jti = NULL;
	cJSON *doc = NULL;
	int rc, i;
	const char *spec = NULL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (spec == NULL)
			spec = argv[i];
		else
			return am_usage_error(ctx, "expected one ID");
	}
	if (spec == NULL)
		return am_usage_error(ctx, "expected one ID");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (am_delegation_resolve(l, spec, &jti, &err) < 0 || load_artifact(l, jti, &doc, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	cJSON_AddStringToObject(doc, "status", status_of(l, jti, doc));
	/* The record signature is for am verify; it is noise here. */
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "recordSignature");
	am_print_json(doc);
	doc = NULL;
out:
	cJSON_Delete(doc);
	free(jti);
	am_ledger_free(l);
	return rc;
}

static int
deleg_list(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char **ids = NULL;
	size_t n, j;
	cJSON *out = cJSON_CreateArray();
	int rc;

	if (argc > 1 && strcmp(argv[1], "--json") == 0)
		ctx->json = 1;
	else if (argc > 1) {
		cJSON_Delete(out);
		return am_usage_error(ctx, "unexpected argument '%s'", argv[1]);
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0) {
		cJSON_Delete(out);
		return rc;
	}
	if (am_ledger_list_fanout(l, "delegations", &ids, &n, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	for (j = 0; j < n; j++) {
		cJSON *doc = NULL;
		const char *st;

		if (load_artifact(l, ids[j], &doc, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
		st = status_of(l, ids[j], doc);
		if (ctx->json) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "id", ids[j]);
			cJSON_AddStringToObject(e, "subject", am_json_text(doc, "subject"));
			cJSON_AddStringToObject(e, "issuer", am_json_text(doc, "issuer"));
			cJSON_AddStringToObject(e, "profile", am_json_text(doc, "profile"));
			cJSON_AddStringToObject(e, "expiresAt", am_json_text(doc, "expiresAt"));
			if (*am_json_text(doc, "parentRef"))
				cJSON_AddStringToObject(e, "parent", am_json_text(doc, "parentRef"));
			cJSON_AddStringToObject(e, "status", st);
			cJSON_AddItemToArray(out, e);
		} else {
			printf("%s  %-8s %-16s %-16s %s\n", ids[j], st, am_json_text(doc, "subject"),
			       am_json_text(doc, "profile"), am_json_text(doc, "expiresAt"));
		}
		cJSON_Delete(doc);
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

static int
deleg_verify(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	struct am_chain chain;
	char *token = NULL;
	const char *arg = NULL;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (arg == NULL)
			arg = argv[i];
		else
			return am_usage_error(ctx, "expected one TOKEN");
	}
	if (arg == NULL)
		return am_usage_error(ctx, "expected one TOKEN (or @FILE, or - for stdin)");
	if (strcmp(arg, "-") == 0) {
		size_t len;

		if (am_read_fd(0, 1 << 20, &token, &len, &err) < 0)
			return am_report(ctx, err);
		token[strcspn(token, "\r\n")] = '\0';
	} else if (am_token_arg(arg, &token, &err) < 0) {
		return am_report(ctx, err);
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		goto out;
	if (am_delegation_verify(l, token, am_now(), &chain, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(doc, "chain");
		cJSON *claims = cJSON_Duplicate(chain.claims, 1);
		size_t k;

		cJSON_AddBoolToObject(doc, "valid", 1);
		cJSON_AddStringToObject(doc, "id", chain.jti[0]);
		cJSON_AddStringToObject(doc, "rootIssuer", chain.issuer);
		for (k = 0; k < chain.depth; k++)
			cJSON_AddItemToArray(ids, cJSON_CreateString(chain.jti[k]));
		/* Never echo the parent token: it is a credential. */
		cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(claims, "am"), "prf");
		cJSON_AddItemToObject(doc, "claims", claims);
		am_print_json(doc);
	} else {
		printf("valid: delegation %s for '%s', chain of %zu to %s, expires ", chain.jti[0],
		       chain.subject, chain.depth, chain.issuer);
		{
			char t[21];

			am_time_format(t, chain.exp);
			printf("%s\n", t);
		}
	}
	am_chain_free(&chain);
out:
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	am_ledger_free(l);
	return rc;
}

static int
deleg_revoke(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz_req req = { .operation = "agent_machine.delegation.revoke" };
	struct am_authz auth = { 0 };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *reason = NULL;
	char *jti = NULL;
	char op[AM_OP_ID_LEN];
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': reason = optarg; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one ID");
	if (ao.key && ao.delegation)
		return am_usage_error(ctx, "--key and --delegation are alternatives; give one");
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (am_delegation_resolve(l, argv[optind], &jti, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ao.key == NULL && (ao.delegation || getenv("AM_KEY") == NULL)) {
		/* Acting under a delegation: holding it (or an ancestor) is the
		 * authority to revoke it, checked in am_delegation_revoke. */
		char *token = NULL;

		if (am_token_arg(ao.delegation, &token, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
		if (token == NULL) {
			am_error_set(&err, AM_EAUTH, "no delegated authority for %s", req.operation);
			rc = am_report(ctx, err);
			goto out;
		}
		rc = am_authorize_holder(l, token, &auth, &err) < 0 ? am_report(ctx, err) : 0;
		explicit_bzero(token, strlen(token));
		free(token);
		if (rc)
			goto out;
	} else if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0) {
		goto out;
	}
	if (am_delegation_revoke(l, &auth, jti, reason, op, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "revoked", jti);
		cJSON_AddStringToObject(doc, "operation", op);
		am_print_json(doc);
	} else {
		am_info(ctx, "am: revoked delegation %s and its descendants (%s)", jti, op);
	}
out:
	free(jti);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

static int
cmd_delegation_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "create", deleg_create }, { "show", deleg_show }, { "list", deleg_list },
		{ "verify", deleg_verify }, { "revoke", deleg_revoke },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_delegation = {
	.name = "delegation",
	.summary = "create, inspect, verify and revoke signed delegations",
	.usage = "create --to DELEGATE --operations LIST --profile NAME [--tools LIST]\n"
		 "    [--model-providers LIST] [--budget k=v,...] [--expires DURATION|TIME]\n"
		 "    [--tenant T] [--key FILE | --delegation PARENT]\n"
		 "show [--json] ID\n"
		 "list [--json]\n"
		 "verify [--json] TOKEN|@FILE|-\n"
		 "revoke ID [--reason TEXT] [--key FILE | --delegation TOKEN]",
	.exec = cmd_delegation_exec,
};
