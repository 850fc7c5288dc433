/* error.h - the error model shared by core and cmd.
 *
 * core functions never print and never exit: they return -1 (or NULL) and
 * fill a struct am_error that says what failed (message), how to map it to an
 * exit code (class) and, for input errors, where (a JSON path such as
 * ".network.allow[2]").  Only cmd/ prints and chooses the exit code.
 *
 * Ownership: *err is allocated by am_error_set(); the caller frees it with
 * am_error_free().  Passing err == NULL discards the error.
 */
#ifndef AM_ERROR_H
#define AM_ERROR_H

#include <stdarg.h>

/* Error classes; the value is the process exit code (SPEC section 13). */
enum am_errclass {
	AM_EFAIL = 1,      /* generic failure (I/O, library error) */
	AM_EUSAGE = 2,     /* usage or invalid input */
	AM_EDENIED = 3,    /* denied by policy */
	AM_EAUTH = 4,      /* no or invalid delegated authority */
	AM_EBUDGET = 5,    /* budget exhausted */
	AM_ENOTFOUND = 6,  /* not found (including "not an am workspace") */
	AM_ECONFLICT = 7,  /* illegal transition, lock timeout, lost race */
	AM_EINTEGRITY = 8, /* integrity failure */
	AM_ENOEXEC = 126,  /* a command to run cannot be executed */
	AM_ENOCMD = 127,   /* a command to run was not found */
};

struct am_error {
	enum am_errclass cls;
	char *msg;  /* lowercase, no trailing period, no "am: " prefix */
	char *path; /* JSON path of the offending value, or NULL */
};

/* Set *err (if err != NULL and *err is unset) and return -1. */
int am_error_set(struct am_error **err, enum am_errclass cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like am_error_set, also recording the JSON path in err->path (the caller
 * writes the path into the message too, where it reads best). */
int am_error_setp(struct am_error **err, enum am_errclass cls, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int am_error_vset(struct am_error **err, enum am_errclass cls, const char *path,
		  const char *fmt, va_list ap);
/* Prefix the message of an existing error with "PREFIX: "; returns -1. */
int am_error_prefix(struct am_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Stable class name used in --json errors: "usage", "denied", ... */
const char *am_errclass_name(enum am_errclass cls);
void am_error_free(struct am_error *err);

#endif
