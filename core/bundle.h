/* bundle.h - redacted diagnostic bundles (am diagnostics, SPEC section 11).
 *
 * A bundle is a tar archive compressed with zstd (libarchive) holding:
 *   ledger/workspace.json      the workspace id, ledger tip and counts
 *   ledger/operations.jsonl    the latest WorkspaceOperation of each operation
 *   ledger/events.jsonl        their OperationEvents, oldest first
 *   ledger/decisions.jsonl     their PolicyDecisions
 *   ledger/profiles.jsonl      the recorded AgentMachineProfiles
 *   machine/facts.json         kernel, Landlock ABI, cgroup mode, runtimes,
 *                              library versions, allow-listed environment
 *   executions/<uuid>/<log>    the machine-local logs of those operations
 *   manifest.json              the AgentMachineDiagnosticBundle (last entry)
 *
 * Three steps, so that a secret has to get past all of them:
 *   collect less  only allow-listed artifact fields, files and environment
 *                 values; a log whose file NAME looks like a secret is
 *                 dropped;
 *   scrub         every entry goes through one am_redact scanner (JSON mode
 *                 for .json/.jsonl), so a secret gets one pseudonym across
 *                 the bundle;
 *   verify        the archive file is read back with libarchive and a fresh
 *                 scanner runs over every entry, to the end of the finished
 *                 file: one secret found and the archive is deleted
 *                 (AM_EINTEGRITY).  The reader is a thread that follows the
 *                 file as it is written (it reads what reached the file,
 *                 never the writer's buffers), so the check costs little
 *                 more wall-clock time than the writing.
 *
 * Memory stays bounded whatever the size of the logs: entries are redacted
 * chunk by chunk into a spool (memory up to AM_BUNDLE_SPOOL_MEM, then an
 * unlinked temporary file beside the output) because a tar header needs the
 * entry's size before its data; the spool is then streamed into the archive,
 * whose zstd filter compresses on worker threads while the next entry is
 * redacted.
 *
 * Nothing here prints; progress goes to a callback.
 *
 * Ownership: cJSON trees and strings in the result structs are freed by
 * am_bundle_result_free() / am_bundle_check_free(); the caller owns the
 * structs themselves.
 */
#ifndef AM_BUNDLE_H
#define AM_BUNDLE_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "ledger.h"
#include "redact.h"

#define AM_BUNDLE_KIND "AgentMachineDiagnosticBundle"
#define AM_BUNDLE_OPERATION "agent_machine.diagnostics.export_redacted"
#define AM_BUNDLE_SPOOL_MEM (8u << 20) /* redacted bytes of one entry kept in memory */

/* Progress of a phase ("collect" or "verify"): done of total bytes (total 0:
 * unknown).  Return non-zero to cancel (the export then fails with
 * AM_EFAIL "interrupted"). */
typedef int (*am_bundle_progress_fn)(void *arg, const char *phase, uint64_t done, uint64_t total);

struct am_bundle_opts {
	const char *operation;   /* full operation id to limit the bundle to, or NULL */
	int64_t since;           /* only what changed at or after this time; 0: all */
	const char *export_op;   /* the export operation's id, named in the manifest */
	int threads;             /* zstd worker threads; 0: one per online CPU */
	am_bundle_progress_fn progress;
	void *progress_arg;
};

struct am_bundle_result {
	cJSON *manifest;      /* what manifest.json holds */
	char digest[AM_ID_LEN]; /* "sha256:<hex>" of the archive file */
	uint64_t size;        /* bytes of the archive file */
	uint64_t files;       /* entries, manifest.json included */
	uint64_t secrets;     /* secrets redacted */
	uint64_t prompts;     /* prompt values replaced */
	uint64_t leaks;       /* secrets the re-scan found (then the export failed) */
	cJSON *leak_report;   /* [{"file","line","rule"}] of those (at most 20) */
};

/* Create the temporary file the archive is written to: ".NAME.XXXXXX" in
 * the directory of path, mode 0600.  *tmp is the caller's. */
int am_bundle_tmpfile(const char *path, char **tmp, int *fd, struct am_error **err);

/* Collect, scrub and archive into fd (the temporary file tmp), then re-scan
 * the finished archive.  On success res is filled and fd is closed.  On a
 * re-scan hit: AM_EINTEGRITY, res->leaks and res->leak_report set.  On any
 * failure the caller unlinks tmp. */
int am_bundle_write(struct am_ledger *l, const struct am_bundle_opts *o, int fd,
		    const char *tmp, struct am_bundle_result *res, struct am_error **err);
void am_bundle_result_free(struct am_bundle_result *res);

/* The AgentMachineDiagnosticBundle artifact: the manifest plus the
 * archive's digest and size (caller frees). */
cJSON *am_bundle_artifact(const struct am_bundle_result *res);
/* Stage the artifact and its index bundles/<hex[0:2]>/<hex> (looked up by
 * digest); ref gets the artifact id. */
int am_bundle_record(struct am_txn *t, const char *op_id, const cJSON *artifact,
		     char ref[AM_ID_LEN], struct am_error **err);

/* What am diagnostics scan and verify count. */
struct am_scan_stats {
	uint64_t files;   /* regular files scanned */
	uint64_t bytes;
	uint64_t skipped; /* not regular files (symlinks, devices, ...) */
};

/* Scan path (a file, or a directory recursively; symbolic links below it
 * are not followed and .git directories are skipped) with r, which reports
 * findings through its callback.  "-" reads standard input as "(stdin)". */
int am_scan_path(struct am_redact *r, const char *path, struct am_scan_stats *st,
		 struct am_error **err);

/* The result of re-checking a bundle file. */
struct am_bundle_check {
	char digest[AM_ID_LEN];
	uint64_t size;
	uint64_t files;
	cJSON *manifest;     /* parsed manifest.json, or NULL */
	char *recorded;      /* id of the matching artifact in this workspace, or NULL */
	char *note;          /* why it is not recorded here, or NULL */
	cJSON *problems;     /* array of strings; empty when the bundle is good */
};

/* Re-check the bundle at path: it reads to the end as tar+zstd, every entry
 * is a regular file with a relative path listed in the manifest with its
 * size, the manifest parses and declares the four *Included flags false,
 * the digest and size match the bundle recorded in l (when l is not NULL
 * and the bundle belongs to its workspace), and a fresh scan finds no
 * secret.  Returns 0 with problems filled (possibly empty), or -1 when the
 * file cannot be opened at all. */
int am_bundle_verify(struct am_ledger *l, const char *path, struct am_bundle_check *out,
		     struct am_error **err);
void am_bundle_check_free(struct am_bundle_check *c);

#endif
