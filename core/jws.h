/* jws.h - JWS compact serialization (RFC 7515) with EdDSA (RFC 8037), the
 * only algorithm am accepts: "alg":"none" and HMAC algorithms (key
 * confusion) are refused before any key is looked at.
 *
 * Ownership: am_jws_sign's result is the caller's; struct am_jws is freed
 * with am_jws_free().
 */
#ifndef AM_JWS_H
#define AM_JWS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "sshkey.h"

#define AM_JWS_MAX_TOKEN (256 * 1024) /* whole token, bytes */
#define AM_JWS_MAX_HEADER 2048        /* decoded protected header, bytes */

struct am_jws {
	cJSON *header;
	cJSON *payload;
	char *signing_input; /* "b64(header).b64(payload)" */
	size_t signing_len;
	unsigned char sig[64];
};

/* Sign: the header and payload are serialized canonically (RFC 8785), so the
 * same claims always give the same token bytes. */
char *am_jws_sign(const cJSON *header, const cJSON *payload, const struct am_key *k,
		  struct am_error **err);
/* Parse and structurally check a compact token: three base64url segments
 * without padding, header and payload strict JSON objects, header alg
 * "EdDSA".  Does not check the signature.  Errors are AM_EAUTH. */
int am_jws_parse(const char *token, struct am_jws *out, struct am_error **err);
/* 1 if the signature is valid for pk. */
int am_jws_verify(const struct am_jws *j, const unsigned char pk[32]);
void am_jws_free(struct am_jws *j);

#endif
