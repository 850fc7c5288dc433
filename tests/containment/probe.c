/* probe.c - try one way out of an am sandbox; compiled by the containment
 * suite at test time and run inside executions as a granted tool.
 *
 *   probe ptrace PID...   PTRACE_ATTACH and process_vm_readv each PID
 *   probe userns          unshare(CLONE_NEWUSER)
 *   probe mount DIR       mount a tmpfs on DIR
 *   probe iouring         io_uring_setup(2)
 *   probe setuid          print the real, effective and saved uids
 *   probe sleep SECONDS   sleep (a sibling to trace)
 *
 * Prints one line per attempt, "NAME: ok" or "NAME: ERRNO-NAME", and
 * exits 0 if every attempt was refused, 1 if any succeeded, 2 on misuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int escaped;

static void
report(const char *what, int rc)
{
	if (rc == 0) {
		printf("%s: ok\n", what);
		escaped = 1;
	} else {
		printf("%s: %s\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "ptrace") == 0) {
		for (i = 2; i < argc; i++) {
			pid_t pid = (pid_t)atoi(argv[i]);
			char what[64], buf[16];
			struct iovec l = { buf, sizeof(buf) }, r = { (void *)0x400000, sizeof(buf) };
			long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);

			snprintf(what, sizeof(what), "ptrace %d", (int)pid);
			report(what, rc == 0 ? 0 : -1);
			if (rc == 0) {
				waitpid(pid, NULL, 0);
				ptrace(PTRACE_DETACH, pid, NULL, NULL);
			}
			snprintf(what, sizeof(what), "process_vm_readv %d", (int)pid);
			errno = 0;
			rc = process_vm_readv(pid, &l, 1, &r, 1, 0);
			/* EFAULT means the call was allowed and only the address was bad */
			report(what, rc >= 0 || errno == EFAULT ? 0 : -1);
		}
	} else if (strcmp(argv[1], "userns") == 0) {
		report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	} else if (strcmp(argv[1], "mount") == 0 && argc == 3) {
		report("mount tmpfs", mount("none", argv[2], "tmpfs", 0, NULL));
	} else if (strcmp(argv[1], "iouring") == 0) {
		char params[120];
		long fd;

		memset(params, 0, sizeof(params));
		fd = syscall(__NR_io_uring_setup, 4, params);
		report("io_uring_setup", fd >= 0 ? 0 : -1);
	} else if (strcmp(argv[1], "setuid") == 0) {
		uid_t r, e, s;

		getresuid(&r, &e, &s);
		printf("ruid=%d euid=%d suid=%d\n", (int)r, (int)e, (int)s);
		if (e != r || s != r)
			escaped = 1;
	} else if (strcmp(argv[1], "sleep") == 0 && argc == 3) {
		sleep((unsigned)atoi(argv[2]));
	} else {
		return 2;
	}
	return escaped;
}
