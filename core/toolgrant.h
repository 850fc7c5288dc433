/* toolgrant.h - tool grants: which executables a delegate may run, pinned
 * by the sha256 of the binary at grant time.
 *
 * Ledger: grants/<uuid[0:2]>/<uuid> indexes each grant (latest
 * ToolGrantRecord ref, tool, path, sha256, grantee, profile, tenant,
 * expiry, revoked).  Grants are tenant-scoped: a grant made under tenant A
 * is invisible and unusable under tenant B (and untenanted grants only
 * outside any tenant).
 *
 * Ownership: returned strings and cJSON trees are the caller's.
 */
#ifndef AM_TOOLGRANT_H
#define AM_TOOLGRANT_H

#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"
#include "profile.h"

#define AM_GRANT_URN "urn:srcos:agent-machine:tool-grant:"

/* Resolve TOOL (a name searched in $PATH, or a path) to the absolute real
 * path of a regular executable file.  Refused: nothing found or a directory
 * (AM_EUSAGE), and a file that resolves (through symlinks) outside the
 * profile's readOnly/readWrite paths (AM_EDENIED).  root is the workspace
 * (for ${WORKSPACE}). */
int am_tool_resolve(const char *tool, const struct am_profile *p, const char *root,
		    char **path, struct am_error **err);
/* sha256 of a file's bytes, streamed. */
int am_file_sha256(const char *path, char hex[65], struct am_error **err);
/* Expand "~/" and "${WORKSPACE}" in a profile path. */
char *am_profile_path_expand(const char *pat, const char *root);

/* The grant index entries visible under tenant (NULL: untenanted only). */
int am_grants_list(struct am_ledger *l, const char *tenant, cJSON **out, struct am_error **err);
/* Resolve a grant id or 6+ char prefix among the visible grants. */
int am_grant_find(struct am_ledger *l, const char *tenant, const char *spec, cJSON **idx,
		  struct am_error **err);
/* Is tool (absolute path) granted to grantee under tenant right now, with
 * its binary unchanged?  0 yes; AM_EDENIED with the reason otherwise. */
int am_grant_check(struct am_ledger *l, const char *tenant, const char *grantee,
		   const char *path, cJSON **grant, struct am_error **err);

#endif
