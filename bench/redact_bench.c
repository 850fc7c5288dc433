/* redact_bench.c - throughput of the redactor (core/redact.c) over a tree.
 *
 *   redact_bench [-o OUTDIR] [-n PASSES] DIR
 *
 * Redacts every regular file under DIR except manifest.json, in 1 MiB
 * reads, JSON mode for .json/.jsonl; with -o the redacted copies go to
 * OUTDIR/<same relative path>, else they are discarded.  Prints one line:
 * files, bytes, CPU seconds and MB/s (best of PASSES; wall clock beside),
 * secrets and prompts found.
 * This is the loop `am diagnostics scan` will run. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <time.h>

#include "redact.h"
#include "util.h"

static struct am_redact *R;
static const char *outdir;
static size_t rootlen;
static uint64_t nbytes, nfiles;
static char *rbuf;

static int
discard(void *arg, const void *p, size_t n)
{
	return 0;
}

static int
to_fd(void *arg, const void *p, size_t n)
{
	return am_write_all(*(int *)arg, p, n);
}

/* Redact one file; returns 0 or -1 (message printed). */
static int
one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path + rootlen;
	struct am_error *err = NULL;
	int fd, ofd = -1;
	ssize_t n;

	if (type != FTW_F || !S_ISREG(st->st_mode) || strcmp(path + ftw->base, "manifest.json") == 0)
		return 0;
	while (*rel == '/')
		rel++;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "redact_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (outdir) {
		char *op = am_xasprintf("%s/%s", outdir, rel), *slash = strrchr(op, '/');

		*slash = 0;
		if (am_mkdir_p(op, 0755, &err) < 0) {
			fprintf(stderr, "redact_bench: %s\n", err->msg);
			return -1;
		}
		*slash = '/';
		ofd = open(op, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		free(op);
		if (ofd < 0) {
			fprintf(stderr, "redact_bench: %s: %s\n", rel, strerror(errno));
			close(fd);
			return -1;
		}
	}
	am_redact_begin(R, rel, am_redact_mode_for_name(rel), ofd >= 0 ? to_fd : discard, &ofd, NULL);
	while ((n = read(fd, rbuf, 1 << 20)) > 0) {
		if (am_redact_feed(R, rbuf, (size_t)n, &err) < 0)
			break;
		nbytes += (uint64_t)n;
	}
	if (am_redact_end(R, err ? NULL : &err) < 0 || n < 0) {
		fprintf(stderr, "redact_bench: %s: %s\n", rel, err ? err->msg : strerror(errno));
		am_error_free(err);
		close(fd);
		if (ofd >= 0)
			close(ofd);
		return -1;
	}
	nfiles++;
	close(fd);
	if (ofd >= 0)
		close(ofd);
	return 0;
}

static double
now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int c, passes = 1;
	double best = 0, bestwall = 0;
	long long v;

	while ((c = getopt(argc, argv, "o:n:")) != -1) {
		switch (c) {
		case 'o':
			outdir = optarg;
			break;
		case 'n':
			if (am_strtonum(optarg, 1, 100, &v) != NULL) {
				fprintf(stderr, "redact_bench: bad -n\n");
				return 2;
			}
			passes = (int)v;
			break;
		default:
			fprintf(stderr, "usage: redact_bench [-o OUTDIR] [-n PASSES] DIR\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: redact_bench [-o OUTDIR] [-n PASSES] DIR\n");
		return 2;
	}
	rootlen = strlen(argv[optind]);
	rbuf = am_xmalloc(1 << 20);
	for (int p = 0; p < passes; p++) {
		double c0, w0, t, w;

		am_redact_free(R);
		R = am_redact_new();
		nbytes = nfiles = 0;
		c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		w0 = now(CLOCK_MONOTONIC);
		if (nftw(argv[optind], one, 32, FTW_PHYS) != 0)
			return 1;
		t = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
		w = now(CLOCK_MONOTONIC) - w0;
		if (p == 0 || t < best)
			best = t;
		if (p == 0 || w < bestwall)
			bestwall = w;
	}
	/* CPU time is what one core spends; wall time also counts waiting
	 * for a core on a busy machine */
	printf("files %llu bytes %llu cpu-seconds %.3f MB/s %.1f (wall %.3f s, %.1f MB/s) secrets %llu prompts %llu\n",
	       (unsigned long long)nfiles, (unsigned long long)nbytes, best,
	       (double)nbytes / 1e6 / best, bestwall, (double)nbytes / 1e6 / bestwall,
	       (unsigned long long)am_redact_secrets(R), (unsigned long long)am_redact_prompts(R));
	am_redact_free(R);
	free(rbuf);
	return 0;
}
