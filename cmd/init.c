/* init.c - am init: create a workspace and its signed ledger. */
#include <getopt.h>

#include "am.h"
#include "workspace.h"

static int
cmd_init_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "owner-key", required_argument, NULL, 'k' },
		{ "owner-name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_init_opts o = { 0 };
	struct am_init_result r;
	struct am_error *err = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o.owner_key = optarg; break;
		case 'n': o.owner_name = optarg; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (argc - optind > 1)
		return am_usage_error(ctx, "too many arguments");
	o.dir = optind < argc ? argv[optind] : ".";
	if (am_workspace_init(&o, &r, &err) < 0) {
		am_init_result_free(&r);
		return am_report(ctx, err);
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject(), *owner;

		cJSON_AddBoolToObject(doc, "created", !r.existed);
		cJSON_AddStringToObject(doc, "workspace", r.workspace_id);
		cJSON_AddStringToObject(doc, "root", r.root);
		if (!r.existed) {
			cJSON_AddStringToObject(doc, "commit", r.commit);
			cJSON_AddStringToObject(doc, "operation", r.operation_id);
			owner = cJSON_AddObjectToObject(doc, "owner");
			cJSON_AddStringToObject(owner, "name", r.owner_name);
			cJSON_AddStringToObject(owner, "fingerprint", r.owner_fingerprint);
			cJSON_AddStringToObject(owner, "keyFile", r.owner_key_path);
			cJSON_AddBoolToObject(owner, "generated", r.owner_generated);
		}
		am_print_json(doc);
	} else if (r.existed) {
		am_info(ctx, "am: '%s' is already an am workspace (%s); nothing to do", r.root,
			r.workspace_id);
	} else if (!ctx->quiet) {
		printf("Initialized am workspace %s in %s/.am/\n", r.workspace_id, r.root);
		printf("owner %s %s (%s%s)\n", r.owner_name, r.owner_fingerprint, r.owner_key_path,
		       r.owner_generated ? ", generated" : "");
		printf("commit %s %s\n", r.commit, r.operation_id);
		if (r.git_excluded)
			printf("added .am/ to .git/info/exclude\n");
	}
	am_init_result_free(&r);
	return 0;
}

const struct am_cmd am_cmd_init = {
	.name = "init",
	.summary = "create a workspace and its signed ledger",
	.usage = "[--owner-key PUBFILE] [--owner-name NAME] [DIR]",
	.exec = cmd_init_exec,
};
