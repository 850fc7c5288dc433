/* policy.c - see policy.h */
#include <ctype.h>
#include <arpa/inet.h>
#include <fnmatch.h>

#include "policy.h"
#include "util.h"

static const struct {
	const char *action;
	const char *gate;
} gate_map[] = {
	{ "toolGrant", "toolGrant" },
	{ "networkProfile", "networkProfile" },
	{ "modelProviderUse", "modelProviderUse" },
	{ "containerExecution", "containerExecution" },
	{ "artifactAccess", "artifactAccess" },
	{ "agent_machine.tool_grant.apply", "toolGrant" },
	{ "tool.execute", "toolGrant" },
	{ "agent_machine.model_provider.bind", "modelProviderUse" },
	{ "model.invoke", "modelProviderUse" },
	{ "agent_machine.container.run", "containerExecution" },
	{ "container.run", "containerExecution" },
	{ "network.connect", "networkProfile" },
	{ "artifact.read", "artifactAccess" },
};

const char *
am_policy_gate(const char *action)
{
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(gate_map); i++)
		if (strcmp(gate_map[i].action, action) == 0)
			return gate_map[i].gate;
	return NULL;
}

void
am_decision_free(struct am_decision *d)
{
	free(d->gate);
	free(d->resource);
	free(d->tenant);
	free(d->reason);
	cJSON_Delete(d->rules);
	memset(d, 0, sizeof(*d));
}

static const cJSON *
at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* The stable id of a scalar rule: the layer that set it, then its path. */
static char *
scalar_id(const struct am_profile *p, const char *path)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(p->origins, path);

	if (cJSON_IsString(o) && am_starts_with(o->valuestring, "enterprise:"))
		return am_xasprintf("%s/%s", o->valuestring, path);
	return am_xasprintf("%s/%s", p->name, path);
}

/* The id of entry i of list path (falls back to "<name>/<path>[i]"). */
static char *
list_id(const struct am_profile *p, const char *path, int i)
{
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(p->rule_ids, path);
	const cJSON *id = cJSON_GetArrayItem(ids, i);

	return cJSON_IsString(id) ? am_xstrdup(id->valuestring)
				  : am_xasprintf("%s/%s[%d]", p->name, path, i);
}

static void
add_rule(struct am_decision *d, char *id)
{
	cJSON_AddItemToArray(d->rules, cJSON_CreateString(id));
	free(id);
}

static int
finish(struct am_decision *d, int permit, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
finish(struct am_decision *d, int permit, const char *fmt, ...)
{
	va_list ap;

	d->permit = permit;
	va_start(ap, fmt);
	if (vasprintf(&d->reason, fmt, ap) < 0)
		am_die_oom();
	va_end(ap);
	return 0;
}

/* Match every entry of list path against resource; collect ids.  Returns
 * the number of matches. */
static int
match_list(const struct am_profile *p, const char *path, const cJSON *list,
	   int (*match)(const char *pat, const char *res), const char *res, struct am_decision *d)
{
	const cJSON *x;
	int i = 0, hits = 0;

	cJSON_ArrayForEach(x, list) {
		if (cJSON_IsString(x) && match(x->valuestring, res)) {
			add_rule(d, list_id(p, path, i));
			hits++;
		}
		i++;
	}
	return hits;
}

static int
tool_match(const char *pat, const char *res)
{
	const char *base = strrchr(res, '/');

	if (fnmatch(pat, res, 0) == 0)
		return 1;
	/* A pattern without '/' names a tool: match it on the basename too. */
	return strchr(pat, '/') == NULL && base && fnmatch(pat, base + 1, 0) == 0;
}

/* host[:port] or [v6]:port into host and port ("" when absent). */
static void
split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		snprintf(host, hn, "%.*s", rb ? (int)(rb - s + 1) : (int)strlen(s), s);
		snprintf(port, pn, "%s", rb && rb[1] == ':' ? rb + 2 : "");
		return;
	}
	colon = strrchr(s, ':');
	snprintf(host, hn, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	snprintf(port, pn, "%s", colon ? colon + 1 : "");
}

static int
host_match(const char *pat, const char *res)
{
	char ph[300], pp[16], rh[300], rp[16];

	if (strcmp(pat, "*") == 0)
		return 1;
	split_hostport(pat, ph, sizeof(ph), pp, sizeof(pp));
	split_hostport(res, rh, sizeof(rh), rp, sizeof(rp));
	if (*pp && strcmp(pp, "*") != 0 && strcmp(pp, rp) != 0)
		return 0;
	/* "*.example.com" matches subdomains, not example.com itself. */
	return fnmatch(ph, rh, FNM_CASEFOLD) == 0;
}

/* An endpoint URL in one spelling: scheme and host lowercased, the
 * scheme's default port dropped, so "https://H:443/v1" matches "https://H/..." */
static char *
url_normalize(const char *url)
{
	const char *p = strstr(url, "://");
	char *out, *q;
	size_t hl;

	if (p == NULL)
		return am_xstrdup(url);
	out = am_xstrdup(url);
	for (q = out; q < out + (p - url) + 3 + strcspn(p + 3, "/?#"); q++)
		*q = (char)tolower((unsigned char)*q);
	hl = strcspn(p + 3, "/?#");
	q = out + (p - url) + 3;
	if ((am_starts_with(out, "https://") && hl > 4 && strncmp(q + hl - 4, ":443", 4) == 0) ||
	    (am_starts_with(out, "http://") && hl > 3 && strncmp(q + hl - 3, ":80", 3) == 0)) {
		size_t cut = am_starts_with(out, "https://") ? 4 : 3;

		memmove(q + hl - cut, q + hl, strlen(q + hl) + 1);
	}
	return out;
}

static int
url_match(const char *pat, const char *res)
{
	AM_AUTOFREE char *n = url_normalize(res);

	return fnmatch(pat, res, 0) == 0 || fnmatch(pat, n, 0) == 0;
}

static int
str_eq(const char *pat, const char *res)
{
	return strcmp(pat, res) == 0;
}

static int
loopback_host(const char *hostport)
{
	char h[300], port[16];
	struct in_addr a;

	split_hostport(hostport, h, sizeof(h), port, sizeof(port));
	/* An IPv4 literal in 127/8 -- not a DNS name that merely starts with
	 * "127." (127.0.0.1.evil.example). */
	if (inet_pton(AF_INET, h, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 || strcmp(h, "::1") == 0;
}

static int
loopback_url(const char *url)
{
	const char *p = strstr(url, "://");
	char hp[300];

	if (am_starts_with(url, "unix:"))
		return 1;
	if (p == NULL)
		return 0;
	p += 3;
	snprintf(hp, sizeof(hp), "%.*s", (int)strcspn(p, "/?#"), p);
	if (strchr(hp, '@'))
		memmove(hp, strchr(hp, '@') + 1, strlen(strchr(hp, '@')));
	return loopback_host(hp);
}

/* The tenant entry of a multi-tenant profile, and its index. */
static const cJSON *
find_tenant(const struct am_profile *p, const char *tenant, int *index)
{
	const cJSON *t;
	int i = 0;

	cJSON_ArrayForEach(t, at(p->effective, "tenants", NULL)) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");

		if (cJSON_IsString(n) && strcmp(n->valuestring, tenant) == 0) {
			*index = i;
			return t;
		}
		i++;
	}
	return NULL;
}

static int
decide_tool(const struct am_profile *p, const char *res, struct am_decision *d)
{
	if (match_list(p, "tools.forbid", at(p->effective, "tools", "forbid"), tool_match, res, d))
		return finish(d, 0, "tool '%s' is forbidden", res);
	if (match_list(p, "tools.permit", at(p->effective, "tools", "permit"), tool_match, res, d))
		return finish(d, 1, "tool '%s' is permitted", res);
	add_rule(d, am_xasprintf("%s/default", p->name));
	return finish(d, 0, "no rule permits tool '%s' (default deny)", res);
}

static int
decide_network(const struct am_profile *p, const char *res, const char *tenant, int tindex,
	       const cJSON *t, struct am_decision *d)
{
	const cJSON *mode = at(p->effective, "network", "mode");
	const char *m = cJSON_IsString(mode) ? mode->valuestring : "none";
	char path[160];

	(void)tindex;
	if (strcmp(m, "none") == 0) {
		add_rule(d, scalar_id(p, "network.mode"));
		return finish(d, 0, "network.mode is none: no egress at all");
	}

	if (strcmp(m, "loopback") == 0) {
		add_rule(d, scalar_id(p, "network.mode"));
		return loopback_host(res) ? finish(d, 1, "'%s' is loopback (network.mode loopback)", res)
					  : finish(d, 0, "network.mode is loopback: '%s' is not", res);
	}
	/* The airgapped type means no egress whatever its keys say: only
	 * loopback, never a route out. */
	if (strcmp(at(p->effective, "type", NULL)->valuestring, "airgapped_local_only") == 0) {
		add_rule(d, scalar_id(p, "type"));
		return loopback_host(res) ? finish(d, 1, "'%s' is loopback (airgapped)", res)
					  : finish(d, 0, "airgapped_local_only permits no egress at all: '%s' is not loopback", res);
	}
	/* The host network cannot enforce allow and deny lists: only a
	 * personal profile may use it (SPEC section 8). */
	if (strcmp(m, "open") == 0 && strcmp(at(p->effective, "type", NULL)->valuestring, "personal") != 0) {
		add_rule(d, scalar_id(p, "network.mode"));
		return finish(d, 0, "network.mode open is only for personal profiles");
	}
	if (match_list(p, "network.deny", at(p->effective, "network", "deny"), host_match, res, d))
		return finish(d, 0, "'%s' is denied", res);
	if (t) {
		snprintf(path, sizeof(path), "tenants[%s].deny", tenant);
		if (match_list(p, path, cJSON_GetObjectItemCaseSensitive(t, "deny"), host_match, res, d))
			return finish(d, 0, "'%s' is denied for tenant '%s'", res, tenant);
		snprintf(path, sizeof(path), "tenants[%s].allow", tenant);
		if (match_list(p, path, cJSON_GetObjectItemCaseSensitive(t, "allow"), host_match, res, d))
			return finish(d, 1, "'%s' is allowed for tenant '%s'", res, tenant);
	}
	if (match_list(p, "network.allow", at(p->effective, "network", "allow"), host_match, res, d))
		return finish(d, 1, "'%s' is allowed (network.mode %s)", res, m);
	add_rule(d, am_xasprintf("%s/default", p->name));
	return finish(d, 0, "no rule allows '%s' (default deny)", res);
}

static int
decide_model(const struct am_profile *p, const char *res, const char *tenant, int tindex,
	     const cJSON *t, struct am_decision *d)
{
	const char *type = at(p->effective, "type", NULL)->valuestring;
	const cJSON *eg = at(p->effective, "modelProviders", "promptEgress");
	const char *auth = strstr(res, "://");
	char path[160];

	(void)tindex;
	/* A URL with user:password@ would match patterns by its userinfo
	 * ("http://127.0.0.1:x@evil/") and carries a secret: refuse it. */
	if (auth && memchr(auth + 3, '@', strcspn(auth + 3, "/?#"))) {
		add_rule(d, am_xasprintf("%s/default", p->name));
		return finish(d, 0, "endpoint URL carries credentials (user@); use --auth-ref instead");
	}

	/* Airgapped and local-only profiles: loopback or a Unix socket, ever. */
	if ((strcmp(type, "airgapped_local_only") == 0 || strcmp(type, "local_model_provider") == 0 ||
	     (cJSON_IsString(eg) && strcmp(eg->valuestring, "deny") == 0)) &&
	    !loopback_url(res)) {
		add_rule(d, cJSON_IsString(eg) && strcmp(eg->valuestring, "deny") == 0
				    ? scalar_id(p, "modelProviders.promptEgress")
				    : scalar_id(p, "type"));
		return finish(d, 0, "'%s' is not a loopback or Unix-socket endpoint; profile %s allows no prompt egress",
			      res, p->name);
	}
	/* A user-owned model serves an enterprise-owned profile only if the
	 * enterprise layer says so: a permitUserOwned set by a lower layer
	 * counts for nothing. */
	{
		const cJSON *owner = at(p->effective, "owner", NULL), *cls = at(p->effective, "modelProviders", "classes"), *c;
		const cJSON *pu = at(p->effective, "modelProviders", "permitUserOwned");
		const cJSON *po = cJSON_GetObjectItemCaseSensitive(p->origins, "modelProviders.permitUserOwned");
		int only_uo = cJSON_GetArraySize(cls) > 0, from_ent;

		cJSON_ArrayForEach(c, cls)
			only_uo &= cJSON_IsString(c) && strcmp(c->valuestring, "user_owned") == 0;
		from_ent = cJSON_IsTrue(pu) && cJSON_IsString(po) && am_starts_with(po->valuestring, "enterprise:");
		if (cJSON_IsString(owner) && strcmp(owner->valuestring, "enterprise") == 0 && only_uo && !from_ent) {
			add_rule(d, scalar_id(p, "modelProviders.permitUserOwned"));
			return finish(d, 0, "profile %s is enterprise-owned: a user-owned model needs the enterprise layer's permitUserOwned",
				      p->name);
		}
	}
	/* Under allow-with-policy the endpoint's host must also pass the
	 * network lists: an enterprise-denied host is not a model endpoint. */
	if (cJSON_IsString(eg) && strcmp(eg->valuestring, "allow-with-policy") == 0 && auth) {
		char hp[300];
		const char *h = auth + 3;
		int hl = (int)strcspn(h, "/?#");
		struct am_decision nd;

		snprintf(hp, sizeof(hp), "%.*s", hl, h);
		if (!strchr(hp, ':') || hp[0] == '[')
			snprintf(hp + strlen(hp), sizeof(hp) - strlen(hp), ":%s",
				 am_starts_with(res, "https:") ? "443" : "80");
		memset(&nd, 0, sizeof(nd));
		nd.rules = cJSON_CreateArray();
		if (match_list(p, "network.deny", at(p->effective, "network", "deny"), host_match, hp, &nd)) {
			cJSON_Delete(d->rules);
			d->rules = nd.rules;
			return finish(d, 0, "endpoint host '%s' is denied by the network rules", hp);
		}
		cJSON_Delete(nd.rules);
	}
	if (t) {
		snprintf(path, sizeof(path), "tenants[%s].modelEndpoints", tenant);
		if (match_list(p, path, cJSON_GetObjectItemCaseSensitive(t, "modelEndpoints"), url_match, res, d))
			return finish(d, 1, "endpoint '%s' is permitted for tenant '%s'", res, tenant);
	}
	if (match_list(p, "modelProviders.endpoints", at(p->effective, "modelProviders", "endpoints"),
		       url_match, res, d))
		return finish(d, 1, "endpoint '%s' is permitted", res);
	add_rule(d, am_xasprintf("%s/default", p->name));
	return finish(d, 0, "no rule permits endpoint '%s' (default deny)", res);
}

static int
decide_container(const struct am_profile *p, const char *res, struct am_decision *d)
{
	const cJSON *permit = at(p->effective, "containers", "permit");
	const cJSON *tags = at(p->effective, "containers", "allowTags");
	const cJSON *digests = at(p->effective, "containers", "imageDigests");
	const char *at_ = strstr(res, "@sha256:");

	if (!cJSON_IsTrue(permit)) {
		add_rule(d, scalar_id(p, "containers.permit"));
		return finish(d, 0, "containers are not permitted by profile %s", p->name);
	}
	if (at_ == NULL || !am_is_hex64(at_ + 8)) {
		if (!cJSON_IsTrue(tags)) {
			add_rule(d, scalar_id(p, "containers.allowTags"));
			return finish(d, 0, "image '%s' is not pinned by digest (@sha256:...)", res);
		}
		if (cJSON_GetArraySize(digests) > 0) {
			add_rule(d, am_xasprintf("%s/default", p->name));
			return finish(d, 0, "image '%s' has no digest to check against containers.imageDigests", res);
		}
		add_rule(d, scalar_id(p, "containers.allowTags"));
		return finish(d, 1, "image '%s' permitted by tag", res);
	}
	if (cJSON_GetArraySize(digests) == 0) {
		add_rule(d, scalar_id(p, "containers.permit"));
		return finish(d, 1, "pinned image '%s' permitted", res);
	}
	if (match_list(p, "containers.imageDigests", digests, str_eq, at_ + 1, d))
		return finish(d, 1, "image digest is listed in containers.imageDigests");
	add_rule(d, am_xasprintf("%s/default", p->name));
	return finish(d, 0, "image digest %.19s... is not in containers.imageDigests", at_ + 1);
}

static int
decide_artifact(const struct am_profile *p, const char *res, struct am_decision *d)
{
	if (match_list(p, "artifactAccess.kinds", at(p->effective, "artifactAccess", "kinds"), str_eq,
		       res, d))
		return finish(d, 1, "executions may read %s artifacts", res);
	add_rule(d, am_xasprintf("%s/default", p->name));
	return finish(d, 0, "executions may not read %s artifacts (default deny)", res);
}

int
am_policy_decide(const struct am_profile *p, const char *gate, const char *resource,
		 const char *tenant, struct am_decision *d, struct am_error **err)
{
	const cJSON *type = at(p->effective, "type", NULL), *t = NULL, *ptenant;
	int tindex = -1;

	memset(d, 0, sizeof(*d));
	if (resource == NULL || *resource == '\0')
		return am_error_set(err, AM_EUSAGE, "a resource is required");
	if (strlen(resource) > 4096 || strpbrk(resource, "\n\r") != NULL)
		return am_error_set(err, AM_EUSAGE, "resource is too long or has line breaks");
	d->gate = am_xstrdup(gate);
	d->resource = am_xstrdup(resource);
	d->tenant = tenant ? am_xstrdup(tenant) : NULL;
	d->rules = cJSON_CreateArray();
	/* Tenant binding: a multi-tenant profile decides nothing without
	 * exactly one known tenant; a tenant-bound profile only for its own. */
	ptenant = at(p->effective, "tenant", NULL);
	if (cJSON_IsString(type) && strcmp(type->valuestring, "multi_corporate_firewall") == 0) {
		if (tenant == NULL) {
			add_rule(d, scalar_id(p, "tenant"));
			return finish(d, 0, "profile %s binds every request to exactly one tenant; none given",
				      p->name);
		}
		t = find_tenant(p, tenant, &tindex);
		if (t == NULL) {
			add_rule(d, scalar_id(p, "tenant"));
			return finish(d, 0, "tenant '%s' is not a tenant of profile %s", tenant, p->name);
		}
	} else if (cJSON_IsString(ptenant) && tenant && strcmp(ptenant->valuestring, tenant) != 0) {
		add_rule(d, scalar_id(p, "tenant"));
		return finish(d, 0, "profile %s belongs to tenant '%s', not '%s'", p->name,
			      ptenant->valuestring, tenant);
	}
	if (strcmp(gate, "toolGrant") == 0)
		return decide_tool(p, resource, d);
	if (strcmp(gate, "networkProfile") == 0)
		return decide_network(p, resource, tenant, tindex, t, d);
	if (strcmp(gate, "modelProviderUse") == 0)
		return decide_model(p, resource, tenant, tindex, t, d);
	if (strcmp(gate, "containerExecution") == 0)
		return decide_container(p, resource, d);
	if (strcmp(gate, "artifactAccess") == 0)
		return decide_artifact(p, resource, d);
	am_decision_free(d);
	return am_error_set(err, AM_EUSAGE, "unknown gate '%s'", gate);
}

cJSON *
am_decision_artifact(const struct am_decision *d, const struct am_profile *p, const char *op_id,
		     int64_t now)
{
	cJSON *a = cJSON_CreateObject();
	char t[21];

	am_time_format(t, now);
	cJSON_AddStringToObject(a, "kind", "PolicyDecision");
	cJSON_AddStringToObject(a, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(a, "gate", d->gate);
	cJSON_AddStringToObject(a, "decision", d->permit ? "permit" : "deny");
	cJSON_AddStringToObject(a, "resource", d->resource);
	cJSON_AddItemToObject(a, "matchedRules", cJSON_Duplicate(d->rules, 1));
	cJSON_AddStringToObject(a, "reason", d->reason);
	cJSON_AddStringToObject(a, "profile", p->name);
	if (p->record)
		cJSON_AddStringToObject(a, "profileRef", p->record);
	if (d->tenant)
		cJSON_AddStringToObject(a, "tenant", d->tenant);
	if (op_id)
		cJSON_AddStringToObject(a, "operationId", op_id);
	cJSON_AddStringToObject(a, "decidedAt", t);
	return a;
}

int
am_decision_is_default(const struct am_decision *d)
{
	const cJSON *r = cJSON_GetArrayItem(d->rules, 0);
	size_t n;

	if (d->permit || !cJSON_IsString(r))
		return 0;
	n = strlen(r->valuestring);
	return n >= 8 && strcmp(r->valuestring + n - 8, "/default") == 0;
}

int
am_policy_decide_tool(const struct am_profile *p, const char *given, const char *path,
		      const char *tenant, struct am_decision *d, struct am_error **err)
{
	struct am_decision alt;

	if (am_policy_decide(p, "toolGrant", path, tenant, d, err) < 0)
		return -1;
	if (!am_decision_is_default(d) || given == NULL || strcmp(given, path) == 0)
		return 0;
	if (am_policy_decide(p, "toolGrant", given, tenant, &alt, err) < 0)
		return -1;
	if (alt.permit || !am_decision_is_default(&alt)) {
		am_decision_free(d);
		*d = alt;
	} else {
		am_decision_free(&alt);
	}
	return 0;
}
