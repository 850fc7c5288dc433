/* jws.c - see jws.h */
#include "canon.h"
#include "jws.h"
#include "util.h"

char *
am_jws_sign(const cJSON *header, const cJSON *payload, const struct am_key *k,
	    struct am_error **err)
{
	size_t hl, pl;
	AM_AUTOFREE char *h = am_canon_dump(header, &hl, err);
	AM_AUTOFREE char *p = h ? am_canon_dump(payload, &pl, err) : NULL;
	AM_AUTOFREE char *hb = NULL;
	AM_AUTOFREE char *pb = NULL;
	AM_AUTOFREE char *input = NULL;
	AM_AUTOFREE char *sb = NULL;
	unsigned char sig[64];

	if (p == NULL)
		return NULL;
	hb = am_b64_encode((const unsigned char *)h, hl, 1);
	pb = am_b64_encode((const unsigned char *)p, pl, 1);
	input = am_xasprintf("%s.%s", hb, pb);
	if (am_key_sign(k, input, strlen(input), sig, err) < 0)
		return NULL;
	sb = am_b64_encode(sig, sizeof(sig), 1);
	return am_xasprintf("%s.%s", input, sb);
}

static int
b64seg(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	/* base64url without padding (RFC 7515 section 2): reject '=' and the
	 * standard alphabet explicitly rather than rely on the decoder. */
	if (n == 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < n)
		return -1;
	return am_b64_decode(s, n, 1, out, outlen);
}

int
am_jws_parse(const char *token, struct am_jws *out, struct am_error **err)
{
	const char *d1, *d2;
	unsigned char *h = NULL, *p = NULL, *s = NULL;
	size_t hl, pl, sl, tl = strlen(token);
	const cJSON *alg, *crit;
	struct am_error *e = NULL;

	memset(out, 0, sizeof(*out));
	if (tl > AM_JWS_MAX_TOKEN)
		return am_error_set(err, AM_EAUTH, "malformed token: longer than %d bytes",
				    AM_JWS_MAX_TOKEN);
	d1 = strchr(token, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return am_error_set(err, AM_EAUTH,
				    "malformed token: expected 3 dot-separated segments (JWS compact)");
	if ((size_t)(d1 - token) > AM_JWS_MAX_HEADER * 4 / 3 + 4)
		return am_error_set(err, AM_EAUTH, "malformed token: header larger than %d bytes",
				    AM_JWS_MAX_HEADER);
	if (b64seg(token, (size_t)(d1 - token), &h, &hl) < 0)
		return am_error_set(err, AM_EAUTH, "malformed token: header is not base64url");
	if (b64seg(d1 + 1, (size_t)(d2 - d1 - 1), &p, &pl) < 0) {
		free(h);
		return am_error_set(err, AM_EAUTH, "malformed token: payload is not base64url");
	}
	out->header = am_canon_parse((char *)h, hl, &e);
	if (out->header == NULL || !cJSON_IsObject(out->header)) {
		am_error_set(err, AM_EAUTH, "malformed token: header: %s",
			     e ? e->msg : "not a JSON object");
		goto fail;
	}
	alg = cJSON_GetObjectItemCaseSensitive(out->header, "alg");
	if (!cJSON_IsString(alg)) {
		am_error_set(err, AM_EAUTH, "malformed token: header has no alg");
		goto fail;
	}
	/* Only EdDSA.  "none" would accept anything; HS256 would let a public
	 * key be used as an HMAC secret (key confusion). */
	if (strcmp(alg->valuestring, "EdDSA") != 0) {
		am_error_set(err, AM_EAUTH, "token alg '%.32s' is not accepted (only EdDSA)",
			     alg->valuestring);
		goto fail;
	}
	crit = cJSON_GetObjectItemCaseSensitive(out->header, "crit");
	if (crit) {
		am_error_set(err, AM_EAUTH, "token header has crit extensions am does not understand");
		goto fail;
	}
	/* The signature's shape is checked after alg, so "none" and HMAC
	 * tokens are refused for what they are. */
	if (b64seg(d2 + 1, tl - (size_t)(d2 + 1 - token), &s, &sl) < 0 || sl != 64) {
		free(s);
		am_error_set(err, AM_EAUTH, "malformed token: signature is not a base64url ed25519 signature");
		goto fail;
	}
	memcpy(out->sig, s, 64);
	free(s);
	s = NULL;
	out->payload = am_canon_parse((char *)p, pl, &e);
	if (out->payload == NULL || !cJSON_IsObject(out->payload)) {
		am_error_set(err, AM_EAUTH, "malformed token: payload: %s",
			     e ? e->msg : "not a JSON object");
		goto fail;
	}
	out->signing_len = (size_t)(d2 - token);
	out->signing_input = am_xstrndup(token, out->signing_len);
	free(h);
	free(p);
	am_error_free(e);
	return 0;
fail:
	am_error_free(e);
	free(h);
	free(p);
	am_jws_free(out);
	return -1;
}

int
am_jws_verify(const struct am_jws *j, const unsigned char pk[32])
{
	return am_ed25519_verify(pk, j->signing_input, j->signing_len, j->sig);
}

void
am_jws_free(struct am_jws *j)
{
	if (j == NULL)
		return;
	cJSON_Delete(j->header);
	cJSON_Delete(j->payload);
	free(j->signing_input);
	memset(j, 0, sizeof(*j));
}
