/* fuzz_canon.c - libFuzzer target for core/canon.c; see tests/fuzz/README.
 *
 * For any input: parsing must not crash, leak or fail without an error.
 * For accepted input: the canonical dump parses back to a tree that dumps to
 * the same bytes, the pretty form does too, and cJSON (which is laxer)
 * accepts the input and reads the same tree, so the strict parser never
 * invents a meaning cJSON would disagree with.
 */
#include <stdint.h>

#include "canon.h"
#include "util.h"

/* Abort with a short reason; libFuzzer saves the input. */
static void
fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_canon: %s\n", why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct am_error *err = NULL;
	cJSON *v, *w, *lax;
	char *d1, *d2, *pretty;
	size_t n1 = 0, n2 = 0, i;

	v = am_canon_parse((const char *)data, size, &err);
	if (v == NULL) {
		if (err == NULL || err->cls != AM_EUSAGE || err->path == NULL ||
		    strncmp(err->msg, err->path, strlen(err->path)) != 0 ||
		    strstr(err->msg, " (byte ") == NULL)
			fuzz_fail("rejection without a proper error");
		am_error_free(err);
		return 0;
	}
	d1 = am_canon_dump(v, &n1, &err);
	if (d1 == NULL)
		fuzz_fail("accepted input does not dump");
	if (strlen(d1) != n1)
		fuzz_fail("dump length is wrong");
	for (i = 0; i < n1; i++)
		if ((unsigned char)d1[i] < 0x20)
			fuzz_fail("raw control character in canonical output");
	w = am_canon_parse(d1, n1, &err);
	if (w == NULL)
		fuzz_fail("canonical output does not parse");
	d2 = am_canon_dump(w, &n2, &err);
	if (d2 == NULL || n1 != n2 || memcmp(d1, d2, n1) != 0)
		fuzz_fail("dump -> parse -> dump is not stable");
	if (!cJSON_Compare(v, w, 1))
		fuzz_fail("reparsed tree differs");

	pretty = am_json_pretty(v);
	if (pretty == NULL)
		fuzz_fail("accepted input does not pretty-print");
	{
		cJSON *p = am_canon_parse(pretty, strlen(pretty), &err);
		char *d3;

		if (p == NULL)
			fuzz_fail("pretty output does not parse");
		d3 = am_canon_dump(p, NULL, &err);
		if (d3 == NULL || strcmp(d1, d3) != 0)
			fuzz_fail("pretty output means something else");
		free(d3);
		cJSON_Delete(p);
	}

	/* Differential: what the strict parser accepts, cJSON reads the same. */
	lax = cJSON_ParseWithLength((const char *)data, size);
	if (lax == NULL || !cJSON_Compare(v, lax, 1))
		fuzz_fail("cJSON disagrees with the strict parser");

	cJSON_Delete(lax);
	cJSON_Delete(v);
	cJSON_Delete(w);
	free(d1);
	free(d2);
	free(pretty);
	return 0;
}
