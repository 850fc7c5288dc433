/* operation.h - the operation engine: WorkspaceOperation and OperationTask
 * records, immutable OperationEvents, and the prophet-core v0.1 transition
 * table (vendored docs/workspace-operation-transition-table-v0.1.md).
 *
 * An operation lives in the ledger as:
 *   ops/<uuid[0:2]>/<uuid>   index: {"id","type","state","operation","task",
 *                            "events":[...]} (canonical JSON, rewritten)
 *   artifacts/...            one WorkspaceOperation and one OperationTask
 *                            snapshot per state change, one OperationEvent
 *                            per event; each snapshot names its previous one
 *
 * All writers take a struct am_txn; nothing here prints.
 */
#ifndef AM_OPERATION_H
#define AM_OPERATION_H

#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"

#define AM_OP_URN "urn:srcos:agent-machine:operation:"
#define AM_TASK_URN "urn:srcos:agent-machine:task:"
#define AM_OP_ID_LEN 80

/* The 13 operation states, NULL-terminated. */
extern const char *const am_op_states[];
/* The 6 event types, NULL-terminated. */
extern const char *const am_event_types[];

int am_op_state_valid(const char *s);
int am_event_type_valid(const char *s);
/* 1 if an operation may move from -> to (from NULL: creation, to "queued"). */
int am_op_transition_allowed(const char *from, const char *to);
/* Same for tasks (which also have "stale"). */
int am_task_transition_allowed(const char *from, const char *to);
/* 1 if state is terminal (no transition leads out except compensation). */
int am_op_state_terminal(const char *s);
/* The event type that records a move into state to. */
const char *am_event_type_for(const char *to);

/* Who acts: a principal acting with its own key, or a delegate acting under
 * a delegation.  Strings are borrowed. */
struct am_actor {
	const char *type;       /* "user", "agent" or "system" */
	const char *name;       /* principal name or delegation subject */
	const char *key;        /* signer key fingerprint, or NULL */
	const char *delegation; /* delegation id (jti), or NULL */
	const char *tenant;     /* tenant, or NULL */
};

/* Create an operation in state "queued" (event "start"); id_out gets
 * "urn:srcos:agent-machine:operation:<uuid>".  idempotency_key may be NULL
 * (one is generated). */
int am_op_create(struct am_txn *t, const char *op_type, const struct am_actor *actor,
		 const char *idempotency_key, char id_out[AM_OP_ID_LEN], struct am_error **err);
/* Move an operation to state to, recording an event of type ev (NULL: the
 * default for to) with details (ownership taken; may be NULL).  An illegal
 * transition is AM_ECONFLICT and nothing is staged. */
int am_op_transition(struct am_txn *t, const char *op_id, const char *to, const char *ev,
		     cJSON *details, struct am_error **err);
/* Record an event that does not change state (e.g. "progress"). */
int am_op_event(struct am_txn *t, const char *op_id, const char *ev, cJSON *details,
		struct am_error **err);
/* Add ref to the operation's list field ("artifactRefs", "decisionRefs");
 * it appears in the next snapshot. */
int am_op_link(struct am_txn *t, const char *op_id, const char *field, const char *ref,
	       struct am_error **err);
/* Current state of an operation inside a txn (caller frees). */
int am_op_state(struct am_txn *t, const char *op_id, char **state, struct am_error **err);

/* Resolve "urn:...:operation:<uuid>", "<uuid>" or a unique uuid prefix of 6+
 * chars to the full operation id.  AM_ENOTFOUND / AM_EUSAGE (ambiguous). */
int am_op_resolve(struct am_ledger *l, const char *spec, char **id, struct am_error **err);
/* Load an operation's index document. */
int am_op_index(struct am_ledger *l, const char *op_id, cJSON **index, struct am_error **err);
/* Ledger path of an operation's index. */
char *am_op_index_path(const char *op_id);

/* Check that events (in order) follow the transition table: sequences
 * 1..n, first event creates "queued", each fromState is the previous
 * toState.  AM_EINTEGRITY naming the event on failure. */
int am_op_check_events(const char *op_id, cJSON *const *events, size_t n,
		       struct am_error **err);

#endif
