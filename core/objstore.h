/* objstore.h - how the ledger's git objects reach the disk.
 *
 * A transaction writes a few dozen small objects (blobs, the fan-out trees
 * on the touched paths, the commit).  As loose objects that is one new file
 * each, and creating files is the dominant cost of a commit on the
 * filesystems measured (ext4's inode allocation).  So the objects of a
 * transaction are staged in memory and written as one pack when the
 * transaction commits, before the ref moves: one pack, one index.
 *
 * Packs then pile up, one per commit, so after writing one the store
 * merges the small ones geometrically (every pack kept is more than twice
 * all the smaller ones together), which keeps their number logarithmic in
 * the history and the bytes rewritten per object logarithmic too.
 */
#ifndef AM_OBJSTORE_H
#define AM_OBJSTORE_H

#include <git2.h>

#include "error.h"

struct am_objstore;

/* Put an in-memory staging area in front of repo's object database: every
 * object written through repo from now on is held in memory until
 * am_objstore_flush or am_objstore_discard.  Reads see staged objects.
 * The repository owns the staging area and frees it with itself. */
int am_objstore_attach(git_repository *repo, struct am_objstore **out, struct am_error **err);

/* Write every staged object as one pack (with its index) into
 * GITDIR/objects/pack, then forget them from memory.  Nothing staged:
 * nothing written.  On failure the staged objects are kept. */
int am_objstore_flush(struct am_objstore *s, git_repository *repo, const char *gitdir,
		      struct am_error **err);

/* Forget the staged objects (a transaction that lost its race). */
void am_objstore_discard(struct am_objstore *s);

/* Whether GITDIR's packs are due a merge (reads the pack index headers). */
int am_objstore_merge_due(const char *gitdir);

/* Merge packs as described above.  Best effort and safe to race: the merged
 * pack is complete on disk before any pack it replaces is removed, and only
 * one process merges at a time.  It takes time in proportion to what it
 * merges (libgit2 searches deltas: about 0.1 ms an object measured), and
 * the cascade reaches the largest pack now and then.  Returns the number of
 * packs merged (0: none), or -1 with *err set. */
int am_objstore_merge(git_repository *repo, const char *gitdir, struct am_error **err);

#endif
