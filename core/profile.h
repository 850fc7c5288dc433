/* profile.h - profiles: typed, validated policy postures, their built-in
 * templates and the layers they are resolved through.
 *
 * A profile is a JSON object with exactly these keys (all optional in a file
 * or layer except where noted; a resolved profile has all of them):
 *
 *   name            string  [a-z0-9][a-z0-9_.-]{0,63}
 *   type            enum    personal corporate_firewall multi_corporate_firewall
 *                           local_model_provider hosted_model_provider
 *                           airgapped_local_only user_owned_model   (required)
 *   description     string
 *   owner           enum    user enterprise workspace
 *   tenant          string or null
 *   network         object
 *     mode          enum    none loopback proxy open
 *     allow         [host pattern]   "host", "*.example.com", "host:443",
 *     deny          [host pattern]    "*.example.com:*", "10.0.0.1", "[::1]:8080", "*"
 *     proxy         object or null
 *       upstream    string or null   "http://proxy.corp.example:3128"
 *       caBundle    string or null   absolute path of a PEM file
 *   filesystem      object
 *     readWrite     [path]  absolute, "~/..." or "${WORKSPACE}/..."
 *     readOnly      [path]
 *     deny          [path]
 *   tools           object
 *     permit        [tool pattern]   a name ("git"), an absolute path or an
 *     forbid        [tool pattern]    fnmatch(3) glob of either ("*", "/usr/bin/g*")
 *   modelProviders  object
 *     classes       [enum local hosted user_owned]
 *     endpoints     [url pattern]    fnmatch(3) glob over the endpoint URL
 *     promptEgress  enum    deny allow-with-policy allow
 *     allowTrainingUse  bool
 *     permitUserOwned   bool  (an enterprise-owned profile may use user_owned bindings)
 *   containers      object
 *     permit        bool
 *     imageDigests  [string "sha256:<64 hex>"]  (empty: any pinned image)
 *     allowTags     bool
 *     network       enum    none loopback proxy
 *   artifactAccess  object
 *     kinds         [string]  artifact kinds an execution may read
 *     ledger        enum    hidden read-only
 *   budget          object  the 8 dimensions, integers 0..2^53-1 (ceilings)
 *   tenants         [object]  (multi_corporate_firewall)
 *     name          string (required)
 *     proxy         object as network.proxy
 *     allow         [host pattern]
 *     deny          [host pattern]
 *     modelEndpoints [url pattern]
 *   locked          [string]  dotted paths lower layers may not change
 *                             (enterprise layer only)
 *   appliesTo       [type]    profile types an enterprise file applies to
 *                             (enterprise layer only; absent: all; a file's
 *                             own type and name, if present, must match too)
 *
 * Ownership: cJSON trees returned are the caller's (cJSON_Delete()).
 */
#ifndef AM_PROFILE_H
#define AM_PROFILE_H

#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"

extern const char *const am_profile_types[]; /* NULL-terminated */

/* A non-fatal finding of am_profile_check: a rule that can never match or
 * is shadowed by another. */
struct am_warning {
	char *path;
	char *msg;
};

/* Validate a profile document (a file, a layer or a resolved profile).
 * Unknown keys and wrong types are AM_EUSAGE errors naming the JSON path
 * (".network.allow[2]: expected a host pattern").  layer is 1 for partial
 * layers (no required keys), 0 for a whole profile.  Warnings (may be NULL)
 * get a NULL-terminated array the caller frees with am_warnings_free(). */
int am_profile_check(const cJSON *doc, int layer, struct am_warning **warnings,
		     struct am_error **err);
void am_warnings_free(struct am_warning *w);

/* The built-in template for a profile type (from $AM_PROFILES_DIR, else the
 * installed share/am/profiles, else ./profiles next to the binary). */
int am_profile_template(const char *type, cJSON **out, struct am_error **err);

/* Apply "a.b.c=value" to doc: value is parsed as JSON if it parses, else
 * taken as a string; the path must exist in the schema. */
int am_profile_set(cJSON *doc, const char *assignment, struct am_error **err);

/* Where a resolved value came from. */
struct am_layer {
	const char *origin; /* "builtin", "user", "workspace", "enterprise:<file>" */
	cJSON *doc;         /* owned */
};

/* A profile resolved through its layers: builtin template < user
 * ($XDG_CONFIG_HOME/am/profiles/NAME.json) < workspace (recorded in the
 * ledger) < enterprise (managed.d files that apply).  Locked paths keep the
 * enterprise value; enterprise forbid/deny lists are unioned, never dropped. */
struct am_profile {
	char *name;
	cJSON *effective;  /* resolved document */
	cJSON *origins;    /* dotted leaf path -> origin string */
	cJSON *locked;     /* array of locked dotted paths */
	cJSON *rule_ids;   /* dotted list path -> [stable rule id per entry] */
	char *record;      /* artifact id of the workspace record, or NULL */
	struct am_layer layers[16];
	size_t nlayers;
};

/* Load the enterprise layer: every *.json in $AM_MANAGED_DIR (default
 * /etc/am/managed.d), each refused (AM_EDENIED) unless owned by root and not
 * writable by group or others.  Returns an array of {file, doc}. */
int am_managed_load(cJSON **files, struct am_error **err);

/* Resolve NAME: a recorded profile (ledger profiles/NAME) or, if none, the
 * built-in template of the type NAME.  l may be NULL (templates only). */
int am_profile_resolve(struct am_ledger *l, const char *name, struct am_profile *out,
		       struct am_error **err);
void am_profile_free(struct am_profile *p);

/* Flatten doc to {"dotted.path": leaf value} (lists are leaves). */
cJSON *am_profile_flatten(const cJSON *doc);
/* Locked paths the enterprise layer sets for profiles of this type. */
int am_profile_locked(const char *type, const char *name, cJSON **locked, struct am_error **err);
/* 1 if path (dotted) is locked by one of locked. */
int am_profile_is_locked(const cJSON *locked, const char *path);

/* Record a profile (agent_machine.profile.create) is done by cmd/profile.c
 * through the operation engine; this builds the AgentMachineProfile
 * artifact body from a validated document. */
cJSON *am_profile_artifact(const cJSON *doc, const char *name);

#endif
