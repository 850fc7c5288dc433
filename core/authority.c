/* authority.c - see authority.h */
#include <ctype.h>
#include <errno.h>

#include <sodium.h>

#include "authority.h"
#include "canon.h"
#include "jws.h"
#include "profile.h"
#include "sshsig.h"
#include "util.h"
#include "workspace.h"

#define DELEG_URN "urn:srcos:agent-machine:delegation:"

const char *const am_budget_dims[AM_BUDGET_DIMS + 1] = {
	"modelCalls", "tokens", "connectorCalls", "cpuGpuComputeSeconds",
	"localDiskBytes", "sandboxMemoryBytes", "wallClockSeconds", "agentConcurrency",
	NULL,
};

const char *const am_operation_types[] = {
	"agent_machine.profile.create",
	"agent_machine.execution.start",
	"agent_machine.execution.cancel",
	"agent_machine.tool_grant.apply",
	"agent_machine.tool_grant.revoke",
	"agent_machine.container.run",
	"agent_machine.model_provider.bind",
	"agent_machine.diagnostics.export_redacted",
	"agent_machine.delegation.create",
	"agent_machine.delegation.revoke",
	"agent_machine.trust.add",
	"agent_machine.trust.remove",
	NULL,
};

int
am_operation_type_valid(const char *s)
{
	return am_strv_has(am_operation_types, s);
}

static int
dim_index(const char *name, size_t n)
{
	int i;

	for (i = 0; i < AM_BUDGET_DIMS; i++)
		if (strlen(am_budget_dims[i]) == n && strncmp(am_budget_dims[i], name, n) == 0)
			return i;
	return -1;
}

/* A budget value: a non-negative integer, with K/M/G/T (binary) for the
 * *Bytes dimensions and s/m/h/d for the *Seconds ones. */
static int
budget_value(const char *dim, const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		int bytes = strstr(dim, "Bytes") != NULL, secs = strstr(dim, "Seconds") != NULL;

		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 'K': mul = bytes ? 1LL << 10 : 0; break;
		case 'M': mul = bytes ? 1LL << 20 : 0; break;
		case 'G': mul = bytes ? 1LL << 30 : 0; break;
		case 'T': mul = bytes ? 1LL << 40 : 0; break;
		case 's': mul = secs ? 1 : 0; break;
		case 'm': mul = secs ? 60 : 0; break;
		case 'h': mul = secs ? 3600 : 0; break;
		case 'd': mul = secs ? 86400 : 0; break;
		default: mul = 0;
		}
		if (mul == 0)
			return -1;
	}
	if (__builtin_mul_overflow((int64_t)v, mul, out) || *out > AM_CANON_INT_MAX)
		return -2;
	return 0;
}

int
am_budget_parse(const char *spec, struct am_budget *b, struct am_error **err)
{
	const char *p = spec;

	while (*p) {
		const char *comma = strchr(p, ','), *eq = strchr(p, '=');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		AM_AUTOFREE char *val = NULL;
		int i, r;

		if (eq == NULL || eq > p + len)
			return am_error_set(err, AM_EUSAGE, "budget '%.*s': expected k=v", (int)len, p);
		i = dim_index(p, (size_t)(eq - p));
		if (i < 0)
			return am_error_set(err, AM_EUSAGE,
					    "budget: unknown dimension '%.*s' (known: modelCalls, tokens, connectorCalls, cpuGpuComputeSeconds, localDiskBytes, sandboxMemoryBytes, wallClockSeconds, agentConcurrency)",
					    (int)(eq - p), p);
		val = am_xstrndup(eq + 1, len - (size_t)(eq + 1 - p));
		r = budget_value(am_budget_dims[i], val, &b->v[i]);
		if (r == -2)
			return am_error_set(err, AM_EUSAGE, "budget %s=%s: too large", am_budget_dims[i], val);
		if (r < 0)
			return am_error_set(err, AM_EUSAGE,
					    "budget %s=%s: expected a non-negative integer", am_budget_dims[i], val);
		b->set |= 1u << i;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

cJSON *
am_budget_to_json(const struct am_budget *b)
{
	cJSON *o = cJSON_CreateObject();
	int i;

	for (i = 0; i < AM_BUDGET_DIMS; i++)
		if (b->set & (1u << i))
			cJSON_AddNumberToObject(o, am_budget_dims[i], (double)b->v[i]);
	return o;
}

int
am_budget_from_json(const cJSON *o, struct am_budget *b, struct am_error **err)
{
	const cJSON *v;

	memset(b, 0, sizeof(*b));
	if (o == NULL)
		return 0;
	if (!cJSON_IsObject(o))
		return am_error_set(err, AM_EAUTH, "budget is not an object");
	cJSON_ArrayForEach(v, o) {
		int i = dim_index(v->string, strlen(v->string));

		if (i < 0 || !cJSON_IsNumber(v) || v->valuedouble < 0)
			return am_error_set(err, AM_EAUTH, "budget.%s is not a known non-negative dimension",
					    v->string);
		b->v[i] = (int64_t)v->valuedouble;
		b->set |= 1u << i;
	}
	return 0;
}

void
am_chain_free(struct am_chain *c)
{
	size_t i;

	for (i = 0; i < c->depth; i++)
		free(c->jti[i]);
	cJSON_Delete(c->claims);
	free(c->issuer);
	free(c->subject);
	memset(c, 0, sizeof(*c));
}

void
am_authz_free(struct am_authz *a)
{
	free(a->type);
	free(a->name);
	free(a->key);
	free(a->role);
	free(a->delegation);
	free(a->tenant);
	free(a->profile);
	am_chain_free(&a->chain);
	memset(a, 0, sizeof(*a));
}

struct am_actor
am_authz_actor(const struct am_authz *a)
{
	struct am_actor act = { a->type, a->name, a->key, a->delegation, a->tenant };

	return act;
}

static int
jint(const cJSON *o, const char *k, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(v))
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static char *
deleg_index_path(const char *jti)
{
	return am_xasprintf("delegations/%.2s/%s", jti, jti);
}

int
am_delegation_index(struct am_ledger *l, const char *jti, cJSON **idx, struct am_error **err)
{
	AM_AUTOFREE char *path = NULL;
	AM_AUTOFREE char *data = NULL;
	size_t len;
	struct am_error *e = NULL;

	if (strlen(jti) != 36 || strspn(jti, "0123456789abcdef-") != 36)
		return am_error_set(err, AM_EAUTH, "'%s' is not a delegation id", jti);
	path = deleg_index_path(jti);
	if (am_ledger_read(l, path, &data, &len, &e) < 0) {
		if (e->cls == AM_ENOTFOUND) {
			am_error_free(e);
			return am_error_set(err, AM_ENOTFOUND, "no delegation '%s' in this workspace", jti);
		}
		*err = e;
		return -1;
	}
	*idx = am_canon_parse(data, len, err);
	return *idx ? 0 : -1;
}

int
am_delegation_revoked(struct am_ledger *l, const char *jti)
{
	AM_AUTOFREE char *cur = am_xstrdup(jti);
	int depth;

	for (depth = 0; depth < AM_CHAIN_MAX_DEPTH + 1; depth++) {
		cJSON *idx = NULL;
		const cJSON *rv;
		const char *parent;

		if (am_delegation_index(l, cur, &idx, NULL) < 0)
			return 0;
		rv = cJSON_GetObjectItemCaseSensitive(idx, "revoked");
		if (cJSON_IsTrue(rv)) {
			cJSON_Delete(idx);
			return 1;
		}
		parent = am_json_str(idx, "parent");
		free(cur);
		cur = parent ? am_xstrdup(parent) : NULL;
		cJSON_Delete(idx);
		if (cur == NULL)
			return 0;
	}
	return 0;
}

int
am_delegation_resolve(struct am_ledger *l, const char *spec, char **jti, struct am_error **err)
{
	const char *u = am_starts_with(spec, DELEG_URN) ? spec + strlen(DELEG_URN) : spec;
	size_t ul = strlen(u), n, i, hits = 0;
	char **names = NULL;
	char dir[24];

	*jti = NULL;
	if (ul < 6 || ul > 36 || strspn(u, "0123456789abcdef-") != ul)
		return am_error_set(err, AM_EUSAGE, "'%s' is not a delegation id", spec);
	snprintf(dir, sizeof(dir), "delegations/%.2s", u);
	if (am_ledger_list(l, dir, &names, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (strncmp(names[i], u, ul) == 0) {
			hits++;
			free(*jti);
			*jti = am_xstrdup(names[i]);
		}
	am_strv_free(names);
	if (hits == 1)
		return 0;
	free(*jti);
	*jti = NULL;
	return hits ? am_error_set(err, AM_EUSAGE, "delegation prefix '%s' is ambiguous", spec)
		    : am_error_set(err, AM_ENOTFOUND, "no delegation '%s'", spec);
}

/* The trust index at the tip. */
static cJSON *
tip_trust(struct am_ledger *l)
{
	AM_AUTOFREE char *data = NULL;
	size_t len;
	cJSON *t = NULL;

	if (am_ledger_read(l, "trust.json", &data, &len, NULL) == 0)
		t = am_trust_parse(data, len, NULL);
	return t ? t : cJSON_CreateObject();
}

/* The trusted principal whose fingerprint is fpr, with its public key. */
static const cJSON *
trust_by_fpr(const cJSON *trust, const char *fpr, const char **name, unsigned char pk[32])
{
	const cJSON *p;

	cJSON_ArrayForEach(p, trust) {
		const char *f = am_json_str(p, "fingerprint"), *key = am_json_str(p, "key");
		struct am_key *k = NULL;

		if (f == NULL || key == NULL || strcmp(f, fpr) != 0 ||
		    am_key_parse_public(key, &k, NULL) < 0)
			continue;
		memcpy(pk, k->pk, 32);
		am_key_free(k);
		*name = p->string;
		return p;
	}
	return NULL;
}

/* a (array of strings or absent) is a subset of b. */
static const char *
not_subset(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	cJSON_ArrayForEach(x, a) {
		int found = 0;

		cJSON_ArrayForEach(y, b)
			if (cJSON_IsString(x) && cJSON_IsString(y) &&
			    strcmp(x->valuestring, y->valuestring) == 0)
				found = 1;
		if (!found)
			return cJSON_IsString(x) ? x->valuestring : "?";
	}
	return NULL;
}

static int
check_strlist(const cJSON *am, const char *key, int required, struct am_error **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(am, key), *x;

	if (v == NULL && !required)
		return 0;
	if (!cJSON_IsArray(v))
		return am_error_set(err, AM_EAUTH, "token claim am.%s is not a list", key);
	cJSON_ArrayForEach(x, v)
		if (!cJSON_IsString(x))
			return am_error_set(err, AM_EAUTH, "token claim am.%s has a non-string", key);
	return 0;
}

/* Check that child claims only narrow the parent's (SPEC section 4).
 * Each violation names the claim. */
static int
check_attenuation(const cJSON *c, const cJSON *p, int64_t cexp, int64_t pexp,
		  struct am_error **err)
{
	static const char *const lists[] = { "operations", "tools", "modelProviders" };
	struct am_budget cb, pb;
	const char *x, *cs, *ps;
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(lists); i++) {
		x = not_subset(cJSON_GetObjectItemCaseSensitive(c, lists[i]),
			       cJSON_GetObjectItemCaseSensitive(p, lists[i]));
		if (x)
			return am_error_set(err, AM_EAUTH,
					    "delegation is wider than its parent: am.%s grants '%s', which the parent does not",
					    lists[i], x);
	}
	cs = am_json_str(c, "profile");
	ps = am_json_str(p, "profile");
	if (!cs || !ps || strcmp(cs, ps) != 0)
		return am_error_set(err, AM_EAUTH,
				    "delegation is wider than its parent: am.profile '%s' differs from the parent's '%s'",
				    cs ? cs : "", ps ? ps : "");
	cs = am_json_str(c, "tenant");
	ps = am_json_str(p, "tenant");
	if ((cs == NULL) != (ps == NULL) || (cs && strcmp(cs, ps) != 0))
		return am_error_set(err, AM_EAUTH,
				    "delegation is wider than its parent: am.tenant '%s' differs from the parent's '%s'",
				    cs ? cs : "(none)", ps ? ps : "(none)");
	if (cexp > pexp)
		return am_error_set(err, AM_EAUTH,
				    "delegation outlives its parent: exp is after the parent's exp");
	if (am_budget_from_json(cJSON_GetObjectItemCaseSensitive(c, "budget"), &cb, err) < 0 ||
	    am_budget_from_json(cJSON_GetObjectItemCaseSensitive(p, "budget"), &pb, err) < 0)
		return -1;
	for (i = 0; i < AM_BUDGET_DIMS; i++) {
		if (!(pb.set & (1u << i)))
			continue; /* the parent names no bound: the profile ceiling rules */
		if (!(cb.set & (1u << i)) || cb.v[i] > pb.v[i])
			return am_error_set(err, AM_EAUTH,
					    "delegation is wider than its parent: am.budget.%s exceeds the parent's %lld",
					    am_budget_dims[i], (long long)pb.v[i]);
	}
	return 0;
}

/* The facts of one link of a chain, from a presented token or from the
 * ledger record of an ancestor. */
struct link {
	const char *jti, *iss, *sub, *aud;
	int64_t nbf, exp;
	const cJSON *am;        /* operations, profile, tools, modelProviders, budget, tenant */
	const char *parent;     /* parent delegation id (a child), else NULL */
	const char *prf;        /* "sha256:<hex>" of the parent token (from a token), or NULL */
	const char *signer;     /* trusted principal name of the signer */
	const char *role;       /* its role */
};

static int verify_record(struct am_ledger *l, const char *jti, const char *expect_hash, int64_t now,
			 struct am_chain *out, const cJSON *trust, cJSON **am_out, int64_t *exp_out,
			 char **sub_out, struct am_error **err);

/* Checks common to tokens and records: audience, validity window, loops
 * and depth, revocation, who may sign a root or a child, and for a child
 * its parent (verified from the ledger record) and attenuation. */
static int
check_link(struct am_ledger *l, int64_t now, struct am_chain *out, const cJSON *trust,
	   const struct link *k, struct am_error **err)
{
	size_t i;

	if (strcmp(k->aud, am_ledger_workspace_id(l)) != 0)
		return am_error_set(err, AM_EAUTH, "token audience '%s' is not this workspace (%s)", k->aud,
				    am_ledger_workspace_id(l));
	if (now + AM_CLOCK_SKEW < k->nbf)
		return am_error_set(err, AM_EAUTH, "delegation %s is not yet valid", k->jti);
	if (now - AM_CLOCK_SKEW >= k->exp)
		return am_error_set(err, AM_EAUTH, "delegation %s has expired", k->jti);
	for (i = 0; i < out->depth; i++)
		if (strcmp(out->jti[i], k->jti) == 0)
			return am_error_set(err, AM_EAUTH, "delegation chain loops at %s", k->jti);
	if (out->depth >= AM_CHAIN_MAX_DEPTH)
		return am_error_set(err, AM_EAUTH, "delegation chain is deeper than %d", AM_CHAIN_MAX_DEPTH);
	out->jti[out->depth++] = am_xstrdup(k->jti);
	{
		cJSON *idx = NULL;
		struct am_error *e = NULL;
		int revoked;

		if (am_delegation_index(l, k->jti, &idx, &e) < 0) {
			am_error_free(e);
			return am_error_set(err, AM_EAUTH, "delegation %s is not recorded in this workspace",
					    k->jti);
		}
		revoked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "revoked"));
		cJSON_Delete(idx);
		if (revoked)
			return am_error_set(err, AM_EAUTH, "delegation %s has been revoked", k->jti);
	}
	if (k->parent == NULL) {
		/* A root: signed by a trusted owner or operator, named by iss. */
		if (strcmp(k->role, "owner") != 0 && strcmp(k->role, "operator") != 0)
			return am_error_set(err, AM_EAUTH, "token signed by %s, which is not an owner or operator",
					    k->signer);
		if (strcmp(k->iss, k->signer) != 0)
			return am_error_set(err, AM_EAUTH, "token iss '%s' is not its signer '%s'", k->iss,
					    k->signer);
		free(out->issuer);
		out->issuer = am_xstrdup(k->iss);
		return 0;
	}
	{
		cJSON *pam = NULL;
		int64_t pexp = 0;
		char *psub = NULL;
		int rc;

		/* A child: signed by a machine key on behalf of the parent's
		 * holder.  The parent is checked from its ledger record, never
		 * from a token: a child carries only its parent's hash, so
		 * holding a child never yields the wider parent credential. */
		if (strcmp(k->role, "machine") != 0)
			return am_error_set(err, AM_EAUTH, "child delegation %s not signed by a machine key",
					    k->jti);
		if (verify_record(l, k->parent, k->prf, now, out, trust, &pam, &pexp, &psub, err) < 0)
			return -1;
		rc = strcmp(k->iss, psub) != 0
			     ? am_error_set(err, AM_EAUTH, "child iss '%s' is not the parent's subject", k->iss)
			     : check_attenuation(k->am, pam, k->exp, pexp, err);
		cJSON_Delete(pam);
		free(psub);
		return rc;
	}
}

/* An ancestor, from its Delegation record: the record's own signature, its
 * signer still trusted, the token hash the child named. */
static int
verify_record(struct am_ledger *l, const char *jti, const char *expect_hash, int64_t now,
	      struct am_chain *out, const cJSON *trust, cJSON **am_out, int64_t *exp_out,
	      char **sub_out, struct am_error **err)
{
	cJSON *idx = NULL, *doc = NULL, *am = cJSON_CreateObject();
	struct am_key *k = NULL;
	struct am_error *e = NULL;
	struct link lk = { 0 };
	const cJSON *p;
	const char *name = NULL;
	static const char *const keys[] = { "operations", "profile", "tools", "modelProviders",
					    "budget", "tenant" };
	size_t i;
	int rc = -1;

	if (am_delegation_index(l, jti, &idx, &e) < 0 ||
	    am_ledger_artifact(l, am_json_str(idx, "artifact") ? am_json_str(idx, "artifact") : "", &doc, &e) < 0) {
		am_error_set(err, AM_EAUTH, "parent delegation %s is not recorded in this workspace", jti);
		goto out;
	}
	if (expect_hash && (am_json_str(idx, "tokenSha256") == NULL ||
			    strcmp(am_json_str(idx, "tokenSha256"), expect_hash) != 0)) {
		am_error_set(err, AM_EAUTH, "am.prf does not match the recorded parent %s", jti);
		goto out;
	}
	if (am_delegation_check_record(doc, &e) < 0) {
		am_error_set(err, AM_EAUTH, "parent delegation %s: %s", jti, e->msg);
		goto out;
	}
	if (am_key_parse_public(am_json_str(doc, "signerPublicKey"), &k, NULL) < 0 ||
	    (p = am_trust_find_key(trust, k->pk, &name)) == NULL) {
		am_error_set(err, AM_EAUTH, "parent delegation %s was signed by a key no longer trusted here",
			     jti);
		goto out;
	}
	for (i = 0; i < AM_ARRAY_LEN(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);

		if (v)
			cJSON_AddItemToObject(am, keys[i], cJSON_Duplicate(v, 1));
	}
	lk.jti = jti;
	lk.iss = am_json_str(doc, "issuer");
	lk.sub = am_json_str(doc, "subject");
	lk.aud = am_json_str(doc, "audience");
	lk.am = am;
	lk.parent = am_json_str(doc, "parentRef");
	lk.prf = NULL;
	lk.signer = name;
	lk.role = am_json_str(p, "role") ? am_json_str(p, "role") : "";
	if (!lk.iss || !lk.sub || !lk.aud || am_time_parse(am_json_str(doc, "notBefore") ? am_json_str(doc, "notBefore") : "", &lk.nbf) < 0 ||
	    am_time_parse(am_json_str(doc, "expiresAt") ? am_json_str(doc, "expiresAt") : "", &lk.exp) < 0) {
		am_error_set(err, AM_EAUTH, "parent delegation %s: record is incomplete", jti);
		goto out;
	}
	if (check_link(l, now, out, trust, &lk, err) < 0)
		goto out;
	*am_out = am;
	am = NULL;
	*exp_out = lk.exp;
	*sub_out = am_xstrdup(lk.sub);
	rc = 0;
out:
	am_error_free(e);
	am_key_free(k);
	cJSON_Delete(am);
	cJSON_Delete(doc);
	cJSON_Delete(idx);
	return rc;
}

/* The presented token: its signature by a trusted key, the ledger's record
 * of it, then check_link. */
static int
verify_one(struct am_ledger *l, const char *token, int64_t now, struct am_chain *out,
	   const cJSON *trust, struct am_error **err)
{
	struct am_jws j;
	const char *typ, *kid, *name = NULL;
	const cJSON *am, *p;
	unsigned char pk[32];
	int64_t iat;
	struct link lk = { 0 };
	int rc = -1;

	if (token == NULL || *token == '\0')
		return am_error_set(err, AM_EAUTH, "malformed token: empty");
	if (am_jws_parse(token, &j, err) < 0)
		return -1;
	typ = am_json_str(j.header, "typ");
	kid = am_json_str(j.header, "kid");
	if (typ == NULL || strcmp(typ, AM_DELEGATION_TYP) != 0) {
		am_error_set(err, AM_EAUTH, "token typ is not '" AM_DELEGATION_TYP "'");
		goto out;
	}
	if (kid == NULL) {
		am_error_set(err, AM_EAUTH, "token header has no kid");
		goto out;
	}
	lk.iss = am_json_str(j.payload, "iss");
	lk.sub = am_json_str(j.payload, "sub");
	lk.aud = am_json_str(j.payload, "aud");
	lk.jti = am_json_str(j.payload, "jti");
	am = cJSON_GetObjectItemCaseSensitive(j.payload, "am");
	if (!lk.iss || !lk.sub || !lk.aud || !lk.jti || jint(j.payload, "iat", &iat) < 0 ||
	    jint(j.payload, "nbf", &lk.nbf) < 0 || jint(j.payload, "exp", &lk.exp) < 0 ||
	    !cJSON_IsObject(am) || !am_json_str(am, "profile") ||
	    check_strlist(am, "operations", 1, err) < 0 || check_strlist(am, "tools", 0, err) < 0 ||
	    check_strlist(am, "modelProviders", 0, err) < 0) {
		am_error_set(err, AM_EAUTH, "token is missing required claims (iss, sub, aud, iat, nbf, exp, jti, am)");
		goto out;
	}
	lk.am = am;
	lk.prf = am_json_str(am, "prf");
	lk.parent = am_json_str(am, "parent");
	if ((lk.prf == NULL) != (lk.parent == NULL) ||
	    (lk.prf && (!am_starts_with(lk.prf, "sha256:") || !am_is_hex64(lk.prf + 7)))) {
		am_error_set(err, AM_EAUTH, "token claims am.prf and am.parent must come together (prf: sha256 of the parent token)");
		goto out;
	}
	/* Signature first: nothing in an unsigned payload is believed. */
	p = trust_by_fpr(trust, kid, &name, pk);
	if (p == NULL) {
		am_error_set(err, AM_EAUTH, "token signed by unknown key %s (kid not trusted here)", kid);
		goto out;
	}
	if (!am_jws_verify(&j, pk)) {
		am_error_set(err, AM_EAUTH, "token signature does not verify (tampered, or signed by another key)");
		goto out;
	}
	lk.signer = name;
	lk.role = am_json_str(p, "role") ? am_json_str(p, "role") : "";
	{
		cJSON *idx = NULL;
		struct am_error *e = NULL;
		char hex[65];
		const char *th;

		if (am_delegation_index(l, lk.jti, &idx, &e) == 0) {
			th = am_json_str(idx, "tokenSha256");
			am_sha256_hex(hex, token, strlen(token));
			if (th == NULL || strcmp(th + (am_starts_with(th, "sha256:") ? 7 : 0), hex) != 0) {
				cJSON_Delete(idx);
				am_error_set(err, AM_EAUTH, "token %s does not match the recorded delegation",
					     lk.jti);
				goto out;
			}
		}
		am_error_free(e);
		cJSON_Delete(idx);
	}
	if (check_link(l, now, out, trust, &lk, err) < 0)
		goto out;
	cJSON_Delete(out->claims);
	out->claims = j.payload;
	j.payload = NULL;
	out->am = cJSON_GetObjectItemCaseSensitive(out->claims, "am");
	free(out->subject);
	out->subject = am_xstrdup(lk.sub);
	out->exp = lk.exp;
	if (am_budget_from_json(cJSON_GetObjectItemCaseSensitive(out->am, "budget"), &out->budget,
				err) < 0)
		goto out;
	rc = 0;
out:
	am_jws_free(&j);
	return rc;
}

int
am_delegation_verify(struct am_ledger *l, const char *token, int64_t now, struct am_chain *out,
		     struct am_error **err)
{
	cJSON *trust = tip_trust(l);
	int rc;

	memset(out, 0, sizeof(*out));
	rc = verify_one(l, token, now, out, trust, err);
	cJSON_Delete(trust);
	if (rc < 0)
		am_chain_free(out);
	return rc;
}

int
am_token_arg(const char *value, char **token, struct am_error **err)
{
	char *t = NULL;
	size_t len, a = 0;

	if (value == NULL)
		value = getenv("AM_DELEGATION");
	*token = NULL;
	if (value == NULL || *value == '\0')
		return 0;
	if (value[0] == '@') {
		if (am_read_file(value + 1, AM_JWS_MAX_TOKEN + 16, &t, &len, err) < 0)
			return am_error_prefix(err, "--delegation");
	} else {
		t = am_xstrdup(value);
		len = strlen(t);
	}
	while (a < len && isspace((unsigned char)t[a]))
		a++;
	while (len > a && isspace((unsigned char)t[len - 1]))
		t[--len] = '\0';
	memmove(t, t + a, len - a + 1);
	*token = t;
	return 0;
}

/* Prove the caller holds the private half of k: sign a fresh nonce and
 * check it, so a public key file alone never passes for a principal. */
static int
prove_possession(const struct am_key *k, const char *ws, struct am_error **err)
{
	unsigned char nonce[32], sig[64];
	AM_AUTOFREE char *msg = NULL;
	char hex[65];

	randombytes_buf(nonce, sizeof(nonce));
	am_hex(hex, nonce, sizeof(nonce));
	msg = am_xasprintf("am-authority-v1:%s:%s", ws, hex);
	if (am_key_sign(k, msg, strlen(msg), sig, err) < 0)
		return -1;
	if (!am_ed25519_verify(k->pk, msg, strlen(msg), sig))
		return am_error_set(err, AM_EAUTH, "key did not prove possession of its private half");
	return 0;
}

static int
scope_has(const cJSON *am, const char *key, const char *val)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(am, key))
		if (cJSON_IsString(x) && strcmp(x->valuestring, val) == 0)
			return 1;
	return 0;
}

int
am_authorize(struct am_ledger *l, const struct am_authz_req *r, struct am_authz *out,
	     struct am_error **err)
{
	const char *key_path = r->key_path ? r->key_path : getenv("AM_KEY");
	const char *s;

	memset(out, 0, sizeof(*out));
	if (key_path && *key_path) {
		struct am_key *k = NULL;
		cJSON *trust = NULL;
		const cJSON *p;
		const char *name = NULL, *role;

		if (am_key_load(key_path, &k, err) < 0)
			return -1;
		trust = tip_trust(l);
		p = am_trust_find_key(trust, k->pk, &name);
		role = p ? am_json_str(p, "role") : NULL;
		if (p == NULL) {
			char *fpr = am_key_fingerprint(k);

			am_error_set(err, AM_EAUTH, "key %s is not a trusted principal of this workspace", fpr);
			free(fpr);
			goto keyfail;
		}
		if (r->owner_only ? strcmp(role, "owner") != 0
				  : strcmp(role, "owner") != 0 && strcmp(role, "operator") != 0) {
			am_error_set(err, AM_EAUTH, "principal '%s' (%s) may not perform %s%s", name, role,
				     r->operation, r->owner_only ? "; only an owner may" : "");
			goto keyfail;
		}
		if (prove_possession(k, am_ledger_workspace_id(l), err) < 0)
			goto keyfail;
		out->type = am_xstrdup("user");
		out->name = am_xstrdup(name);
		out->key = am_key_fingerprint(k);
		out->role = am_xstrdup(role);
		out->profile = r->profile ? am_xstrdup(r->profile) : NULL;
		out->tenant = r->tenant ? am_xstrdup(r->tenant) : NULL;
		cJSON_Delete(trust);
		am_key_free(k);
		return 0;
keyfail:
		cJSON_Delete(trust);
		am_key_free(k);
		return -1;
	}
	if (r->token == NULL || *r->token == '\0')
		return am_error_set(err, AM_EAUTH, "no delegated authority for %s", r->operation);
	if (r->owner_only)
		return am_error_set(err, AM_EAUTH, "%s needs an owner's own key (--key), not a delegation",
				    r->operation);
	if (am_delegation_verify(l, r->token, am_now(), &out->chain, err) < 0)
		return -1;
	/* Scope: the operation and every resource touched must be named. */
	if (!scope_has(out->chain.am, "operations", r->operation)) {
		am_error_set(err, AM_EAUTH, "operation %s is outside the delegation's scope (am.operations)",
			     r->operation);
		goto fail;
	}
	if (r->tool && !scope_has(out->chain.am, "tools", r->tool)) {
		am_error_set(err, AM_EAUTH, "tool '%s' is outside the delegation's scope (am.tools)", r->tool);
		goto fail;
	}
	if (r->model_provider && !scope_has(out->chain.am, "modelProviders", r->model_provider)) {
		am_error_set(err, AM_EAUTH,
			     "model provider '%s' is outside the delegation's scope (am.modelProviders)",
			     r->model_provider);
		goto fail;
	}
	s = am_json_str(out->chain.am, "profile");
	if (r->profile && (s == NULL || strcmp(s, r->profile) != 0)) {
		am_error_set(err, AM_EAUTH, "profile '%s' is outside the delegation's scope (am.profile is '%s')",
			     r->profile, s ? s : "");
		goto fail;
	}
	s = am_json_str(out->chain.am, "tenant");
	if (r->tenant && (s == NULL || strcmp(s, r->tenant) != 0)) {
		am_error_set(err, AM_EAUTH, "tenant '%s' is outside the delegation's scope (am.tenant is '%s')",
			     r->tenant, s ? s : "(none)");
		goto fail;
	}
	out->type = am_xstrdup("agent");
	out->name = am_xstrdup(out->chain.subject);
	out->delegation = am_xstrdup(out->chain.jti[0]);
	out->tenant = s ? am_xstrdup(s) : NULL;
	s = am_json_str(out->chain.am, "profile");
	out->profile = s ? am_xstrdup(s) : NULL;
	out->remaining = out->chain.budget;
	return 0;
fail:
	am_authz_free(out);
	return -1;
}

int
am_authorize_holder(struct am_ledger *l, const char *token, struct am_authz *out,
		    struct am_error **err)
{
	const char *s;

	memset(out, 0, sizeof(*out));
	if (am_delegation_verify(l, token, am_now(), &out->chain, err) < 0)
		return -1;
	out->type = am_xstrdup("agent");
	out->name = am_xstrdup(out->chain.subject);
	out->delegation = am_xstrdup(out->chain.jti[0]);
	s = am_json_str(out->chain.am, "tenant");
	out->tenant = s ? am_xstrdup(s) : NULL;
	s = am_json_str(out->chain.am, "profile");
	out->profile = s ? am_xstrdup(s) : NULL;
	out->remaining = out->chain.budget;
	return 0;
}

/* ---- creating and revoking ---- */

struct create_ctx {
	const struct am_authz *auth;
	const cJSON *claims;
	const char *token;
	const char *jti;
	const char *parent_jti;
	const struct am_key *signer;
	char op[AM_OP_ID_LEN];
};

static cJSON *
strv_json(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* Sign the record (not the token): a detached SSHSIG over the canonical
 * Delegation artifact without its signature field, so am verify can check
 * who issued each recorded delegation without the ledger ever holding a
 * bearer token (the token's own signature would let one rebuild it). */
static int
sign_record(cJSON *doc, const struct am_key *k, struct am_error **err)
{
	size_t len;
	AM_AUTOFREE char *bytes = am_canon_dump(doc, &len, err);
	char *sig;

	if (bytes == NULL)
		return -1;
	sig = am_sshsig_sign(k, "am-delegation", bytes, len, err);
	if (sig == NULL)
		return -1;
	cJSON_AddStringToObject(doc, "recordSignature", sig);
	free(sig);
	return 0;
}

int
am_delegation_check_record(const cJSON *artifact, struct am_error **err)
{
	cJSON *copy = cJSON_Duplicate(artifact, 1);
	const char *sig = am_json_str(artifact, "recordSignature"), *pub = am_json_str(artifact, "signerPublicKey");
	struct am_key *k = NULL;
	unsigned char pk[32];
	size_t len;
	char *bytes;
	int rc = -1;

	if (sig == NULL || pub == NULL || am_key_parse_public(pub, &k, NULL) < 0) {
		am_error_set(err, AM_EINTEGRITY, "delegation record %s has no signature",
			     am_json_str(artifact, "id") ? am_json_str(artifact, "id") : "?");
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "recordSignature");
	bytes = am_canon_dump(copy, &len, err);
	if (bytes == NULL)
		goto out;
	if (am_sshsig_verify(sig, strlen(sig), "am-delegation", bytes, len, pk, err) < 0 ||
	    memcmp(pk, k->pk, 32) != 0) {
		free(bytes);
		am_error_set(err, AM_EINTEGRITY, "delegation record %s: signature does not verify",
			     am_json_str(artifact, "id") ? am_json_str(artifact, "id") : "?");
		goto out;
	}
	free(bytes);
	rc = 0;
out:
	am_key_free(k);
	cJSON_Delete(copy);
	return rc;
}

static int
create_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct create_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	cJSON *doc = cJSON_CreateObject(), *idx = cJSON_CreateObject(), *am, *details;
	const cJSON *claims = c->claims;
	char ref[AM_ID_LEN], hex[65], now[21], exp[21], nbf[21], th[72];
	AM_AUTOFREE char *path = deleg_index_path(c->jti);
	AM_AUTOFREE char *pub = NULL;
	AM_AUTOFREE char *fpr = am_key_fingerprint(c->signer);
	struct am_key pubk = { 0 };
	int64_t v = 0;
	int rc = -1;

	memcpy(pubk.pk, c->signer->pk, 32);
	pub = am_key_public_line(&pubk);
	am_sha256_hex(hex, c->token, strlen(c->token));
	am = cJSON_GetObjectItemCaseSensitive(claims, "am");
	cJSON_AddStringToObject(doc, "kind", "Delegation");
	cJSON_AddStringToObject(doc, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(doc, "id", c->jti);
	cJSON_AddStringToObject(doc, "issuer", am_json_str(claims, "iss"));
	cJSON_AddStringToObject(doc, "subject", am_json_str(claims, "sub"));
	cJSON_AddStringToObject(doc, "audience", am_json_str(claims, "aud"));
	jint(claims, "iat", &v);
	am_time_format(now, v);
	jint(claims, "nbf", &v);
	am_time_format(nbf, v);
	jint(claims, "exp", &v);
	am_time_format(exp, v);
	cJSON_AddStringToObject(doc, "issuedAt", now);
	cJSON_AddStringToObject(doc, "notBefore", nbf);
	cJSON_AddStringToObject(doc, "expiresAt", exp);
	cJSON_AddItemToObject(doc, "operations",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(am, "operations"), 1));
	cJSON_AddStringToObject(doc, "profile", am_json_str(am, "profile"));
	cJSON_AddItemToObject(doc, "tools", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(am, "tools"), 1));
	cJSON_AddItemToObject(doc, "modelProviders",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(am, "modelProviders"), 1));
	cJSON_AddItemToObject(doc, "budget", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(am, "budget"), 1));
	if (am_json_str(am, "tenant"))
		cJSON_AddStringToObject(doc, "tenant", am_json_str(am, "tenant"));
	if (c->parent_jti)
		cJSON_AddStringToObject(doc, "parentRef", c->parent_jti);
	cJSON_AddStringToObject(doc, "signerKey", fpr);
	cJSON_AddStringToObject(doc, "signerPublicKey", pub);
	snprintf(th, sizeof(th), "sha256:%s", hex);
	cJSON_AddStringToObject(doc, "tokenSha256", th);
	cJSON_AddStringToObject(idx, "tokenSha256", th);
	if (sign_record(doc, c->signer, err) < 0)
		goto out;
	if (am_op_create(t, "agent_machine.delegation.create", &actor, c->jti, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0 ||
	    am_txn_put_artifact(t, doc, ref, err) < 0 ||
	    am_op_link(t, c->op, "artifactRefs", ref, err) < 0)
		goto out;
	cJSON_AddStringToObject(idx, "id", c->jti);
	cJSON_AddStringToObject(idx, "artifact", ref);
	if (c->parent_jti)
		cJSON_AddStringToObject(idx, "parent", c->parent_jti);
	else
		cJSON_AddNullToObject(idx, "parent");
	cJSON_AddStringToObject(idx, "subject", am_json_str(claims, "sub"));
	cJSON_AddStringToObject(idx, "expiresAt", exp);
	cJSON_AddBoolToObject(idx, "revoked", 0);
	cJSON_AddStringToObject(idx, "operation", c->op);
	if (am_txn_put_json(t, path, idx, err) < 0)
		goto out;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "delegationRef", ref);
	cJSON_AddStringToObject(details, "delegation", c->jti);
	if (am_op_transition(t, c->op, "completed", NULL, details, err) < 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(doc);
	cJSON_Delete(idx);
	return rc;
}

static int
strv_check_ops(const char *const *v, struct am_error **err)
{
	for (; v && *v; v++)
		if (!am_operation_type_valid(*v))
			return am_error_set(err, AM_EUSAGE, "unknown operation type '%s'", *v);
	return 0;
}

static int
delegation_create(struct am_ledger *l, struct am_txn *t, const struct am_authz *auth,
		  const struct am_key *key, const char *parent, const struct am_delegation_req *r,
		  char **token_out, char **jti_out, char op_out[AM_OP_ID_LEN], struct am_error **err)
{
	struct am_chain pc = { 0 };
	struct am_key *machine = NULL;
	const struct am_key *signer = key;
	cJSON *header = cJSON_CreateObject(), *claims = cJSON_CreateObject(), *am;
	struct create_ctx c = { 0 };
	char uuid[37];
	AM_AUTOFREE char *kid = NULL;
	char *token = NULL;
	int64_t now = am_now(), exp;
	int rc = -1, i;

	if (r->to == NULL || *r->to == '\0' || strcspn(r->to, " \t\n\"") != strlen(r->to)) {
		am_error_set(err, AM_EUSAGE, "--to: a delegate name without spaces or quotes is required");
		goto out;
	}
	if (strv_check_ops(r->operations, err) < 0)
		goto out;
	if (r->operations == NULL || r->operations[0] == NULL) {
		am_error_set(err, AM_EUSAGE, "--operations: at least one operation type is required");
		goto out;
	}
	if (parent) {
		if (am_delegation_verify(l, parent, now, &pc, err) < 0)
			goto out;
		if (am_machine_key(0, &machine, err) < 0)
			goto out;
		signer = machine;
	} else if (key == NULL || r->profile == NULL) {
		am_error_set(err, AM_EUSAGE, "--profile and --key (or --delegation PARENT) are required");
		goto out;
	}
	exp = r->expires ? r->expires : now + 86400;
	if (parent && r->expires == 0 && exp > pc.exp)
		exp = pc.exp; /* a default never outlives the parent */
	if (exp <= now) {
		am_error_set(err, AM_EUSAGE, "--expires: the delegation would already be expired");
		goto out;
	}
	am_uuid(uuid);
	kid = am_key_fingerprint(signer);
	cJSON_AddStringToObject(header, "alg", "EdDSA");
	cJSON_AddStringToObject(header, "kid", kid);
	cJSON_AddStringToObject(header, "typ", AM_DELEGATION_TYP);
	cJSON_AddStringToObject(claims, "iss", parent ? pc.subject : auth->name);
	cJSON_AddStringToObject(claims, "sub", r->to);
	cJSON_AddStringToObject(claims, "aud", am_ledger_workspace_id(l));
	cJSON_AddNumberToObject(claims, "iat", (double)now);
	cJSON_AddNumberToObject(claims, "nbf", (double)now);
	cJSON_AddNumberToObject(claims, "exp", (double)exp);
	cJSON_AddStringToObject(claims, "jti", uuid);
	am = cJSON_AddObjectToObject(claims, "am");
	cJSON_AddItemToObject(am, "operations", strv_json(r->operations));
	{
		const char *prof = r->profile ? r->profile : parent ? am_json_str(pc.am, "profile") : NULL;
		const cJSON *pt = parent ? cJSON_GetObjectItemCaseSensitive(pc.am, "tools") : NULL;
		const cJSON *pp = parent ? cJSON_GetObjectItemCaseSensitive(pc.am, "modelProviders") : NULL;
		const char *ten = r->tenant ? r->tenant : parent ? am_json_str(pc.am, "tenant") : NULL;
		struct am_budget b = r->budget;

		cJSON_AddStringToObject(am, "profile", prof);
		cJSON_AddItemToObject(am, "tools", r->tools || !pt ? strv_json(r->tools)
								   : cJSON_Duplicate(pt, 1));
		cJSON_AddItemToObject(am, "modelProviders", r->providers || !pp ? strv_json(r->providers)
										 : cJSON_Duplicate(pp, 1));
		/* A child's unnamed dimensions default to the parent's remaining
		 * budget (SPEC section 4); the remaining budget is the claim
		 * until executions record usage against it. */
		if (parent)
			for (i = 0; i < AM_BUDGET_DIMS; i++)
				if ((pc.budget.set & (1u << i)) && !(b.set & (1u << i))) {
					b.v[i] = pc.budget.v[i];
					b.set |= 1u << i;
				}
		cJSON_AddItemToObject(am, "budget", am_budget_to_json(&b));
		if (ten)
			cJSON_AddStringToObject(am, "tenant", ten);
	}
	if (parent) {
		char ph[72], hx[65];

		/* Name the parent by id and token hash, never by the token
		 * itself: a child's holder must not be able to read a wider
		 * credential out of it. */
		am_sha256_hex(hx, parent, strlen(parent));
		snprintf(ph, sizeof(ph), "sha256:%s", hx);
		cJSON_AddStringToObject(am, "parent", pc.jti[0]);
		cJSON_AddStringToObject(am, "prf", ph);
		if (check_attenuation(am, pc.am, exp, pc.exp, err) < 0)
			goto out;
		if (pc.depth + 1 > AM_CHAIN_MAX_DEPTH) {
			am_error_set(err, AM_EAUTH, "delegation chain would be deeper than %d",
				     AM_CHAIN_MAX_DEPTH);
			goto out;
		}
	}
	{
		/* Budgets never exceed the profile's ceilings: a dimension the
		 * delegation does not name defaults to the ceiling (SPEC 4), so
		 * one it names may not go above it either. */
		struct am_profile prof;
		struct am_budget b;
		int d;

		if (am_profile_resolve(l, am_json_str(am, "profile"), &prof, err) < 0) {
			/* A delegation to create that very profile may name one
			 * that does not exist yet; any other must exist. */
			if ((*err)->cls != AM_ENOTFOUND || !am_strv_has(r->operations, "agent_machine.profile.create"))
				goto out;
			am_error_free(*err);
			*err = NULL;
			prof.name = NULL;
		}
		if (prof.name == NULL)
			goto ceiling_done;
		am_budget_from_json(cJSON_GetObjectItemCaseSensitive(am, "budget"), &b, NULL);
		for (d = 0; d < AM_BUDGET_DIMS; d++) {
			const cJSON *ceil = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(prof.effective, "budget"), am_budget_dims[d]);

			if ((b.set & (1u << d)) && cJSON_IsNumber(ceil) && b.v[d] > (int64_t)ceil->valuedouble) {
				am_error_set(err, AM_EAUTH,
					     "am.budget.%s %lld exceeds the ceiling %lld of profile %s",
					     am_budget_dims[d], (long long)b.v[d], (long long)ceil->valuedouble,
					     prof.name);
				am_profile_free(&prof);
				goto out;
			}
		}
		am_profile_free(&prof);
	}
ceiling_done:
	token = am_jws_sign(header, claims, signer, err);
	if (token == NULL)
		goto out;
	c.auth = auth;
	c.claims = claims;
	c.token = token;
	c.jti = uuid;
	c.parent_jti = parent ? pc.jti[0] : NULL;
	c.signer = signer;
	if (t ? create_txn(t, &c, err) < 0 : am_ledger_transact(l, create_txn, &c, NULL, err) < 0)
		goto out;
	*token_out = am_steal_pointer(&token);
	*jti_out = am_xstrdup(uuid);
	memcpy(op_out, c.op, AM_OP_ID_LEN);
	rc = 0;
out:
	if (token)
		sodium_memzero(token, strlen(token));
	free(token);
	am_chain_free(&pc);
	am_key_free(machine);
	cJSON_Delete(header);
	cJSON_Delete(claims);
	return rc;
}

int
am_delegation_create(struct am_ledger *l, const struct am_authz *auth, const struct am_key *key,
		     const char *parent, const struct am_delegation_req *r, char **token_out,
		     char **jti_out, char op_out[AM_OP_ID_LEN], struct am_error **err)
{
	return delegation_create(l, NULL, auth, key, parent, r, token_out, jti_out, op_out, err);
}

int
am_delegation_stage(struct am_txn *t, const struct am_authz *auth, const char *parent,
		    const struct am_delegation_req *r, char **token_out, char **jti_out,
		    char op_out[AM_OP_ID_LEN], struct am_error **err)
{
	return delegation_create(am_txn_ledger(t), t, auth, NULL, parent, r, token_out, jti_out,
				 op_out, err);
}

struct revoke_ctx {
	const struct am_authz *auth;
	const char *jti;
	const char *reason;
	char op[AM_OP_ID_LEN];
};

static int
revoke_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct revoke_ctx *c = arg;
	struct am_actor actor = am_authz_actor(c->auth);
	AM_AUTOFREE char *path = deleg_index_path(c->jti);
	AM_AUTOFREE char *data = NULL;
	cJSON *idx = NULL, *doc = NULL, *details;
	char ref[AM_ID_LEN], now[21];
	size_t len;
	int rc = -1;

	if (am_txn_read(t, path, &data, &len, err) < 0)
		return -1;
	idx = am_canon_parse(data, len, err);
	if (idx == NULL)
		return -1;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "revoked"))) {
		am_error_set(err, AM_ECONFLICT, "delegation %s is already revoked", c->jti);
		goto out;
	}
	am_time_format(now, am_txn_time(t));
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "kind", "DelegationRevocation");
	cJSON_AddStringToObject(doc, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(doc, "delegation", c->jti);
	cJSON_AddStringToObject(doc, "delegationRef", am_json_str(idx, "artifact"));
	cJSON_AddStringToObject(doc, "revokedAt", now);
	cJSON_AddStringToObject(doc, "revokedBy", c->auth->name);
	cJSON_AddStringToObject(doc, "reason", c->reason ? c->reason : "");
	if (am_op_create(t, "agent_machine.delegation.revoke", &actor, NULL, c->op, err) < 0 ||
	    am_op_transition(t, c->op, "running", NULL, NULL, err) < 0 ||
	    am_txn_put_artifact(t, doc, ref, err) < 0 ||
	    am_op_link(t, c->op, "artifactRefs", ref, err) < 0)
		goto out;
	cJSON_ReplaceItemInObjectCaseSensitive(idx, "revoked", cJSON_CreateTrue());
	cJSON_AddStringToObject(idx, "revocation", ref);
	if (am_txn_put_json(t, path, idx, err) < 0)
		goto out;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "delegation", c->jti);
	cJSON_AddStringToObject(details, "revocationRef", ref);
	rc = am_op_transition(t, c->op, "completed", NULL, details, err);
out:
	cJSON_Delete(idx);
	cJSON_Delete(doc);
	return rc;
}

int
am_delegation_revoke(struct am_ledger *l, const struct am_authz *auth, const char *jti,
		     const char *reason, char op_out[AM_OP_ID_LEN], struct am_error **err)
{
	struct revoke_ctx c = { auth, jti, reason, "" };

	/* Acting under a delegation, one may revoke only that delegation or
	 * its descendants, never a sibling or an ancestor. */
	if (auth->delegation) {
		AM_AUTOFREE char *cur = am_xstrdup(jti);
		int ok = 0, depth;

		for (depth = 0; cur && depth <= AM_CHAIN_MAX_DEPTH; depth++) {
			cJSON *idx = NULL;
			const char *p;

			if (strcmp(cur, auth->delegation) == 0) {
				ok = 1;
				break;
			}
			if (am_delegation_index(l, cur, &idx, NULL) < 0)
				break;
			p = am_json_str(idx, "parent");
			free(cur);
			cur = p ? am_xstrdup(p) : NULL;
			cJSON_Delete(idx);
		}
		if (!ok)
			return am_error_set(err, AM_EAUTH,
					    "delegation %s may revoke only itself and its descendants", auth->delegation);
	}
	if (am_ledger_transact(l, revoke_txn, &c, NULL, err) < 0)
		return -1;
	memcpy(op_out, c.op, AM_OP_ID_LEN);
	return 0;
}
