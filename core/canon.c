/* canon.c - strict JSON parser and RFC 8785 serializer; see canon.h.
 *
 * The parser is a recursive descent over the bytes, bounded by
 * AM_CANON_MAX_DEPTH, so the C stack cannot be exhausted by hostile input.
 * It builds cJSON trees but never calls cJSON_Parse: cJSON accepts floats,
 * duplicate keys, lone surrogates and invalid UTF-8, and any of those would
 * let two different byte strings mean "the same" artifact.
 */
#include <math.h>
#include <stdint.h>

#include "canon.h"
#include "util.h"

/* One step of a JSON path: an object key (NUL-terminated) or array index. */
struct path_seg {
	const char *key; /* NULL for an array index */
	size_t idx;
};

/* Path of the value being visited; segs[0..n) from the root down. */
struct path {
	struct path_seg segs[AM_CANON_MAX_DEPTH + 1];
	int n;
};

/* A parsed object key, remembered until its object closes for the
 * duplicate check. */
struct key_ent {
	const char *key;
	size_t off;
};

struct parser {
	const unsigned char *start, *p, *end;
	struct am_error **err;
	struct am_buf sb;   /* scratch for the string being unescaped */
	struct path path;
	int depth;
	struct key_ent *keys; /* stack shared by all open objects */
	size_t nkeys, capkeys;
};

enum { MODE_CANON, MODE_PRETTY };

struct writer {
	struct am_buf out;
	struct am_error **err;
	struct path path;
	int mode;
};

/* 1 if key can appear after a '.' in a path as is (jq's identifier rule). */
static int
path_key_is_ident(const char *k)
{
	const char *s;

	if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return 0;
	for (s = k + 1; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static void put_string(struct am_buf *b, const char *s, size_t n);

/* Render p as ".a.b[2]" ("." for the root, `.["x y"]` for odd keys). */
static char *
path_format(const struct path *p)
{
	struct am_buf b = AM_BUF_INIT;
	int i;

	for (i = 0; i < p->n; i++) {
		const struct path_seg *s = &p->segs[i];

		if (s->key == NULL) {
			if (i == 0)
				am_buf_addc(&b, '.');
			am_buf_addf(&b, "[%zu]", s->idx);
		} else if (path_key_is_ident(s->key)) {
			am_buf_addc(&b, '.');
			am_buf_adds(&b, s->key);
		} else {
			/* Keys in a path were validated as UTF-8 before they
			 * were pushed, so the JSON escaping here is exact. */
			am_buf_adds(&b, i == 0 ? ".[" : "[");
			put_string(&b, s->key, strlen(s->key));
			am_buf_addc(&b, ']');
		}
	}
	if (b.len == 0)
		am_buf_addc(&b, '.');
	return am_buf_detach(&b, NULL);
}

/* Set *err to "PATH: WHAT (byte OFF)" with PATH also in err->path. */
static void
parse_fail(struct parser *ps, size_t off, const char *what)
{
	AM_AUTOFREE char *path = path_format(&ps->path);

	am_error_setp(ps->err, AM_EUSAGE, path, "%s: %s (byte %zu)", path, what, off);
}

/* Like parse_fail, naming the offending byte at off. */
static void
parse_fail_byte(struct parser *ps, size_t off, const char *what)
{
	AM_AUTOFREE char *path = path_format(&ps->path);
	unsigned char c = ps->start[off];

	if (c >= 0x21 && c < 0x7f)
		am_error_setp(ps->err, AM_EUSAGE, path, "%s: %s '%c' (byte %zu)",
			      path, what, c, off);
	else
		am_error_setp(ps->err, AM_EUSAGE, path, "%s: %s 0x%02x (byte %zu)",
			      path, what, c, off);
}

/* Offset of the parser's cursor from the start of the input. */
static size_t
pos(const struct parser *ps)
{
	return (size_t)(ps->p - ps->start);
}

/* Skip RFC 8259 white space (space, tab, LF, CR; nothing else). */
static void
skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* Report what was found where a value or delimiter was expected. */
static void
fail_unexpected(struct parser *ps, const char *expected)
{
	char what[64];

	if (ps->p >= ps->end) {
		snprintf(what, sizeof(what), "unexpected end of input, expected %s",
			 expected);
		parse_fail(ps, pos(ps), what);
	} else {
		snprintf(what, sizeof(what), "expected %s, found", expected);
		parse_fail_byte(ps, pos(ps), what);
	}
}

/* Length of the valid UTF-8 sequence at s (< n bytes available), or 0.
 * Rejects overlongs, UTF-16 surrogates and code points above U+10FFFF
 * (RFC 3629 table 4). */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Decode the code point of the valid sequence at s of length len. */
static uint32_t
utf8_decode(const unsigned char *s, size_t len)
{
	switch (len) {
	case 1:
		return s[0];
	case 2:
		return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	case 3:
		return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		       (s[2] & 0x3f);
	default:
		return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		       (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	}
}

/* Append code point cp (a valid scalar value) to b as UTF-8. */
static void
utf8_put(struct am_buf *b, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		am_buf_add(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		am_buf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		am_buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		am_buf_add(b, u, 4);
	}
}

/* Read the four hex digits of a \u escape whose 'u' is at ps->p[-1]. */
static int
parse_hex4(struct parser *ps, size_t esc_off, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	if (ps->end - ps->p < 4) {
		parse_fail(ps, esc_off, "\\u escape needs four hex digits");
		return -1;
	}
	for (i = 0; i < 4; i++) {
		unsigned char c = ps->p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else {
			parse_fail(ps, esc_off, "\\u escape needs four hex digits");
			return -1;
		}
	}
	ps->p += 4;
	*out = v;
	return 0;
}

/* Decode a \u escape (and the low half of a surrogate pair) into ps->sb. */
static int
parse_uescape(struct parser *ps, size_t esc_off)
{
	uint32_t cp, lo;
	char what[64];

	if (parse_hex4(ps, esc_off, &cp) < 0)
		return -1;
	if (cp == 0) {
		parse_fail(ps, esc_off, "\\u0000 is not allowed");
		return -1;
	}
	if (cp >= 0xdc00 && cp <= 0xdfff) {
		snprintf(what, sizeof(what), "lone surrogate \\u%04x", cp);
		parse_fail(ps, esc_off, what);
		return -1;
	}
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
			snprintf(what, sizeof(what), "lone surrogate \\u%04x", cp);
			parse_fail(ps, esc_off, what);
			return -1;
		}
		ps->p += 2;
		if (parse_hex4(ps, pos(ps) - 2, &lo) < 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff) {
			snprintf(what, sizeof(what),
				 "lone surrogate \\u%04x (followed by \\u%04x)", cp, lo);
			parse_fail(ps, esc_off, what);
			return -1;
		}
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	utf8_put(&ps->sb, cp);
	return 0;
}

/* Parse the string at ps->p (an opening quote) unescaped into ps->sb. */
static int
parse_string(struct parser *ps)
{
	size_t open = pos(ps);

	am_buf_reset(&ps->sb);
	ps->p++;
	for (;;) {
		const unsigned char *run = ps->p;
		size_t n;

		/* Copy plain ASCII in runs; the loop below is the slow path. */
		while (ps->p < ps->end && *ps->p >= 0x20 && *ps->p < 0x80 &&
		       *ps->p != '"' && *ps->p != '\\')
			ps->p++;
		if (ps->p > run)
			am_buf_add(&ps->sb, run, (size_t)(ps->p - run));
		if (ps->p >= ps->end) {
			parse_fail(ps, open, "unterminated string");
			return -1;
		}
		if (*ps->p == '"') {
			ps->p++;
			return 0;
		}
		if (*ps->p == '\\') {
			size_t esc = pos(ps);
			char c;

			if (ps->end - ps->p < 2) {
				parse_fail(ps, open, "unterminated string");
				return -1;
			}
			ps->p += 2;
			switch (ps->p[-1]) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				if (parse_uescape(ps, esc) < 0)
					return -1;
				continue;
			default:
				parse_fail_byte(ps, esc + 1, "invalid escape");
				return -1;
			}
			am_buf_addc(&ps->sb, c);
			continue;
		}
		if (*ps->p == 0) {
			parse_fail(ps, pos(ps), "nul byte in string");
			return -1;
		}
		if (*ps->p < 0x20) {
			parse_fail_byte(ps, pos(ps),
					"control character in string must be escaped:");
			return -1;
		}
		n = utf8_seq_len(ps->p, (size_t)(ps->end - ps->p));
		if (n == 0) {
			parse_fail(ps, pos(ps), "invalid utf-8 in string");
			return -1;
		}
		am_buf_add(&ps->sb, ps->p, n);
		ps->p += n;
	}
}

/* Parse an integer within +-(2^53-1); reject fractions and exponents. */
static cJSON *
parse_number(struct parser *ps)
{
	size_t start = pos(ps);
	int neg = 0, big = 0;
	long long v = 0;
	cJSON *item;

	if (*ps->p == '-') {
		neg = 1;
		ps->p++;
	}
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
		parse_fail(ps, start, "invalid number");
		return NULL;
	}
	if (*ps->p == '0' && ps->end - ps->p > 1 && ps->p[1] >= '0' && ps->p[1] <= '9') {
		parse_fail(ps, start, "leading zeros are not allowed");
		return NULL;
	}
	/* Keep consuming digits past the limit so the error names the whole
	 * number, but stop accumulating: v never overflows. */
	for (; ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; ps->p++) {
		if (!big && v > (AM_CANON_INT_MAX - (*ps->p - '0')) / 10)
			big = 1;
		if (!big)
			v = v * 10 + (*ps->p - '0');
	}
	if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')) {
		parse_fail(ps, start, "numbers must be integers");
		return NULL;
	}
	if (big) {
		parse_fail(ps, start, "integer out of range (magnitude above 2^53-1)");
		return NULL;
	}
	/* -0 is the integer 0; never build a negative-zero double, which
	 * would dump as "0" anyway but compare oddly elsewhere. */
	item = cJSON_CreateNumber(v == 0 ? 0.0 : neg ? -(double)v : (double)v);
	if (item == NULL)
		am_die_oom();
	return item;
}

/* Match the literal word at ps->p exactly. */
static int
match_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return 0;
	ps->p += n;
	return 1;
}

static cJSON *parse_value(struct parser *ps);

/* Order key entries by key bytes, then by offset (equality is all the
 * duplicate check needs, so byte order is enough here). */
static int
key_ent_cmp(const void *a, const void *b)
{
	const struct key_ent *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Check the keys of the object just closed (keys[base..]) for duplicates.
 * Sorting keeps this O(n log n) for any input, where comparing each new key
 * with all earlier ones would be quadratic. */
static int
check_dup_keys(struct parser *ps, size_t base)
{
	struct key_ent *k = ps->keys + base;
	size_t n = ps->nkeys - base, i, first = SIZE_MAX;
	const char *dup = NULL;

	if (n < 2)
		return 0;
	qsort(k, n, sizeof(*k), key_ent_cmp);
	/* Report the earliest repeated occurrence in the input. */
	for (i = 1; i < n; i++)
		if (strcmp(k[i - 1].key, k[i].key) == 0 &&
		    (i < 2 || strcmp(k[i - 2].key, k[i].key) != 0) && k[i].off < first) {
			first = k[i].off;
			dup = k[i].key;
		}
	if (dup == NULL)
		return 0;
	ps->path.segs[ps->path.n].key = dup;
	ps->path.n++;
	parse_fail(ps, first, "duplicate key");
	ps->path.n--;
	return -1;
}

/* Parse an object at ps->p ('{'). */
static cJSON *
parse_object(struct parser *ps)
{
	cJSON *obj, *item;
	size_t base = ps->nkeys, key_off;
	char *key;

	obj = cJSON_CreateObject();
	if (obj == NULL)
		am_die_oom();
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return obj;
	}
	for (;;) {
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"') {
			fail_unexpected(ps, "string key");
			goto fail;
		}
		key_off = pos(ps);
		if (parse_string(ps) < 0)
			goto fail;
		key = am_xstrndup(ps->sb.data ? ps->sb.data : "", ps->sb.len);
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			free(key);
			fail_unexpected(ps, "':'");
			goto fail;
		}
		ps->p++;
		ps->path.segs[ps->path.n].key = key;
		ps->path.n++;
		item = parse_value(ps);
		ps->path.n--;
		if (item == NULL) {
			free(key);
			goto fail;
		}
		if (!cJSON_AddItemToObject(obj, key, item))
			am_die_oom();
		free(key);
		if (ps->nkeys == ps->capkeys) {
			ps->capkeys = ps->capkeys ? 2 * ps->capkeys : 16;
			ps->keys = am_xrealloc(ps->keys, ps->capkeys * sizeof(*ps->keys));
		}
		ps->keys[ps->nkeys].key = item->string;
		ps->keys[ps->nkeys].off = key_off;
		ps->nkeys++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			break;
		}
		fail_unexpected(ps, "',' or '}'");
		goto fail;
	}
	if (check_dup_keys(ps, base) < 0)
		goto fail;
	ps->nkeys = base;
	return obj;
fail:
	ps->nkeys = base;
	cJSON_Delete(obj);
	return NULL;
}

/* Parse an array at ps->p ('['). */
static cJSON *
parse_array(struct parser *ps)
{
	cJSON *arr, *item;
	size_t i;

	arr = cJSON_CreateArray();
	if (arr == NULL)
		am_die_oom();
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return arr;
	}
	for (i = 0;; i++) {
		ps->path.segs[ps->path.n].key = NULL;
		ps->path.segs[ps->path.n].idx = i;
		ps->path.n++;
		item = parse_value(ps);
		ps->path.n--;
		if (item == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(arr, item))
			am_die_oom();
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return arr;
		}
		fail_unexpected(ps, "',' or ']'");
		goto fail;
	}
fail:
	cJSON_Delete(arr);
	return NULL;
}

/* Parse any value at ps->p (after optional white space). */
static cJSON *
parse_value(struct parser *ps)
{
	cJSON *item;

	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail_unexpected(ps, "a value");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
	case '[':
		if (ps->depth >= AM_CANON_MAX_DEPTH) {
			char what[64];

			snprintf(what, sizeof(what), "nesting deeper than %d",
				 AM_CANON_MAX_DEPTH);
			parse_fail(ps, pos(ps), what);
			return NULL;
		}
		ps->depth++;
		item = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
		ps->depth--;
		return item;
	case '"':
		if (parse_string(ps) < 0)
			return NULL;
		item = cJSON_CreateString(ps->sb.data ? ps->sb.data : "");
		if (item == NULL)
			am_die_oom();
		return item;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(ps);
	case 't':
	case 'f':
	case 'n':
		if (match_word(ps, "true"))
			item = cJSON_CreateTrue();
		else if (match_word(ps, "false"))
			item = cJSON_CreateFalse();
		else if (match_word(ps, "null"))
			item = cJSON_CreateNull();
		else {
			parse_fail(ps, pos(ps), "invalid literal");
			return NULL;
		}
		if (item == NULL)
			am_die_oom();
		return item;
	default:
		break;
	}
	if (*ps->p == 0)
		parse_fail(ps, pos(ps), "unexpected nul byte");
	else
		parse_fail_byte(ps, pos(ps), "expected a value, found");
	return NULL;
}

cJSON *
am_canon_parse(const char *buf, size_t len, struct am_error **err)
{
	struct parser ps;
	cJSON *v;

	memset(&ps, 0, sizeof(ps));
	ps.start = ps.p = (const unsigned char *)(buf ? buf : "");
	ps.end = ps.start + (buf ? len : 0);
	ps.err = err;
	if (ps.p == ps.end) {
		parse_fail(&ps, 0, "empty input");
		return NULL;
	}
	v = parse_value(&ps);
	if (v != NULL) {
		skip_ws(&ps);
		if (ps.p < ps.end) {
			parse_fail_byte(&ps, pos(&ps), "trailing data after json value:");
			cJSON_Delete(v);
			v = NULL;
		}
	}
	am_buf_free(&ps.sb);
	free(ps.keys);
	return v;
}

/* Set *err to "PATH: WHAT" for the value the writer is at. */
static void
write_fail(struct writer *w, const char *what)
{
	AM_AUTOFREE char *path = path_format(&w->path);

	am_error_setp(w->err, AM_EUSAGE, path, "%s: %s", path, what);
}

/* 1 if s is valid UTF-8 (as the parser defines it: no NUL either). */
static int
utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i, l;

	for (i = 0; i < n; i += l)
		if ((l = utf8_seq_len(s + i, n - i)) == 0)
			return 0;
	return 1;
}

/* Append s (n bytes of valid UTF-8) as a JSON string, escaped as RFC 8785
 * section 3.2.2.2 requires: the two-character escapes where JSON has one,
 * \u00xx (lowercase) for other controls, everything else verbatim. */
static void
put_string(struct am_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	am_buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		am_buf_add(b, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		am_buf_add(b, esc, elen);
	}
	am_buf_add(b, s + run, n - run);
	am_buf_addc(b, '"');
}

/* Map a code point to its rank in UTF-16 code unit order: U+E000..U+FFFF
 * sort after every supplementary character, whose first UTF-16 unit is a
 * surrogate (0xD800..0xDBFF). */
static uint32_t
utf16_rank(uint32_t cp)
{
	return cp >= 0xe000 && cp <= 0xffff ? cp + 0x110000 : cp;
}

/* Compare two valid UTF-8 strings by their UTF-16 code units (RFC 8785
 * section 3.2.3), which is not UTF-8 byte order. */
static int
utf16_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

	while (*x && *y) {
		size_t lx = utf8_seq_len(x, 4), ly = utf8_seq_len(y, 4);
		uint32_t cx, cy;

		/* Inputs were validated; a zero here cannot happen, but
		 * never loop forever or read past a terminator. */
		if (lx == 0 || ly == 0)
			return strcmp((const char *)x, (const char *)y);
		cx = utf16_rank(utf8_decode(x, lx));
		cy = utf16_rank(utf8_decode(y, ly));
		if (cx != cy)
			return cx < cy ? -1 : 1;
		x += lx;
		y += ly;
	}
	return (*x != 0) - (*y != 0);
}

/* qsort comparator for object members by key. */
static int
member_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return utf16_cmp(x->string, y->string);
}

/* Append a newline and indentation for the given depth in pretty mode. */
static void
newline(struct writer *w, int depth)
{
	int i;

	if (w->mode != MODE_PRETTY)
		return;
	am_buf_addc(&w->out, '\n');
	for (i = 0; i < depth; i++)
		am_buf_add(&w->out, "  ", 2);
}

static int write_value(struct writer *w, const cJSON *v, int depth);

/* Write an object with its members in canonical order. */
static int
write_object(struct writer *w, const cJSON *v, int depth)
{
	const cJSON *c;
	const cJSON **m;
	size_t n = 0, i;
	int r = -1;

	for (c = v->child; c != NULL; c = c->next)
		n++;
	if (n == 0) {
		am_buf_add(&w->out, "{}", 2);
		return 0;
	}
	m = am_xcalloc(n, sizeof(*m));
	for (i = 0, c = v->child; c != NULL; c = c->next, i++) {
		if (c->string == NULL) {
			write_fail(w, "object member without a key");
			goto out;
		}
		if (!utf8_valid(c->string)) {
			write_fail(w, "object key is not valid utf-8");
			goto out;
		}
		m[i] = c;
	}
	qsort(m, n, sizeof(*m), member_cmp);
	am_buf_addc(&w->out, '{');
	for (i = 0; i < n; i++) {
		w->path.segs[w->path.n].key = m[i]->string;
		w->path.n++;
		/* Output with repeated keys would not parse back; refuse it
		 * rather than pick one. */
		if (i > 0 && strcmp(m[i - 1]->string, m[i]->string) == 0) {
			write_fail(w, "duplicate key");
			goto out;
		}
		if (i > 0)
			am_buf_addc(&w->out, ',');
		newline(w, depth + 1);
		put_string(&w->out, m[i]->string, strlen(m[i]->string));
		if (w->mode == MODE_PRETTY)
			am_buf_add(&w->out, ": ", 2);
		else
			am_buf_addc(&w->out, ':');
		if (write_value(w, m[i], depth + 1) < 0)
			goto out;
		w->path.n--;
	}
	newline(w, depth);
	am_buf_addc(&w->out, '}');
	r = 0;
out:
	free(m);
	return r;
}

/* Write an array, members in order. */
static int
write_array(struct writer *w, const cJSON *v, int depth)
{
	const cJSON *c;
	size_t i;

	if (v->child == NULL) {
		am_buf_add(&w->out, "[]", 2);
		return 0;
	}
	am_buf_addc(&w->out, '[');
	for (i = 0, c = v->child; c != NULL; c = c->next, i++) {
		w->path.segs[w->path.n].key = NULL;
		w->path.segs[w->path.n].idx = i;
		w->path.n++;
		if (i > 0)
			am_buf_addc(&w->out, ',');
		newline(w, depth + 1);
		if (write_value(w, c, depth + 1) < 0)
			return -1;
		w->path.n--;
	}
	newline(w, depth);
	am_buf_addc(&w->out, ']');
	return 0;
}

/* Write any value; depth counts the containers around it. */
static int
write_value(struct writer *w, const cJSON *v, int depth)
{
	double d;

	switch (v->type & 0xff) {
	case cJSON_NULL:
		am_buf_add(&w->out, "null", 4);
		return 0;
	case cJSON_True:
		am_buf_add(&w->out, "true", 4);
		return 0;
	case cJSON_False:
		am_buf_add(&w->out, "false", 5);
		return 0;
	case cJSON_Number:
		d = v->valuedouble;
		/* Range before the integer test so the cast below is defined;
		 * no libm calls, am does not link it. */
		if (!isfinite(d)) {
			write_fail(w, "numbers must be integers");
			return -1;
		}
		if (d > (double)AM_CANON_INT_MAX || d < -(double)AM_CANON_INT_MAX) {
			write_fail(w, "integer out of range (magnitude above 2^53-1)");
			return -1;
		}
		if ((double)(long long)d != d) {
			write_fail(w, "numbers must be integers");
			return -1;
		}
		/* (long long) of -0.0 is 0: RFC 8785 writes negative zero as 0. */
		am_buf_addf(&w->out, "%lld", (long long)d);
		return 0;
	case cJSON_String:
		if (v->valuestring == NULL) {
			write_fail(w, "string without a value");
			return -1;
		}
		if (!utf8_valid(v->valuestring)) {
			write_fail(w, "string is not valid utf-8");
			return -1;
		}
		put_string(&w->out, v->valuestring, strlen(v->valuestring));
		return 0;
	case cJSON_Array:
	case cJSON_Object:
		/* Bound the recursion as the parser does, so a tree built in
		 * code cannot blow the stack either. */
		if (depth >= AM_CANON_MAX_DEPTH) {
			char what[64];

			snprintf(what, sizeof(what), "nesting deeper than %d",
				 AM_CANON_MAX_DEPTH);
			write_fail(w, what);
			return -1;
		}
		if ((v->type & 0xff) == cJSON_Array)
			return write_array(w, v, depth);
		return write_object(w, v, depth);
	default:
		write_fail(w, "unsupported json value type");
		return -1;
	}
}

/* Serialize v in the given mode; NULL and *err set on failure. */
static char *
write_doc(const cJSON *v, int mode, size_t *len, struct am_error **err)
{
	struct writer w;

	memset(&w, 0, sizeof(w));
	w.err = err;
	w.mode = mode;
	if (v == NULL) {
		write_fail(&w, "no value");
		return NULL;
	}
	if (write_value(&w, v, 0) < 0) {
		am_buf_free(&w.out);
		return NULL;
	}
	if (mode == MODE_PRETTY)
		am_buf_addc(&w.out, '\n');
	return am_buf_detach(&w.out, len);
}

char *
am_canon_dump(const cJSON *v, size_t *len, struct am_error **err)
{
	return write_doc(v, MODE_CANON, len, err);
}

char *
am_json_pretty(const cJSON *v)
{
	return write_doc(v, MODE_PRETTY, NULL, NULL);
}

const char *
am_json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *
am_json_text(const cJSON *o, const char *key)
{
	const char *v = am_json_str(o, key);

	return v ? v : "";
}
