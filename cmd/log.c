/* log.c - am log: list events, newest first, like git log. */
#include <getopt.h>

#include "am.h"
#include "canon.h"
#include "ledger.h"
#include "operation.h"

struct log_opts {
	struct am_ctx *ctx;
	char *operation;  /* full id, or NULL */
	const char *type; /* operation type, or NULL */
	int64_t since;    /* 0: no bound */
	long long max;    /* 0: no bound */
	long long shown;
	cJSON *out;       /* --json array */
	cJSON *types;     /* cache: operation id -> type */
};

/* The operation type of an event's operation (cached per run). */
static const char *
op_type(struct am_ledger *l, struct log_opts *o, const char *op_id)
{
	const cJSON *hit = cJSON_GetObjectItemCaseSensitive(o->types, op_id);
	cJSON *idx = NULL;
	const cJSON *t;

	if (cJSON_IsString(hit))
		return hit->valuestring;
	if (am_op_index(l, op_id, &idx, NULL) < 0)
		return "?";
	t = cJSON_GetObjectItemCaseSensitive(idx, "type");
	cJSON_AddStringToObject(o->types, op_id, cJSON_IsString(t) ? t->valuestring : "?");
	cJSON_Delete(idx);
	return cJSON_GetObjectItemCaseSensitive(o->types, op_id)->valuestring;
}

static int
log_commit(struct am_ledger *l, const struct am_commit_info *ci, void *arg,
	   struct am_error **err)
{
	struct log_opts *o = arg;
	char **events;
	size_t n;
	int rc = 0;

	if (o->since && ci->time < o->since)
		return 1; /* history is in time order: nothing older can match */
	events = am_message_trailers(ci->message, "Am-Event");
	for (n = 0; events[n]; n++)
		;
	/* Newest first: the last event of a commit is its newest. */
	while (n-- > 0 && rc == 0) {
		cJSON *ev = NULL;
		const char *opid, *type;

		if (am_ledger_artifact(l, events[n], &ev, err) < 0) {
			rc = -1;
			break;
		}
		opid = am_json_text(ev, "operationId");
		type = op_type(l, o, opid);
		if ((o->operation && strcmp(o->operation, opid) != 0) ||
		    (o->type && strcmp(o->type, type) != 0)) {
			cJSON_Delete(ev);
			continue;
		}
		if (o->ctx->json) {
			cJSON_AddStringToObject(ev, "id", events[n]);
			cJSON_AddStringToObject(ev, "operationType", type);
			cJSON_AddStringToObject(ev, "commit", ci->id);
			cJSON_AddItemToArray(o->out, ev);
			ev = NULL;
		} else {
			const char *from = am_json_text(ev, "fromState");
			AM_AUTOFREE char *st = *from && strcmp(from, am_json_text(ev, "toState")) != 0
				? am_xasprintf("%s->%s", from, am_json_text(ev, "toState"))
				: am_xstrdup(am_json_text(ev, "toState"));
			const char *uuid = strrchr(opid, ':') ? strrchr(opid, ':') + 1 : opid;

			printf("%s  %.8s  %-8s  %-24s  %-30s  %s\n", am_json_text(ev, "at"), uuid,
			       am_json_text(ev, "eventType"), st, type, am_json_text(ev, "actor"));
		}
		cJSON_Delete(ev);
		if (o->max && ++o->shown >= o->max) {
			rc = 1;
			break;
		}
	}
	am_strv_free(events);
	return rc;
}

static int
cmd_log_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "operation", required_argument, NULL, 'o' },
		{ "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "max-count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_opts o = { ctx, NULL, NULL, 0, 0, 0, NULL, NULL };
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	const char *opspec = NULL, *why;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opspec = optarg; break;
		case 't': o.type = optarg; break;
		case 's':
			if (am_time_parse(optarg, &o.since) < 0) {
				int64_t d;

				if (am_duration_parse(optarg, &d) < 0)
					return am_usage_error(ctx,
							      "--since '%s': expected an RFC 3339 time or a duration such as 2h",
							      optarg);
				o.since = am_now() - d;
			}
			break;
		case 'n':
			if ((why = am_strtonum(optarg, 1, 1000000000, &o.max)) != NULL)
				return am_usage_error(ctx, "-n '%s': %s", optarg, why);
			break;
		case 'j': ctx->json = 1; break;
		default: return am_usage_error(ctx, "bad option");
		}
	}
	if (optind < argc)
		return am_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if ((rc = am_open_ledger(ctx, &l)) != 0)
		return rc;
	if (opspec && am_op_resolve(l, opspec, &o.operation, &err) < 0) {
		am_ledger_free(l);
		return am_report(ctx, err);
	}
	o.types = cJSON_CreateObject();
	if (ctx->json)
		o.out = cJSON_CreateArray();
	if (am_ledger_walk(l, log_commit, &o, &err) < 0) {
		rc = am_report(ctx, err);
		cJSON_Delete(o.out);
	} else if (ctx->json) {
		am_print_json(o.out);
	}
	cJSON_Delete(o.types);
	free(o.operation);
	am_ledger_free(l);
	return rc;
}

const struct am_cmd am_cmd_log = {
	.name = "log",
	.summary = "list ledger events, newest first",
	.usage = "[--operation ID] [--type TYPE] [--since TIME] [-n N] [--json]",
	.exec = cmd_log_exec,
};
