/* sshbuf.c - see sshbuf.h */
#include <sodium.h>

#include "sshbuf.h"
#include "util.h"

/* OpenSSH wraps armored base64 at 70 columns (sshbuf_dtob64 with wrap). */
#define ARMOR_COLS 70

/* Make room for extra more bytes. */
static void
sshbuf_reserve(struct am_sshbuf *b, size_t extra)
{
	size_t need, cap;
	unsigned char *p;

	if (__builtin_add_overflow(b->len, extra, &need))
		am_die_oom();
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 128;
	while (cap < need)
		if (__builtin_mul_overflow(cap, 2, &cap))
			am_die_oom();
	/*
	 * Not realloc(): it may move the data and free the old block with a
	 * private key still in it.  Copy, then wipe the old block ourselves.
	 */
	p = am_xmalloc(cap);
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
}

/* Append n raw bytes. */
void
am_sshbuf_put(struct am_sshbuf *b, const void *p, size_t n)
{
	sshbuf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append one byte. */
void
am_sshbuf_put_u8(struct am_sshbuf *b, uint8_t v)
{
	am_sshbuf_put(b, &v, 1);
}

/* Append a big-endian uint32. */
void
am_sshbuf_put_u32(struct am_sshbuf *b, uint32_t v)
{
	unsigned char c[4];

	c[0] = (unsigned char)(v >> 24);
	c[1] = (unsigned char)(v >> 16);
	c[2] = (unsigned char)(v >> 8);
	c[3] = (unsigned char)v;
	am_sshbuf_put(b, c, 4);
}

/* Append a length-prefixed string. */
void
am_sshbuf_put_string(struct am_sshbuf *b, const void *p, size_t n)
{
	/* Every caller builds small blobs; a 4 GiB string is a bug. */
	if (n > UINT32_MAX)
		abort();
	am_sshbuf_put_u32(b, (uint32_t)n);
	am_sshbuf_put(b, p, n);
}

/* Append a C string as a string (without its NUL). */
void
am_sshbuf_put_cstring(struct am_sshbuf *b, const char *s)
{
	am_sshbuf_put_string(b, s, s ? strlen(s) : 0);
}

/* Append another buffer's contents as one string. */
void
am_sshbuf_put_stringb(struct am_sshbuf *b, const struct am_sshbuf *inner)
{
	am_sshbuf_put_string(b, inner->data, inner->len);
}

/* Hand the bytes to the caller; b is reset. */
unsigned char *
am_sshbuf_detach(struct am_sshbuf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Wipe and free. */
void
am_sshbuf_free(struct am_sshbuf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Start reading n bytes at p. */
void
am_sshbuf_reader_init(struct am_sshbuf_reader *r, const void *p, size_t n)
{
	r->data = p;
	r->len = n;
	r->off = 0;
}

/* Bytes not yet read. */
size_t
am_sshbuf_remaining(const struct am_sshbuf_reader *r)
{
	return r->len - r->off;
}

/* n raw bytes. */
int
am_sshbuf_get_bytes(struct am_sshbuf_reader *r, size_t n, const unsigned char **p)
{
	/* Compare against what is left, never off + n: that sum can wrap. */
	if (n > r->len - r->off)
		return -1;
	if (p)
		*p = r->data + r->off;
	r->off += n;
	return 0;
}

/* One byte. */
int
am_sshbuf_get_u8(struct am_sshbuf_reader *r, uint8_t *v)
{
	const unsigned char *p;

	if (am_sshbuf_get_bytes(r, 1, &p) < 0)
		return -1;
	*v = p[0];
	return 0;
}

/* A big-endian uint32. */
int
am_sshbuf_get_u32(struct am_sshbuf_reader *r, uint32_t *v)
{
	const unsigned char *p;

	if (am_sshbuf_get_bytes(r, 4, &p) < 0)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

/* A length-prefixed string. */
int
am_sshbuf_get_string(struct am_sshbuf_reader *r, const unsigned char **p, size_t *n)
{
	size_t save = r->off;
	uint32_t len;

	if (am_sshbuf_get_u32(r, &len) < 0)
		return -1;
	if (am_sshbuf_get_bytes(r, len, p) < 0) {
		r->off = save;
		return -1;
	}
	if (n)
		*n = len;
	return 0;
}

/* A string of exactly n bytes. */
int
am_sshbuf_get_string_len(struct am_sshbuf_reader *r, size_t n, const unsigned char **p)
{
	size_t save = r->off, len;
	const unsigned char *q;

	if (am_sshbuf_get_string(r, &q, &len) < 0)
		return -1;
	if (len != n) {
		r->off = save;
		return -1;
	}
	if (p)
		*p = q;
	return 0;
}

/* A string equal to s. */
int
am_sshbuf_get_string_eq(struct am_sshbuf_reader *r, const char *s)
{
	size_t save = r->off, n = strlen(s);
	const unsigned char *q;

	if (am_sshbuf_get_string_len(r, n, &q) < 0)
		return -1;
	if (n && memcmp(q, s, n) != 0) {
		r->off = save;
		return -1;
	}
	return 0;
}

/* Raw bytes equal to p. */
int
am_sshbuf_get_magic(struct am_sshbuf_reader *r, const void *p, size_t n)
{
	size_t save = r->off;
	const unsigned char *q;

	if (am_sshbuf_get_bytes(r, n, &q) < 0)
		return -1;
	if (memcmp(q, p, n) != 0) {
		r->off = save;
		return -1;
	}
	return 0;
}

/* Armor d as OpenSSH does. */
char *
am_sshbuf_armor(const char *label, const unsigned char *d, size_t n)
{
	size_t b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	size_t chars = b64len - 1, lines = (chars + ARMOR_COLS - 1) / ARMOR_COLS;
	size_t cap, i, o;
	char *b64, *out;
	int w;

	/*
	 * Sized exactly up front: the text may be a private key, and a
	 * growing buffer would leave partial copies of it in freed memory.
	 */
	cap = 2 * (strlen(label) + 16) + chars + lines + 1;
	out = am_xmalloc(cap);
	b64 = am_xmalloc(b64len);
	sodium_bin2base64(b64, b64len, d, n, sodium_base64_VARIANT_ORIGINAL);
	w = snprintf(out, cap, "-----BEGIN %s-----\n", label);
	o = (size_t)w;
	for (i = 0; i < chars; i += ARMOR_COLS) {
		size_t k = chars - i < ARMOR_COLS ? chars - i : ARMOR_COLS;

		memcpy(out + o, b64 + i, k);
		o += k;
		out[o++] = '\n';
	}
	snprintf(out + o, cap - o, "-----END %s-----\n", label);
	sodium_memzero(b64, b64len);
	free(b64);
	return out;
}

/* Match "-----BEGIN|END LABEL-----" at p; returns its length or 0. */
static size_t
armor_line(const char *p, size_t n, const char *kind, const char *label)
{
	size_t kl = strlen(kind), ll = strlen(label), len = 5 + kl + 1 + ll + 5;

	if (n < len || memcmp(p, "-----", 5) != 0 || memcmp(p + 5, kind, kl) != 0 ||
	    p[5 + kl] != ' ' || memcmp(p + 6 + kl, label, ll) != 0 ||
	    memcmp(p + 6 + kl + ll, "-----", 5) != 0)
		return 0;
	return len;
}

/* Undo am_sshbuf_armor. */
int
am_sshbuf_dearmor(const char *label, const char *text, size_t tlen,
		  unsigned char **out, size_t *outlen, const char **why)
{
	size_t i, n, k, bl = 0, binlen, cap = 0;
	char *b64 = NULL;
	unsigned char *bin = NULL;
	int ended = 0;

	n = armor_line(text, tlen, "BEGIN", label);
	if (n == 0) {
		*why = "missing BEGIN line";
		return -1;
	}
	i = n;
	if (i < tlen && text[i] == '\r')
		i++;
	if (i >= tlen || text[i] != '\n') {
		*why = "missing newline after BEGIN line";
		return -1;
	}
	i++;
	/*
	 * Collect the base64 characters, line by line, into a buffer no larger
	 * than the input; anything but the alphabet, padding and line breaks
	 * is rejected rather than skipped.
	 */
	b64 = am_xmalloc(tlen + 1);
	while (i < tlen) {
		if (text[i] == '-') {
			k = armor_line(text + i, tlen - i, "END", label);
			if (k == 0 || (i > 0 && text[i - 1] != '\n'))
				break;
			i += k;
			ended = 1;
			break;
		}
		if (text[i] == '\n' || text[i] == '\r') {
			i++;
			continue;
		}
		if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
		      (text[i] >= '0' && text[i] <= '9') || text[i] == '+' || text[i] == '/' ||
		      text[i] == '=')) {
			*why = "invalid character in base64 body";
			goto fail;
		}
		b64[bl++] = text[i++];
	}
	if (!ended) {
		*why = "missing END line";
		goto fail;
	}
	for (; i < tlen; i++)
		if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ' && text[i] != '\t') {
			*why = "data after END line";
			goto fail;
		}
	if (bl == 0 || bl % 4 != 0) {
		*why = "truncated base64 body";
		goto fail;
	}
	cap = bl / 4 * 3;
	bin = am_xmalloc(cap);
	if (sodium_base642bin(bin, cap, b64, bl, NULL, &binlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		*why = "invalid base64 body";
		goto fail;
	}
	sodium_memzero(b64, tlen + 1);
	free(b64);
	*out = bin;
	*outlen = binlen;
	return 0;
fail:
	sodium_memzero(b64, tlen + 1);
	free(b64);
	if (bin) {
		sodium_memzero(bin, cap);
		free(bin);
	}
	return -1;
}
