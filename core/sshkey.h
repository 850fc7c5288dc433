/* sshkey.h - OpenSSH ed25519 keys: read, write, fingerprint, sign (in
 * process with libsodium, or through a running ssh-agent).
 *
 * Formats follow OpenSSH's PROTOCOL.key (unencrypted "openssh-key-v1"
 * private keys) and RFC 8709 public key blobs.  Only ed25519 is supported:
 * one algorithm, no downgrade choices.
 *
 * Ownership: struct am_key is freed with am_key_free(), which wipes the
 * secret half with sodium_memzero().  Strings returned are the caller's.
 */
#ifndef AM_SSHKEY_H
#define AM_SSHKEY_H

#include <stddef.h>

#include "error.h"

struct am_key {
	unsigned char pk[32];
	unsigned char sk[64]; /* libsodium layout: seed || pk; valid if has_secret */
	int has_secret;
	char *agent_sock;     /* non-NULL: sign through this ssh-agent socket */
	char *comment;        /* may be NULL */
};

/* New random key pair with the given comment (may be NULL; AM_EUSAGE if it
 * holds control characters, as it goes on the .pub line). */
int am_key_generate(const char *comment, struct am_key **out, struct am_error **err);
/* Load a key to sign with.  PATH is an unencrypted OpenSSH private key file
 * (refused, AM_EAUTH, if group or others can read it, as ssh does; refused if
 * encrypted, saying to use ssh-agent), or a public key file (.pub) whose
 * private half is held by the ssh-agent at $SSH_AUTH_SOCK (AM_EAUTH if
 * there is no agent or it does not hold that key). */
int am_key_load(const char *path, struct am_key **out, struct am_error **err);
/* Load only a public key from an OpenSSH .pub file or a private key file
 * (encrypted ones too: their public half is stored in the clear).  No
 * permission check and no agent; has_secret is 0. */
int am_key_load_public(const char *path, struct am_key **out, struct am_error **err);
/* Parse "ssh-ed25519 AAAA... [comment]". */
int am_key_parse_public(const char *line, struct am_key **out, struct am_error **err);
/* "ssh-ed25519 AAAA...[ comment]" without newline. */
char *am_key_public_line(const struct am_key *k);
/* The RFC 8709 wire blob of the public key (string "ssh-ed25519", string pk);
 * 51 bytes into out. */
void am_key_public_blob(const struct am_key *k, unsigned char out[51]);
/* Whole "-----BEGIN OPENSSH PRIVATE KEY-----" file text, or NULL if k has no
 * secret half.  It holds the secret: sodium_memzero() it before free(). */
char *am_key_private_text(const struct am_key *k);
/* "SHA256:<unpadded base64 of sha256(public blob)>", as ssh-keygen -l. */
char *am_key_fingerprint(const struct am_key *k);
/* Write PATH (0600, private) and PATH.pub (0644); refuses to overwrite. */
int am_key_write_pair(const struct am_key *k, const char *path, struct am_error **err);
/* Raw ed25519 signature of msg (in process or via the agent; an agent's
 * signature is verified before it is returned). */
int am_key_sign(const struct am_key *k, const void *msg, size_t len,
		unsigned char sig[64], struct am_error **err);
/* 1 if sig is a valid ed25519 signature of msg by pk. */
int am_ed25519_verify(const unsigned char pk[32], const void *msg, size_t len,
		      const unsigned char sig[64]);
void am_key_free(struct am_key *k);

#endif
