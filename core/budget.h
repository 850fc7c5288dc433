/* budget.h - budget accounts in the ledger: what each delegation (or a
 * principal acting with its own key) has used and has reserved, so the
 * remaining budget is computed from the ledger and never overspent: an
 * execution reserves its effective budget in the same compare-and-swap
 * commit that starts it, and settles (releases the reservation, adds what
 * it used) in the commit that ends it.
 *
 * Ledger: budgets/<account[0:2]>/<account> =
 *   {"used":{dim:n}, "reserved":{dim:n}, "running":[operation ids]}
 * where account is a delegation id, or "principal-<name>".
 *
 * Dimensions: modelCalls, tokens, connectorCalls, cpuGpuComputeSeconds and
 * wallClockSeconds are consumed (cumulative); sandboxMemoryBytes and
 * localDiskBytes are per-execution ceilings; agentConcurrency bounds the
 * executions running at once under one account.
 */
#ifndef AM_BUDGET_H
#define AM_BUDGET_H

#include <cjson/cJSON.h>

#include "authority.h"
#include "error.h"
#include "ledger.h"

enum {
	AM_DIM_MODEL_CALLS, AM_DIM_TOKENS, AM_DIM_CONNECTOR_CALLS, AM_DIM_CPU,
	AM_DIM_DISK, AM_DIM_MEMORY, AM_DIM_WALL, AM_DIM_CONCURRENCY,
};

/* 1 for the cumulative dimensions. */
int am_budget_consumed(int dim);

/* One account with its claim (the delegation's budget; none for a
 * principal). */
struct am_account {
	char name[64];
	struct am_budget claim;
};

/* Accounts an actor charges: its whole delegation chain (leaf first), or
 * "principal-<name>" for its own key.  Returns the count (<= 9). */
size_t am_budget_accounts(const struct am_authz *a, struct am_account out[9]);

/* Inside a txn: compute the effective budget = min(request, every account's
 * remaining, profile ceiling) and reserve it; refuse (AM_EBUDGET, naming the
 * dimension and account) when a needed dimension is exhausted or the
 * concurrency limit is reached.  op_id joins each account's running list. */
int am_budget_reserve(struct am_txn *t, const struct am_account *acc, size_t n,
		      const struct am_budget *request, const cJSON *profile_budget,
		      const char *op_id, struct am_budget *effective, struct am_error **err);
/* Inside a txn: release the reservation and charge usage. */
int am_budget_settle(struct am_txn *t, char *const *accounts, size_t n, const char *op_id,
		     const struct am_budget *reserved, const struct am_budget *used,
		     struct am_error **err);
/* Remaining budget of an account at the tip (read-only): claim - used -
 * reserved for the consumed dimensions it names. */
int am_budget_remaining(struct am_ledger *l, const struct am_account *a, struct am_budget *out,
			struct am_error **err);

#endif
