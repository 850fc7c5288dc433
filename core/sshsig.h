/* sshsig.h - OpenSSH signatures (PROTOCOL.sshsig), as made and checked by
 * "ssh-keygen -Y sign/verify" and by git for gpg.format=ssh.
 *
 * Ownership: strings returned are the caller's.
 */
#ifndef AM_SSHSIG_H
#define AM_SSHSIG_H

#include <stddef.h>

#include "error.h"
#include "sshkey.h"

/* Sign msg under namespace ns (e.g. "git") with hash sha512; returns the
 * armored "-----BEGIN SSH SIGNATURE-----" text ending in a newline. */
char *am_sshsig_sign(const struct am_key *k, const char *ns, const void *msg,
		     size_t len, struct am_error **err);
/* Verify an armored signature over msg in namespace ns.  On success fills
 * pk_out with the signer's ed25519 public key and returns 0; the caller
 * decides whether that key is trusted.  Errors are AM_EINTEGRITY (AM_EUSAGE
 * for an empty ns).  Strict: exact lengths, no trailing data, version 1,
 * hash sha512 or sha256, and an empty reserved field (which OpenSSH would
 * ignore). */
int am_sshsig_verify(const char *armored, size_t alen, const char *ns,
		     const void *msg, size_t len, unsigned char pk_out[32],
		     struct am_error **err);

#endif
