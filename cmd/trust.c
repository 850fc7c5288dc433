/* trust.c - am trust: the principals a workspace trusts (owner only). */
#include <getopt.h>

#include "am.h"
#include "authority.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"
#include "workspace.h"

struct trust_ctx {
	const struct am_authz *auth;
	const char *name;
	const char *role;
	const struct am_key *key; /* add only */
	char op[AM_OP_ID_LEN];
};

static int
add_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct trust_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	cJSON *trust = NULL, *details;
	char ref[AM_ID_LEN];
	int exists;

	if (am_trust_index(t, &trust, err) < 0)
		return -1;
	exists = cJSON_HasObjectItem(trust, c->name);
	{
		const char *other = NULL;

		/* One key, one principal: a kid must name exactly one of them. */
		if (!exists && am_trust_find_key(trust, c->key->pk, &other)) {
			am_error_set(err, AM_ECONFLICT, "that key is already trusted as '%s'", other);
			cJSON_Delete(trust);
			return -1;
		}
	}
	cJSON_Delete(trust);
	if (exists)
		return am_error_set(err, AM_ECONFLICT,
				    "a principal named '%s' is already trusted; remove it first", c->name);
	if (am_op_create(t, "agent_machine.trust.add", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0 ||
	    am_trust_put(t, c->name, c->role, c->key, c->auth->name, ref, err) < 0 ||
	    am_op_link(t, c->op, "artifactRefs", ref, err) < 0)
		return -1;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "principal", c->name);
	cJSON_AddStringToObject(details, "role", c->role);
	cJSON_AddStringToObject(details, "principalRef", ref);
	return am_op_transition(t, c->op, "completed", NULL, details, err);
}

static int
remove_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct trust_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	cJSON *trust = NULL, *details, *p;
	struct am_key *mk = NULL;
	const char *role;
	int owners = 0, rc = -1;

	if (am_trust_index(t, &trust, err) < 0)
		return -1;
	p = cJSON_GetObjectItemCaseSensitive(trust, c->name);
	if (p == NULL) {
		am_error_set(err, AM_ENOTFOUND, "no trusted principal '%s'", c->name);
		goto out;
	}
	role = am_json_text(p, "role");
	{
		const cJSON *q;

		cJSON_ArrayForEach(q, trust)
			owners += strcmp(am_json_text(q, "role"), "owner") == 0;
	}
	/* Refuse to lock everyone out: the last owner, or the key this very
	 * machine signs the ledger with, cannot be removed. */
	if (strcmp(role, "owner") == 0 && owners == 1) {
		am_error_set(err, AM_ECONFLICT, "'%s' is the last owner; add another owner first", c->name);
		goto out;
	}
	if (strcmp(role, "machine") == 0 && am_machine_key(0, &mk, NULL) == 0) {
		struct am_key *pk = NULL;
		int self = am_key_parse_public(am_json_text(p, "key"), &pk, NULL) == 0 &&
			   memcmp(pk->pk, mk->pk, 32) == 0;

		am_key_free(pk);
		if (self) {
			am_error_set(err, AM_ECONFLICT,
				     "'%s' is this machine's ledger key; removing it would stop this machine from signing",
				     c->name);
			goto out;
		}
	}
	if (am_op_create(t, "agent_machine.trust.remove", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0 ||
	    am_trust_remove(t, c->name, err) < 0)
		goto out;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "principal", c->name);
	cJSON_AddStringToObject(details, "role", role);
	cJSON_AddStringToObject(details, "principalRef", am_json_text(p, "principal"));
	rc = am_op_transition(t, c->op, "completed", NULL, details, err);
out:
	am_key_free(mk);
	cJSON_Delete(trust);
	return rc;
}

static int
trust_change(struct am_ctx *ctx, int argc, char **argv, int add)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		AM_AUTH_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct am_auth_opts ao = { 0 };
	struct am_authz_req req = { 0 };
	struct am_authz auth;
	struct trust_ctx c = { 0 };
	struct am_ledger *l = NULL;
	struct am_key *k = NULL;
	struct am_error *err = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': c.name = optarg; break;
		case 'r': c.role = optarg; break;
		AM_AUTH_CASES(ao);
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, add ? "expected one PUBFILE" : "expected one NAME");
	if (add) {
		if (c.name == NULL || c.role == NULL)
			return am_usage_error(ctx, "--name and --role are required");
		if (strcmp(c.role, "owner") && strcmp(c.role, "operator") && strcmp(c.role, "machine"))
			return am_usage_error(ctx, "--role '%s': expected owner, operator or machine", c.role);
		if (*c.name == '\0' || strcspn(c.name, " \t\n,\"'*?!@/") != strlen(c.name))
			return am_usage_error(ctx, "--name '%s': no spaces, quotes, ',', '@', '/' or glob characters",
					      c.name);
	} else {
		c.name = argv[optind];
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	req.operation = add ? "agent_machine.trust.add" : "agent_machine.trust.remove";
	req.owner_only = 1;
	if ((rc = am_cmd_authorize(ctx, l, &ao, &req, &auth)) != 0) {
		am_ledger_free(l);
		return rc;
	}
	if (add && am_key_load_public(argv[optind], &k, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	c.auth = &auth;
	c.key = k;
	if (am_ledger_transact(l, add ? add_txn : remove_txn, &c, NULL, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "operation", c.op);
		cJSON_AddStringToObject(doc, "name", c.name);
		if (add) {
			char *fpr = am_key_fingerprint(k);

			cJSON_AddStringToObject(doc, "role", c.role);
			cJSON_AddStringToObject(doc, "fingerprint", fpr);
			free(fpr);
		}
		am_print_json(doc);
	} else {
		am_info(ctx, "am: %s '%s' (%s)", add ? "trusted" : "removed", c.name, c.op);
	}
out:
	am_key_free(k);
	am_authz_free(&auth);
	am_ledger_free(l);
	return rc;
}

static int
trust_list(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	AM_AUTOFREE char *data = NULL;
	cJSON *trust, *p, *out;
	size_t len;
	int rc;

	if (argc > 1 && strcmp(argv[1], "--json") == 0)
		ctx->json = 1;
	else if (argc > 1)
		return am_usage_error(ctx, "unexpected argument '%s'", argv[1]);
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (am_ledger_read(l, "trust.json", &data, &len, &err) < 0 ||
	    (trust = am_trust_parse(data, len, &err)) == NULL) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(p, trust) {
		if (ctx->json) {
			cJSON *e = cJSON_Duplicate(p, 1);

			cJSON_AddStringToObject(e, "name", p->string);
			cJSON_AddItemToArray(out, e);
		} else {
			printf("%-24s %-9s %s\n", p->string, am_json_text(p, "role"), am_json_text(p, "fingerprint"));
		}
	}
	if (ctx->json)
		am_print_json(out);
	else
		cJSON_Delete(out);
	cJSON_Delete(trust);
	am_ledger_free(l);
	return 0;
}

static int
trust_add(struct am_ctx *ctx, int argc, char **argv)
{
	return trust_change(ctx, argc, argv, 1);
}

static int
trust_remove(struct am_ctx *ctx, int argc, char **argv)
{
	return trust_change(ctx, argc, argv, 0);
}

static int
cmd_trust_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "add", trust_add }, { "remove", trust_remove }, { "list", trust_list },
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_trust = {
	.name = "trust",
	.summary = "add, list and remove trusted principals (owner only)",
	.usage = "add PUBFILE --name NAME --role owner|operator|machine [--key FILE]\n"
		 "list [--json]\n"
		 "remove NAME [--key FILE]",
	.exec = cmd_trust_exec,
};
