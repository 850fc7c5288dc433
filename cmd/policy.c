/* policy.c - am policy: check a request against a profile; explain the
 * decisions an operation went through. */
#include <getopt.h>

#include "am.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"
#include "policy.h"
#include "profile.h"

static void
print_decision(const cJSON *d)
{
	const cJSON *r;

	printf("%s\n", am_json_text(d, "decision"));
	printf("  gate      %s\n  resource  %s\n", am_json_text(d, "gate"), am_json_text(d, "resource"));
	if (*am_json_text(d, "tenant"))
		printf("  tenant    %s\n", am_json_text(d, "tenant"));
	printf("  profile   %s\n", am_json_text(d, "profile"));
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(d, "matchedRules"))
		printf("  rule      %s\n", r->valuestring);
	printf("  reason    %s\n", am_json_text(d, "reason"));
}

static int
policy_check(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "action", required_argument, NULL, 'a' },
		{ "resource", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *profile = NULL, *action = NULL, *resource = NULL, *tenant = NULL, *gate;
	struct am_profile p;
	struct am_decision d;
	struct am_error *err = NULL;
	struct am_ledger *l = NULL;
	char *root = NULL;
	cJSON *art;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': profile = optarg; break;
		case 'a': action = optarg; break;
		case 'r': resource = optarg; break;
		case 't': tenant = optarg; break;
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (optind < argc)
		return am_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if (!profile || !action || !resource)
		return am_usage_error(ctx, "--profile, --action and --resource are required");
	gate = am_policy_gate(action);
	if (gate == NULL)
		return am_usage_error(ctx,
				      "--action '%s': expected a gate (toolGrant, networkProfile, modelProviderUse, containerExecution, artifactAccess) or an action such as network.connect",
				      action);
	/* A workspace's recorded profiles count when there is one; a read-only
	 * check needs no authority and records nothing. */
	if (am_workspace_find(".", &root, NULL) == 0)
		am_ledger_open(root, &l, NULL);
	free(root);
	if (am_profile_resolve(l, profile, &p, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	am_ledger_free(l);
	if (am_policy_decide(&p, gate, resource, tenant, &d, &err) < 0) {
		am_profile_free(&p);
		return am_report(ctx, err);
	}
	art = am_decision_artifact(&d, &p, NULL, am_now());
	cJSON_DeleteItemFromObjectCaseSensitive(art, "decidedAt");
	rc = d.permit ? 0 : AM_EDENIED;
	if (ctx->json)
		am_print_json(art);
	else {
		print_decision(art);
		cJSON_Delete(art);
	}
	am_decision_free(&d);
	am_profile_free(&p);
	return rc;
}

static int
policy_explain(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *id = NULL;
	cJSON *idx = NULL, *op = NULL, *out = cJSON_CreateArray();
	const cJSON *r;
	const char *spec = NULL;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (spec == NULL)
			spec = argv[i];
		else
			spec = NULL, i = argc;
	}
	if (spec == NULL) {
		cJSON_Delete(out);
		return am_usage_error(ctx, "expected one operation ID");
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0) {
		cJSON_Delete(out);
		return rc;
	}
	if (am_op_resolve(l, spec, &id, &err) < 0 || am_op_index(l, id, &idx, &err) < 0 ||
	    am_ledger_artifact(l, am_json_text(idx, "operation"), &op, &err) < 0) {
		rc = am_report(ctx, err);
		goto out;
	}
	if (!ctx->json)
		printf("operation %s (%s, %s)\n", id, am_json_text(op, "operationType"), am_json_text(op, "state"));
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(op, "decisionRefs")) {
		cJSON *d = NULL;

		if (am_ledger_artifact(l, r->valuestring, &d, &err) < 0) {
			rc = am_report(ctx, err);
			goto out;
		}
		cJSON_AddStringToObject(d, "id", r->valuestring);
		if (!ctx->json) {
			printf("\n%s  ", r->valuestring);
			print_decision(d);
			cJSON_Delete(d);
		} else {
			cJSON_AddItemToArray(out, d);
		}
	}
	if (ctx->json) {
		am_print_json(out);
		out = NULL;
	} else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(op, "decisionRefs")) == 0) {
		printf("no policy decisions were needed\n");
	}
out:
	cJSON_Delete(out);
	cJSON_Delete(idx);
	cJSON_Delete(op);
	free(id);
	am_ledger_free(l);
	return rc;
}

static int
cmd_policy_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "check", policy_check }, { "explain", policy_explain }
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_policy = {
	.name = "policy",
	.summary = "check requests against a profile and explain recorded decisions",
	.usage = "check --profile NAME --action ACTION --resource R [--tenant T] [--json]\n"
		 "explain [--json] OPERATION",
	.exec = cmd_policy_exec,
};
