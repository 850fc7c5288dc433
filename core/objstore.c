/* objstore.c - see objstore.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <nettle/sha1.h>
#include <zlib.h>

#include "objstore.h"
#include "util.h"

/* Above the loose (1) and pack (2) backends, so writes land here first. */
#define STAGE_PRIORITY 1000
/* Merge once at least this many packs would go into one (fewer merges,
 * each of them a new pack and index file); past PACKS_MAX packs, as soon
 * as two would. */
#define MERGE_MIN 8
#define PACKS_MAX 64

/* libgit2's mempack holds the bytes; this wrapper only remembers which
 * objects were written, since a pack must name exactly those (the
 * mempack's own dump packs everything reachable from a staged commit: the
 * whole ledger). */
struct am_objstore {
	git_odb_backend parent; /* first: libgit2 hands back this pointer */
	git_odb_backend *mem;
	git_oid *ids;           /* written since the last flush */
	size_t n, cap;
	size_t bytes;           /* in the mempack */
};

/* Objects stay in memory after their pack is written, up to this much:
 * the next commit of the process reads the trees this one wrote (a
 * supervisor's final commit, the preflight's), and finds them parsed
 * neither from a pack it would have to find first nor inflated. */
#define KEEP_BYTES (4u << 20)

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
		s->bytes += len;
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

/* The packs' backend, wrapped.  libgit2 writes an object only after asking
 * every backend whether it has it (freshen), and when none has, it rescans
 * the pack directory and asks again: a readdir of objects/pack for every
 * object written, some thirty per commit (1 ms).  A transaction's objects
 * are new by construction, so the rescan that follows this backend's own
 * freshen miss is skipped; any other rescan (a read that misses, after
 * another process added or merged packs) goes through.  At worst an
 * object a concurrent writer packed a moment ago is packed again, which
 * git allows. */
struct packs {
	git_odb_backend parent; /* first: libgit2 hands back this pointer */
	git_odb_backend *real;
	int missed; /* the last call was a freshen that found nothing */
};

#define PK(b) ((struct packs *)(b))
#define PK_REAL(b) (PK(b)->missed = 0, PK(b)->real)

static int
pk_read(void **d, size_t *n, git_object_t *t, git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *r = PK_REAL(b);

	return r->read(d, n, t, r, id);
}

static int
pk_read_prefix(git_oid *out, void **d, size_t *n, git_object_t *t, git_odb_backend *b,
	       const git_oid *id, size_t len)
{
	git_odb_backend *r = PK_REAL(b);

	return r->read_prefix(out, d, n, t, r, id, len);
}

static int
pk_read_header(size_t *n, git_object_t *t, git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *r = PK_REAL(b);

	return r->read_header(n, t, r, id);
}

static int
pk_exists(git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *r = PK_REAL(b);

	return r->exists(r, id);
}

static int
pk_exists_prefix(git_oid *out, git_odb_backend *b, const git_oid *id, size_t len)
{
	git_odb_backend *r = PK_REAL(b);

	return r->exists_prefix(out, r, id, len);
}

static int
pk_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	git_odb_backend *r = PK_REAL(b);

	return r->foreach(r, cb, payload);
}

static int
pk_freshen(git_odb_backend *b, const git_oid *id)
{
	git_odb_backend *r = PK_REAL(b);
	int rc = r->freshen(r, id);

	PK(b)->missed = rc != 0;
	return rc;
}

static int
pk_refresh(git_odb_backend *b)
{
	git_odb_backend *r = PK(b)->real;

	if (PK(b)->missed) {
		PK(b)->missed = 0;
		return 0;
	}
	return r->refresh(r);
}

static void
pk_free(git_odb_backend *b)
{
	PK(b)->real->free(PK(b)->real);
	free(b);
}

static git_odb_backend *
packs_wrap(git_odb_backend *real)
{
	struct packs *p = am_xcalloc(1, sizeof(*p));

	git_odb_init_backend(&p->parent, GIT_ODB_BACKEND_VERSION);
	p->real = real;
	/* Only what the packs' backend implements is passed through. */
	p->parent.read = real->read ? pk_read : NULL;
	p->parent.read_prefix = real->read_prefix ? pk_read_prefix : NULL;
	p->parent.read_header = real->read_header ? pk_read_header : NULL;
	p->parent.exists = real->exists ? pk_exists : NULL;
	p->parent.exists_prefix = real->exists_prefix ? pk_exists_prefix : NULL;
	p->parent.foreach = real->foreach ? pk_foreach : NULL;
	p->parent.freshen = real->freshen ? pk_freshen : NULL;
	p->parent.refresh = real->refresh ? pk_refresh : NULL;
	p->parent.free = pk_free;
	return &p->parent;
}

int
am_objstore_attach(git_repository *repo, struct am_objstore **out, struct am_error **err)
{
	struct am_objstore *s = am_xcalloc(1, sizeof(*s));
	AM_AUTOFREE char *objdir = am_xasprintf("%sobjects", git_repository_path(repo));
	git_odb_backend *loose = NULL, *pack = NULL;
	git_odb *odb = NULL;

	/* The repository's object database, as libgit2 would make it (loose
	 * objects, then packs; a ledger has no alternates), but for the
	 * wrapped packs and the staging area in front. */
	if (git_mempack_new(&s->mem) != 0 || git_odb_new(&odb) != 0 ||
	    git_odb_backend_loose(&loose, objdir, -1, 0, 0, 0) != 0 ||
	    git_odb_add_backend(odb, loose, 1) != 0 ||
	    (loose = NULL, git_odb_backend_pack(&pack, objdir)) != 0 ||
	    git_odb_add_backend(odb, (pack = packs_wrap(pack)), 2) != 0)
		goto fail;
	pack = NULL;
	git_odb_init_backend(&s->parent, GIT_ODB_BACKEND_VERSION);
	/* Only what the mempack itself implements is passed through. */
	s->parent.read = s->mem->read ? st_read : NULL;
	s->parent.read_header = s->mem->read_header ? st_read_header : NULL;
	s->parent.exists = s->mem->exists ? st_exists : NULL;
	s->parent.write = st_write;
	s->parent.free = st_free;
	if (git_odb_add_backend(odb, &s->parent, STAGE_PRIORITY) != 0)
		goto fail;
	if (git_repository_set_odb(repo, odb) != 0) {
		am_error_set(err, AM_EFAIL, "cannot stage ledger objects: %s",
			     git_error_last() ? git_error_last()->message : "libgit2 error");
		git_odb_free(odb); /* and s with it */
		return -1;
	}
	git_odb_free(odb); /* the repository keeps it, and it keeps s */
	*out = s;
	return 0;
fail:
	am_error_set(err, AM_EFAIL, "cannot open the ledger's objects in '%s': %s", objdir,
		     git_error_last() ? git_error_last()->message : "libgit2 error");
	if (loose)
		loose->free(loose);
	if (pack)
		pack->free(pack);
	if (s->mem)
		s->mem->free(s->mem);
	free(s->ids);
	free(s);
	git_odb_free(odb);
	return -1;
}

void
am_objstore_begin(struct am_objstore *s)
{
	if (s->n)
		am_objstore_discard(s);
}

void
am_objstore_discard(struct am_objstore *s)
{
	git_mempack_reset(s->mem);
	s->n = 0;
	s->bytes = 0;
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

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
buf_be32(struct am_buf *b, uint32_t v)
{
	unsigned char p[4];

	put_be32(p, v);
	am_buf_add(b, p, 4);
}

/* The SHA-1 of what b holds so far, appended to it: the trailer of a pack
 * and of its index. */
static void
buf_seal(struct am_buf *b, unsigned char sum[SHA1_DIGEST_SIZE])
{
	struct sha1_ctx h;

	sha1_init(&h);
	sha1_update(&h, b->len, (const uint8_t *)b->data);
	sha1_digest(&h, SHA1_DIGEST_SIZE, sum);
	am_buf_add(b, sum, SHA1_DIGEST_SIZE);
}

struct entry {
	git_oid id;
	uint64_t off;
	uint32_t crc;
};

static int
entry_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct entry *)a)->id, &((const struct entry *)b)->id);
}

/* One pack entry: type and size header, then the object deflated. */
static int
pack_entry(struct am_buf *pack, z_stream *z, git_object_t type, const unsigned char *data,
	   size_t len)
{
	unsigned char hdr[16];
	size_t n = 0, left = len >> 4, bound;

	hdr[n++] = (unsigned char)(((unsigned)type << 4) | (len & 15) | (left ? 0x80 : 0));
	for (; left; left >>= 7)
		hdr[n++] = (unsigned char)((left & 0x7f) | (left >> 7 ? 0x80 : 0));
	am_buf_add(pack, hdr, n);
	bound = deflateBound(z, (uLong)len);
	am_buf_grow(pack, bound);
	if (deflateReset(z) != Z_OK)
		return -1;
	z->next_in = (Bytef *)data;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)pack->data + pack->len;
	z->avail_out = (uInt)bound;
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return -1;
	pack->len += bound - z->avail_out;
	return 0;
}

/* A version 2 pack index for the entries e[0..n) (sorted by id, each once)
 * of the pack whose checksum is pack_sum: fan-out, ids, CRCs, 31-bit
 * offsets (the high bit points into a table of 64-bit ones), the pack's
 * checksum, its own. */
static int
write_index(const char *path, const struct entry *e, size_t n,
	    const unsigned char pack_sum[SHA1_DIGEST_SIZE], struct am_error **err)
{
	struct am_buf idx = AM_BUF_INIT;
	unsigned char sum[SHA1_DIGEST_SIZE];
	uint32_t fan[256] = { 0 }, nlarge = 0;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		fan[e[i].id.id[0]]++;
	for (i = 1; i < 256; i++)
		fan[i] += fan[i - 1];
	am_buf_add(&idx, "\377tOc", 4);
	buf_be32(&idx, 2);
	for (i = 0; i < 256; i++)
		buf_be32(&idx, fan[i]);
	for (i = 0; i < n; i++)
		am_buf_add(&idx, e[i].id.id, GIT_OID_RAWSZ);
	for (i = 0; i < n; i++)
		buf_be32(&idx, e[i].crc);
	for (i = 0; i < n; i++)
		buf_be32(&idx, e[i].off < 0x80000000u ? (uint32_t)e[i].off : 0x80000000u | nlarge++);
	for (i = 0; i < n; i++)
		if (e[i].off >= 0x80000000u) {
			buf_be32(&idx, (uint32_t)(e[i].off >> 32));
			buf_be32(&idx, (uint32_t)e[i].off);
		}
	am_buf_add(&idx, pack_sum, SHA1_DIGEST_SIZE);
	buf_seal(&idx, sum);
	rc = am_write_file_atomic(path, idx.data, idx.len, 0444, 0, err);
	am_buf_free(&idx);
	return rc;
}

/* The staged objects as one pack and its version 2 index, written here
 * rather than by libgit2's packbuilder and indexer: those search deltas
 * among the objects and deflate them, then inflate and hash every object
 * again to index it, 3 to 4 ms for a 30-object commit.  The objects and
 * their ids are at hand, so this stores them (zlib level 0: they are
 * mostly trees of object ids, which do not compress, 28.3 KB stored
 * against 28.6 KB at level 1, at 1 ms more) and builds the index from the
 * ids.  A merge (write_pack) packs them again, with deltas, deflated.
 * The pack is renamed into place before its index, so a reader that
 * finds the index finds the pack. */
static int
write_txn_pack(struct am_objstore *s, const char *gitdir, struct am_error **err)
{
	struct am_buf pack = AM_BUF_INIT;
	struct entry *e = am_xcalloc(s->n, sizeof(*e));
	unsigned char sum[SHA1_DIGEST_SIZE], hdr[12];
	char hex[2 * SHA1_DIGEST_SIZE + 1];
	AM_AUTOFREE char *pp = NULL, *ip = NULL;
	z_stream z = { 0 };
	size_t i, n;
	int rc = -1;

	for (i = 0; i < s->n; i++)
		git_oid_cpy(&e[i].id, &s->ids[i]);
	qsort(e, s->n, sizeof(*e), entry_cmp);
	for (i = n = 0; i < s->n; i++) /* an object written twice is packed once */
		if (n == 0 || git_oid_cmp(&e[n - 1].id, &e[i].id) != 0)
			e[n++] = e[i];
	if (deflateInit(&z, Z_NO_COMPRESSION) != Z_OK) {
		free(e);
		return am_error_set(err, AM_EFAIL, "cannot write ledger pack: zlib: %s",
				    z.msg ? z.msg : "out of memory");
	}
	memcpy(hdr, "PACK", 4);
	put_be32(hdr + 4, 2);
	put_be32(hdr + 8, (uint32_t)n);
	am_buf_add(&pack, hdr, sizeof(hdr));
	for (i = 0; i < n; i++) {
		void *data = NULL;
		size_t len;
		git_object_t type;
		int r;

		if (s->mem->read(&data, &len, &type, s->mem, &e[i].id) != 0) {
			am_error_set(err, AM_EFAIL, "cannot write ledger pack: staged object %s is gone",
				     git_oid_tostr_s(&e[i].id));
			goto out;
		}
		e[i].off = pack.len;
		r = pack_entry(&pack, &z, type, data, len);
		git_odb_backend_data_free(s->mem, data);
		if (r < 0) {
			am_error_set(err, AM_EFAIL, "cannot write ledger pack: zlib: %s",
				     z.msg ? z.msg : "deflate failed");
			goto out;
		}
		e[i].crc = (uint32_t)crc32(0, (const Bytef *)pack.data + e[i].off,
					   (uInt)(pack.len - e[i].off));
	}
	buf_seal(&pack, sum);
	am_hex(hex, sum, sizeof(sum));
	pp = am_xasprintf("%s/objects/pack/pack-%s.pack", gitdir, hex);
	ip = am_xasprintf("%s/objects/pack/pack-%s.idx", gitdir, hex);
	if (am_write_file_atomic(pp, pack.data, pack.len, 0444, 0, err) < 0)
		goto out;
	if (write_index(ip, e, n, sum, err) < 0) {
		unlink(pp);
		goto out;
	}
	rc = 0;
out:
	deflateEnd(&z);
	am_buf_free(&pack);
	free(e);
	return rc;
}

int
am_objstore_flush(struct am_objstore *s, git_repository *repo, const char *gitdir,
		  struct am_error **err)
{
	(void)repo;
	if (s->n == 0)
		return 0;
	if (write_txn_pack(s, gitdir, err) < 0)
		return -1;
	/* Kept for reading; never written again: an object the staging area
	 * holds is one libgit2 does not write again (it exists), which is
	 * right once it is on disk, so a transaction that did not reach the
	 * disk drops everything (am_objstore_discard). */
	s->n = 0;
	if (s->bytes > KEEP_BYTES)
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

/* The entries of a version 2 pack index (the only version libgit2 and git
 * write): ids, CRCs and offsets, in the index's order (by id).  Their
 * count, or -1 if the file is not such an index. */
static long
idx_read(const char *path, struct entry **out)
{
	AM_AUTOFREE char *d = NULL;
	const unsigned char *p, *ids, *crcs, *offs, *large;
	size_t len, i, n;
	struct entry *e;

	*out = NULL;
	if (am_read_file(path, (size_t)1 << 40, &d, &len, NULL) < 0 || len < 8 + 1024 + 40)
		return -1;
	p = (const unsigned char *)d;
	if (memcmp(p, "\377tOc", 4) != 0 || be32(p + 4) != 2)
		return -1;
	n = be32(p + 8 + 255 * 4);
	if ((len - 8 - 1024 - 40) / 28 < n)
		return -1;
	ids = p + 8 + 1024;
	crcs = ids + n * GIT_OID_RAWSZ;
	offs = crcs + n * 4;
	large = offs + n * 4;
	e = am_xcalloc(n ? n : 1, sizeof(*e));
	for (i = 0; i < n; i++) {
		uint32_t o = be32(offs + i * 4);

		git_oid_fromraw(&e[i].id, ids + i * GIT_OID_RAWSZ);
		e[i].crc = be32(crcs + i * 4);
		e[i].off = o;
		if (o & 0x80000000u) {
			size_t at = o & 0x7fffffffu;

			if (at >= (len - 8 - 1024 - 40 - n * 28) / 8) {
				free(e);
				return -1;
			}
			e[i].off = (uint64_t)be32(large + at * 8) << 32 | be32(large + at * 8 + 4);
		}
	}
	*out = e;
	return (long)n;
}

/* Whether a pack holds its objects stored rather than deflated (what a
 * transaction writes): the zlib header of its first entry says how hard
 * the data was compressed (FLEVEL 0: level 0 or 1). */
static int
pack_stored(const char *dir, const char *name)
{
	AM_AUTOFREE char *path = am_xasprintf("%s/%s.pack", dir, name);
	unsigned char b[64];
	size_t i = 12;
	int fd = open(path, O_RDONLY | O_CLOEXEC), type;
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 12 + 2 + 20 + 2)
		return 0;
	type = (b[i] >> 4) & 7;
	while (b[i] & 0x80 && i < 40) /* size */
		i++;
	i++;
	if (type == 6) /* OFS_DELTA: the base's distance */
		while (b[i++] & 0x80 && i < 50)
			;
	else if (type == 7) /* REF_DELTA: the base's id */
		i += GIT_OID_RAWSZ;
	return i + 2 <= (size_t)n && b[i] == 0x78 && (b[i + 1] & 0xc0) == 0;
}

/* Merge packs by copying their entries: each pack's go in as one block,
 * so the distances their deltas name (OFS_DELTA, relative to the entry)
 * still hold, and the index is theirs, shifted, with their CRCs.  Nothing
 * is inflated, deflated or searched for deltas: the cost is the copy and
 * the checksum, a few ms a megabyte.  Returns 0 with the new pack's name,
 * 1 if an object is in two of the packs (an index must name each once:
 * the caller repacks them instead), or -1 with *err. */
static int
concat_packs(const char *dir, const struct pack *v, size_t k, char name[64],
	     struct am_error **err)
{
	AM_AUTOFREE char *tmp = am_xasprintf("%s/tmp_pack_XXXXXX", dir);
	AM_AUTOFREE char *pp = NULL, *ip = NULL;
	struct entry *all = NULL;
	uint64_t *size = am_xcalloc(k, sizeof(*size));
	unsigned char hdr[12], sum[SHA1_DIGEST_SIZE];
	char hex[2 * SHA1_DIGEST_SIZE + 1];
	struct sha1_ctx h;
	uint64_t at = 12;
	size_t total = 0, i, j;
	int fd = -1, in = -1, rc = -1;

	for (i = 0; i < k; i++) {
		AM_AUTOFREE char *ix = am_xasprintf("%s/%s.idx", dir, v[i].name);
		AM_AUTOFREE char *pk = am_xasprintf("%s/%s.pack", dir, v[i].name);
		struct entry *e = NULL;
		long c = idx_read(ix, &e);
		struct stat st;

		in = open(pk, O_RDONLY | O_CLOEXEC);
		if (c < 0 || in < 0 || fstat(in, &st) < 0 || st.st_size < 32 ||
		    pread(in, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) || memcmp(hdr, "PACK", 4) ||
		    be32(hdr + 4) != 2 || be32(hdr + 8) != (uint32_t)c) {
			free(e);
			am_error_set(err, AM_EINTEGRITY, "cannot merge pack '%s': not a pack with its index",
				     pk);
			goto out;
		}
		close(in);
		in = -1;
		size[i] = (uint64_t)st.st_size;
		all = am_xrealloc(all, (total + (size_t)c + 1) * sizeof(*all));
		for (j = 0; j < (size_t)c; j++) {
			all[total + j] = e[j];
			all[total + j].off = e[j].off - 12 + at;
		}
		total += (size_t)c;
		at += size[i] - 32;
		free(e);
	}
	qsort(all, total, sizeof(*all), entry_cmp);
	for (i = 1; i < total; i++)
		if (git_oid_equal(&all[i - 1].id, &all[i].id)) {
			rc = 1;
			goto out;
		}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		am_error_set(err, AM_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	memcpy(hdr, "PACK", 4);
	put_be32(hdr + 4, 2);
	put_be32(hdr + 8, (uint32_t)total);
	sha1_init(&h);
	sha1_update(&h, sizeof(hdr), hdr);
	if (am_write_all(fd, hdr, sizeof(hdr)) < 0)
		goto io;
	for (i = 0; i < k; i++) {
		AM_AUTOFREE char *pk = am_xasprintf("%s/%s.pack", dir, v[i].name);
		static unsigned char buf[1 << 16];
		uint64_t off = 12, end = size[i] - 20;

		in = open(pk, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			goto io;
		while (off < end) {
			size_t want = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
			ssize_t r = pread(in, buf, want, (off_t)off);

			if (r <= 0)
				goto io;
			sha1_update(&h, (size_t)r, buf);
			if (am_write_all(fd, buf, (size_t)r) < 0)
				goto io;
			off += (uint64_t)r;
		}
		close(in);
		in = -1;
	}
	sha1_digest(&h, sizeof(sum), sum);
	if (am_write_all(fd, sum, sizeof(sum)) < 0 || fchmod(fd, 0444) < 0 || close(fd) < 0) {
		fd = -1;
		goto io;
	}
	fd = -1;
	am_hex(hex, sum, sizeof(sum));
	snprintf(name, 64, "pack-%s", hex);
	pp = am_xasprintf("%s/%s.pack", dir, name);
	ip = am_xasprintf("%s/%s.idx", dir, name);
	if (rename(tmp, pp) < 0)
		goto io;
	if (write_index(ip, all, total, sum, err) < 0) {
		unlink(pp);
		goto out;
	}
	rc = 0;
	goto out;
io:
	am_error_set(err, AM_EFAIL, "cannot write merged pack '%s': %s", tmp, strerror(errno));
	unlink(tmp);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (in >= 0)
		close(in);
	free(all);
	free(size);
	return rc;
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

/* Append the ids of pack name's objects to *ids (*n of them so far). */
static int
pack_ids(const char *dir, const char *name, git_oid **ids, size_t *n, struct am_error **err)
{
	AM_AUTOFREE char *idx = am_xasprintf("%s/%s.idx", dir, name);
	struct entry *e = NULL;
	long c = idx_read(idx, &e), i;

	if (c < 0)
		return am_error_set(err, AM_EINTEGRITY, "cannot read pack index '%s'", idx);
	*ids = am_xrealloc(*ids, (*n + (size_t)c + 1) * sizeof(**ids));
	for (i = 0; i < c; i++)
		git_oid_cpy(&(*ids)[(*n)++], &e[i].id);
	free(e);
	return 0;
}

static void
pack_remove(const char *dir, const char *name)
{
	/* what libgit2 and git keep beside a pack; the index first, so that
	 * no reader finds an index without its pack */
	static const char *const ext[] = { "idx", "pack", "rev", "bitmap", "mtimes" };
	size_t j;

	for (j = 0; j < sizeof(ext) / sizeof(*ext); j++) {
		AM_AUTOFREE char *p = am_xasprintf("%s/%s.%s", dir, name, ext[j]);

		unlink(p);
	}
}

int
am_objstore_merge(git_repository *repo, const char *gitdir, int wait, struct am_error **err)
{
	AM_AUTOFREE char *dir = am_xasprintf("%s/objects/pack", gitdir);
	struct pack *v = NULL, *copy = NULL;
	git_oid *ids = NULL;
	char merged[64] = "", made[64] = "";
	size_t n, k, i, nc = 0, nids = 0;
	int lock, rc = -1, r;

	/* One merger at a time; unless told to wait, a busy lock means
	 * someone else is at it. */
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0)
		return am_error_set(err, AM_EFAIL, "cannot open '%s': %s", dir, strerror(errno));
	while (flock(lock, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		close(lock);
		if (errno == EWOULDBLOCK)
			return 0;
		return am_error_set(err, AM_EFAIL, "cannot lock '%s': %s", dir, strerror(errno));
	}
	n = list_packs(dir, &v);
	k = merge_span(v, n);
	if (k == 0) {
		rc = 0;
		goto out;
	}
	/* What transactions wrote is stored, without deltas: those packs go
	 * through libgit2's packbuilder (deltas among them, deflate) into one,
	 * once; packs made that way already are, and are copied as they are.
	 * Rewriting them all with the packbuilder instead costs about 0.1 ms
	 * an object, again at every level of the progression: more CPU in the
	 * background than the commits themselves took. */
	copy = am_xcalloc(k + 1, sizeof(*copy));
	for (i = 0; i < k; i++) {
		if (!pack_stored(dir, v[i].name))
			copy[nc++] = v[i];
		else if (pack_ids(dir, v[i].name, &ids, &nids, err) < 0)
			goto out;
	}
	if (nids) {
		if (write_pack(repo, gitdir, ids, nids, made, err) < 0)
			goto out;
		copy[nc].name = made;
		copy[nc++].count = (uint32_t)nids;
	}
	if (nc == 1) {
		snprintf(merged, sizeof(merged), "%s", copy[0].name);
	} else {
		r = concat_packs(dir, copy, nc, merged, err);
		if (r < 0)
			goto out;
		if (r == 1) { /* an object in two packs: repack them all */
			for (nids = 0, i = 0; i < k; i++)
				if (pack_ids(dir, v[i].name, &ids, &nids, err) < 0)
					goto out;
			if (write_pack(repo, gitdir, ids, nids, merged, err) < 0)
				goto out;
		}
	}
	/* Every object of the old packs is in the merged one now; readers
	 * that still list an old pack find it gone and rescan (libgit2 and
	 * git both do).  A merged pack with exactly the bytes of an old one
	 * has its name: that one stays. */
	for (i = 0; i < k; i++)
		if (strcmp(v[i].name, merged) != 0)
			pack_remove(dir, v[i].name);
	if (made[0] && strcmp(made, merged) != 0)
		pack_remove(dir, made);
	rc = (int)k;
out:
	packs_free(v, n);
	free(copy);
	free(ids);
	close(lock);
	return rc;
}
