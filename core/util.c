/* util.c - see util.h */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util.h"

_Noreturn void
am_die_oom(void)
{
	static const char msg[] = "am: out of memory\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

void *
am_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		am_die_oom();
	return p;
}

void *
am_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		am_die_oom();
	return p;
}

void *
am_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		am_die_oom();
	return p;
}

char *
am_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		am_die_oom();
	return p;
}

char *
am_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		am_die_oom();
	return p;
}

char *
am_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		am_die_oom();
	va_end(ap);
	return s;
}

void
am_buf_grow(struct am_buf *b, size_t extra)
{
	size_t need;

	if (__builtin_add_overflow(b->len, extra + 1, &need))
		am_die_oom();
	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		if (__builtin_mul_overflow(b->cap, 2, &b->cap))
			am_die_oom();
	b->data = am_xrealloc(b->data, b->cap);
}

void
am_buf_add(struct am_buf *b, const void *p, size_t n)
{
	am_buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
am_buf_adds(struct am_buf *b, const char *s)
{
	am_buf_add(b, s, strlen(s));
}

void
am_buf_addc(struct am_buf *b, char c)
{
	am_buf_add(b, &c, 1);
}

void
am_buf_addf(struct am_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		am_die_oom();
	am_buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
am_buf_detach(struct am_buf *b, size_t *len)
{
	char *p;

	if (b->data == NULL)
		am_buf_grow(b, 0), b->data[0] = '\0';
	p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
am_buf_reset(struct am_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
am_buf_free(struct am_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
am_read_fd(int fd, size_t max, char **out, size_t *outlen, struct am_error **err)
{
	struct am_buf b = AM_BUF_INIT;
	ssize_t n;

	if (max == 0)
		max = 64u << 20;
	for (;;) {
		am_buf_grow(&b, 65536);
		n = read(fd, b.data + b.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			am_buf_free(&b);
			return am_error_set(err, AM_EFAIL, "read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > max) {
			am_buf_free(&b);
			return am_error_set(err, AM_EUSAGE, "input larger than %zu bytes", max);
		}
	}
	b.data[b.len] = '\0';
	*out = am_buf_detach(&b, outlen);
	return 0;
}

int
am_read_file(const char *path, size_t max, char **out, size_t *outlen,
	     struct am_error **err)
{
	int fd, r;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return am_error_set(err, errno == ENOENT ? AM_ENOTFOUND : AM_EFAIL,
				    "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return am_error_set(err, AM_EUSAGE, "cannot read '%s': is a directory", path);
	}
	r = am_read_fd(fd, max, out, outlen, err);
	close(fd);
	if (r < 0)
		return am_error_prefix(err, "'%s'", path);
	return 0;
}

int
am_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
am_write_file_atomic(const char *path, const void *data, size_t len, int mode,
		     int durable, struct am_error **err)
{
	AM_AUTOFREE char *tmp = am_xasprintf("%s.tmp.XXXXXX", path);
	int fd, saved;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return am_error_set(err, AM_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
	if (fchmod(fd, (mode_t)mode) < 0 || am_write_all(fd, data, len) < 0 ||
	    (durable && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* rename(2) is atomic: readers see the old or the new file, never a mix. */
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return am_error_set(err, AM_EFAIL, "cannot write '%s': %s", path, strerror(saved));
}

int
am_write_state_file(const char *path, const void *data, size_t len, struct am_error **err)
{
	AM_AUTOFREE char *dir = NULL;

	if (am_write_file_atomic(path, data, len, 0600, 0, NULL) == 0)
		return 0;
	dir = am_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	if (am_mkdir_p(dir, 0700, err) < 0)
		return -1;
	return am_write_file_atomic(path, data, len, 0600, 0, err);
}

int
am_mkdir_p(const char *path, int mode, struct am_error **err)
{
	AM_AUTOFREE char *p = am_xstrdup(path);
	char *s;

	if (*p == '\0')
		return am_error_set(err, AM_EUSAGE, "empty directory name");
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
				return am_error_set(err, AM_EFAIL, "cannot create directory '%s': %s",
						    p, strerror(errno));
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

void
am_hex(char *out, const unsigned char *in, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
am_unhex(unsigned char *out, const char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int h = hexval(in[2 * i]), l = h < 0 ? -1 : hexval(in[2 * i + 1]);

		if (h < 0 || l < 0)
			return -1;
		out[i] = (unsigned char)(h << 4 | l);
	}
	return 0;
}

void
am_sha256(unsigned char out[32], const void *data, size_t len)
{
	crypto_hash_sha256(out, data, len);
}

void
am_sha256_hex(char out[65], const void *data, size_t len)
{
	unsigned char h[32];

	am_sha256(h, data, len);
	am_hex(out, h, 32);
}

int
am_is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

int64_t
am_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
am_strv_has(const char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return 1;
	return 0;
}

int64_t
am_now(void)
{
	const char *e = getenv("AM_NOW");
	long long v;

	if (e && *e && am_strtonum(e, 0, 253402300799LL, &v) == NULL)
		return v;
	return (int64_t)time(NULL);
}

void
am_time_format(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
am_time_parse(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *p;
	int64_t off = 0;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL) {
		memset(&tm, 0, sizeof(tm));
		p = strptime(s, "%Y-%m-%d", &tm);
		if (p == NULL || *p != '\0')
			return -1;
		*out = (int64_t)timegm(&tm);
		return 0;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');

		if (hh > 23 || mm > 59)
			return -1;
		off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*out = (int64_t)timegm(&tm) - off;
	return 0;
}

int
am_duration_parse(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	case 'w': mul = 7 * 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (__builtin_mul_overflow((int64_t)v, mul, out))
		return -1;
	return 0;
}

void
am_uuid(char out[37])
{
	unsigned char u[16];
	char h[33];

	randombytes_buf(u, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	am_hex(h, u, 16);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

const char *
am_strtonum(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s) || *s == '+')
		return "invalid";
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return "invalid";
	if ((errno == ERANGE && v == LLONG_MIN) || v < min)
		return "too small";
	if ((errno == ERANGE && v == LLONG_MAX) || v > max)
		return "too large";
	*out = v;
	return NULL;
}

char *
am_b64_encode(const unsigned char *in, size_t n, int urlsafe)
{
	int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
			      : sodium_base64_VARIANT_ORIGINAL;
	size_t len = sodium_base64_ENCODED_LEN(n, variant);
	char *out = am_xmalloc(len);

	sodium_bin2base64(out, len, in, n, variant);
	return out;
}

int
am_b64_decode(const char *in, size_t n, int urlsafe, unsigned char **out, size_t *outlen)
{
	int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
			      : sodium_base64_VARIANT_ORIGINAL;
	unsigned char *buf = am_xmalloc(n / 4 * 3 + 3);
	const char *end = NULL;

	if (sodium_base642bin(buf, n / 4 * 3 + 3, in, n, NULL, outlen, &end, variant) != 0 ||
	    end != in + n) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static char *
xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var), *home;

	if (v && v[0] == '/')
		return am_xasprintf("%s/am", v);
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		home = "/";
	return am_xasprintf("%s/%s/am", home, fallback);
}

char *am_state_dir(void) { return xdg_dir("XDG_STATE_HOME", ".local/state"); }
char *am_config_dir(void) { return xdg_dir("XDG_CONFIG_HOME", ".config"); }
char *am_cache_dir(void) { return xdg_dir("XDG_CACHE_HOME", ".cache"); }

void
am_detach(void)
{
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
}

void
am_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}
