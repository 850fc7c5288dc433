/* ledger.c - see ledger.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <git2.h>
#include <libssh2.h>
#include <sodium.h>

#include "canon.h"
#include "ledger.h"
#include "objstore.h"
#include "sshsig.h"
#include "util.h"

struct am_ledger {
	git_repository *repo;
	struct am_objstore *store; /* owned by repo */
	char *root;
	char *gitdir;
	char *workspace_id;
	struct am_key *machine_key; /* loaded on first commit */
	char hwm_path[PATH_MAX];
};

struct staged {
	char *path;
	char *data;
	size_t len;
	int remove;
};

struct am_txn {
	struct am_ledger *l;
	git_tree *base; /* NULL before the first commit */
	struct staged *v;
	size_t n, cap;
	size_t *slot; /* open-addressing index of v by path: i + 1, 0 empty */
	size_t nslot; /* a power of two, more than twice n */
	char *subject;
	struct am_buf trailers;
	char *author_name, *author_email;
	int64_t time;
};

/* Copy libgit2's last error into *err at once (libgit2 overwrites it). */
static int
git_fail(struct am_error **err, enum am_errclass cls, const char *what)
{
	const git_error *e = git_error_last();

	return am_error_set(err, cls, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

int
am_workspace_find(const char *start, char **root, struct am_error **err)
{
	const char *env = getenv("AM_WORKSPACE");
	char *dir, *slash;
	struct stat st;

	if (env && *env) {
		char *probe = am_xasprintf("%s/.am/ledger.git", env);
		int ok = stat(probe, &st) == 0 && S_ISDIR(st.st_mode);

		free(probe);
		if (!ok)
			return am_error_set(err, AM_ENOTFOUND,
					    "not an am workspace: '%s' (from AM_WORKSPACE)", env);
		*root = realpath(env, NULL);
		if (*root == NULL)
			am_die_oom();
		return 0;
	}
	dir = realpath(start, NULL);
	if (dir == NULL)
		return am_error_set(err, AM_EFAIL, "cannot resolve '%s': %s", start, strerror(errno));
	for (;;) {
		char *probe = am_xasprintf("%s/.am/ledger.git", strcmp(dir, "/") ? dir : "");
		int ok = stat(probe, &st) == 0 && S_ISDIR(st.st_mode);

		free(probe);
		if (ok) {
			*root = dir;
			return 0;
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || strcmp(dir, "/") == 0)
			break;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	free(dir);
	dir = realpath(start, NULL);
	am_error_set(err, AM_ENOTFOUND, "not an am workspace (or any parent): %s", dir ? dir : start);
	free(dir);
	return -1;
}

/* Where this machine remembers the last tip of a ledger: keyed by the
 * ledger's real path, under the machine-local state directory. */
static void
hwm_path(struct am_ledger *l)
{
	AM_AUTOFREE char *state = am_state_dir();
	char h[65];

	am_sha256_hex(h, l->gitdir, strlen(l->gitdir));
	snprintf(l->hwm_path, sizeof(l->hwm_path), "%s/ledgers/%.16s.tip", state, h);
}

void
am_ledger_hwm_set(struct am_ledger *l, const char *commit)
{
	char line[42];

	snprintf(line, sizeof(line), "%s\n", commit);
	/* Best effort: the mark only sharpens verify; failing to write it must
	 * not fail the commit that already landed.  Rewritten in place: it is
	 * always these 41 bytes, one write within one block, so a reader or a
	 * crash finds the old line or the new one; a temporary file renamed
	 * over it would cost a new inode (0.4 ms here) every commit. */
	{
		int fd = open(l->hwm_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd >= 0) {
			if (pwrite(fd, line, 41, 0) != 41) {
				/* the next commit tries again */
			}
			close(fd);
		} else {
			am_write_state_file(l->hwm_path, line, 41, NULL); /* makes the directory */
		}
	}
}

void
am_ledger_hwm(struct am_ledger *l, char out[41])
{
	char *data = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (am_read_file(l->hwm_path, 4096, &data, &len, NULL) == 0 && len >= 40) {
		memcpy(out, data, 40);
		out[40] = '\0';
	}
	free(data);
}

/* Whether to look for a missing object once more, after attempt failed
 * attempts: a concurrent pack merge (objstore.c) can remove a pack between
 * a reader's listing of the pack directory and its opening of the pack's
 * index.  Its objects are in the merged pack by then, which libgit2 lists
 * again on a miss; this makes that second look, after a short pause,
 * survive a reader being preempted inside the window. */
static int
object_retry(git_repository *repo, int rc, int attempt)
{
	git_odb *odb;

	if (rc != GIT_ENOTFOUND || attempt >= 3 || git_repository_odb(&odb, repo) != 0)
		return 0;
	usleep(1000u << attempt);
	git_odb_refresh(odb);
	git_odb_free(odb);
	return 1;
}

static int
read_tree_file(git_repository *repo, git_tree *tree, const char *path, char **data,
	       size_t *len, struct am_error **err)
{
	git_tree_entry *ent = NULL;
	git_blob *blob = NULL;
	size_t n;
	int rc, attempt = 0;

	if (tree == NULL || git_tree_entry_bypath(&ent, tree, path) != 0)
		return am_error_set(err, AM_ENOTFOUND, "'%s' not found in ledger", path);
	if (git_tree_entry_type(ent) != GIT_OBJECT_BLOB) {
		git_tree_entry_free(ent);
		return am_error_set(err, AM_ENOTFOUND, "'%s' is not a file in ledger", path);
	}
	while ((rc = git_blob_lookup(&blob, repo, git_tree_entry_id(ent))) != 0)
		if (!object_retry(repo, rc, attempt++)) {
			git_tree_entry_free(ent);
			return git_fail(err, AM_EINTEGRITY, path);
		}
	git_tree_entry_free(ent);
	n = (size_t)git_blob_rawsize(blob);
	*data = am_xmalloc(n + 1);
	memcpy(*data, git_blob_rawcontent(blob), n);
	(*data)[n] = '\0';
	if (len)
		*len = n;
	git_blob_free(blob);
	return 0;
}

static int
tip(git_repository *repo, git_oid *oid, git_commit **commit, git_tree **tree,
    struct am_error **err)
{
	int rc = git_reference_name_to_id(oid, repo, AM_LEDGER_REF), attempt = 0;

	*commit = NULL;
	*tree = NULL;
	if (rc == GIT_ENOTFOUND)
		return am_error_set(err, AM_EINTEGRITY, "ledger has no %s", AM_LEDGER_REF);
	if (rc != 0)
		return git_fail(err, AM_EFAIL, "cannot read " AM_LEDGER_REF);
	while ((rc = git_commit_lookup(commit, repo, oid)) != 0 ||
	       (rc = git_commit_tree(tree, *commit)) != 0) {
		git_commit_free(*commit);
		*commit = NULL;
		if (!object_retry(repo, rc, attempt++))
			return git_fail(err, AM_EINTEGRITY, "cannot read ledger tip");
	}
	return 0;
}

/* The ledger is a local bare repository: am never fetches or pushes, so
 * libgit2 never opens a TLS connection in an am process.  Debian builds
 * libgit2 with mbedTLS, and its git_libgit2_init() parses the whole system
 * CA bundle (~140 certificates, 8 ms measured) into a chain only TLS would
 * use: a third of a short command's run time.  Defining the one parse
 * function libgit2 calls for that here makes the dynamic linker bind
 * libgit2's call to this definition (an executable's symbols come first in
 * the lookup order, and ld exports them when a linked shared library
 * refers to them), so the chain stays empty; were a TLS connection ever
 * attempted it would fail certificate verification, closed.  With a
 * libgit2 built against another TLS library this is simply unused. */
struct mbedtls_x509_crt;
int mbedtls_x509_crt_parse_file(struct mbedtls_x509_crt *chain, const char *path);
int
mbedtls_x509_crt_parse_file(struct mbedtls_x509_crt *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0;
}

/* Process-wide libgit2 settings for the ledger.  Strict object creation
 * makes libgit2 look up every object a new tree or commit names; am has
 * just written those objects itself in the same transaction, so the
 * lookups only cost time (they showed up as a third of a commit's cost).
 * Hash verification on read stays on. */
static void
ledger_settings(void)
{
	static int done;

	if (done++)
		return;
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/* libgit2 keeps parsed trees of up to 4 KB in its object cache; the
	 * ledger's fan-out directories are 7 KB and more, and every commit
	 * reads the same few of them again (inflating a delta chain each
	 * time) without this. */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)1 << 20);
}

int
am_ledger_open(const char *root, struct am_ledger **out, struct am_error **err)
{
	struct am_ledger *l = am_xcalloc(1, sizeof(*l));
	char *ws = NULL;
	size_t len;

	ledger_settings();
	l->root = am_xstrdup(root);
	l->gitdir = am_xasprintf("%s/.am/ledger.git", root);
	if (git_repository_open_bare(&l->repo, l->gitdir) != 0) {
		git_fail(err, AM_EINTEGRITY, "cannot open ledger");
		am_ledger_free(l);
		return -1;
	}
	if (am_objstore_attach(l->repo, &l->store, err) < 0) {
		am_ledger_free(l);
		return -1;
	}
	if (am_ledger_read(l, "workspace", &ws, &len, err) < 0) {
		am_ledger_free(l);
		return am_error_prefix(err, "cannot open ledger");
	}
	ws[strcspn(ws, "\n")] = '\0';
	l->workspace_id = ws;
	hwm_path(l);
	*out = l;
	return 0;
}

void
am_ledger_free(struct am_ledger *l)
{
	if (l == NULL)
		return;
	git_repository_free(l->repo);
	am_key_free(l->machine_key);
	free(l->root);
	free(l->gitdir);
	free(l->workspace_id);
	free(l);
}

const char *am_ledger_root(const struct am_ledger *l) { return l->root; }
const char *am_ledger_gitdir(const struct am_ledger *l) { return l->gitdir; }
const char *am_ledger_workspace_id(const struct am_ledger *l) { return l->workspace_id; }
struct git_repository *am_ledger_repo(struct am_ledger *l) { return l->repo; }

int
am_machine_key(int create, struct am_key **out, struct am_error **err)
{
	AM_AUTOFREE char *dir = am_state_dir();
	AM_AUTOFREE char *path = am_xasprintf("%s/machine_ed25519", dir);
	struct stat st;

	if (stat(path, &st) == 0)
		return am_key_load(path, out, err);
	if (!create)
		return am_error_set(err, AM_EAUTH, "no machine key at '%s'; run 'am init' on this machine",
				    path);
	/* The machine key lives outside every workspace, in machine-local
	 * state, so that an agent running inside a workspace (which may read
	 * .am/ per policy) can never see it and forge ledger commits. */
	if (am_mkdir_p(dir, 0700, err) < 0)
		return -1;
	{
		char host[256] = "localhost";
		AM_AUTOFREE char *comment = NULL;
		struct am_key *k;

		gethostname(host, sizeof(host) - 1);
		comment = am_xasprintf("am-machine@%s", host);
		if (am_key_generate(comment, &k, err) < 0)
			return -1;
		if (am_key_write_pair(k, path, err) < 0) {
			am_key_free(k);
			return -1;
		}
		*out = k;
	}
	return 0;
}

void
am_machine_id(const struct am_key *k, char out[17])
{
	char h[65];

	am_sha256_hex(h, k->pk, 32);
	memcpy(out, h, 16);
	out[16] = '\0';
}

struct am_ledger *am_txn_ledger(struct am_txn *t) { return t->l; }
int64_t am_txn_time(const struct am_txn *t) { return t->time; }

static size_t
path_hash(const char *path)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot that holds path, or the empty slot where it would go. */
static size_t *
staged_slot(struct am_txn *t, const char *path)
{
	size_t mask = t->nslot - 1, i = path_hash(path) & mask;

	while (t->slot[i] && strcmp(t->v[t->slot[i] - 1].path, path) != 0)
		i = (i + 1) & mask;
	return &t->slot[i];
}

/* Rebuild the index for the staged entries, with room for one more: a
 * bulk transaction of thousands of files stays linear. */
static void
staged_reindex(struct am_txn *t)
{
	size_t i;

	if (t->nslot <= 2 * (t->n + 1)) {
		while (t->nslot <= 2 * (t->n + 1))
			t->nslot = t->nslot ? 2 * t->nslot : 32;
		free(t->slot);
		t->slot = am_xmalloc(t->nslot * sizeof(*t->slot));
	}
	memset(t->slot, 0, t->nslot * sizeof(*t->slot));
	for (i = 0; i < t->n; i++)
		*staged_slot(t, t->v[i].path) = i + 1;
}

static struct staged *
staged_find(struct am_txn *t, const char *path)
{
	size_t *sl;

	if (t->n == 0)
		return NULL;
	sl = staged_slot(t, path);
	return *sl ? &t->v[*sl - 1] : NULL;
}

static void
stage(struct am_txn *t, const char *path, const void *data, size_t len, int remove)
{
	struct staged *s = staged_find(t, path);

	if (s == NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 16;
			t->v = am_xrealloc(t->v, t->cap * sizeof(*t->v));
		}
		if (t->nslot <= 2 * (t->n + 1))
			staged_reindex(t);
		s = &t->v[t->n++];
		s->path = am_xstrdup(path);
		*staged_slot(t, path) = t->n;
	} else {
		free(s->data);
	}
	s->data = am_xmalloc(len + 1);
	if (len)
		memcpy(s->data, data, len);
	s->data[len] = '\0';
	s->len = len;
	s->remove = remove;
}

int
am_txn_staged(struct am_txn *t, const char *path)
{
	struct staged *s = staged_find(t, path);

	return s != NULL && !s->remove;
}

/* Drop a staged entry entirely (it never reaches a tree). */
static void
unstage(struct am_txn *t, const char *path)
{
	struct staged *s = staged_find(t, path);

	if (s == NULL)
		return;
	free(s->path);
	free(s->data);
	*s = t->v[--t->n];
	staged_reindex(t); /* rare: a transaction taking back one of its files */
}

void
am_txn_unstage(struct am_txn *t, const char *path)
{
	unstage(t, path);
}

void
am_txn_put_file(struct am_txn *t, const char *path, const void *data, size_t len)
{
	stage(t, path, data, len, 0);
}

void
am_txn_remove_file(struct am_txn *t, const char *path)
{
	stage(t, path, "", 0, 1);
}

int
am_txn_read(struct am_txn *t, const char *path, char **data, size_t *len,
	    struct am_error **err)
{
	struct staged *s = staged_find(t, path);

	if (s) {
		if (s->remove)
			return am_error_set(err, AM_ENOTFOUND, "'%s' not found in ledger", path);
		*data = am_xmalloc(s->len + 1);
		memcpy(*data, s->data, s->len + 1);
		if (len)
			*len = s->len;
		return 0;
	}
	return read_tree_file(t->l ? t->l->repo : NULL, t->base, path, data, len, err);
}

char *
am_artifact_path(const char *id)
{
	if (am_starts_with(id, "sha256:"))
		id += 7;
	if (!am_is_hex64(id))
		return NULL;
	return am_xasprintf("artifacts/%.2s/%.2s/%s", id, id + 2, id);
}

int
am_txn_put_json(struct am_txn *t, const char *path, const cJSON *doc, struct am_error **err)
{
	size_t len;
	AM_AUTOFREE char *bytes = am_canon_dump(doc, &len, err);

	if (bytes == NULL)
		return -1;
	stage(t, path, bytes, len, 0);
	return 0;
}

int
am_txn_put_artifact(struct am_txn *t, const cJSON *doc, char id[AM_ID_LEN],
		    struct am_error **err)
{
	size_t len;
	char hex[65];
	AM_AUTOFREE char *bytes = am_canon_dump(doc, &len, err);
	AM_AUTOFREE char *path = NULL;

	if (bytes == NULL)
		return -1;
	/* The file name is the sha256 of its exact bytes: anyone can check
	 * an artifact with sha256sum, without am. */
	am_sha256_hex(hex, bytes, len);
	snprintf(id, AM_ID_LEN, "sha256:%s", hex);
	path = am_artifact_path(hex);
	stage(t, path, bytes, len, 0);
	return 0;
}

void
am_txn_subject(struct am_txn *t, const char *subject)
{
	if (t->subject == NULL)
		t->subject = am_xstrdup(subject);
}

void
am_txn_trailer(struct am_txn *t, const char *key, const char *value)
{
	AM_AUTOFREE char *line = am_xasprintf("\n%s: %s\n", key, value);

	/* Each trailer once: an operation created and moved in one commit is
	 * named once.  Lines are matched whole (with their newlines). */
	if (t->trailers.data && (am_starts_with(t->trailers.data, line + 1) ||
				 strstr(t->trailers.data, line) != NULL))
		return;
	am_buf_adds(&t->trailers, line + 1);
}

void
am_txn_author(struct am_txn *t, const char *name, const char *email)
{
	free(t->author_name);
	free(t->author_email);
	t->author_name = am_xstrdup(name);
	t->author_email = am_xstrdup(email);
}

static void
txn_clear(struct am_txn *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].data);
	}
	free(t->v);
	free(t->slot);
	free(t->subject);
	free(t->author_name);
	free(t->author_email);
	am_buf_free(&t->trailers);
	git_tree_free(t->base);
	memset(t, 0, sizeof(*t));
}

/* Write staged blobs and build the new root tree in memory (no index, no
 * work tree); git_tree_create_updated rewrites only the trees on the paths
 * touched, which fan-out keeps small, so cost does not grow with history. */
static int
build_tree(git_repository *repo, struct am_txn *t, git_oid *tree_oid, struct am_error **err)
{
	git_tree_update *up = am_xcalloc(t->n, sizeof(*up));
	git_tree *base = t->base, *empty = NULL;
	size_t i;
	int rc = -1;

	if (base == NULL) {
		git_treebuilder *tb;
		git_oid eoid;

		if (git_treebuilder_new(&tb, repo, NULL) != 0 || git_treebuilder_write(&eoid, tb) != 0 ||
		    git_tree_lookup(&empty, repo, &eoid) != 0) {
			git_fail(err, AM_EFAIL, "cannot create tree");
			goto out;
		}
		git_treebuilder_free(tb);
		base = empty;
	}
	for (i = 0; i < t->n; i++) {
		up[i].path = t->v[i].path;
		if (t->v[i].remove) {
			up[i].action = GIT_TREE_UPDATE_REMOVE;
			continue;
		}
		up[i].action = GIT_TREE_UPDATE_UPSERT;
		up[i].filemode = GIT_FILEMODE_BLOB;
		if (git_blob_create_from_buffer(&up[i].id, repo, t->v[i].data, t->v[i].len) != 0) {
			git_fail(err, AM_EFAIL, "cannot write ledger object");
			goto out;
		}
	}
	if (git_tree_create_updated(tree_oid, repo, base, t->n, up) != 0) {
		git_fail(err, AM_EFAIL, "cannot build ledger tree");
		goto out;
	}
	rc = 0;
out:
	git_tree_free(empty);
	free(up);
	return rc;
}

/* Create the signed commit object for the staged txn on parent (or none). */
static int
make_commit(struct am_ledger *l, git_repository *repo, struct am_key *key, struct am_txn *t,
	    const git_oid *parent_oid, git_oid *out, struct am_error **err)
{
	git_oid tree_oid;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *author = NULL, *committer = NULL;
	git_buf buf = { 0 };
	struct am_buf msg = AM_BUF_INIT;
	char mid[17];
	AM_AUTOFREE char *cemail = NULL;
	char *sig = NULL;
	int rc = -1;

	if (build_tree(repo, t, &tree_oid, err) < 0)
		return -1;
	if (git_tree_lookup(&tree, repo, &tree_oid) != 0) {
		git_fail(err, AM_EFAIL, "cannot read ledger tree");
		goto out;
	}
	if (parent_oid && git_commit_lookup(&parent, repo, parent_oid) != 0) {
		git_fail(err, AM_EFAIL, "cannot read ledger tip");
		goto out;
	}
	am_machine_id(key, mid);
	cemail = am_xasprintf("machine-%s@am", mid);
	if (git_signature_new(&author, t->author_name ? t->author_name : "am",
			      t->author_email ? t->author_email : cemail, (git_time_t)t->time, 0) != 0 ||
	    git_signature_new(&committer, "am", cemail, (git_time_t)t->time, 0) != 0) {
		git_fail(err, AM_EFAIL, "cannot make commit signature");
		goto out;
	}
	am_buf_adds(&msg, t->subject ? t->subject : "am: ledger update");
	am_buf_adds(&msg, "\n");
	if (t->trailers.len) {
		am_buf_adds(&msg, "\n");
		am_buf_add(&msg, t->trailers.data, t->trailers.len);
	}
	if (git_commit_create_buffer(&buf, repo, author, committer, NULL, msg.data, tree,
				     parent ? 1 : 0, (const git_commit **)&parent) != 0) {
		git_fail(err, AM_EFAIL, "cannot create commit");
		goto out;
	}
	/* The gpgsig header carries an SSHSIG over the commit object exactly
	 * as git will reconstruct it, so plain "git verify-commit" with
	 * gpg.format=ssh checks what am checks. */
	sig = am_sshsig_sign(key, "git", buf.ptr, buf.size, err);
	if (sig == NULL)
		goto out;
	/* libgit2 indents every line after a newline; drop the final one so
	 * the header does not end in a blank continuation line. */
	if (*sig && sig[strlen(sig) - 1] == '\n')
		sig[strlen(sig) - 1] = '\0';
	if (git_commit_create_with_signature(out, repo, buf.ptr, sig, "gpgsig") != 0) {
		git_fail(err, AM_EFAIL, "cannot write signed commit");
		goto out;
	}
	rc = 0;
out:
	free(sig);
	am_buf_free(&msg);
	git_buf_dispose(&buf);
	git_signature_free(author);
	git_signature_free(committer);
	git_commit_free(parent);
	git_tree_free(tree);
	(void)l;
	return rc;
}

static am_merge_fn background_merge;

void
am_ledger_set_background_merge(am_merge_fn fn)
{
	background_merge = fn;
}

static void
merge_after_commit(git_repository *repo, const char *gitdir)
{
	if (background_merge == NULL)
		am_objstore_merge(repo, gitdir, 0, NULL);
	else
		background_merge(gitdir);
}

int
am_ledger_merge_due(const char *gitdir)
{
	return am_objstore_merge_due(gitdir);
}

int
am_ledger_merge_packs(const char *gitdir, struct am_error **err)
{
	git_repository *repo = NULL;
	int rc;

	if (git_repository_open_bare(&repo, gitdir) != 0)
		return git_fail(err, AM_EFAIL, "cannot open ledger");
	rc = am_objstore_merge(repo, gitdir, 1, err);
	git_repository_free(repo);
	return rc < 0 ? -1 : 0;
}

void
am_ledger_merge_detached(const char *gitdir)
{
	static pid_t last;
	struct sched_param sp = { .sched_priority = 0 };
	pid_t pid;
	int n;

	if (last > 0 && waitpid(last, NULL, WNOHANG) != 0)
		last = 0;
	if (last > 0)
		return; /* still merging */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		am_detach();
		close_range(3, ~0U, 0);
		sched_setscheduler(0, SCHED_IDLE, &sp);
		/* libgit2's process-wide state came with the fork, its cache of
		 * open packs among it, whose descriptors were just closed: shut it
		 * down whatever the parent's count (0 after main shut it down; a
		 * shutdown at 0 would only make it -1, and the next init a no-op)
		 * and start afresh. */
		n = git_libgit2_init();
		while (n-- > 0)
			git_libgit2_shutdown();
		am_ledger_init();
		_exit(am_ledger_merge_packs(gitdir, NULL) < 0 ? 1 : 0);
	}
	if (pid > 0)
		last = pid;
}

void
am_ledger_init(void)
{
	/* libgit2's init initializes libssh2, which initializes OpenSSL's
	 * engines: half a millisecond of every command.  am never talks to a
	 * remote, so libssh2 is initialized first, without its crypto, and
	 * libgit2's call finds it done. */
	libssh2_init(LIBSSH2_INIT_NO_CRYPTO);
	git_libgit2_init();
}

/* Serialize ref updates among am writers with flock(2): the kernel drops
 * the lock when a writer dies (even by SIGKILL), unlike git's .lock files,
 * so a killed writer can never wedge the ledger.  Holding it, any leftover
 * refs/am/ledger.lock must be stale and is removed. */
static int
ref_lock(const char *gitdir, struct am_error **err)
{
	AM_AUTOFREE char *path = am_xasprintf("%s/am.lock", gitdir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int64_t waited = 0;

	if (fd < 0)
		return am_error_set(err, AM_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return am_error_set(err, AM_EFAIL, "cannot lock '%s': %s", path, strerror(errno));
		}
		if (waited > 30 * 1000000LL) {
			close(fd);
			return am_error_set(err, AM_ECONFLICT, "lock timeout on '%s'", path);
		}
		usleep(200);
		waited += 200;
	}
	return fd;
}

static void
backoff(int attempt)
{
	unsigned spread = 200u * (unsigned)(attempt < 20 ? attempt + 1 : 20);

	/* Randomized so that racing writers do not retry in lock step. */
	usleep((useconds_t)(100 + randombytes_uniform(spread)));
}

/* Move the ledger's ref from old (NULL: it must not exist yet) to new_oid
 * as git update-ref does: under refs/am/ledger.lock, created exclusively
 * (git's own writers take the same lock file), the new id written and
 * renamed over the ref.  The caller holds am.lock, which serializes am's
 * writers.  libgit2's reference update does the same with a dozen more
 * system calls (it re-reads its configuration files twice): 0.6 ms of
 * every commit.  Returns 0, 1 if the ref is not at old (another writer
 * moved it: rebuild on it), or -1 with *err. */
static int
ref_update(git_repository *repo, const char *gitdir, const git_oid *old, const git_oid *new_oid,
	   struct am_error **err)
{
	AM_AUTOFREE char *path = am_xasprintf("%s/" AM_LEDGER_REF, gitdir);
	AM_AUTOFREE char *lock = am_xasprintf("%s.lock", path);
	char line[GIT_OID_HEXSZ + 2];
	git_oid cur;
	/* libgit2 reads it as git stores it: its own file, or a line of
	 * packed-refs once git pack-refs moved it there. */
	int fd, rc = git_reference_name_to_id(&cur, repo, AM_LEDGER_REF);

	if (rc != 0 && rc != GIT_ENOTFOUND)
		return git_fail(err, AM_EINTEGRITY, "cannot read " AM_LEDGER_REF);
	if (old ? rc != 0 || !git_oid_equal(&cur, old) : rc == 0)
		return 1;
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) { /* a new ledger: no refs/am yet */
		AM_AUTOFREE char *dir = am_xstrdup(path);

		*strrchr(dir, '/') = '\0';
		if (am_mkdir_p(dir, 0755, err) < 0)
			return -1;
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (fd < 0 && errno == EEXIST)
		return 1; /* a git writer holds it: try again */
	if (fd < 0)
		return am_error_set(err, AM_EFAIL, "cannot create '%s': %s", lock, strerror(errno));
	git_oid_tostr(line, sizeof(line), new_oid);
	line[GIT_OID_HEXSZ] = '\n';
	if (am_write_all(fd, line, GIT_OID_HEXSZ + 1) < 0 || close(fd) < 0) {
		int e = errno;

		unlink(lock);
		return am_error_set(err, AM_EFAIL, "cannot write '%s': %s", lock, strerror(e));
	}
	if (rename(lock, path) < 0) {
		int e = errno;

		unlink(lock);
		return am_error_set(err, AM_EFAIL, "cannot update '%s': %s", path, strerror(e));
	}
	return 0;
}

static int
transact(struct am_ledger *l, git_repository *repo, struct am_objstore *store, const char *gitdir,
	 am_txn_fn fn, void *arg, int create, char commit_out[41], struct am_error **err)
{
	struct am_txn t = { 0 };
	struct am_key *key = NULL;
	int attempt, rc = -1;
	int64_t deadline = (int64_t)time(NULL) + 60;

	if (l && l->machine_key)
		key = l->machine_key;
	else if (am_machine_key(create, &key, err) < 0)
		return -1;
	if (l && !l->machine_key)
		l->machine_key = key;
	for (attempt = 0;; attempt++) {
		git_oid old, new_oid;
		git_commit *oldc = NULL;
		int lockfd, moved;

		am_objstore_begin(store);
		t.l = l;
		t.time = am_now();
		if (!create) {
			if (tip(repo, &old, &oldc, &t.base, err) < 0)
				goto out;
			git_commit_free(oldc);
		}
		if (fn(&t, arg, err) < 0)
			goto out;
		if (t.n == 0) {
			rc = 0;
			if (commit_out)
				commit_out[0] = '\0';
			goto out;
		}
		/* Objects first, as one pack; the ref moves only after. */
		if (make_commit(l, repo, key, &t, create ? NULL : &old, &new_oid, err) < 0)
			goto out;
		if (am_objstore_flush(store, repo, gitdir, err) < 0)
			goto out;
		lockfd = ref_lock(gitdir, err);
		if (lockfd < 0)
			goto out;
		{
			AM_AUTOFREE char *stale = am_xasprintf("%s/%s.lock", gitdir, AM_LEDGER_REF);

			unlink(stale);
		}
		moved = ref_update(repo, gitdir, create ? NULL : &old, &new_oid, err);
		close(lockfd);
		if (moved < 0)
			goto out;
		if (moved == 0) {
			if (commit_out)
				git_oid_tostr(commit_out, 41, &new_oid);
			if (l) {
				char hex[41];

				git_oid_tostr(hex, sizeof(hex), &new_oid);
				am_ledger_hwm_set(l, hex);
			}
			/* Keeping the packs few is housekeeping: the commit
			 * stands whether or not it succeeds. */
			merge_after_commit(repo, gitdir);
			rc = 0;
			goto out;
		}
		if (create) {
			am_error_set(err, AM_ECONFLICT, "cannot create " AM_LEDGER_REF ": it exists");
			goto out;
		}
		/* Lost the race: another writer moved the tip.  Rebuild on it. */
		txn_clear(&t);
		if ((int64_t)time(NULL) > deadline) {
			am_error_set(err, AM_ECONFLICT, "gave up after %d attempts to update " AM_LEDGER_REF,
				     attempt + 1);
			goto out;
		}
		backoff(attempt);
	}
out:
	if (rc < 0)
		am_objstore_discard(store);
	txn_clear(&t);
	if (l == NULL)
		am_key_free(key);
	return rc;
}

int
am_ledger_transact(struct am_ledger *l, am_txn_fn fn, void *arg, char commit_out[41],
		   struct am_error **err)
{
	return transact(l, l->repo, l->store, l->gitdir, fn, arg, 0, commit_out, err);
}

int
am_ledger_create(const char *gitdir, am_txn_fn fn, void *arg, char commit_out[41],
		 struct am_error **err)
{
	git_repository *repo = NULL;
	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	struct am_objstore *store;
	int rc;

	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
		     GIT_REPOSITORY_INIT_NO_REINIT;
	opts.description = "am ledger: see am-ledger(5)\n";
	if (git_repository_init_ext(&repo, gitdir, &opts) != 0)
		return git_fail(err, AM_EFAIL, "cannot create ledger");
	if (am_objstore_attach(repo, &store, err) < 0) {
		git_repository_free(repo);
		return -1;
	}
	rc = transact(NULL, repo, store, gitdir, fn, arg, 1, commit_out, err);
	git_repository_free(repo);
	return rc;
}

int
am_ledger_read(struct am_ledger *l, const char *path, char **data, size_t *len,
	       struct am_error **err)
{
	git_oid oid;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	int rc;

	if (tip(l->repo, &oid, &c, &tree, err) < 0)
		return -1;
	rc = read_tree_file(l->repo, tree, path, data, len, err);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int
am_ledger_artifact(struct am_ledger *l, const char *id, cJSON **out, struct am_error **err)
{
	AM_AUTOFREE char *path = am_artifact_path(id);
	AM_AUTOFREE char *data = NULL;
	size_t len;
	char hex[65];

	if (path == NULL)
		return am_error_set(err, AM_EUSAGE, "'%s' is not an artifact id", id);
	if (am_ledger_read(l, path, &data, &len, err) < 0)
		return -1;
	am_sha256_hex(hex, data, len);
	if (strcmp(hex, strrchr(path, '/') + 1) != 0)
		return am_error_set(err, AM_EINTEGRITY,
				    "artifact %s: bytes hash to sha256:%s", id, hex);
	*out = am_canon_parse(data, len, err);
	return *out ? 0 : am_error_prefix(err, "artifact %s", id);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
am_ledger_list(struct am_ledger *l, const char *dir, char ***names, size_t *n,
	       struct am_error **err)
{
	git_oid oid;
	git_commit *c = NULL;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *ent = NULL;
	size_t i, cnt;
	char **v;

	*names = NULL;
	*n = 0;
	if (tip(l->repo, &oid, &c, &tree, err) < 0)
		return -1;
	if (git_tree_entry_bypath(&ent, tree, dir) != 0 ||
	    git_tree_entry_type(ent) != GIT_OBJECT_TREE ||
	    git_tree_lookup(&sub, l->repo, git_tree_entry_id(ent)) != 0) {
		git_tree_entry_free(ent);
		git_tree_free(tree);
		git_commit_free(c);
		*names = am_xcalloc(1, sizeof(char *));
		return 0; /* an absent directory is an empty one */
	}
	cnt = git_tree_entrycount(sub);
	v = am_xcalloc(cnt + 1, sizeof(*v));
	for (i = 0; i < cnt; i++)
		v[i] = am_xstrdup(git_tree_entry_name(git_tree_entry_byindex(sub, i)));
	qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	git_tree_entry_free(ent);
	git_tree_free(sub);
	git_tree_free(tree);
	git_commit_free(c);
	return 0;
}

int
am_ledger_list_fanout(struct am_ledger *l, const char *dir, char ***names, size_t *n,
		      struct am_error **err)
{
	char **dirs = NULL, **v = am_xcalloc(1, sizeof(*v));
	size_t nd, i, cnt = 0;

	*names = NULL;
	*n = 0;
	if (am_ledger_list(l, dir, &dirs, &nd, err) < 0) {
		free(v);
		return -1;
	}
	for (i = 0; i < nd; i++) {
		AM_AUTOFREE char *sub = am_xasprintf("%s/%s", dir, dirs[i]);
		char **ids = NULL;
		size_t m, j;

		if (am_ledger_list(l, sub, &ids, &m, err) < 0) {
			am_strv_free(dirs);
			am_strv_free(v);
			return -1;
		}
		v = am_xrealloc(v, (cnt + m + 1) * sizeof(*v));
		for (j = 0; j < m; j++)
			v[cnt++] = am_steal_pointer(&ids[j]);
		v[cnt] = NULL;
		am_strv_free(ids);
	}
	am_strv_free(dirs);
	*names = v;
	*n = cnt;
	return 0;
}

int
am_ledger_walk(struct am_ledger *l,
	       int (*cb)(struct am_ledger *l, const struct am_commit_info *c, void *arg,
			 struct am_error **err),
	       void *arg, struct am_error **err)
{
	git_oid oid;
	git_commit *c = NULL;
	int rc = 0;

	if (git_reference_name_to_id(&oid, l->repo, AM_LEDGER_REF) != 0)
		return git_fail(err, AM_EINTEGRITY, "cannot read " AM_LEDGER_REF);
	/* Follow first parents: the ledger is linear by construction. */
	for (;;) {
		struct am_commit_info info = { 0 };
		const git_signature *a;

		if (git_commit_lookup(&c, l->repo, &oid) != 0)
			return git_fail(err, AM_EINTEGRITY, "cannot read ledger commit");
		git_oid_tostr(info.id, sizeof(info.id), &oid);
		info.nparents = (int)git_commit_parentcount(c);
		if (info.nparents > 0)
			git_oid_tostr(info.parent, sizeof(info.parent), git_commit_parent_id(c, 0));
		info.time = (int64_t)git_commit_time(c);
		info.message = git_commit_message(c);
		a = git_commit_author(c);
		info.author_name = a ? a->name : "";
		info.author_email = a ? a->email : "";
		rc = cb(l, &info, arg, err);
		if (rc != 0 || info.nparents == 0)
			break;
		git_oid_cpy(&oid, git_commit_parent_id(c, 0));
		git_commit_free(c);
		c = NULL;
	}
	git_commit_free(c);
	return rc < 0 ? -1 : 0;
}

char **
am_message_trailers(const char *message, const char *key)
{
	size_t klen = strlen(key), n = 0;
	char **v = am_xcalloc(1, sizeof(*v));
	const char *p = message, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		if (strncmp(p, key, klen) == 0 && p[klen] == ':' && p[klen + 1] == ' ') {
			const char *s = p + klen + 2;
			size_t len = nl ? (size_t)(nl - s) : strlen(s);

			v = am_xrealloc(v, (n + 2) * sizeof(*v));
			v[n++] = am_xstrndup(s, len);
			v[n] = NULL;
		}
		p = nl ? nl + 1 : NULL;
	}
	return v;
}
