/* am.h - what every command file shares: the command table entry, the
 * global options, and the output helpers (the only place am prints). */
#ifndef AM_CMD_H
#define AM_CMD_H

#include <cjson/cJSON.h>

#include "error.h"
#include "util.h"

/* Global options, parsed by cmd/am.c before the command name. */
struct am_ctx {
	int json;       /* --json: one JSON document on stdout */
	int quiet;      /* -q: no informational output */
	int color;      /* colour allowed (tty, no --no-color, no NO_COLOR) */
	const char *cmdname;
	const struct am_cmd *cmd;
};

struct am_cmd {
	const char *name;
	const char *summary;
	const char *usage;   /* after "am NAME "; lines separated by '\n' */
	int (*exec)(struct am_ctx *ctx, int argc, char **argv);
};

/* The NULL-terminated command table, in cmd/am.c. */
extern const struct am_cmd *const am_commands[];

/* Print err ("am: msg" on stderr, or the --json error document on stdout),
 * free it and return its exit code. */
int am_report(struct am_ctx *ctx, struct am_error *err);
/* Print a usage error for the current command and return 2. */
int am_usage_error(struct am_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "usage: am NAME ..." for cmd on f. */
void am_print_usage(FILE *f, const struct am_cmd *cmd);
/* Informational message on stderr unless -q or --json. */
void am_info(struct am_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Warning on stderr ("am: warning: ..."), even with --json. */
void am_warn(struct am_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a JSON document (pretty) on stdout and free it. */
void am_print_json(cJSON *doc);
/* Is this argument "-h" or "--help"?  Commands call am_help_requested()
 * first; it prints usage and returns 1. */
int am_help_requested(struct am_ctx *ctx, int argc, char **argv);

struct am_ledger;
struct am_authz;
struct am_authz_req;
/* Find and open the workspace ledger for a command; on failure print the
 * error and return the exit code (non-zero), else 0. */
int am_open_ledger(struct am_ctx *ctx, struct am_ledger **l);
/* Start the background merge of the ledger this process committed to, if
 * its packs are due one; what a command does when it ends. */
void am_merge_pending(void);

/* --key and --delegation, shared by every mutating command. */
struct am_auth_opts {
	const char *key;        /* --key FILE (else $AM_KEY) */
	const char *delegation; /* --delegation TOKEN|@FILE (else $AM_DELEGATION) */
};
#define AM_AUTH_LONGOPTS                                             \
	{ "key", required_argument, NULL, 0x100 },                   \
	{ "delegation", required_argument, NULL, 0x101 }
/* getopt cases for the two options; use inside a switch. */
#define AM_AUTH_CASES(o)                                             \
	case 0x100: (o).key = optarg; break;                         \
	case 0x101: (o).delegation = optarg; break
/* Check authority for req (filling key/token from o); on failure print and
 * return the exit code, else 0. */
int am_cmd_authorize(struct am_ctx *ctx, struct am_ledger *l, const struct am_auth_opts *o,
		     struct am_authz_req *req, struct am_authz *out);
/* A command's verbs ("am trust add ..."), dispatched by am_run_verb. */
struct am_verb {
	const char *name;
	int (*fn)(struct am_ctx *ctx, int argc, char **argv);
};
/* Run the verb argv[1] of verbs[n] with argv shifted by one, or print a
 * usage error; getopt is reset for the verb's own parse. */
int am_run_verb(struct am_ctx *ctx, int argc, char **argv, const struct am_verb *verbs, size_t n);

/* Split "a,b,c" into a NULL-terminated vector (caller am_strv_free()s). */
char **am_split_list(const char *s);

#endif

