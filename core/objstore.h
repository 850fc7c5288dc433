/* objstore.h - how the ledger's git objects reach the disk.
 *
 * A transaction writes a few dozen small objects (blobs, the fan-out trees
 * on the touched paths, the commit).  As loose objects that is one new file
 * each, and creating files is the dominant cost of a commit on the
 * filesystems measured (ext4's inode allocation).  So the objects of a
 * transaction are staged in memory and written as one pack when the
 * transaction commits, before the ref moves: one pack, one index.
 *
 * Packs then pile up, one per commit, so the small ones are merged
 * geometrically (every pack kept is more than twice all the smaller ones
 * together), which keeps their number logarithmic in the history and the
 * bytes rewritten per object logarithmic too; am does that in a detached
 * process (core/ledger.h, am_ledger_set_background_merge).
 */
#ifndef AM_OBJSTORE_H
#define AM_OBJSTORE_H

#include <git2.h>

#include "error.h"

struct am_objstore;

/* Give repo an object database of its loose objects, its packs and, in
 * front, an in-memory staging area: every object written through repo from
 * now on is held in memory until am_objstore_flush or am_objstore_discard.
 * Reads see staged objects.  The repository owns the staging area and
 * frees it with itself.  Call it before anything reads objects of repo. */
int am_objstore_attach(git_repository *repo, struct am_objstore **out, struct am_error **err);

/* Write every staged object as one pack (with its index) into
 * GITDIR/objects/pack, stored (zlib level 0) and without deltas.  The
 * objects stay readable from memory (up to a few MB) but are not written
 * again.  Nothing staged: nothing written.  On failure the staged objects
 * are kept: the caller discards them. */
int am_objstore_flush(struct am_objstore *s, git_repository *repo, const char *gitdir,
		      struct am_error **err);

/* Before a transaction: forget what was staged and not written (by one
 * that did not commit); keep what was. */
void am_objstore_begin(struct am_objstore *s);

/* Forget every object in memory (a transaction that lost its race, or
 * failed). */
void am_objstore_discard(struct am_objstore *s);

/* Whether GITDIR's packs are due a merge (reads the pack index headers). */
int am_objstore_merge_due(const char *gitdir);

/* Merge packs as described above: the packs transactions wrote (stored,
 * no deltas) through libgit2's packbuilder, once (about 0.1 ms an object
 * measured); packs already made that way are copied entry by entry, with
 * nothing recompressed.  Best effort and safe to race: the merged pack is
 * complete on disk before any pack it replaces is removed, and only one
 * process merges at a time: with wait, this one waits for the other, else
 * it leaves the merge to it.  Returns the number of packs merged (0: none),
 * or -1 with *err set. */
int am_objstore_merge(git_repository *repo, const char *gitdir, int wait, struct am_error **err);

#endif
