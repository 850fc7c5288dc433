/* authority.h - no ambient authority: principals' keys, signed delegations
 * with attenuation and revocation, and the one check every mutating command
 * makes before it writes anything.
 *
 * A delegation is a JWS (see jws.h, am-delegation(7)) with claims iss, sub,
 * aud (the workspace id), iat, nbf, exp, jti (the delegation id) and an "am"
 * object: operations, profile, tools, modelProviders, budget, tenant and,
 * for a child, prf (the parent token).  A root delegation is signed by a
 * trusted owner or operator key; a child is signed by this machine's key on
 * behalf of the parent's holder and may only narrow the parent.
 *
 * Ledger: delegations/<uuid[0:2]>/<uuid> indexes each recorded delegation
 * (artifact ref, parent, revoked).  The token itself is a bearer credential
 * and is never stored: the Delegation artifact keeps its claims and sha256.
 *
 * Ownership: struct am_authz and struct am_chain are freed with their
 * *_free() functions; token strings returned are the caller's.
 */
#ifndef AM_AUTHORITY_H
#define AM_AUTHORITY_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"
#include "operation.h"
#include "sshkey.h"

#define AM_BUDGET_DIMS 8
#define AM_CLOCK_SKEW 60      /* seconds of nbf/exp tolerance */
#define AM_CHAIN_MAX_DEPTH 8  /* delegations in one chain, root included */
#define AM_DELEGATION_TYP "am-delegation+jwt"

/* modelCalls, tokens, connectorCalls, cpuGpuComputeSeconds, localDiskBytes,
 * sandboxMemoryBytes, wallClockSeconds, agentConcurrency. */
extern const char *const am_budget_dims[AM_BUDGET_DIMS + 1];

struct am_budget {
	int64_t v[AM_BUDGET_DIMS];
	unsigned set; /* bit i: dimension i is named */
};

/* Parse "k=v,k=v" (sizes accept K/M/G/T, durations s/m/h/d). AM_EUSAGE. */
int am_budget_parse(const char *spec, struct am_budget *b, struct am_error **err);
/* JSON object of the named dimensions. */
cJSON *am_budget_to_json(const struct am_budget *b);
int am_budget_from_json(const cJSON *o, struct am_budget *b, struct am_error **err);

/* Operation types am knows (SPEC section 2 plus am's own), NULL-terminated. */
extern const char *const am_operation_types[];
int am_operation_type_valid(const char *s);

/* A verified delegation chain, leaf first. */
struct am_chain {
	size_t depth;
	char *jti[AM_CHAIN_MAX_DEPTH];
	cJSON *claims;      /* the leaf's payload (owned) */
	const cJSON *am;    /* claims.am */
	char *issuer;       /* root principal name */
	char *subject;      /* leaf sub */
	int64_t exp;
	struct am_budget budget; /* leaf budget claim */
};
void am_chain_free(struct am_chain *c);

/* Verify a token and its whole chain against the ledger at time now:
 * structure, alg, typ, signature by a trusted key (root: owner/operator
 * named by iss; child: a machine key), aud, nbf/exp (AM_CLOCK_SKEW),
 * recorded and not revoked (nor any ancestor), attenuation, depth and loops.
 * Errors are AM_EAUTH with the reason. */
int am_delegation_verify(struct am_ledger *l, const char *token, int64_t now,
			 struct am_chain *out, struct am_error **err);

/* What a mutating command asks for. */
struct am_authz_req {
	const char *operation; /* operation type */
	const char *key_path;  /* --key (or $AM_KEY), may be NULL */
	const char *token;     /* --delegation (@FILE resolved, or $AM_DELEGATION) */
	const char *profile;   /* resources touched, NULL if none */
	const char *tool;
	const char *model_provider;
	const char *tenant;
	int owner_only;        /* only an owner's own key will do (trust changes) */
};

/* Who may act, and with what left. */
struct am_authz {
	char *type;        /* "user" (own key) or "agent" (delegation) */
	char *name;        /* principal name or delegation subject */
	char *key;         /* signer fingerprint (own key) */
	char *role;        /* principal role (own key) */
	char *delegation;  /* leaf jti (delegation) */
	char *tenant;
	char *profile;
	struct am_chain chain; /* depth 0 when acting with a key */
	struct am_budget remaining;
};
void am_authz_free(struct am_authz *a);
/* The actor to record on operations (borrows from a). */
struct am_actor am_authz_actor(const struct am_authz *a);

/* THE check: every mutating command calls this before writing anything.
 * Without a key or token: AM_EAUTH "no delegated authority for <op>". */
int am_authorize(struct am_ledger *l, const struct am_authz_req *r, struct am_authz *out,
		 struct am_error **err);

/* Authority of a delegation's holder to derive a child from it: the chain
 * must verify; no operation scope is needed (a child can only narrow). */
int am_authorize_holder(struct am_ledger *l, const char *token, struct am_authz *out,
			struct am_error **err);

/* Resolve --delegation VALUE: "@FILE" reads the token from FILE; NULL value
 * falls back to $AM_DELEGATION.  Whitespace is trimmed.  Caller frees. */
int am_token_arg(const char *value, char **token, struct am_error **err);

struct am_delegation_req {
	const char *to;
	const char *const *operations; /* NULL-terminated */
	const char *profile;           /* NULL: the parent's (child only) */
	const char *const *tools;      /* NULL: none (root) or the parent's (child) */
	const char *const *providers;
	struct am_budget budget;
	int64_t expires;               /* absolute; 0: default (1 day, capped by parent) */
	const char *tenant;
};

/* Create a delegation: signed by key (a root, key must be a trusted owner or
 * operator) or derived from parent (a child, signed by the machine key).
 * Records agent_machine.delegation.create with the Delegation artifact.
 * token_out gets the JWS; jti_out the delegation id; op_out the operation. */
int am_delegation_create(struct am_ledger *l, const struct am_authz *auth,
			 const struct am_key *key, const char *parent,
			 const struct am_delegation_req *r, char **token_out, char **jti_out,
			 char op_out[AM_OP_ID_LEN], struct am_error **err);

/* The same for a child of parent, staged in an open transaction (one
 * commit with the caller's own records). */
int am_delegation_stage(struct am_txn *t, const struct am_authz *auth, const char *parent,
			const struct am_delegation_req *r, char **token_out, char **jti_out,
			char op_out[AM_OP_ID_LEN], struct am_error **err);

/* Revoke a recorded delegation (and so all its descendants). */
int am_delegation_revoke(struct am_ledger *l, const struct am_authz *auth, const char *jti,
			 const char *reason, char op_out[AM_OP_ID_LEN], struct am_error **err);

/* Resolve an id or 6+ char prefix to a recorded delegation id. */
int am_delegation_resolve(struct am_ledger *l, const char *spec, char **jti,
			  struct am_error **err);
/* The index entry of a recorded delegation. */
int am_delegation_index(struct am_ledger *l, const char *jti, cJSON **idx,
			struct am_error **err);
/* 1 if jti or any recorded ancestor is revoked. */
int am_delegation_revoked(struct am_ledger *l, const char *jti);
/* Check the record signature of a Delegation artifact (am verify). */
int am_delegation_check_record(const cJSON *artifact, struct am_error **err);

#endif
