/* sshbuf.h - the SSH wire format (RFC 4251 section 5): big-endian uint32,
 * length-prefixed strings, and the "-----BEGIN X-----" base64 armor that
 * OpenSSH puts around private keys and signatures.
 *
 * The reader never copies: it hands out pointers into the caller's bytes
 * after checking every length against what is left, so a hostile length
 * field cannot read past the end.  The writer may hold secrets (private
 * keys), so it never leaves stale copies behind: growing wipes the old
 * block, and am_sshbuf_free() wipes before freeing.
 *
 * Ownership: a writer's memory is released with am_sshbuf_free();
 * am_sshbuf_detach() hands it to the caller (free() it, after
 * sodium_memzero() if it held a secret).  am_sshbuf_armor() and
 * am_sshbuf_dearmor() return memory the caller frees the same way.
 */
#ifndef AM_SSHBUF_H
#define AM_SSHBUF_H

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer. */
struct am_sshbuf {
	unsigned char *data;
	size_t len, cap;
};
#define AM_SSHBUF_INIT { NULL, 0, 0 }

/* A bounds-checked cursor over bytes the caller owns. */
struct am_sshbuf_reader {
	const unsigned char *data;
	size_t len, off;
};

void am_sshbuf_put(struct am_sshbuf *b, const void *p, size_t n);
void am_sshbuf_put_u8(struct am_sshbuf *b, uint8_t v);
void am_sshbuf_put_u32(struct am_sshbuf *b, uint32_t v);
/* uint32 length, then the n bytes. */
void am_sshbuf_put_string(struct am_sshbuf *b, const void *p, size_t n);
void am_sshbuf_put_cstring(struct am_sshbuf *b, const char *s);
/* Append another buffer's contents as one string. */
void am_sshbuf_put_stringb(struct am_sshbuf *b, const struct am_sshbuf *inner);
/* Hand the bytes to the caller (NULL if empty); b is reset. */
unsigned char *am_sshbuf_detach(struct am_sshbuf *b, size_t *len);
/* Wipe and free; b is reset and may be reused. */
void am_sshbuf_free(struct am_sshbuf *b);

/* Start reading n bytes at p. */
void am_sshbuf_reader_init(struct am_sshbuf_reader *r, const void *p, size_t n);
/* Bytes not yet read. */
size_t am_sshbuf_remaining(const struct am_sshbuf_reader *r);
/* The readers below return 0, or -1 (cursor unchanged) if the data is short
 * or does not match. */
/* n raw bytes; *p points into the reader's data. */
int am_sshbuf_get_bytes(struct am_sshbuf_reader *r, size_t n, const unsigned char **p);
int am_sshbuf_get_u8(struct am_sshbuf_reader *r, uint8_t *v);
int am_sshbuf_get_u32(struct am_sshbuf_reader *r, uint32_t *v);
/* A string; *p points into the reader's data (not NUL-terminated). */
int am_sshbuf_get_string(struct am_sshbuf_reader *r, const unsigned char **p, size_t *n);
/* A string of exactly n bytes. */
int am_sshbuf_get_string_len(struct am_sshbuf_reader *r, size_t n, const unsigned char **p);
/* A string equal to s (exact length, no trailing NUL). */
int am_sshbuf_get_string_eq(struct am_sshbuf_reader *r, const char *s);
/* Raw bytes equal to the n bytes at p (magic numbers). */
int am_sshbuf_get_magic(struct am_sshbuf_reader *r, const void *p, size_t n);

/* "-----BEGIN LABEL-----\n", standard base64 of d wrapped at 70 columns (as
 * OpenSSH writes it), "-----END LABEL-----\n". */
char *am_sshbuf_armor(const char *label, const unsigned char *d, size_t n);
/* Inverse of am_sshbuf_armor: text must start with the BEGIN line and end
 * with the END line (then only white space); the body is padded base64 with
 * LF or CRLF line breaks.  On error returns -1 and sets *why (static text). */
int am_sshbuf_dearmor(const char *label, const char *text, size_t tlen,
		      unsigned char **out, size_t *outlen, const char **why);

#endif
