/* ledger.h - the signed git ledger: .am/ledger.git, ref refs/am/ledger.
 *
 * Every durable change is one transaction: a callback reads the current tip,
 * adds artifacts and index files, and the ledger turns that into one signed
 * commit built in memory (blobs, then trees with git_tree_create_updated,
 * then the commit, then the ref: objects first, ref last, so a crash at any
 * instant leaves the old or the new tip).  The ref moves by compare-and-swap;
 * a writer that loses the race runs its callback again on the new tip.
 *
 * Tree layout (see am-ledger(5)):
 *   workspace                 id of the Workspace artifact (text)
 *   allowed_signers           OpenSSH allowed signers, one line per principal
 *   trust.json                principals by name: role, key, fingerprint, artifact
 *   artifacts/ab/cd/<hex>     canonical JSON; sha256(file) == <hex>
 *   ops/ab/<uuid>             operation index: type, state, snapshot, events
 *   <module>/...              later modules add their own index directories
 *
 * Ownership: struct am_ledger from am_ledger_open() is freed with
 * am_ledger_free(); out-strings and cJSON trees are the caller's.
 */
#ifndef AM_LEDGER_H
#define AM_LEDGER_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "sshkey.h"

#define AM_LEDGER_REF "refs/am/ledger"
#define AM_ID_LEN 72 /* "sha256:" + 64 hex + NUL */

struct am_ledger;
struct am_txn;

/* Find the workspace root: $AM_WORKSPACE, else the nearest directory at or
 * above start that has .am/ledger.git.  AM_ENOTFOUND otherwise. */
int am_workspace_find(const char *start, char **root, struct am_error **err);

int am_ledger_open(const char *root, struct am_ledger **out, struct am_error **err);
void am_ledger_free(struct am_ledger *l);
const char *am_ledger_root(const struct am_ledger *l);
const char *am_ledger_gitdir(const struct am_ledger *l);
/* "urn:srcos:agent-machine:workspace:<uuid>" */
const char *am_ledger_workspace_id(const struct am_ledger *l);

/* The machine signing key ($XDG_STATE_HOME/am/machine_ed25519), generated
 * with mode 0600 when create is set and it does not exist yet. */
int am_machine_key(int create, struct am_key **out, struct am_error **err);
/* Short stable machine id: first 16 hex of sha256 of the machine public key. */
void am_machine_id(const struct am_key *k, char out[17]);

/* Transaction callback: read state with am_txn_read*, stage changes.  It may
 * run more than once (after a lost race); it must not have side effects
 * outside the txn.  Return 0 to commit, -1 with *err to abort. */
typedef int (*am_txn_fn)(struct am_txn *t, void *arg, struct am_error **err);

/* Run fn and commit what it staged as one signed commit on refs/am/ledger.
 * commit_out (may be NULL) gets the new commit id (40 hex + NUL). */
int am_ledger_transact(struct am_ledger *l, am_txn_fn fn, void *arg,
		       char commit_out[41], struct am_error **err);
/* libgit2 (and the libssh2 it initializes) for a process that uses the
 * ledger: once, before anything else of libgit2. */
void am_ledger_init(void);
/* After every commit the writer hands fn the ledger's git directory, if
 * set: am decides when to look at the packs and, when they are due a merge
 * (am-ledger(5), "Object storage"), leaves it to a detached child, as git
 * gc --auto detaches, so that no command waits for it.  Unset, the writer
 * merges itself when due, unless another process is merging. */
typedef void (*am_merge_fn)(const char *gitdir);
void am_ledger_set_background_merge(am_merge_fn fn);
/* Whether gitdir's packs are due a merge (index file sizes only). */
int am_ledger_merge_due(const char *gitdir);
/* The merge itself, waiting for another merger to finish first.  0 or -1. */
int am_ledger_merge_packs(const char *gitdir, struct am_error **err);
/* The merge in a forked child: a session of its own, /dev/null for stdio
 * and no other descriptor (a test runner or a pipeline waiting for the
 * caller's output does not wait for it), SCHED_IDLE (it runs only on a CPU
 * nothing else wants).  A fork, not a new am: loading am's libraries again
 * would cost more than most merges (7 ms).  The child is reaped when the
 * next one is started, or by init once the caller is gone. */
void am_ledger_merge_detached(const char *gitdir);
/* Bootstrap: create a fresh bare repository at gitdir and make its first
 * commit from fn (used by am init only). */
int am_ledger_create(const char *gitdir, am_txn_fn fn, void *arg,
		     char commit_out[41], struct am_error **err);

struct am_ledger *am_txn_ledger(struct am_txn *t);
/* Read a file of the tip tree (as staged so far in this txn).  AM_ENOTFOUND
 * if absent.  *data is NUL-terminated and the caller's. */
int am_txn_read(struct am_txn *t, const char *path, char **data, size_t *len,
		struct am_error **err);
/* Canonicalize doc, store it as an artifact, write its id into id. */
int am_txn_put_artifact(struct am_txn *t, const cJSON *doc, char id[AM_ID_LEN],
			struct am_error **err);
/* Stage a file (index or metadata) at path; replaces any earlier one. */
void am_txn_put_file(struct am_txn *t, const char *path, const void *data, size_t len);
/* The same for a JSON document, in canonical form (RFC 8785). */
int am_txn_put_json(struct am_txn *t, const char *path, const cJSON *doc, struct am_error **err);
/* 1 if path was staged (written) by this txn, not yet committed. */
int am_txn_staged(struct am_txn *t, const char *path);
/* Forget a file staged by this txn (as if never put). */
void am_txn_unstage(struct am_txn *t, const char *path);
/* Stage removal of a file. */
void am_txn_remove_file(struct am_txn *t, const char *path);
/* Commit subject line (first call wins) and trailers ("Am-Event: ..."). */
void am_txn_subject(struct am_txn *t, const char *subject);
void am_txn_trailer(struct am_txn *t, const char *key, const char *value);
/* Commit author: the acting principal or delegate. */
void am_txn_author(struct am_txn *t, const char *name, const char *email);
/* Time of this txn (am_now() at its start). */
int64_t am_txn_time(const struct am_txn *t);

/* Read a file of the current tip.  AM_ENOTFOUND if absent. */
int am_ledger_read(struct am_ledger *l, const char *path, char **data, size_t *len,
		   struct am_error **err);
/* Path of an artifact in the tree ("artifacts/ab/cd/<hex>") for "sha256:<hex>"
 * or "<hex>"; NULL if id is malformed. */
char *am_artifact_path(const char *id);
/* Load and parse an artifact by full id, checking that its bytes still hash
 * to its name (AM_EINTEGRITY otherwise). */
int am_ledger_artifact(struct am_ledger *l, const char *id, cJSON **out,
		       struct am_error **err);
/* Names in a directory of the tip tree, sorted; *n entries; NULL-terminated. */
int am_ledger_list(struct am_ledger *l, const char *dir, char ***names, size_t *n,
		   struct am_error **err);
/* Names in a fan-out index directory (DIR/<2 chars>/<name>), over all its
 * subdirectories, sorted; *n entries; NULL-terminated. */
int am_ledger_list_fanout(struct am_ledger *l, const char *dir, char ***names, size_t *n,
			  struct am_error **err);

/* One commit of the ledger history, as am log and am verify see it. */
struct am_commit_info {
	char id[41];
	char parent[41];  /* "" for the root commit */
	int nparents;
	int64_t time;
	const char *message; /* full message; valid during the callback */
	const char *author_name;
	const char *author_email;
};
/* Walk history from the tip, newest first; cb returns 0 to go on, 1 to stop,
 * -1 (with *err) to fail. */
int am_ledger_walk(struct am_ledger *l,
		   int (*cb)(struct am_ledger *l, const struct am_commit_info *c,
			     void *arg, struct am_error **err),
		   void *arg, struct am_error **err);
/* Values of one trailer key in a commit message, NULL-terminated. */
char **am_message_trailers(const char *message, const char *key);

/* The machine-local record of the last tip this machine wrote or verified,
 * used to detect rewritten history.  Empty string if none. */
void am_ledger_hwm(struct am_ledger *l, char out[41]);
void am_ledger_hwm_set(struct am_ledger *l, const char *commit);

/* libgit2 handle, for modules (verify) that need raw object access. */
struct git_repository *am_ledger_repo(struct am_ledger *l);

#endif
