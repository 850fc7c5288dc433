/* workspace.c - see workspace.h */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <git2.h>

#include "canon.h"
#include "operation.h"
#include "util.h"
#include "workspace.h"

void
am_init_result_free(struct am_init_result *r)
{
	free(r->root);
	free(r->workspace_id);
	free(r->operation_id);
	free(r->owner_name);
	free(r->owner_fingerprint);
	free(r->owner_key_path);
	memset(r, 0, sizeof(*r));
}

cJSON *
am_trust_parse(const char *data, size_t len, struct am_error **err)
{
	cJSON *t = am_canon_parse(data, len, err);

	if (t && !cJSON_IsObject(t)) {
		cJSON_Delete(t);
		am_error_set(err, AM_EINTEGRITY, "trust.json is not an object");
		return NULL;
	}
	return t;
}

int
am_trust_index(struct am_txn *t, cJSON **out, struct am_error **err)
{
	AM_AUTOFREE char *data = NULL;
	size_t len;
	struct am_error *e = NULL;

	if (am_txn_read(t, "trust.json", &data, &len, &e) < 0) {
		if (e->cls != AM_ENOTFOUND) {
			*err = e;
			return -1;
		}
		am_error_free(e);
		*out = cJSON_CreateObject();
		return 0;
	}
	*out = am_trust_parse(data, len, err);
	return *out ? 0 : -1;
}

const cJSON *
am_trust_find_key(const cJSON *trust, const unsigned char pk[32], const char **name)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, trust) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(p, "key");
		struct am_key *k = NULL;
		int match;

		if (!cJSON_IsString(key) || am_key_parse_public(key->valuestring, &k, NULL) < 0)
			continue;
		match = memcmp(k->pk, pk, 32) == 0;
		am_key_free(k);
		if (match) {
			if (name)
				*name = p->string;
			return p;
		}
	}
	return NULL;
}

/* Rewrite allowed_signers from the trust index: the file git and
 * ssh-keygen -Y verify read, so it must always match trust.json. */
static int
write_trust(struct am_txn *t, cJSON *trust, struct am_error **err)
{
	struct am_buf b = AM_BUF_INIT;
	const cJSON *p;

	if (am_txn_put_json(t, "trust.json", trust, err) < 0)
		return -1;
	am_buf_adds(&b, "# am ledger allowed signers: generated from trust.json; see am-ledger(5)\n");
	cJSON_ArrayForEach(p, trust) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(p, "key");
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(p, "role");
		int machine = cJSON_IsString(role) && strcmp(role->valuestring, "machine") == 0;

		/* Only machine keys sign ledger commits, so only they get the
		 * "git" namespace: plain git verify-commit then refuses a commit
		 * signed by an owner, exactly as am verify does.  Principals sign
		 * delegation records (namespace am-delegation). */
		if (cJSON_IsString(key))
			am_buf_addf(&b, "%s namespaces=\"%s\" %s\n", p->string,
				    machine ? "git,am-delegation" : "am-delegation", key->valuestring);
	}
	am_txn_put_file(t, "allowed_signers", b.data, b.len);
	am_buf_free(&b);
	return 0;
}

int
am_trust_put(struct am_txn *t, const char *name, const char *role, const struct am_key *k,
	     const char *added_by, char ref_out[AM_ID_LEN], struct am_error **err)
{
	cJSON *trust = NULL, *doc = cJSON_CreateObject(), *ent;
	AM_AUTOFREE char *line = NULL;
	AM_AUTOFREE char *fpr = am_key_fingerprint(k);
	char now[21], id[AM_ID_LEN];
	int rc = -1;
	struct am_key pub = *k;

	/* Record the public half only: a Principal never carries a secret. */
	pub.has_secret = 0;
	pub.agent_sock = NULL;
	pub.comment = NULL;
	line = am_key_public_line(&pub);
	am_time_format(now, am_txn_time(t));
	cJSON_AddStringToObject(doc, "kind", "Principal");
	cJSON_AddStringToObject(doc, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(doc, "name", name);
	cJSON_AddStringToObject(doc, "role", role);
	cJSON_AddStringToObject(doc, "publicKey", line);
	cJSON_AddStringToObject(doc, "fingerprint", fpr);
	cJSON_AddStringToObject(doc, "addedAt", now);
	cJSON_AddStringToObject(doc, "addedBy", added_by);
	if (am_txn_put_artifact(t, doc, id, err) < 0 || am_trust_index(t, &trust, err) < 0)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(trust, name);
	ent = cJSON_AddObjectToObject(trust, name);
	cJSON_AddStringToObject(ent, "role", role);
	cJSON_AddStringToObject(ent, "key", line);
	cJSON_AddStringToObject(ent, "fingerprint", fpr);
	cJSON_AddStringToObject(ent, "principal", id);
	if (write_trust(t, trust, err) < 0)
		goto out;
	if (ref_out)
		memcpy(ref_out, id, AM_ID_LEN);
	rc = 0;
out:
	cJSON_Delete(doc);
	cJSON_Delete(trust);
	return rc;
}

int
am_trust_remove(struct am_txn *t, const char *name, struct am_error **err)
{
	cJSON *trust = NULL;
	int rc;

	if (am_trust_index(t, &trust, err) < 0)
		return -1;
	if (!cJSON_HasObjectItem(trust, name)) {
		cJSON_Delete(trust);
		return am_error_set(err, AM_ENOTFOUND, "no trusted principal '%s'", name);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(trust, name);
	rc = write_trust(t, trust, err);
	cJSON_Delete(trust);
	return rc;
}

struct init_ctx {
	const char *ws_uuid;
	const char *owner_name;
	struct am_key *owner;
	struct am_key *machine;
	char *op_id;
};

/* The first commit: workspace identity, the two trust roots (owner and this
 * machine), and the init operation itself, queued -> running -> completed. */
static int
init_txn(struct am_txn *t, void *arg, struct am_error **err)
{
	struct init_ctx *c = arg;
	cJSON *ws = cJSON_CreateObject(), *details;
	char wsref[AM_ID_LEN], now[21], mid[17], op[AM_OP_ID_LEN];
	AM_AUTOFREE char *ws_id = am_xasprintf("%s%s", AM_WS_URN, c->ws_uuid);
	AM_AUTOFREE char *mname = NULL;
	AM_AUTOFREE char *owner_fpr = am_key_fingerprint(c->owner);
	AM_AUTOFREE char *wsline = NULL;
	struct am_actor actor = { "user", c->owner_name, owner_fpr, NULL, NULL };
	int rc = -1;

	am_machine_id(c->machine, mid);
	mname = am_xasprintf("machine-%s", mid);
	am_time_format(now, am_txn_time(t));
	cJSON_AddStringToObject(ws, "kind", "Workspace");
	cJSON_AddStringToObject(ws, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(ws, "id", ws_id);
	cJSON_AddStringToObject(ws, "createdAt", now);
	cJSON_AddStringToObject(ws, "machineId", mid);
	cJSON_AddStringToObject(ws, "owner", c->owner_name);
	if (am_txn_put_artifact(t, ws, wsref, err) < 0)
		goto out;
	wsline = am_xasprintf("%s\n", ws_id);
	am_txn_put_file(t, "workspace", wsline, strlen(wsline));
	if (am_trust_put(t, c->owner_name, "owner", c->owner, c->owner_name, NULL, err) < 0 ||
	    am_trust_put(t, mname, "machine", c->machine, c->owner_name, NULL, err) < 0)
		goto out;
	am_txn_author(t, c->owner_name, owner_fpr);
	if (am_op_create(t, "agent_machine.workspace.init", &actor, ws_id, op, err) < 0 ||
	    am_op_transition(t, op, "running", NULL, NULL, err) < 0)
		goto out;
	details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "workspaceRef", wsref);
	if (am_op_link(t, op, "artifactRefs", wsref, err) < 0) {
		cJSON_Delete(details);
		goto out;
	}
	if (am_op_transition(t, op, "completed", NULL, details, err) < 0)
		goto out;
	free(c->op_id);
	c->op_id = am_xstrdup(op);
	rc = 0;
out:
	cJSON_Delete(ws);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* Find or make the owner key: --owner-key, ~/.ssh/id_ed25519.pub, else one
 * am generates under $XDG_CONFIG_HOME/am/ (reused on later inits). */
static int
owner_key(const struct am_init_opts *o, struct am_init_result *r, struct am_key **k,
	  struct am_error **err)
{
	const char *home = getenv("HOME");
	AM_AUTOFREE char *dflt = am_xasprintf("%s/.ssh/id_ed25519.pub", home ? home : "");
	AM_AUTOFREE char *cfg = am_config_dir();
	AM_AUTOFREE char *gen = am_xasprintf("%s/owner_ed25519", cfg);
	AM_AUTOFREE char *genpub = am_xasprintf("%s.pub", gen);

	if (o->owner_key) {
		r->owner_key_path = am_xstrdup(o->owner_key);
		return am_key_load_public(o->owner_key, k, err) < 0
			       ? am_error_prefix(err, "--owner-key")
			       : 0;
	}
	if (home && access(dflt, R_OK) == 0) {
		r->owner_key_path = am_xstrdup(dflt);
		return am_key_load_public(dflt, k, err);
	}
	r->owner_key_path = am_xstrdup(genpub);
	if (access(genpub, R_OK) == 0)
		return am_key_load_public(genpub, k, err);
	if (am_mkdir_p(cfg, 0700, err) < 0 || am_key_generate("am-owner", k, err) < 0)
		return -1;
	if (am_key_write_pair(*k, gen, err) < 0) {
		am_key_free(*k);
		*k = NULL;
		return -1;
	}
	r->owner_generated = 1;
	return 0;
}

/* Add ".am/" to .git/info/exclude when DIR is inside a git work tree. */
static int
exclude_from_git(const char *root)
{
	git_repository *repo = NULL;
	AM_AUTOFREE char *excl = NULL;
	AM_AUTOFREE char *data = NULL;
	AM_AUTOFREE char *rel = NULL;
	const char *wd;
	size_t len = 0;
	int fd, done = 0;

	if (git_repository_open_ext(&repo, root, 0, NULL) != 0)
		return 0;
	wd = git_repository_workdir(repo);
	if (wd == NULL) {
		git_repository_free(repo);
		return 0;
	}
	/* Path of .am/ relative to the work tree root, anchored. */
	if (strncmp(root, wd, strlen(wd) - 1) == 0 && strlen(root) >= strlen(wd))
		rel = am_xasprintf("/%s%s.am/", root + strlen(wd),
				   strlen(root) > strlen(wd) ? "/" : "");
	else
		rel = am_xstrdup("/.am/");
	excl = am_xasprintf("%sinfo/exclude", git_repository_path(repo));
	git_repository_free(repo);
	if (am_read_file(excl, 0, &data, &len, NULL) == 0) {
		char *line = am_xasprintf("\n%s\n", rel);

		done = strstr(data, line) != NULL || am_starts_with(data, line + 1);
		free(line);
	}
	if (done)
		return 1;
	{
		AM_AUTOFREE char *dir = am_xstrdup(excl);

		*strrchr(dir, '/') = '\0';
		mkdir(dir, 0755);
	}
	fd = open(excl, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	if (len > 0 && data[len - 1] != '\n')
		am_write_all(fd, "\n", 1);
	am_write_all(fd, rel, strlen(rel));
	am_write_all(fd, "\n", 1);
	close(fd);
	return 1;
}

int
am_workspace_init(const struct am_init_opts *o, struct am_init_result *r,
		  struct am_error **err)
{
	struct stat st;
	struct init_ctx c = { 0 };
	char uuid[37];
	AM_AUTOFREE char *amdir = NULL;
	AM_AUTOFREE char *tmp = NULL;
	AM_AUTOFREE char *gitdir = NULL;
	const char *user = getenv("USER");
	int rc = -1;

	memset(r, 0, sizeof(*r));
	/* Check what we can before touching the file system. */
	{
		const char *n = o->owner_name ? o->owner_name : user && *user ? user : "owner";

		if (*n == '\0' || strcspn(n, " \t\n,\"'*?!@") != strlen(n)) {
			if (o->owner_name)
				return am_error_set(err, AM_EUSAGE,
						    "owner name '%s' may not be empty or contain spaces, quotes, ',', '@' or glob characters",
						    n);
			user = NULL; /* $USER unusable as a principal name: use "owner" */
		}
	}
	if (stat(o->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return am_error_set(err, AM_EUSAGE, "cannot init '%s': not a directory", o->dir);
	} else if (errno == ENOENT) {
		if (am_mkdir_p(o->dir, 0755, err) < 0)
			return -1;
	} else {
		return am_error_set(err, AM_EFAIL, "cannot init '%s': %s", o->dir, strerror(errno));
	}
	r->root = realpath(o->dir, NULL);
	if (r->root == NULL)
		return am_error_set(err, AM_EFAIL, "cannot resolve '%s': %s", o->dir, strerror(errno));
	amdir = am_xasprintf("%s/.am", r->root);
	if (lstat(amdir, &st) == 0) {
		AM_AUTOFREE char *probe = am_xasprintf("%s/ledger.git", amdir);

		if (stat(probe, &st) == 0) {
			struct am_ledger *l = NULL;

			r->existed = 1;
			if (am_ledger_open(r->root, &l, err) < 0)
				return -1;
			r->workspace_id = am_xstrdup(am_ledger_workspace_id(l));
			am_ledger_free(l);
			return 0;
		}
		return am_error_set(err, AM_ECONFLICT,
				    "cannot init '%s': '%s' exists but is not an am ledger", o->dir, amdir);
	}
	if (access(r->root, W_OK) < 0)
		return am_error_set(err, AM_EFAIL, "cannot init '%s': %s", o->dir, strerror(errno));

	if (am_machine_key(1, &c.machine, err) < 0)
		goto out;
	if (owner_key(o, r, &c.owner, err) < 0)
		goto out;
	r->owner_fingerprint = am_key_fingerprint(c.owner);
	r->owner_name = am_xstrdup(o->owner_name ? o->owner_name : user && *user ? user : "owner");
	am_uuid(uuid);
	c.ws_uuid = uuid;
	c.owner_name = r->owner_name;

	/* Build the whole ledger in a temporary directory beside .am and
	 * rename it into place last: a failure or crash leaves no half-made
	 * workspace, and two racing inits cannot both succeed. */
	tmp = am_xasprintf("%s/.am.init-XXXXXX", r->root);
	if (mkdtemp(tmp) == NULL) {
		am_error_set(err, AM_EFAIL, "cannot init '%s': %s", o->dir, strerror(errno));
		goto out;
	}
	gitdir = am_xasprintf("%s/ledger.git", tmp);
	if (am_ledger_create(gitdir, init_txn, &c, r->commit, err) < 0)
		goto cleanup;
	if (rename(tmp, amdir) < 0) {
		am_error_set(err, errno == EEXIST || errno == ENOTEMPTY ? AM_ECONFLICT : AM_EFAIL,
			     "cannot init '%s': %s", o->dir, strerror(errno));
		goto cleanup;
	}
	r->workspace_id = am_xasprintf("%s%s", AM_WS_URN, uuid);
	r->operation_id = am_steal_pointer(&c.op_id);
	/* Remember the first tip so verify can detect a rewritten history. */
	{
		struct am_ledger *l = NULL;

		if (am_ledger_open(r->root, &l, NULL) == 0) {
			am_ledger_hwm_set(l, r->commit);
			am_ledger_free(l);
		}
	}
	r->git_excluded = exclude_from_git(r->root);
	rc = 0;
	goto out;
cleanup:
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
out:
	free(c.op_id);
	am_key_free(c.owner);
	am_key_free(c.machine);
	return rc;
}
