/* test_canon.c - unit tests for core/canon.c: strict parsing with paths,
 * RFC 8785 output, pretty printing and a seeded round-trip property test. */
#include <math.h>
#include <stdint.h>

#include "canon.h"
#include "t.h"
#include "util.h"

/* Parse s (n bytes), dump it and return the canonical text (or NULL). */
static char *
canon_n(const char *s, size_t n)
{
	struct am_error *err = NULL;
	cJSON *v = am_canon_parse(s, n, &err);
	char *out = NULL;

	if (v == NULL) {
		fprintf(stderr, "unexpected parse error: %s\n", err ? err->msg : "?");
		am_error_free(err);
		return NULL;
	}
	out = am_canon_dump(v, NULL, &err);
	if (out == NULL) {
		fprintf(stderr, "unexpected dump error: %s\n", err ? err->msg : "?");
		am_error_free(err);
	}
	cJSON_Delete(v);
	return out;
}

/* canon_n for a C string. */
static char *
canon(const char *s)
{
	return canon_n(s, strlen(s));
}

/* Check that canon(in) is want; frees the result. */
static void
check_canon(const char *in, const char *want, int line)
{
	char *got = canon(in);

	if (got == NULL || strcmp(got, want) != 0)
		fprintf(stderr, "(input on line %d)\n", line);
	T_STREQ(got, want);
	free(got);
}
#define CANON(in, want) check_canon(in, want, __LINE__)

/* Check that parsing in (n bytes) fails as AM_EUSAGE with exactly path and
 * the message "PATH: WHAT (byte OFF)". */
static void
check_reject(const char *in, size_t n, const char *path, const char *what,
	     size_t off, int line)
{
	struct am_error *err = NULL;
	cJSON *v = am_canon_parse(in, n, &err);
	char *want = am_xasprintf("%s: %s (byte %zu)", path, what, off);

	T_OK(v == NULL);
	T_OK(err != NULL);
	if (err != NULL) {
		T_OK(err->cls == AM_EUSAGE);
		if (err->path == NULL || strcmp(err->path, path) != 0 ||
		    strcmp(err->msg, want) != 0)
			fprintf(stderr, "(rejection on line %d)\n", line);
		T_STREQ(err->path, path);
		T_STREQ(err->msg, want);
	} else {
		fprintf(stderr, "line %d: accepted what should be rejected\n", line);
	}
	free(want);
	cJSON_Delete(v);
	am_error_free(err);
}
#define REJECT(in, path, what, off) check_reject(in, sizeof(in) - 1, path, what, off, __LINE__)

/* Dump v and check it fails with path and message "PATH: WHAT". */
static void
check_dump_reject(const cJSON *v, const char *path, const char *what, int line)
{
	struct am_error *err = NULL;
	char *out = am_canon_dump(v, NULL, &err);
	char *want = am_xasprintf("%s: %s", path, what);

	T_OK(out == NULL);
	T_OK(err != NULL);
	if (err != NULL) {
		if (err->path == NULL || strcmp(err->path, path) != 0)
			fprintf(stderr, "(dump rejection on line %d)\n", line);
		T_OK(err->cls == AM_EUSAGE);
		T_STREQ(err->path, path);
		T_STREQ(err->msg, want);
	}
	free(want);
	free(out);
	am_error_free(err);
}
#define DUMP_REJECT(v, path, what) check_dump_reject(v, path, what, __LINE__)

/* RFC 8785 section 3.2.3: members sort by UTF-16 code units, so U+1F600
 * (surrogates D83D DE00) sorts before U+FB33 although its UTF-8 is larger. */
static void
test_rfc8785_sort(void)
{
	CANON("{\n"
	      "  \"\\u20ac\": \"Euro Sign\",\n"
	      "  \"\\r\": \"Carriage Return\",\n"
	      "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
	      "  \"1\": \"One\",\n"
	      "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
	      "  \"\\u0080\": \"Control\",\n"
	      "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\",\n"
	      "  \"</script>\": \"Browser Challenge\"\n"
	      "}",
	      "{\"\\r\":\"Carriage Return\","
	      "\"1\":\"One\","
	      "\"</script>\":\"Browser Challenge\","
	      "\"\xc2\x80\":\"Control\","
	      "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
	      "\"\xe2\x82\xac\":\"Euro Sign\","
	      "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
	      "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
	/* The same with raw UTF-8 keys and a key that is a prefix of another. */
	CANON("{\"\xef\xbf\xbf\":1,\"\xf4\x8f\xbf\xbf\":2,\"\xee\x80\x80\":3,"
	      "\"\xed\x9f\xbf\":4,\"ab\":5,\"a\":6,\"\":7}",
	      "{\"\":7,\"a\":6,\"ab\":5,\"\xed\x9f\xbf\":4,\"\xf4\x8f\xbf\xbf\":2,"
	      "\"\xee\x80\x80\":3,\"\xef\xbf\xbf\":1}");
}

/* String escaping as RFC 8785 section 3.2.2.2 (ECMAScript JSON.stringify). */
static void
test_escaping(void)
{
	struct am_buf in = AM_BUF_INIT, want = AM_BUF_INIT;
	char *got;
	int c;

	/* RFC 8785 section 3.2.2's example without its floats. */
	CANON("{\"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
	      " \"literals\": [null, true, false]}",
	      "{\"literals\":[null,true,false],"
	      "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
	CANON("\"\\b\\f\\n\\r\\t\\\"\\\\\\/\"", "\"\\b\\f\\n\\r\\t\\\"\\\\/\"");
	CANON("\"\\u007f\\u0080\\u00ff\\u2028\\ufeff\"",
	      "\"\x7f\xc2\x80\xc3\xbf\xe2\x80\xa8\xef\xbb\xbf\"");
	CANON("\"\\uD834\\uDD1E\"", "\"\xf0\x9d\x84\x9e\"");
	CANON("\"\\udbff\\udfff\"", "\"\xf4\x8f\xbf\xbf\"");
	/* Every C0 control other than the five short escapes is \u00xx with
	 * lowercase hex digits. */
	am_buf_addc(&in, '"');
	am_buf_addc(&want, '"');
	for (c = 1; c < 0x20; c++) {
		am_buf_addf(&in, "\\u%04X", c);
		switch (c) {
		case '\b': am_buf_adds(&want, "\\b"); break;
		case '\f': am_buf_adds(&want, "\\f"); break;
		case '\n': am_buf_adds(&want, "\\n"); break;
		case '\r': am_buf_adds(&want, "\\r"); break;
		case '\t': am_buf_adds(&want, "\\t"); break;
		default: am_buf_addf(&want, "\\u%04x", c); break;
		}
	}
	am_buf_addc(&in, '"');
	am_buf_addc(&want, '"');
	got = canon(in.data);
	T_STREQ(got, want.data);
	T_OK(strstr(want.data, "\\u001f") != NULL);
	free(got);
	am_buf_free(&in);
	am_buf_free(&want);
}

/* Integers, -0 and the 2^53-1 limit. */
static void
test_numbers(void)
{
	CANON("[0, -0, 1, -1, 42, 9007199254740991, -9007199254740991]",
	      "[0,0,1,-1,42,9007199254740991,-9007199254740991]");
	REJECT("9007199254740992", ".", "integer out of range (magnitude above 2^53-1)", 0);
	REJECT("[-9007199254740992]", ".[0]",
	       "integer out of range (magnitude above 2^53-1)", 1);
	REJECT("[1, 99999999999999999999999999999]", ".[1]",
	       "integer out of range (magnitude above 2^53-1)", 4);
	REJECT("{\"budget\": {\"tokens\": 1.5}}", ".budget.tokens",
	       "numbers must be integers", 22);
	REJECT("{\"budget\":{\"tokens\":1.0}}", ".budget.tokens",
	       "numbers must be integers", 20);
	REJECT("[1e5]", ".[0]", "numbers must be integers", 1);
	REJECT("[1E+2]", ".[0]", "numbers must be integers", 1);
	REJECT("-0.0", ".", "numbers must be integers", 0);
	REJECT("[1.]", ".[0]", "numbers must be integers", 1);
	REJECT("[01]", ".[0]", "leading zeros are not allowed", 1);
	REJECT("[-01]", ".[0]", "leading zeros are not allowed", 1);
	REJECT("00", ".", "leading zeros are not allowed", 0);
	REJECT("[-]", ".[0]", "invalid number", 1);
	REJECT("[-a]", ".[0]", "invalid number", 1);
	REJECT("[+1]", ".[0]", "expected a value, found '+'", 1);
	REJECT("[.5]", ".[0]", "expected a value, found '.'", 1);
}

/* UTF-8 validation inside strings and keys. */
static void
test_utf8(void)
{
	CANON("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80"
	      "\xf4\x8f\xbf\xbf\"",
	      "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80"
	      "\xf4\x8f\xbf\xbf\"");
	REJECT("{\"a\": \"\xc0\xaf\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xc1\xbf\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"x\xe0\x80\xaf\"}", ".a", "invalid utf-8 in string", 8);
	REJECT("{\"a\": \"\xf0\x80\x80\xaf\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xed\xa0\x80\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xed\xbf\xbf\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xf4\x90\x80\x80\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xf5\x80\x80\x80\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\x80\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("{\"a\": \"\xe2\x82\"}", ".a", "invalid utf-8 in string", 7);
	REJECT("\"\xe2\x82", ".", "invalid utf-8 in string", 1);
	REJECT("\"\xff\"", ".", "invalid utf-8 in string", 1);
	/* A bad key has no member path yet: the object is named. */
	REJECT("{\"k\": {\"a\xc0\xaf\": 1}}", ".k", "invalid utf-8 in string", 9);
	REJECT("\xef\xbb\xbf{}", ".", "expected a value, found 0xef", 0);
}

/* NUL, control characters, escapes and surrogates. */
static void
test_strings(void)
{
	REJECT("{\"a\": \"x\0y\"}", ".a", "nul byte in string", 8);
	REJECT("[1, \0]", ".[1]", "unexpected nul byte", 4);
	REJECT("{\"a\": [\"\\u0000\"]}", ".a[0]", "\\u0000 is not allowed", 8);
	REJECT("{\"a\\u0000\": 1}", ".", "\\u0000 is not allowed", 3);
	REJECT("[\"a\tb\"]", ".[0]", "control character in string must be escaped: 0x09", 3);
	REJECT("[\"\x1f\"]", ".[0]", "control character in string must be escaped: 0x1f", 2);
	REJECT("[\"\n\"]", ".[0]", "control character in string must be escaped: 0x0a", 2);
	REJECT("[\"\\ud800\"]", ".[0]", "lone surrogate \\ud800", 2);
	REJECT("[\"\\uD800x\"]", ".[0]", "lone surrogate \\ud800", 2);
	REJECT("[\"\\ud800\\u0041\"]", ".[0]",
	       "lone surrogate \\ud800 (followed by \\u0041)", 2);
	REJECT("[\"\\ud800\\ud800\"]", ".[0]",
	       "lone surrogate \\ud800 (followed by \\ud800)", 2);
	REJECT("[\"ab\\udc00\"]", ".[0]", "lone surrogate \\udc00", 4);
	REJECT("[\"\\ud800\\u12\"]", ".[0]", "\\u escape needs four hex digits", 8);
	REJECT("[\"\\u12g4\"]", ".[0]", "\\u escape needs four hex digits", 2);
	REJECT("[\"\\u12", ".[0]", "\\u escape needs four hex digits", 2);
	REJECT("[\"\\x\"]", ".[0]", "invalid escape 'x'", 3);
	REJECT("[\"\\'\"]", ".[0]", "invalid escape '''", 3);
	REJECT("[\"abc", ".[0]", "unterminated string", 1);
	REJECT("[\"abc\\", ".[0]", "unterminated string", 1);
	REJECT("['a']", ".[0]", "expected a value, found '''", 1);
}

/* Duplicate keys are found after unescaping, in nested objects too. */
static void
test_duplicates(void)
{
	REJECT("{\"a\":1,\"a\":2}", ".a", "duplicate key", 7);
	REJECT("{\"a\":1,\"b\":{\"x\":1,\"y\":2,\"\\u0078\":3}}", ".b.x", "duplicate key", 24);
	REJECT("{\"\xc3\xa9\":1,\"\\u00e9\":2}", ".[\"\xc3\xa9\"]", "duplicate key", 8);
	REJECT("{\"a b\":[{\"c\":1,\"d\":2,\"c\":3}]}", ".[\"a b\"][0].c",
	       "duplicate key", 21);
	/* The earliest repetition is reported when several keys repeat. */
	REJECT("{\"z\":1,\"b\":2,\"z\":3,\"b\":4,\"z\":5}", ".z", "duplicate key", 13);
	CANON("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}",
	      "{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}");
}

/* Structure errors, literals, white space and trailing data. */
static void
test_syntax(void)
{
	REJECT("", ".", "empty input", 0);
	REJECT(" \n\t\r", ".", "unexpected end of input, expected a value", 4);
	REJECT("{} x", ".", "trailing data after json value: 'x'", 3);
	REJECT("1 2", ".", "trailing data after json value: '2'", 2);
	REJECT("[]]", ".", "trailing data after json value: ']'", 2);
	REJECT("{}\0", ".", "trailing data after json value: 0x00", 2);
	REJECT("nulll", ".", "trailing data after json value: 'l'", 4);
	REJECT("[tru]", ".[0]", "invalid literal", 1);
	REJECT("[True]", ".[0]", "expected a value, found 'T'", 1);
	REJECT("{\"a\":1 \"b\":2}", ".", "expected ',' or '}', found '\"'", 7);
	REJECT("{\"a\" 1}", ".", "expected ':', found '1'", 5);
	REJECT("{\"a\":1,}", ".", "expected string key, found '}'", 7);
	REJECT("{a:1}", ".", "expected string key, found 'a'", 1);
	REJECT("[1,]", ".[1]", "expected a value, found ']'", 3);
	REJECT("[1 2]", ".", "expected ',' or ']', found '2'", 3);
	REJECT("[1,2", ".", "unexpected end of input, expected ',' or ']'", 4);
	REJECT("{\"a\":", ".a", "unexpected end of input, expected a value", 5);
	REJECT("{\"a\":1", ".", "unexpected end of input, expected ',' or '}'", 6);
	REJECT("[\f1]", ".[0]", "expected a value, found 0x0c", 1);
	CANON(" \t\r\n{ \"b\" : [ 1 , { } , [ ] ] , \"a\" : \"\" } \n",
	      "{\"a\":\"\",\"b\":[1,{},[]]}");
	CANON("true", "true");
	CANON("null", "null");
	CANON("\"\"", "\"\"");
	/* Length, not NUL, ends the input. */
	T_OK(am_canon_parse(NULL, 0, NULL) == NULL);
	{
		char *s = canon_n("[1]xyz", 3);

		T_STREQ(s, "[1]");
		free(s);
	}
}

/* Nesting is limited to AM_CANON_MAX_DEPTH containers. */
static void
test_depth(void)
{
	struct am_buf ok = AM_BUF_INIT, bad = AM_BUF_INIT, path = AM_BUF_INIT;
	char *got;
	int i;

	for (i = 0; i < AM_CANON_MAX_DEPTH; i++)
		am_buf_addc(&ok, '[');
	for (i = 0; i < AM_CANON_MAX_DEPTH; i++)
		am_buf_addc(&ok, ']');
	got = canon(ok.data);
	T_STREQ(got, ok.data);
	free(got);

	am_buf_adds(&path, ".");
	for (i = 0; i < AM_CANON_MAX_DEPTH; i++) {
		am_buf_adds(&bad, "{\"k\":");
		am_buf_adds(&path, "k");
		if (i + 1 < AM_CANON_MAX_DEPTH)
			am_buf_adds(&path, ".");
	}
	am_buf_adds(&bad, "[1]");
	for (i = 0; i < AM_CANON_MAX_DEPTH; i++)
		am_buf_addc(&bad, '}');
	check_reject(bad.data, bad.len, path.data, "nesting deeper than 64",
		     5 * AM_CANON_MAX_DEPTH, __LINE__);

	/* A million opening brackets fail fast instead of recursing. */
	am_buf_reset(&bad);
	for (i = 0; i < 1000000; i++)
		am_buf_addc(&bad, '[');
	{
		struct am_error *err = NULL;

		T_OK(am_canon_parse(bad.data, bad.len, &err) == NULL);
		T_OK(err != NULL && strstr(err->msg, "nesting deeper than 64 (byte 64)"));
		am_error_free(err);
	}
	am_buf_free(&ok);
	am_buf_free(&bad);
	am_buf_free(&path);
}

/* The dumper refuses trees that have no canonical form. */
static void
test_dump_errors(void)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray(), *d, *cur;
	char *s;
	size_t len = 0;
	int i;

	cJSON_AddItemToObject(o, "x", a);
	cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(-0.0));
	s = am_canon_dump(o, &len, NULL);
	T_STREQ(s, "{\"x\":[1,0]}");
	T_OK(len == 11);
	free(s);

	cJSON_AddItemToArray(a, cJSON_CreateNumber(2.5));
	DUMP_REJECT(o, ".x[2]", "numbers must be integers");
	cJSON_DeleteItemFromArray(a, 2);
	cJSON_AddItemToArray(a, cJSON_CreateNumber(9007199254740992.0));
	DUMP_REJECT(o, ".x[2]", "integer out of range (magnitude above 2^53-1)");
	cJSON_DeleteItemFromArray(a, 2);
	cJSON_AddItemToArray(a, cJSON_CreateNumber(NAN));
	DUMP_REJECT(o, ".x[2]", "numbers must be integers");
	cJSON_DeleteItemFromArray(a, 2);
	cJSON_AddItemToArray(a, cJSON_CreateNumber(-INFINITY));
	DUMP_REJECT(o, ".x[2]", "numbers must be integers");
	cJSON_DeleteItemFromArray(a, 2);
	cJSON_AddItemToArray(a, cJSON_CreateString("ok\xed\xa0\x80"));
	DUMP_REJECT(o, ".x[2]", "string is not valid utf-8");
	cJSON_DeleteItemFromArray(a, 2);
	cJSON_AddItemToArray(a, cJSON_CreateRaw("1.5"));
	DUMP_REJECT(o, ".x[2]", "unsupported json value type");
	cJSON_DeleteItemFromArray(a, 2);

	cJSON_AddItemToObject(o, "bad\xc0\x80", cJSON_CreateTrue());
	DUMP_REJECT(o, ".", "object key is not valid utf-8");
	cJSON_DeleteItemFromObject(o, "bad\xc0\x80");
	cJSON_AddItemToObject(o, "x", cJSON_CreateNull());
	DUMP_REJECT(o, ".x", "duplicate key");
	cJSON_Delete(o);

	/* A tree built in code is held to the same depth limit. */
	d = cJSON_CreateArray();
	for (cur = d, i = 1; i < AM_CANON_MAX_DEPTH; i++) {
		cJSON *n = cJSON_CreateArray();

		cJSON_AddItemToArray(cur, n);
		cur = n;
	}
	s = am_canon_dump(d, NULL, NULL);
	T_OK(s != NULL && strlen(s) == 2 * AM_CANON_MAX_DEPTH);
	free(s);
	cJSON_AddItemToArray(cur, cJSON_CreateArray());
	s = am_canon_dump(d, NULL, NULL);
	T_OK(s == NULL);
	cJSON_Delete(d);
}

/* Pretty output: 2-space indent, sorted keys, trailing newline. */
static void
test_pretty(void)
{
	struct am_error *err = NULL;
	const char *in = "{\"b\":[1,\"x\\n\",{},[]],\"a\":{\"\\u00e9/\":null}}";
	cJSON *v = am_canon_parse(in, strlen(in), &err);
	char *s;

	T_OK(v != NULL);
	s = am_json_pretty(v);
	T_STREQ(s, "{\n"
		   "  \"a\": {\n"
		   "    \"\xc3\xa9/\": null\n"
		   "  },\n"
		   "  \"b\": [\n"
		   "    1,\n"
		   "    \"x\\n\",\n"
		   "    {},\n"
		   "    []\n"
		   "  ]\n"
		   "}\n");
	free(s);
	cJSON_Delete(v);
	v = cJSON_CreateObject();
	s = am_json_pretty(v);
	T_STREQ(s, "{}\n");
	free(s);
	cJSON_Delete(v);
	v = cJSON_CreateNumber(-5);
	s = am_json_pretty(v);
	T_STREQ(s, "-5\n");
	free(s);
	cJSON_Delete(v);
}

/* Parse then dump is idempotent: canonical text is a fixed point. */
static void
test_idempotence(void)
{
	static const char *docs[] = {
		"{\"z\":[3,2,1],\"y\":{\"b\":true,\"a\":false},\"x\":\"\\u00e9\\t\"}",
		"[[[]],{},\"\\ud83d\\ude00\",-9007199254740991]",
		"{\"\\ufb33\":0,\"\\ud83d\\ude00\":1,\"\\u20ac\":2,\"\\r\":3}",
		"  \"\\/\\\"\\\\\"  ",
	};
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(docs); i++) {
		char *a = canon(docs[i]), *b = a ? canon(a) : NULL;

		T_OK(a != NULL);
		T_STREQ(b, a);
		free(a);
		free(b);
	}
}

/* The property test's PRNG: xorshift64*, seeded for reproducibility. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A random code point biased towards the interesting classes. */
static uint32_t
rand_cp(void)
{
	static const uint32_t special[] = {
		'"', '\\', '/', 0x01, 0x08, 0x0a, 0x1f, 0x7f, 0x80, 0xd7ff,
		0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff, 0x1f600,
	};

	switch (rng() % 6) {
	case 0: return special[rng() % AM_ARRAY_LEN(special)];
	case 1: return 1 + (uint32_t)(rng() % 0x7f);
	case 2: return 0x80 + (uint32_t)(rng() % (0x800 - 0x80));
	case 3: {
		uint32_t c = 0x800 + (uint32_t)(rng() % (0x10000 - 0x800));

		return c >= 0xd800 && c <= 0xdfff ? c + 0x800 : c;
	}
	case 4: return 0x10000 + (uint32_t)(rng() % 0x100000);
	default: return 'a' + (uint32_t)(rng() % 3);
	}
}

/* A random UTF-8 string of up to max code points (NUL-free). */
static char *
rand_str(int max)
{
	struct am_buf b = AM_BUF_INIT;
	int n = (int)(rng() % (uint64_t)(max + 1)), i;

	am_buf_add(&b, "", 0);
	for (i = 0; i < n; i++) {
		uint32_t c = rand_cp();
		char u[4];

		if (c < 0x80) {
			u[0] = (char)c;
			am_buf_add(&b, u, 1);
		} else if (c < 0x800) {
			u[0] = (char)(0xc0 | c >> 6);
			u[1] = (char)(0x80 | (c & 0x3f));
			am_buf_add(&b, u, 2);
		} else if (c < 0x10000) {
			u[0] = (char)(0xe0 | c >> 12);
			u[1] = (char)(0x80 | (c >> 6 & 0x3f));
			u[2] = (char)(0x80 | (c & 0x3f));
			am_buf_add(&b, u, 3);
		} else {
			u[0] = (char)(0xf0 | c >> 18);
			u[1] = (char)(0x80 | (c >> 12 & 0x3f));
			u[2] = (char)(0x80 | (c >> 6 & 0x3f));
			u[3] = (char)(0x80 | (c & 0x3f));
			am_buf_add(&b, u, 4);
		}
	}
	return am_buf_detach(&b, NULL);
}

/* A random JSON tree at most depth levels deep. */
static cJSON *
rand_tree(int depth)
{
	int kind = (int)(rng() % (depth > 0 ? 8 : 6)), n, i;
	cJSON *v;
	int64_t x;

	switch (kind) {
	case 0: return cJSON_CreateNull();
	case 1: return cJSON_CreateBool(rng() & 1);
	case 2:
		switch (rng() % 4) {
		case 0: x = AM_CANON_INT_MAX; break;
		case 1: x = -AM_CANON_INT_MAX; break;
		case 2: x = (int64_t)(rng() % 2000) - 1000; break;
		default: x = (int64_t)(rng() % (2 * (uint64_t)AM_CANON_INT_MAX + 1)) -
			     AM_CANON_INT_MAX;
		}
		return cJSON_CreateNumber((double)x);
	case 3:
	case 4:
	case 5: {
		char *s = rand_str(8);

		v = cJSON_CreateString(s);
		free(s);
		return v;
	}
	case 6:
		v = cJSON_CreateArray();
		n = (int)(rng() % 5);
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(v, rand_tree(depth - 1));
		return v;
	default:
		v = cJSON_CreateObject();
		n = (int)(rng() % 7);
		for (i = 0; i < n; i++) {
			char *k = rand_str(3);

			if (cJSON_GetObjectItemCaseSensitive(v, k) == NULL)
				cJSON_AddItemToObject(v, k, rand_tree(depth - 1));
			free(k);
		}
		return v;
	}
}

/* Convert UTF-8 to UTF-16 code units the slow, obvious way; returns the count. */
static size_t
to_utf16(const char *s, uint16_t *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		uint32_t c;

		if (*p < 0x80) {
			c = *p++;
		} else if (*p < 0xe0) {
			c = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			p += 2;
		} else if (*p < 0xf0) {
			c = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 |
			    (p[2] & 0x3f);
			p += 3;
		} else {
			c = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
			    (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			p += 4;
		}
		if (c >= 0x10000) {
			out[n++] = (uint16_t)(0xd800 + ((c - 0x10000) >> 10));
			out[n++] = (uint16_t)(0xdc00 + ((c - 0x10000) & 0x3ff));
		} else {
			out[n++] = (uint16_t)c;
		}
	}
	return n;
}

/* 1 if a < b in UTF-16 code unit order (a reference for the dumper's sort). */
static int
utf16_less(const char *a, const char *b)
{
	uint16_t ua[256], ub[256];
	size_t na = to_utf16(a, ua), nb = to_utf16(b, ub), i;

	for (i = 0; i < na && i < nb; i++)
		if (ua[i] != ub[i])
			return ua[i] < ub[i];
	return na < nb;
}

/* 1 if every object in v lists its members in strictly increasing order. */
static int
keys_sorted(const cJSON *v)
{
	const cJSON *c;

	for (c = v->child; c != NULL; c = c->next) {
		if (cJSON_IsObject(v) && c->next && !utf16_less(c->string, c->next->string))
			return 0;
		if (!keys_sorted(c))
			return 0;
	}
	return 1;
}

/* Random trees: dump -> parse -> dump is stable, the parse equals the tree,
 * members come out in UTF-16 order, and pretty output parses back the same. */
static void
test_property(void)
{
	int i, bad = 0;

	for (i = 0; i < 3000; i++) {
		cJSON *t = rand_tree(5), *p = NULL, *q = NULL;
		struct am_error *err = NULL;
		size_t l1 = 0, l2 = 0;
		char *d1 = am_canon_dump(t, &l1, &err), *d2 = NULL, *pr = NULL, *d3 = NULL;

		if (d1 != NULL)
			p = am_canon_parse(d1, l1, &err);
		if (p != NULL)
			d2 = am_canon_dump(p, &l2, &err);
		if (p != NULL)
			pr = am_json_pretty(p);
		if (pr != NULL)
			q = am_canon_parse(pr, strlen(pr), &err);
		if (q != NULL)
			d3 = am_canon_dump(q, NULL, &err);
		if (d1 == NULL || d2 == NULL || d3 == NULL || l1 != l2 ||
		    strcmp(d1, d2) != 0 || strcmp(d1, d3) != 0 || !cJSON_Compare(t, p, 1) ||
		    !keys_sorted(p) || strlen(d1) != l1) {
			if (bad++ < 3)
				fprintf(stderr, "property failed (iteration %d): %s\n", i,
					err ? err->msg : d1 ? d1 : "?");
		}
		am_error_free(err);
		free(d1);
		free(d2);
		free(d3);
		free(pr);
		cJSON_Delete(t);
		cJSON_Delete(p);
		cJSON_Delete(q);
	}
	T_OK(bad == 0);
}

int
main(void)
{
	test_rfc8785_sort();
	test_escaping();
	test_numbers();
	test_utf8();
	test_strings();
	test_duplicates();
	test_syntax();
	test_depth();
	test_dump_errors();
	test_pretty();
	test_idempotence();
	test_property();
	T_DONE();
}
