/* error.c - see error.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

int
am_error_vset(struct am_error **err, enum am_errclass cls, const char *path,
	      const char *fmt, va_list ap)
{
	struct am_error *e;

	if (err == NULL || *err != NULL)
		return -1; /* keep the first (innermost) error */
	e = am_xcalloc(1, sizeof(*e));
	e->cls = cls;
	e->path = path ? am_xstrdup(path) : NULL;
	if (vasprintf(&e->msg, fmt, ap) < 0)
		am_die_oom();
	*err = e;
	return -1;
}

int
am_error_set(struct am_error **err, enum am_errclass cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	am_error_vset(err, cls, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

int
am_error_setp(struct am_error **err, enum am_errclass cls, const char *path,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	am_error_vset(err, cls, path, fmt, ap);
	va_end(ap);
	return -1;
}

int
am_error_prefix(struct am_error **err, const char *fmt, ...)
{
	va_list ap;
	char *pfx, *msg;

	if (err == NULL || *err == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&pfx, fmt, ap) < 0)
		am_die_oom();
	va_end(ap);
	if (asprintf(&msg, "%s: %s", pfx, (*err)->msg) < 0)
		am_die_oom();
	free(pfx);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

const char *
am_errclass_name(enum am_errclass cls)
{
	switch (cls) {
	case AM_EFAIL: return "failure";
	case AM_EUSAGE: return "usage";
	case AM_EDENIED: return "denied";
	case AM_EAUTH: return "authority";
	case AM_EBUDGET: return "budget";
	case AM_ENOTFOUND: return "not_found";
	case AM_ECONFLICT: return "conflict";
	case AM_EINTEGRITY: return "integrity";
	case AM_ENOEXEC: return "cannot_execute";
	case AM_ENOCMD: return "command_not_found";
	}
	return "failure";
}

void
am_error_free(struct am_error *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	free(err->path);
	free(err);
}
