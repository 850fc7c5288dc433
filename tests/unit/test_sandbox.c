/* test_sandbox.c - real commands under real plans, each of which must be
 * contained: writes outside the read-write paths, deny paths, the hidden
 * ledger, executing what is not granted, the host's loopback, setuid,
 * ptrace, new namespaces, mount, io_uring, a fork bomb, a memory bomb, a
 * full scratch disk, a daemonized grandchild, and signal forwarding.
 *
 * Run as root it also runs itself again as the user amtest (if that user
 * exists) through runuser; run as a normal user it skips what needs a
 * writable cgroup and says so.  The binary doubles as the helper that makes
 * the raw system calls inside the sandbox: "test_sandbox --helper NAME".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/io_uring.h>

#include "sandbox.h"
#include "t.h"
#include "util.h"

/* ---- the helper (runs inside) --------------------------------------- */

static void
say(const char *what, long rc)
{
	printf("%s=%s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

static int
helper(int argc, char **argv)
{
	const char *h = argv[2];

	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(h, "ptrace") == 0) {
		struct iovec l, r;
		char buf[8];
		pid_t kid = fork();
		if (kid == 0) {
			pause();
			_exit(0);
		}
		say("ptrace_attach", ptrace(PTRACE_ATTACH, kid, NULL, NULL));
		l = (struct iovec){ buf, sizeof buf };
		r = (struct iovec){ (void *)&l, sizeof buf };
		say("process_vm_readv", process_vm_readv(kid, &l, 1, &r, 1, 0));
		say("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
		kill(kid, SIGKILL);
		return 0;
	}
	if (strcmp(h, "mount") == 0) {
		say("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
		say("umount2", umount2("/proc", MNT_DETACH));
		say("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
		say("chroot", chroot("/tmp"));
		return 0;
	}
	if (strcmp(h, "kernel") == 0) {
		struct io_uring_params iop;
		char c = 'x';
		long rc;
		memset(&iop, 0, sizeof iop);
		rc = syscall(SYS_io_uring_setup, 4, &iop);
		say("io_uring_setup", rc);
		say("bpf", syscall(SYS_bpf, 0, NULL, 0));
		say("userfaultfd", syscall(SYS_userfaultfd, 0));
		say("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
		say("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
		say("unshare", unshare(CLONE_NEWNS));
		say("setns", setns(0, 0));
		say("clone_newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL));
		say("clone3", syscall(SYS_clone3, NULL, 0));
		say("personality_norandom", personality(ADDR_NO_RANDOMIZE));
		say("personality_query", personality(0xffffffff));
		say("tiocsti", ioctl(0, TIOCSTI, &c));
		say("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
		/* a plain fork must still work */
		rc = fork();
		if (rc == 0)
			_exit(0);
		if (rc > 0)
			waitpid((pid_t)rc, NULL, 0);
		say("fork", rc);
		return 0;
	}
	if (strcmp(h, "connect") == 0 && argc > 3) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_port = htons((uint16_t)strtol(argv[3], NULL, 10));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		say("connect", connect(s, (struct sockaddr *)&a, sizeof a));
		return 0;
	}
	if (strcmp(h, "loopback") == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof a;
		int l = socket(AF_INET, SOCK_STREAM, 0), s = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
		    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
			say("loopback", -1);
			return 0;
		}
		say("loopback", connect(s, (struct sockaddr *)&a, sizeof a));
		return 0;
	}
	if (strcmp(h, "abstract") == 0 && argc > 3) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		size_t n = strlen(argv[3]);
		memcpy(a.sun_path + 1, argv[3], n);
		say("abstract", connect(s, (struct sockaddr *)&a,
					(socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)));
		return 0;
	}
	if (strcmp(h, "memhog") == 0 && argc > 3) {
		long mb = strtol(argv[3], NULL, 10), i;
		for (i = 0; i < mb; i++) {
			char *p = malloc(1 << 20);
			if (p == NULL) {
				printf("memhog=ENOMEM at %ld MiB\n", i);
				return 3;
			}
			memset(p, 1, 1 << 20);
		}
		printf("memhog=ok\n");
		return 0;
	}
	fprintf(stderr, "unknown helper %s\n", h);
	return 2;
}

/* ---- the harness ---------------------------------------------------- */

static char self[PATH_MAX];    /* this binary (exec_paths: the helper) */
static char base[64];          /* our temporary tree under /var/tmp */
static char rwdir[PATH_MAX], rodir[PATH_MAX], outfile[PATH_MAX];
static const char *suid_path;  /* a setuid-root copy of id(1), or NULL */
static struct am_sandbox_features feat;
static int as_user;            /* not root */
#ifdef __SANITIZE_ADDRESS__
/* An ASan build of the helper reserves terabytes of shadow memory at start
 * and cannot run under RLIMIT_AS, the memory fallback without a cgroup. */
static const int asan = 1;
#else
static const int asan = 0;
#endif

static char *env_default[] = { "PATH=/usr/bin:/bin", "HOME=/tmp/home", "TMPDIR=/tmp",
			       "LANG=C", NULL };
static char *ro_default[4];
static char *rw_default[2];
static char *exec_default[20];

struct res {
	int started;
	int ended;
	int status;
	struct am_usage u;
	char out[16384];
	char err[512];
};

static void
plan_init(struct am_sandbox_plan *p, char **argv)
{
	memset(p, 0, sizeof *p);
	p->argv = argv;
	p->env = env_default;
	p->cwd = rwdir;
	p->ro_paths = ro_default;
	p->rw_paths = rw_default;
	p->exec_paths = exec_default;
	p->scratch_bytes = 8 << 20;
	p->net = AM_NET_NONE;
	p->memory_bytes = 256 << 20;
	p->max_pids = 64;
	p->cpu_seconds = 30;
	p->stdin_fd = -1;
	p->progress_fd = -1;
}

/* Start, wait up to timeout_ms (then kill), collect output. */
static void
run_plan(struct am_sandbox_plan *p, int timeout_ms, struct res *r)
{
	struct am_sandbox *sb;
	struct am_error *err = NULL;
	int fd, n;

	memset(r, 0, sizeof *r);
	if (asan && !feat.cgroup_memory && strcmp(p->argv[0], self) == 0)
		p->memory_bytes = 0;
	fd = open(outfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	p->stdout_fd = p->stderr_fd = fd;
	if (am_sandbox_start(p, &sb, &err) < 0) {
		snprintf(r->err, sizeof r->err, "%s", err->msg);
		am_error_free(err);
		close(fd);
		return;
	}
	r->started = 1;
	r->ended = am_sandbox_wait(sb, timeout_ms, &r->status, &r->u, &err);
	if (r->ended == 0) {
		am_sandbox_kill(sb);
		am_sandbox_wait(sb, -1, &r->status, &r->u, &err);
	}
	am_error_free(err);
	am_sandbox_free(sb);
	n = (int)pread(fd, r->out, sizeof r->out - 1, 0);
	r->out[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void
run_sh(struct am_sandbox_plan *p, const char *script, struct res *r)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	p->argv = argv;
	run_plan(p, 20000, r);
}

static char *
subst(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static int
has(const struct res *r, const char *needle)
{
	if (strstr(r->out, needle))
		return 1;
	fprintf(stderr, "  output lacks '%s':\n%s\n", needle, r->out);
	return 0;
}

static int
lacks(const struct res *r, const char *needle)
{
	if (!strstr(r->out, needle))
		return 1;
	fprintf(stderr, "  output has '%s':\n%s\n", needle, r->out);
	return 0;
}

static int
exited(const struct res *r, int code)
{
	if (r->started && WIFEXITED(r->status) && WEXITSTATUS(r->status) == code)
		return 1;
	fprintf(stderr, "  expected exit %d; started %d status 0x%x err '%s' output:\n%s\n", code,
		r->started, r->status, r->err, r->out);
	return 0;
}

static void
put(const char *path, const char *data, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || am_write_all(fd, data, strlen(data)) < 0)
		abort();
	close(fd);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static off_t
size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static int
wait_file(const char *path, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (exists(path))
			return 1;
		usleep(10000);
	}
	return 0;
}

/* ---- the tests ------------------------------------------------------ */

static void
test_basics(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char marker[64];

	snprintf(marker, sizeof marker, "/tmp/am-sbtest-marker-%d", (int)getpid());
	put(marker, "x", 0644);
	plan_init(&p, NULL);
	run_sh(&p, "echo hello; id -u; cat /proc/sys/kernel/hostname; "
		   "grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status; "
		   "echo pid=$$; echo home=$(stat -c %a /tmp/home); ls -a /tmp; "
		   "echo procs=$(ls /proc | grep -c '^[0-9]'); echo end", &r);
	T_OK(exited(&r, 0));
	T_OK(has(&r, "hello\n0\nam-sandbox\n"));
	T_OK(has(&r, "NoNewPrivs:\t1"));
	T_OK(has(&r, "Seccomp:\t2"));
	T_OK(has(&r, "CapEff:\t0000000000000000"));
	T_OK(has(&r, "CapBnd:\t0000000000000000"));
	T_OK(has(&r, "pid=2\n")); /* the init is 1 */
	T_OK(has(&r, "home=700"));
	T_OK(lacks(&r, "am-sbtest-marker")); /* the host's /tmp is out of sight */
	{
		/* /proc is the sandbox's: the init, sh, ls, grep and a subshell */
		const char *s = strstr(r.out, "procs=");
		long n = s ? strtol(s + 6, NULL, 10) : -1;
		T_OK(n > 0 && n <= 6);
		if (n <= 0 || n > 6)
			fprintf(stderr, "  /proc shows %ld processes\n", n);
	}
	unlink(marker);

	run_sh(&p, "exit 3", &r);
	T_OK(exited(&r, 3));
	run_sh(&p, "kill -9 $$", &r);
	T_OK(exited(&r, 137));
	{
		char *argv[] = { "/usr/bin/whoami", NULL }; /* not in exec_paths */
		p.argv = argv;
		run_plan(&p, 20000, &r);
		T_OK(exited(&r, 126));
		T_OK(has(&r, "Permission denied"));
	}
	{
		char *argv[] = { "/nonexistent/cmd", NULL };
		p.argv = argv;
		run_plan(&p, 20000, &r);
		T_OK(exited(&r, 127));
	}
}

static void
test_write_outside(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *existing = subst("%s/existing", rodir), *outside = subst("%s/outside", base);
	char *script;

	put(existing, "keep", 0666);
	plan_init(&p, NULL);
	script = subst("echo x > %s/ok && echo rw-ok; echo x > %s/f || echo ro-denied; "
		       "echo x > %s || echo outside-denied; mkdir %s/newdir || echo mkdir-denied; "
		       "rm -f %s || echo rm-denied; echo x >> %s || echo append-denied; "
		       "echo x > /etc/am-sbtest || echo etc-denied",
		       rwdir, rodir, outside, base, existing, existing);
	run_sh(&p, script, &r);
	T_OK(exited(&r, 0));
	T_OK(has(&r, "rw-ok"));
	T_OK(has(&r, "ro-denied"));
	T_OK(has(&r, "outside-denied"));
	T_OK(has(&r, "mkdir-denied"));
	T_OK(has(&r, "rm-denied"));
	T_OK(has(&r, "append-denied"));
	T_OK(has(&r, "etc-denied"));
	T_OK(!exists(outside));
	T_OK(exists(existing) && size_of(existing) == 4);
	T_OK(!exists("/etc/am-sbtest"));
	if (exists("/etc/am-sbtest"))
		unlink("/etc/am-sbtest");
	free(script);
	free(existing);
	free(outside);
}

static void
test_deny_paths(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *home = subst("%s/home", base), *ssh = subst("%s/.ssh", home);
	char *key = subst("%s/id_ed25519", ssh), *netrc = subst("%s/.netrc", home);
	char *profile = subst("%s/.profile", home), *script;
	char *ro[] = { "/usr", "/etc", home, NULL };
	char *deny[] = { ssh, netrc, "/nonexistent/deny", NULL };

	mkdir(home, 0755);
	mkdir(ssh, 0700);
	put(key, "SECRET-KEY", 0600);
	put(netrc, "SECRET-NETRC", 0600);
	put(profile, "PROFILE-OK", 0644);
	plan_init(&p, NULL);
	p.ro_paths = ro;
	p.deny_paths = deny;
	script = subst("cat %s; echo; cat %s || echo key-denied; cat %s; echo netrc-end; ls -A %s; "
		       "echo ls-end",
		       profile, key, netrc, ssh);
	run_sh(&p, script, &r);
	T_OK(exited(&r, 0));
	T_OK(has(&r, "PROFILE-OK"));
	T_OK(has(&r, "key-denied"));
	T_OK(lacks(&r, "SECRET"));
	T_OK(has(&r, "netrc-end\nls-end")); /* the masked directory is empty */
	/* without the deny paths the same plan reads them: the check can fail */
	p.deny_paths = NULL;
	run_sh(&p, script, &r);
	T_OK(has(&r, "SECRET-KEY"));
	free(script);
	free(home);
	free(ssh);
	free(key);
	free(netrc);
	free(profile);
}

static void
test_ledger(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *ledger = subst("%s/.am", rwdir), *secret = subst("%s/ledger-secret", ledger);
	char *newf = subst("%s/new", ledger);

	mkdir(ledger, 0755);
	put(secret, "LEDGER-CONTENT", 0644);
	plan_init(&p, NULL);
	p.ledger_dir = ledger;
	p.ledger_readonly = 0;
	run_sh(&p, "cat .am/ledger-secret || echo ledger-hidden; "
		   "echo x > .am/new || echo ledger-nowrite; echo done", &r);
	T_OK(exited(&r, 0));
	T_OK(has(&r, "ledger-hidden"));
	T_OK(has(&r, "ledger-nowrite"));
	T_OK(lacks(&r, "LEDGER-CONTENT"));
	p.ledger_readonly = 1;
	run_sh(&p, "cat .am/ledger-secret; echo; echo x > .am/new || echo ledger-nowrite; "
		   "rm .am/ledger-secret || echo ledger-normdir", &r);
	T_OK(has(&r, "LEDGER-CONTENT"));
	T_OK(has(&r, "ledger-nowrite"));
	T_OK(has(&r, "ledger-normdir"));
	T_OK(has(&r, "Read-only file system"));
	T_OK(!exists(newf));
	T_OK(exists(secret));
	free(ledger);
	free(secret);
	free(newf);
}

static void
test_exec(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *script = subst("/usr/bin/whoami; echo rc=$?; cp /bin/true %s/mytrue 2>/dev/null; "
			     "cat /bin/true > %s/mytrue; chmod 755 %s/mytrue; %s/mytrue; echo rc2=$?; "
			     "cat /bin/true > /tmp/t; chmod 755 /tmp/t; /tmp/t; echo rc3=$?",
			     rwdir, rwdir, rwdir, rwdir);

	plan_init(&p, NULL);
	run_sh(&p, script, &r);
	T_OK(has(&r, "rc=126"));   /* readable under /usr, not executable */
	T_OK(has(&r, "rc2=126"));  /* written by the agent */
	T_OK(has(&r, "rc3=126"));  /* in the scratch */
	T_OK(has(&r, "Permission denied"));
	free(script);
}

static void
test_network(void)
{
	struct am_sandbox_plan p;
	struct res r;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_un ua = { .sun_family = AF_UNIX };
	socklen_t len = sizeof a;
	char port[16], aname[64];
	char *cargv[] = { self, "--helper", "connect", port, NULL };
	char *largv[] = { self, "--helper", "loopback", NULL };
	char *uargv[] = { self, "--helper", "abstract", aname, NULL };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_OK(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 8) == 0 &&
	     getsockname(l, (struct sockaddr *)&a, &len) == 0);
	snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
	snprintf(aname, sizeof aname, "am-sbtest-%d", (int)getpid());
	memcpy(ua.sun_path + 1, aname, strlen(aname));
	T_OK(bind(u, (struct sockaddr *)&ua,
		  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(aname))) == 0 &&
	     listen(u, 8) == 0);

	plan_init(&p, NULL);
	p.net = AM_NET_NONE;
	p.argv = cargv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "connect=ENETUNREACH"));
	p.argv = largv;
	run_plan(&p, 20000, &r);
	T_OK(lacks(&r, "loopback=ok")); /* loopback is down */

	p.net = AM_NET_LOOPBACK;
	p.argv = cargv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "connect=ECONNREFUSED")); /* its own loopback, not the host's */
	p.argv = largv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "loopback=ok"));

	p.net = AM_NET_HOST; /* the control: the same helper reaches the host */
	p.argv = cargv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "connect=ok"));
	if (feat.landlock_abi >= 6) {
		/* but not the host's abstract UNIX sockets (Landlock scope) */
		p.argv = uargv;
		run_plan(&p, 20000, &r);
		T_OK(has(&r, "abstract=EPERM"));
	}
	close(l);
	close(u);
}

static void
test_setuid(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *exec[AM_ARRAY_LEN(exec_default) + 1];
	char *script;
	size_t i;

	if (suid_path == NULL) {
		printf("note: no setuid-root copy of id(1) to run (needs root to make)\n");
		return;
	}
	for (i = 0; exec_default[i]; i++)
		exec[i] = exec_default[i];
	exec[i++] = (char *)suid_path;
	exec[i] = NULL;
	plan_init(&p, NULL);
	p.exec_paths = exec;
	script = subst("echo plain=$(id -u) suid=$(%s -u) real=$(%s -ru)", suid_path, suid_path);
	run_sh(&p, script, &r);
	T_OK(exited(&r, 0));
	/* no_new_privs: the set-user-ID bit is ignored, the effective uid is
	 * the one the command had */
	T_OK(has(&r, "plain=0 suid=0 real=0"));
	free(script);
}

static void
test_kernel_interfaces(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *pargv[] = { self, "--helper", "ptrace", NULL };
	char *margv[] = { self, "--helper", "mount", NULL };
	char *kargv[] = { self, "--helper", "kernel", NULL };

	plan_init(&p, pargv);
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "ptrace_attach=EPERM"));
	T_OK(has(&r, "process_vm_readv=EPERM"));
	T_OK(has(&r, "ptrace_traceme=EPERM"));
	p.argv = margv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "mount=EPERM"));
	T_OK(has(&r, "umount2=EPERM"));
	T_OK(has(&r, "fsopen=EPERM"));
	T_OK(has(&r, "chroot=EPERM"));
	p.argv = kargv;
	run_plan(&p, 20000, &r);
	T_OK(has(&r, "io_uring_setup=EPERM"));
	T_OK(has(&r, "bpf=EPERM"));
	T_OK(has(&r, "userfaultfd=EPERM"));
	T_OK(has(&r, "perf_event_open=EPERM"));
	T_OK(has(&r, "keyctl=EPERM"));
	T_OK(has(&r, "unshare=EPERM"));
	T_OK(has(&r, "setns=EPERM"));
	T_OK(has(&r, "clone_newuser=EPERM"));
	T_OK(has(&r, "clone3=ENOSYS"));
	T_OK(has(&r, "personality_norandom=EPERM"));
	T_OK(has(&r, "personality_query=ok"));
	T_OK(has(&r, "tiocsti=EPERM"));
	T_OK(has(&r, "open_by_handle_at=EPERM"));
	T_OK(has(&r, "fork=ok"));
	run_sh(&p, "/usr/bin/unshare -U true; echo rc=$?; /usr/bin/unshare -r true; echo rc=$?", &r);
	T_OK(has(&r, "Operation not permitted"));
	T_OK(lacks(&r, "rc=0"));
}

/* Wall-clock time of running /bin/true on the host. */
static double
host_true_seconds(void)
{
	struct timespec t0, t1;
	pid_t pid;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return 1e9;
	waitpid(pid, &st, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void
test_fork_bomb(void)
{
	struct am_sandbox_plan p;
	struct am_sandbox *sb;
	struct am_error *err = NULL;
	struct am_usage u;
	char *argv[] = { "/bin/sh", "-c", "f(){ f | f & }; f; sleep 30", NULL };
	double worst = 0, t;
	int fd, st = 0, i, rc;

	plan_init(&p, argv);
	p.max_pids = 32;
	fd = open(outfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	p.stdout_fd = p.stderr_fd = fd;
	if (am_sandbox_start(&p, &sb, &err) < 0) {
		T_OK(!"start");
		fprintf(stderr, "  %s\n", err->msg);
		am_error_free(err);
		close(fd);
		return;
	}
	/* While it rages, the host forks and execs as usual. */
	for (i = 0; i < 15; i++) {
		usleep(100000);
		t = host_true_seconds();
		if (t > worst)
			worst = t;
	}
	T_OK(worst < 1.0);
	rc = am_sandbox_wait(sb, 0, &st, &u, &err);
	T_OK(rc == 0); /* still running: contained, not crashed */
	am_sandbox_kill(sb);
	rc = am_sandbox_wait(sb, 10000, &st, &u, &err);
	T_OK(rc == 1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	if (feat.cgroup_pids) {
		T_OK(u.pids_limited);
		T_OK(u.pids_peak > 0 && u.pids_peak <= 33);
	} else {
		char out[4096];
		ssize_t n = pread(fd, out, sizeof out - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		printf("note: no writable pids cgroup: the fork bomb met RLIMIT_NPROC\n");
		T_OK(strstr(out, "fork") != NULL); /* "Cannot fork" */
	}
	printf("fork bomb: host /bin/true took at most %.3f s; pids peak %llu\n", worst,
	       (unsigned long long)u.pids_peak);
	am_error_free(err);
	am_sandbox_free(sb);
	close(fd);
}

static void
test_memory_bomb(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *argv[] = { self, "--helper", "memhog", "1024", NULL };

	if (asan && !feat.cgroup_memory) {
		printf("note: ASan build without a memory cgroup: memory bomb skipped\n");
		return;
	}
	plan_init(&p, argv);
	p.memory_bytes = 64 << 20;
	run_plan(&p, 20000, &r);
	T_OK(r.ended == 1);
	T_OK(lacks(&r, "memhog=ok"));
	if (feat.cgroup_memory) {
		T_OK(r.u.oom_killed);
		T_OK(exited(&r, 128 + SIGKILL));
		T_OK(r.u.memory_peak > 0 && r.u.memory_peak <= (64 << 20) + (1 << 20));
		printf("memory bomb: OOM-killed at the cgroup limit, peak %llu bytes\n",
		       (unsigned long long)r.u.memory_peak);
	} else {
		printf("note: no writable memory cgroup: the memory bomb met RLIMIT_AS\n");
		T_OK(has(&r, "memhog=ENOMEM"));
		T_OK(exited(&r, 3));
	}
}

static void
test_disk(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *big = subst("%s/big", rwdir), *script;

	plan_init(&p, NULL);
	p.scratch_bytes = 4 << 20;
	run_sh(&p, "head -c 8388608 /dev/zero > /tmp/fill; echo rc=$?; echo size=$(stat -c %s /tmp/fill)",
	       &r);
	T_OK(exited(&r, 0));
	T_OK(lacks(&r, "rc=0"));
	T_OK(lacks(&r, "size=8388608"));
	T_OK(has(&r, "size=4194304"));
	/* per file, in a read-write path outside the scratch */
	p.scratch_bytes = 8 << 20;
	p.max_file_bytes = 1 << 20;
	script = subst("head -c 2097152 /dev/zero > %s; echo rc=$?", big);
	run_sh(&p, script, &r);
	T_OK(lacks(&r, "rc=0"));
	T_OK(size_of(big) == 1 << 20);
	unlink(big);
	free(big);
	free(script);
}

/* The host pid of the process that is pid inner in the sandbox whose init is
 * host pid init. */
static pid_t
host_pid_of(pid_t init, long inner)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	while (d && (e = readdir(d)) != NULL) {
		char path[300], buf[4096], *s;
		long ppid = -1, last = -1;
		int fd, n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = (int)read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if ((s = strstr(buf, "\nPPid:\t")))
			ppid = strtol(s + 7, NULL, 10);
		if ((s = strstr(buf, "\nNSpid:"))) {
			char *end = strchr(s + 1, '\n'), *q;
			if (end)
				*end = '\0';
			q = strrchr(s, '\t');
			if (q)
				last = strtol(q + 1, NULL, 10);
		}
		if (ppid == init && last == inner) {
			found = (pid_t)strtol(e->d_name, NULL, 10);
			break;
		}
	}
	if (d)
		closedir(d);
	return found;
}

static void
test_grandchild(void)
{
	struct am_sandbox_plan p;
	struct am_sandbox *sb;
	struct am_error *err = NULL;
	char *pidf = subst("%s/gc.pid", rwdir), *go = subst("%s/go", rwdir);
	char *script = subst("( ( trap '' TERM; exec sleep 60 ) & echo $! > %s.tmp; mv %s.tmp %s ); "
			     "while [ ! -e %s ]; do sleep 0.05; done; exit 0",
			     pidf, pidf, pidf, go);
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	char buf[32] = "";
	int fd, st = 0;
	pid_t host = -1;

	unlink(pidf);
	unlink(go);
	plan_init(&p, argv);
	fd = open(outfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	p.stdout_fd = p.stderr_fd = fd;
	if (am_sandbox_start(&p, &sb, &err) < 0) {
		T_OK(!"start");
		fprintf(stderr, "  %s\n", err->msg);
		am_error_free(err);
		close(fd);
		return;
	}
	T_OK(wait_file(pidf, 5000));
	{
		int pf = open(pidf, O_RDONLY | O_CLOEXEC);
		if (pf >= 0) {
			if (read(pf, buf, sizeof buf - 1) < 0)
				buf[0] = '\0';
			close(pf);
		}
	}
	/* the orphan is the init's child by now (it ignores SIGTERM too) */
	for (int i = 0; i < 100 && host < 0; i++) {
		host = host_pid_of(am_sandbox_pid(sb), strtol(buf, NULL, 10));
		if (host < 0)
			usleep(20000);
	}
	T_OK(host > 0 && kill(host, 0) == 0);
	put(go, "", 0644);
	T_OK(am_sandbox_wait(sb, 10000, &st, NULL, &err) == 1);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the command exited, so the init did, and the kernel took the rest */
	T_OK(host > 0 && kill(host, 0) < 0 && errno == ESRCH);
	am_error_free(err);
	am_sandbox_free(sb);
	close(fd);
	free(pidf);
	free(go);
	free(script);
}

static void
test_signals(void)
{
	struct am_sandbox_plan p;
	struct am_sandbox *sb;
	struct am_error *err = NULL;
	char *ready = subst("%s/ready", rwdir), *term = subst("%s/term", rwdir);
	char *script = subst("trap 'echo got-term > %s; exit 7' TERM; echo > %s; "
			     "while :; do sleep 0.1; done", term, ready);
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	char *sleeper[] = { "/usr/bin/sleep", "60", NULL };
	struct timespec t0, t1;
	int fd, st = 0;

	unlink(ready);
	unlink(term);
	plan_init(&p, argv);
	fd = open(outfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	p.stdout_fd = p.stderr_fd = fd;
	if (am_sandbox_start(&p, &sb, &err) == 0) {
		T_OK(wait_file(ready, 5000));
		T_OK(am_sandbox_wait(sb, 100, &st, NULL, &err) == 0); /* timeout */
		T_OK(am_sandbox_signal(sb, SIGSTOP) < 0 && errno == EINVAL);
		T_OK(am_sandbox_signal(sb, SIGTERM) == 0);
		T_OK(am_sandbox_wait(sb, 10000, &st, NULL, &err) == 1);
		T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
		T_OK(size_of(term) == 9); /* "got-term\n" */
		T_OK(am_sandbox_signal(sb, SIGTERM) < 0 && errno == ESRCH);
		am_sandbox_free(sb);
	} else
		T_OK(!"start");
	/* a command that does not handle SIGTERM dies of it: 128+15 */
	p.argv = sleeper;
	if (am_sandbox_start(&p, &sb, &err) == 0) {
		usleep(100000);
		T_OK(am_sandbox_signal(sb, SIGTERM) == 0);
		T_OK(am_sandbox_wait(sb, 10000, &st, NULL, &err) == 1);
		T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM);
		am_sandbox_free(sb);
	} else
		T_OK(!"start");
	/* kill: everything at once, at once */
	if (am_sandbox_start(&p, &sb, &err) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		am_sandbox_kill(sb);
		T_OK(am_sandbox_wait(sb, 5000, &st, NULL, &err) == 1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		T_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		T_OK(t1.tv_sec - t0.tv_sec < 2);
		am_sandbox_free(sb);
	} else
		T_OK(!"start");
	am_error_free(err);
	close(fd);
	free(ready);
	free(term);
	free(script);
}

/* A supervisor killed with SIGKILL takes the sandbox with it. */
static void
test_supervisor_death(void)
{
	int pfd[2], st = 0, i;
	pid_t sup, init = -1, r = 0;
	char path[64], cg[4096], *line, *save = NULL;
	ssize_t n = 0;

	T_OK(pipe(pfd) == 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* the orphaned init comes to us */
	sup = fork();
	if (sup == 0) {
		struct am_sandbox_plan p;
		struct am_sandbox *sb;
		struct am_error *err = NULL;
		char *argv[] = { "/usr/bin/sleep", "60", NULL };
		pid_t pid = -1;

		plan_init(&p, argv);
		p.name = "am-sbtest-orphan";
		p.stdout_fd = p.stderr_fd = -1;
		if (am_sandbox_start(&p, &sb, &err) == 0)
			pid = am_sandbox_pid(sb);
		if (write(pfd[1], &pid, sizeof pid) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &init, sizeof init) != (ssize_t)sizeof init)
		init = -1;
	close(pfd[0]);
	T_OK(init > 0 && kill(init, 0) == 0);
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)init);
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, cg, sizeof cg - 1);
			close(fd);
		}
		cg[n > 0 ? n : 0] = '\0';
	}
	kill(sup, SIGKILL);
	waitpid(sup, NULL, 0);
	for (i = 0; i < 300 && init > 0 && (r = waitpid(init, &st, WNOHANG)) == 0; i++)
		usleep(10000);
	T_OK(r == init && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	/* am_sandbox_free never ran: remove the cgroups it would have */
	for (line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 && strstr(c2, "/am/am-sbtest-orphan")) {
			char *dir;
			*c2 = '\0';
			dir = subst("/sys/fs/cgroup/%s%s", c1 + 1, c2 + 1);
			for (i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
				usleep(10000);
			*strrchr(dir, '/') = '\0';
			rmdir(dir);
			free(dir);
		}
	}
}

static void
test_fds_and_tmp(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *secret = subst("%s/fd-secret", base), *script;
	char tmpd[] = "/tmp/am-sbtest.XXXXXX";
	char *rw[] = { rwdir, tmpd, NULL };
	int fd;

	put(secret, "FD-SECRET", 0600);
	fd = open(secret, O_RDONLY); /* inheritable, on purpose */
	T_OK(dup2(fd, 9) == 9);
	plan_init(&p, NULL);
	run_sh(&p, "cat <&9 || echo fd9-closed; ls /proc/self/fd | wc -l", &r);
	T_OK(has(&r, "fd9-closed"));
	T_OK(lacks(&r, "FD-SECRET"));
	T_OK(has(&r, "\n4\n")); /* 0, 1, 2 and ls's own directory */
	close(9);
	close(fd);
	/* a read-write path in the host's /tmp is brought back over the scratch */
	T_OK(mkdtemp(tmpd) != NULL);
	p.rw_paths = rw;
	p.cwd = tmpd;
	script = subst("echo in-tmp > %s/hello && echo wrote; ls -A /tmp", tmpd);
	run_sh(&p, script, &r);
	T_OK(exited(&r, 0));
	T_OK(has(&r, "wrote"));
	T_OK(has(&r, "am-sbtest."));
	{
		char *f = subst("%s/hello", tmpd);
		T_OK(size_of(f) == 7); /* "in-tmp\n" */
		unlink(f);
		free(f);
	}
	rmdir(tmpd);
	free(script);
	free(secret);
}

static void
test_setup_failure(void)
{
	struct am_sandbox_plan p;
	struct res r;
	char *nowhere = subst("%s/nonexistent", base);

	plan_init(&p, NULL);
	p.cwd = nowhere;
	run_sh(&p, "true", &r);
	T_OK(!r.started);
	T_OK(strstr(r.err, "sandbox setup failed: chdir") != NULL);
	T_OK(strstr(r.err, "No such file or directory") != NULL);
	if (!strstr(r.err, "chdir"))
		fprintf(stderr, "  error: %s\n", r.err);
	free(nowhere);
}

static void
test_cgroup_cleanup(void)
{
	struct am_sandbox_plan p;
	struct am_sandbox *sb;
	struct am_error *err = NULL;
	char *argv[] = { "/usr/bin/sleep", "60", NULL };
	char path[64], cg[4096], dir[4096] = "", *s;
	int n = 0;

	if (!feat.cgroup_pids) {
		printf("note: no writable pids cgroup: cgroup cleanup not checked\n");
		return;
	}
	plan_init(&p, argv);
	p.name = "am-sbtest-cleanup";
	p.stdout_fd = p.stderr_fd = -1;
	if (am_sandbox_start(&p, &sb, &err) < 0) {
		T_OK(!"start");
		fprintf(stderr, "  %s\n", err->msg);
		am_error_free(err);
		return;
	}
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)am_sandbox_pid(sb));
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = (int)read(fd, cg, sizeof cg - 1);
			close(fd);
		}
	}
	cg[n > 0 ? n : 0] = '\0';
	s = strstr(cg, ":pids:");
	if (s) {
		char *end = strchr(s, '\n');
		if (end)
			*end = '\0';
		snprintf(dir, sizeof dir, "/sys/fs/cgroup/pids%s", s + 6);
	}
	T_OK(strstr(dir, "/am/am-sbtest-cleanup") != NULL);
	T_OK(exists(dir));
	am_sandbox_free(sb); /* kills and removes */
	T_OK(dir[0] && !exists(dir));
}

static void
test_check_and_json(void)
{
	struct am_sandbox_plan p;
	struct am_sandbox_features f = feat;
	struct am_error *err = NULL;
	char *rel[] = { "sh", NULL };
	cJSON *j, *x;
	char *s;

	plan_init(&p, NULL);
	{
		char *argv[] = { "/bin/sh", NULL };
		p.argv = argv;
		T_OK(am_sandbox_check(&p, &feat, &err) == 0);
		f.root = 0;
		f.userns = 0;
		T_OK(am_sandbox_check(&p, &f, &err) < 0 && err->cls == AM_EDENIED &&
		     strstr(err->msg, "user namespaces"));
		am_error_free(err);
		err = NULL;
		f = feat;
		f.landlock_abi = 0;
		T_OK(am_sandbox_check(&p, &f, &err) < 0 && err->cls == AM_EDENIED &&
		     strstr(err->msg, "no Landlock"));
		am_error_free(err);
		err = NULL;
		f = feat;
		f.seccomp = 0;
		T_OK(am_sandbox_check(&p, &f, &err) < 0 && err->cls == AM_EDENIED &&
		     strstr(err->msg, "seccomp"));
		am_error_free(err);
		err = NULL;
		p.argv = rel;
		T_OK(am_sandbox_check(&p, &feat, &err) < 0 && err->cls == AM_EUSAGE);
		am_error_free(err);
		err = NULL;
		p.argv = argv;
		p.name = "../escape";
		T_OK(am_sandbox_check(&p, &feat, &err) < 0 && err->cls == AM_EUSAGE);
		am_error_free(err);
		err = NULL;
		p.name = NULL;

		j = am_sandbox_plan_json(&p, &feat);
		s = cJSON_PrintUnformatted(j);
		T_OK(strstr(s, "\"network\":true") != NULL);
		T_OK(strstr(s, "\"environmentNames\":[\"PATH\",\"HOME\",\"TMPDIR\",\"LANG\"]") != NULL);
		T_OK(strstr(s, "\"execute\"") != NULL);
		T_OK(strstr(s, "io_uring_setup") != NULL);
		x = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "limits"),
							    "memoryBytes"), "enforcedBy");
		T_OK(cJSON_IsString(x) &&
		     strstr(x->valuestring, feat.cgroup_memory ? "cgroup" : "RLIMIT_AS"));
		free(s);
		cJSON_Delete(j);
		p.net = AM_NET_HOST;
		j = am_sandbox_plan_json(&p, &feat);
		s = cJSON_PrintUnformatted(j);
		T_OK(strstr(s, "\"network\":false") != NULL);
		free(s);
		cJSON_Delete(j);
		j = am_sandbox_features_json(&feat);
		x = cJSON_GetObjectItem(j, "landlockAbi");
		T_OK(cJSON_IsNumber(x) && x->valueint == feat.landlock_abi);
		cJSON_Delete(j);
	}
}

/* ---- main ----------------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* As root: the same tests again as the user amtest, if there is one. */
static void
run_as_user(void)
{
	struct passwd *pw = getpwnam("amtest");
	pid_t pid;
	int st;

	if (pw == NULL) {
		printf("note: no user amtest: the unprivileged run is skipped\n");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/usr/sbin/runuser", "runuser", "-u", "amtest", "--", self, "--as-user",
		      suid_path ? suid_path : "-", (char *)NULL);
		execlp("runuser", "runuser", "-u", "amtest", "--", self, "--as-user",
		       suid_path ? suid_path : "-", (char *)NULL);
		_exit(126);
	}
	T_OK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127)) {
		printf("note: amtest cannot run %s: the unprivileged run is skipped\n", self);
		return;
	}
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int
main(int argc, char **argv)
{
	struct am_error *err = NULL;
	char *shared = NULL;
	ssize_t n;
	size_t i = 0;
	static const char *tools[] = { "/bin/sh", "/usr/bin/cat", "/usr/bin/echo", "/usr/bin/id",
				       "/usr/bin/grep", "/usr/bin/stat", "/usr/bin/ls",
				       "/usr/bin/head", "/usr/bin/wc", "/usr/bin/rm",
				       "/usr/bin/mkdir", "/usr/bin/chmod", "/usr/bin/cp",
				       "/usr/bin/mv", "/usr/bin/sleep", "/usr/bin/unshare" };

	if (argc > 2 && strcmp(argv[1], "--helper") == 0)
		return helper(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	as_user = geteuid() != 0;
	if (argc > 2 && strcmp(argv[1], "--as-user") == 0 && strcmp(argv[2], "-") != 0)
		suid_path = argv[2];
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	am_sandbox_probe(&feat);
	printf("sandbox features (%s): userns %d landlock %d seccomp %d cgroups %s "
	       "memory %d pids %d cpu %d\n",
	       as_user ? "user" : "root", feat.userns, feat.landlock_abi, feat.seccomp,
	       feat.cgroup_mode, feat.cgroup_memory, feat.cgroup_pids, feat.cgroup_cpu);
	{
		struct am_sandbox_plan p;
		char *argv0[] = { "/bin/sh", NULL };
		plan_init(&p, argv0);
		p.cwd = NULL;
		if (am_sandbox_check(&p, &feat, &err) < 0) {
			printf("skipped: %s\n", err->msg);
			am_error_free(err);
			return 0;
		}
	}
	if (as_user && (!feat.cgroup_memory || !feat.cgroup_pids))
		printf("note: not root: no writable cgroups, limits fall back to rlimits\n");

	/* Not under /tmp: the sandbox covers the host's /tmp (a path there is
	 * bound back only when the plan names it; one test does that). */
	snprintf(base, sizeof base, "/var/tmp/am-sbtest.XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	chmod(base, 0711);
	snprintf(rwdir, sizeof rwdir, "%s/rw", base);
	snprintf(rodir, sizeof rodir, "%s/ro", base);
	snprintf(outfile, sizeof outfile, "%s/out", base);
	mkdir(rwdir, 0755);
	mkdir(rodir, 0755);
	ro_default[0] = "/usr";
	ro_default[1] = "/etc";
	ro_default[2] = rodir;
	rw_default[0] = rwdir;
	for (i = 0; i < AM_ARRAY_LEN(tools); i++)
		exec_default[i] = (char *)tools[i];
	exec_default[i++] = self;
	exec_default[i] = NULL;
	if (!as_user) {
		/* A setuid-root copy of id(1), shared with the unprivileged run. */
		shared = subst("%s/shared", base);
		mkdir(shared, 0755);
		char *cmd = subst("cp /usr/bin/id %s/suid-id && chown root:root %s/suid-id && "
				  "chmod 4755 %s/suid-id", shared, shared, shared);
		if (system(cmd) == 0)
			suid_path = subst("%s/suid-id", shared);
		free(cmd);
	}

	test_basics();
	test_write_outside();
	test_deny_paths();
	test_ledger();
	test_exec();
	test_network();
	test_setuid();
	test_kernel_interfaces();
	test_fork_bomb();
	test_memory_bomb();
	test_disk();
	test_grandchild();
	test_signals();
	test_supervisor_death();
	test_fds_and_tmp();
	test_setup_failure();
	test_cgroup_cleanup();
	test_check_and_json();

	if (!as_user && getenv("AM_SANDBOX_TEST_NO_USER") == NULL)
		run_as_user();
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (!as_user) {
		free((char *)suid_path);
		free(shared);
	}
	T_DONE();
}
