/* profile.c - see profile.h */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include "authority.h"
#include "canon.h"
#include "profile.h"
#include "util.h"

const char *const am_profile_types[] = {
	"personal", "corporate_firewall", "multi_corporate_firewall", "local_model_provider",
	"hosted_model_provider", "airgapped_local_only", "user_owned_model", NULL,
};

/* ---- the schema ---- */

enum ftype {
	F_OBJ,       /* object with sub fields */
	F_STR,       /* string */
	F_STR_NULL,  /* string or null */
	F_NAME,      /* profile name */
	F_ENUM,      /* one of enums */
	F_BOOL,
	F_INT,       /* 0 .. 2^53-1 */
	F_HOSTS,     /* [host pattern] */
	F_PATHS,     /* [path] */
	F_TOOLS,     /* [tool pattern] */
	F_URLS,      /* [url pattern] */
	F_STRS,      /* [string] */
	F_ENUMS,     /* [enum] */
	F_DIGESTS,   /* ["sha256:<hex>"] */
	F_OBJ_NULL,  /* object or null */
	F_LIST_OBJ,  /* [object] */
};

struct field {
	const char *name;
	enum ftype t;
	const struct field *sub;      /* F_OBJ, F_OBJ_NULL, F_LIST_OBJ */
	const char *const *enums;     /* F_ENUM, F_ENUMS */
	int required;                 /* in a whole profile / list object */
};

static const char *const e_owner[] = { "user", "enterprise", "workspace", NULL };
static const char *const e_mode[] = { "none", "loopback", "proxy", "open", NULL };
static const char *const e_cmode[] = { "none", "loopback", "proxy", NULL };
static const char *const e_egress[] = { "deny", "allow-with-policy", "allow", NULL };
static const char *const e_class[] = { "local", "hosted", "user_owned", NULL };
static const char *const e_ledger[] = { "hidden", "read-only", NULL };

static const struct field f_proxy[] = {
	{ "upstream", F_STR_NULL, NULL, NULL, 0 },
	{ "caBundle", F_STR_NULL, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_network[] = {
	{ "mode", F_ENUM, NULL, e_mode, 1 },
	{ "allow", F_HOSTS, NULL, NULL, 0 },
	{ "deny", F_HOSTS, NULL, NULL, 0 },
	{ "proxy", F_OBJ_NULL, f_proxy, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_fs[] = {
	{ "readWrite", F_PATHS, NULL, NULL, 0 },
	{ "readOnly", F_PATHS, NULL, NULL, 0 },
	{ "deny", F_PATHS, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_tools[] = {
	{ "permit", F_TOOLS, NULL, NULL, 0 },
	{ "forbid", F_TOOLS, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_models[] = {
	{ "classes", F_ENUMS, NULL, e_class, 0 },
	{ "endpoints", F_URLS, NULL, NULL, 0 },
	{ "promptEgress", F_ENUM, NULL, e_egress, 0 },
	{ "allowTrainingUse", F_BOOL, NULL, NULL, 0 },
	{ "permitUserOwned", F_BOOL, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_containers[] = {
	{ "permit", F_BOOL, NULL, NULL, 0 },
	{ "imageDigests", F_DIGESTS, NULL, NULL, 0 },
	{ "allowTags", F_BOOL, NULL, NULL, 0 },
	{ "network", F_ENUM, NULL, e_cmode, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_access[] = {
	{ "kinds", F_STRS, NULL, NULL, 0 },
	{ "ledger", F_ENUM, NULL, e_ledger, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_budget[] = {
	{ "modelCalls", F_INT, NULL, NULL, 0 },
	{ "tokens", F_INT, NULL, NULL, 0 },
	{ "connectorCalls", F_INT, NULL, NULL, 0 },
	{ "cpuGpuComputeSeconds", F_INT, NULL, NULL, 0 },
	{ "localDiskBytes", F_INT, NULL, NULL, 0 },
	{ "sandboxMemoryBytes", F_INT, NULL, NULL, 0 },
	{ "wallClockSeconds", F_INT, NULL, NULL, 0 },
	{ "agentConcurrency", F_INT, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_tenant[] = {
	{ "name", F_NAME, NULL, NULL, 1 },
	{ "proxy", F_OBJ_NULL, f_proxy, NULL, 0 },
	{ "allow", F_HOSTS, NULL, NULL, 0 },
	{ "deny", F_HOSTS, NULL, NULL, 0 },
	{ "modelEndpoints", F_URLS, NULL, NULL, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};
static const struct field f_profile[] = {
	{ "name", F_NAME, NULL, NULL, 0 },
	{ "type", F_ENUM, NULL, am_profile_types, 1 },
	{ "description", F_STR, NULL, NULL, 0 },
	{ "owner", F_ENUM, NULL, e_owner, 0 },
	{ "tenant", F_STR_NULL, NULL, NULL, 0 },
	{ "network", F_OBJ, f_network, NULL, 0 },
	{ "filesystem", F_OBJ, f_fs, NULL, 0 },
	{ "tools", F_OBJ, f_tools, NULL, 0 },
	{ "modelProviders", F_OBJ, f_models, NULL, 0 },
	{ "containers", F_OBJ, f_containers, NULL, 0 },
	{ "artifactAccess", F_OBJ, f_access, NULL, 0 },
	{ "budget", F_OBJ, f_budget, NULL, 0 },
	{ "tenants", F_LIST_OBJ, f_tenant, NULL, 0 },
	{ "locked", F_STRS, NULL, NULL, 0 },
	{ "appliesTo", F_ENUMS, NULL, am_profile_types, 0 },
	{ NULL, 0, NULL, NULL, 0 },
};

/* Host pattern: "*", or [*.]label(.label)* / IPv4 / [IPv6], then an
 * optional ":port" or ":*". */
static int
host_pattern_ok(const char *s)
{
	const char *p = s, *colon;
	size_t hl;
	long port;
	char *end;

	if (strcmp(s, "*") == 0)
		return 1;
	if (*p == '[') {
		const char *rb = strchr(p, ']');

		if (rb == NULL || rb == p + 1 || strspn(p + 1, "0123456789abcdefABCDEF:.") != (size_t)(rb - p - 1))
			return 0;
		colon = rb[1] == ':' ? rb + 1 : rb[1] == '\0' ? NULL : (const char *)"";
		if (colon && *colon == '\0')
			return 0;
		hl = 0;
	} else {
		colon = strrchr(p, ':');
		hl = colon ? (size_t)(colon - p) : strlen(p);
		if (hl == 0 || hl > 253)
			return 0;
		if (am_starts_with(p, "*.")) {
			p += 2;
			hl -= 2;
		}
		{
			size_t i, label = 0;

			for (i = 0; i < hl; i++) {
				char c = (char)tolower((unsigned char)p[i]);

				if (c == '.') {
					if (label == 0)
						return 0;
					label = 0;
				} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
					if (++label > 63)
						return 0;
				} else {
					return 0;
				}
			}
			if (label == 0)
				return 0;
		}
	}
	if (colon) {
		if (strcmp(colon + 1, "*") == 0)
			return 1;
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end || errno || port < 1 || port > 65535)
			return 0;
	}
	return 1;
}

static int
path_ok(const char *s)
{
	return s[0] == '/' || am_starts_with(s, "~/") || strcmp(s, "~") == 0 ||
	       am_starts_with(s, "${WORKSPACE}");
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 && (islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int
digest_ok(const char *s)
{
	return am_starts_with(s, "sha256:") && am_is_hex64(s + 7);
}

static char *
subpath(const char *path, const char *key)
{
	return am_xasprintf("%s.%s", strcmp(path, ".") == 0 ? "" : path, key);
}

static int
check_list(const cJSON *v, const char *path, enum ftype t, const char *const *enums,
	   struct am_error **err)
{
	const cJSON *x;
	int i = 0;

	if (!cJSON_IsArray(v))
		return am_error_setp(err, AM_EUSAGE, path, "%s: expected a list", path);
	cJSON_ArrayForEach(x, v) {
		AM_AUTOFREE char *p = am_xasprintf("%s[%d]", path, i++);
		const char *s;

		if (!cJSON_IsString(x))
			return am_error_setp(err, AM_EUSAGE, p, "%s: expected string", p);
		s = x->valuestring;
		switch (t) {
		case F_HOSTS:
			if (!host_pattern_ok(s))
				return am_error_setp(err, AM_EUSAGE, p,
						     "%s: host pattern '%s' cannot parse (expected host, *.domain, or host:port)",
						     p, s);
			break;
		case F_PATHS:
			if (!path_ok(s))
				return am_error_setp(err, AM_EUSAGE, p,
						     "%s: path '%s' must be absolute, ~/... or ${WORKSPACE}/...", p, s);
			break;
		case F_TOOLS:
			if (*s == '\0' || strchr(s, ' '))
				return am_error_setp(err, AM_EUSAGE, p, "%s: tool pattern '%s' is empty or has spaces", p, s);
			break;
		case F_URLS:
			if (*s == '\0' || (!strstr(s, "://") && !am_starts_with(s, "unix:") && strcmp(s, "*") != 0))
				return am_error_setp(err, AM_EUSAGE, p,
						     "%s: endpoint pattern '%s' must be a URL (scheme://...), unix:PATH or *",
						     p, s);
			break;
		case F_ENUMS:
			if (!am_strv_has(enums, s))
				return am_error_setp(err, AM_EUSAGE, p, "%s: unknown value '%s'", p, s);
			break;
		case F_DIGESTS:
			if (!digest_ok(s))
				return am_error_setp(err, AM_EUSAGE, p, "%s: expected sha256:<64 hex>", p);
			break;
		default:
			break;
		}
	}
	return 0;
}

static int
check_obj(const cJSON *o, const char *path, const struct field *fields, int layer,
	  struct am_error **err)
{
	const cJSON *v;
	const struct field *f;

	if (!cJSON_IsObject(o))
		return am_error_setp(err, AM_EUSAGE, path, "%s: expected object", path);
	cJSON_ArrayForEach(v, o) {
		AM_AUTOFREE char *p = subpath(path, v->string);

		for (f = fields; f->name; f++)
			if (strcmp(f->name, v->string) == 0)
				break;
		if (f->name == NULL)
			return am_error_setp(err, AM_EUSAGE, p, "%s: unknown key", p);
		switch (f->t) {
		case F_OBJ:
			if (check_obj(v, p, f->sub, layer, err) < 0)
				return -1;
			break;
		case F_OBJ_NULL:
			if (!cJSON_IsNull(v) && check_obj(v, p, f->sub, layer, err) < 0)
				return -1;
			break;
		case F_LIST_OBJ: {
			const cJSON *x;
			int i = 0;

			if (!cJSON_IsArray(v))
				return am_error_setp(err, AM_EUSAGE, p, "%s: expected a list", p);
			cJSON_ArrayForEach(x, v) {
				AM_AUTOFREE char *q = am_xasprintf("%s[%d]", p, i++);

				if (check_obj(x, q, f->sub, 0, err) < 0)
					return -1;
			}
			break;
		}
		case F_STR:
			if (!cJSON_IsString(v))
				return am_error_setp(err, AM_EUSAGE, p, "%s: expected string", p);
			break;
		case F_STR_NULL:
			if (!cJSON_IsString(v) && !cJSON_IsNull(v))
				return am_error_setp(err, AM_EUSAGE, p, "%s: expected string or null", p);
			break;
		case F_NAME:
			if (!cJSON_IsString(v) || !name_ok(v->valuestring))
				return am_error_setp(err, AM_EUSAGE, p,
						     "%s: expected a name of a-z, 0-9, '_', '.', '-' (at most 64)", p);
			break;
		case F_ENUM:
			if (!cJSON_IsString(v) || !am_strv_has(f->enums, v->valuestring)) {
				struct am_buf b = AM_BUF_INIT;
				const char *const *e;

				for (e = f->enums; *e; e++)
					am_buf_addf(&b, "%s%s", e == f->enums ? "" : ", ", *e);
				am_error_setp(err, AM_EUSAGE, p, "%s: expected one of %s", p, b.data);
				am_buf_free(&b);
				return -1;
			}
			break;
		case F_BOOL:
			if (!cJSON_IsBool(v))
				return am_error_setp(err, AM_EUSAGE, p, "%s: expected true or false", p);
			break;
		case F_INT:
			if (!cJSON_IsNumber(v) || v->valuedouble < 0)
				return am_error_setp(err, AM_EUSAGE, p,
						     "%s: expected a non-negative integer", p);
			break;
		default:
			if (check_list(v, p, f->t, f->enums, err) < 0)
				return -1;
		}
	}
	if (!layer)
		for (f = fields; f->name; f++)
			if (f->required && !cJSON_HasObjectItem(o, f->name)) {
				AM_AUTOFREE char *p = subpath(path, f->name);

				return am_error_setp(err, AM_EUSAGE, p, "%s: required", p);
			}
	return 0;
}

static void
warn(struct am_warning **w, size_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
warn(struct am_warning **w, size_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		am_die_oom();
	va_end(ap);
	*w = am_xrealloc(*w, (*n + 2) * sizeof(**w));
	(*w)[*n].path = am_xstrdup(path);
	(*w)[*n].msg = msg;
	(*n)++;
	(*w)[*n].path = NULL;
	(*w)[*n].msg = NULL;
}

static const cJSON *
get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* Rules that can never match, or are shadowed by a rule that wins. */
static void
find_warnings(const cJSON *doc, struct am_warning **w, size_t *n)
{
	const cJSON *mode = get(doc, "network", "mode"), *x, *y;
	const cJSON *allow = get(doc, "network", "allow"), *deny = get(doc, "network", "deny");
	const cJSON *permit = get(doc, "tools", "permit"), *forbid = get(doc, "tools", "forbid");
	int i;

	if (cJSON_IsString(mode) && (strcmp(mode->valuestring, "none") == 0 ||
				     strcmp(mode->valuestring, "loopback") == 0)) {
		i = 0;
		cJSON_ArrayForEach(x, allow) {
			char p[64];

			snprintf(p, sizeof(p), ".network.allow[%d]", i++);
			if (strcmp(mode->valuestring, "none") == 0 ||
			    !(am_starts_with(x->valuestring, "127.") || am_starts_with(x->valuestring, "localhost") ||
			      am_starts_with(x->valuestring, "[::1]")))
				warn(w, n, p, "%s: '%s' can never match: network.mode is %s", p,
				     x->valuestring, mode->valuestring);
		}
	}
	i = 0;
	cJSON_ArrayForEach(x, allow) {
		char p[64];

		snprintf(p, sizeof(p), ".network.allow[%d]", i++);
		cJSON_ArrayForEach(y, deny)
			if (fnmatch(y->valuestring, x->valuestring, FNM_CASEFOLD) == 0 ||
			    strcmp(y->valuestring, "*") == 0) {
				warn(w, n, p, "%s: '%s' is shadowed by network.deny '%s' (deny wins)", p,
				     x->valuestring, y->valuestring);
				break;
			}
	}
	i = 0;
	cJSON_ArrayForEach(x, permit) {
		char p[64];

		snprintf(p, sizeof(p), ".tools.permit[%d]", i++);
		cJSON_ArrayForEach(y, forbid)
			if (fnmatch(y->valuestring, x->valuestring, 0) == 0) {
				warn(w, n, p, "%s: '%s' is shadowed by tools.forbid '%s' (forbid wins)", p,
				     x->valuestring, y->valuestring);
				break;
			}
	}
	{
		const cJSON *t = get(doc, "type", NULL), *m = get(doc, "network", "mode");

		if (cJSON_IsString(t) && strcmp(t->valuestring, "airgapped_local_only") == 0 && cJSON_IsString(m) &&
		    (strcmp(m->valuestring, "open") == 0 || strcmp(m->valuestring, "proxy") == 0))
			warn(w, n, ".network.mode",
			     ".network.mode: '%s' has no effect: airgapped_local_only permits no egress at all",
			     m->valuestring);
	}
	if (cJSON_IsTrue(get(doc, "modelProviders", "permitUserOwned")))
		warn(w, n, ".modelProviders.permitUserOwned",
		     ".modelProviders.permitUserOwned: counts only when an enterprise file sets it");
	{
		const cJSON *cp = get(doc, "containers", "permit"), *dg = get(doc, "containers", "imageDigests");

		if (cJSON_IsFalse(cp) && cJSON_GetArraySize(dg) > 0)
			warn(w, n, ".containers.imageDigests",
			     ".containers.imageDigests: can never match: containers.permit is false");
	}
	{
		const cJSON *eg = get(doc, "modelProviders", "promptEgress"),
			    *ep = get(doc, "modelProviders", "endpoints");

		if (cJSON_IsString(eg) && strcmp(eg->valuestring, "deny") == 0) {
			i = 0;
			cJSON_ArrayForEach(x, ep) {
				char p[64];

				snprintf(p, sizeof(p), ".modelProviders.endpoints[%d]", i++);
				if (!strstr(x->valuestring, "127.0.0.1") && !strstr(x->valuestring, "localhost") &&
				    !strstr(x->valuestring, "[::1]") && !am_starts_with(x->valuestring, "unix:"))
					warn(w, n, p, "%s: '%s' can never be used: promptEgress is deny (loopback only)",
					     p, x->valuestring);
			}
		}
	}
}

int
am_profile_check(const cJSON *doc, int layer, struct am_warning **warnings, struct am_error **err)
{
	size_t n = 0;

	if (warnings)
		*warnings = NULL;
	if (check_obj(doc, ".", f_profile, layer, err) < 0)
		return -1;
	if (!layer) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(doc, "tenants");

		if (cJSON_IsString(t) && strcmp(t->valuestring, "multi_corporate_firewall") == 0 &&
		    cJSON_GetArraySize(ts) == 0)
			return am_error_setp(err, AM_EUSAGE, ".tenants",
					     ".tenants: a multi_corporate_firewall profile needs at least one tenant");
	}
	{
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(doc, "tenants"), *a, *b;
		int i = 0;

		cJSON_ArrayForEach(a, ts) {
			const cJSON *na = cJSON_GetObjectItemCaseSensitive(a, "name");
			int j = 0;

			cJSON_ArrayForEach(b, ts) {
				const cJSON *nb = cJSON_GetObjectItemCaseSensitive(b, "name");

				if (j >= i)
					break;
				if (cJSON_IsString(na) && cJSON_IsString(nb) &&
				    strcmp(na->valuestring, nb->valuestring) == 0) {
					char path[48];

					snprintf(path, sizeof(path), ".tenants[%d].name", i);
					return am_error_setp(err, AM_EUSAGE, path, "%s: tenant '%s' is named twice",
							     path, na->valuestring);
				}
				j++;
			}
			i++;
		}
	}
	if (warnings) {
		*warnings = am_xcalloc(1, sizeof(**warnings));
		find_warnings(doc, warnings, &n);
	}
	return 0;
}

void
am_warnings_free(struct am_warning *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; w[i].path; i++) {
		free(w[i].path);
		free(w[i].msg);
	}
	free(w);
}

/* ---- templates and --set ---- */

static char *
profiles_dir(void)
{
	const char *env = getenv("AM_PROFILES_DIR");
	char self[4096];
	ssize_t n;
	struct stat st;

	if (env && *env)
		return am_xstrdup(env);
	/* Next to the binary first (a build tree), then the installed copy. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash, *cand;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			cand = am_xasprintf("%s/profiles", self);
			if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
				char *probe = am_xasprintf("%s/personal.json", cand);
				int ok = access(probe, R_OK) == 0;

				free(probe);
				if (ok)
					return cand;
			}
			free(cand);
			cand = am_xasprintf("%s/../share/am/profiles", self);
			if (stat(cand, &st) == 0)
				return cand;
			free(cand);
		}
	}
	return am_xstrdup(AM_DATADIR "/profiles");
}

int
am_profile_template(const char *type, cJSON **out, struct am_error **err)
{
	AM_AUTOFREE char *dir = NULL;
	AM_AUTOFREE char *path = NULL;
	AM_AUTOFREE char *data = NULL;
	size_t len;

	if (!am_strv_has(am_profile_types, type))
		return am_error_set(err, AM_EUSAGE,
				    "unknown profile type '%s' (personal, corporate_firewall, multi_corporate_firewall, local_model_provider, hosted_model_provider, airgapped_local_only, user_owned_model)",
				    type);
	dir = profiles_dir();
	path = am_xasprintf("%s/%s.json", dir, type);
	if (am_read_file(path, 1 << 20, &data, &len, err) < 0)
		return am_error_prefix(err, "built-in profile template");
	*out = am_canon_parse(data, len, err);
	if (*out == NULL)
		return am_error_prefix(err, "'%s'", path);
	if (am_profile_check(*out, 0, NULL, err) < 0) {
		cJSON_Delete(*out);
		*out = NULL;
		return am_error_prefix(err, "'%s'", path);
	}
	return 0;
}

/* The schema field at a dotted path (NULL if none). */
static const struct field *
schema_at(const char *dotted)
{
	const struct field *fields = f_profile, *f = NULL;
	AM_AUTOFREE char *copy = am_xstrdup(dotted);
	char *save = NULL, *tok;

	for (tok = strtok_r(copy, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		if (fields == NULL)
			return NULL;
		for (f = fields; f->name; f++)
			if (strcmp(f->name, tok) == 0)
				break;
		if (f->name == NULL)
			return NULL;
		fields = (f->t == F_OBJ || f->t == F_OBJ_NULL) ? f->sub : NULL;
	}
	return f;
}

int
am_profile_set(cJSON *doc, const char *assignment, struct am_error **err)
{
	const char *eq = strchr(assignment, '=');
	AM_AUTOFREE char *path = NULL;
	AM_AUTOFREE char *copy = NULL;
	const struct field *f;
	cJSON *val, *cur = doc;
	char *save = NULL, *tok, *next;

	if (eq == NULL || eq == assignment)
		return am_error_set(err, AM_EUSAGE, "--set '%s': expected path=value", assignment);
	path = am_xstrndup(assignment, (size_t)(eq - assignment));
	if (path[0] == '.')
		memmove(path, path + 1, strlen(path));
	f = schema_at(path);
	if (f == NULL || f->t == F_OBJ)
		return am_error_setp(err, AM_EUSAGE, path, "--set .%s: no such profile field", path);
	val = am_canon_parse(eq + 1, strlen(eq + 1), NULL);
	if (val == NULL || (f->t == F_STR || f->t == F_ENUM || f->t == F_NAME) != cJSON_IsString(val)) {
		/* Not JSON, or a bare word for a string field: take it as text. */
		if (val == NULL || f->t == F_STR || f->t == F_ENUM || f->t == F_NAME || f->t == F_STR_NULL) {
			cJSON_Delete(val);
			val = cJSON_CreateString(eq + 1);
		}
	}
	copy = am_xstrdup(path);
	for (tok = strtok_r(copy, ".", &save); tok; tok = next) {
		next = strtok_r(NULL, ".", &save);
		if (next == NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(cur, tok);
			cJSON_AddItemToObject(cur, tok, val);
			break;
		}
		if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cur, tok))) {
			cJSON_DeleteItemFromObjectCaseSensitive(cur, tok);
			cJSON_AddObjectToObject(cur, tok);
		}
		cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	}
	return 0;
}

/* ---- layers ---- */

int
am_managed_load(cJSON **files, struct am_error **err)
{
	const char *dir = getenv("AM_MANAGED_DIR");
	struct dirent **ents = NULL;
	int n, i, rc = 0;

	if (dir == NULL || *dir == '\0')
		dir = "/etc/am/managed.d";
	*files = cJSON_CreateArray();
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : am_error_set(err, AM_EDENIED, "cannot read '%s': %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		AM_AUTOFREE char *path = NULL;
		AM_AUTOFREE char *data = NULL;
		struct stat st;
		int fd;
		cJSON *doc, *e;

		if (rc < 0 || len < 6 || strcmp(name + len - 5, ".json") != 0 || name[0] == '.')
			continue;
		path = am_xasprintf("%s/%s", dir, name);
		/* Enterprise rules bind the user, so the user must not be able to
		 * write them: refuse files (and a directory) that are not owned by
		 * root or that group or others can write, as doas refuses its
		 * config.  Checked on the open descriptor, not the name. */
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = am_error_set(err, AM_EDENIED, "enterprise profile '%s': %s", path, strerror(errno));
			continue;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & (S_IWGRP | S_IWOTH))) {
			close(fd);
			rc = am_error_set(err, AM_EDENIED,
					  "enterprise profile '%s' refused: must be a regular file owned by root and not writable by group or others (owner uid %u, mode %04o)",
					  path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
			continue;
		}
		if (am_read_fd(fd, 1 << 20, &data, &len, err) < 0) {
			close(fd);
			rc = -1;
			continue;
		}
		close(fd);
		doc = am_canon_parse(data, len, err);
		if (doc == NULL || am_profile_check(doc, 1, NULL, err) < 0) {
			cJSON_Delete(doc);
			rc = am_error_prefix(err, "enterprise profile '%s'", path);
			continue;
		}
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "file", name);
		cJSON_AddItemToObject(e, "doc", doc);
		cJSON_AddItemToArray(*files, e);
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	{
		struct stat st;

		if (rc == 0 && stat(dir, &st) == 0 && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
			rc = am_error_set(err, AM_EDENIED,
					  "enterprise directory '%s' refused: must be owned by root and not writable by group or others",
					  dir);
	}
	if (rc < 0) {
		cJSON_Delete(*files);
		*files = NULL;
	}
	return rc;
}

/* Does an enterprise file apply to a profile?  Its appliesTo list, and its
 * type and name where present, must match. */
static int
managed_applies(const cJSON *doc, const char *type, const char *name)
{
	const cJSON *applies = cJSON_GetObjectItemCaseSensitive(doc, "appliesTo"), *x;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "name");
	int hit = applies == NULL;

	cJSON_ArrayForEach(x, applies)
		hit |= strcmp(x->valuestring, type) == 0;
	if (cJSON_IsString(t) && strcmp(t->valuestring, type) != 0)
		hit = 0;
	if (cJSON_IsString(n) && name && strcmp(n->valuestring, name) != 0)
		hit = 0;
	return hit;
}

int
am_profile_is_locked(const cJSON *locked, const char *path)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, locked) {
		size_t n = strlen(x->valuestring);

		/* A locked object locks everything under it. */
		if (strncmp(path, x->valuestring, n) == 0 && (path[n] == '\0' || path[n] == '.'))
			return 1;
	}
	return 0;
}

/* Lists whose enterprise entries are added to, never replace, the lower
 * layers' entries: the deny side, so an enterprise forbid always wins. */
static int
union_path(const char *path)
{
	return strcmp(path, "tools.forbid") == 0 || strcmp(path, "network.deny") == 0 ||
	       strcmp(path, "filesystem.deny") == 0;
}

static void
set_ids(cJSON *ids, const char *path, const cJSON *list, const char *label, int append)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(ids, path);
	int i = 0;
	const cJSON *x;

	if (!append || arr == NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(ids, path);
		arr = cJSON_AddArrayToObject(ids, path);
	}
	cJSON_ArrayForEach(x, list) {
		char *id = am_xasprintf("%s/%s[%d]", label, path, i++);

		cJSON_AddItemToArray(arr, cJSON_CreateString(id));
		free(id);
	}
}

/* How a layer merges: the built-in template is the base (locks do not
 * apply to it), user and workspace layers skip locked paths, the
 * enterprise layer unions its deny lists into the result. */
enum { LAYER_BASE, LAYER_LOWER, LAYER_ENTERPRISE };

/* Merge layer into dst (both objects) at dotted prefix. */
static void
merge(cJSON *dst, const cJSON *layer, const char *prefix, const char *origin, const char *label,
      int kind, struct am_profile *p)
{
	int enterprise = kind == LAYER_ENTERPRISE;

	const cJSON *v;

	cJSON_ArrayForEach(v, layer) {
		AM_AUTOFREE char *path = *prefix ? am_xasprintf("%s.%s", prefix, v->string)
						 : am_xstrdup(v->string);
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(dst, v->string);

		if (strcmp(path, "locked") == 0 || strcmp(path, "appliesTo") == 0)
			continue; /* enterprise metadata, not profile values */
		if (kind == LAYER_LOWER && am_profile_is_locked(p->locked, path))
			continue; /* lower layers cannot change locked values */
		if (cJSON_IsObject(v) && cur == NULL) {
			/* Merge into a new object rather than copy it whole, so the
			 * lists inside get their rule ids and origins. */
			cur = cJSON_AddObjectToObject(dst, v->string);
		}
		if (cJSON_IsObject(v) && cJSON_IsObject(cur)) {
			merge(cur, v, path, origin, label, kind, p);
			continue;
		}
		if (enterprise && union_path(path) && cJSON_IsArray(cur) && cJSON_IsArray(v)) {
			const cJSON *x, *y;
			int i = 0;
			cJSON *ids = cJSON_GetObjectItemCaseSensitive(p->rule_ids, path);

			cJSON_ArrayForEach(x, v) {
				int dup = 0;
				char *id = am_xasprintf("%s/%s[%d]", label, path, i++);

				cJSON_ArrayForEach(y, cur)
					dup |= strcmp(x->valuestring, y->valuestring) == 0;
				if (!dup) {
					cJSON_AddItemToArray(cur, cJSON_CreateString(x->valuestring));
					if (ids)
						cJSON_AddItemToArray(ids, cJSON_CreateString(id));
				}
				free(id);
			}
			{
				/* The list now ends with the enterprise's entries;
				 * their rule ids say which came from where. */
				cJSON_DeleteItemFromObjectCaseSensitive(p->origins, path);
				cJSON_AddStringToObject(p->origins, path, origin);
			}
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(dst, v->string);
		cJSON_AddItemToObject(dst, v->string, cJSON_Duplicate(v, 1));
		if (cJSON_IsArray(v) && !cJSON_IsObject(cJSON_GetArrayItem(v, 0)))
			set_ids(p->rule_ids, path, v, label, 0);
		/* origins of every leaf under path */
		{
			cJSON *o = p->origins, *x = o->child, *next;
			size_t n = strlen(path);

			for (; x; x = next) {
				next = x->next;
				if (strncmp(x->string, path, n) == 0 && (x->string[n] == '\0' || x->string[n] == '.'))
					cJSON_DeleteItemFromObjectCaseSensitive(o, x->string);
			}
			cJSON_AddStringToObject(o, path, origin);
		}
	}
}

void
am_profile_free(struct am_profile *p)
{
	size_t i;

	free(p->name);
	free(p->record);
	cJSON_Delete(p->effective);
	cJSON_Delete(p->origins);
	cJSON_Delete(p->locked);
	cJSON_Delete(p->rule_ids);
	for (i = 0; i < p->nlayers; i++)
		cJSON_Delete(p->layers[i].doc);
	memset(p, 0, sizeof(*p));
}

static void
add_layer(struct am_profile *p, const char *origin, const cJSON *doc)
{
	if (p->nlayers < AM_ARRAY_LEN(p->layers)) {
		p->layers[p->nlayers].origin = origin;
		p->layers[p->nlayers].doc = cJSON_Duplicate(doc, 1);
		p->nlayers++;
	}
}

int
am_profile_resolve(struct am_ledger *l, const char *name, struct am_profile *out,
		   struct am_error **err)
{
	cJSON *recorded = NULL, *tmpl = NULL, *managed = NULL, *user = NULL, *e;
	const cJSON *type;
	AM_AUTOFREE char *cfg = am_config_dir();
	AM_AUTOFREE char *upath = NULL;
	AM_AUTOFREE char *udata = NULL;
	size_t len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!name_ok(name))
		return am_error_set(err, AM_EUSAGE, "'%s' is not a profile name", name);
	out->name = am_xstrdup(name);
	out->origins = cJSON_CreateObject();
	out->locked = cJSON_CreateArray();
	out->rule_ids = cJSON_CreateObject();
	/* The workspace layer: a profile recorded with am profile create. */
	if (l) {
		AM_AUTOFREE char *ipath = am_xasprintf("profiles/%s", name);
		AM_AUTOFREE char *ref = NULL;
		struct am_error *e2 = NULL;

		if (am_ledger_read(l, ipath, &ref, &len, &e2) == 0) {
			ref[strcspn(ref, "\n")] = '\0';
			if (am_ledger_artifact(l, ref, &recorded, err) < 0)
				goto out;
			out->record = am_xstrdup(ref);
			/* the artifact wraps the profile document */
			{
				cJSON *doc = cJSON_DetachItemFromObjectCaseSensitive(recorded, "profile");

				cJSON_Delete(recorded);
				recorded = doc;
			}
		} else if (e2->cls != AM_ENOTFOUND) {
			*err = e2;
			goto out;
		} else {
			am_error_free(e2);
		}
	}
	type = recorded ? cJSON_GetObjectItemCaseSensitive(recorded, "type") : NULL;
	if (am_profile_template(cJSON_IsString(type) ? type->valuestring : name, &tmpl, err) < 0) {
		if (!recorded) {
			am_error_free(*err);
			*err = NULL;
			am_error_set(err, AM_ENOTFOUND,
				     "no profile '%s' (not recorded here, and not a built-in type)", name);
		}
		goto out;
	}
	type = cJSON_GetObjectItemCaseSensitive(tmpl, "type");
	if (am_managed_load(&managed, err) < 0)
		goto out;
	/* Locks first: they decide what the lower layers may set. */
	cJSON_ArrayForEach(e, managed) {
		const cJSON *doc = cJSON_GetObjectItemCaseSensitive(e, "doc"), *x;

		if (!managed_applies(doc, type->valuestring, name)) {
			cJSON_ReplaceItemInObjectCaseSensitive(e, "doc", cJSON_CreateNull());
			continue;
		}
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(doc, "locked"))
			cJSON_AddItemToArray(out->locked, cJSON_CreateString(x->valuestring));
	}
	out->effective = cJSON_CreateObject();
	merge(out->effective, tmpl, "", "builtin", name, LAYER_BASE, out);
	add_layer(out, "builtin", tmpl);
	upath = am_xasprintf("%s/profiles/%s.json", cfg, name);
	{
		struct stat st;

		/* The user layer binds this user's executions: refuse one that
		 * someone else could have written. */
		if (lstat(upath, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_uid != getuid() ||
					       (st.st_mode & (S_IWGRP | S_IWOTH)))) {
			am_error_set(err, AM_EDENIED,
				     "user profile '%s' refused: must be a regular file of yours, not writable by group or others",
				     upath);
			goto out;
		}
	}
	if (am_read_file(upath, 1 << 20, &udata, &len, NULL) == 0) {
		user = am_canon_parse(udata, len, err);
		if (user == NULL || am_profile_check(user, 1, NULL, err) < 0) {
			am_error_prefix(err, "user profile '%s'", upath);
			goto out;
		}
		merge(out->effective, user, "", "user", name, LAYER_LOWER, out);
		add_layer(out, "user", user);
	}
	if (recorded) {
		merge(out->effective, recorded, "", "workspace", name, LAYER_LOWER, out);
		add_layer(out, "workspace", recorded);
	}
	cJSON_ArrayForEach(e, managed) {
		const cJSON *doc = cJSON_GetObjectItemCaseSensitive(e, "doc");
		const char *file = cJSON_GetObjectItemCaseSensitive(e, "file")->valuestring;
		char *origin, *label;

		if (cJSON_IsNull(doc))
			continue;
		origin = am_xasprintf("enterprise:%s", file);
		label = am_xasprintf("enterprise:%s", file);
		merge(out->effective, doc, "", origin, label, LAYER_ENTERPRISE, out);
		add_layer(out, "enterprise", doc);
		/* origin strings must outlive the merge: keep them in origins */
		free(origin);
		free(label);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(out->effective, "name");
	cJSON_AddStringToObject(out->effective, "name", name);
	if (am_profile_check(out->effective, 0, NULL, err) < 0) {
		am_error_prefix(err, "profile '%s' after merging its layers", name);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(recorded);
	cJSON_Delete(tmpl);
	cJSON_Delete(managed);
	cJSON_Delete(user);
	if (rc < 0)
		am_profile_free(out);
	return rc;
}

cJSON *
am_profile_artifact(const cJSON *doc, const char *name)
{
	cJSON *a = cJSON_CreateObject();
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, "owner");
	const cJSON *ten = cJSON_GetObjectItemCaseSensitive(doc, "tenant");

	cJSON_AddStringToObject(a, "kind", "AgentMachineProfile");
	cJSON_AddStringToObject(a, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(a, "name", name);
	cJSON_AddStringToObject(a, "profileType", cJSON_IsString(t) ? t->valuestring : "");
	cJSON_AddStringToObject(a, "owner", cJSON_IsString(o) ? o->valuestring : "user");
	if (cJSON_IsString(ten))
		cJSON_AddStringToObject(a, "tenant", ten->valuestring);
	cJSON_AddItemToObject(a, "profile", cJSON_Duplicate(doc, 1));
	return a;
}

static void
flatten(cJSON *out, const cJSON *o, const char *prefix)
{
	const cJSON *v;

	if (!cJSON_IsObject(o))
		return;
	cJSON_ArrayForEach(v, o) {
		AM_AUTOFREE char *path = *prefix ? am_xasprintf("%s.%s", prefix, v->string)
						 : am_xstrdup(v->string);

		if (cJSON_IsObject(v) && v->child)
			flatten(out, v, path);
		else
			cJSON_AddItemToObject(out, path, cJSON_Duplicate(v, 1));
	}
}

cJSON *
am_profile_flatten(const cJSON *doc)
{
	cJSON *out = cJSON_CreateObject();

	flatten(out, doc, "");
	return out;
}

int
am_profile_locked(const char *type, const char *name, cJSON **locked, struct am_error **err)
{
	cJSON *managed = NULL, *e;

	*locked = cJSON_CreateArray();
	if (am_managed_load(&managed, err) < 0) {
		cJSON_Delete(*locked);
		*locked = NULL;
		return -1;
	}
	cJSON_ArrayForEach(e, managed) {
		const cJSON *doc = cJSON_GetObjectItemCaseSensitive(e, "doc"), *x;
		const char *file = cJSON_GetObjectItemCaseSensitive(e, "file")->valuestring;

		if (!managed_applies(doc, type, name))
			continue;
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(doc, "locked")) {
			cJSON *l = cJSON_CreateObject();

			cJSON_AddStringToObject(l, "path", x->valuestring);
			cJSON_AddStringToObject(l, "file", file);
			cJSON_AddItemToArray(*locked, l);
		}
	}
	cJSON_Delete(managed);
	return 0;
}
