/* authority.c - in-process cost of verifying a delegation chain, the check
 * every command acting under a delegation makes.  Usage:
 *   bench/authority WORKSPACE TOKENFILE RUNS
 * prints microseconds per verification. */
#include <time.h>

#include <git2.h>
#include <sodium.h>

#include "authority.h"
#include "ledger.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct am_ledger *l = NULL;
	struct am_error *err = NULL;
	struct timespec a, b;
	char *token = NULL;
	size_t len;
	long long runs;
	long long i;
	double us;

	if (argc != 4 || am_strtonum(argv[3], 1, 10000000, &runs) != NULL) {
		fprintf(stderr, "usage: bench/authority WORKSPACE TOKENFILE RUNS\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	git_libgit2_init();
	if (am_ledger_open(argv[1], &l, &err) < 0 || am_read_file(argv[2], 0, &token, &len, &err) < 0) {
		fprintf(stderr, "bench/authority: %s\n", err->msg);
		return 1;
	}
	token[strcspn(token, "\r\n")] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < runs; i++) {
		struct am_chain c;

		if (am_delegation_verify(l, token, am_now(), &c, &err) < 0) {
			fprintf(stderr, "bench/authority: %s\n", err->msg);
			return 1;
		}
		am_chain_free(&c);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / (double)runs;
	printf("%.1f\n", us);
	free(token);
	am_ledger_free(l);
	git_libgit2_shutdown();
	return 0;
}
