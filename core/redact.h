/* redact.h - the secret and prompt detector behind `am diagnostics`.
 *
 * A scanner (struct am_redact) is fed a file in chunks of any size and
 * writes a redacted copy through a callback: every secret it recognises is
 * replaced by a typed pseudonym "[REDACTED:<rule>:<6 hex>]", where the hex is
 * the start of HMAC-SHA256(salt, secret) under a random 32-byte salt that
 * lives only inside the scanner (never stored, never returned, wiped by
 * am_redact_free).  One scanner is one bundle: the same secret gets the same
 * pseudonym in every file it redacts, and a different one in the next bundle.
 *
 * Cost is linear and memory bounded whatever the input: matchers are
 * hand-written (no regex engine), anchored on a first-byte prefilter, and
 * read a bounded window (a 256 KiB buffer keeping 64 KiB of look-ahead), so
 * a secret split across chunks is still found; a token or private key
 * longer than the window is streamed into the HMAC and still replaced, never
 * passed through.  Base64 runs, percent-encoding and \uXXXX escapes (up to
 * 16 KiB, one level) are decoded and re-scanned; a secret found there
 * redacts its encoded span.
 *
 * JSON mode (for .json and .jsonl) walks the documents as a stream: values
 * of prompt-like keys ("prompt", "messages", "content", "tool_input", ...)
 * become {"$redacted":"prompt","bytes":N}; secret-like keys ("*_token",
 * "password", docker "auth", Kubernetes "data") redact their string value
 * as a whole; every other string is scanned by the text rules (after
 * unescaping, so escaped secrets are found) and the output still parses.
 * A line that is not JSON falls back to text mode.
 *
 * Findings name a rule, the caller's file name, a line, a byte offset and a
 * length -- never a value, never an unsalted hash.
 *
 * Ownership: am_redact_new() returns a scanner freed with am_redact_free();
 * const char * fields of findings and rules are static or copies kept by
 * the scanner, valid until it is freed; am_redact_report_json()
 * returns a tree the caller frees with cJSON_Delete(); am_redact_buf() returns
 * memory the caller frees with free().
 */
#ifndef AM_REDACT_H
#define AM_REDACT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "error.h"

enum am_redact_mode {
	AM_REDACT_TEXT = 0, /* any text: logs, env files, YAML, shell history */
	AM_REDACT_JSON = 1, /* one or more JSON documents (.json, .jsonl) */
};

struct am_redact_finding {
	const char *rule;    /* rule id, e.g. "github-token" */
	const char *file;    /* the name given to am_redact_begin() */
	uint64_t line;       /* 1-based line of the first byte replaced */
	uint64_t offset;     /* byte offset of the first byte replaced */
	uint64_t length;     /* bytes of input replaced */
	int secret;          /* 1 for secrets, 0 for prompt text */
};

struct am_redact_rule {
	const char *id;
	const char *description;
};

/* Output sink: write n bytes, return 0 or -1 (errno set). */
typedef int (*am_redact_write_fn)(void *arg, const void *buf, size_t n);
/* Called once per finding, in input order. */
typedef void (*am_redact_finding_fn)(void *arg, const struct am_redact_finding *f);

struct am_redact;

/* A new scanner with a fresh random salt.  Never NULL (aborts on OOM or if
 * libsodium cannot initialise). */
struct am_redact *am_redact_new(void);
/* Free the scanner, wiping its salt.  NULL is a no-op. */
void am_redact_free(struct am_redact *r);

/* Optional: called for each finding of every later file. */
void am_redact_set_finding_cb(struct am_redact *r, am_redact_finding_fn fn, void *arg);

/* Start a file.  file names it in findings (the scanner keeps a copy);
 * write may be NULL to scan without output.  Findings are
 * aggregated per (rule, file, line) for the report.  A file already begun
 * is ended first. */
int am_redact_begin(struct am_redact *r, const char *file, enum am_redact_mode mode,
		    am_redact_write_fn write, void *write_arg, struct am_error **err);
/* Feed the next n bytes of the file (any n, including 0). */
int am_redact_feed(struct am_redact *r, const void *buf, size_t n, struct am_error **err);
/* Finish the file: flush everything held back.  0, or -1 if a write failed
 * (then, and after any failed feed, the output is incomplete). */
int am_redact_end(struct am_redact *r, struct am_error **err);

/* Convenience: redact a whole buffer; *out gets a NUL-terminated copy that
 * the caller frees. */
int am_redact_buf(struct am_redact *r, const char *file, enum am_redact_mode mode,
		  const void *in, size_t n, char **out, size_t *outlen, struct am_error **err);

/* AM_REDACT_JSON for names ending in .json, .jsonl, .ndjson; else TEXT. */
enum am_redact_mode am_redact_mode_for_name(const char *name);

/* Counts since the scanner was created. */
uint64_t am_redact_secrets(const struct am_redact *r);
uint64_t am_redact_prompts(const struct am_redact *r);

/* The report so far: [{"rule","file","line","count"}...] in input order. */
cJSON *am_redact_report_json(const struct am_redact *r);

/* Every rule the scanner applies (for man pages and `am diagnostics`). */
const struct am_redact_rule *am_redact_rules(size_t *n);

#endif
