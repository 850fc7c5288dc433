/* policy.c - in-process cost of one policy decision against a profile of
 * many rules.  Usage: bench/policy PROFILE RESOURCE_GATE RESOURCE RUNS
 * (the profile is resolved as am would: templates from AM_PROFILES_DIR).
 * Prints microseconds per decision. */
#include <time.h>

#include <git2.h>
#include <sodium.h>

#include "policy.h"
#include "profile.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct am_profile p;
	struct am_error *err = NULL;
	struct timespec a, b;
	long long runs, i;
	int permits = 0;

	if (argc != 5 || am_strtonum(argv[4], 1, 100000000, &runs) != NULL) {
		fprintf(stderr, "usage: bench/policy PROFILE GATE RESOURCE RUNS\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (am_profile_resolve(NULL, argv[1], &p, &err) < 0) {
		fprintf(stderr, "bench/policy: %s\n", err->msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < runs; i++) {
		struct am_decision d;

		if (am_policy_decide(&p, argv[2], argv[3], NULL, &d, &err) < 0) {
			fprintf(stderr, "bench/policy: %s\n", err->msg);
			return 1;
		}
		permits += d.permit;
		am_decision_free(&d);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.3f %d\n",
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / (double)runs,
	       permits > 0);
	am_profile_free(&p);
	return 0;
}
