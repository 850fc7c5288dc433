/* policy.h - the policy engine: Cedar-like semantics over a resolved
 * profile.  Default deny; a matching forbid beats any permit; every rule has
 * a stable id (the profile section and index it came from, e.g.
 * "corp/network.allow[0]" or "enterprise:00-corp.json/tools.forbid[1]"; a
 * default deny is "<profile>/default").
 *
 * Gates: toolGrant (resource: a tool name or absolute path),
 * networkProfile (host[:port]), modelProviderUse (endpoint URL),
 * containerExecution (image reference), artifactAccess (artifact kind).
 *
 * Ownership: struct am_decision is freed with am_decision_free().
 */
#ifndef AM_POLICY_H
#define AM_POLICY_H

#include <cjson/cJSON.h>

#include "error.h"
#include "profile.h"

struct am_decision {
	int permit;
	char *gate;
	char *resource;
	char *tenant;   /* or NULL */
	char *reason;
	cJSON *rules;   /* matched rule ids (array of strings) */
};

/* The gate an action names: a gate name itself, an operation type
 * (agent_machine.tool_grant.apply -> toolGrant, ...), or network.connect,
 * tool.execute, model.invoke, container.run, artifact.read.  NULL if none. */
const char *am_policy_gate(const char *action);

/* Decide one request.  tenant may be NULL; profiles of type
 * multi_corporate_firewall require one.  AM_EUSAGE for an unknown gate or
 * a malformed resource; a deny is not an error. */
int am_policy_decide(const struct am_profile *p, const char *gate, const char *resource,
		     const char *tenant, struct am_decision *d, struct am_error **err);
void am_decision_free(struct am_decision *d);
/* toolGrant for a program: decided on its resolved path; when no rule
 * matched that (a default deny), on the name it was given as, so "sh" that
 * resolves to /usr/bin/dash is judged as sh.  A forbid on either wins. */
int am_policy_decide_tool(const struct am_profile *p, const char *given, const char *path,
			  const char *tenant, struct am_decision *d, struct am_error **err);
/* 1 if d is a default deny (no rule matched). */
int am_decision_is_default(const struct am_decision *d);

/* The PolicyDecision artifact for d (op_id may be NULL). */
cJSON *am_decision_artifact(const struct am_decision *d, const struct am_profile *p,
			    const char *op_id, int64_t now);

#endif
