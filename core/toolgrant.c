/* toolgrant.c - see toolgrant.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <sodium.h>

#include "canon.h"
#include "toolgrant.h"
#include "util.h"

char *
am_profile_path_expand(const char *pat, const char *root)
{
	const char *home = getenv("HOME");

	if (am_starts_with(pat, "~/") || strcmp(pat, "~") == 0)
		return am_xasprintf("%s%s", home ? home : "", pat + 1);
	if (am_starts_with(pat, "${WORKSPACE}"))
		return am_xasprintf("%s%s", root ? root : "", pat + strlen("${WORKSPACE}"));
	return am_xstrdup(pat);
}

static int
under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Is path under one of the profile's readable paths (resolved)? */
static int
allowed_path(const char *path, const struct am_profile *p, const char *root)
{
	static const char *const keys[] = { "readOnly", "readWrite" };
	const cJSON *fs = cJSON_GetObjectItemCaseSensitive(p->effective, "filesystem"), *x;
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(keys); i++) {
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fs, keys[i])) {
			AM_AUTOFREE char *e = am_profile_path_expand(x->valuestring, root);
			AM_AUTOFREE char *r = realpath(e, NULL);

			if (under(path, e) || (r && under(path, r)))
				return 1;
		}
	}
	return 0;
}

int
am_tool_resolve(const char *tool, const struct am_profile *p, const char *root, char **path,
		struct am_error **err)
{
	AM_AUTOFREE char *found = NULL;
	struct stat st;

	*path = NULL;
	if (*tool == '\0')
		return am_error_set(err, AM_EUSAGE, "empty tool name");
	if (strchr(tool, '/')) {
		found = am_xstrdup(tool);
	} else {
		const char *pathenv = getenv("PATH");
		AM_AUTOFREE char *copy = am_xstrdup(pathenv ? pathenv : "/usr/bin:/bin");
		char *save = NULL, *dir;

		for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
			char *cand = am_xasprintf("%s/%s", *dir ? dir : ".", tool);

			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
				found = cand;
				break;
			}
			free(cand);
		}
		if (found == NULL)
			return am_error_set(err, AM_EUSAGE, "tool '%s' resolves to nothing (not found in PATH)", tool);
	}
	if (stat(found, &st) < 0)
		return am_error_set(err, AM_EUSAGE, "tool '%s' resolves to nothing: %s", tool, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return am_error_set(err, AM_EUSAGE, "tool '%s' is a directory, not an executable", tool);
	if (!S_ISREG(st.st_mode) || access(found, X_OK) < 0)
		return am_error_set(err, AM_EUSAGE, "tool '%s' is not an executable file", tool);
	*path = realpath(found, NULL);
	if (*path == NULL)
		return am_error_set(err, AM_EUSAGE, "tool '%s': %s", tool, strerror(errno));
	/* A grant pins what will run; a name that leads (through symlinks) out of
	 * the paths the profile lets an execution read would pin a file the
	 * sandbox cannot even see, or one the user planted. */
	if (p && !allowed_path(*path, p, root)) {
		am_error_set(err, AM_EDENIED,
			     "tool '%s' resolves to '%s', outside the paths profile %s allows (filesystem.readOnly/readWrite)",
			     tool, *path, p->name);
		free(*path);
		*path = NULL;
		return -1;
	}
	return 0;
}

int
am_file_sha256(const char *path, char hex[65], struct am_error **err)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], h[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return am_error_set(err, AM_EFAIL, "cannot read '%s': %s", path, strerror(errno));
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return am_error_set(err, AM_EFAIL, "cannot read '%s': %s", path, strerror(errno));
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	close(fd);
	crypto_hash_sha256_final(&st, h);
	am_hex(hex, h, 32);
	return 0;
}

static int
visible(const cJSON *idx, const char *tenant)
{
	const char *t = am_json_str(idx, "tenant");

	/* Tenant separation: exact match, and no tenant sees no tenant's. */
	return (t == NULL && tenant == NULL) || (t && tenant && strcmp(t, tenant) == 0);
}

int
am_grants_list(struct am_ledger *l, const char *tenant, cJSON **out, struct am_error **err)
{
	char **ids = NULL;
	size_t n, j;

	*out = cJSON_CreateArray();
	if (am_ledger_list_fanout(l, "grants", &ids, &n, err) < 0)
		goto fail;
	for (j = 0; j < n; j++) {
		AM_AUTOFREE char *path = am_xasprintf("grants/%.2s/%s", ids[j], ids[j]);
		AM_AUTOFREE char *data = NULL;
		size_t len;
		cJSON *idx;

		if (am_ledger_read(l, path, &data, &len, err) < 0 ||
		    (idx = am_canon_parse(data, len, err)) == NULL)
			goto fail;
		if (visible(idx, tenant))
			cJSON_AddItemToArray(*out, idx);
		else
			cJSON_Delete(idx);
	}
	am_strv_free(ids);
	return 0;
fail:
	am_strv_free(ids);
	cJSON_Delete(*out);
	*out = NULL;
	return -1;
}

int
am_grant_find(struct am_ledger *l, const char *tenant, const char *spec, cJSON **idx,
	      struct am_error **err)
{
	const char *u = am_starts_with(spec, AM_GRANT_URN) ? spec + strlen(AM_GRANT_URN) : spec;
	cJSON *all = NULL, *g;
	size_t ul = strlen(u);
	int hits = 0;

	*idx = NULL;
	if (ul < 6 || ul > 36 || strspn(u, "0123456789abcdef-") != ul)
		return am_error_set(err, AM_EUSAGE, "'%s' is not a grant id", spec);
	if (am_grants_list(l, tenant, &all, err) < 0)
		return -1;
	cJSON_ArrayForEach(g, all) {
		const char *id = am_json_str(g, "id");
		const char *gu = id && am_starts_with(id, AM_GRANT_URN) ? id + strlen(AM_GRANT_URN) : "";

		if (strncmp(gu, u, ul) == 0) {
			hits++;
			cJSON_Delete(*idx);
			*idx = cJSON_Duplicate(g, 1);
		}
	}
	cJSON_Delete(all);
	if (hits == 1)
		return 0;
	cJSON_Delete(*idx);
	*idx = NULL;
	return hits ? am_error_set(err, AM_EUSAGE, "grant prefix '%s' is ambiguous", spec)
		    : am_error_set(err, AM_ENOTFOUND, "no grant '%s'%s%s", spec,
				   tenant ? " under tenant " : "", tenant ? tenant : "");
}

int
am_grant_check(struct am_ledger *l, const char *tenant, const char *grantee, const char *path,
	       cJSON **grant, struct am_error **err)
{
	cJSON *all = NULL, *g;
	const char *why = "no grant";
	char hex[65];
	int64_t now = am_now();

	if (grant)
		*grant = NULL;
	if (am_grants_list(l, tenant, &all, err) < 0)
		return -1;
	if (am_file_sha256(path, hex, err) < 0) {
		cJSON_Delete(all);
		return -1;
	}
	cJSON_ArrayForEach(g, all) {
		int64_t exp = 0;
		const char *e = am_json_str(g, "expiresAt"), *gp = am_json_str(g, "path"), *ge = am_json_str(g, "grantee");

		if (!gp || !ge || strcmp(gp, path) != 0 || strcmp(ge, grantee) != 0)
			continue;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "revoked"))) {
			why = "the grant was revoked";
			continue;
		}
		if (e && am_time_parse(e, &exp) == 0 && exp <= now) {
			why = "the grant has expired";
			continue;
		}
		if (!am_json_str(g, "sha256") || strcmp(am_json_str(g, "sha256") + 7, hex) != 0) {
			why = "the binary changed since it was granted (sha256 differs)";
			continue;
		}
		if (grant)
			*grant = cJSON_Duplicate(g, 1);
		cJSON_Delete(all);
		return 0;
	}
	cJSON_Delete(all);
	return am_error_set(err, AM_EDENIED, "'%s' is not granted to '%s': %s", path, grantee, why);
}
