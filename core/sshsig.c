/* sshsig.c - see sshsig.h
 *
 * PROTOCOL.sshsig: the signature covers not the message but
 *
 *	"SSHSIG" || string namespace || string reserved || string hash_alg ||
 *	string H(message)
 *
 * The magic keeps these signatures from ever being mistaken for an SSH
 * authentication signature made with the same key, and the namespace keeps
 * a signature made for one purpose (say "file") from being replayed for
 * another ("git").  Hashing first keeps what a remote agent is sent small.
 */
#include <sodium.h>

#include "sshbuf.h"
#include "sshsig.h"
#include "util.h"

#define MAGIC "SSHSIG"
#define MAGIC_LEN 6
#define SIG_VERSION 1
#define SIG_LABEL "SSH SIGNATURE"
#define KEY_TYPE "ssh-ed25519"

/* The bytes that are actually signed, for hash algorithm alg. */
static void
signed_data(struct am_sshbuf *b, const char *ns, size_t nslen, const char *alg,
	    const void *msg, size_t len)
{
	unsigned char h[crypto_hash_sha512_BYTES];
	size_t hlen;

	if (strcmp(alg, "sha256") == 0) {
		crypto_hash_sha256(h, msg, len);
		hlen = crypto_hash_sha256_BYTES;
	} else {
		crypto_hash_sha512(h, msg, len);
		hlen = crypto_hash_sha512_BYTES;
	}
	am_sshbuf_put(b, MAGIC, MAGIC_LEN);
	am_sshbuf_put_string(b, ns, nslen);
	am_sshbuf_put_string(b, NULL, 0); /* reserved */
	am_sshbuf_put_cstring(b, alg);
	am_sshbuf_put_string(b, h, hlen);
}

/* Sign msg under namespace ns; returns the armored signature. */
char *
am_sshsig_sign(const struct am_key *k, const char *ns, const void *msg, size_t len,
	       struct am_error **err)
{
	struct am_sshbuf tbs = AM_SSHBUF_INIT, blob = AM_SSHBUF_INIT, sigb = AM_SSHBUF_INIT;
	unsigned char pub[51], sig[64];
	char *armored = NULL;

	/* PROTOCOL.sshsig: "The namespace value MUST NOT be the empty string." */
	if (ns == NULL || *ns == '\0') {
		am_error_set(err, AM_EUSAGE, "signature namespace must not be empty");
		return NULL;
	}
	/* Always sha512: the default of ssh-keygen and what git expects. */
	signed_data(&tbs, ns, strlen(ns), "sha512", msg, len);
	if (am_key_sign(k, tbs.data, tbs.len, sig, err) < 0)
		goto out;
	am_key_public_blob(k, pub);
	am_sshbuf_put_cstring(&sigb, KEY_TYPE);
	am_sshbuf_put_string(&sigb, sig, sizeof(sig));
	am_sshbuf_put(&blob, MAGIC, MAGIC_LEN);
	am_sshbuf_put_u32(&blob, SIG_VERSION);
	am_sshbuf_put_string(&blob, pub, sizeof(pub));
	am_sshbuf_put_cstring(&blob, ns);
	am_sshbuf_put_string(&blob, NULL, 0); /* reserved */
	am_sshbuf_put_cstring(&blob, "sha512");
	am_sshbuf_put_stringb(&blob, &sigb);
	armored = am_sshbuf_armor(SIG_LABEL, blob.data, blob.len);
out:
	am_sshbuf_free(&tbs);
	am_sshbuf_free(&blob);
	am_sshbuf_free(&sigb);
	return armored;
}

/* 1 if the n bytes at p are the C string s. */
static int
bytes_eq(const unsigned char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Verify an armored signature over msg in namespace ns. */
int
am_sshsig_verify(const char *armored, size_t alen, const char *ns, const void *msg,
		 size_t len, unsigned char pk_out[32], struct am_error **err)
{
	struct am_sshbuf_reader r, kr, sr;
	struct am_sshbuf tbs = AM_SSHBUF_INIT;
	AM_AUTOFREE unsigned char *blob = NULL;
	const unsigned char *pub, *sns, *res, *alg, *sig, *s, *pk;
	size_t bloblen, publen, snslen, reslen, alglen, siglen;
	const char *why = NULL, *algname;
	uint32_t version;
	int ok;

	if (ns == NULL || *ns == '\0')
		return am_error_set(err, AM_EUSAGE, "signature namespace must not be empty");
	if (am_sshbuf_dearmor(SIG_LABEL, armored, alen, &blob, &bloblen, &why) < 0)
		return am_error_set(err, AM_EINTEGRITY, "bad ssh signature: %s", why);
	am_sshbuf_reader_init(&r, blob, bloblen);
	if (am_sshbuf_get_magic(&r, MAGIC, MAGIC_LEN) < 0)
		return am_error_set(err, AM_EINTEGRITY, "bad ssh signature: no SSHSIG magic");
	if (am_sshbuf_get_u32(&r, &version) < 0)
		goto trunc;
	/* PROTOCOL.sshsig: reject versions newer than we understand. */
	if (version != SIG_VERSION)
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: unsupported version %u", version);
	if (am_sshbuf_get_string(&r, &pub, &publen) < 0 ||
	    am_sshbuf_get_string(&r, &sns, &snslen) < 0 ||
	    am_sshbuf_get_string(&r, &res, &reslen) < 0 ||
	    am_sshbuf_get_string(&r, &alg, &alglen) < 0 ||
	    am_sshbuf_get_string(&r, &sig, &siglen) < 0)
		goto trunc;
	if (am_sshbuf_remaining(&r) != 0)
		return am_error_set(err, AM_EINTEGRITY, "bad ssh signature: trailing data");

	am_sshbuf_reader_init(&kr, pub, publen);
	if (am_sshbuf_get_string_eq(&kr, KEY_TYPE) < 0 ||
	    am_sshbuf_get_string_len(&kr, 32, &pk) < 0 || am_sshbuf_remaining(&kr) != 0)
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: signer key is not ssh-ed25519");
	/* Namespaces are compared as bytes: an embedded NUL cannot match. */
	if (!bytes_eq(sns, snslen, ns))
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: not made for namespace '%s'", ns);
	/*
	 * PROTOCOL.sshsig says to ignore a non-empty reserved field, and
	 * OpenSSH signs and verifies as if it were empty.  We refuse it: no
	 * signer we know of sets it, and bytes in a signature that nothing
	 * covers are a place to smuggle data or to make two different blobs
	 * for one signature.
	 */
	if (reslen != 0)
		return am_error_set(err, AM_EINTEGRITY, "bad ssh signature: reserved field not empty");
	if (bytes_eq(alg, alglen, "sha512"))
		algname = "sha512";
	else if (bytes_eq(alg, alglen, "sha256"))
		algname = "sha256";
	else
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: unsupported hash algorithm");

	am_sshbuf_reader_init(&sr, sig, siglen);
	if (am_sshbuf_get_string_eq(&sr, KEY_TYPE) < 0 ||
	    am_sshbuf_get_string_len(&sr, 64, &s) < 0 || am_sshbuf_remaining(&sr) != 0)
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: malformed ssh-ed25519 signature");

	signed_data(&tbs, ns, strlen(ns), algname, msg, len);
	ok = am_ed25519_verify(pk, tbs.data, tbs.len, s);
	am_sshbuf_free(&tbs);
	if (!ok)
		return am_error_set(err, AM_EINTEGRITY,
				    "bad ssh signature: signature does not match the message");
	memcpy(pk_out, pk, 32);
	return 0;
trunc:
	return am_error_set(err, AM_EINTEGRITY, "bad ssh signature: truncated");
}
