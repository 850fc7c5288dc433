/* budget.c - see budget.h */
#include "budget.h"
#include "canon.h"
#include "util.h"

int
am_budget_consumed(int dim)
{
	return dim == AM_DIM_MODEL_CALLS || dim == AM_DIM_TOKENS || dim == AM_DIM_CONNECTOR_CALLS ||
	       dim == AM_DIM_CPU || dim == AM_DIM_WALL;
}

size_t
am_budget_accounts(const struct am_authz *a, struct am_account out[9])
{
	size_t i, n = 0;

	memset(out, 0, 9 * sizeof(*out));
	if (a->chain.depth == 0) {
		snprintf(out[0].name, sizeof(out[0].name), "principal-%s", a->name ? a->name : "unknown");
		return 1;
	}
	for (i = 0; i < a->chain.depth && n < 9; i++, n++)
		snprintf(out[n].name, sizeof(out[n].name), "%s", a->chain.jti[i]);
	/* Only the leaf's claim is at hand after verification; each ancestor's
	 * claim bounds the leaf's (attenuation), and usage is charged to every
	 * account, so checking the leaf's claim against each account's usage
	 * is conservative for the ancestors too. */
	for (i = 0; i < n; i++)
		out[i].claim = a->chain.budget;
	return n;
}

static char *
acct_path(const char *name)
{
	return am_xasprintf("budgets/%.2s/%s", name, name);
}

static cJSON *
load_account(struct am_txn *t, struct am_ledger *l, const char *name, struct am_error **err)
{
	AM_AUTOFREE char *path = acct_path(name);
	AM_AUTOFREE char *data = NULL;
	struct am_error *e = NULL;
	size_t len;
	cJSON *acct;
	int rc = t ? am_txn_read(t, path, &data, &len, &e) : am_ledger_read(l, path, &data, &len, &e);

	if (rc < 0) {
		if (e->cls != AM_ENOTFOUND) {
			*err = e;
			return NULL;
		}
		am_error_free(e);
		acct = cJSON_CreateObject();
		cJSON_AddObjectToObject(acct, "used");
		cJSON_AddObjectToObject(acct, "reserved");
		cJSON_AddArrayToObject(acct, "running");
		return acct;
	}
	return am_canon_parse(data, len, err);
}

static int
store_account(struct am_txn *t, const char *name, const cJSON *acct, struct am_error **err)
{
	AM_AUTOFREE char *path = acct_path(name);

	return am_txn_put_json(t, path, acct, err);
}

static int64_t
dim_get(const cJSON *o, const char *sect, int dim)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, sect),
							  am_budget_dims[dim]);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void
dim_add(cJSON *o, const char *sect, int dim, int64_t delta)
{
	cJSON *s = cJSON_GetObjectItemCaseSensitive(o, sect);
	int64_t v = dim_get(o, sect, dim) + delta;

	if (s == NULL)
		s = cJSON_AddObjectToObject(o, sect);
	if (v < 0)
		v = 0;
	cJSON_DeleteItemFromObjectCaseSensitive(s, am_budget_dims[dim]);
	cJSON_AddNumberToObject(s, am_budget_dims[dim], (double)v);
}

static int64_t
remaining_of(const cJSON *acct, const struct am_budget *claim, int dim)
{
	int64_t r = claim->v[dim] - dim_get(acct, "used", dim) - dim_get(acct, "reserved", dim);

	return r < 0 ? 0 : r;
}

int
am_budget_reserve(struct am_txn *t, const struct am_account *acc, size_t n,
		  const struct am_budget *request, const cJSON *profile_budget, const char *op_id,
		  struct am_budget *eff, struct am_error **err)
{
	cJSON *accts[9] = { 0 };
	size_t i;
	int d, rc = -1;

	int64_t free_slots = AM_CANON_INT_MAX;

	memset(eff, 0, sizeof(*eff));
	for (i = 0; i < n; i++)
		if ((accts[i] = load_account(t, NULL, acc[i].name, err)) == NULL)
			goto out;
	/* Free concurrency slots of the tightest account: a run that names no
	 * amount takes its share of what is left, not all of it, so the next
	 * concurrent start is not starved. */
	{
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(profile_budget, "agentConcurrency");
		int64_t limit = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : AM_CANON_INT_MAX;

		if ((request->set & (1u << AM_DIM_CONCURRENCY)) && request->v[AM_DIM_CONCURRENCY] < limit)
			limit = request->v[AM_DIM_CONCURRENCY];
		for (i = 0; i < n; i++) {
			int64_t lim = limit, running, f;

			if ((acc[i].claim.set & (1u << AM_DIM_CONCURRENCY)) && acc[i].claim.v[AM_DIM_CONCURRENCY] < lim)
				lim = acc[i].claim.v[AM_DIM_CONCURRENCY];
			running = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(accts[i], "running"));
			f = lim - running;
			if (f < 1)
				f = 1;
			if (f < free_slots)
				free_slots = f;
		}
	}
	for (d = 0; d < AM_BUDGET_DIMS; d++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(profile_budget, am_budget_dims[d]);
		int64_t v = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : AM_CANON_INT_MAX;
		const char *limiter = "the profile ceiling";

		if ((request->set & (1u << d)) && request->v[d] < v) {
			v = request->v[d];
			limiter = "the request";
		}
		for (i = 0; i < n; i++) {
			int64_t r;

			if (!(acc[i].claim.set & (1u << d)))
				continue;
			r = am_budget_consumed(d) ? remaining_of(accts[i], &acc[i].claim, d) : acc[i].claim.v[d];
			if (am_budget_consumed(d) && !(request->set & (1u << d)) && free_slots > 1 && r > 0)
				r = r / free_slots > 0 ? r / free_slots : 1;
			if (r < v) {
				v = r;
				limiter = acc[i].name;
			}
		}
		eff->v[d] = v;
		eff->set |= 1u << d;
		/* Without wall-clock or CPU time, memory or scratch disk nothing
		 * can run at all: 0 allows none, it never means "no limit". */
		if ((d == AM_DIM_WALL || d == AM_DIM_CPU || d == AM_DIM_MEMORY || d == AM_DIM_DISK) && v == 0) {
			am_error_set(err, AM_EBUDGET, "budget exhausted: %s is 0 (limited by %s%s)",
				     am_budget_dims[d], strcmp(limiter, "the request") == 0 ||
				     strcmp(limiter, "the profile ceiling") == 0 ? "" : "delegation ",
				     limiter);
			goto out;
		}
	}
	/* Concurrency: the running list of every account, counted in this same
	 * compare-and-swap commit, so two racing starts cannot both take the
	 * last slot (the loser rebuilds on the winner's tip and sees it). */
	for (i = 0; i < n; i++) {
		int running = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(accts[i], "running"));

		if (running >= eff->v[AM_DIM_CONCURRENCY]) {
			am_error_set(err, AM_EBUDGET,
				     "budget exhausted: agentConcurrency: %d of %lld executions already running under %s",
				     running, (long long)eff->v[AM_DIM_CONCURRENCY], acc[i].name);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		for (d = 0; d < AM_BUDGET_DIMS; d++)
			if (am_budget_consumed(d) && eff->v[d] < AM_CANON_INT_MAX)
				dim_add(accts[i], "reserved", d, eff->v[d]);
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(accts[i], "running"),
				     cJSON_CreateString(op_id));
		if (store_account(t, acc[i].name, accts[i], err) < 0)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		cJSON_Delete(accts[i]);
	return rc;
}

int
am_budget_settle(struct am_txn *t, char *const *accounts, size_t n, const char *op_id,
		 const struct am_budget *reserved, const struct am_budget *used, struct am_error **err)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		cJSON *a = load_account(t, NULL, accounts[i], err), *run, *x, *next;
		int rc;

		if (a == NULL)
			return -1;
		for (d = 0; d < AM_BUDGET_DIMS; d++) {
			if (!am_budget_consumed(d))
				continue;
			if (reserved->v[d] < AM_CANON_INT_MAX)
				dim_add(a, "reserved", d, -reserved->v[d]);
			if (used->set & (1u << d))
				dim_add(a, "used", d, used->v[d]);
		}
		run = cJSON_GetObjectItemCaseSensitive(a, "running");
		for (x = run ? run->child : NULL; x; x = next) {
			next = x->next;
			if (cJSON_IsString(x) && strcmp(x->valuestring, op_id) == 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(run, x));
		}
		rc = store_account(t, accounts[i], a, err);
		cJSON_Delete(a);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int
am_budget_remaining(struct am_ledger *l, const struct am_account *a, struct am_budget *out,
		    struct am_error **err)
{
	cJSON *acct = load_account(NULL, l, a->name, err);
	int d;

	if (acct == NULL)
		return -1;
	*out = a->claim;
	for (d = 0; d < AM_BUDGET_DIMS; d++)
		if ((a->claim.set & (1u << d)) && am_budget_consumed(d))
			out->v[d] = remaining_of(acct, &a->claim, d);
	cJSON_Delete(acct);
	return 0;
}
