/* canon.h - strict JSON parsing and RFC 8785 canonical serialization.
 *
 * Artifacts are stored as canonical JSON (RFC 8785: UTF-8, object members
 * sorted by their UTF-16 code units, no insignificant white space) and use
 * integers only.  The parser here is the only way untrusted JSON enters am:
 * it rejects what cJSON would silently accept or mangle.
 *
 * Ownership: returned cJSON trees are freed with cJSON_Delete(); returned
 * strings with free().
 */
#ifndef AM_CANON_H
#define AM_CANON_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "error.h"

/* Largest integer magnitude accepted: 2^53 - 1, exact in a double. */
#define AM_CANON_INT_MAX 9007199254740991LL
/* Deepest nesting accepted. */
#define AM_CANON_MAX_DEPTH 64

/* Parse one JSON document (RFC 8259) strictly: invalid UTF-8, NUL bytes
 * (raw or \u0000), lone surrogates, duplicate object keys, non-integer or
 * out-of-range numbers (fraction or exponent, |n| > 2^53-1), nesting deeper than
 * AM_CANON_MAX_DEPTH and trailing data are errors (class AM_EUSAGE) whose
 * path names the offending value (".a.b[2]") and whose message says what
 * was wrong and at which byte offset.  Returns NULL on error.
 *
 * Messages read "PATH: WHAT (byte N)", N counting from 0; PATH is "." for
 * the root, ".a.b[2]" below it, and `.["a b"]` for keys that are not
 * identifiers.  The path of a duplicate key is that of the member.  -0 is
 * read as 0.  Object members keep their input order in the tree.  Time is
 * O(n log n) in the input size (keys are sorted for the duplicate check). */
cJSON *am_canon_parse(const char *buf, size_t len, struct am_error **err);

/* Serialize v in RFC 8785 canonical form; *len gets the byte count (the
 * result is also NUL-terminated).  Fails (AM_EUSAGE, with path) on numbers
 * that are not integers within +-(2^53-1), and on strings that are not valid
 * UTF-8 or contain NUL.  Returns NULL on error.
 *
 * Also refused, since they have no canonical form that parses back:
 * duplicate keys, nesting deeper than AM_CANON_MAX_DEPTH and cJSON_Raw or
 * invalid items.  Messages read "PATH: WHAT".  -0 is written as 0; strings
 * are escaped as ECMAScript JSON.stringify does (\b \f \n \r \t \" \\,
 * other controls as \u00xx in lowercase, all else including '/' verbatim). */
char *am_canon_dump(const cJSON *v, size_t *len, struct am_error **err);

/* Human-readable form: 2-space indent, keys sorted as canon, trailing
 * newline.  v must already be valid (e.g. came from am_canon_parse); if it
 * is not, returns NULL. */
char *am_json_pretty(const cJSON *v);

/* The string member key of o: NULL (am_json_str) or "" (am_json_text)
 * when absent or not a string.  The result is borrowed from o. */
const char *am_json_str(const cJSON *o, const char *key);
const char *am_json_text(const cJSON *o, const char *key);

#endif
