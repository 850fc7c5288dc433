/* util.h - small helpers every module uses: allocation that cannot fail
 * (out of memory aborts, as git's xmalloc), a growable byte buffer, whole-file
 * I/O with atomic replace, hex and sha256, RFC 3339 time, UUIDs, bounded
 * number parsing and cleanup attributes.
 *
 * Ownership: functions returning char * or void * return memory the caller
 * frees with free(), unless stated otherwise.
 */
#ifndef AM_UTIL_H
#define AM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#define AM_SPEC_VERSION "0.1.0"
#define AM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Cleanup helpers (bubblewrap/crun style). */
static inline void am_freep(void *p) { free(*(void **)p); }
static inline void am_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define AM_AUTOFREE __attribute__((cleanup(am_freep)))
#define AM_AUTOCLOSE __attribute__((cleanup(am_closep)))
static inline void *am_steal_ptr(void *pp)
{
	void **p = pp, *v = *p;
	*p = NULL;
	return v;
}
#define am_steal_pointer(pp) am_steal_ptr(pp)

_Noreturn void am_die_oom(void);
void *am_xmalloc(size_t n);
void *am_xcalloc(size_t n, size_t m);
void *am_xrealloc(void *p, size_t n);
char *am_xstrdup(const char *s);
char *am_xstrndup(const char *s, size_t n);
char *am_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer; data is always NUL-terminated (not counted). */
struct am_buf {
	char *data;
	size_t len, cap;
};
#define AM_BUF_INIT { NULL, 0, 0 }
void am_buf_grow(struct am_buf *b, size_t extra);
void am_buf_add(struct am_buf *b, const void *p, size_t n);
void am_buf_adds(struct am_buf *b, const char *s);
void am_buf_addc(struct am_buf *b, char c);
void am_buf_addf(struct am_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *am_buf_detach(struct am_buf *b, size_t *len); /* caller frees; b reset */
void am_buf_reset(struct am_buf *b);
void am_buf_free(struct am_buf *b);

/* Read a whole file (at most max bytes, 0 = 64 MiB); NUL-terminated. */
int am_read_file(const char *path, size_t max, char **out, size_t *outlen,
		 struct am_error **err);
/* Read all of fd. */
int am_read_fd(int fd, size_t max, char **out, size_t *outlen, struct am_error **err);
/* A machine-local state file (mode 0600), written atomically; its
 * directory (0700) is made only when the first write finds it missing. */
int am_write_state_file(const char *path, const void *data, size_t len, struct am_error **err);
/* Write a file atomically: temp file in the same directory, rename; with
 * durable set, fsync before the rename so a power loss keeps old or new. */
int am_write_file_atomic(const char *path, const void *data, size_t len, int mode,
			 int durable, struct am_error **err);
/* mkdir -p with mode for created components. */
int am_mkdir_p(const char *path, int mode, struct am_error **err);
/* Full write to fd, retrying on EINTR/short writes; 0 or -1 (errno set). */
int am_write_all(int fd, const void *p, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void am_hex(char *out, const unsigned char *in, size_t n);
/* Decode 2n hex chars into n bytes; 0 or -1 on a bad digit. */
int am_unhex(unsigned char *out, const char *in, size_t n);
/* sha256 of data as 64 lowercase hex chars + NUL into out[65]. */
void am_sha256_hex(char out[65], const void *data, size_t len);
void am_sha256(unsigned char out[32], const void *data, size_t len);
/* Free a NULL-terminated vector of strings and the strings (v may be NULL). */
void am_strv_free(char **v);
/* 1 if the NULL-terminated list v (may be NULL) holds the string s. */
int am_strv_has(const char *const *v, const char *s);
/* 1 if s is exactly 64 lowercase hex chars. */
int am_is_hex64(const char *s);

/* Current time; AM_NOW (seconds since the epoch) overrides it for tests. */
int64_t am_now(void);
/* Milliseconds of the monotonic clock (intervals and deadlines only). */
int64_t am_mono_ms(void);
/* RFC 3339 UTC, "2026-11-26T04:02:43Z", into out[21]. */
void am_time_format(char out[21], int64_t t);
/* Parse RFC 3339 (Z or +hh:mm offset, optional fraction dropped). */
int am_time_parse(const char *s, int64_t *out);
/* Parse a duration "90s", "15m", "8h", "7d", "2w" or bare seconds. */
int am_duration_parse(const char *s, int64_t *out);

/* Leave the caller's session and terminal: a session of its own, /dev/null
 * for stdin, stdout and stderr (what a detached process does first). */
void am_detach(void);

/* Random version-4 UUID, lowercase, into out[37]. */
void am_uuid(char out[37]);

/* Bounded integer parse (OpenBSD strtonum): NULL on success, else a reason
 * ("invalid", "too small", "too large"). */
const char *am_strtonum(const char *s, long long min, long long max, long long *out);

/* 1 if s starts with prefix. */
static inline int am_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Base64: standard (RFC 4648 section 4) or URL-safe without padding (section 5). */
char *am_b64_encode(const unsigned char *in, size_t n, int urlsafe);
/* Decodes either alphabet as told; returns -1 on any invalid input. */
int am_b64_decode(const char *in, size_t n, int urlsafe, unsigned char **out, size_t *outlen);

/* $XDG_STATE_HOME/am (or ~/.local/state/am), $XDG_CONFIG_HOME/am, $XDG_CACHE_HOME/am. */
char *am_state_dir(void);
char *am_config_dir(void);
char *am_cache_dir(void);

#include "banned.h"

#endif
