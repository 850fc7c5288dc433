/* show.c - am show: print any artifact or operation. */
#include <getopt.h>

#include "am.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"

/* Resolve "sha256:<hex>", "<hex>" or a 6+ char hex prefix to a full
 * artifact id.  Returns 0 found, 1 not found, -1 error (ambiguous). */
static int
resolve_artifact(struct am_ledger *l, const char *spec, char **id, struct am_error **err)
{
	const char *h = am_starts_with(spec, "sha256:") ? spec + 7 : spec;
	size_t n, i, hits = 0, hl = strlen(h);
	char **names = NULL;
	char dir[32];

	*id = NULL;
	if (hl < 6 || hl > 64 || strspn(h, "0123456789abcdef") != hl)
		return 1;
	snprintf(dir, sizeof(dir), "artifacts/%.2s/%.2s", h, h + 2);
	if (am_ledger_list(l, dir, &names, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], h, hl) == 0) {
			hits++;
			free(*id);
			*id = am_xasprintf("sha256:%s", names[i]);
		}
	}
	am_strv_free(names);
	if (hits > 1) {
		free(*id);
		*id = NULL;
		return am_error_set(err, AM_EUSAGE, "artifact prefix '%s' is ambiguous", spec);
	}
	return hits ? 0 : 1;
}

static int
show_operation(struct am_ctx *ctx, struct am_ledger *l, const char *id)
{
	struct am_error *err = NULL;
	cJSON *idx = NULL, *op = NULL, *task = NULL, *events = cJSON_CreateArray(), *e;
	int rc = 0;

	if (am_op_index(l, id, &idx, &err) < 0 ||
	    am_ledger_artifact(l, am_json_text(idx, "operation"), &op, &err) < 0 ||
	    am_ledger_artifact(l, am_json_text(idx, "task"), &task, &err) < 0)
		goto fail;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(idx, "events")) {
		cJSON *ev = NULL;

		if (am_ledger_artifact(l, e->valuestring, &ev, &err) < 0)
			goto fail;
		cJSON_AddStringToObject(ev, "id", e->valuestring);
		cJSON_AddItemToArray(events, ev);
	}
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(op, "ref", am_json_text(idx, "operation"));
		cJSON_AddItemToObject(doc, "operation", op);
		cJSON_AddItemToObject(doc, "task", task);
		cJSON_AddItemToObject(doc, "events", events);
		am_print_json(doc);
		op = task = events = NULL;
	} else {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(op, "actor"), *r;

		printf("operation %s\n", id);
		printf("type      %s\n", am_json_text(op, "operationType"));
		printf("state     %s\n", am_json_text(op, "state"));
		printf("actor     %s %s%s%s\n", am_json_text(a, "type"), am_json_text(a, "name"),
		       *am_json_text(a, "key") ? " " : "", am_json_text(a, "key"));
		if (*am_json_text(op, "delegationRef"))
			printf("delegation %s\n", am_json_text(op, "delegationRef"));
		if (*am_json_text(op, "tenant"))
			printf("tenant    %s\n", am_json_text(op, "tenant"));
		printf("created   %s\nupdated   %s\n", am_json_text(op, "createdAt"), am_json_text(op, "updatedAt"));
		printf("record    %s\n", am_json_text(idx, "operation"));
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(op, "artifactRefs"))
			printf("artifact  %s\n", r->valuestring);
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(op, "decisionRefs"))
			printf("decision  %s\n", r->valuestring);
		printf("\nevents:\n");
		cJSON_ArrayForEach(e, events) {
			const char *from = am_json_text(e, "fromState");

			const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "details"), *v;

			printf("  %3d %s  %-8s  %s%s%s",
			       (int)cJSON_GetObjectItemCaseSensitive(e, "sequence")->valuedouble,
			       am_json_text(e, "at"), am_json_text(e, "eventType"), from, *from ? " -> " : "",
			       am_json_text(e, "toState"));
			/* Why it moved, in a word or two: the scalar details. */
			cJSON_ArrayForEach(v, d) {
				if (cJSON_IsString(v) && strlen(v->valuestring) <= 80 &&
				    !am_starts_with(v->valuestring, "sha256:"))
					printf("  %s=%s", v->string, v->valuestring);
				else if (cJSON_IsNumber(v))
					printf("  %s=%.0f", v->string, v->valuedouble);
			}
			putchar('\n');
		}
	}
	goto out;
fail:
	rc = am_report(ctx, err);
out:
	cJSON_Delete(idx);
	cJSON_Delete(op);
	cJSON_Delete(task);
	cJSON_Delete(events);
	return rc;
}

static int
cmd_show_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	char *art = NULL, *op = NULL;
	const char *spec;
	int c, rc, ra, ro = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'j')
			ctx->json = 1;
		else
			return am_usage_error(ctx, "bad option");
	}
	if (argc - optind != 1)
		return am_usage_error(ctx, "expected one ID");
	spec = argv[optind];
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	ra = am_starts_with(spec, "urn:") ? 1 : resolve_artifact(l, spec, &art, &err);
	if (ra < 0)
		goto fail;
	if (!am_starts_with(spec, "sha256:")) {
		struct am_error *e2 = NULL;

		ro = am_op_resolve(l, spec, &op, &e2) == 0 ? 0 : 1;
		if (ro && e2 && e2->cls == AM_EUSAGE && strstr(e2->msg, "ambiguous")) {
			err = e2;
			goto fail;
		}
		am_error_free(e2);
	}
	if (ra == 0 && ro == 0) {
		am_error_set(&err, AM_EUSAGE, "'%s' names both an artifact and an operation; give more",
			     spec);
		goto fail;
	}
	if (ro == 0) {
		rc = show_operation(ctx, l, op);
	} else if (ra == 0) {
		cJSON *doc = NULL;

		if (am_ledger_artifact(l, art, &doc, &err) < 0)
			goto fail;
		am_print_json(doc);
	} else {
		am_error_set(&err, AM_ENOTFOUND, "no artifact or operation '%s'", spec);
		goto fail;
	}
	goto out;
fail:
	rc = am_report(ctx, err);
out:
	free(art);
	free(op);
	am_ledger_free(l);
	return rc;
}

const struct am_cmd am_cmd_show = {
	.name = "show",
	.summary = "print an artifact or an operation",
	.usage = "[--json] ID",
	.exec = cmd_show_exec,
};
