/* objstore.c - see objstore.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include "objstore.h"
#include "util.h"

/* Above the loose (1) and pack (2) backends, so writes land here first. */
#define STAGE_PRIORITY 1000
/* Merge once at least this many packs would go into one (fewer merges,
 * each of them a new pack and index file); past PACKS_MAX packs, as soon
 * as two would. */
#define MERGE_MIN 4
#define PACKS_MAX 64

/* libgit2's mempack holds the bytes; this wrapper only remembers which
 * objects were written, since a pack must name exactly those (the
 * mempack's own dump packs everything reachable from a staged commit: the
 * whole ledger). */
struct am_objstore {
	git_odb_backend parent; /* first: libgit2 hands back this pointer */
	git_odb_backend *mem;
	git_oid *ids;
	size_t n, cap;
};

static int
st_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *m = ((struct am_objstore *)b)->mem;

	return m->read(data, len, type, m, id);
}

static int
st_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *m = ((struct am_objstore *)b)->mem;

	return m->read_header(len, type, m, id);
}

static int
st_exists(git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *m = ((struct am_objstore *)b)->mem;

	return m->exists(m, id);
}

static int
st_write(git_odb_backend *b, const git_oid *id, const void *data, size_t len, git_object_t type)
{
	struct am_objstore *s = (struct am_objstore *)b;
	int rc = s->mem->write(s->mem, id, data, len, type);

	if (rc == 0) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->ids = am_xrealloc(s->ids, s->cap * sizeof(*s->ids));
		}
		git_oid_cpy(&s->ids[s->n++], id);
	}
	return rc;
}

static void
st_free(git_odb_backend *b)
{
	struct am_objstore *s = (struct am_objstore *)b;

	s->mem->free(s->mem);
	free(s->ids);
	free(s);
}

int
am_objstore_attach(git_repository *repo, struct am_objstore **out, struct am_error **err)
{
	struct am_objstore *s = am_xcalloc(1, sizeof(*s));
	git_odb *odb = NULL;

	if (git_mempack_new(&s->mem) != 0 || git_repository_odb(&odb, repo) != 0) {
		const git_error *e = git_error_last();

		if (s->mem)
			s->mem->free(s->mem);
		free(s);
		return am_error_set(err, AM_EFAIL, "cannot stage ledger objects: %s",
				    e ? e->message : "libgit2 error");
	}
	git_odb_init_backend(&s->parent, GIT_ODB_BACKEND_VERSION);
	/* Only what the mempack itself implements is passed through. */
	s->parent.read = s->mem->read ? st_read : NULL;
	s->parent.read_header = s->mem->read_header ? st_read_header : NULL;
	s->parent.exists = s->mem->exists ? st_exists : NULL;
	s->parent.write = st_write;
	s->parent.free = st_free;
	if (git_odb_add_backend(odb, &s->parent, STAGE_PRIORITY) != 0) {
		const git_error *e = git_error_last();

		am_error_set(err, AM_EFAIL, "cannot stage ledger objects: %s",
			     e ? e->message : "libgit2 error");
		st_free(&s->parent);
		git_odb_free(odb);
		return -1;
	}
	git_odb_free(odb); /* the repository keeps it, and it keeps s */
	*out = s;
	return 0;
}

void
am_objstore_discard(struct am_objstore *s)
{
	git_mempack_reset(s->mem);
	s->n = 0;
}

/* Write the objects ids[0..n) as one pack into GITDIR/objects/pack; its
 * name ("pack-<hex>") into name if not NULL.  The pack is built in memory
 * and handed to the indexer in one piece: git_packbuilder_write feeds it
 * object by object, and the indexer then maps and unmaps a window of the
 * growing file for every object (three system calls per object, most of a
 * merge's time). */
static int
write_pack(git_repository *repo, const char *gitdir, const git_oid *ids, size_t n,
	   char name[64], struct am_error **err)
{
	AM_AUTOFREE char *dir = am_xasprintf("%s/objects/pack", gitdir);
	git_packbuilder *pb = NULL;
	git_indexer *ix = NULL;
	git_indexer_progress st = { 0 };
	git_buf buf = { 0 };
	git_odb *odb = NULL;
	size_t i;
	int rc = -1;

	if (git_packbuilder_new(&pb, repo) != 0)
		goto fail;
	git_packbuilder_set_threads(pb, 1);
	for (i = 0; i < n; i++)
		if (git_packbuilder_insert(pb, &ids[i], NULL) != 0)
			goto fail;
	if (git_packbuilder_write_buf(&buf, pb) != 0 || git_repository_odb(&odb, repo) != 0 ||
	    git_indexer_new(&ix, dir, 0, odb, NULL) != 0 ||
	    git_indexer_append(ix, buf.ptr, buf.size, &st) != 0 || git_indexer_commit(ix, &st) != 0)
		goto fail;
	if (name)
		snprintf(name, 64, "pack-%s", git_indexer_name(ix));
	rc = 0;
	goto out;
fail:
	am_error_set(err, AM_EFAIL, "cannot write ledger pack in '%s': %s", dir,
		     git_error_last() ? git_error_last()->message : "libgit2 error");
out:
	git_indexer_free(ix);
	git_odb_free(odb);
	git_buf_dispose(&buf);
	git_packbuilder_free(pb);
	return rc;
}

int
am_objstore_flush(struct am_objstore *s, git_repository *repo, const char *gitdir,
		  struct am_error **err)
{
	if (s->n == 0)
		return 0;
	if (write_pack(repo, gitdir, s->ids, s->n, NULL, err) < 0)
		return -1;
	am_objstore_discard(s);
	return 0;
}

struct pack {
	char *name; /* "pack-<hex>", without .idx / .pack */
	uint32_t count;
};

static int
pack_cmp(const void *a, const void *b)
{
	const struct pack *x = a, *y = b;

	return x->count < y->count ? -1 : x->count > y->count;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* How many objects a version 2 pack index (the only version libgit2 and
 * git write) names, and with ids, which.  -1 if the file is not one.
 * The fan-out table ends in the total. */
static long
idx_ids(const char *path, git_oid **ids)
{
	unsigned char hdr[8 + 1024];
	AM_AUTOFREE char *data = NULL;
	size_t len, i;
	uint32_t n;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, "\377tOc", 4) != 0 || be32(hdr + 4) != 2) {
		close(fd);
		return -1;
	}
	n = be32(hdr + 8 + 255 * 4);
	len = (size_t)st.st_size;
	if ((len - sizeof(hdr)) / GIT_OID_RAWSZ < n) {
		close(fd);
		return -1;
	}
	if (ids) {
		data = am_xmalloc((size_t)n * GIT_OID_RAWSZ + 1);
		if (pread(fd, data, (size_t)n * GIT_OID_RAWSZ, sizeof(hdr)) !=
		    (ssize_t)((size_t)n * GIT_OID_RAWSZ)) {
			close(fd);
			return -1;
		}
		*ids = am_xcalloc(n ? n : 1, sizeof(**ids));
		for (i = 0; i < n; i++)
			git_oid_fromraw(&(*ids)[i], (unsigned char *)data + i * GIT_OID_RAWSZ);
	}
	close(fd);
	return n;
}

/* The packs of dir, with their object counts, smallest first.  Packs kept
 * with a .keep file (git's convention) are left alone.  This runs after
 * every commit, so the counts come from the index files' sizes, one
 * fstatat each: a version 2 index is 1032 bytes of header and fan-out, 28
 * bytes an object and 40 of checksums (8 more per object past 2 GiB in
 * the pack, which only overstates a count that orders merges). */
static size_t
list_packs(const char *dir, struct pack **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct pack *v = NULL;
	struct stat st;
	size_t n = 0, cap = 0, len;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		AM_AUTOFREE char *keep = NULL, *pack = NULL;

		len = strlen(e->d_name);
		if (!am_starts_with(e->d_name, "pack-") || len < 9 ||
		    strcmp(e->d_name + len - 4, ".idx") != 0)
			continue;
		keep = am_xasprintf("%.*s.keep", (int)(len - 4), e->d_name);
		pack = am_xasprintf("%.*s.pack", (int)(len - 4), e->d_name);
		if (faccessat(dirfd(d), keep, F_OK, 0) == 0 ||
		    faccessat(dirfd(d), pack, F_OK, 0) != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0 || st.st_size < 1072)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			v = am_xrealloc(v, cap * sizeof(*v));
		}
		v[n].name = am_xstrndup(e->d_name, len - 4);
		v[n++].count = (uint32_t)(((uint64_t)st.st_size - 1072) / 28);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), pack_cmp);
	*out = v;
	return n;
}

/* How many of the smallest packs to merge, as git repack --geometric=2
 * chooses: from the largest down, the packs that are each at least twice
 * the next smaller one form the progression and stay; the rest are rolled
 * into one, and so is any pack above them that the new pack would leave
 * less than twice as large. */
static size_t
merge_span(const struct pack *v, size_t n)
{
	uint64_t total = 0;
	size_t i, split;

	if (n < 2)
		return 0;
	for (i = n - 1; i > 0 && v[i].count >= 2 * (uint64_t)v[i - 1].count; i--)
		;
	split = i ? i + 1 : 0;
	for (i = 0; i < split; i++)
		total += v[i].count;
	for (; split && split < n && v[split].count < 2 * total; split++)
		total += v[split].count;
	if (split >= MERGE_MIN || (n > PACKS_MAX && split >= 2))
		return split;
	return 0;
}

static void
packs_free(struct pack *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

int
am_objstore_merge_due(const char *gitdir)
{
	AM_AUTOFREE char *dir = am_xasprintf("%s/objects/pack", gitdir);
	struct pack *v = NULL;
	size_t n = list_packs(dir, &v);
	int due = merge_span(v, n) > 0;

	packs_free(v, n);
	return due;
}

int
am_objstore_merge(git_repository *repo, const char *gitdir, struct am_error **err)
{
	AM_AUTOFREE char *dir = am_xasprintf("%s/objects/pack", gitdir);
	struct pack *v = NULL;
	git_oid *all = NULL;
	char merged[64];
	size_t n, k, i, total = 0;
	int lock, rc = -1;

	/* One merger at a time; a busy lock means someone else is at it. */
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0)
		return 0;
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		close(lock);
		return 0;
	}
	n = list_packs(dir, &v);
	k = merge_span(v, n);
	if (k == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < k; i++) {
		AM_AUTOFREE char *idx = am_xasprintf("%s/%s.idx", dir, v[i].name);
		git_oid *ids = NULL;
		long c = idx_ids(idx, &ids);

		if (c < 0) {
			am_error_set(err, AM_EINTEGRITY, "cannot read pack index '%s'", idx);
			goto out;
		}
		all = am_xrealloc(all, (total + (size_t)c + 1) * sizeof(*all));
		memcpy(all + total, ids, (size_t)c * sizeof(*all));
		total += (size_t)c;
		free(ids);
	}
	if (write_pack(repo, gitdir, all, total, merged, err) < 0)
		goto out;
	/* Every object of the old packs is in the new one now; readers that
	 * still list an old pack find it gone and rescan (libgit2 and git
	 * both do).  A merged pack with exactly the bytes of an old one has
	 * its name: that one stays. */
	for (i = 0; i < k; i++) {
		/* what libgit2 and git keep beside a pack */
		static const char *const ext[] = { "idx", "pack", "rev", "bitmap", "mtimes" };
		size_t j;

		for (j = 0; j < sizeof(ext) / sizeof(*ext) && strcmp(v[i].name, merged) != 0; j++) {
			AM_AUTOFREE char *p = am_xasprintf("%s/%s.%s", dir, v[i].name, ext[j]);

			unlink(p);
		}
	}
	rc = (int)k;
out:
	packs_free(v, n);
	free(all);
	close(lock);
	return rc;
}
