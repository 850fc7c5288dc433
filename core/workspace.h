/* workspace.h - creating a workspace (am init) and its trust roots.
 *
 * Ownership: strings in struct am_init_result are freed by
 * am_init_result_free().
 */
#ifndef AM_WORKSPACE_H
#define AM_WORKSPACE_H

#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"
#include "sshkey.h"

#define AM_WS_URN "urn:srcos:agent-machine:workspace:"

struct am_init_opts {
	const char *dir;        /* workspace directory (created if missing) */
	const char *owner_key;  /* owner public key file, or NULL for the default */
	const char *owner_name; /* principal name, or NULL ($USER, else "owner") */
};

struct am_init_result {
	int existed;           /* DIR was already a workspace: nothing done */
	char *root;            /* absolute workspace path */
	char *workspace_id;
	char commit[41];
	char *operation_id;
	char *owner_name;
	char *owner_fingerprint;
	char *owner_key_path;  /* public key file trusted as owner */
	int owner_generated;   /* am generated the owner key */
	int git_excluded;      /* .am/ was added to .git/info/exclude */
};

int am_workspace_init(const struct am_init_opts *o, struct am_init_result *r,
		      struct am_error **err);
void am_init_result_free(struct am_init_result *r);

/* Trust index (trust.json): name -> {role, key, fingerprint, principal}. */
/* Add or replace principal NAME in the txn: writes a Principal artifact,
 * trust.json and allowed_signers.  ref_out (may be NULL) gets its id. */
int am_trust_put(struct am_txn *t, const char *name, const char *role,
		 const struct am_key *k, const char *added_by, char ref_out[AM_ID_LEN],
		 struct am_error **err);
/* Remove NAME from trust.json and allowed_signers (the Principal artifact
 * stays, as history).  AM_ENOTFOUND if absent. */
int am_trust_remove(struct am_txn *t, const char *name, struct am_error **err);
/* The trust index as of the txn (caller cJSON_Delete()s); {} if none. */
int am_trust_index(struct am_txn *t, cJSON **out, struct am_error **err);
/* Parse a trust.json text (as read from any commit's tree). */
cJSON *am_trust_parse(const char *data, size_t len, struct am_error **err);
/* Find the trusted principal whose ed25519 key is pk; NULL if none. */
const cJSON *am_trust_find_key(const cJSON *trust, const unsigned char pk[32],
			       const char **name);

#endif
