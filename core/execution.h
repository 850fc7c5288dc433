/* execution.h - governed executions: preflight, the supervised run, its
 * lifecycle records, leases.
 *
 * One execution is one agent_machine.execution.start operation:
 *   commit 1 (preflight): queued -> preflighting -> running, the policy
 *     decisions, the budget reservation and concurrency slot, the
 *     executions/<2>/<uuid> index -- or, on a denial, -> failed with a
 *     failure event and nothing started;
 *   (progress commits, at most one a second: agent reports and 50/80/100 %
 *     of the wall-clock budget);
 *   last commit: the LocalAgentExecution artifact (usage per dimension,
 *     exit status, output hashes and sizes) and completed / failed /
 *     canceled, settling the budget.
 * Raw output stays machine-local under $XDG_STATE_HOME/am/executions/<uuid>/;
 * the supervisor's lease is $XDG_STATE_HOME/am/leases/<uuid>.json.
 *
 * Ownership: struct am_exec is freed with am_exec_free().
 */
#ifndef AM_EXECUTION_H
#define AM_EXECUTION_H

#include <cjson/cJSON.h>

#include "authority.h"
#include "error.h"
#include "ledger.h"

#define AM_LEASE_SECONDS 30

struct am_exec_req {
	char *const *argv;           /* the command; argv[0] resolved through $PATH */
	const char *profile;         /* NULL: the delegation's */
	struct am_budget budget;     /* requested */
	int retries;                 /* extra attempts after a failure (needs idem_key) */
	const char *idem_key;        /* NULL: generated */
	const char *name;            /* label, may be NULL */
	int grace;                   /* seconds between SIGTERM and SIGKILL (default 5) */
	const char *token;           /* the caller's delegation, to narrow for the child */
	int foreground;              /* am_exec_supervise runs in this process (no --detach):
				      * the sandbox is set up during the preflight commit */
};

struct am_exec;

/* Resolve everything an execution needs without writing anything: the
 * profile with its enterprise layer, the entry point, the granted tools,
 * the gates (decided, not yet recorded), the sandbox plan.  Fails on bad
 * input (AM_EUSAGE), and on mechanisms the kernel lacks (AM_EDENIED). */
int am_exec_prepare(struct am_ledger *l, const struct am_authz *a, const struct am_exec_req *r,
		    struct am_exec **out, struct am_error **err);
/* The plan, for --dry-run. */
cJSON *am_exec_plan_json(const struct am_exec *x);
/* Commit 1.  On a policy denial (AM_EDENIED) or an exhausted budget
 * (AM_EBUDGET) the denial is recorded and nothing runs.  If the
 * idempotency key names a finished operation, *existing gets its id and
 * nothing new is recorded. */
int am_exec_preflight(struct am_ledger *l, struct am_exec *x, char **existing,
		      struct am_error **err);
const char *am_exec_op_id(const struct am_exec *x);

/* Run the prepared, preflighted execution to its end under this process as
 * supervisor.  Child output is copied to out_fd/err_fd (-1: logs only).
 * notify_fd (-1: none) gets one byte when the command is running.  Returns
 * the exit status am should exit with (the child's, 124, 128+N, ...). */
int am_exec_supervise(struct am_ledger *l, struct am_exec *x, int out_fd, int err_fd,
		      int notify_fd, struct am_error **err);
void am_exec_free(struct am_exec *x);

/* Mark operations whose supervisor is gone (dead pid or expired lease)
 * failed with errorClass supervisor_lost and release their budget.
 * Returns how many it marked. */
int am_exec_sweep(struct am_ledger *l, struct am_error **err);
/* Ask the supervisor of op to cancel (SIGTERM to it; it records canceling
 * -> canceled).  Waits up to grace+10 s for the operation to end. */
int am_exec_cancel(struct am_ledger *l, const char *op_id, int grace, struct am_error **err);
/* Machine-local directory of an execution's logs and lease. */
char *am_exec_dir(const char *op_id);
/* Record an agent-reported progress event for a running operation. */
int am_exec_progress(struct am_ledger *l, const char *op_id, int percent, const char *message,
		     struct am_error **err);

#endif
