/* operation.c - see operation.h */
#include "canon.h"
#include "operation.h"
#include "util.h"

const char *const am_op_states[] = {
	"queued", "preflighting", "running", "paused", "retrying", "canceling",
	"canceled", "failed", "completed", "completed_with_warnings", "blocked",
	"awaiting_decision", "compensated", NULL,
};

const char *const am_event_types[] = {
	"start", "progress", "failure", "retry", "cancel", "complete", NULL,
};

/* The prophet-core v0.1 operation transition table, row by row. */
static const struct {
	const char *from;
	const char *to[10];
} op_table[] = {
	{ "queued", { "preflighting", "running", "canceled", "failed" } },
	{ "preflighting", { "running", "blocked", "awaiting_decision", "failed", "canceled" } },
	{ "awaiting_decision", { "running", "blocked", "canceled", "failed" } },
	{ "blocked", { "awaiting_decision", "running", "failed", "canceled" } },
	{ "running", { "paused", "retrying", "canceling", "failed", "completed",
		       "completed_with_warnings", "blocked", "awaiting_decision" } },
	{ "paused", { "running", "canceling", "failed" } },
	{ "retrying", { "running", "failed", "blocked", "awaiting_decision" } },
	{ "canceling", { "canceled", "completed_with_warnings", "compensated" } },
	{ "failed", { "retrying", "compensated" } },
	{ "completed", { NULL } },
	{ "completed_with_warnings", { NULL } },
	{ "canceled", { "compensated" } },
	{ "compensated", { NULL } },
};

int am_op_state_valid(const char *s) { return s && am_strv_has(am_op_states, s); }
int am_event_type_valid(const char *s) { return s && am_strv_has(am_event_types, s); }

int
am_op_transition_allowed(const char *from, const char *to)
{
	size_t i;

	if (from == NULL)
		return to && strcmp(to, "queued") == 0;
	for (i = 0; i < AM_ARRAY_LEN(op_table); i++)
		if (strcmp(op_table[i].from, from) == 0)
			return to && am_strv_has(op_table[i].to, to);
	return 0;
}

int
am_task_transition_allowed(const char *from, const char *to)
{
	/* The task table is the operation table plus the "stale" state of a
	 * lost lease: running -> stale -> running|failed|canceled. */
	if (from && strcmp(from, "running") == 0 && to && strcmp(to, "stale") == 0)
		return 1;
	if (from && strcmp(from, "stale") == 0)
		return to && (strcmp(to, "running") == 0 || strcmp(to, "failed") == 0 ||
			      strcmp(to, "canceled") == 0);
	return am_op_transition_allowed(from, to);
}

int
am_op_state_terminal(const char *s)
{
	return strcmp(s, "completed") == 0 || strcmp(s, "completed_with_warnings") == 0 ||
	       strcmp(s, "compensated") == 0 || strcmp(s, "canceled") == 0 ||
	       strcmp(s, "failed") == 0;
}

const char *
am_event_type_for(const char *to)
{
	if (strcmp(to, "failed") == 0 || strcmp(to, "blocked") == 0)
		return "failure";
	if (strcmp(to, "retrying") == 0)
		return "retry";
	if (strcmp(to, "canceling") == 0 || strcmp(to, "canceled") == 0)
		return "cancel";
	if (strcmp(to, "completed") == 0 || strcmp(to, "completed_with_warnings") == 0 ||
	    strcmp(to, "compensated") == 0)
		return "complete";
	if (strcmp(to, "paused") == 0 || strcmp(to, "awaiting_decision") == 0)
		return "progress";
	return "start"; /* queued, preflighting, running */
}

char *
am_op_index_path(const char *op_id)
{
	const char *u = am_starts_with(op_id, AM_OP_URN) ? op_id + strlen(AM_OP_URN) : op_id;

	return am_xasprintf("ops/%.2s/%s", u, u);
}

static int
txn_json(struct am_txn *t, const char *path, cJSON **out, struct am_error **err)
{
	AM_AUTOFREE char *data = NULL;
	size_t len;

	if (am_txn_read(t, path, &data, &len, err) < 0)
		return -1;
	*out = am_canon_parse(data, len, err);
	return *out ? 0 : am_error_prefix(err, "ledger file '%s'", path);
}

static int
load_index(struct am_txn *t, const char *op_id, cJSON **idx, struct am_error **err)
{
	AM_AUTOFREE char *path = am_op_index_path(op_id);
	struct am_error *e = NULL;

	if (txn_json(t, path, idx, &e) < 0) {
		if (e->cls == AM_ENOTFOUND) {
			am_error_free(e);
			return am_error_set(err, AM_ENOTFOUND, "no operation '%s'", op_id);
		}
		*err = e;
		return -1;
	}
	return 0;
}

static void
set_str(cJSON *o, const char *key, const char *val)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (val)
		cJSON_AddStringToObject(o, key, val);
	else
		cJSON_AddNullToObject(o, key);
}

/* Write a new snapshot of the artifact named by idx[key], with state and
 * updatedAt changed, linked to its previous version. */
static int
resnapshot(struct am_txn *t, cJSON *idx, const char *key, const char *state,
	   const char *field, const char *ref, struct am_error **err)
{
	AM_AUTOFREE char *path = NULL;
	cJSON *doc = NULL;
	char id[AM_ID_LEN], now[21];
	const char *prev = am_json_str(idx, key);
	int rc = -1;

	if (prev == NULL || (path = am_artifact_path(prev)) == NULL)
		return am_error_set(err, AM_EINTEGRITY, "operation index has no valid '%s'", key);
	if (txn_json(t, path, &doc, err) < 0)
		return -1;
	am_time_format(now, am_txn_time(t));
	if (state)
		set_str(doc, "state", state);
	set_str(doc, "updatedAt", now);
	if (am_txn_staged(t, path)) {
		/* The previous snapshot was made by this same commit: replace it
		 * (keeping its link to the last committed one) rather than keep
		 * intermediate states that no commit ever published. */
		am_txn_unstage(t, path);
	} else {
		set_str(doc, "previous", prev);
	}
	if (field) {
		cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, field);

		if (!cJSON_IsArray(list)) {
			cJSON_DeleteItemFromObjectCaseSensitive(doc, field);
			list = cJSON_AddArrayToObject(doc, field);
		}
		cJSON_AddItemToArray(list, cJSON_CreateString(ref));
	}
	if (am_txn_put_artifact(t, doc, id, err) < 0)
		goto out;
	set_str(idx, key, id);
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}

/* Append an OperationEvent to the operation of idx. */
static int
add_event(struct am_txn *t, const char *op_id, cJSON *idx, const char *ev, const char *from,
	  const char *to, cJSON *details, struct am_error **err)
{
	cJSON *events = cJSON_GetObjectItemCaseSensitive(idx, "events");
	cJSON *doc = cJSON_CreateObject();
	const char *task = am_json_str(idx, "taskId"), *actor = am_json_str(idx, "actor");
	char id[AM_ID_LEN], now[21];
	int n = cJSON_GetArraySize(events);

	am_time_format(now, am_txn_time(t));
	cJSON_AddStringToObject(doc, "kind", "OperationEvent");
	cJSON_AddStringToObject(doc, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(doc, "operationId", op_id);
	cJSON_AddStringToObject(doc, "taskId", task ? task : "");
	cJSON_AddNumberToObject(doc, "sequence", n + 1);
	cJSON_AddStringToObject(doc, "eventType", ev);
	set_str(doc, "fromState", from);
	cJSON_AddStringToObject(doc, "toState", to);
	cJSON_AddStringToObject(doc, "at", now);
	cJSON_AddStringToObject(doc, "actor", actor ? actor : "");
	if (n > 0)
		cJSON_AddStringToObject(doc, "previousEventRef",
					cJSON_GetArrayItem(events, n - 1)->valuestring);
	cJSON_AddItemToObject(doc, "details", details ? details : cJSON_CreateObject());
	if (am_txn_put_artifact(t, doc, id, err) < 0) {
		cJSON_Delete(doc);
		return -1;
	}
	cJSON_Delete(doc);
	cJSON_AddItemToArray(events, cJSON_CreateString(id));
	am_txn_trailer(t, "Am-Event", id);
	return 0;
}

int
am_op_create(struct am_txn *t, const char *op_type, const struct am_actor *actor,
	     const char *idempotency_key, char id_out[AM_OP_ID_LEN], struct am_error **err)
{
	char uuid[37], tuuid[37], now[21], opref[AM_ID_LEN], taskref[AM_ID_LEN];
	AM_AUTOFREE char *task_id = NULL;
	AM_AUTOFREE char *path = NULL;
	AM_AUTOFREE char *subject = NULL;
	cJSON *op = cJSON_CreateObject(), *task = cJSON_CreateObject(), *idx = NULL, *a;
	int rc = -1;

	am_uuid(uuid);
	am_uuid(tuuid);
	snprintf(id_out, AM_OP_ID_LEN, "%s%s", AM_OP_URN, uuid);
	task_id = am_xasprintf("%s%s", AM_TASK_URN, tuuid);
	am_time_format(now, am_txn_time(t));

	cJSON_AddStringToObject(op, "kind", "WorkspaceOperation");
	cJSON_AddStringToObject(op, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(op, "id", id_out);
	cJSON_AddStringToObject(op, "operationType", op_type);
	cJSON_AddStringToObject(op, "state", "queued");
	{
		/* During am init there is no opened ledger yet: read the id the
		 * same transaction staged. */
		AM_AUTOFREE char *ws = NULL;

		if (am_txn_read(t, "workspace", &ws, NULL, NULL) == 0)
			ws[strcspn(ws, "\n")] = '\0';
		cJSON_AddStringToObject(op, "workspaceId", ws ? ws : "");
	}
	a = cJSON_AddObjectToObject(op, "actor");
	cJSON_AddStringToObject(a, "type", actor->type);
	cJSON_AddStringToObject(a, "name", actor->name);
	if (actor->key)
		cJSON_AddStringToObject(a, "key", actor->key);
	set_str(op, "delegationRef", actor->delegation);
	if (actor->tenant)
		cJSON_AddStringToObject(op, "tenant", actor->tenant);
	cJSON_AddStringToObject(op, "idempotencyKey", idempotency_key ? idempotency_key : uuid);
	cJSON_AddStringToObject(op, "createdAt", now);
	cJSON_AddStringToObject(op, "updatedAt", now);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(op, "taskRefs"), cJSON_CreateString(task_id));
	cJSON_AddArrayToObject(op, "artifactRefs");
	cJSON_AddArrayToObject(op, "decisionRefs");

	cJSON_AddStringToObject(task, "kind", "OperationTask");
	cJSON_AddStringToObject(task, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(task, "id", task_id);
	cJSON_AddStringToObject(task, "operationId", id_out);
	cJSON_AddStringToObject(task, "taskType", op_type);
	cJSON_AddStringToObject(task, "state", "queued");
	cJSON_AddStringToObject(task, "createdAt", now);
	cJSON_AddStringToObject(task, "updatedAt", now);

	if (am_txn_put_artifact(t, op, opref, err) < 0 ||
	    am_txn_put_artifact(t, task, taskref, err) < 0)
		goto out;
	idx = cJSON_CreateObject();
	cJSON_AddStringToObject(idx, "id", id_out);
	cJSON_AddStringToObject(idx, "type", op_type);
	cJSON_AddStringToObject(idx, "state", "queued");
	cJSON_AddStringToObject(idx, "operation", opref);
	cJSON_AddStringToObject(idx, "task", taskref);
	cJSON_AddStringToObject(idx, "taskId", task_id);
	cJSON_AddStringToObject(idx, "actor", actor->name);
	cJSON_AddStringToObject(idx, "createdAt", now);
	cJSON_AddArrayToObject(idx, "events");
	subject = am_xasprintf("%s %s", op_type, id_out);
	am_txn_subject(t, subject);
	/* The commit's author is who acted (SPEC section 3): the principal's
	 * key fingerprint, or the delegation it acted under. */
	{
		AM_AUTOFREE char *email = actor->key ? am_xstrdup(actor->key)
				       : actor->delegation ? am_xasprintf("delegation:%s", actor->delegation)
							   : am_xstrdup(actor->type);

		am_txn_author(t, actor->name, email);
	}
	am_txn_trailer(t, "Am-Operation", id_out);
	if (add_event(t, id_out, idx, "start", NULL, "queued", NULL, err) < 0)
		goto out;
	path = am_op_index_path(id_out);
	rc = am_txn_put_json(t, path, idx, err);
out:
	cJSON_Delete(op);
	cJSON_Delete(task);
	cJSON_Delete(idx);
	return rc;
}

int
am_op_transition(struct am_txn *t, const char *op_id, const char *to, const char *ev,
		 cJSON *details, struct am_error **err)
{
	cJSON *idx = NULL;
	AM_AUTOFREE char *from = NULL;
	AM_AUTOFREE char *path = am_op_index_path(op_id);
	int rc = -1;

	if (load_index(t, op_id, &idx, err) < 0) {
		cJSON_Delete(details);
		return -1;
	}
	from = am_xstrdup(am_json_str(idx, "state") ? am_json_str(idx, "state") : "");
	if (!am_op_state_valid(to) || !am_op_transition_allowed(from, to)) {
		am_error_set(err, AM_ECONFLICT, "illegal transition for operation %s: %s -> %s",
			     op_id, from, to);
		cJSON_Delete(details);
		goto out;
	}
	if (ev == NULL)
		ev = am_event_type_for(to);
	if (!am_event_type_valid(ev)) {
		am_error_set(err, AM_EUSAGE, "unknown event type '%s'", ev);
		cJSON_Delete(details);
		goto out;
	}
	if (resnapshot(t, idx, "operation", to, NULL, NULL, err) < 0 ||
	    resnapshot(t, idx, "task", to, NULL, NULL, err) < 0) {
		cJSON_Delete(details);
		goto out;
	}
	set_str(idx, "state", to);
	{
		AM_AUTOFREE char *subject = am_xasprintf("%s %s", am_json_str(idx, "type") ? am_json_str(idx, "type") : "",
							 op_id);

		am_txn_subject(t, subject);
	}
	if (add_event(t, op_id, idx, ev, from, to, details, err) < 0)
		goto out;
	am_txn_trailer(t, "Am-Operation", op_id);
	rc = am_txn_put_json(t, path, idx, err);
out:
	cJSON_Delete(idx);
	return rc;
}

int
am_op_event(struct am_txn *t, const char *op_id, const char *ev, cJSON *details,
	    struct am_error **err)
{
	cJSON *idx = NULL;
	AM_AUTOFREE char *path = am_op_index_path(op_id);
	AM_AUTOFREE char *state = NULL;
	int rc = -1;

	if (strcmp(ev, "progress") != 0) {
		cJSON_Delete(details);
		return am_error_set(err, AM_EUSAGE,
				    "event '%s' changes state; use a transition", ev);
	}
	if (load_index(t, op_id, &idx, err) < 0) {
		cJSON_Delete(details);
		return -1;
	}
	state = am_xstrdup(am_json_str(idx, "state") ? am_json_str(idx, "state") : "");
	if (am_op_state_terminal(state)) {
		am_error_set(err, AM_ECONFLICT, "operation %s is %s; no further events", op_id, state);
		cJSON_Delete(details);
		goto out;
	}
	if (add_event(t, op_id, idx, ev, state, state, details, err) < 0)
		goto out;
	rc = am_txn_put_json(t, path, idx, err);
out:
	cJSON_Delete(idx);
	return rc;
}

int
am_op_link(struct am_txn *t, const char *op_id, const char *field, const char *ref,
	   struct am_error **err)
{
	cJSON *idx = NULL;
	AM_AUTOFREE char *path = am_op_index_path(op_id);
	int rc = -1;

	if (load_index(t, op_id, &idx, err) < 0)
		return -1;
	if (resnapshot(t, idx, "operation", NULL, field, ref, err) == 0)
		rc = am_txn_put_json(t, path, idx, err);
	cJSON_Delete(idx);
	return rc;
}

int
am_op_state(struct am_txn *t, const char *op_id, char **state, struct am_error **err)
{
	cJSON *idx = NULL;

	if (load_index(t, op_id, &idx, err) < 0)
		return -1;
	*state = am_xstrdup(am_json_str(idx, "state") ? am_json_str(idx, "state") : "");
	cJSON_Delete(idx);
	return 0;
}

int
am_op_index(struct am_ledger *l, const char *op_id, cJSON **index, struct am_error **err)
{
	AM_AUTOFREE char *path = am_op_index_path(op_id);
	AM_AUTOFREE char *data = NULL;
	size_t len;

	if (am_ledger_read(l, path, &data, &len, err) < 0)
		return -1;
	*index = am_canon_parse(data, len, err);
	return *index ? 0 : am_error_prefix(err, "ledger file '%s'", path);
}

int
am_op_resolve(struct am_ledger *l, const char *spec, char **id, struct am_error **err)
{
	const char *u = am_starts_with(spec, AM_OP_URN) ? spec + strlen(AM_OP_URN) : spec;
	size_t ulen = strlen(u), n, i, hits = 0;
	char **names = NULL;
	char dir[8];
	int rc;

	if (ulen < 6 || ulen > 36 || strspn(u, "0123456789abcdef-") != ulen)
		return am_error_set(err, AM_EUSAGE,
				    "'%s' is not an operation id (need 6+ hex chars of its uuid)", spec);
	snprintf(dir, sizeof(dir), "ops/%.2s", u);
	if (am_ledger_list(l, dir, &names, &n, err) < 0)
		return -1;
	*id = NULL;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], u, ulen) == 0) {
			hits++;
			free(*id);
			*id = am_xasprintf("%s%s", AM_OP_URN, names[i]);
		}
	}
	am_strv_free(names);
	rc = 0;
	if (hits == 0)
		rc = am_error_set(err, AM_ENOTFOUND, "no operation '%s'", spec);
	else if (hits > 1)
		rc = am_error_set(err, AM_EUSAGE, "operation prefix '%s' is ambiguous", spec);
	if (rc < 0) {
		free(*id);
		*id = NULL;
	}
	return rc;
}

int
am_op_check_events(const char *op_id, cJSON *const *events, size_t n, struct am_error **err)
{
	const char *state = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		const cJSON *e = events[i], *seq = cJSON_GetObjectItemCaseSensitive(e, "sequence");
		const char *ev = am_json_str(e, "eventType"), *from = am_json_str(e, "fromState"),
			   *to = am_json_str(e, "toState"), *opid = am_json_str(e, "operationId");

		if (opid == NULL || strcmp(opid, op_id) != 0 || !cJSON_IsNumber(seq) ||
		    seq->valuedouble != (double)(i + 1) || !am_event_type_valid(ev) || to == NULL)
			return am_error_set(err, AM_EINTEGRITY,
					    "operation %s: event %zu is malformed or out of sequence",
					    op_id, i + 1);
		if ((from == NULL) != (state == NULL) || (from && strcmp(from, state) != 0))
			return am_error_set(err, AM_EINTEGRITY,
					    "operation %s: event %zu starts from '%s' but the operation was '%s'",
					    op_id, i + 1, from ? from : "(none)", state ? state : "(none)");
		if (strcmp(ev, "progress") == 0 && from && strcmp(from, to) == 0) {
			if (am_op_state_terminal(from))
				return am_error_set(err, AM_EINTEGRITY,
						    "operation %s: event %zu follows terminal state '%s'",
						    op_id, i + 1, from);
			continue;
		}
		if (!am_op_transition_allowed(from, to))
			return am_error_set(err, AM_EINTEGRITY,
					    "operation %s: event %zu breaks the transition table: %s -> %s",
					    op_id, i + 1, from ? from : "(none)", to);
		state = to;
	}
	return 0;
}
