/* t.h - a tiny unit test harness: each test binary prints one line per
 * failed check and exits non-zero if any failed; tests/00-unit.bats runs every
 * binary as one bats test. */
#ifndef AM_T_H
#define AM_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed, t_checks;

#define T_OK(cond)                                                              \
	do {                                                                    \
		t_checks++;                                                     \
		if (!(cond)) {                                                  \
			t_failed++;                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,  \
				__LINE__, #cond);                               \
		}                                                               \
	} while (0)
#define T_STREQ(a, b)                                                           \
	do {                                                                    \
		const char *t_a = (a), *t_b = (b);                              \
		t_checks++;                                                     \
		if (t_a == NULL || t_b == NULL || strcmp(t_a, t_b) != 0) {      \
			t_failed++;                                             \
			fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__,      \
				__LINE__, t_a ? t_a : "(null)",                 \
				t_b ? t_b : "(null)");                          \
		}                                                               \
	} while (0)
#define T_DONE()                                                                \
	do {                                                                    \
		printf("%d checks, %d failed\n", t_checks, t_failed);           \
		return t_failed ? 1 : 0;                                        \
	} while (0)

#endif
