/* test_diskusage.c - am_sandbox_disk_usage, the walk behind the measured
 * growth of writable paths (localDiskBytes): allocated bytes of regular
 * files, a hard-linked file once, symbolic links not followed, skipped
 * directories, a root inside another root once, a tree deeper than
 * PATH_MAX and than the descriptors the walk keeps open, and (in a mount
 * namespace of its own, where the kernel allows one) no crossing into
 * another mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "t.h"
#include "util.h"

static char base[64];

/* Write n bytes (not sparse) to dirfd/name; returns its allocated bytes. */
static uint64_t
put(int dirfd, const char *name, size_t n)
{
	static char buf[65536];
	struct stat st;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	memset(buf, 'x', sizeof buf);
	if (fd < 0)
		return 0;
	while (n > 0) {
		size_t k = n < sizeof buf ? n : sizeof buf;

		if (write(fd, buf, k) != (ssize_t)k)
			break;
		n -= k;
	}
	fsync(fd);
	fstat(fd, &st);
	close(fd);
	return (uint64_t)st.st_blocks * 512;
}

/* The path base/rel (in one of four buffers, so two can be arguments). */
static char *
at(const char *rel)
{
	static char p[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", base, rel);
	return p[i];
}

/* The usage under r1 and r2 (may be NULL; relative to base), skipping skip. */
static uint64_t
du(const char *r1, const char *r2, const char *skip)
{
	char a[PATH_MAX], b[PATH_MAX], s[PATH_MAX];
	char *roots[3] = { a, r2 ? b : NULL, NULL }, *sk[2] = { skip ? s : NULL, NULL };
	uint64_t n = 0;

	snprintf(a, sizeof a, "%s", at(r1));
	if (r2)
		snprintf(b, sizeof b, "%s", at(r2));
	if (skip)
		snprintf(s, sizeof s, "%s", at(skip));
	T_OK(am_sandbox_disk_usage(roots, sk, &n) == 0);
	return n;
}

int
main(void)
{
	uint64_t a, b, c, n, deep = 0;
	int fd, i, d, depth = 2100; /* 2 bytes a level: a path of 4200 > PATH_MAX */
	pid_t pid;
	int st;

	snprintf(base, sizeof base, "/var/tmp/am-du-%d", (int)getpid());
	T_OK(mkdir(base, 0755) == 0);
	T_OK(mkdir(at("ws"), 0755) == 0 && mkdir(at("ws/sub"), 0755) == 0 &&
	     mkdir(at("ws/.am"), 0755) == 0 && mkdir(at("out"), 0755) == 0);
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* Regular files, allocated bytes. */
	a = put(fd, "ws/a", 100000);
	b = put(fd, "ws/sub/b", 300000);
	T_OK(a >= 100000 && b >= 300000);
	T_OK(du("ws", NULL, NULL) == a + b);

	/* Another name of b: counted once; a symbolic link to a large file and
	 * to a directory outside: not followed. */
	T_OK(link(at("ws/sub/b"), at("ws/b2")) == 0);
	c = put(fd, "out/big", 1 << 20);
	T_OK(symlink(at("out/big"), at("ws/lbig")) == 0 && symlink(at("out"), at("ws/lout")) == 0);
	T_OK(du("ws", NULL, NULL) == a + b);
	/* The link outside counts when that tree is walked, once overall. */
	T_OK(link(at("ws/a"), at("out/a2")) == 0);
	T_OK(du("ws", "out", NULL) == a + b + c);

	/* Skipped: the ledger directory. */
	n = put(fd, "ws/.am/pack", 200000);
	T_OK(du("ws", NULL, NULL) == a + b + n);
	T_OK(du("ws", NULL, "ws/.am") == a + b);

	/* A root inside another root, or twice: once. */
	T_OK(du("ws", "ws/sub", "ws/.am") == a + b);
	T_OK(du("ws/sub", "ws", "ws/.am") == a + b);
	T_OK(du("ws", "ws", "ws/.am") == a + b);

	/* Deeper than PATH_MAX and than the open descriptors the walk keeps,
	 * with files at several depths; and the walk goes on after it. */
	d = openat(fd, "ws/sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; i < depth && d >= 0; i++) {
		int nd;

		if (i % 500 == 7)
			deep += put(d, "f", 5000);
		if (mkdirat(d, "d", 0755) < 0)
			break;
		nd = openat(d, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(d);
		d = nd;
	}
	T_OK(i == depth);
	if (d >= 0) {
		deep += put(d, "bottom", 7000);
		close(d);
	}
	T_OK(mkdir(at("ws/zzz"), 0755) == 0);
	n = put(fd, "ws/zzz/last", 50000);
	T_OK(du("ws", NULL, "ws/.am") == a + b + deep + n);

	/* Not across a mount point: a tmpfs in a mount namespace of our own. */
	pid = fork();
	if (pid == 0) {
		uint64_t m = 0;
		char *roots[] = { at("ws"), NULL }, *sk[] = { at("ws/.am"), NULL };

		if (unshare(CLONE_NEWNS) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", at("ws/sub"), "tmpfs", 0, "size=4m") < 0)
			_exit(77);
		/* By path, in this namespace (fd would reach the directory under
		 * the mount): a walk that crossed the mount would count it. */
		if (put(AT_FDCWD, at("ws/sub/inmount"), 1 << 20) == 0)
			_exit(1);
		if (am_sandbox_disk_usage(roots, sk, &m) < 0)
			_exit(1);
		/* ws/sub (b, the deep tree) is covered; b2 is another name of b. */
		_exit(m == a + b + n ? 0 : 1);
	}
	T_OK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		printf("skipped: no mount namespace for this user\n");
	else
		T_OK(WEXITSTATUS(st) == 0);

	/* A root that does not exist. */
	{
		char *roots[] = { at("missing"), NULL };

		T_OK(am_sandbox_disk_usage(roots, NULL, &n) < 0 && n == 0);
	}

	close(fd);
	/* rm(1) removes a tree deeper than PATH_MAX. */
	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		T_OK(system(cmd) == 0);
	}
	T_DONE();
}
