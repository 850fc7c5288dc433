/* bundle.c - see bundle.h */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <git2.h>
#include <seccomp.h>
#include <sodium.h>
#include <zstd.h>

#include "bundle.h"
#include "canon.h"
#include "execution.h"
#include "operation.h"
#include "sandbox.h"
#include "util.h"

#ifndef AM_VERSION
#define AM_VERSION "unknown"
#endif

#define CHUNK (1u << 20)      /* bytes read from a log or archive at a time */
#define SCAN_DEPTH 128        /* deepest directory am diagnostics scan descends */
#define MANIFEST_MAX (64u << 20)
#define LEAKS_KEPT 20
#define RUNTIME_TIMEOUT_MS 3000

extern char **environ;

/* ---- allow-lists: what is collected at all ----------------------------- */

/* Top-level members kept of each ledger record kind; anything else (a
 * field added later, say) stays out until it is listed here. */
static const char *const op_fields[] = {
	"kind", "specVersion", "id", "operationType", "state", "workspaceId", "actor",
	"delegationRef", "tenant", "idempotencyKey", "createdAt", "updatedAt", "taskRefs",
	"artifactRefs", "decisionRefs", "previous", NULL,
};
static const char *const event_fields[] = {
	"kind", "specVersion", "operationId", "taskId", "sequence", "eventType", "fromState",
	"toState", "at", "actor", "previousEventRef", "details", NULL,
};
static const char *const decision_fields[] = {
	"kind", "specVersion", "gate", "decision", "resource", "matchedRules", "reason",
	"profile", "profileRef", "tenant", "operationId", "decidedAt", NULL,
};
static const char *const profile_fields[] = {
	"kind", "specVersion", "name", "profileType", "owner", "tenant", "profile", NULL,
};

/* Environment variables whose values are kept; every other variable is
 * listed by name only (its value may be a credential: AM_DELEGATION,
 * GITHUB_TOKEN, ...). */
static const char *const env_values[] = {
	"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "PATH", "SHELL",
	"XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "AM_WORKSPACE", "AM_MANAGED_DIR",
	"AM_NOW", "NO_COLOR", NULL,
};

/* Kernel settings that decide what the sandbox can do. */
static const char *const proc_facts[][2] = {
	{ "kernel.unprivileged_userns_clone", "/proc/sys/kernel/unprivileged_userns_clone" },
	{ "user.max_user_namespaces", "/proc/sys/user/max_user_namespaces" },
	{ "kernel.apparmor_restrict_unprivileged_userns",
	  "/proc/sys/kernel/apparmor_restrict_unprivileged_userns" },
	{ "kernel.yama.ptrace_scope", "/proc/sys/kernel/yama/ptrace_scope" },
	{ "kernel.seccomp.actions_avail", "/proc/sys/kernel/seccomp/actions_avail" },
	{ "lsm", "/sys/kernel/security/lsm" },
};

static const char *const runtimes[] = { "runc", "crun", "youki", "runsc", NULL };
static const char *const runtime_dirs[] = {
	"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL,
};

/* Does s end with suf? */
static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* The string member k of o, or NULL. */
/* qsort(3) order of C strings. */
static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A copy of the allow-listed members of o. */
static cJSON *
pick(const cJSON *o, const char *const *keys)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *v;

	cJSON_ArrayForEach(v, o)
		if (v->string && am_strv_has(keys, v->string))
			cJSON_AddItemToObject(out, v->string, cJSON_Duplicate(v, 1));
	return out;
}

/* Logs of an execution directory that are collected: the child's output
 * and plain log files (a lease.json, supervisor state that am versions
 * before leases/ kept there, is skipped before). */
static int
log_name_allowed(const char *name)
{
	return strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0 ||
	       ends_with(name, ".log") || ends_with(name, ".txt") || ends_with(name, ".json") ||
	       ends_with(name, ".jsonl") || ends_with(name, ".ndjson");
}

/* Does a file name look like a secret, or like a file that holds one?  Such
 * a file is dropped whatever it contains, and its name is not written
 * anywhere: a token used as a file name is still a token. */
static int
name_looks_secret(struct am_redact *names, const char *name)
{
	static const char *const words[] = {
		"secret", "token", "passw", "credential", "apikey", "api_key", "api-key",
		"private", "netrc", "htpasswd", "kubeconfig", "id_rsa", "id_dsa", "id_ecdsa",
		"id_ed25519", "cookie", "session", NULL,
	};
	static const char *const suffixes[] = {
		".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg", ".asc",
		".age", ".env", ".crt", NULL,
	};
	AM_AUTOFREE char *lower = am_xstrdup(name);
	char *out = NULL;
	uint64_t before;
	size_t i, n;

	for (i = 0; lower[i]; i++)
		if (lower[i] >= 'A' && lower[i] <= 'Z')
			lower[i] = (char)(lower[i] - 'A' + 'a');
	for (i = 0; words[i]; i++)
		if (strstr(lower, words[i]))
			return 1;
	for (i = 0; suffixes[i]; i++)
		if (ends_with(lower, suffixes[i]))
			return 1;
	/* A name made of anything but plain file-name characters, or a long
	 * one, is not a log am wrote. */
	for (i = 0; name[i]; i++)
		if (!(name[i] == '-' || name[i] == '_' || name[i] == '.' ||
		      (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z')))
			return 1;
	if (i > 64)
		return 1;
	before = am_redact_secrets(names);
	if (am_redact_buf(names, "name", AM_REDACT_TEXT, name, strlen(name), &out, &n, NULL) < 0) {
		free(out);
		return 1;
	}
	free(out);
	return am_redact_secrets(names) != before;
}

/* ---- the spool: one redacted entry, before its tar header ------------- */

struct spool {
	char *mem;
	size_t len, cap;
	int fd;          /* spill file (unlinked), -1 until needed */
	uint64_t flen;
	const char *dir; /* where the spill file goes */
	int err;         /* errno of a failed write */
};

/* An unnamed temporary file in the spool's directory, or -1. */
static int
spill_open(struct spool *s)
{
	int fd;

#ifdef O_TMPFILE
	/* An unnamed file: nothing to clean up whatever happens to us. */
	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	{
		AM_AUTOFREE char *tmpl = am_xasprintf("%s/.am-spool.XXXXXX", s->dir);

		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	return fd;
}

/* am_redact_write_fn: memory first, then the spill file. */
static int
spool_write(void *arg, const void *buf, size_t n)
{
	struct spool *s = arg;

	if (s->fd < 0 || s->flen == 0) {
		if (s->len + n <= AM_BUNDLE_SPOOL_MEM) {
			if (s->len + n > s->cap) {
				size_t cap = s->cap ? s->cap : 64 * 1024;

				while (cap < s->len + n)
					cap *= 2;
				if (cap > AM_BUNDLE_SPOOL_MEM)
					cap = AM_BUNDLE_SPOOL_MEM;
				s->mem = am_xrealloc(s->mem, cap);
				s->cap = cap;
			}
			memcpy(s->mem + s->len, buf, n);
			s->len += n;
			return 0;
		}
	}
	if (s->fd < 0 && (s->fd = spill_open(s)) < 0) {
		s->err = errno;
		return -1;
	}
	if (am_write_all(s->fd, buf, n) < 0) {
		s->err = errno;
		return -1;
	}
	s->flen += n;
	return 0;
}

/* Empty the spool for the next entry, keeping its buffers. */
static void
spool_reset(struct spool *s)
{
	s->len = 0;
	s->err = 0;
	if (s->fd >= 0 && s->flen > 0) {
		if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
	s->flen = 0;
}

/* Wipe and free the spool. */
static void
spool_free(struct spool *s)
{
	if (s->mem)
		sodium_memzero(s->mem, s->cap);
	free(s->mem);
	if (s->fd >= 0)
		close(s->fd);
}

/* ---- the writer --------------------------------------------------------- */

struct logfile {
	char *src;  /* path on this machine */
	char *dst;  /* path in the bundle */
	uint64_t size;
};

struct opref {
	char *id;
	char created[32];
};

/* One line of the redaction report: a rule, a bundle file, a line. */
struct report_line {
	const char *rule; /* static, from the redactor */
	const char *file; /* one of struct bw's names */
	uint64_t line, count;
};

struct prompt_count {
	const char *file;
	uint64_t count;
};

struct bw {
	struct am_ledger *l;
	const struct am_bundle_opts *o;
	struct am_redact *r;
	struct am_redact *names;
	struct archive *a;
	struct spool sp;
	char *cur;              /* entry being written */
	unsigned char *buf;     /* CHUNK bytes */
	cJSON *files;           /* [{"path","bytes"}] */
	cJSON *dropped;
	cJSON *profiles_wanted; /* with --operation: profile names its decisions name */
	struct opref *ops;
	size_t nops;
	struct logfile *logs;
	size_t nlogs;
	uint64_t done, total;   /* collect progress (log bytes) */
	uint64_t nevents, ndecisions, nprofiles;
	int64_t now;
	struct am_error **err;
	/* The report, built from the scanner's findings as they come (a
	 * JSONL log has a prompt field on every line: counted per file). */
	char **entry_names;
	size_t nentry_names;
	struct report_line *rep;
	size_t nrep, caprep;
	struct prompt_count *pc;
	size_t npc;
};

/* am_redact_finding_fn of the bundle scanner: the report, as findings come. */
static void
report_cb(void *arg, const struct am_redact_finding *f)
{
	struct bw *b = arg;
	const char *file = b->entry_names[b->nentry_names - 1];
	size_t i;

	if (!f->secret) {
		if (b->npc == 0 || b->pc[b->npc - 1].file != file) {
			b->pc = am_xrealloc(b->pc, (b->npc + 1) * sizeof(*b->pc));
			b->pc[b->npc].file = file;
			b->pc[b->npc].count = 0;
			b->npc++;
		}
		b->pc[b->npc - 1].count++;
		return;
	}
	for (i = b->nrep; i > 0 && b->rep[i - 1].file == file && b->rep[i - 1].line == f->line; i--)
		if (b->rep[i - 1].rule == f->rule) {
			b->rep[i - 1].count++;
			return;
		}
	if (b->nrep == b->caprep) {
		b->caprep = b->caprep ? 2 * b->caprep : 256;
		b->rep = am_xrealloc(b->rep, b->caprep * sizeof(*b->rep));
	}
	b->rep[b->nrep].rule = f->rule;
	b->rep[b->nrep].file = file;
	b->rep[b->nrep].line = f->line;
	b->rep[b->nrep].count = 1;
	b->nrep++;
}

/* libarchive is loaded when a bundle is written or read, not linked: it
 * brings 17 more shared libraries (libxml2, ICU, libstdc++, ...) whose
 * loading cost every other am command about 5 ms of start-up.  Each
 * pointer has the exact type of its <archive.h> declaration. */
#define LA_FUNCS(X) \
	X(archive_clear_error) \
	X(archive_entry_filetype) \
	X(archive_entry_free) \
	X(archive_entry_hardlink) \
	X(archive_entry_new) \
	X(archive_entry_pathname) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_pathname) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_size) \
	X(archive_entry_symlink) \
	X(archive_error_string) \
	X(archive_read_data_block) \
	X(archive_read_free) \
	X(archive_read_new) \
	X(archive_read_next_header) \
	X(archive_read_open) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_tar) \
	X(archive_set_error) \
	X(archive_version_number) \
	X(archive_write_add_filter_zstd) \
	X(archive_write_close) \
	X(archive_write_data) \
	X(archive_write_finish_entry) \
	X(archive_write_free) \
	X(archive_write_header) \
	X(archive_write_new) \
	X(archive_write_open) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_filter_option) \
	X(archive_write_set_format_pax_restricted)
static struct {
#define LA_FIELD(f) __typeof__(&f) f;
	LA_FUNCS(LA_FIELD)
#undef LA_FIELD
} la;

/* Load libarchive (once; before any thread uses it). */
static int
la_load(struct am_error **err)
{
	static int loaded;
	void *h;

	if (loaded)
		return 0;
	h = dlopen(AM_LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return am_error_set(err, AM_EFAIL, "cannot load libarchive: %s", dlerror());
#define LA_SYM(f)                                                                          \
	if ((*(void **)&la.f = dlsym(h, #f)) == NULL)                                      \
		return am_error_set(err, AM_EFAIL, "cannot load libarchive: %s", dlerror());
	LA_FUNCS(LA_SYM)
#undef LA_SYM
	loaded = 1;
	return 0;
}

/* Set *err from libarchive's last error on a; returns -1. */
static int
ar_fail(struct am_error **err, struct archive *a, const char *what)
{
	/* Copy the message at once: libarchive reuses its buffer. */
	const char *m = la.archive_error_string(a);

	return am_error_set(err, AM_EFAIL, "%s: %s", what, m ? m : "libarchive error");
}

/* Report progress; AM_EFAIL "interrupted" when the callback says stop. */
static int
progress(struct bw *b, const char *phase, uint64_t done, uint64_t total)
{
	if (b->o->progress && b->o->progress(b->o->progress_arg, phase, done, total) != 0)
		return am_error_set(b->err, AM_EFAIL, "interrupted");
	return 0;
}

/* Replace the redactor's write error with the spool's own reason; -1. */
static int
spool_failed(struct bw *b)
{
	am_error_free(*b->err);
	*b->err = NULL;
	return am_error_set(b->err, AM_EFAIL, "cannot spool '%s': %s", b->cur, strerror(b->sp.err));
}

/* Start the bundle entry path: the scanner writes into the spool. */
static int
entry_begin(struct bw *b, const char *path)
{
	spool_reset(&b->sp);
	free(b->cur);
	b->cur = am_xstrdup(path);
	b->entry_names = am_xrealloc(b->entry_names, (b->nentry_names + 1) * sizeof(char *));
	b->entry_names[b->nentry_names++] = am_xstrdup(path);
	return am_redact_begin(b->r, path, am_redact_mode_for_name(path), spool_write, &b->sp,
			       b->err);
}

/* Redact n more bytes of the current entry. */
static int
entry_feed(struct bw *b, const void *p, size_t n)
{
	if (am_redact_feed(b->r, p, n, b->err) < 0)
		return b->sp.err ? spool_failed(b) : -1;
	return 0;
}

/* Append n bytes to the current archive entry. */
static int
write_data(struct bw *b, const void *p, size_t n)
{
	la_ssize_t w = la.archive_write_data(b->a, p, n);

	if (w < 0 || (size_t)w != n)
		return ar_fail(b->err, b->a, "cannot write the bundle");
	return 0;
}

/* Finish the entry: its size is known now, so write header and data. */
static int
entry_end(struct bw *b)
{
	struct archive_entry *e;
	uint64_t size;
	int rc;

	if (am_redact_end(b->r, b->err) < 0 || b->sp.err)
		return b->sp.err ? spool_failed(b) : -1;
	size = b->sp.len + b->sp.flen;
	e = la.archive_entry_new();
	la.archive_entry_set_pathname(e, b->cur);
	la.archive_entry_set_filetype(e, AE_IFREG);
	la.archive_entry_set_perm(e, 0644);
	la.archive_entry_set_size(e, (la_int64_t)size);
	la.archive_entry_set_mtime(e, (time_t)b->now, 0);
	rc = la.archive_write_header(b->a, e);
	la.archive_entry_free(e);
	if (rc < ARCHIVE_WARN)
		return ar_fail(b->err, b->a, "cannot write the bundle");
	if (b->sp.len && write_data(b, b->sp.mem, b->sp.len) < 0)
		return -1;
	if (b->sp.flen) {
		uint64_t left = b->sp.flen;

		if (lseek(b->sp.fd, 0, SEEK_SET) < 0)
			return am_error_set(b->err, AM_EFAIL, "cannot read the spool: %s", strerror(errno));
		while (left > 0) {
			ssize_t n = read(b->sp.fd, b->buf, left < CHUNK ? left : CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return am_error_set(b->err, AM_EFAIL, "cannot read the spool: %s",
						    n < 0 ? strerror(errno) : "short file");
			if (write_data(b, b->buf, (size_t)n) < 0)
				return -1;
			left -= (uint64_t)n;
		}
	}
	if (la.archive_write_finish_entry(b->a) < ARCHIVE_WARN)
		return ar_fail(b->err, b->a, "cannot write the bundle");
	{
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "path", b->cur);
		cJSON_AddNumberToObject(f, "bytes", (double)size);
		cJSON_AddItemToArray(b->files, f);
	}
	spool_reset(&b->sp);
	return 0;
}

/* One canonical JSON document and a newline into the current entry. */
static int
entry_json_line(struct bw *b, const cJSON *doc)
{
	size_t len;
	char *s = am_canon_dump(doc, &len, b->err);
	int rc;

	if (s == NULL)
		return -1;
	rc = entry_feed(b, s, len);
	free(s);
	return rc < 0 ? -1 : entry_feed(b, "\n", 1);
}

/* A whole JSON document, pretty, as one entry. */
static int
entry_json_doc(struct bw *b, const char *path, const cJSON *doc)
{
	char *s = am_json_pretty(doc);
	int rc;

	if (s == NULL)
		return am_error_set(b->err, AM_EFAIL, "cannot serialize '%s'", path);
	rc = entry_begin(b, path) < 0 || entry_feed(b, s, strlen(s)) < 0 || entry_end(b) < 0 ? -1 : 0;
	sodium_memzero(s, strlen(s));
	free(s);
	return rc;
}

/* ---- what the ledger contributes ------------------------------------- */

/* Operations oldest first (by createdAt, then id). */
static int
opref_cmp(const void *a, const void *b)
{
	const struct opref *x = a, *y = b;
	int c = strcmp(x->created, y->created);

	return c ? c : strcmp(x->id, y->id);
}

/* Add an operation to the bundle's scope. */
static void
add_op(struct bw *b, const char *id, const char *created)
{
	b->ops = am_xrealloc(b->ops, (b->nops + 1) * sizeof(*b->ops));
	b->ops[b->nops].id = am_xstrdup(id);
	snprintf(b->ops[b->nops].created, sizeof(b->ops[b->nops].created), "%s",
		 created ? created : "");
	b->nops++;
}

/* The latest WorkspaceOperation of op (from its index). */
static int
op_snapshot(struct bw *b, const char *op, cJSON **idx, cJSON **snap)
{
	const char *ref;

	*snap = NULL;
	if (am_op_index(b->l, op, idx, b->err) < 0)
		return -1;
	if ((ref = am_json_str(*idx, "operation")) == NULL)
		return am_error_set(b->err, AM_EINTEGRITY, "operation %s: index has no snapshot", op);
	return am_ledger_artifact(b->l, ref, snap, b->err);
}

/* The operations the bundle covers: one (--operation), or every one of the
 * workspace changed since --since, oldest first. */
static int
select_ops(struct bw *b)
{
	char **dirs = NULL, **uuids = NULL;
	size_t nd = 0, nu = 0, i, j;
	int rc = 0;

	if (b->o->operation) {
		add_op(b, b->o->operation, NULL);
		return 0;
	}
	if (am_ledger_list(b->l, "ops", &dirs, &nd, NULL) < 0)
		return 0; /* no operation recorded yet */
	for (i = 0; i < nd && rc == 0; i++) {
		AM_AUTOFREE char *dir = am_xasprintf("ops/%s", dirs[i]);

		if (am_ledger_list(b->l, dir, &uuids, &nu, b->err) < 0) {
			rc = -1;
			break;
		}
		for (j = 0; j < nu && rc == 0; j++) {
			AM_AUTOFREE char *id = am_xasprintf("%s%s", AM_OP_URN, uuids[j]);
			cJSON *idx = NULL, *snap = NULL;

			if (op_snapshot(b, id, &idx, &snap) < 0) {
				rc = -1;
			} else {
				const char *upd = am_json_str(snap, "updatedAt");
				int64_t t = 0;

				if (!b->o->since || (upd && am_time_parse(upd, &t) == 0 && t >= b->o->since))
					add_op(b, id, am_json_str(idx, "createdAt"));
			}
			cJSON_Delete(idx);
			cJSON_Delete(snap);
		}
		am_strv_free(uuids);
		uuids = NULL;
	}
	am_strv_free(dirs);
	if (rc == 0 && b->nops > 1)
		qsort(b->ops, b->nops, sizeof(*b->ops), opref_cmp);
	return rc;
}

/* Is doc[field] at or after --since (always, without it)? */
static int
since_ok(struct bw *b, const cJSON *doc, const char *field)
{
	const char *s = am_json_str(doc, field);
	int64_t t;

	if (!b->o->since)
		return 1;
	return s && am_time_parse(s, &t) == 0 && t >= b->o->since;
}

/* ledger/operations.jsonl: the latest snapshot of each operation. */
static int
write_operations(struct bw *b)
{
	size_t i;

	if (entry_begin(b, "ledger/operations.jsonl") < 0)
		return -1;
	for (i = 0; i < b->nops; i++) {
		cJSON *idx = NULL, *snap = NULL, *line;
		int rc;

		if (op_snapshot(b, b->ops[i].id, &idx, &snap) < 0) {
			cJSON_Delete(idx);
			return -1;
		}
		line = pick(snap, op_fields);
		cJSON_AddStringToObject(line, "artifactId", am_json_str(idx, "operation"));
		rc = entry_json_line(b, line);
		cJSON_Delete(line);
		cJSON_Delete(idx);
		cJSON_Delete(snap);
		if (rc < 0)
			return -1;
	}
	return entry_end(b);
}

/* A line for each artifact the list (an operation's ids of what) names,
 * with its fields picked, if its tfield is not before --since; *count
 * counts the lines.  With want_profile, the profile an artifact names (a
 * decision's) goes into profiles.jsonl too. */
static int
write_artifact_lines(struct bw *b, const char *op, const cJSON *list, const char *what,
		     const char *const *fields, const char *tfield, int want_profile,
		     uint64_t *count)
{
	const cJSON *ref;
	int rc = 0;

	cJSON_ArrayForEach(ref, list) {
		cJSON *doc = NULL, *line;
		const char *p;

		if (!cJSON_IsString(ref))
			return am_error_set(b->err, AM_EINTEGRITY, "operation %s: bad %s list", op, what);
		if (am_ledger_artifact(b->l, ref->valuestring, &doc, b->err) < 0)
			return -1;
		if (want_profile && (p = am_json_str(doc, "profile")) && b->profiles_wanted &&
		    !cJSON_HasObjectItem(b->profiles_wanted, p))
			cJSON_AddTrueToObject(b->profiles_wanted, p);
		if (since_ok(b, doc, tfield)) {
			line = pick(doc, fields);
			cJSON_AddStringToObject(line, "artifactId", ref->valuestring);
			rc = entry_json_line(b, line);
			cJSON_Delete(line);
			(*count)++;
		}
		cJSON_Delete(doc);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ledger/events.jsonl: the events of each operation, oldest first. */
static int
write_events(struct bw *b)
{
	size_t i;

	if (entry_begin(b, "ledger/events.jsonl") < 0)
		return -1;
	for (i = 0; i < b->nops; i++) {
		cJSON *idx = NULL;
		int rc;

		if (am_op_index(b->l, b->ops[i].id, &idx, b->err) < 0)
			return -1;
		rc = write_artifact_lines(b, b->ops[i].id, cJSON_GetObjectItemCaseSensitive(idx, "events"),
					  "event", event_fields, "at", 0, &b->nevents);
		cJSON_Delete(idx);
		if (rc < 0)
			return -1;
	}
	return entry_end(b);
}

/* ledger/decisions.jsonl: the policy decisions the operations reference. */
static int
write_decisions(struct bw *b)
{
	size_t i;

	if (entry_begin(b, "ledger/decisions.jsonl") < 0)
		return -1;
	for (i = 0; i < b->nops; i++) {
		cJSON *idx = NULL, *snap = NULL;
		int rc;

		if (op_snapshot(b, b->ops[i].id, &idx, &snap) < 0) {
			cJSON_Delete(idx);
			return -1;
		}
		rc = write_artifact_lines(b, b->ops[i].id,
					  cJSON_GetObjectItemCaseSensitive(snap, "decisionRefs"),
					  "decision", decision_fields, "decidedAt", 1,
					  &b->ndecisions);
		cJSON_Delete(idx);
		cJSON_Delete(snap);
		if (rc < 0)
			return -1;
	}
	return entry_end(b);
}

/* ledger/profiles.jsonl: the recorded profiles (with --operation, those its decisions name). */
static int
write_profiles(struct bw *b)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (entry_begin(b, "ledger/profiles.jsonl") < 0)
		return -1;
	if (am_ledger_list(b->l, "profiles", &names, &n, NULL) < 0)
		n = 0;
	for (i = 0; i < n && rc == 0; i++) {
		AM_AUTOFREE char *path = am_xasprintf("profiles/%s", names[i]);
		AM_AUTOFREE char *ref = NULL;
		cJSON *doc = NULL, *line;

		if (b->profiles_wanted && !cJSON_HasObjectItem(b->profiles_wanted, names[i]))
			continue;
		if (am_ledger_read(b->l, path, &ref, NULL, NULL) < 0)
			continue; /* a directory, not a profile */
		ref[strcspn(ref, "\n")] = '\0';
		if (am_ledger_artifact(b->l, ref, &doc, b->err) < 0) {
			rc = -1;
			break;
		}
		line = pick(doc, profile_fields);
		cJSON_AddStringToObject(line, "artifactId", ref);
		rc = entry_json_line(b, line);
		cJSON_Delete(line);
		cJSON_Delete(doc);
		b->nprofiles++;
	}
	am_strv_free(names);
	return rc < 0 ? -1 : entry_end(b);
}

/* ledger/workspace.json: the workspace id, ledger tip and counts. */
static int
write_workspace(struct bw *b)
{
	cJSON *doc = cJSON_CreateObject();
	git_oid oid;
	int rc;

	cJSON_AddStringToObject(doc, "workspaceId", am_ledger_workspace_id(b->l));
	if (git_reference_name_to_id(&oid, am_ledger_repo(b->l), AM_LEDGER_REF) == 0) {
		char hex[GIT_OID_HEXSZ + 1];

		git_oid_tostr(hex, sizeof(hex), &oid);
		cJSON_AddStringToObject(doc, "ledgerTip", hex);
	}
	cJSON_AddNumberToObject(doc, "operations", (double)b->nops);
	cJSON_AddNumberToObject(doc, "events", (double)b->nevents);
	cJSON_AddNumberToObject(doc, "decisions", (double)b->ndecisions);
	cJSON_AddNumberToObject(doc, "profiles", (double)b->nprofiles);
	rc = entry_json_doc(b, "ledger/workspace.json", doc);
	cJSON_Delete(doc);
	return rc;
}

/* ---- machine facts ------------------------------------------------------- */

/* First line of a small file; NULL if unreadable. */
static char *
read_line(const char *path)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return am_xstrdup(buf);
}

/* Run "PATH --version" with a fixed environment and no input: the last word
 * of its first line, and its "spec:" line if any.  Bounded in time (a
 * wedged runtime must not wedge am) and in size. */
static cJSON *
runtime_version(const char *path)
{
	char *const argv[] = { (char *)path, (char *)"--version", NULL };
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"LANG=C", NULL };
	posix_spawn_file_actions_t fa;
	char out[4096];
	size_t len = 0;
	int p[2], status = 0;
	pid_t pid;
	cJSON *o = cJSON_CreateObject();
	int64_t deadline = am_mono_ms() + RUNTIME_TIMEOUT_MS;

	cJSON_AddStringToObject(o, "path", path);
	if (pipe2(p, O_CLOEXEC) < 0)
		return o;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, path, &fa, NULL, argv, envp) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		return o;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while (len < sizeof(out) - 1) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left = deadline - am_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		n = read(p[0], out + len, sizeof(out) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	if (waitpid(pid, &status, WNOHANG) != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	out[len] = '\0';
	{
		char *line = out, *nl;
		int first = 1;

		while (*line) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (first) {
				char *sp = strrchr(line, ' ');

				cJSON_AddStringToObject(o, "version", sp ? sp + 1 : line);
				first = 0;
			} else if (am_starts_with(line, "spec: ")) {
				cJSON_AddStringToObject(o, "ociSpec", line + 6);
			}
			if (!nl)
				break;
			line = nl + 1;
		}
	}
	return o;
}

/* The distribution, from the allow-listed keys of /etc/os-release. */
static void
os_release(cJSON *doc)
{
	char *pretty = NULL, *id = NULL, *ver = NULL;
	FILE *fp = fopen("/etc/os-release", "re");
	char line[512];

	while (fp && fgets(line, sizeof(line), fp)) {
		char *val = strchr(line, '='), **slot = NULL;

		if (val == NULL)
			continue;
		*val++ = '\0';
		val[strcspn(val, "\n")] = '\0';
		if (*val == '"') {
			val++;
			val[strcspn(val, "\"")] = '\0';
		}
		if (strcmp(line, "PRETTY_NAME") == 0)
			slot = &pretty;
		else if (strcmp(line, "ID") == 0)
			slot = &id;
		else if (strcmp(line, "VERSION_ID") == 0)
			slot = &ver;
		if (slot && *slot == NULL)
			*slot = am_xstrdup(val);
	}
	if (fp)
		fclose(fp);
	if (pretty || id) {
		cJSON *os = cJSON_AddObjectToObject(doc, "os");

		if (id)
			cJSON_AddStringToObject(os, "id", id);
		if (ver)
			cJSON_AddStringToObject(os, "versionId", ver);
		if (pretty)
			cJSON_AddStringToObject(os, "prettyName", pretty);
	}
	free(pretty);
	free(id);
	free(ver);
}

/* machine/facts.json: what this machine and its kernel can do. */
static cJSON *
machine_facts(struct bw *b)
{
	cJSON *doc = cJSON_CreateObject(), *k, *v, *rt, *env, *names, *ps;
	struct am_sandbox_features f;
	struct utsname u;
	struct sysinfo si;
	char now[21], buf[64];
	int maj, min, rev;
	size_t i, n;

	am_time_format(now, b->now);
	cJSON_AddStringToObject(doc, "collectedAt", now);
	/* No nodename: a host name identifies a person or a site, and nothing
	 * am does depends on it. */
	k = cJSON_AddObjectToObject(doc, "kernel");
	if (uname(&u) == 0) {
		cJSON_AddStringToObject(k, "sysname", u.sysname);
		cJSON_AddStringToObject(k, "release", u.release);
		cJSON_AddStringToObject(k, "version", u.version);
		cJSON_AddStringToObject(k, "machine", u.machine);
	}
	os_release(doc);
	cJSON_AddNumberToObject(doc, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (sysinfo(&si) == 0)
		cJSON_AddNumberToObject(doc, "memoryBytes", (double)si.totalram * si.mem_unit);
	am_sandbox_probe(&f);
	cJSON_AddNumberToObject(doc, "landlockAbi", f.landlock_abi);
	cJSON_AddStringToObject(doc, "cgroupMode", f.cgroup_mode);
	cJSON_AddItemToObject(doc, "sandbox", am_sandbox_features_json(&f));
	ps = cJSON_AddObjectToObject(doc, "kernelSettings");
	for (i = 0; i < AM_ARRAY_LEN(proc_facts); i++) {
		char *s = read_line(proc_facts[i][1]);

		if (s)
			cJSON_AddStringToObject(ps, proc_facts[i][0], s);
		free(s);
	}
	rt = cJSON_AddArrayToObject(doc, "runtimes");
	for (i = 0; runtimes[i]; i++) {
		size_t d;

		for (d = 0; runtime_dirs[d]; d++) {
			AM_AUTOFREE char *p = am_xasprintf("%s/%s", runtime_dirs[d], runtimes[i]);
			struct stat st;

			if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
				cJSON *r = runtime_version(p);

				cJSON_AddStringToObject(r, "name", runtimes[i]);
				cJSON_AddItemToArray(rt, r);
				break;
			}
		}
	}
	v = cJSON_AddObjectToObject(doc, "versions");
	cJSON_AddStringToObject(v, "am", AM_VERSION);
	git_libgit2_version(&maj, &min, &rev);
	snprintf(buf, sizeof(buf), "%d.%d.%d", maj, min, rev);
	cJSON_AddStringToObject(v, "libgit2", buf);
	cJSON_AddStringToObject(v, "libsodium", sodium_version_string());
	snprintf(buf, sizeof(buf), "%d.%d.%d", la.archive_version_number() / 1000000,
		 la.archive_version_number() / 1000 % 1000, la.archive_version_number() % 1000);
	cJSON_AddStringToObject(v, "libarchive", buf);
	cJSON_AddStringToObject(v, "libzstd", ZSTD_versionString());
	cJSON_AddStringToObject(v, "cjson", cJSON_Version());
	{
		const struct scmp_version *sv = seccomp_version();

		if (sv) {
			snprintf(buf, sizeof(buf), "%u.%u.%u", sv->major, sv->minor, sv->micro);
			cJSON_AddStringToObject(v, "libseccomp", buf);
		}
	}
	/* Collect less: values only for the allow-listed variables, names for
	 * the rest (sorted, so that two bundles compare). */
	env = cJSON_AddObjectToObject(doc, "environment");
	names = cJSON_AddArrayToObject(doc, "environmentNames");
	for (n = 0; environ[n]; n++)
		;
	{
		char **sorted = am_xcalloc(n + 1, sizeof(*sorted));

		for (i = 0; i < n; i++)
			sorted[i] = environ[i];
		qsort(sorted, n, sizeof(*sorted), str_cmp);
		for (i = 0; i < n; i++) {
			const char *eq = strchr(sorted[i], '=');
			AM_AUTOFREE char *name = eq ? am_xstrndup(sorted[i], (size_t)(eq - sorted[i]))
						    : am_xstrdup(sorted[i]);

			if (eq && am_strv_has(env_values, name))
				cJSON_AddStringToObject(env, name, eq + 1);
			else
				cJSON_AddItemToArray(names, cJSON_CreateString(name));
		}
		free(sorted);
	}
	return doc;
}

/* ---- execution logs -------------------------------------------------------- */

/* Note in the manifest that something was left out, and why. */
static void
drop(struct bw *b, const char *path, const char *reason)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "path", path);
	cJSON_AddStringToObject(d, "reason", reason);
	cJSON_AddItemToArray(b->dropped, d);
}

/* The logs of the selected operations that exist on this machine. */
static void
find_logs(struct bw *b)
{
	size_t i;

	for (i = 0; i < b->nops; i++) {
		AM_AUTOFREE char *dir = am_exec_dir(b->ops[i].id);
		const char *uuid = strrchr(b->ops[i].id, ':') + 1;
		DIR *d = opendir(dir);
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, j;

		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			names = am_xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = am_xstrdup(de->d_name);
		}
		closedir(d);
		if (n > 1)
			qsort(names, n, sizeof(*names), str_cmp);
		for (j = 0; j < n; j++) {
			AM_AUTOFREE char *src = am_xasprintf("%s/%s", dir, names[j]);
			AM_AUTOFREE char *dst = am_xasprintf("executions/%s/%s", uuid, names[j]);
			struct stat st;

			if (name_looks_secret(b->names, names[j])) {
				AM_AUTOFREE char *where = am_xasprintf("executions/%s/", uuid);

				drop(b, where, "file name looks like a secret (name withheld)");
			} else if (strcmp(names[j], "lease.json") == 0) {
				; /* supervisor state, not a log */
			} else if (lstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
				drop(b, dst, "not a regular file");
			} else if (!log_name_allowed(names[j])) {
				drop(b, dst, "not an allow-listed log file");
			} else {
				b->logs = am_xrealloc(b->logs, (b->nlogs + 1) * sizeof(*b->logs));
				b->logs[b->nlogs].src = am_steal_pointer(&src);
				b->logs[b->nlogs].dst = am_steal_pointer(&dst);
				b->logs[b->nlogs].size = (uint64_t)st.st_size;
				b->total += (uint64_t)st.st_size;
				b->nlogs++;
			}
			free(names[j]);
		}
		free(names);
	}
}

/* One execution log, redacted, as one entry. */
static int
write_log(struct bw *b, const struct logfile *lf)
{
	int fd = open(lf->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	int rc = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* Gone or replaced since it was listed: say so, do not fail. */
		if (fd >= 0)
			close(fd);
		drop(b, lf->dst, "vanished or replaced while collecting");
		return 0;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (entry_begin(b, lf->dst) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, b->buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = am_error_set(b->err, AM_EFAIL, "cannot read '%s': %s", lf->src, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (entry_feed(b, b->buf, (size_t)n) < 0) {
			rc = -1;
			break;
		}
		b->done += (uint64_t)n;
		if (progress(b, "collect", b->done, b->total) < 0) {
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc < 0 ? -1 : entry_end(b);
}

/* ---- the manifest -------------------------------------------------------- */

/* The AgentMachineDiagnosticBundle that manifest.json holds. */
static cJSON *
manifest(struct bw *b)
{
	cJSON *m = cJSON_CreateObject(), *scope, *red, *rep, *prompts, *rules, *e;
	const struct am_redact_rule *rl;
	char now[21];
	size_t n, i;

	am_time_format(now, b->now);
	cJSON_AddStringToObject(m, "kind", AM_BUNDLE_KIND);
	cJSON_AddStringToObject(m, "specVersion", AM_SPEC_VERSION);
	cJSON_AddStringToObject(m, "operationType", AM_BUNDLE_OPERATION);
	if (b->o->export_op)
		cJSON_AddStringToObject(m, "operationId", b->o->export_op);
	cJSON_AddStringToObject(m, "workspaceId", am_ledger_workspace_id(b->l));
	cJSON_AddStringToObject(m, "createdAt", now);
	cJSON_AddStringToObject(m, "createdBy", "am " AM_VERSION);
	/* The contract's four promises; am diagnostics verify checks them. */
	cJSON_AddFalseToObject(m, "credentialsIncluded");
	cJSON_AddFalseToObject(m, "tokensIncluded");
	cJSON_AddFalseToObject(m, "localSecretsIncluded");
	cJSON_AddFalseToObject(m, "sensitivePromptsIncluded");
	scope = cJSON_AddObjectToObject(m, "scope");
	if (b->o->operation)
		cJSON_AddStringToObject(scope, "operation", b->o->operation);
	else
		cJSON_AddNullToObject(scope, "operation");
	if (b->o->since) {
		char s[21];

		am_time_format(s, b->o->since);
		cJSON_AddStringToObject(scope, "since", s);
	} else {
		cJSON_AddNullToObject(scope, "since");
	}
	cJSON_AddNumberToObject(scope, "operations", (double)b->nops);
	cJSON_AddTrueToObject(m, "redactionApplied");
	rules = cJSON_AddArrayToObject(m, "redactionRules");
	rl = am_redact_rules(&n);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(rules, cJSON_CreateString(rl[i].id));
	red = cJSON_AddObjectToObject(m, "redaction");
	cJSON_AddNumberToObject(red, "secrets", (double)am_redact_secrets(b->r));
	cJSON_AddNumberToObject(red, "prompts", (double)am_redact_prompts(b->r));
	/* Secrets line by line (rule, file, line, count: never a value); prompt
	 * fields, which a JSONL log has on every line, per file. */
	rep = cJSON_AddArrayToObject(red, "report");
	for (i = 0; i < b->nrep; i++) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "rule", b->rep[i].rule);
		cJSON_AddStringToObject(e, "file", b->rep[i].file);
		cJSON_AddNumberToObject(e, "line", (double)b->rep[i].line);
		cJSON_AddNumberToObject(e, "count", (double)b->rep[i].count);
		cJSON_AddItemToArray(rep, e);
	}
	prompts = cJSON_AddArrayToObject(red, "promptFields");
	for (i = 0; i < b->npc; i++) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "file", b->pc[i].file);
		cJSON_AddNumberToObject(e, "count", (double)b->pc[i].count);
		cJSON_AddItemToArray(prompts, e);
	}
	cJSON_AddNumberToObject(m, "fileCount", (double)cJSON_GetArraySize(b->files) + 1);
	cJSON_AddItemToObject(m, "files", cJSON_Duplicate(b->files, 1));
	cJSON_AddItemToObject(m, "dropped", cJSON_Duplicate(b->dropped, 1));
	return m;
}

/* ---- reading a bundle back ----------------------------------------------- */

/* A reader that follows the archive file as the writer appends to it, so
 * that the re-scan overlaps with the writing.  It still reads every byte
 * back from the file itself, and only ends at the end of the finished
 * file: written counts what the writer has handed to write(2), done says
 * that it has closed the archive (-1: given up). */
struct follow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t written;
	uint64_t readn;  /* bytes the reader has consumed */
	int done;
	int cancel;
	int finished;    /* the reader returned */
};

struct rd {
	int fd;
	crypto_hash_sha256_state h;
	uint64_t size, total;
	unsigned char *buf;
	am_bundle_progress_fn progress;
	void *parg;
	int canceled;
	struct follow *f;
};

/* read(2), or with a follow: wait for what the writer has not written yet. */
static ssize_t
rd_read_follow(struct rd *r)
{
	struct follow *f = r->f;
	ssize_t n;

	for (;;) {
		int done, cancel;
		uint64_t written;

		do
			n = read(r->fd, r->buf, CHUNK);
		while (n < 0 && errno == EINTR);
		if (n != 0 || f == NULL)
			return n;
		pthread_mutex_lock(&f->mu);
		while (!f->done && !f->cancel && f->written <= r->size)
			pthread_cond_wait(&f->cv, &f->mu);
		done = f->done;
		cancel = f->cancel;
		written = f->written;
		pthread_mutex_unlock(&f->mu);
		if (cancel || done < 0) {
			r->canceled = 1;
			errno = EINTR;
			return -1;
		}
		if (done && written <= r->size)
			return read(r->fd, r->buf, CHUNK); /* 0: the end of the finished file */
	}
}

/* libarchive read callback: the next chunk of the file, hashed. */
static la_ssize_t
rd_read(struct archive *a, void *arg, const void **out)
{
	struct rd *r = arg;
	ssize_t n = rd_read_follow(r);

	if (n < 0) {
		la.archive_set_error(a, errno, "%s", r->canceled ? "interrupted" : strerror(errno));
		return -1;
	}
	if (r->f) {
		pthread_mutex_lock(&r->f->mu);
		r->f->readn = r->size + (uint64_t)n;
		pthread_cond_broadcast(&r->f->cv);
		pthread_mutex_unlock(&r->f->mu);
	}
	crypto_hash_sha256_update(&r->h, r->buf, (unsigned long long)n);
	r->size += (uint64_t)n;
	if (r->progress && r->progress(r->parg, "verify", r->size, r->total) != 0) {
		r->canceled = 1;
		la.archive_set_error(a, EINTR, "interrupted");
		return -1;
	}
	*out = r->buf;
	return n;
}

struct leaks {
	uint64_t n;
	cJSON *list; /* the first LEAKS_KEPT: {"file","line","rule"} */
};

/* am_redact_finding_fn of a re-scan: count secrets, keep where the first are. */
static void
leak_cb(void *arg, const struct am_redact_finding *f)
{
	struct leaks *lk = arg;
	cJSON *o;

	if (!f->secret)
		return;
	lk->n++;
	if (cJSON_GetArraySize(lk->list) >= LEAKS_KEPT)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", f->file);
	cJSON_AddNumberToObject(o, "line", (double)f->line);
	cJSON_AddStringToObject(o, "rule", f->rule);
	cJSON_AddItemToArray(lk->list, o);
}

struct readback {
	cJSON *entries;   /* [{"path","type","bytes"}] */
	char *manifest;   /* bytes of the first manifest.json, NUL-terminated */
	size_t mlen;
	int manifest_big;
	struct leaks leaks;
	char digest[AM_ID_LEN];
	uint64_t size;
};

/* What kind of tar entry e is. */
static const char *
entry_type(struct archive_entry *e)
{
	if (la.archive_entry_hardlink(e) || la.archive_entry_symlink(e))
		return "link";
	switch (la.archive_entry_filetype(e)) {
	case AE_IFREG: return "file";
	case AE_IFDIR: return "directory";
	default: return "other";
	}
}

/* Read the archive on fd from its start to its end with a fresh scanner:
 * every entry's data is scanned for secrets, the whole file hashed, the
 * manifest kept.  -1 (AM_EINTEGRITY) when libarchive cannot read it. */
static int
read_back(int fd, struct follow *f, am_bundle_progress_fn prog, void *parg,
	  struct readback *out, struct am_error **err)
{
	struct rd r = { .fd = fd, .progress = prog, .parg = parg, .f = f };
	struct am_redact *scan = am_redact_new();
	struct archive *a = la.archive_read_new();
	struct archive_entry *e;
	struct stat st;
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[65];
	int rc = 0, ar;

	out->entries = cJSON_CreateArray();
	out->leaks.list = cJSON_CreateArray();
	r.buf = am_xmalloc(CHUNK);
	crypto_hash_sha256_init(&r.h);
	if (fstat(fd, &st) == 0)
		r.total = (uint64_t)st.st_size;
	am_redact_set_finding_cb(scan, leak_cb, &out->leaks);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		rc = am_error_set(err, AM_EFAIL, "cannot read the bundle: %s", strerror(errno));
		goto out;
	}
	if (la.archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    la.archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    la.archive_read_open(a, &r, NULL, rd_read, NULL) != ARCHIVE_OK) {
		rc = am_error_set(err, AM_EINTEGRITY, "not a tar+zstd bundle: %s",
				  la.archive_error_string(a) ? la.archive_error_string(a) : "unreadable");
		goto out;
	}
	while ((ar = la.archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *path = la.archive_entry_pathname(e) ? la.archive_entry_pathname(e) : "";
		const char *type = entry_type(e);
		cJSON *ent = cJSON_CreateObject();
		int is_manifest = strcmp(path, "manifest.json") == 0 && out->manifest == NULL &&
				  strcmp(type, "file") == 0;
		struct am_buf mb = AM_BUF_INIT;
		uint64_t bytes = 0;
		const void *blk;
		size_t len;
		la_int64_t off;

		cJSON_AddStringToObject(ent, "path", path);
		cJSON_AddStringToObject(ent, "type", type);
		cJSON_AddItemToArray(out->entries, ent);
		if (am_redact_begin(scan, path, am_redact_mode_for_name(path), NULL, NULL, err) < 0) {
			rc = -1;
			goto out;
		}
		while ((ar = la.archive_read_data_block(a, &blk, &len, &off)) == ARCHIVE_OK) {
			if (am_redact_feed(scan, blk, len, err) < 0) {
				am_buf_free(&mb);
				rc = -1;
				goto out;
			}
			if (is_manifest) {
				if (mb.len + len <= MANIFEST_MAX)
					am_buf_add(&mb, blk, len);
				else
					out->manifest_big = 1;
			}
			bytes += len;
		}
		if (am_redact_end(scan, err) < 0) {
			am_buf_free(&mb);
			rc = -1;
			goto out;
		}
		cJSON_AddNumberToObject(ent, "bytes", (double)bytes);
		if (is_manifest) {
			if (mb.data == NULL)
				am_buf_adds(&mb, "");
			out->manifest = am_buf_detach(&mb, &out->mlen);
		}
		am_buf_free(&mb);
		if (ar != ARCHIVE_EOF) {
			rc = am_error_set(err, r.canceled ? AM_EFAIL : AM_EINTEGRITY,
					  "cannot read entry '%s' of the bundle: %s", path,
					  r.canceled ? "interrupted"
					  : la.archive_error_string(a) ? la.archive_error_string(a) : "read error");
			goto out;
		}
	}
	if (ar != ARCHIVE_EOF) {
		rc = am_error_set(err, r.canceled ? AM_EFAIL : AM_EINTEGRITY, "cannot read the bundle: %s",
				  r.canceled ? "interrupted"
				  : la.archive_error_string(a) ? la.archive_error_string(a) : "read error");
		goto out;
	}
	/* The digest covers the whole file, including anything after the end
	 * of the tar stream that libarchive did not need to read. */
	for (;;) {
		ssize_t n = rd_read_follow(&r);

		if (n < 0) {
			rc = am_error_set(err, AM_EFAIL, "cannot read the bundle: %s",
					  r.canceled ? "interrupted" : strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		crypto_hash_sha256_update(&r.h, r.buf, (unsigned long long)n);
		r.size += (uint64_t)n;
	}
	crypto_hash_sha256_final(&r.h, hash);
	am_hex(hex, hash, sizeof(hash));
	snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
	out->size = r.size;
out:
	la.archive_read_free(a);
	am_redact_free(scan);
	free(r.buf);
	return rc;
}

/* Free what read_back() filled. */
static void
readback_free(struct readback *rb)
{
	cJSON_Delete(rb->entries);
	cJSON_Delete(rb->leaks.list);
	free(rb->manifest);
	memset(rb, 0, sizeof(*rb));
}

/* ---- export ------------------------------------------------------------ */

/* See bundle.h. */
int
am_bundle_tmpfile(const char *path, char **tmp, int *fd, struct am_error **err)
{
	const char *slash = strrchr(path, '/');
	AM_AUTOFREE char *dir = slash ? am_xstrndup(path, (size_t)(slash - path)) : am_xstrdup(".");
	const char *base = slash ? slash + 1 : path;

	if (*dir == '\0') {
		free(dir);
		dir = am_xstrdup("/");
	}
	if (*base == '\0')
		return am_error_set(err, AM_EUSAGE, "'%s' names a directory, not a file", path);
	*tmp = am_xasprintf("%s/.%s.XXXXXX", dir, base);
	*fd = mkostemp(*tmp, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		am_error_set(err, e == ENOENT ? AM_ENOTFOUND : AM_EFAIL,
			     "cannot create a file in '%s': %s", dir, strerror(e));
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return 0;
}

/* The archive's write callback: to the file, then tell the reader. */
struct sink {
	int fd;
	struct follow *f;
};

/* libarchive write callback: write(2), then wake the reader. */
static la_ssize_t
sink_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct sink *k = arg;

	if (am_write_all(k->fd, buf, n) < 0) {
		la.archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&k->f->mu);
	k->f->written += n;
	pthread_cond_broadcast(&k->f->cv);
	pthread_mutex_unlock(&k->f->mu);
	return (la_ssize_t)n;
}

/* The re-scan, on its own thread. */
struct rescan {
	int fd;
	struct follow *f;
	struct readback rb;
	struct am_error *err;
	int rc;
};

/* The reader thread: read_back() following the file being written. */
static void *
rescan_main(void *arg)
{
	struct rescan *rs = arg;

	rs->rc = read_back(rs->fd, rs->f, NULL, NULL, &rs->rb, &rs->err);
	pthread_mutex_lock(&rs->f->mu);
	rs->f->finished = 1;
	pthread_cond_broadcast(&rs->f->cv);
	pthread_mutex_unlock(&rs->f->mu);
	return NULL;
}

/* Tell the reader the writer is done (1) or has given up (-1), wait for it,
 * drawing progress meanwhile.  Returns 0, or -1 if the progress callback
 * asked to stop. */
static int
rescan_finish(struct bw *b, struct follow *f, pthread_t th, int done)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	f->done = done;
	pthread_cond_broadcast(&f->cv);
	while (!f->finished) {
		struct timespec ts;
		uint64_t readn = f->readn, total = f->written;

		if (done > 0 && rc == 0 && b->o->progress) {
			pthread_mutex_unlock(&f->mu);
			if (b->o->progress(b->o->progress_arg, "verify", readn, total) != 0)
				rc = -1;
			pthread_mutex_lock(&f->mu);
			if (rc < 0) {
				f->cancel = 1;
				pthread_cond_broadcast(&f->cv);
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	pthread_mutex_unlock(&f->mu);
	pthread_join(th, NULL);
	return rc;
}

int
am_bundle_write(struct am_ledger *l, const struct am_bundle_opts *o, int fd, const char *tmp,
		struct am_bundle_result *res, struct am_error **err)
{
	struct bw b = { 0 };
	struct follow f = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct sink sink = { .fd = fd, .f = &f };
	struct rescan rs = { .fd = -1, .f = &f };
	pthread_t th;
	int started = 0;
	const char *slash = strrchr(tmp, '/');
	AM_AUTOFREE char *dir = slash ? am_xstrndup(tmp, slash == tmp ? 1 : (size_t)(slash - tmp))
				      : am_xstrdup(".");
	char threads[16];
	cJSON *facts, *man = NULL;
	size_t i;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (la_load(err) < 0)
		return -1;
	b.l = l;
	b.o = o;
	b.err = err;
	b.now = am_now();
	b.sp.fd = -1;
	b.sp.dir = dir;
	b.r = am_redact_new();
	am_redact_set_finding_cb(b.r, report_cb, &b);
	b.names = am_redact_new();
	b.buf = am_xmalloc(CHUNK);
	b.files = cJSON_CreateArray();
	b.dropped = cJSON_CreateArray();
	if (o->operation)
		b.profiles_wanted = cJSON_CreateObject();

	/* The verifying reader has a file description of its own, opened
	 * before anything is written, and reads what reached the file. */
	rs.fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (rs.fd < 0) {
		am_error_set(err, AM_EFAIL, "cannot read '%s': %s", tmp, strerror(errno));
		goto out;
	}
	b.a = la.archive_write_new();
	snprintf(threads, sizeof(threads), "%d",
		 o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
	/* pax restricted: plain ustar unless a path needs more.  zstd level 3,
	 * as zstd(1) uses, on worker threads, so that compression overlaps
	 * with the redaction of what comes next. */
	if (la.archive_write_set_format_pax_restricted(b.a) != ARCHIVE_OK ||
	    la.archive_write_add_filter_zstd(b.a) != ARCHIVE_OK ||
	    la.archive_write_set_filter_option(b.a, "zstd", "compression-level", "3") != ARCHIVE_OK) {
		ar_fail(err, b.a, "cannot set up the bundle archive");
		goto out;
	}
	if (la.archive_write_set_filter_option(b.a, "zstd", "threads", threads) != ARCHIVE_OK) {
		/* A libarchive without the option: one thread still works. */
		la.archive_clear_error(b.a);
	}
	if (la.archive_write_set_bytes_in_last_block(b.a, 1) != ARCHIVE_OK ||
	    la.archive_write_open(b.a, &sink, NULL, sink_write, NULL) != ARCHIVE_OK) {
		ar_fail(err, b.a, "cannot open the bundle archive");
		goto out;
	}
	if (pthread_create(&th, NULL, rescan_main, &rs) != 0) {
		am_error_set(err, AM_EFAIL, "cannot start the re-scan: %s", strerror(errno));
		goto out;
	}
	started = 1;
	if (select_ops(&b) < 0)
		goto out;
	find_logs(&b);
	if (progress(&b, "collect", 0, b.total) < 0 ||
	    write_operations(&b) < 0 || write_events(&b) < 0 || write_decisions(&b) < 0 ||
	    write_profiles(&b) < 0 || write_workspace(&b) < 0)
		goto out;
	facts = machine_facts(&b);
	i = (size_t)entry_json_doc(&b, "machine/facts.json", facts);
	cJSON_Delete(facts);
	if (i != 0)
		goto out;
	for (i = 0; i < b.nlogs; i++)
		if (write_log(&b, &b.logs[i]) < 0)
			goto out;
	man = manifest(&b);
	if (entry_json_doc(&b, "manifest.json", man) < 0)
		goto out;
	if (la.archive_write_close(b.a) != ARCHIVE_OK) {
		ar_fail(err, b.a, "cannot finish the bundle");
		goto out;
	}
	res->secrets = am_redact_secrets(b.r);
	res->prompts = am_redact_prompts(b.r);
	res->files = (uint64_t)cJSON_GetArraySize(b.files);
	/* Verify: the reader has followed the file; now it reads to the end of
	 * the finished archive, through a scanner of its own. */
	started = 0;
	if (rescan_finish(&b, &f, th, 1) < 0) {
		am_error_set(err, AM_EFAIL, "interrupted");
		goto out;
	}
	if (rs.rc < 0) {
		*err = am_steal_pointer(&rs.err);
		goto out;
	}
	if (rs.rb.leaks.n > 0) {
		res->leaks = rs.rb.leaks.n;
		res->leak_report = am_steal_pointer(&rs.rb.leaks.list);
		am_error_set(err, AM_EINTEGRITY,
			     "the re-scan of the finished bundle found %llu secret%s; the bundle was not kept",
			     (unsigned long long)rs.rb.leaks.n, rs.rb.leaks.n == 1 ? "" : "s");
		goto out;
	}
	if ((uint64_t)cJSON_GetArraySize(rs.rb.entries) != res->files) {
		am_error_set(err, AM_EINTEGRITY, "the bundle reads back with %d entries, not %llu",
			     cJSON_GetArraySize(rs.rb.entries), (unsigned long long)res->files);
		goto out;
	}
	{
		struct stat st;

		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != rs.rb.size) {
			am_error_set(err, AM_EINTEGRITY, "the bundle was read back short");
			goto out;
		}
	}
	/* On disk before anyone can see it under its real name. */
	if (fsync(fd) < 0 || close(fd) < 0) {
		am_error_set(err, AM_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	memcpy(res->digest, rs.rb.digest, sizeof(res->digest));
	res->size = rs.rb.size;
	res->manifest = am_steal_pointer(&man);
	rc = 0;
out:
	if (started)
		rescan_finish(&b, &f, th, -1);
	if (rs.fd >= 0)
		close(rs.fd);
	am_error_free(rs.err);
	readback_free(&rs.rb);
	if (b.a)
		la.archive_write_free(b.a);
	cJSON_Delete(man);
	cJSON_Delete(b.files);
	cJSON_Delete(b.dropped);
	cJSON_Delete(b.profiles_wanted);
	for (i = 0; i < b.nops; i++)
		free(b.ops[i].id);
	free(b.ops);
	for (i = 0; i < b.nlogs; i++) {
		free(b.logs[i].src);
		free(b.logs[i].dst);
	}
	free(b.logs);
	free(b.cur);
	for (i = 0; i < b.nentry_names; i++)
		free(b.entry_names[i]);
	free(b.entry_names);
	free(b.rep);
	free(b.pc);
	spool_free(&b.sp);
	sodium_memzero(b.buf, CHUNK);
	free(b.buf);
	am_redact_free(b.r);
	am_redact_free(b.names);
	pthread_mutex_destroy(&f.mu);
	pthread_cond_destroy(&f.cv);
	return rc;
}

void
am_bundle_result_free(struct am_bundle_result *res)
{
	cJSON_Delete(res->manifest);
	cJSON_Delete(res->leak_report);
	res->manifest = res->leak_report = NULL;
}

cJSON *
am_bundle_artifact(const struct am_bundle_result *res)
{
	cJSON *a = cJSON_Duplicate(res->manifest, 1);

	cJSON_AddStringToObject(a, "digest", res->digest);
	cJSON_AddNumberToObject(a, "size", (double)res->size);
	return a;
}

/* The ledger path of the index of a bundle digest. */
static char *
bundle_index_path(const char *digest)
{
	const char *hex = am_starts_with(digest, "sha256:") ? digest + 7 : digest;

	return am_xasprintf("bundles/%.2s/%s", hex, hex);
}

int
am_bundle_record(struct am_txn *t, const char *op_id, const cJSON *artifact, char ref[AM_ID_LEN],
		 struct am_error **err)
{
	const char *digest = am_json_str(artifact, "digest");
	AM_AUTOFREE char *path = NULL;
	cJSON *idx;
	int rc;

	if (digest == NULL)
		return am_error_set(err, AM_EUSAGE, "bundle artifact has no digest");
	if (am_txn_put_artifact(t, artifact, ref, err) < 0 ||
	    am_op_link(t, op_id, "artifactRefs", ref, err) < 0)
		return -1;
	idx = cJSON_CreateObject();
	cJSON_AddStringToObject(idx, "artifact", ref);
	cJSON_AddStringToObject(idx, "operation", op_id);
	cJSON_AddStringToObject(idx, "digest", digest);
	cJSON_AddItemToObject(idx, "size",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(artifact, "size"), 1));
	path = bundle_index_path(digest);
	rc = am_txn_put_json(t, path, idx, err);
	cJSON_Delete(idx);
	return rc;
}

/* ---- scan --------------------------------------------------------------- */

/* Scan everything read from fd as the file name. */
static int
scan_fd(struct am_redact *r, int fd, const char *name, unsigned char *buf,
	struct am_scan_stats *st, struct am_error **err)
{
	if (am_redact_begin(r, name, am_redact_mode_for_name(name), NULL, NULL, err) < 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return am_error_set(err, AM_EFAIL, "cannot read '%s': %s", name, strerror(errno));
		if (n == 0)
			break;
		st->bytes += (uint64_t)n;
		if (am_redact_feed(r, buf, (size_t)n, err) < 0)
			return -1;
	}
	st->files++;
	return am_redact_end(r, err);
}

/* Scan the directory dfd (named path) recursively, in name order. */
static int
scan_dir(struct am_redact *r, int dfd, const char *path, int depth, unsigned char *buf,
	 struct am_scan_stats *st, struct am_error **err)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	int rc = 0, dup_fd;

	if (depth > SCAN_DEPTH)
		return am_error_set(err, AM_EFAIL, "'%s': directories nested too deep", path);
	if ((dup_fd = dup(dfd)) < 0 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		return am_error_set(err, AM_EFAIL, "cannot read '%s': %s", path, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = am_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = am_xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++) {
		AM_AUTOFREE char *child = strcmp(path, "/") == 0 ? am_xasprintf("/%s", names[i])
								  : am_xasprintf("%s/%s", path, names[i]);
		struct stat sb;
		int fd;

		if (rc < 0)
			goto next;
		if (fstatat(dfd, names[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = am_error_set(err, AM_EFAIL, "cannot read '%s': %s", child, strerror(errno));
			goto next;
		}
		if (S_ISDIR(sb.st_mode)) {
			if (strcmp(names[i], ".git") == 0)
				goto next;
			fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = am_error_set(err, AM_EFAIL, "cannot read '%s': %s", child, strerror(errno));
				goto next;
			}
			rc = scan_dir(r, fd, child, depth + 1, buf, st, err);
			close(fd);
		} else if (S_ISREG(sb.st_mode)) {
			fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0) {
				rc = am_error_set(err, AM_EFAIL, "cannot read '%s': %s", child, strerror(errno));
				goto next;
			}
			rc = scan_fd(r, fd, child, buf, st, err);
			close(fd);
		} else {
			st->skipped++;
		}
next:
		free(names[i]);
	}
	free(names);
	return rc;
}

int
am_scan_path(struct am_redact *r, const char *path, struct am_scan_stats *st,
	     struct am_error **err)
{
	AM_AUTOFREE unsigned char *buf = am_xmalloc(CHUNK);
	struct stat sb;
	int fd, rc;

	if (strcmp(path, "-") == 0)
		return scan_fd(r, 0, "(stdin)", buf, st, err);
	/* A path named on the command line is followed even if it is a
	 * symbolic link; links found below it are not. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return am_error_set(err, errno == ENOENT ? AM_ENOTFOUND : AM_EFAIL,
				    "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0) {
		rc = am_error_set(err, AM_EFAIL, "cannot read '%s': %s", path, strerror(errno));
	} else if (S_ISDIR(sb.st_mode)) {
		AM_AUTOFREE char *p = am_xstrdup(path);
		size_t n = strlen(p);

		while (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		rc = scan_dir(r, fd, p, 0, buf, st, err);
	} else if (S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode)) {
		/* A pipe or a device named explicitly is read like stdin. */
		if (!S_ISREG(sb.st_mode))
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		rc = scan_fd(r, fd, path, buf, st, err);
	} else {
		rc = am_error_set(err, AM_EUSAGE, "'%s' is not a file or a directory", path);
	}
	close(fd);
	return rc;
}

/* ---- verify --------------------------------------------------------------- */

static void problem(cJSON *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add a formatted problem to a verify report. */
static void
problem(cJSON *problems, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(problems, cJSON_CreateString(tmp));
}

/* A path that extracts inside the current directory and names a file. */
static int
safe_path(const char *p)
{
	const char *s = p;

	if (*p == '\0' || *p == '/' || p[strlen(p) - 1] == '/')
		return 0;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/')
			s++;
	}
	return 1;
}

/* Find the recorded artifact of the bundle: by digest, else through the
 * export operation the manifest names (whose record then disagrees). */
static void
check_ledger(struct am_ledger *l, const cJSON *m, struct am_bundle_check *c)
{
	AM_AUTOFREE char *ipath = bundle_index_path(c->digest);
	AM_AUTOFREE char *data = NULL;
	AM_AUTOFREE char *opid = NULL;
	const char *ws = am_json_str(m, "workspaceId"), *op = am_json_str(m, "operationId");
	cJSON *idx = NULL, *art = NULL, *snap = NULL;
	const cJSON *ref;
	size_t len;

	if (am_ledger_read(l, ipath, &data, &len, NULL) == 0 &&
	    (idx = am_canon_parse(data, len, NULL)) != NULL && am_json_str(idx, "artifact") &&
	    am_ledger_artifact(l, am_json_str(idx, "artifact"), &art, NULL) == 0) {
		const cJSON *sz = cJSON_GetObjectItemCaseSensitive(art, "size");
		const char *aop = am_json_str(art, "operationId");

		c->recorded = am_xstrdup(am_json_str(idx, "artifact"));
		if (!cJSON_IsNumber(sz) || (uint64_t)sz->valuedouble != c->size)
			problem(c->problems, "the bundle has %llu bytes, the record %s says %llu",
				(unsigned long long)c->size, c->recorded,
				cJSON_IsNumber(sz) ? (unsigned long long)sz->valuedouble : 0ULL);
		if (!aop || !op || strcmp(aop, op) != 0)
			problem(c->problems, "manifest.json names operation %s, the record %s",
				op ? op : "(none)", aop ? aop : "(none)");
		goto out;
	}
	if (ws == NULL || strcmp(ws, am_ledger_workspace_id(l)) != 0) {
		c->note = am_xasprintf("made in workspace %s, not this one: not checked against a record",
				       ws ? ws : "(unknown)");
		goto out;
	}
	/* It says it is from this workspace but its digest is not recorded:
	 * it was changed after the export, or never exported here. */
	cJSON_Delete(idx);
	idx = NULL;
	if (op == NULL || am_op_resolve(l, op, &opid, NULL) < 0 ||
	    am_op_index(l, opid, &idx, NULL) < 0 || !am_json_str(idx, "operation") ||
	    am_ledger_artifact(l, am_json_str(idx, "operation"), &snap, NULL) < 0) {
		problem(c->problems, "no export of this bundle is recorded in this workspace (%s)",
			op ? op : "manifest.json names no operation");
		goto out;
	}
	cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(snap, "artifactRefs")) {
		cJSON *a = NULL;
		const char *kind, *dg;

		if (!cJSON_IsString(ref) || am_ledger_artifact(l, ref->valuestring, &a, NULL) < 0)
			continue;
		kind = am_json_str(a, "kind");
		dg = am_json_str(a, "digest");
		if (kind && strcmp(kind, AM_BUNDLE_KIND) == 0 && dg) {
			problem(c->problems,
				"the bundle's digest %s is not the %s that %s recorded: it changed after the export",
				c->digest, dg, opid);
			cJSON_Delete(a);
			goto out;
		}
		cJSON_Delete(a);
	}
	problem(c->problems, "operation %s recorded no bundle", opid);
out:
	cJSON_Delete(idx);
	cJSON_Delete(art);
	cJSON_Delete(snap);
}

/* The manifest's promises, and its file list against the entries seen. */
static void
check_manifest(const cJSON *m, const cJSON *seen, struct am_bundle_check *c)
{
	static const char *const flags[] = {
		"credentialsIncluded", "tokensIncluded", "localSecretsIncluded",
		"sensitivePromptsIncluded", NULL,
	};
	const cJSON *fc = cJSON_GetObjectItemCaseSensitive(m, "fileCount");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
	cJSON *listed;
	const cJSON *f;
	int i;

	if (!am_json_str(m, "kind") || strcmp(am_json_str(m, "kind"), AM_BUNDLE_KIND) != 0)
		problem(c->problems, "manifest.json: kind is not %s", AM_BUNDLE_KIND);
	for (i = 0; flags[i]; i++)
		if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(m, flags[i])))
			problem(c->problems, "manifest.json: %s is not false", flags[i]);
	if (!cJSON_IsNumber(fc) || (uint64_t)fc->valuedouble != c->files)
		problem(c->problems, "manifest.json: fileCount is not the %llu entries of the bundle",
			(unsigned long long)c->files);
	if (!cJSON_IsArray(files)) {
		problem(c->problems, "manifest.json: no files list");
		return;
	}
	listed = cJSON_CreateObject();
	cJSON_ArrayForEach(f, files) {
		const char *p = am_json_str(f, "path");
		const cJSON *want = cJSON_GetObjectItemCaseSensitive(f, "bytes");
		const cJSON *have = p ? cJSON_GetObjectItemCaseSensitive(seen, p) : NULL;

		if (p == NULL)
			continue;
		cJSON_AddTrueToObject(listed, p);
		if (have == NULL)
			problem(c->problems, "'%s' is listed in manifest.json but missing", p);
		else if (!cJSON_IsNumber(want) || want->valuedouble != have->valuedouble)
			problem(c->problems, "'%s' has %llu bytes, manifest.json says %llu", p,
				(unsigned long long)have->valuedouble,
				cJSON_IsNumber(want) ? (unsigned long long)want->valuedouble : 0ULL);
	}
	cJSON_ArrayForEach(f, seen)
		if (strcmp(f->string, "manifest.json") != 0 && !cJSON_HasObjectItem(listed, f->string))
			problem(c->problems, "entry '%s' is not listed in manifest.json", f->string);
	cJSON_Delete(listed);
}

int
am_bundle_verify(struct am_ledger *l, const char *path, struct am_bundle_check *c,
		 struct am_error **err)
{
	struct readback rb = { 0 };
	struct am_error *rerr = NULL;
	cJSON *seen, *m = NULL;
	const cJSON *e;
	int fd, readable;

	memset(c, 0, sizeof(*c));
	if (la_load(err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return am_error_set(err, errno == ENOENT ? AM_ENOTFOUND : AM_EFAIL,
				    "cannot read '%s': %s", path, strerror(errno));
	c->problems = cJSON_CreateArray();
	seen = cJSON_CreateObject();
	readable = read_back(fd, NULL, NULL, NULL, &rb, &rerr) == 0;
	close(fd);
	if (!readable) {
		problem(c->problems, "%s", rerr->msg);
		am_error_free(rerr);
	}
	memcpy(c->digest, rb.digest, sizeof(c->digest));
	c->size = rb.size;
	c->files = (uint64_t)cJSON_GetArraySize(rb.entries);
	cJSON_ArrayForEach(e, rb.leaks.list)
		problem(c->problems, "%s:%llu: %s: a secret is left in the bundle", am_json_str(e, "file"),
			(unsigned long long)cJSON_GetObjectItemCaseSensitive(e, "line")->valuedouble,
			am_json_str(e, "rule"));
	if (rb.leaks.n > (uint64_t)cJSON_GetArraySize(rb.leaks.list))
		problem(c->problems, "... and %llu more secrets",
			(unsigned long long)(rb.leaks.n - (uint64_t)cJSON_GetArraySize(rb.leaks.list)));
	cJSON_ArrayForEach(e, rb.entries) {
		const char *p = am_json_str(e, "path");

		if (strcmp(am_json_str(e, "type"), "file") != 0)
			problem(c->problems, "entry '%s' is not a regular file", p);
		else if (!safe_path(p))
			problem(c->problems, "entry '%s' would extract outside its directory", p);
		if (cJSON_HasObjectItem(seen, p))
			problem(c->problems, "entry '%s' appears twice", p);
		else
			cJSON_AddItemToObject(seen, p,
					      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "bytes"), 1));
	}
	if (rb.manifest_big) {
		problem(c->problems, "manifest.json is larger than %u bytes", MANIFEST_MAX);
	} else if (rb.manifest == NULL) {
		if (readable)
			problem(c->problems, "the bundle has no manifest.json");
	} else if ((m = am_canon_parse(rb.manifest, rb.mlen, &rerr)) == NULL) {
		problem(c->problems, "manifest.json does not parse: %s", rerr->msg);
		am_error_free(rerr);
	} else {
		check_manifest(m, seen, c);
		if (l && readable)
			check_ledger(l, m, c);
		else if (readable)
			c->note = am_xstrdup("not in a workspace: not checked against a record");
	}
	c->manifest = m;
	cJSON_Delete(seen);
	readback_free(&rb);
	return 0;
}

void
am_bundle_check_free(struct am_bundle_check *c)
{
	cJSON_Delete(c->manifest);
	cJSON_Delete(c->problems);
	free(c->recorded);
	free(c->note);
	memset(c, 0, sizeof(*c));
}
