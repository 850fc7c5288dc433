/* verify.c - see verify.h */
#include <git2.h>

#include "authority.h"
#include "canon.h"
#include "operation.h"
#include "sshsig.h"
#include "util.h"
#include "verify.h"
#include "workspace.h"

static int
git_fail(struct am_error **err, const char *what)
{
	const git_error *e = git_error_last();

	return am_error_set(err, AM_EINTEGRITY, "%s: %s", what,
			    e && e->message ? e->message : "libgit2 error");
}

struct walk_ctx {
	git_repository *repo;
	struct am_verify_report *rep;
	struct am_error **err;
	int failed;
	cJSON *principals; /* fingerprints of every Principal ever recorded */
};

/* Re-hash one artifact blob: its name must be the sha256 of its bytes, it
 * must sit in its fan-out directory, and it must be canonical JSON. */
static int
check_artifact(const char *root, const git_tree_entry *ent, void *arg)
{
	struct walk_ctx *w = arg;
	const char *name = git_tree_entry_name(ent);
	git_blob *blob = NULL;
	char hex[65];
	size_t len;
	const char *data;
	cJSON *doc;
	char *canon;

	if (git_tree_entry_type(ent) != GIT_OBJECT_BLOB)
		return 0;
	if (!am_is_hex64(name) || strlen(root) != 16 || strncmp(root + 10, name, 2) != 0 ||
	    strncmp(root + 13, name + 2, 2) != 0) {
		am_error_set(w->err, AM_EINTEGRITY, "stray file in ledger: %s%s", root, name);
		goto fail;
	}
	if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(ent)) != 0) {
		git_fail(w->err, name);
		goto fail;
	}
	data = git_blob_rawcontent(blob);
	len = (size_t)git_blob_rawsize(blob);
	am_sha256_hex(hex, data, len);
	if (strcmp(hex, name) != 0) {
		am_error_set(w->err, AM_EINTEGRITY,
			     "artifact sha256:%s: bytes no longer hash to its name (they hash to sha256:%.12s...)",
			     name, hex);
		goto fail;
	}
	doc = am_canon_parse(data, len, NULL);
	canon = doc ? am_canon_dump(doc, &len, NULL) : NULL;
	{
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
		const cJSON *fpr = cJSON_GetObjectItemCaseSensitive(doc, "fingerprint");

		if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Principal") == 0 &&
		    cJSON_IsString(fpr))
			cJSON_AddTrueToObject(w->principals, fpr->valuestring);
	}
	cJSON_Delete(doc);
	if (canon == NULL || len != (size_t)git_blob_rawsize(blob) ||
	    memcmp(canon, data, len) != 0) {
		free(canon);
		am_error_set(w->err, AM_EINTEGRITY, "artifact sha256:%s is not canonical JSON", name);
		goto fail;
	}
	free(canon);
	git_blob_free(blob);
	w->rep->artifacts++;
	return 0;
fail:
	git_blob_free(blob);
	w->failed = 1;
	return -1;
}

static int
check_artifacts(struct am_ledger *l, struct am_verify_report *rep, cJSON *principals,
		struct am_error **err)
{
	git_repository *repo = am_ledger_repo(l);
	git_oid oid;
	git_commit *c = NULL;
	git_tree *tree = NULL, *arts = NULL;
	git_tree_entry *ent = NULL;
	struct walk_ctx w = { repo, rep, err, 0, principals };
	int rc = -1;

	if (git_reference_name_to_id(&oid, repo, AM_LEDGER_REF) != 0 ||
	    git_commit_lookup(&c, repo, &oid) != 0 || git_commit_tree(&tree, c) != 0) {
		git_fail(err, "cannot read ledger tip");
		goto out;
	}
	if (git_tree_entry_bypath(&ent, tree, "artifacts") != 0 ||
	    git_tree_lookup(&arts, repo, git_tree_entry_id(ent)) != 0) {
		am_error_set(err, AM_EINTEGRITY, "ledger has no artifacts directory");
		goto out;
	}
	/* Walk the two fan-out levels by hand so any stray entry is named. */
	{
		size_t i, n = git_tree_entrycount(arts);

		for (i = 0; i < n && !w.failed; i++) {
			const git_tree_entry *e1 = git_tree_entry_byindex(arts, i);
			git_tree *sub = NULL;
			char prefix[32];

			if (git_tree_entry_type(e1) != GIT_OBJECT_TREE ||
			    git_tree_lookup(&sub, repo, git_tree_entry_id(e1)) != 0) {
				am_error_set(err, AM_EINTEGRITY, "stray entry in ledger: artifacts/%s",
					     git_tree_entry_name(e1));
				w.failed = 1;
				break;
			}
			{
				size_t j, m = git_tree_entrycount(sub);

				for (j = 0; j < m && !w.failed; j++) {
					const git_tree_entry *e2 = git_tree_entry_byindex(sub, j);
					git_tree *leaf = NULL;
					size_t k, q;

					snprintf(prefix, sizeof(prefix), "artifacts/%.2s/%.2s/",
						 git_tree_entry_name(e1), git_tree_entry_name(e2));
					if (strlen(git_tree_entry_name(e1)) != 2 ||
					    strlen(git_tree_entry_name(e2)) != 2 ||
					    git_tree_entry_type(e2) != GIT_OBJECT_TREE ||
					    git_tree_lookup(&leaf, repo, git_tree_entry_id(e2)) != 0) {
						am_error_set(err, AM_EINTEGRITY, "stray entry in ledger: %s",
							     prefix);
						w.failed = 1;
						break;
					}
					q = git_tree_entrycount(leaf);
					for (k = 0; k < q && !w.failed; k++)
						check_artifact(prefix, git_tree_entry_byindex(leaf, k), &w);
					git_tree_free(leaf);
				}
			}
			git_tree_free(sub);
		}
	}
	rc = w.failed ? -1 : 0;
out:
	git_tree_entry_free(ent);
	git_tree_free(arts);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

/* Trust index of a commit's tree (empty object if it has none). */
static cJSON *
commit_trust(git_repository *repo, const git_oid *oid)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *ent = NULL;
	git_blob *blob = NULL;
	cJSON *t = NULL;

	if (git_commit_lookup(&c, repo, oid) == 0 && git_commit_tree(&tree, c) == 0 &&
	    git_tree_entry_bypath(&ent, tree, "trust.json") == 0 &&
	    git_blob_lookup(&blob, repo, git_tree_entry_id(ent)) == 0)
		t = am_trust_parse(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), NULL);
	git_blob_free(blob);
	git_tree_entry_free(ent);
	git_tree_free(tree);
	git_commit_free(c);
	return t ? t : cJSON_CreateObject();
}

struct commits_ctx {
	struct am_verify_report *rep;
	char hwm[41];
	int hwm_seen;
};

/* One commit: linear, signed (SSHSIG, namespace git) by a machine key that
 * the parent commit trusted (the root commit: its own tree), so a commit
 * cannot vouch for the key that signed it. */
static int
check_commit(struct am_ledger *l, const struct am_commit_info *ci, void *arg,
	     struct am_error **err)
{
	struct commits_ctx *cc = arg;
	git_repository *repo = am_ledger_repo(l);
	git_buf sig = { 0 }, data = { 0 };
	git_oid oid, toid;
	unsigned char pk[32];
	cJSON *trust = NULL;
	const cJSON *p, *role;
	const char *name = NULL;
	int rc = -1;

	git_oid_fromstr(&oid, ci->id);
	if (ci->nparents > 1)
		return am_error_set(err, AM_EINTEGRITY, "commit %.12s is a merge; the ledger must be linear",
				    ci->id);
	if (cc->hwm[0] && strcmp(cc->hwm, ci->id) == 0)
		cc->hwm_seen = 1;
	if (git_commit_extract_signature(&sig, &data, repo, &oid, "gpgsig") != 0) {
		am_error_set(err, AM_EINTEGRITY, "commit %.12s has no signature", ci->id);
		goto out;
	}
	if (am_sshsig_verify(sig.ptr, sig.size, "git", data.ptr, data.size, pk, err) < 0) {
		am_error_prefix(err, "commit %.12s: bad signature", ci->id);
		goto out;
	}
	if (ci->nparents == 1)
		git_oid_fromstr(&toid, ci->parent);
	else
		git_oid_cpy(&toid, &oid);
	trust = commit_trust(repo, &toid);
	p = am_trust_find_key(trust, pk, &name);
	role = p ? cJSON_GetObjectItemCaseSensitive(p, "role") : NULL;
	if (p == NULL || !cJSON_IsString(role) || strcmp(role->valuestring, "machine") != 0) {
		struct am_key k = { 0 };
		char *fpr;

		memcpy(k.pk, pk, 32);
		fpr = am_key_fingerprint(&k);
		am_error_set(err, AM_EINTEGRITY,
			     "commit %.12s is signed by %s, which is not a trusted machine key", ci->id,
			     fpr);
		free(fpr);
		goto out;
	}
	cc->rep->commits++;
	rc = 0;
out:
	cJSON_Delete(trust);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

static int
check_operations(struct am_ledger *l, struct am_verify_report *rep, struct am_error **err)
{
	char **ids = NULL;
	size_t n_ids, j;
	int rc = 0;

	if (am_ledger_list_fanout(l, "ops", &ids, &n_ids, err) < 0)
		return -1;
	for (j = 0; j < n_ids && rc == 0; j++) {
		AM_AUTOFREE char *opid = am_xasprintf("%s%s", AM_OP_URN, ids[j]);
		cJSON *idx = NULL, *events, *e, **docs;
		const cJSON *state;
		size_t n = 0, k;

		if (am_op_index(l, opid, &idx, err) < 0) {
			rc = -1;
			break;
		}
		events = cJSON_GetObjectItemCaseSensitive(idx, "events");
		docs = am_xcalloc((size_t)cJSON_GetArraySize(events) + 1, sizeof(*docs));
		cJSON_ArrayForEach(e, events) {
			if (!cJSON_IsString(e) ||
			    am_ledger_artifact(l, e->valuestring, &docs[n], err) < 0) {
				am_error_prefix(err, "operation %s", opid);
				rc = -1;
				break;
			}
			n++;
		}
		if (rc == 0)
			rc = am_op_check_events(opid, docs, n, err);
		state = cJSON_GetObjectItemCaseSensitive(idx, "state");
		if (rc == 0 && n > 0) {
			const cJSON *last = cJSON_GetObjectItemCaseSensitive(docs[n - 1], "toState");

			if (!cJSON_IsString(state) || !cJSON_IsString(last) ||
			    strcmp(state->valuestring, last->valuestring) != 0)
				rc = am_error_set(err, AM_EINTEGRITY,
						  "operation %s: index state disagrees with its events",
						  opid);
		}
		for (k = 0; k < n; k++)
			cJSON_Delete(docs[k]);
		free(docs);
		cJSON_Delete(idx);
		rep->operations++;
		rep->events += n;
	}
	am_strv_free(ids);
	return rc;
}

/* Every recorded delegation: its record signature verifies, and its signer
 * was a principal of this workspace when it signed (a Principal artifact
 * exists for the key, even if the principal was removed later). */
static int
check_delegations(struct am_ledger *l, struct am_verify_report *rep, const cJSON *principals,
		  struct am_error **err)
{
	char **ids = NULL;
	size_t n_ids, j;
	int rc = 0;

	if (am_ledger_list_fanout(l, "delegations", &ids, &n_ids, err) < 0)
		return -1;
	for (j = 0; j < n_ids && rc == 0; j++) {
		cJSON *idx = NULL, *doc = NULL;
		const cJSON *art, *signer;

		if (am_delegation_index(l, ids[j], &idx, err) < 0) {
			rc = -1;
			break;
		}
		art = cJSON_GetObjectItemCaseSensitive(idx, "artifact");
		if (!cJSON_IsString(art) || am_ledger_artifact(l, art->valuestring, &doc, err) < 0) {
			am_error_set(err, AM_EINTEGRITY, "delegation %s: record missing", ids[j]);
			rc = -1;
		} else if (am_delegation_check_record(doc, err) < 0) {
			rc = -1;
		} else {
			signer = cJSON_GetObjectItemCaseSensitive(doc, "signerKey");
			if (!cJSON_IsString(signer) ||
			    !cJSON_HasObjectItem(principals, signer->valuestring))
				rc = am_error_set(err, AM_EINTEGRITY,
						  "delegation %s: signed by %s, never a principal of this workspace",
						  ids[j], cJSON_IsString(signer) ? signer->valuestring : "?");
		}
		cJSON_Delete(doc);
		cJSON_Delete(idx);
		rep->delegations++;
	}
	am_strv_free(ids);
	return rc;
}

int
am_verify(struct am_ledger *l, struct am_verify_report *rep, struct am_error **err)
{
	struct commits_ctx cc = { rep, "", 0 };
	cJSON *principals = cJSON_CreateObject();
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = check_artifacts(l, rep, principals, err);
	if (rc == 0)
		rc = check_delegations(l, rep, principals, err);
	cJSON_Delete(principals);
	if (rc < 0)
		return -1;
	am_ledger_hwm(l, cc.hwm);
	if (am_ledger_walk(l, check_commit, &cc, err) < 0)
		return -1;
	if (cc.hwm[0] && !cc.hwm_seen)
		return am_error_set(err, AM_EINTEGRITY,
				    "history rewritten: commit %.12s, recorded by this machine, is no longer in "
				    AM_LEDGER_REF, cc.hwm);
	if (check_operations(l, rep, err) < 0)
		return -1;
	/* Verified: this tip is now the mark later rewrites are judged by. */
	{
		git_oid oid;
		char hex[41];

		if (git_reference_name_to_id(&oid, am_ledger_repo(l), AM_LEDGER_REF) == 0) {
			git_oid_tostr(hex, sizeof(hex), &oid);
			am_ledger_hwm_set(l, hex);
		}
	}
	return 0;
}
