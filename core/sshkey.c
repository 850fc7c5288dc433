/* sshkey.c - see sshkey.h
 *
 * Formats: PROTOCOL.key (openssh-key-v1), RFC 8709 (ed25519 blobs) and
 * draft-miller-ssh-agent (the agent protocol, two requests of it).  Parsing
 * is strict: every length is bounded, trailing bytes are errors, and a
 * private key must be internally consistent (its seed derives its public
 * key) before we sign anything with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <sodium.h>

#include "sshbuf.h"
#include "sshkey.h"
#include "util.h"

#define KEY_TYPE "ssh-ed25519"
#define AUTH_MAGIC "openssh-key-v1" /* written with its NUL */
#define PRIV_LABEL "OPENSSH PRIVATE KEY"
#define PRIV_BEGIN "-----BEGIN " PRIV_LABEL "-----"
#define BLOCKSIZE 8                  /* cipher "none" pads to 8 bytes */
#define KEY_FILE_MAX (64 * 1024)     /* an ed25519 key file is ~400 bytes */
#define BLOB_LEN 51

/* draft-miller-ssh-agent message numbers. */
#define SSH_AGENT_FAILURE 5
#define SSH2_AGENTC_REQUEST_IDENTITIES 11
#define SSH2_AGENT_IDENTITIES_ANSWER 12
#define SSH2_AGENTC_SIGN_REQUEST 13
#define SSH2_AGENT_SIGN_RESPONSE 14
#define AGENT_TIMEOUT_SEC 10
#define AGENT_MAX_LEN (256 * 1024) /* OpenSSH's AGENT_MAX_LEN */

/* Initialise libsodium (idempotent) before anything that draws randomness. */
static int
sodium_ready(struct am_error **err)
{
	if (sodium_init() < 0)
		return am_error_set(err, AM_EFAIL, "cannot initialise libsodium");
	return 0;
}

/* 1 if s has no control characters (it goes on a .pub line). */
static int
comment_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Copy at most 32 bytes of an untrusted name into out, for a message. */
static void
safe_name(char out[40], const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 32; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'') ? (char)p[i] : '?';
	if (n > 32) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* Parse an RFC 8709 public key blob into pk; the whole of p must be used. */
static int
parse_pub_blob(const unsigned char *p, size_t n, unsigned char pk[32])
{
	struct am_sshbuf_reader r;
	const unsigned char *q;

	am_sshbuf_reader_init(&r, p, n);
	if (am_sshbuf_get_string_eq(&r, KEY_TYPE) < 0 ||
	    am_sshbuf_get_string_len(&r, 32, &q) < 0 || am_sshbuf_remaining(&r) != 0)
		return -1;
	memcpy(pk, q, 32);
	return 0;
}

/* New random key pair. */
int
am_key_generate(const char *comment, struct am_key **out, struct am_error **err)
{
	struct am_key *k;

	if (comment && !comment_ok(comment, strlen(comment)))
		return am_error_set(err, AM_EUSAGE, "key comment must not contain control characters");
	if (sodium_ready(err) < 0)
		return -1;
	k = am_xcalloc(1, sizeof(*k));
	if (crypto_sign_keypair(k->pk, k->sk) != 0) {
		am_key_free(k);
		return am_error_set(err, AM_EFAIL, "cannot generate an ed25519 key");
	}
	k->has_secret = 1;
	k->comment = comment && *comment ? am_xstrdup(comment) : NULL;
	*out = k;
	return 0;
}

/* The 51-byte public blob. */
void
am_key_public_blob(const struct am_key *k, unsigned char out[51])
{
	static const unsigned char head[] = {
		0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 32,
	};

	memcpy(out, head, sizeof(head));
	memcpy(out + sizeof(head), k->pk, 32);
}

/* Parse "ssh-ed25519 AAAA... [comment]". */
int
am_key_parse_public(const char *line, struct am_key **out, struct am_error **err)
{
	const char *p = line, *t, *c, *e;
	unsigned char *blob = NULL, pk[32];
	size_t bloblen;
	char name[40];
	struct am_key *k;

	while (*p == ' ' || *p == '\t')
		p++;
	for (t = p; *t && *t != ' ' && *t != '\t' && *t != '\n' && *t != '\r'; t++)
		;
	if ((size_t)(t - p) != strlen(KEY_TYPE) || memcmp(p, KEY_TYPE, (size_t)(t - p)) != 0) {
		if (t == p)
			return am_error_set(err, AM_EUSAGE, "no public key found");
		safe_name(name, (const unsigned char *)p, (size_t)(t - p));
		return am_error_set(err, AM_EUSAGE,
				    "key type '%s' is not supported (only ssh-ed25519)", name);
	}
	while (*t == ' ' || *t == '\t')
		t++;
	for (c = t; *c && *c != ' ' && *c != '\t' && *c != '\n' && *c != '\r'; c++)
		;
	if (c == t || am_b64_decode(t, (size_t)(c - t), 0, &blob, &bloblen) < 0)
		return am_error_set(err, AM_EUSAGE, "invalid base64 in public key");
	/* The blob names its own type: it must agree with the line's. */
	if (parse_pub_blob(blob, bloblen, pk) < 0) {
		free(blob);
		return am_error_set(err, AM_EUSAGE, "invalid ssh-ed25519 public key blob");
	}
	free(blob);
	while (*c == ' ' || *c == '\t')
		c++;
	for (e = c; *e && *e != '\n' && *e != '\r'; e++)
		;
	while (e > c && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	k = am_xcalloc(1, sizeof(*k));
	memcpy(k->pk, pk, 32);
	if (e > c && comment_ok(c, (size_t)(e - c)))
		k->comment = am_xstrndup(c, (size_t)(e - c));
	*out = k;
	return 0;
}

/* "ssh-ed25519 AAAA...[ comment]". */
char *
am_key_public_line(const struct am_key *k)
{
	unsigned char blob[BLOB_LEN];
	AM_AUTOFREE char *b64 = NULL;

	am_key_public_blob(k, blob);
	b64 = am_b64_encode(blob, sizeof(blob), 0);
	return am_xasprintf(KEY_TYPE " %s%s%s", b64, k->comment ? " " : "",
			    k->comment ? k->comment : "");
}

/* "SHA256:..." as ssh-keygen -l prints it. */
char *
am_key_fingerprint(const struct am_key *k)
{
	unsigned char blob[BLOB_LEN], h[32];
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];

	am_key_public_blob(k, blob);
	am_sha256(h, blob, sizeof(blob));
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	return am_xasprintf("SHA256:%s", b64);
}

/* The private key file text (PROTOCOL.key, cipher and kdf "none"). */
char *
am_key_private_text(const struct am_key *k)
{
	struct am_sshbuf priv = AM_SSHBUF_INIT, outer = AM_SSHBUF_INIT;
	unsigned char blob[BLOB_LEN];
	uint32_t check;
	uint8_t pad;
	char *text;

	if (!k->has_secret || sodium_init() < 0)
		return NULL;
	/*
	 * The check integers exist so a wrong passphrase is detected after
	 * decryption; with no cipher any equal pair works, but ssh-keygen
	 * writes random ones and so do we.
	 */
	check = randombytes_random();
	am_sshbuf_put_u32(&priv, check);
	am_sshbuf_put_u32(&priv, check);
	am_sshbuf_put_cstring(&priv, KEY_TYPE);
	am_sshbuf_put_string(&priv, k->pk, 32);
	/* OpenSSH stores ed25519 secrets in the same seed || pk layout. */
	am_sshbuf_put_string(&priv, k->sk, 64);
	am_sshbuf_put_cstring(&priv, k->comment ? k->comment : "");
	for (pad = 1; priv.len % BLOCKSIZE != 0; pad++)
		am_sshbuf_put_u8(&priv, pad);

	am_key_public_blob(k, blob);
	am_sshbuf_put(&outer, AUTH_MAGIC, sizeof(AUTH_MAGIC));
	am_sshbuf_put_cstring(&outer, "none"); /* cipher */
	am_sshbuf_put_cstring(&outer, "none"); /* kdf */
	am_sshbuf_put_string(&outer, NULL, 0); /* kdf options */
	am_sshbuf_put_u32(&outer, 1);          /* number of keys */
	am_sshbuf_put_string(&outer, blob, sizeof(blob));
	am_sshbuf_put_stringb(&outer, &priv);
	text = am_sshbuf_armor(PRIV_LABEL, outer.data, outer.len);
	am_sshbuf_free(&priv);
	am_sshbuf_free(&outer);
	return text;
}

/*
 * Parse a decoded openssh-key-v1 blob into k.  An encrypted key fills only
 * k->pk (the public half is stored in the clear) and sets *encrypted.
 * On error returns -1 with *why.
 */
static int
parse_private(const unsigned char *bin, size_t n, struct am_key *k, int *encrypted,
	      const char **why)
{
	struct am_sshbuf_reader r, pr;
	const unsigned char *pub, *priv, *pk2, *sk, *cmt, *pad;
	size_t publen, privlen, cmtlen, padlen, i;
	uint32_t nkeys, c1, c2;
	unsigned char dpk[32], dsk[64];

	*encrypted = 0;
	am_sshbuf_reader_init(&r, bin, n);
	if (am_sshbuf_get_magic(&r, AUTH_MAGIC, sizeof(AUTH_MAGIC)) < 0) {
		*why = "not an openssh-key-v1 key";
		return -1;
	}
	if (am_sshbuf_get_string_eq(&r, "none") < 0) {
		/* Any other cipher: the public key below is still readable. */
		*encrypted = 1;
		if (am_sshbuf_get_string(&r, NULL, NULL) < 0 ||
		    am_sshbuf_get_string(&r, NULL, NULL) < 0 ||
		    am_sshbuf_get_string(&r, NULL, NULL) < 0)
			goto trunc;
	} else if (am_sshbuf_get_string_eq(&r, "none") < 0 ||
		   am_sshbuf_get_string_len(&r, 0, NULL) < 0) {
		*why = "unencrypted key with a kdf";
		return -1;
	}
	if (am_sshbuf_get_u32(&r, &nkeys) < 0)
		goto trunc;
	if (nkeys != 1) {
		*why = "file must hold exactly one key";
		return -1;
	}
	if (am_sshbuf_get_string(&r, &pub, &publen) < 0)
		goto trunc;
	if (parse_pub_blob(pub, publen, k->pk) < 0) {
		*why = "not an ssh-ed25519 key";
		return -1;
	}
	if (*encrypted)
		return 0;
	if (am_sshbuf_get_string(&r, &priv, &privlen) < 0)
		goto trunc;
	if (am_sshbuf_remaining(&r) != 0) {
		*why = "trailing data";
		return -1;
	}
	if (privlen % BLOCKSIZE != 0) {
		*why = "private section not padded to the block size";
		return -1;
	}
	am_sshbuf_reader_init(&pr, priv, privlen);
	if (am_sshbuf_get_u32(&pr, &c1) < 0 || am_sshbuf_get_u32(&pr, &c2) < 0)
		goto trunc;
	if (c1 != c2) {
		*why = "check integers differ (corrupt key)";
		return -1;
	}
	if (am_sshbuf_get_string_eq(&pr, KEY_TYPE) < 0 ||
	    am_sshbuf_get_string_len(&pr, 32, &pk2) < 0 ||
	    am_sshbuf_get_string_len(&pr, 64, &sk) < 0 ||
	    am_sshbuf_get_string(&pr, &cmt, &cmtlen) < 0) {
		*why = "malformed ssh-ed25519 private key";
		return -1;
	}
	/* Deterministic padding 1, 2, 3, ... (as OpenSSH checks it). */
	padlen = am_sshbuf_remaining(&pr);
	if (am_sshbuf_get_bytes(&pr, padlen, &pad) < 0)
		goto trunc;
	for (i = 0; i < padlen; i++)
		if (pad[i] != (unsigned char)((i + 1) & 0xff)) {
			*why = "bad padding";
			return -1;
		}
	/*
	 * Three copies of the public key must agree: the clear header, the
	 * private section, and the one derived from the secret seed.  A key
	 * whose halves disagree would sign as someone other than it claims.
	 */
	if (crypto_sign_seed_keypair(dpk, dsk, sk) != 0) {
		*why = "cannot derive the public key";
		return -1;
	}
	sodium_memzero(dsk, sizeof(dsk));
	if (memcmp(pk2, k->pk, 32) != 0 || memcmp(sk + 32, k->pk, 32) != 0 ||
	    memcmp(dpk, k->pk, 32) != 0) {
		*why = "public and private halves do not match";
		return -1;
	}
	memcpy(k->sk, sk, 64);
	k->has_secret = 1;
	if (cmtlen > 0 && comment_ok((const char *)cmt, cmtlen))
		k->comment = am_xstrndup((const char *)cmt, cmtlen);
	return 0;
trunc:
	*why = "truncated";
	return -1;
}

/* Wipe and free a key file's text. */
static void
wipe_free(void *p, size_t n)
{
	if (p) {
		sodium_memzero(p, n);
		free(p);
	}
}

/*
 * Read a key file into a fixed-size buffer: am_read_fd grows with realloc,
 * which would leave copies of the private key in freed memory.  O_NONBLOCK
 * keeps a FIFO from hanging us at open; non-regular files are refused.
 */
static int
read_key_file(const char *path, char **out, size_t *outlen, struct stat *st,
	      struct am_error **err)
{
	AM_AUTOCLOSE int fd = -1;
	char *buf;
	size_t len = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return am_error_set(err, errno == ENOENT ? AM_ENOTFOUND : AM_EFAIL,
				    "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, st) < 0)
		return am_error_set(err, AM_EFAIL, "cannot stat '%s': %s", path, strerror(errno));
	if (!S_ISREG(st->st_mode))
		return am_error_set(err, AM_EUSAGE, "'%s' is not a regular file", path);
	buf = am_xmalloc(KEY_FILE_MAX + 1);
	for (;;) {
		n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			wipe_free(buf, KEY_FILE_MAX + 1);
			return am_error_set(err, AM_EFAIL, "cannot read '%s': %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_FILE_MAX) {
			wipe_free(buf, KEY_FILE_MAX + 1);
			return am_error_set(err, AM_EUSAGE, "'%s' is too large for a key file", path);
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* The first line of text that is not blank or a # comment, or NULL. */
static const char *
first_key_line(const char *text)
{
	const char *p = text;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '#' && *p != '\n' && *p != '\r' && *p != '\0')
			return p;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return NULL;
}

/*
 * Parse key file text (private or public) into a new key.  Private keys are
 * checked for permissions first when check_perms is set.
 */
static int
parse_key_text(const char *path, const char *text, size_t len, const struct stat *st,
	       int check_perms, int *encrypted, struct am_key **out, struct am_error **err)
{
	unsigned char *bin = NULL;
	size_t binlen = 0;
	const char *why = NULL, *line;
	struct am_key *k;
	int r;

	*encrypted = 0;
	if (am_starts_with(text, PRIV_BEGIN)) {
		/*
		 * As ssh: a private key others can read is as good as
		 * leaked, and using it silently would teach people that is
		 * fine.  Checked on the open file, so no race with chmod.
		 */
		if (check_perms && (st->st_mode & 077) != 0)
			return am_error_set(err, AM_EAUTH, "'%s': permissions %04o are too open",
					    path, (unsigned)(st->st_mode & 0777));
		if (am_sshbuf_dearmor(PRIV_LABEL, text, len, &bin, &binlen, &why) < 0)
			return am_error_set(err, AM_EUSAGE, "'%s': invalid private key: %s",
					    path, why);
		k = am_xcalloc(1, sizeof(*k));
		r = parse_private(bin, binlen, k, encrypted, &why);
		wipe_free(bin, binlen);
		if (r < 0) {
			am_key_free(k);
			return am_error_set(err, AM_EUSAGE, "'%s': invalid private key: %s",
					    path, why);
		}
		*out = k;
		return 0;
	}
	if (am_starts_with(text, "-----BEGIN "))
		return am_error_set(err, AM_EUSAGE,
				    "'%s': unsupported key format (only ed25519 in OpenSSH format)",
				    path);
	line = first_key_line(text);
	if (line == NULL)
		return am_error_set(err, AM_EUSAGE, "'%s': no public key found", path);
	if (memchr(text, '\0', len) != NULL)
		return am_error_set(err, AM_EUSAGE, "'%s': not a key file", path);
	if (am_key_parse_public(line, out, err) < 0)
		return am_error_prefix(err, "'%s'", path);
	return 0;
}

/* Send all of p on a socket, without SIGPIPE if the peer is gone. */
static int
send_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Receive exactly n bytes; -1 with errno (0 means the peer closed). */
static int
recv_all(int fd, unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = 0;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * One request/response exchange with the agent at sock.  The reply (type
 * byte first) is returned in *resp.  A timeout bounds every read and write:
 * an agent that waits for a confirmation nobody gives, or a socket that
 * accepts and never answers, must not hang am forever.
 */
static int
agent_call(const char *sock, const struct am_sshbuf *req, unsigned char **resp,
	   size_t *rlen, struct am_error **err)
{
	struct sockaddr_un sa;
	struct timeval tv = { AGENT_TIMEOUT_SEC, 0 };
	struct am_sshbuf msg = AM_SSHBUF_INIT;
	AM_AUTOCLOSE int fd = -1;
	unsigned char hdr[4], *buf;
	uint32_t len;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return am_error_set(err, AM_EAUTH, "ssh-agent socket path '%s' is too long", sock);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return am_error_set(err, AM_EFAIL, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return am_error_set(err, AM_EFAIL, "setsockopt: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return am_error_set(err, AM_EAUTH, "cannot reach ssh-agent at '%s': %s", sock,
				    strerror(errno));
	am_sshbuf_put_stringb(&msg, req);
	r = send_all(fd, msg.data, msg.len);
	am_sshbuf_free(&msg);
	if (r < 0)
		return am_error_set(err, AM_EAUTH, "cannot talk to ssh-agent at '%s': %s", sock,
				    strerror(errno));
	if (recv_all(fd, hdr, 4) < 0)
		goto recv_fail;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > AGENT_MAX_LEN)
		return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' sent a malformed reply", sock);
	buf = am_xmalloc(len);
	if (recv_all(fd, buf, len) < 0) {
		free(buf);
		goto recv_fail;
	}
	*resp = buf;
	*rlen = len;
	return 0;
recv_fail:
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' did not answer within %d s",
				    sock, AGENT_TIMEOUT_SEC);
	if (errno == 0)
		return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' closed the connection", sock);
	return am_error_set(err, AM_EAUTH, "cannot talk to ssh-agent at '%s': %s", sock,
			    strerror(errno));
}

/* 1 if the agent at sock holds blob, 0 if not, -1 on error. */
static int
agent_has_key(const char *sock, const unsigned char blob[BLOB_LEN], struct am_error **err)
{
	struct am_sshbuf req = AM_SSHBUF_INIT;
	struct am_sshbuf_reader r;
	AM_AUTOFREE unsigned char *resp = NULL;
	const unsigned char *p;
	size_t rlen, n;
	uint32_t nkeys, i;
	uint8_t type;
	int found = 0;

	am_sshbuf_put_u8(&req, SSH2_AGENTC_REQUEST_IDENTITIES);
	if (agent_call(sock, &req, &resp, &rlen, err) < 0) {
		am_sshbuf_free(&req);
		return -1;
	}
	am_sshbuf_free(&req);
	am_sshbuf_reader_init(&r, resp, rlen);
	if (am_sshbuf_get_u8(&r, &type) < 0 || type != SSH2_AGENT_IDENTITIES_ANSWER ||
	    am_sshbuf_get_u32(&r, &nkeys) < 0)
		goto bad;
	for (i = 0; i < nkeys; i++) {
		if (am_sshbuf_get_string(&r, &p, &n) < 0 ||
		    am_sshbuf_get_string(&r, NULL, NULL) < 0)
			goto bad;
		if (n == BLOB_LEN && memcmp(p, blob, BLOB_LEN) == 0)
			found = 1;
	}
	if (am_sshbuf_remaining(&r) != 0)
		goto bad;
	return found;
bad:
	return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' sent a malformed identities reply",
			    sock);
}

/* Sign msg through the agent and check the result. */
static int
agent_sign(const struct am_key *k, const void *msg, size_t len, unsigned char sig[64],
	   struct am_error **err)
{
	struct am_sshbuf req = AM_SSHBUF_INIT;
	struct am_sshbuf_reader r, sr;
	AM_AUTOFREE unsigned char *resp = NULL;
	AM_AUTOFREE char *fp = NULL;
	unsigned char blob[BLOB_LEN];
	const unsigned char *p, *s;
	size_t rlen, n;
	uint8_t type;

	/* The agent refuses messages over AGENT_MAX_LEN; say so ourselves. */
	if (len > AGENT_MAX_LEN - 256)
		return am_error_set(err, AM_EUSAGE, "message of %zu bytes is too large to sign "
				    "through ssh-agent", len);
	am_key_public_blob(k, blob);
	am_sshbuf_put_u8(&req, SSH2_AGENTC_SIGN_REQUEST);
	am_sshbuf_put_string(&req, blob, sizeof(blob));
	am_sshbuf_put_string(&req, msg, len);
	am_sshbuf_put_u32(&req, 0); /* flags: none apply to ed25519 */
	if (agent_call(k->agent_sock, &req, &resp, &rlen, err) < 0) {
		am_sshbuf_free(&req);
		return -1;
	}
	am_sshbuf_free(&req);
	am_sshbuf_reader_init(&r, resp, rlen);
	if (am_sshbuf_get_u8(&r, &type) < 0)
		goto bad;
	if (type == SSH_AGENT_FAILURE) {
		fp = am_key_fingerprint(k);
		return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' refused to sign with %s",
				    k->agent_sock, fp);
	}
	if (type != SSH2_AGENT_SIGN_RESPONSE || am_sshbuf_get_string(&r, &p, &n) < 0 ||
	    am_sshbuf_remaining(&r) != 0)
		goto bad;
	am_sshbuf_reader_init(&sr, p, n);
	if (am_sshbuf_get_string_eq(&sr, KEY_TYPE) < 0 ||
	    am_sshbuf_get_string_len(&sr, 64, &s) < 0 || am_sshbuf_remaining(&sr) != 0)
		goto bad;
	/*
	 * Check the agent's work: a signature by some other key (a confused
	 * or hostile agent) would otherwise surface much later, as a
	 * verification failure far from its cause.
	 */
	if (!am_ed25519_verify(k->pk, msg, len, s))
		return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' returned an invalid signature",
				    k->agent_sock);
	memcpy(sig, s, 64);
	return 0;
bad:
	return am_error_set(err, AM_EAUTH, "ssh-agent at '%s' sent a malformed signature reply",
			    k->agent_sock);
}

/* Load a key to sign with: a private key file, or a .pub held by ssh-agent. */
int
am_key_load(const char *path, struct am_key **out, struct am_error **err)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	struct am_key *k = NULL;
	unsigned char blob[BLOB_LEN];
	const char *sock;
	int encrypted, r;

	if (read_key_file(path, &text, &len, &st, err) < 0)
		return -1;
	r = parse_key_text(path, text, len, &st, 1, &encrypted, &k, err);
	wipe_free(text, KEY_FILE_MAX + 1);
	if (r < 0)
		return -1;
	if (encrypted) {
		/*
		 * No passphrase prompts in am: an agent already holds the
		 * decrypted key under the user's control.
		 */
		am_key_free(k);
		return am_error_set(err, AM_EAUTH,
				    "'%s' is encrypted; load it into ssh-agent and pass the .pub file",
				    path);
	}
	if (k->has_secret) {
		*out = k;
		return 0;
	}
	sock = getenv("SSH_AUTH_SOCK");
	if (sock == NULL || *sock == '\0') {
		am_key_free(k);
		return am_error_set(err, AM_EAUTH,
				    "no ssh-agent ($SSH_AUTH_SOCK unset) to sign with '%s'", path);
	}
	/* Ask now, so a missing key fails at load and not at first signature. */
	am_key_public_blob(k, blob);
	r = agent_has_key(sock, blob, err);
	if (r <= 0) {
		if (r == 0) {
			AM_AUTOFREE char *fp = am_key_fingerprint(k);

			am_error_set(err, AM_EAUTH,
				     "ssh-agent at '%s' does not hold the key of '%s' (%s); "
				     "add it with ssh-add", sock, path, fp);
		}
		am_key_free(k);
		return -1;
	}
	k->agent_sock = am_xstrdup(sock);
	*out = k;
	return 0;
}

/* Load only the public half of a .pub or private key file. */
int
am_key_load_public(const char *path, struct am_key **out, struct am_error **err)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	struct am_key *k = NULL;
	int encrypted, r;

	if (read_key_file(path, &text, &len, &st, err) < 0)
		return -1;
	r = parse_key_text(path, text, len, &st, 0, &encrypted, &k, err);
	wipe_free(text, KEY_FILE_MAX + 1);
	if (r < 0)
		return -1;
	/* The caller asked for the public half only: do not keep the secret. */
	sodium_memzero(k->sk, sizeof(k->sk));
	k->has_secret = 0;
	*out = k;
	return 0;
}

/* Create path with mode and write data; refuses to replace a file. */
static int
write_new(const char *path, const char *data, size_t len, int mode, struct am_error **err)
{
	int fd, saved;

	/* O_EXCL|O_NOFOLLOW: never overwrite, never write through a symlink. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return am_error_set(err, AM_EUSAGE, "'%s' already exists", path);
		return am_error_set(err, AM_EFAIL, "cannot create '%s': %s", path, strerror(errno));
	}
	/* The umask may have dropped bits from a .pub; set exactly mode. */
	if (fchmod(fd, (mode_t)mode) < 0 || am_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return am_error_set(err, AM_EFAIL, "cannot write '%s': %s", path, strerror(saved));
}

/* Write PATH (0600) and PATH.pub (0644). */
int
am_key_write_pair(const struct am_key *k, const char *path, struct am_error **err)
{
	AM_AUTOFREE char *pubpath = am_xasprintf("%s.pub", path);
	AM_AUTOFREE char *line = NULL, *publine = NULL;
	struct stat st;
	char *text;
	int r;

	if (!k->has_secret)
		return am_error_set(err, AM_EUSAGE, "cannot write a key pair without its private half");
	if (lstat(pubpath, &st) == 0)
		return am_error_set(err, AM_EUSAGE, "'%s' already exists", pubpath);
	text = am_key_private_text(k);
	if (text == NULL)
		return am_error_set(err, AM_EFAIL, "cannot initialise libsodium");
	r = write_new(path, text, strlen(text), 0600, err);
	wipe_free(text, strlen(text));
	if (r < 0)
		return -1;
	line = am_key_public_line(k);
	publine = am_xasprintf("%s\n", line);
	if (write_new(pubpath, publine, strlen(publine), 0644, err) < 0) {
		/* Do not leave half a pair behind. */
		unlink(path);
		return -1;
	}
	return 0;
}

/* Raw ed25519 signature, in process or through the agent. */
int
am_key_sign(const struct am_key *k, const void *msg, size_t len, unsigned char sig[64],
	    struct am_error **err)
{
	if (k->has_secret) {
		if (sodium_ready(err) < 0)
			return -1;
		if (crypto_sign_detached(sig, NULL, msg, len, k->sk) != 0)
			return am_error_set(err, AM_EFAIL, "ed25519 signing failed");
		return 0;
	}
	if (k->agent_sock)
		return agent_sign(k, msg, len, sig, err);
	return am_error_set(err, AM_EAUTH, "no private key or ssh-agent to sign with");
}

/* 1 if sig is a valid signature of msg by pk. */
int
am_ed25519_verify(const unsigned char pk[32], const void *msg, size_t len,
		  const unsigned char sig[64])
{
	/*
	 * libsodium rejects non-canonical S and small-order keys, so a
	 * signature cannot be malleated into a second valid one.
	 */
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

/* Free k, wiping the secret. */
void
am_key_free(struct am_key *k)
{
	if (k == NULL)
		return;
	free(k->agent_sock);
	free(k->comment);
	sodium_memzero(k, sizeof(*k));
	free(k);
}
