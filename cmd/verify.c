/* verify.c - am verify: check hashes, signatures, history and transitions. */
#include "am.h"
#include "ledger.h"
#include "verify.h"

static int
cmd_verify_exec(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_verify_report rep;
	struct am_error *err = NULL;
	int rc;

	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctx->json = 1;
		else if (strcmp(argv[i], "-q") == 0)
			ctx->quiet = 1;
		else
			return am_usage_error(ctx, "unexpected argument '%s'", argv[i]);
	}
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (am_verify(l, &rep, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddBoolToObject(doc, "ok", 1);
		cJSON_AddStringToObject(doc, "workspace", am_ledger_workspace_id(l));
		cJSON_AddNumberToObject(doc, "commits", (double)rep.commits);
		cJSON_AddNumberToObject(doc, "artifacts", (double)rep.artifacts);
		cJSON_AddNumberToObject(doc, "operations", (double)rep.operations);
		cJSON_AddNumberToObject(doc, "events", (double)rep.events);
		cJSON_AddNumberToObject(doc, "delegations", (double)rep.delegations);
		am_print_json(doc);
	} else if (!ctx->quiet) {
		printf("ok: %zu commits signed, %zu artifacts, %zu operations, %zu events, %zu delegations verified\n",
		       rep.commits, rep.artifacts, rep.operations, rep.events, rep.delegations);
	}
	am_ledger_free(l);
	return 0;
}

const struct am_cmd am_cmd_verify = {
	.name = "verify",
	.summary = "check artifact hashes, commit signatures, history and transitions",
	.usage = "[--json] [-q]",
	.exec = cmd_verify_exec,
};
