/* sandbox.c - see sandbox.h
 *
 * The shape (after bubblewrap):
 *
 *   am (the parent)                 init: PID 1 inside             the command
 *   cgroups made, limits written,
 *   rlimits computed
 *   clone(NEWUSER|NEWNS|NEWPID|   -> works out the Landlock rules,
 *         NEWIPC|NEWUTS[|NEWNET])    the library directories and the
 *   uid_map/gid_map written,         seccomp BPF, waits for "go"
 *   child put in the v2 cgroups
 *   "go" -------------------------> joins its v1 cgroups itself,
 *   (returns here with hold;        hostname, loopback, mounts,
 *   the caller works meanwhile)     a fresh /proc, every mount noexec
 *   keeps the scratch's fd  <------ sends the scratch tmpfs's fd;
 *                                   but the library directories and
 *                                   the executables
 *                                   clone(VM|VFORK) ---------------> setsid, fds 0-2 only,
 *                                   waits until it execs; then       chdir, rlimits,
 *                                   forwards signals, reaps          no_new_privs, Landlock,
 *                                   every orphan, exits with         no capabilities, seccomp,
 *                                   the command's status             "ready", waits for "x"
 *   am_sandbox_release: reads  <--- a failing step sends its name and errno instead
 *   up to "ready", sends "x" ----------------------------------------> execve
 *
 * The children are made with the raw clone system call, not fork(3), so
 * that no fork handler of a library runs in them.  They do allocate (the
 * init's plan), which is safe only because the caller has no other thread
 * that could hold the malloc lock at the clone: am_sandbox_start refuses a
 * multi-threaded caller.
 *
 * The layers are redundant on purpose: the mount namespace hides what must
 * not be seen, Landlock says what may be read, written and executed, seccomp
 * takes away the kernel interfaces the agent has no business with, and the
 * capability drop plus no_new_privs make sure none of that can be undone.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <seccomp.h>

#include "sandbox.h"
#include "util.h"

/* Landlock rights newer than the kernel headers this may be built with. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
/* mount_setattr(2) (Linux 5.12), called directly: older C libraries have
 * no wrapper.  The number is the same on every architecture. */
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef MOUNT_ATTR_NOEXEC
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#define MOUNT_ATTR_SIZE_VER0 32
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* Our own copy of the ruleset attribute with every field up to ABI 6: the
 * kernel accepts a larger struct as long as the fields it does not know are
 * zero, so one layout serves every ABI. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_WRITE_DIR                                                                  \
	(LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |             \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |                  \
	 LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_MAKE_FIFO |                 \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER)
/* No MAKE_CHAR/MAKE_BLOCK anywhere: device nodes are never the agent's. */
#define LL_RW (LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LL_WRITE_DIR)
#define LL_EXEC (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE)
/* The only rights a rule on a non-directory may carry. */
#define LL_FILE_RIGHTS                                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                 \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |                 \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define SANDBOX_HOSTNAME "am-sandbox"
#define SETUP_FAILED 125 /* exit status of a child that failed a setup step */

/* Signals the init passes on to the command's process group.  Everything
 * else sent to the init reaches only the init; SIGKILL ends the sandbox. */
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

/* ---- Landlock ------------------------------------------------------- */

static const struct {
	uint64_t bit;
	const char *name;
	int abi;
} ll_rights[] = {
	{ LANDLOCK_ACCESS_FS_EXECUTE, "execute", 1 },
	{ LANDLOCK_ACCESS_FS_WRITE_FILE, "write_file", 1 },
	{ LANDLOCK_ACCESS_FS_READ_FILE, "read_file", 1 },
	{ LANDLOCK_ACCESS_FS_READ_DIR, "read_dir", 1 },
	{ LANDLOCK_ACCESS_FS_REMOVE_DIR, "remove_dir", 1 },
	{ LANDLOCK_ACCESS_FS_REMOVE_FILE, "remove_file", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_CHAR, "make_char", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_DIR, "make_dir", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_REG, "make_reg", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_SOCK, "make_sock", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_FIFO, "make_fifo", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_BLOCK, "make_block", 1 },
	{ LANDLOCK_ACCESS_FS_MAKE_SYM, "make_sym", 1 },
	{ LANDLOCK_ACCESS_FS_REFER, "refer", 2 },
	{ LANDLOCK_ACCESS_FS_TRUNCATE, "truncate", 3 },
	{ LANDLOCK_ACCESS_FS_IOCTL_DEV, "ioctl_dev", 5 },
};

/* Every file system right the given ABI knows: all of them are handled, so
 * anything no rule grants is denied (a right left unhandled would be
 * allowed everywhere). */
static uint64_t
ll_handled(int abi)
{
	uint64_t h = 0;
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(ll_rights); i++)
		if (abi >= ll_rights[i].abi)
			h |= ll_rights[i].bit;
	return h;
}

/* ABI 6 scopes: abstract UNIX sockets are named per network namespace, so
 * with the host network (AM_NET_HOST) they would reach the desktop bus, X11
 * and the like; signals to processes outside the domain are already out of
 * reach through the PID namespace, scoping them costs nothing. */
static uint64_t
ll_scoped(int abi)
{
	return abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0;
}

/* The Landlock ABI version this kernel offers, 0 if none. */
static int
ll_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

struct ll_rule {
	const char *path;
	uint64_t access;
	const char *why;
};

/* What every program needs to start at all: the dynamic loader opens the
 * shared libraries (read; mmap is not something Landlock controls) and
 * ld.so.cache; /dev/null and friends are opened by shells and libraries
 * everywhere; /proc is the sandbox's own (a fresh mount for the new PID
 * namespace), readable so the agent sees its own processes. */
static const struct ll_rule ll_system[] = {
	{ "/lib", LL_READ, "shared libraries" },
	{ "/lib64", LL_READ, "shared libraries" },
	{ "/lib32", LL_READ, "shared libraries" },
	{ "/usr/lib", LL_READ, "shared libraries" },
	{ "/usr/lib64", LL_READ, "shared libraries" },
	{ "/usr/lib32", LL_READ, "shared libraries" },
	{ "/etc/ld.so.cache", LANDLOCK_ACCESS_FS_READ_FILE, "dynamic loader cache" },
	{ "/proc", LL_READ, "the sandbox's own /proc" },
	{ "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			       LANDLOCK_ACCESS_FS_TRUNCATE, "device" },
	{ "/dev/zero", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			       LANDLOCK_ACCESS_FS_TRUNCATE, "device" },
	{ "/dev/full", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			       LANDLOCK_ACCESS_FS_TRUNCATE, "device" },
	{ "/dev/random", LANDLOCK_ACCESS_FS_READ_FILE, "device" },
	{ "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE, "device" },
};

/* The PT_INTERP segment's offset and size into off and sz: the 32- and
 * 64-bit layouts differ only in their field widths.  (In elf_interp.) */
#define ELF_FIND_INTERP(Ehdr, Phdr)                                                        \
	do {                                                                               \
		Ehdr eh;                                                                   \
		Phdr ph;                                                                   \
		if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||                  \
		    eh.e_phentsize != sizeof ph)                                           \
			return NULL;                                                       \
		for (i = 0; i < eh.e_phnum && i < 256; i++) {                              \
			if (pread(fd, &ph, sizeof ph,                                      \
				  (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) \
				return NULL;                                               \
			if (ph.p_type == PT_INTERP) {                                      \
				off = ph.p_offset, sz = ph.p_filesz;                       \
				break;                                                     \
			}                                                                  \
		}                                                                          \
	} while (0)

/* The PT_INTERP of an ELF file (the dynamic loader it names), or NULL. */
static char *
elf_interp(const char *path)
{
	unsigned char id[EI_NIDENT];
	AM_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	uint64_t off = 0, sz = 0;
	unsigned i;
	char *s;

	if (fd < 0 || pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id ||
	    memcmp(id, ELFMAG, SELFMAG) != 0)
		return NULL;
	if (id[EI_CLASS] == ELFCLASS64)
		ELF_FIND_INTERP(Elf64_Ehdr, Elf64_Phdr);
	else if (id[EI_CLASS] == ELFCLASS32)
		ELF_FIND_INTERP(Elf32_Ehdr, Elf32_Phdr);
	if (sz < 2 || sz > PATH_MAX)
		return NULL;
	s = am_xcalloc(1, (size_t)sz + 1);
	if (pread(fd, s, (size_t)sz, (off_t)off) != (ssize_t)sz || s[0] != '/') {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- where code may be mapped from ----------------------------------- */

/* qsort: shorter strings first. */
static int
cmp_len(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? -1 : la > lb;
}

/* A growable NULL-terminated vector of owned strings. */
struct vec {
	char **v;
	size_t n;
};

/* Append s (taken over) to x. */
static void
vec_add(struct vec *x, char *s)
{
	x->v = am_xrealloc(x->v, (x->n + 2) * sizeof *x->v);
	x->v[x->n++] = s;
	x->v[x->n] = NULL;
}

/* 1 if path is dir or below it (both absolute, no trailing slash but "/"). */
static int
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The system's library directories, besides those ld.so.conf names.  A
 * merged /usr makes several of them one directory; realpath sorts that
 * out. */
static const char *const sys_lib_dirs[] = {
	"/usr/lib", "/lib", "/lib64", "/lib32", "/libx32", "/usr/lib64", "/usr/lib32",
	"/usr/libx32", "/usr/local/lib",
};

/* The directories an ld.so.conf file lists (and the files it includes,
 * which may include more, to a small depth), appended to out. */
static void
ldconf_read(const char *file, struct vec *out, int depth)
{
	AM_AUTOFREE char *data = NULL;
	char *line, *next, *s, *e;
	glob_t g;
	size_t i;

	if (depth > 4 || am_read_file(file, 1 << 20, &data, NULL, NULL) < 0)
		return;
	for (line = data; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "#")] = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r');)
			*--e = '\0';
		if (strncmp(s, "include", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
			AM_AUTOFREE char *pat = NULL;
			const char *slash = strrchr(file, '/');

			for (s += 8; *s == ' ' || *s == '\t'; s++)
				;
			/* A relative pattern is relative to the including file. */
			if (*s == '/')
				pat = am_xstrdup(s);
			else
				pat = am_xasprintf("%.*s/%s", (int)(slash - file), file, s);
			if (glob(pat, 0, NULL, &g) == 0) {
				for (i = 0; i < g.gl_pathc; i++)
					ldconf_read(g.gl_pathv[i], out, depth + 1);
				globfree(&g);
			}
		} else if (s[0] == '/') {
			/* "dir" or the old "dir=TYPE" */
			s[strcspn(s, " \t=:,")] = '\0';
			vec_add(out, am_xstrdup(s));
		}
	}
}

/* <prefix>/lib of an executable at <prefix>/bin/X or <prefix>/sbin/X, or
 * NULL. */
static char *
prefix_lib(const char *exe)
{
	const char *slash = strrchr(exe, '/'), *d;
	size_t n;

	if (slash == NULL || slash == exe)
		return NULL;
	for (d = slash - 1; d > exe && *d != '/'; d--)
		;
	n = (size_t)(slash - d - 1);
	if (!((n == 3 && strncmp(d + 1, "bin", 3) == 0) || (n == 4 && strncmp(d + 1, "sbin", 4) == 0)))
		return NULL;
	return am_xasprintf("%.*s/lib", (int)(d - exe), exe);
}

/* 1 if path lies inside one of the plan's writable paths (or the scratch). */
static int
in_writable(const struct am_sandbox_plan *p, const char *path)
{
	char *const *v;

	if (path_under(path, "/tmp"))
		return 1;
	for (v = p->rw_paths; v && *v; v++) {
		AM_AUTOFREE char *rp = realpath(*v, NULL);

		if (path_under(path, *v) || (rp && path_under(path, rp)))
			return 1;
	}
	return 0;
}

/* The plan's writable paths that lie inside one of the library
 * directories libs: each gets a bind of its own, which stays noexec when the
 * directory around it is made exec again.  NULL-terminated or NULL. */
static char **
rw_in_lib_dirs(const struct am_sandbox_plan *p, char *const *libs)
{
	struct vec out = { 0 };
	char *const *v, *const *l;

	for (v = p->rw_paths; v && *v; v++) {
		char *rp = realpath(*v, NULL);

		for (l = libs; rp && l && *l; l++)
			if (path_under(rp, *l)) {
				vec_add(&out, rp);
				rp = NULL;
			}
		free(rp);
	}
	return out.v;
}

/* The directories from which the dynamic loader may map code inside the
 * sandbox (besides each executable's own file): the system's library
 * directories (with those of /etc/ld.so.conf) and <prefix>/lib of an
 * executable at <prefix>/bin/X or <prefix>/sbin/X, real paths, none inside
 * another or inside a writable path.  NULL-terminated; the caller frees each
 * string and the vector. */
static char **
lib_dirs(const struct am_sandbox_plan *p)
{
	struct vec cand = { 0 }, out = { 0 };
	char *const *v;
	size_t i, j;

	for (i = 0; i < AM_ARRAY_LEN(sys_lib_dirs); i++)
		vec_add(&cand, am_xstrdup(sys_lib_dirs[i]));
	ldconf_read("/etc/ld.so.conf", &cand, 0);
	for (v = p->exec_paths; v && *v; v++) {
		char *in = elf_interp(*v), *rp = in ? realpath(in, NULL) : NULL, *l;

		/* Where the ELF interpreter is, its C library usually is too. */
		if (rp) {
			*strrchr(rp, '/') = '\0';
			vec_add(&cand, rp);
		}
		free(in);
		/* Relocatable installs (pyenv's python, /opt/node) keep their
		 * shared libraries, extension modules and addons there. */
		if ((l = prefix_lib(*v)) != NULL)
			vec_add(&cand, l);
	}
	/* Real directories only, shortest first, none inside another. */
	for (i = 0; i < cand.n; i++) {
		char *rp = realpath(cand.v[i], NULL);
		struct stat st;

		free(cand.v[i]);
		cand.v[i] = NULL;
		if (rp == NULL || stat(rp, &st) < 0 || !S_ISDIR(st.st_mode) || strcmp(rp, "/") == 0) {
			free(rp);
			continue;
		}
		cand.v[i] = rp;
	}
	for (i = j = 0; i < cand.n; i++)
		if (cand.v[i])
			cand.v[j++] = cand.v[i];
	cand.n = j;
	if (cand.n)
		qsort(cand.v, cand.n, sizeof *cand.v, cmp_len);
	for (i = 0; i < cand.n; i++) {
		int skip = in_writable(p, cand.v[i]);

		for (j = 0; j < out.n && !skip; j++)
			skip = path_under(cand.v[i], out.v[j]);
		if (skip)
			free(cand.v[i]);
		else
			vec_add(&out, cand.v[i]);
	}
	free(cand.v);
	if (out.v == NULL)
		out.v = am_xcalloc(1, sizeof *out.v);
	return out.v;
}

/* ---- seccomp -------------------------------------------------------- */

/* Default allow, then these.  An allow-list would be tighter but breaks any
 * tool that uses a system call we did not foresee; what is denied here is
 * the kernel surface no build, test or editor needs, and most of it is
 * where container escapes have come from. */
static const struct sc_group {
	const char *why;
	int err;
	const char *names[12];
} sc_groups[] = {
	{ "reading or writing another process, or taking its file descriptors: the init "
	  "is a copy of am until it exits and must stay out of reach",
	  EPERM, { "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd" } },
	{ "the mount table is final before exec; changing it could uncover masked deny "
	  "paths or the ledger (old and new mount API alike)",
	  EPERM, { "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
		   "fspick", "move_mount", "open_tree", "mount_setattr" } },
	{ "new namespaces: a new user namespace hands back a full capability set over "
	  "fresh namespaces, the widest kernel attack surface an unprivileged process can "
	  "reach; setns and unshare would leave the sandbox's own namespaces",
	  EPERM, { "unshare", "setns" } },
	{ "replacing the kernel, loading modules, swap, reboot, accounting and quotas "
	  "are host administration",
	  EPERM, { "kexec_load", "kexec_file_load", "init_module", "finit_module",
		   "delete_module", "swapon", "swapoff", "reboot", "acct", "quotactl",
		   "quotactl_fd" } },
	{ "bpf, perf events, userfaultfd and io_uring: large interfaces with a long record "
	  "of privilege escalations; userfaultfd makes kernel races easy to win and io_uring "
	  "does its I/O from kernel workers seccomp never sees",
	  EPERM, { "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
		   "io_uring_register" } },
	{ "kernel keyrings are not namespaced: keys of the user outside would be reachable",
	  EPERM, { "keyctl", "add_key", "request_key" } },
	{ "file handles open any inode by number, around the mount masks and every "
	  "path-based check (the 'shocker' escape)",
	  EPERM, { "open_by_handle_at", "name_to_handle_at" } },
	{ "obsolete or terminal-hijacking interfaces",
	  EPERM, { "lookup_dcookie", "vhangup", "uselib", "nfsservctl" } },
	{ "clone3 passes its flags in memory a filter cannot read, so it cannot be checked "
	  "for namespace flags; ENOSYS makes libc fall back to clone, which can",
	  ENOSYS, { "clone3" } },
};

/* clone flags that would make new namespaces (see the unshare group). */
static const struct {
	uint64_t flag;
	const char *name;
} sc_clone_ns[] = {
	{ CLONE_NEWUSER, "CLONE_NEWUSER" }, { CLONE_NEWNS, "CLONE_NEWNS" },
	{ CLONE_NEWPID, "CLONE_NEWPID" },   { CLONE_NEWNET, "CLONE_NEWNET" },
	{ CLONE_NEWIPC, "CLONE_NEWIPC" },   { CLONE_NEWUTS, "CLONE_NEWUTS" },
	{ CLONE_NEWCGROUP, "CLONE_NEWCGROUP" },
};

/* personality flags that weaken exploit mitigations (the kernel's own
 * PER_CLEAR_ON_SETID set): no ASLR, executable data, a mappable page 0. */
static const struct {
	uint64_t flag;
	const char *name;
} sc_persona[] = {
	{ ADDR_NO_RANDOMIZE, "ADDR_NO_RANDOMIZE" },
	{ READ_IMPLIES_EXEC, "READ_IMPLIES_EXEC" },
	{ MMAP_PAGE_ZERO, "MMAP_PAGE_ZERO" },
	{ ADDR_COMPAT_LAYOUT, "ADDR_COMPAT_LAYOUT" },
};

/* TIOCSTI pushes bytes into a terminal's input queue: a sandboxed process
 * holding the user's tty could type commands into the shell outside once it
 * exits.  TIOCLINUX can do the same on a virtual console (copy/paste). */
static const struct {
	unsigned long req;
	const char *name;
} sc_ioctl[] = {
	{ TIOCSTI, "TIOCSTI" },
	{ TIOCLINUX, "TIOCLINUX" },
};

/* Build the filter and export it as a BPF program, so that the command
 * loads it with one system call, after everything that needs another. */
static int
seccomp_build(struct sock_fprog *out, struct am_error **err)
{
	scmp_filter_ctx sc;
	size_t i, j;
	int rc = 0, mfd = -1;
	off_t len;
	void *buf = NULL;
	const char *what = "init";

	sc = seccomp_init(SCMP_ACT_ALLOW);
	if (sc == NULL)
		return am_error_set(err, AM_EFAIL, "sandbox: cannot build the seccomp filter");
	/* Only the native architecture is in the filter.  On x86_64 a process can
	 * still make i386 system calls (int 0x80) whose numbers mean different
	 * things; those do not match the filter's architecture and take the
	 * bad-arch action, which must kill rather than allow. */
	if ((rc = seccomp_attr_set(sc, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 &&
	    (rc = seccomp_attr_set(sc, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL)) < 0) {
		what = "bad-arch action";
		goto fail;
	}
	for (i = 0; i < AM_ARRAY_LEN(sc_groups); i++)
		for (j = 0; j < AM_ARRAY_LEN(sc_groups[i].names) && sc_groups[i].names[j]; j++) {
			int nr = seccomp_syscall_resolve_name(sc_groups[i].names[j]);
			if (nr == __NR_SCMP_ERROR)
				continue; /* not on this architecture */
			what = sc_groups[i].names[j];
			if ((rc = seccomp_rule_add(sc, SCMP_ACT_ERRNO(sc_groups[i].err), nr, 0)) < 0)
				goto fail;
		}
	what = "clone";
	for (i = 0; i < AM_ARRAY_LEN(sc_clone_ns); i++)
		if ((rc = seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					   SCMP_A0(SCMP_CMP_MASKED_EQ, sc_clone_ns[i].flag,
						   sc_clone_ns[i].flag))) < 0)
			goto fail;
	/* Bit 31 is no persona flag but is set in 0xffffffff, the "query only"
	 * argument, which must keep working: deny when the flag is set and bit
	 * 31 is clear. */
	what = "personality";
	for (i = 0; i < AM_ARRAY_LEN(sc_persona); i++)
		if ((rc = seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
					   SCMP_A0(SCMP_CMP_MASKED_EQ,
						   sc_persona[i].flag | 0x80000000ULL,
						   sc_persona[i].flag))) < 0)
			goto fail;
	/* The kernel reads the request as 32 bits; compare only those so junk in
	 * the upper half cannot slip past (bubblewrap CVE-2017-5226). */
	what = "ioctl";
	for (i = 0; i < AM_ARRAY_LEN(sc_ioctl); i++)
		if ((rc = seccomp_rule_add(sc, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
					   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
						   sc_ioctl[i].req))) < 0)
			goto fail;
	what = "export";
	mfd = memfd_create("am-seccomp", MFD_CLOEXEC);
	if (mfd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = seccomp_export_bpf(sc, mfd)) < 0)
		goto fail;
	len = lseek(mfd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0 || len > 65536 * 8) {
		rc = -EINVAL;
		goto fail;
	}
	buf = am_xmalloc((size_t)len);
	if (pread(mfd, buf, (size_t)len, 0) != (ssize_t)len) {
		rc = -EIO;
		goto fail;
	}
	close(mfd);
	seccomp_release(sc);
	out->filter = buf;
	out->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	return 0;
fail:
	free(buf);
	if (mfd >= 0)
		close(mfd);
	seccomp_release(sc);
	return am_error_set(err, AM_EFAIL, "sandbox: cannot build the seccomp filter: %s: %s",
			    what, strerror(rc < 0 ? -rc : EINVAL));
}

/* The filter, built once a process: it is the same for every plan. */
static int
seccomp_prog(struct sock_fprog *out, struct am_error **err)
{
	static struct sock_fprog prog;

	if (prog.filter == NULL && seccomp_build(&prog, err) < 0)
		return -1;
	*out = prog;
	return 0;
}

/* ---- cgroups -------------------------------------------------------- */

enum { CG_MEM, CG_PIDS, CG_CPU, CG_N };
static const char *const cg_ctrl[CG_N] = { "memory", "pids", "cpuacct" };

/* Where this process's own cgroup is for each controller.  The sandbox's
 * cgroups go below it (<own>/am/<name>), not at the root of the hierarchy:
 * then whatever limits the caller itself runs under still apply to the
 * sandbox, and leaving them would be an escape. */
struct cg_layout {
	int ver[CG_N];   /* 0: none, 1 or 2 */
	char *own[CG_N]; /* the directory of our own cgroup */
	int usable[CG_N];
	char mode[sizeof(((struct am_sandbox_features *)0)->cgroup_mode)];
};

/* 1 if word is in list as a whole item between separators from seps. */
static int
has_word(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);
	const char *s = list;

	while ((s = strstr(s, word)) != NULL) {
		if ((s == list || strchr(seps, s[-1])) && (s[n] == '\0' || strchr(seps, s[n])))
			return 1;
		s += n;
	}
	return 0;
}

/* A directory for controller ctrl (v1) from /proc/self/mountinfo and
 * /proc/self/cgroup; ctrl NULL: the unified (v2) hierarchy. */
static char *
cg_own_dir(const char *mountinfo, const char *cgroup, const char *ctrl)
{
	const char *line, *end;
	char *mnt = NULL, *root = NULL, *path = NULL, *dir = NULL;

	for (line = mountinfo; *line; line = *end ? end + 1 : end) {
		char buf[4096], *f[12], *sp, *opts, *fstype;
		size_t n, k = 0;

		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		n = (size_t)(end - line);
		if (n >= sizeof buf)
			continue;
		memcpy(buf, line, n);
		buf[n] = '\0';
		/* id parent major:minor root mountpoint opts [optional...] - fstype source superopts */
		for (sp = buf; k < AM_ARRAY_LEN(f) && sp; k++) {
			f[k] = sp;
			sp = strchr(sp, ' ');
			if (sp)
				*sp++ = '\0';
			if (k >= 6 && strcmp(f[k], "-") == 0)
				break;
		}
		if (k < 6 || strcmp(f[k], "-") != 0 || sp == NULL)
			continue;
		fstype = sp;
		sp = strchr(sp, ' ');
		if (!sp)
			continue;
		*sp++ = '\0';
		sp = strchr(sp, ' '); /* skip the source */
		if (!sp)
			continue;
		opts = sp + 1;
		if (ctrl == NULL ? strcmp(fstype, "cgroup2") == 0
				 : strcmp(fstype, "cgroup") == 0 && has_word(opts, ctrl, ",")) {
			mnt = am_xstrdup(f[4]);
			root = am_xstrdup(f[3]);
			break;
		}
	}
	if (mnt == NULL)
		return NULL;
	for (line = cgroup; *line; line = *end ? end + 1 : end) {
		const char *c1, *c2;

		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		c1 = memchr(line, ':', (size_t)(end - line));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2 == NULL)
			continue;
		if (ctrl == NULL) {
			if (c2 != c1 + 1 || strncmp(line, "0:", 2) != 0)
				continue;
		} else {
			char ctrls[256];
			size_t n = (size_t)(c2 - c1 - 1);
			if (n >= sizeof ctrls)
				continue;
			memcpy(ctrls, c1 + 1, n);
			ctrls[n] = '\0';
			if (!has_word(ctrls, ctrl, ","))
				continue;
		}
		path = am_xstrndup(c2 + 1, (size_t)(end - c2 - 1));
		break;
	}
	if (path != NULL) {
		/* The mount shows the hierarchy from root down (a container may see
		 * only its part); our path must be inside what is mounted. */
		size_t rl = strlen(root);
		if (strcmp(root, "/") == 0)
			dir = am_xasprintf("%s%s", mnt, strcmp(path, "/") == 0 ? "" : path);
		else if (strncmp(path, root, rl) == 0 && (path[rl] == '/' || path[rl] == '\0'))
			dir = am_xasprintf("%s%s", mnt, path + rl);
	}
	free(mnt);
	free(root);
	free(path);
	return dir;
}

/* Read at most n-1 bytes of a small (proc, cgroup) file, NUL-terminated. */
static int
read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

/* Write s to an existing file (proc, cgroup); 0 or -1 with errno. */
static int
write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int e;

	if (fd < 0)
		return -1;
	if (am_write_all(fd, s, strlen(s)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* Find our cgroups, the hierarchy's mode and which controllers we may use. */
static void
cg_layout_find(struct cg_layout *l)
{
	char *mi = NULL, *cg = NULL, *v2 = NULL;
	struct statfs sf;
	int i;

	memset(l, 0, sizeof *l);
	snprintf(l->mode, sizeof l->mode, "none");
	if (statfs("/sys/fs/cgroup", &sf) == 0) {
		if (sf.f_type == CGROUP2_SUPER_MAGIC)
			snprintf(l->mode, sizeof l->mode, "v2");
		else if (sf.f_type == TMPFS_MAGIC) {
			struct statfs uf;
			if (statfs("/sys/fs/cgroup/unified", &uf) == 0 &&
			    uf.f_type == CGROUP2_SUPER_MAGIC)
				snprintf(l->mode, sizeof l->mode, "hybrid");
			else
				snprintf(l->mode, sizeof l->mode, "v1");
		}
	}
	if (am_read_file("/proc/self/mountinfo", 0, &mi, NULL, NULL) < 0 ||
	    am_read_file("/proc/self/cgroup", 0, &cg, NULL, NULL) < 0)
		goto out;
	for (i = 0; i < CG_N; i++) {
		l->own[i] = cg_own_dir(mi, cg, cg_ctrl[i]);
		if (l->own[i] != NULL) {
			l->ver[i] = 1;
			/* v1: we may make child cgroups where we can write. */
			l->usable[i] = access(l->own[i], W_OK) == 0;
		}
	}
	v2 = cg_own_dir(mi, cg, NULL);
	if (v2 != NULL && access(v2, W_OK) == 0) {
		/* v2: a controller is usable below us when our cgroup has it
		 * enabled for its children already, or when we are at the root,
		 * which alone may enable controllers while it has processes (the
		 * "no internal processes" rule). */
		char ctl[512], sub[512], *procs;
		char *f1 = am_xasprintf("%s/cgroup.controllers", v2);
		char *f2 = am_xasprintf("%s/cgroup.subtree_control", v2);
		int atroot = strcmp(v2, "/sys/fs/cgroup") == 0 ||
			     strcmp(v2, "/sys/fs/cgroup/unified") == 0;

		procs = am_xasprintf("%s/cgroup.procs", v2);
		if (read_small(f1, ctl, sizeof ctl) == 0 && read_small(f2, sub, sizeof sub) == 0 &&
		    access(procs, W_OK) == 0) {
			static const char *const v2name[CG_N] = { "memory", "pids", "cpu" };
			for (i = 0; i < CG_N; i++) {
				if (l->usable[i])
					continue; /* v1 has it */
				if (i == CG_CPU ? 1 /* cpu.stat exists without the controller */
						: has_word(ctl, v2name[i], " \n") &&
							  (atroot || has_word(sub, v2name[i], " \n"))) {
					free(l->own[i]);
					l->own[i] = am_xstrdup(v2);
					l->ver[i] = 2;
					l->usable[i] = 1;
				}
			}
		}
		free(f1);
		free(f2);
		free(procs);
	}
out:
	free(v2);
	free(mi);
	free(cg);
}

/* The layout, found once: a process does not move between cgroups (the
 * probe and every start of a supervisor's retries read the same). */
static const struct cg_layout *
cg_layout(void)
{
	static struct cg_layout l;
	static int found;

	if (!found) {
		cg_layout_find(&l);
		found = 1;
	}
	return &l;
}

/* ---- probe, check, describe ----------------------------------------- */

static int
probe_child(void *arg)
{
	(void)arg;
	return 0;
}

/* Whether this user may make a user namespace, tried in a child that
 * shares our memory (no page tables copied) and exits at once.  That is
 * what an unprivileged user may lack; the namespaces it would then own
 * (mount, PID, network: 0.3 to 1 ms more to try) are the start's to make,
 * and a kernel that refuses one of them fails the start, which says so. */
static int
userns_works(void)
{
	static char stack[16384] __attribute__((aligned(16)));
	pid_t pid = clone(probe_child, stack + sizeof stack,
			  CLONE_VM | CLONE_VFORK | CLONE_NEWUSER | SIGCHLD,
			  NULL);
	int st = 1;

	if (pid < 0)
		return 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void
am_sandbox_probe(struct am_sandbox_features *f)
{
	const struct cg_layout *l = cg_layout();
	uint32_t act = SECCOMP_RET_ERRNO;

	memset(f, 0, sizeof *f);
	f->root = geteuid() == 0;
	f->userns = userns_works();
	f->landlock_abi = ll_abi();
	f->seccomp = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &act) == 0;
	/* A call the kernel rejects for its arguments (EINVAL, EBADF) exists. */
	f->mount_setattr = !(syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0) < 0 &&
			     errno == ENOSYS);
	f->cgroup_memory = l->usable[CG_MEM];
	f->cgroup_pids = l->usable[CG_PIDS];
	f->cgroup_cpu = l->usable[CG_CPU];
	memcpy(f->cgroup_mode, l->mode, sizeof f->cgroup_mode);
}

cJSON *
am_sandbox_features_json(const struct am_sandbox_features *f)
{
	cJSON *o = cJSON_CreateObject(), *c;

	cJSON_AddBoolToObject(o, "root", f->root);
	cJSON_AddBoolToObject(o, "userNamespace", f->userns);
	cJSON_AddNumberToObject(o, "landlockAbi", f->landlock_abi);
	cJSON_AddBoolToObject(o, "seccomp", f->seccomp);
	cJSON_AddBoolToObject(o, "noexecMounts", f->mount_setattr);
	c = cJSON_AddObjectToObject(o, "cgroups");
	cJSON_AddStringToObject(c, "mode", f->cgroup_mode);
	cJSON_AddBoolToObject(c, "memory", f->cgroup_memory);
	cJSON_AddBoolToObject(c, "pids", f->cgroup_pids);
	cJSON_AddBoolToObject(c, "cpu", f->cgroup_cpu);
	return o;
}

/* 1 if s is a safe cgroup directory name: [A-Za-z0-9._-], at most 64. */
static int
name_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; s[n]; n++)
		if (!(s[n] == '-' || s[n] == '_' || s[n] == '.' || (s[n] >= '0' && s[n] <= '9') ||
		      (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')))
			return 0;
	return n <= 64;
}

/* Refuse a path list with a relative or overlong path. */
static int
paths_ok(char *const *v, const char *what, struct am_error **err)
{
	for (; v && *v; v++)
		if ((*v)[0] != '/' || strlen(*v) >= PATH_MAX)
			return am_error_set(err, AM_EUSAGE, "sandbox: %s path '%s' is not absolute",
					    what, *v);
	return 0;
}

/* Refuse a malformed plan (AM_EUSAGE) before anything runs. */
static int
plan_validate(const struct am_sandbox_plan *p, struct am_error **err)
{
	if (p->argv == NULL || p->argv[0] == NULL || p->argv[0][0] != '/')
		return am_error_set(err, AM_EUSAGE,
				    "sandbox: the command must be an absolute path");
	if (paths_ok(p->ro_paths, "read-only", err) < 0 ||
	    paths_ok(p->rw_paths, "read-write", err) < 0 ||
	    paths_ok(p->deny_paths, "deny", err) < 0 ||
	    paths_ok(p->exec_paths, "executable", err) < 0)
		return -1;
	if (p->cwd && p->cwd[0] != '/')
		return am_error_set(err, AM_EUSAGE, "sandbox: working directory '%s' is not absolute",
				    p->cwd);
	if (p->ledger_dir && p->ledger_dir[0] != '/')
		return am_error_set(err, AM_EUSAGE, "sandbox: ledger directory '%s' is not absolute",
				    p->ledger_dir);
	if (p->net != AM_NET_NONE && p->net != AM_NET_LOOPBACK && p->net != AM_NET_HOST)
		return am_error_set(err, AM_EUSAGE, "sandbox: unknown network mode");
	if (p->name && !name_ok(p->name))
		return am_error_set(err, AM_EUSAGE, "sandbox: name '%s' is not a plain file name",
				    p->name);
	return 0;
}

int
am_sandbox_check(const struct am_sandbox_plan *p, const struct am_sandbox_features *f,
		 struct am_error **err)
{
	if (plan_validate(p, err) < 0)
		return -1;
	/* As root the sandbox still prefers a user namespace (capabilities only
	 * over its own namespaces) but can do without: every capability is
	 * dropped before exec anyway.  A normal user cannot make the other
	 * namespaces without one. */
	if (!f->root && !f->userns)
		return am_error_set(err, AM_EDENIED,
				    "this kernel does not let this user create user namespaces; "
				    "the sandbox requires them (see sysctl user.max_user_namespaces)");
	if (f->landlock_abi < 1)
		return am_error_set(err, AM_EDENIED,
				    "this kernel has no Landlock; the sandbox requires file access "
				    "control (CONFIG_SECURITY_LANDLOCK, lsm=landlock)");
	if (!f->seccomp)
		return am_error_set(err, AM_EDENIED,
				    "this kernel has no seccomp filters; the sandbox requires them "
				    "to deny ptrace, mount, bpf, io_uring and new namespaces");
	if (!f->mount_setattr)
		return am_error_set(err, AM_EDENIED,
				    "this kernel has no mount_setattr; the sandbox requires noexec "
				    "mounts (mount_setattr, Linux 5.12) so that the dynamic loader "
				    "cannot run programs that were not granted");
	return 0;
}

/* A NULL-terminated string vector as a JSON array. */
static cJSON *
strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* The names of the Landlock rights in access. */
static cJSON *
rights_json(uint64_t access)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < AM_ARRAY_LEN(ll_rights); i++)
		if (access & ll_rights[i].bit)
			cJSON_AddItemToArray(a, cJSON_CreateString(ll_rights[i].name));
	return a;
}

/* One Landlock rule of the plan, as the kernel will get it. */
static void
add_rule_json(cJSON *rules, const char *path, uint64_t access, uint64_t handled, const char *why)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "path", path);
	cJSON_AddItemToObject(r, "access", rights_json(access & handled));
	cJSON_AddStringToObject(r, "why", why);
	cJSON_AddItemToArray(rules, r);
}

/* One mount step of the plan. */
static void
add_mount_json(cJSON *m, const char *target, const char *what)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "target", target);
	cJSON_AddStringToObject(o, "mount", what);
	cJSON_AddItemToArray(m, o);
}

/* One limit and the mechanism that enforces it. */
static void
add_limit_json(cJSON *lim, const char *key, uint64_t value, const char *how)
{
	cJSON *o = cJSON_AddObjectToObject(lim, key);

	if (value)
		cJSON_AddNumberToObject(o, "value", (double)value);
	else
		cJSON_AddNullToObject(o, "value");
	cJSON_AddStringToObject(o, "enforcedBy", value ? how : "not limited");
}

cJSON *
am_sandbox_plan_json(const struct am_sandbox_plan *p, const struct am_sandbox_features *f)
{
	static const struct am_sandbox_features none = { 0 };
	cJSON *o = cJSON_CreateObject(), *ns, *a, *m, *ll, *rules, *sc, *lim, *lims;
	char *const *v, **libs, **rwl;
	int abi, userns;
	uint64_t handled, fsize;
	size_t i, j;
	char buf[256];

	if (f == NULL)
		f = &none;
	abi = f->landlock_abi;
	handled = ll_handled(abi);
	userns = f->userns || !f->root;
	cJSON_AddItemToObject(o, "argv", strv_json(p->argv));
	a = cJSON_AddArrayToObject(o, "environmentNames"); /* values may be credentials */
	for (v = p->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		char *n = am_xstrndup(*v, eq ? (size_t)(eq - *v) : strlen(*v));
		cJSON_AddItemToArray(a, cJSON_CreateString(n));
		free(n);
	}
	cJSON_AddStringToObject(o, "cwd", p->cwd ? p->cwd : "/");
	if (p->name)
		cJSON_AddStringToObject(o, "name", p->name);

	ns = cJSON_AddObjectToObject(o, "namespaces");
	cJSON_AddBoolToObject(ns, "user", userns);
	cJSON_AddBoolToObject(ns, "mount", 1);
	cJSON_AddBoolToObject(ns, "pid", 1);
	cJSON_AddBoolToObject(ns, "ipc", 1);
	cJSON_AddBoolToObject(ns, "uts", 1);
	cJSON_AddBoolToObject(ns, "network", p->net != AM_NET_HOST);
	cJSON_AddStringToObject(ns, "hostname", SANDBOX_HOSTNAME);
	if (userns)
		cJSON_AddStringToObject(ns, "userMapping",
					"uid 0 and gid 0 inside are the caller's uid and gid; "
					"setgroups denied; capabilities only over the new namespaces");
	else
		cJSON_AddStringToObject(ns, "userMapping",
					"none (root without user namespaces): real root with "
					"every capability dropped before exec");
	cJSON_AddStringToObject(o, "network",
				p->net == AM_NET_NONE ? "none: own network namespace, loopback down"
				: p->net == AM_NET_LOOPBACK ? "loopback: own network namespace, "
							      "only its loopback, up"
							    : "host: the host's network");

	m = cJSON_AddArrayToObject(o, "mounts");
	add_mount_json(m, "/", "propagation private (recursive): nothing leaks to or from the host");
	snprintf(buf, sizeof buf, "tmpfs size %llu, mode 1777, nosuid nodev noexec; /tmp/home mode 0700",
		 (unsigned long long)p->scratch_bytes);
	add_mount_json(m, "/tmp", p->scratch_bytes ? buf : "tmpfs (default size: half of RAM), mode 1777, "
							    "nosuid nodev noexec; /tmp/home mode 0700");
	for (v = p->deny_paths; v && *v; v++)
		add_mount_json(m, *v, "masked: empty read-only tmpfs over a directory, /dev/null "
				      "read-only over a file (skipped if missing)");
	if (p->ledger_dir)
		add_mount_json(m, p->ledger_dir,
			       p->ledger_readonly ? "read-only bind" : "hidden: empty read-only tmpfs");
	for (v = p->exec_paths; v && *v; v++)
		add_mount_json(m, *v, "read-only bind of the executable onto itself, exec allowed");
	libs = lib_dirs(p);
	rwl = rw_in_lib_dirs(p, libs);
	for (v = rwl; v && *v; v++)
		add_mount_json(m, *v, "bind onto itself: a writable path inside a library "
				      "directory stays noexec");
	for (v = libs; *v; v++)
		add_mount_json(m, *v, "bind onto itself (recursive), exec allowed: a library directory");
	add_mount_json(m, "/proc", "proc of the new PID namespace");
	add_mount_json(m, "/", "noexec on every mount (mount_setattr, recursive), then exec "
			       "allowed again only on the library directories and the executables' "
			       "own binds: nothing else can be executed or mapped executable, not "
			       "even through the dynamic loader");
	cJSON_AddItemToObject(o, "execMappableDirectories", strv_json(libs));
	am_strv_free(libs);
	am_strv_free(rwl);

	ll = cJSON_AddObjectToObject(o, "landlock");
	cJSON_AddNumberToObject(ll, "abi", abi);
	cJSON_AddItemToObject(ll, "handledAccessFs", rights_json(handled));
	a = cJSON_AddArrayToObject(ll, "scoped");
	if (ll_scoped(abi) & LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)
		cJSON_AddItemToArray(a, cJSON_CreateString("abstract_unix_socket"));
	if (ll_scoped(abi) & LANDLOCK_SCOPE_SIGNAL)
		cJSON_AddItemToArray(a, cJSON_CreateString("signal"));
	rules = cJSON_AddArrayToObject(ll, "rules");
	for (v = p->ro_paths; v && *v; v++)
		add_rule_json(rules, *v, LL_READ, handled, "read-only path");
	for (v = p->rw_paths; v && *v; v++)
		add_rule_json(rules, *v, LL_RW, handled, "read-write path");
	add_rule_json(rules, "/tmp", LL_RW, handled, "scratch");
	for (v = p->exec_paths; v && *v; v++) {
		char *in = elf_interp(*v), *rp = in ? realpath(in, NULL) : NULL;
		add_rule_json(rules, *v, LL_EXEC, handled, "executable");
		if (rp) {
			snprintf(buf, sizeof buf, "ELF interpreter of %s", *v);
			add_rule_json(rules, rp, LL_EXEC, handled, buf);
		}
		free(in);
		free(rp);
	}
	for (i = 0; i < AM_ARRAY_LEN(ll_system); i++)
		add_rule_json(rules, ll_system[i].path, ll_system[i].access, handled, ll_system[i].why);

	sc = cJSON_AddObjectToObject(o, "seccomp");
	cJSON_AddStringToObject(sc, "defaultAction", "allow");
	cJSON_AddStringToObject(sc, "otherArchitectures", "kill");
	a = cJSON_AddArrayToObject(sc, "denied");
	for (i = 0; i < AM_ARRAY_LEN(sc_groups); i++) {
		cJSON *g = cJSON_CreateObject(), *n = cJSON_AddArrayToObject(g, "syscalls");
		for (j = 0; j < AM_ARRAY_LEN(sc_groups[i].names) && sc_groups[i].names[j]; j++)
			cJSON_AddItemToArray(n, cJSON_CreateString(sc_groups[i].names[j]));
		cJSON_AddStringToObject(g, "errno", sc_groups[i].err == ENOSYS ? "ENOSYS" : "EPERM");
		cJSON_AddStringToObject(g, "why", sc_groups[i].why);
		cJSON_AddItemToArray(a, g);
	}
	{
		cJSON *g = cJSON_CreateObject(), *n;
		cJSON_AddStringToObject(g, "syscall", "clone");
		n = cJSON_AddArrayToObject(g, "withAnyFlag");
		for (i = 0; i < AM_ARRAY_LEN(sc_clone_ns); i++)
			cJSON_AddItemToArray(n, cJSON_CreateString(sc_clone_ns[i].name));
		cJSON_AddStringToObject(g, "errno", "EPERM");
		cJSON_AddItemToArray(a, g);
		g = cJSON_CreateObject();
		cJSON_AddStringToObject(g, "syscall", "personality");
		n = cJSON_AddArrayToObject(g, "withAnyFlag");
		for (i = 0; i < AM_ARRAY_LEN(sc_persona); i++)
			cJSON_AddItemToArray(n, cJSON_CreateString(sc_persona[i].name));
		cJSON_AddStringToObject(g, "errno", "EPERM");
		cJSON_AddItemToArray(a, g);
		g = cJSON_CreateObject();
		cJSON_AddStringToObject(g, "syscall", "ioctl");
		n = cJSON_AddArrayToObject(g, "requests");
		for (i = 0; i < AM_ARRAY_LEN(sc_ioctl); i++)
			cJSON_AddItemToArray(n, cJSON_CreateString(sc_ioctl[i].name));
		cJSON_AddStringToObject(g, "errno", "EPERM");
		cJSON_AddItemToArray(a, g);
	}
	cJSON_AddBoolToObject(o, "noNewPrivs", 1);
	cJSON_AddStringToObject(o, "capabilities",
				"none: bounding, inheritable, ambient, permitted and effective "
				"sets emptied; securebits noroot locked");
	cJSON_AddStringToObject(o, "fileDescriptors", "0, 1 and 2 only");
	cJSON_AddStringToObject(o, "init",
				"PID 1 of the new PID namespace: forwards SIGTERM, SIGINT, SIGHUP, "
				"SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to the command's process "
				"group, reaps every orphan and exits with the command's status "
				"(128+N for signal N); the kernel then kills everything left");

	lim = cJSON_AddObjectToObject(o, "limits");
	snprintf(buf, sizeof buf, "cgroup %s memory controller (limit, swap limited too)",
		 f->cgroup_mode);
	add_limit_json(lim, "memoryBytes", p->memory_bytes,
		       f->cgroup_memory ? buf : "RLIMIT_AS per process (no writable memory cgroup)");
	snprintf(buf, sizeof buf, "cgroup %s pids controller", f->cgroup_mode);
	add_limit_json(lim, "pids", p->max_pids,
		       f->cgroup_pids ? buf
				      : "RLIMIT_NPROC counted in the sandbox's user namespace "
					"(no writable pids cgroup; root is exempt from it)");
	add_limit_json(lim, "cpuSeconds", p->cpu_seconds, "RLIMIT_CPU per process");
	fsize = p->max_file_bytes ? p->max_file_bytes : p->scratch_bytes;
	add_limit_json(lim, "fileBytes", fsize, "RLIMIT_FSIZE");
	add_limit_json(lim, "scratchBytes", p->scratch_bytes, "size of the /tmp tmpfs");
	cJSON_AddNumberToObject(lim, "coreBytes", 0);
	cJSON_AddStringToObject(lim, "cpuAccounting",
				f->cgroup_cpu ? "cgroup cpu accounting" : "getrusage of the init");
	lims = cJSON_AddArrayToObject(o, "limitations");
	cJSON_AddItemToArray(lims, cJSON_CreateString(
		"the dynamic loader can still start a program that lies inside one of the "
		"execMappableDirectories (such as /usr/lib/git-core/*), since it must map code "
		"from them; a granted interpreter can still run code it writes into anonymous memory"));
	cJSON_AddItemToArray(lims, cJSON_CreateString(
		"Landlock does not cover connecting to named UNIX sockets: list sockets such as "
		"the Docker or session bus sockets in the deny paths"));
	if (!f->root)
		cJSON_AddItemToArray(lims, cJSON_CreateString(
			"supplementary groups stay (the kernel lets no unprivileged process drop "
			"them); Landlock still decides what they reach"));
	return o;
}

/* ---- the children --------------------------------------------------- */

struct rl {
	int res;
	struct rlimit lim;
};

/* Everything the children use: what the parent prepares before the clone,
 * and the plan the init works out (child_plan). */
struct ctx {
	const struct am_sandbox_plan *p;
	int sock;        /* child end: "go" and "x" in; the scratch, "ready" or a
			  * failed step out; close-on-exec */
	int net;
	char tmpfs_opts[64];
	char *cg_join[CG_N + 1]; /* cgroup v1 "tasks" files the init joins itself */
	char **rebind;   /* real paths under /tmp to bind back over the new /tmp */
	int *rebind_fd;  /* O_PATH fds to them, opened by the init */
	size_t nrebind;
	struct ll_rule *rules;
	size_t nrules;
	char **owned;    /* strings rules point to */
	size_t nowned;
	char **libs;     /* library directories: exec allowed again (NULL-terminated) */
	char **rwlibs;   /* writable paths inside them: bound, stay noexec (or NULL) */
	char *lib_exec;  /* per library directory: bound, and exec until now (the init) */
	char *exe_exec;  /* per executable: the same */
	uint64_t handled, scoped;
	struct sock_fprog prog;
	struct rl rl[6];
	size_t nrl;
};

/* What the children tell the parent over the socket: a failed step, the
 * scratch tmpfs (from the init, with the descriptor attached), or that the
 * command is ready to exec. */
enum { MSG_FAILED = 1, MSG_SCRATCH, MSG_READY };

struct setup_err {
	int kind;
	int err;
	char step[200];
};

/* Report a failed step to the parent and end this child. */
static _Noreturn void
child_fail(const struct ctx *c, const char *step, const char *arg, int e)
{
	struct setup_err se;

	memset(&se, 0, sizeof se);
	se.kind = MSG_FAILED;
	if (arg)
		snprintf(se.step, sizeof se.step, "%s %s", step, arg);
	else
		snprintf(se.step, sizeof se.step, "%s", step);
	se.err = e;
	if (write(c->sock, &se, sizeof se) < 0) {
		/* the parent is gone; nothing to tell */
	}
	_exit(SETUP_FAILED);
}

/* fork(2) without glibc's fork handlers (see the top of the file); flags
 * may add namespaces.  The child gets a copy of the stack and returns 0. */
static pid_t
raw_clone(unsigned long flags)
{
#if defined(__s390__) || defined(__CRIS__)
	return (pid_t)syscall(SYS_clone, NULL, flags | SIGCHLD);
#else
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
#endif
}

/* Create the directories (and, unless dir, the last component as an empty
 * file) of path, as a mount point. */
static int
make_mountpoint(const char *path, int dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	char *s;
	int fd;

	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (dir)
		return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
	fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	return fd < 0 ? -1 : close(fd);
}

/* Remount a fresh bind mount read-only.  In a user namespace the flags a
 * mount inherited from outside (nosuid, nodev, noexec, atime) are locked:
 * a remount that tries to clear them fails, so they are carried over. */
static int
remount_ro(const char *path)
{
	struct statvfs sv;
	unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;

	if (statvfs(path, &sv) < 0)
		return -1;
	if (sv.f_flag & ST_NOSUID)
		fl |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		fl |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		fl |= MS_RELATIME;
	return mount(NULL, path, NULL, fl, NULL);
}

/* An empty, read-only directory over path: what was there is gone from
 * this mount namespace. */
static int
mask_dir(const char *path)
{
	return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     "size=4k,nr_inodes=1,mode=0555");
}

/* Hand the parent a descriptor of the scratch tmpfs just mounted on /tmp:
 * it measures how full the scratch is with fstatfs, which needs no access
 * to this namespace's /proc/PID/root (refused to an unprivileged parent,
 * since the init is not dumpable and in another user namespace). */
static void
child_send_scratch(const struct ctx *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct setup_err m;
	struct iovec iov = { &m, sizeof m };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		child_fail(c, "open", "/tmp", errno);
	memset(&m, 0, sizeof m);
	m.kind = MSG_SCRATCH;
	memset(&u, 0, sizeof u);
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(c->sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof m)
		child_fail(c, "send the scratch descriptor", NULL, errno);
	close(fd);
}

/* Set (set) or clear MOUNT_ATTR_NOEXEC on the mount at path (flags:
 * AT_RECURSIVE for the whole tree below it). */
static int
mount_noexec(const char *path, int set, unsigned flags)
{
	struct mount_attr a;

	memset(&a, 0, sizeof a);
	if (set)
		a.attr_set = MOUNT_ATTR_NOEXEC;
	else
		a.attr_clr = MOUNT_ATTR_NOEXEC;
	return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &a, sizeof a);
}

/* Execute rights belong to a list of files (Landlock), but the dynamic
 * loader, which every dynamic program needs executable, opens and maps any
 * file it can read: "ld.so /usr/bin/id" would run a program that was never
 * granted, and Landlock does not govern mmap.  The kernel does refuse
 * mmap(PROT_EXEC) and execve of files on a noexec mount, so every mount
 * becomes noexec except binds of our own: the library directories (the
 * loader maps libc and the rest from there) and each executable's
 * read-only bind (made above).  The order matters: the binds first, then
 * noexec on the whole tree, which covers them too, then exec allowed again
 * on the binds alone (not recursively: a mask or a writable path mounted
 * inside stays noexec).  Mounts inherited from outside a user namespace
 * have their flags locked, which forbids clearing noexec but not setting
 * it, so only our own binds are cleared, and only those that were exec
 * before. */
static void
child_noexec(const struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	struct statvfs sv;
	struct stat st;
	char *const *v;
	size_t i;

	for (v = c->rwlibs; v && *v; v++)
		if (mount(*v, *v, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(c, "bind", *v, errno);
	for (i = 0; c->libs[i]; i++) {
		if (mount(c->libs[i], c->libs[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* not in this mount namespace (a masked path) */
			child_fail(c, "bind", c->libs[i], errno);
		}
		c->lib_exec[i] = statvfs(c->libs[i], &sv) == 0 && !(sv.f_flag & ST_NOEXEC);
	}
	for (i = 0, v = p->exec_paths; v && *v; v++, i++)
		c->exe_exec[i] = stat(*v, &st) == 0 && S_ISREG(st.st_mode) &&
				 statvfs(*v, &sv) == 0 && !(sv.f_flag & ST_NOEXEC);
	if (mount_noexec("/", 1, AT_RECURSIVE) < 0)
		child_fail(c, "noexec mounts (mount_setattr) on", "/", errno);
	for (i = 0; c->libs[i]; i++)
		if (c->lib_exec[i] && mount_noexec(c->libs[i], 0, 0) < 0)
			child_fail(c, "allow exec (mount_setattr) on", c->libs[i], errno);
	for (i = 0, v = p->exec_paths; v && *v; v++, i++)
		if (c->exe_exec[i] && mount_noexec(*v, 0, 0) < 0)
			child_fail(c, "allow exec (mount_setattr) on", *v, errno);
}

/* The init's mount namespace: private, scratch /tmp, masks, ledger, /proc. */
static void
child_mounts(const struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	char *const *v;
	char src[64];
	struct stat st;
	size_t i;

	/* Nothing we mount may propagate back to the host's mount namespace
	 * (or from it into ours while the command runs). */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(c, "make / private", NULL, errno);
	/* Paths the plan allows that live in the host's /tmp: hold on to them
	 * before the scratch tmpfs covers it, then bind them back. */
	for (i = 0; i < c->nrebind; i++) {
		c->rebind_fd[i] = open(c->rebind[i], O_PATH | O_CLOEXEC);
		if (c->rebind_fd[i] < 0)
			child_fail(c, "open", c->rebind[i], errno);
	}
	/* A scratch /tmp of its own: HOME and TMPDIR for the agent, sized by
	 * the disk budget, and the host's /tmp (other users' sockets and files)
	 * out of sight.  noexec: nothing dropped there is run or mapped
	 * executable (Landlock does not govern mmap). */
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, c->tmpfs_opts) < 0)
		child_fail(c, "mount tmpfs on", "/tmp", errno);
	if (mkdir("/tmp/home", 0700) < 0)
		child_fail(c, "mkdir", "/tmp/home", errno);
	child_send_scratch(c);
	for (i = 0; i < c->nrebind; i++) {
		if (fstat(c->rebind_fd[i], &st) < 0)
			child_fail(c, "stat", c->rebind[i], errno);
		if (make_mountpoint(c->rebind[i], S_ISDIR(st.st_mode)) < 0)
			child_fail(c, "mkdir", c->rebind[i], errno);
		snprintf(src, sizeof src, "/proc/self/fd/%d", c->rebind_fd[i]);
		if (mount(src, c->rebind[i], NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(c, "bind", c->rebind[i], errno);
		close(c->rebind_fd[i]);
	}
	/* Deny paths: Landlock could refuse them too, but a mask also works
	 * when a deny path sits inside an allowed tree, which Landlock rules
	 * (that only add rights) cannot express. */
	for (v = p->deny_paths; v && *v; v++) {
		if (stat(*v, &st) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			child_fail(c, "stat", *v, errno);
		}
		if (S_ISDIR(st.st_mode)) {
			if (mask_dir(*v) < 0)
				child_fail(c, "mask", *v, errno);
		} else if (mount("/dev/null", *v, NULL, MS_BIND, NULL) < 0 || remount_ro(*v) < 0)
			child_fail(c, "mask", *v, errno);
	}
	/* The ledger is the record of what the agent did and was allowed: it
	 * may at most read it, and only if the artifact-access gate says so.
	 * The bind is read-only in the mount itself, so no file permission or
	 * Landlock rule on the workspace above it can make it writable. */
	if (p->ledger_dir && stat(p->ledger_dir, &st) == 0) {
		if (!p->ledger_readonly) {
			if (mask_dir(p->ledger_dir) < 0)
				child_fail(c, "hide", p->ledger_dir, errno);
		} else if (mount(p->ledger_dir, p->ledger_dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
			   remount_ro(p->ledger_dir) < 0)
			child_fail(c, "read-only bind", p->ledger_dir, errno);
	}
	/* Every executable file is bound read-only onto itself: a grant pins a
	 * binary by its hash, so the agent must not be able to rewrite one it
	 * may run (a granted tool under a writable workspace path, say). */
	for (v = p->exec_paths; v && *v; v++)
		if (stat(*v, &st) == 0 && S_ISREG(st.st_mode) &&
		    (mount(*v, *v, NULL, MS_BIND, NULL) < 0 || remount_ro(*v) < 0))
			child_fail(c, "read-only bind of executable", *v, errno);
	/* /proc of the new PID namespace: the agent sees its own processes
	 * only, and /proc/self means itself. */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(c, "mount proc on", "/proc", errno);
	child_noexec(c);
}

/* The init joins its cgroup v1 groups (cg_join_plan, below, says why). */
static void
child_cgroups(const struct ctx *c)
{
	int i;

	for (i = 0; c->cg_join[i]; i++)
		if (write_str(c->cg_join[i], "0") < 0)
			child_fail(c, "join the cgroup", c->cg_join[i], errno);
}

/* Network: bring the new namespace's loopback up for AM_NET_LOOPBACK. */
static void
child_net(const struct ctx *c)
{
	struct ifreq ifr;
	int s;

	if (c->net != AM_NET_LOOPBACK)
		return; /* NONE: a new namespace's loopback starts down; HOST: not ours */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		child_fail(c, "socket", NULL, errno);
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		child_fail(c, "SIOCGIFFLAGS", "lo", errno);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		child_fail(c, "SIOCSIFFLAGS", "lo", errno);
	close(s);
}

/* Restrict this process and its descendants to the planned rules. */
static void
child_landlock(const struct ctx *c)
{
	struct ll_ruleset_attr attr;
	struct landlock_path_beneath_attr pb;
	struct stat st;
	size_t i;
	int rfd, fd;

	memset(&attr, 0, sizeof attr);
	attr.handled_access_fs = c->handled;
	attr.scoped = c->scoped;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rfd < 0)
		child_fail(c, "landlock_create_ruleset", NULL, errno);
	for (i = 0; i < c->nrules; i++) {
		fd = open(c->rules[i].path, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* nothing there to grant */
			child_fail(c, "open", c->rules[i].path, errno);
		}
		if (fstat(fd, &st) < 0)
			child_fail(c, "stat", c->rules[i].path, errno);
		memset(&pb, 0, sizeof pb);
		pb.parent_fd = fd;
		pb.allowed_access = c->rules[i].access & c->handled;
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= LL_FILE_RIGHTS;
		if (pb.allowed_access &&
		    syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
			child_fail(c, "landlock_add_rule", c->rules[i].path, errno);
		close(fd);
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0)
		child_fail(c, "landlock_restrict_self", NULL, errno);
	close(rfd);
}

/* Give up every capability for good.  Inside the user namespace the
 * command is uid 0, and exec as uid 0 hands out the full permitted set
 * again unless the bounding set is empty and SECBIT_NOROOT is set; both
 * need CAP_SETPCAP, so they come before the capset that drops it. */
static void
child_drop_caps(const struct ctx *c)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int cap;

	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			  SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED) < 0)
		child_fail(c, "PR_SET_SECUREBITS", NULL, errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(c, "PR_CAP_AMBIENT_CLEAR_ALL", NULL, errno);
	for (cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the last capability this kernel has */
			child_fail(c, "PR_CAPBSET_DROP", NULL, errno);
		}
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail(c, "capset", NULL, errno);
}

/* The command: the last steps, then exec. */
static _Noreturn void
command_main(struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	int src[3] = { p->stdin_fd, p->stdout_fd, p->stderr_fd };
	struct sigaction sa;
	sigset_t none;
	size_t i;
	int sig, fd, e, pfd = -1;

	/* Signal state from am and the init must not leak into the command:
	 * an ignored SIGPIPE or a blocked SIGTERM would survive exec. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own session and process group: the init can signal the whole
	 * group, and without a controlling terminal the command cannot steal
	 * the user's terminal (job control, legacy TIOCSTI). */
	if (setsid() < 0)
		child_fail(c, "setsid", NULL, errno);

	/* fds 0-2 from the plan; everything else am had open is closed so no
	 * inherited descriptor (ledger locks, sockets, keys) reaches the agent.
	 * The sources go above 2 first, in case one of them is 0, 1 or 2. */
	/* The progress descriptor goes to fd 4 (fd 3 is this process's own
	 * context socket, closed at exec): moved out of the way first. */
	if (p->progress_fd >= 0 && (pfd = fcntl(p->progress_fd, F_DUPFD_CLOEXEC, 10)) < 0)
		child_fail(c, "progress fd", NULL, errno);
	for (i = 0; i < 3; i++) {
		fd = src[i] >= 0 ? src[i] : open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0 || (src[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
			child_fail(c, "stdio", NULL, errno);
	}
	for (i = 0; i < 3; i++)
		if (dup2(src[i], (int)i) < 0)
			child_fail(c, "dup2", NULL, errno);
	if (c->sock != 3 && dup3(c->sock, 3, O_CLOEXEC) < 0)
		child_fail(c, "dup3", NULL, errno);
	c->sock = 3; /* this process's copy of the context */
	if (pfd >= 0 && dup2(pfd, 4) < 0) /* dup2 clears close-on-exec: it survives exec */
		child_fail(c, "dup2 progress", NULL, errno);
	if (close_range(pfd >= 0 ? 5 : 4, ~0U, 0) < 0)
		child_fail(c, "close_range", NULL, errno);

	if (chdir(p->cwd ? p->cwd : "/") < 0)
		child_fail(c, "chdir", p->cwd ? p->cwd : "/", errno);
	for (i = 0; i < c->nrl; i++)
		if (setrlimit(c->rl[i].res, &c->rl[i].lim) < 0)
			child_fail(c, "setrlimit", NULL, errno);
	/* no_new_privs: exec can never raise privileges again (setuid bits and
	 * file capabilities are ignored); it is also what allows an unprivileged
	 * process to install Landlock and seccomp filters. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(c, "PR_SET_NO_NEW_PRIVS", NULL, errno);
	child_landlock(c);
	child_drop_caps(c);
	/* Last: the filter denies calls the steps above might make. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->prog) < 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &c->prog, 0, 0) < 0)
		child_fail(c, "seccomp", NULL, errno);

	{
		/* Set up; the exec waits for am_sandbox_release.  A parent that
		 * closes the socket instead ends the command here. */
		struct setup_err m;
		char go = 0;

		memset(&m, 0, sizeof m);
		m.kind = MSG_READY;
		if (write(c->sock, &m, sizeof m) != (ssize_t)sizeof m ||
		    read(c->sock, &go, 1) != 1 || go != 'x')
			_exit(SETUP_FAILED);
	}
	execve(p->argv[0], p->argv, p->env ? p->env : (char *const[]){ NULL });
	/* Like a shell: 127 not found, 126 found but not executable. */
	e = errno;
	if (write(2, "am: sandbox: cannot execute ", 28) < 0 ||
	    write(2, p->argv[0], strlen(p->argv[0])) < 0 || write(2, ": ", 2) < 0 ||
	    write(2, strerror(e), strlen(strerror(e))) < 0 || write(2, "\n", 1) < 0) {
		/* stderr is gone; the exit status still says it */
	}
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/* A handler, so the kernel delivers the signal to the namespace's init. */
static void
init_nop(int sig)
{
	(void)sig;
}

static void child_plan(struct ctx *c);

static char command_stack[256 << 10] __attribute__((aligned(16)));

static int
command_start(void *c)
{
	command_main(c);
}

/* PID 1 of the sandbox. */
static _Noreturn void
init_main(struct ctx *c)
{
	struct sigaction sa;
	sigset_t set;
	siginfo_t si;
	pid_t cmd, r;
	size_t i;
	char go;
	int st;

	/* Die with am: a supervisor killed with SIGKILL must not leave the
	 * agent running unsupervised.  (Set before waiting for "go": if am died
	 * already, the read below sees EOF.) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* It is a copy of am, argv and all; let ps(1) tell them apart. */
	prctl(PR_SET_NAME, "am-init", 0, 0, 0);
	child_plan(c); /* while am writes our uid map and cgroups */
	if (read(c->sock, &go, 1) != 1 || go != 'g')
		_exit(SETUP_FAILED);
	child_cgroups(c);

	if (sethostname(SANDBOX_HOSTNAME, sizeof SANDBOX_HOSTNAME - 1) < 0)
		child_fail(c, "sethostname", NULL, errno);
	child_net(c);
	child_mounts(c);
	/* The init is a copy of am's memory: no core dumps of it, and no
	 * /proc/1/mem or environ for the command (ptrace access needs the
	 * target dumpable, besides the missing capabilities). */
	prctl(PR_SET_DUMPABLE, 0);

	/* Signals: the init of a PID namespace only gets the signals it has a
	 * handler for, so install one, then block them and wait for them
	 * synchronously; blocked before the fork so none is lost. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = init_nop;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (i = 0; i < AM_ARRAY_LEN(forwarded); i++) {
		sigaction(forwarded[i], &sa, NULL);
		sigaddset(&set, forwarded[i]);
	}
	sa.sa_handler = SIG_DFL; /* not SIG_IGN: children must be waitable */
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN; /* writing a failure to a parent that left */
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* Out of am's session: the terminal's job-control signals go to am,
	 * which decides what reaches the sandbox (am_sandbox_signal). */
	setsid();

	/* The command shares the init's memory until it execs, as with
	 * vfork(2), and the init waits meanwhile: no copy of am's page tables
	 * to make and to tear down at the exec.  Until then it runs only
	 * command_main, on its own stack, which allocates nothing and writes
	 * nothing the init reads afterwards; its descriptor table, signal
	 * handlers, credentials, Landlock domain and seccomp filter are its
	 * own as a process.  The agent's code never shares this memory: the
	 * exec replaces it. */
	cmd = clone(command_start, command_stack + sizeof command_stack,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	if (cmd < 0)
		child_fail(c, "fork", NULL, errno);
	/* The init needs no descriptor at all; the socket's last copy is the
	 * command's, which exec closes. */
	close_range(0, ~0U, 0);

	for (;;) {
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* The command leads its own process group. */
			if (kill(-cmd, sig) < 0)
				kill(cmd, sig);
			continue;
		}
		while ((r = waitpid(-1, &st, WNOHANG)) > 0)
			if (r == cmd)
				_exit(WIFEXITED(st) ? WEXITSTATUS(st)
				      : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255);
	}
}

/* ---- the parent ----------------------------------------------------- */

struct am_sandbox {
	pid_t pid;  /* the init */
	int pidfd;  /* -1 where pidfd_open is missing */
	int sock;   /* the set-up socket until the command is let exec, else -1 */
	int scratch_fd; /* O_PATH of the scratch tmpfs's root, from the init */
	int done;
	int status;
	struct am_usage usage;
	char *cg[CG_N];   /* our cgroups, NULL where not used */
	int cgver[CG_N];
	char *cgbase[CG_N]; /* their <own>/am parents */
};

/* Free what the parent allocated for the children. */
static void
ctx_free(struct ctx *c)
{
	size_t i;

	for (i = 0; c->cg_join[i]; i++)
		free(c->cg_join[i]);
}

/* Append a Landlock rule (path borrowed). */
static void
rule_add(struct ctx *c, const char *path, uint64_t access, size_t *cap)
{
	if (c->nrules == *cap) {
		*cap = *cap ? 2 * *cap : 32;
		c->rules = am_xrealloc(c->rules, *cap * sizeof *c->rules);
	}
	c->rules[c->nrules].path = path;
	c->rules[c->nrules].access = access;
	c->rules[c->nrules].why = NULL;
	c->nrules++;
}

/* Keep s alive as long as the context; returns s. */
static char *
owned(struct ctx *c, char *s)
{
	c->owned = am_xrealloc(c->owned, (c->nowned + 1) * sizeof *c->owned);
	return c->owned[c->nowned++] = s;
}

/* Paths the plan allows whose real location is in the host's /tmp. */
static void
rebind_add(struct ctx *c, const char *path, size_t *cap)
{
	char *rp = realpath(path, NULL);

	if (rp == NULL || strncmp(rp, "/tmp/", 5) != 0) {
		free(rp);
		return;
	}
	if (c->nrebind == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		c->rebind = am_xrealloc(c->rebind, *cap * sizeof *c->rebind);
	}
	c->rebind[c->nrebind++] = rp;
}

/* The host /tmp paths to bring back, without ones inside another. */
static void
rebind_plan(struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	char *const *lists[3] = { p->ro_paths, p->rw_paths, p->exec_paths };
	char *const *v;
	size_t cap = 0, i, j, k;

	for (i = 0; i < 3; i++)
		for (v = lists[i]; v && *v; v++)
			rebind_add(c, *v, &cap);
	if (p->cwd)
		rebind_add(c, p->cwd, &cap);
	/* Shortest first; drop what an earlier bind already brings back. */
	if (c->nrebind)
		qsort(c->rebind, c->nrebind, sizeof *c->rebind, cmp_len);
	for (i = 0, k = 0; i < c->nrebind; i++) {
		int covered = 0;
		for (j = 0; j < k && !covered; j++) {
			size_t n = strlen(c->rebind[j]);
			covered = strncmp(c->rebind[i], c->rebind[j], n) == 0 &&
				  (c->rebind[i][n] == '/' || c->rebind[i][n] == '\0');
		}
		if (covered)
			free(c->rebind[i]);
		else
			c->rebind[k++] = c->rebind[i];
	}
	c->nrebind = k;
	c->rebind_fd = am_xcalloc(k ? k : 1, sizeof *c->rebind_fd);
}

/* The Landlock rules: the plan's paths, /tmp, interpreters, the system. */
static void
rules_plan(struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	char *const *v;
	size_t cap = 0, i;

	for (v = p->ro_paths; v && *v; v++)
		rule_add(c, *v, LL_READ, &cap);
	for (v = p->rw_paths; v && *v; v++)
		rule_add(c, *v, LL_RW, &cap);
	rule_add(c, "/tmp", LL_RW, &cap);
	/* Execute rights go to files, never to directories: what may run is a
	 * list, not a place. */
	for (v = p->exec_paths; v && *v; v++) {
		char *in = elf_interp(*v), *rp = in ? realpath(in, NULL) : NULL;

		rule_add(c, *v, LL_EXEC, &cap);
		/* The kernel opens the ELF interpreter for execution too. */
		if (rp)
			rule_add(c, owned(c, rp), LL_EXEC, &cap);
		free(in);
	}
	for (i = 0; i < AM_ARRAY_LEN(ll_system); i++)
		rule_add(c, ll_system[i].path, ll_system[i].access, &cap);
}

/* The resource limits the command sets before exec. */
static void
rlimits_plan(struct ctx *c, int cg_mem, int cg_pids)
{
	const struct am_sandbox_plan *p = c->p;
	uint64_t fsize = p->max_file_bytes ? p->max_file_bytes : p->scratch_bytes;

	/* Core dumps would write am's and the agent's memory to disk. */
	c->rl[c->nrl++] = (struct rl){ RLIMIT_CORE, { 0, 0 } };
	/* Per process; the soft limit sends SIGXCPU, a second later SIGKILL. */
	if (p->cpu_seconds)
		c->rl[c->nrl++] = (struct rl){ RLIMIT_CPU, { p->cpu_seconds, p->cpu_seconds + 1 } };
	if (fsize)
		c->rl[c->nrl++] = (struct rl){ RLIMIT_FSIZE, { fsize, fsize } };
	if (p->memory_bytes && !cg_mem)
		c->rl[c->nrl++] = (struct rl){ RLIMIT_AS, { p->memory_bytes, p->memory_bytes } };
	/* Counted per user in the sandbox's own user namespace, so only the
	 * sandbox's processes count (the init is one of them). */
	if (p->max_pids && !cg_pids)
		c->rl[c->nrl++] = (struct rl){ RLIMIT_NPROC, { p->max_pids + 1, p->max_pids + 1 } };
}

/* The init's own plan: the Landlock rules, the host /tmp paths to bring
 * back, the library directories.  Worked out by the
 * init rather than by am before the clone: it is the sandbox's work, which
 * runs beside am's (am_sandbox_start's caller). */
static void
child_plan(struct ctx *c)
{
	const struct am_sandbox_plan *p = c->p;
	char *const *v;
	size_t nv;

	rules_plan(c);
	rebind_plan(c);
	c->libs = lib_dirs(p);
	c->rwlibs = rw_in_lib_dirs(p, c->libs);
	for (v = c->libs, nv = 0; *v; v++)
		nv++;
	c->lib_exec = am_xcalloc(nv + 1, 1);
	for (v = p->exec_paths, nv = 0; v && *v; v++)
		nv++;
	c->exe_exec = am_xcalloc(nv + 1, 1);
}

/* Write val to dir/file. */
static int
cg_write(const char *dir, const char *file, const char *val)
{
	char *path = am_xasprintf("%s/%s", dir, file);
	int rc = write_str(path, val);

	free(path);
	return rc;
}

/* A number from dir/file: the whole file, or the value after "key ". */
static int
cg_read_u64(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char buf[4096], *path = am_xasprintf("%s/%s", dir, file), *s;
	long long v;
	int rc = read_small(path, buf, sizeof buf);

	free(path);
	if (rc < 0)
		return -1;
	s = buf;
	if (key) {
		size_t n = strlen(key);
		for (s = buf; s && !(strncmp(s, key, n) == 0 && s[n] == ' ');
		     s = strchr(s, '\n'), s = s ? s + 1 : NULL)
			;
		if (s == NULL)
			return -1;
		s += n + 1;
	}
	if (sscanf(s, "%lld", &v) != 1 || v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* Remove our cgroups (and am/ when it is left empty). */
/* Remove a cgroup, which lingers briefly after its last task is reaped. */
static void
cg_rmdir(const char *dir)
{
	int tries;

	for (tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 100; tries++)
		usleep(10000);
}

static void
cg_remove(struct am_sandbox *sb)
{
	int i, j;

	for (i = 0; i < CG_N; i++) {
		if (sb->cg[i] == NULL)
			continue;
		/* v2 shares one directory among the controllers. */
		for (j = 0; j < i; j++)
			if (sb->cg[j] && strcmp(sb->cg[j], sb->cg[i]) == 0)
				break;
		if (j == i) {
			cg_rmdir(sb->cg[i]);
			if (sb->cgbase[i])
				rmdir(sb->cgbase[i]); /* fails while other sandboxes use it */
		}
		free(sb->cg[i]);
		free(sb->cgbase[i]);
		sb->cg[i] = sb->cgbase[i] = NULL;
	}
}

void
am_sandbox_reclaim(const char *name)
{
	const struct cg_layout *l = cg_layout();
	size_t n = strlen(name);
	int i, j;

	for (i = 0; i < CG_N; i++) {
		AM_AUTOFREE char *base = NULL;
		struct dirent *e;
		DIR *d;

		for (j = 0; j < i && !(l->usable[j] && strcmp(l->own[j], l->own[i]) == 0); j++)
			;
		if (!l->usable[i] || j < i)
			continue; /* v2: one directory for the controllers */
		base = am_xasprintf("%s/am", l->own[i]);
		if ((d = opendir(base)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			AM_AUTOFREE char *cg = NULL;

			if (strncmp(e->d_name, name, n) != 0 || e->d_name[n] != '-')
				continue;
			cg = am_xasprintf("%s/%s", base, e->d_name);
			cg_rmdir(cg);
		}
		closedir(d);
		rmdir(base); /* fails while other sandboxes use it */
	}
}

/* Make <own>/am/<name> for each usable controller and write the limits,
 * before any process is in it. */
static int
cg_setup(struct am_sandbox *sb, const struct am_sandbox_plan *p, const char *name,
	 struct am_error **err)
{
	static const char *const v2ctl[CG_N] = { "+memory", "+pids", NULL };
	const struct cg_layout *l = cg_layout();
	char num[32];
	int i, j, tries, rc = -1;

	for (i = 0; i < CG_N; i++) {
		if (!l->usable[i])
			continue;
		if (i == CG_MEM && !p->memory_bytes)
			continue;
		if (i == CG_PIDS && !p->max_pids)
			continue;
		sb->cgver[i] = l->ver[i];
		for (j = 0; j < i; j++)
			if (sb->cg[j] && l->ver[j] == 2 && l->ver[i] == 2)
				break;
		if (j < i) { /* v2: the directory exists already */
			sb->cg[i] = am_xstrdup(sb->cg[j]);
			sb->cgbase[i] = am_xstrdup(sb->cgbase[j]);
		} else {
			sb->cgbase[i] = am_xasprintf("%s/am", l->own[i]);
			sb->cg[i] = am_xasprintf("%s/%s", sb->cgbase[i], name);
			/* Another sandbox's free may remove am/ between our two
			 * mkdirs; try again then. */
			for (tries = 0;; tries++) {
				if (mkdir(sb->cgbase[i], 0755) < 0 && errno != EEXIST)
					goto fail;
				if (mkdir(sb->cg[i], 0755) == 0)
					break;
				if (errno == EEXIST && rmdir(sb->cg[i]) == 0)
					continue; /* left over from a crashed run */
				if (errno != ENOENT || tries > 5)
					goto fail;
			}
		}
		if (l->ver[i] == 2 && v2ctl[i]) {
			/* Enable the controller for our children (only the root may
			 * have processes and do this) and for am/'s. */
			char sub[512], *f = am_xasprintf("%s/cgroup.subtree_control", l->own[i]);
			int have = read_small(f, sub, sizeof sub) == 0 && has_word(sub, v2ctl[i] + 1, " \n");
			free(f);
			if ((!have && cg_write(l->own[i], "cgroup.subtree_control", v2ctl[i]) < 0) ||
			    cg_write(sb->cgbase[i], "cgroup.subtree_control", v2ctl[i]) < 0)
				goto fail;
		}
		if (i == CG_MEM) {
			snprintf(num, sizeof num, "%llu", (unsigned long long)p->memory_bytes);
			if (l->ver[i] == 1) {
				char *ms = am_xasprintf("%s/memory.memsw.limit_in_bytes", sb->cg[i]);
				int have_memsw = access(ms, F_OK) == 0;
				free(ms);
				if (cg_write(sb->cg[i], "memory.limit_in_bytes", num) < 0)
					goto fail;
				/* Swap would let the agent use memory beyond the limit:
				 * limit memory+swap to the same number, or (no swap
				 * accounting) keep the cgroup from swapping at all. */
				if (have_memsw ? cg_write(sb->cg[i], "memory.memsw.limit_in_bytes", num) < 0
					       : cg_write(sb->cg[i], "memory.swappiness", "0") < 0)
					goto fail;
			} else {
				char *sw = am_xasprintf("%s/memory.swap.max", sb->cg[i]);
				int have_swap = access(sw, F_OK) == 0;
				free(sw);
				if (cg_write(sb->cg[i], "memory.max", num) < 0 ||
				    (have_swap && cg_write(sb->cg[i], "memory.swap.max", "0") < 0))
					goto fail;
			}
		} else if (i == CG_PIDS) {
			/* The init is one of the processes; the command gets the rest. */
			snprintf(num, sizeof num, "%llu", (unsigned long long)p->max_pids + 1);
			if (cg_write(sb->cg[i], "pids.max", num) < 0)
				goto fail;
		}
	}
	rc = 0;
fail:
	if (rc < 0)
		am_error_set(err, AM_EFAIL, "sandbox setup failed: cgroup %s: %s", cg_ctrl[i],
			     strerror(errno));
	return rc;
}

/* Moving another process into a cgroup takes the kernel's global
 * threadgroup lock for writing, which waits for an RCU grace period: 5 to
 * 20 ms measured here, a third of a whole execution.  A single thread
 * moving itself through a cgroup v1 "tasks" file skips that lock (the
 * kernel only needs it to keep a thread group still).  So for v1 the init,
 * still single-threaded and before it forks the command, writes "0" to
 * each "tasks" file itself; v2 has no such file, and the parent moves the
 * init there (cg_attach). */
static void
cg_join_plan(struct ctx *c, const struct am_sandbox *sb)
{
	int i, j, n = 0;

	for (i = 0; i < CG_N; i++) {
		if (sb->cg[i] == NULL || sb->cgver[i] != 1)
			continue;
		for (j = 0; j < i; j++)
			if (sb->cg[j] && strcmp(sb->cg[j], sb->cg[i]) == 0)
				break;
		if (j == i)
			c->cg_join[n++] = am_xasprintf("%s/tasks", sb->cg[i]);
	}
}

/* Put pid (the init, before it goes on) into each of our cgroup v2 groups. */
static int
cg_attach(struct am_sandbox *sb, pid_t pid, struct am_error **err)
{
	char num[32];
	int i, j;

	snprintf(num, sizeof num, "%d", (int)pid);
	for (i = 0; i < CG_N; i++) {
		if (sb->cg[i] == NULL || sb->cgver[i] != 2)
			continue; /* v1: the init joins itself (cg_join_plan) */
		for (j = 0; j < i; j++)
			if (sb->cg[j] && strcmp(sb->cg[j], sb->cg[i]) == 0)
				break;
		if (j == i && cg_write(sb->cg[i], "cgroup.procs", num) < 0)
			return am_error_set(err, AM_EFAIL, "sandbox setup failed: cgroup %s attach: %s",
					    cg_ctrl[i], strerror(errno));
	}
	return 0;
}

/* Write data to /proc/PID/FILE. */
static int
write_proc(pid_t pid, const char *file, const char *data)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	return write_str(path, data);
}

/* The user namespace's only ids: 0 inside is our uid (and gid) outside.
 * setgroups is denied first: the kernel requires it before an unprivileged
 * gid_map (else the child could drop a group that is there to deny it
 * access), and the sandbox has no use for it. */
static int
write_maps(pid_t pid, struct am_error **err)
{
	char map[64];

	if (write_proc(pid, "setgroups", "deny") < 0 && errno != ENOENT)
		return am_error_set(err, AM_EFAIL, "sandbox setup failed: setgroups: %s",
				    strerror(errno));
	snprintf(map, sizeof map, "0 %u 1\n", (unsigned)getuid());
	if (write_proc(pid, "uid_map", map) < 0)
		return am_error_set(err, AM_EFAIL, "sandbox setup failed: uid_map: %s",
				    strerror(errno));
	snprintf(map, sizeof map, "0 %u 1\n", (unsigned)getgid());
	if (write_proc(pid, "gid_map", map) < 0)
		return am_error_set(err, AM_EFAIL, "sandbox setup failed: gid_map: %s",
				    strerror(errno));
	return 0;
}

/* recv(2) of up to n bytes, and the descriptor (close-on-exec) that came
 * with them into *fd, if one did. */
static ssize_t
recv_fd(int s, void *buf, size_t n, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, n };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t r;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return r;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return r;
}

/* Wait for the init, blocking, and record its status. */
static void
reap(struct am_sandbox *sb, struct rusage *ru)
{
	int st;

	while (wait4(sb->pid, &st, 0, ru) < 0)
		if (errno != EINTR) {
			st = 0;
			break;
		}
	sb->done = 1;
	sb->status = st;
}

/* Read the sandbox's set-up messages up to the command's "ready": the
 * scratch's descriptor, or a failed step's name. */
static int
await_setup(struct am_sandbox *sb, struct am_error **err)
{
	struct setup_err se;
	size_t got = 0;
	ssize_t n;

	if (sb->sock < 0)
		return am_error_set(err, AM_EFAIL, "sandbox setup failed: not held");
	for (;;) {
		int fd = -1;

		n = recv_fd(sb->sock, (char *)&se + got, sizeof se - got, &fd);
		if (fd >= 0 && sb->scratch_fd < 0)
			sb->scratch_fd = fd;
		else if (fd >= 0)
			close(fd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got < sizeof se)
			continue;
		got = 0;
		if (se.kind == MSG_SCRATCH)
			continue;
		if (se.kind == MSG_READY)
			return 0;
		if (se.kind == MSG_FAILED) {
			se.step[sizeof se.step - 1] = '\0';
			am_error_set(err, AM_EFAIL, "sandbox setup failed: %s: %s", se.step,
				     strerror(se.err));
		} else {
			am_error_set(err, AM_EFAIL, "sandbox setup failed: unexpected message");
		}
		goto fail;
	}
	am_error_set(err, AM_EFAIL, "sandbox setup failed: the sandbox died at start");
fail:
	close(sb->sock);
	sb->sock = -1;
	return -1;
}

/* The number of threads of this process (0: unknown). */
static int
threads(void)
{
	char buf[4096], *t;
	long long n;

	if (read_small("/proc/self/status", buf, sizeof buf) < 0 ||
	    (t = strstr(buf, "\nThreads:\t")) == NULL)
		return 0;
	t += 10;
	t[strcspn(t, "\n")] = '\0';
	return am_strtonum(t, 1, 1 << 20, &n) == NULL ? (int)n : 0;
}

int
am_sandbox_start(const struct am_sandbox_plan *p, struct am_sandbox **out,
		 struct am_error **err)
{
	struct am_sandbox *sb;
	struct ctx c;
	unsigned long flags;
	char uuid[37], go = 'g';
	const char *name;
	int sv[2] = { -1, -1 }, abi, userns = 1, n;

	*out = NULL;
	if (plan_validate(p, err) < 0)
		return -1;
	/* The children allocate after the clone (see the top of the file):
	 * no other thread may hold the malloc lock then. */
	if ((n = threads()) != 1)
		return am_error_set(err, AM_EFAIL, "sandbox: the process starting it must have one "
				    "thread, it has %d (/proc/self/status)", n);
	abi = ll_abi();
	if (abi < 1)
		return am_error_set(err, AM_EDENIED, "this kernel has no Landlock; the sandbox "
				    "requires file access control");
	sb = am_xcalloc(1, sizeof *sb);
	sb->pid = -1;
	sb->pidfd = -1;
	sb->scratch_fd = -1;
	sb->sock = -1;
	memset(&c, 0, sizeof c);
	c.p = p;
	c.net = p->net;
	c.handled = ll_handled(abi);
	c.scoped = ll_scoped(abi);
	if (p->scratch_bytes)
		snprintf(c.tmpfs_opts, sizeof c.tmpfs_opts, "size=%llu,mode=1777",
			 (unsigned long long)p->scratch_bytes);
	else
		snprintf(c.tmpfs_opts, sizeof c.tmpfs_opts, "mode=1777");
	if (seccomp_prog(&c.prog, err) < 0)
		goto fail;
	if (p->name)
		name = p->name;
	else {
		am_uuid(uuid);
		name = uuid;
	}
	if (cg_setup(sb, p, name, err) < 0)
		goto fail;
	cg_join_plan(&c, sb);
	rlimits_plan(&c, sb->cg[CG_MEM] != NULL, sb->cg[CG_PIDS] != NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		am_error_set(err, AM_EFAIL, "sandbox setup failed: socketpair: %s", strerror(errno));
		goto fail;
	}
	c.sock = sv[1];

	/* Every namespace in one step, so the child is PID 1 of its own PID
	 * namespace and our direct child (we wait for it).  The user namespace
	 * comes first in the kernel and owns the others: the child has
	 * capabilities over them, and over nothing else.  IPC: no System V
	 * shared memory or semaphores shared with the host.  UTS: its own
	 * hostname.  Network: see child_net. */
	flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (p->net != AM_NET_HOST)
		flags |= CLONE_NEWNET;
	sb->pid = raw_clone(flags);
	if (sb->pid < 0 && geteuid() == 0 &&
	    (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EUSERS)) {
		/* Root on a kernel without user namespaces: real root in the
		 * other namespaces, every capability dropped before exec. */
		userns = 0;
		sb->pid = raw_clone(flags & ~(unsigned long)CLONE_NEWUSER);
	}
	if (sb->pid < 0) {
		am_error_set(err, AM_EFAIL, "sandbox setup failed: clone: %s", strerror(errno));
		goto fail;
	}
	if (sb->pid == 0) {
		close(sv[0]);
		init_main(&c);
	}
	close(sv[1]);
	sv[1] = -1;
	sb->pidfd = (int)syscall(SYS_pidfd_open, sb->pid, 0);
	if (sb->pidfd >= 0)
		fcntl(sb->pidfd, F_SETFD, FD_CLOEXEC);
	if ((userns && write_maps(sb->pid, err) < 0) || cg_attach(sb, sb->pid, err) < 0)
		goto fail;
	if (send(sv[0], &go, 1, MSG_NOSIGNAL) != 1) {
		am_error_set(err, AM_EFAIL, "sandbox setup failed: the sandbox died at start");
		goto fail;
	}
	sb->sock = sv[0];
	ctx_free(&c);
	*out = sb;
	if (p->hold)
		return 0;
	if (am_sandbox_release(sb, err) < 0) {
		am_sandbox_free(sb);
		*out = NULL;
		return -1;
	}
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	ctx_free(&c);
	am_sandbox_free(sb);
	return -1;
}

int
am_sandbox_release(struct am_sandbox *sb, struct am_error **err)
{
	char x = 'x';
	ssize_t n;

	if (await_setup(sb, err) < 0)
		return -1;
	/* All that is left is the exec, which reports its own failure (exit
	 * status 126 or 127, a message on the command's stderr): no need to
	 * wait for it to tear down its copy of am. */
	n = send(sb->sock, &x, 1, MSG_NOSIGNAL);
	close(sb->sock);
	sb->sock = -1;
	if (n != 1)
		return am_error_set(err, AM_EFAIL, "sandbox setup failed: the sandbox died at start");
	return 0;
}

pid_t
am_sandbox_pid(const struct am_sandbox *sb)
{
	return sb->pid;
}

int
am_sandbox_scratch_used(const struct am_sandbox *sb, uint64_t *used)
{
	struct statfs fs;

	if (sb->scratch_fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fstatfs(sb->scratch_fd, &fs) < 0)
		return -1;
	*used = (uint64_t)(fs.f_blocks - fs.f_bfree) * (uint64_t)fs.f_bsize;
	return 0;
}

int
am_sandbox_signal(struct am_sandbox *sb, int sig)
{
	size_t i;

	if (sb->done) {
		errno = ESRCH;
		return -1;
	}
	for (i = 0; i < AM_ARRAY_LEN(forwarded); i++)
		if (forwarded[i] == sig)
			break;
	if (i == AM_ARRAY_LEN(forwarded) && sig != SIGKILL && sig != 0) {
		errno = EINVAL; /* it would reach the init only */
		return -1;
	}
	return kill(sb->pid, sig);
}

void
am_sandbox_kill(struct am_sandbox *sb)
{
	/* SIGKILL to the init of a PID namespace takes every process in it. */
	if (sb && !sb->done && sb->pid > 0)
		kill(sb->pid, SIGKILL);
}

/* Usage after the end: the cgroup's own numbers where we have them (they
 * cover every process, reaped or killed), else the init's rusage, which
 * includes every descendant it or the kernel reaped. */
static void
usage_fill(struct am_sandbox *sb, const struct rusage *ru)
{
	struct am_usage *u = &sb->usage;
	uint64_t v;

	memset(u, 0, sizeof *u);
	u->cpu_usec = (uint64_t)ru->ru_utime.tv_sec * 1000000 + (uint64_t)ru->ru_utime.tv_usec +
		      (uint64_t)ru->ru_stime.tv_sec * 1000000 + (uint64_t)ru->ru_stime.tv_usec;
	u->memory_peak = (uint64_t)ru->ru_maxrss * 1024;
	if (sb->cg[CG_CPU]) {
		if (sb->cgver[CG_CPU] == 1 && cg_read_u64(sb->cg[CG_CPU], "cpuacct.usage", NULL, &v) == 0)
			u->cpu_usec = v / 1000;
		else if (sb->cgver[CG_CPU] == 2 &&
			 cg_read_u64(sb->cg[CG_CPU], "cpu.stat", "usage_usec", &v) == 0)
			u->cpu_usec = v;
	}
	if (sb->cg[CG_MEM]) {
		if (cg_read_u64(sb->cg[CG_MEM], sb->cgver[CG_MEM] == 1 ? "memory.max_usage_in_bytes"
								      : "memory.peak", NULL, &v) == 0)
			u->memory_peak = v;
		if (cg_read_u64(sb->cg[CG_MEM], sb->cgver[CG_MEM] == 1 ? "memory.oom_control"
								      : "memory.events",
				"oom_kill", &v) == 0)
			u->oom_killed = v > 0;
	}
	if (sb->cg[CG_PIDS]) {
		if (cg_read_u64(sb->cg[CG_PIDS], "pids.peak", NULL, &v) == 0)
			u->pids_peak = v;
		if (cg_read_u64(sb->cg[CG_PIDS], "pids.events", "max", &v) == 0)
			u->pids_limited = v > 0;
	}
}

int
am_sandbox_wait(struct am_sandbox *sb, int timeout_ms, int *status, struct am_usage *u,
		struct am_error **err)
{
	struct rusage ru;
	int st, left = timeout_ms;
	int64_t t0 = am_mono_ms();
	pid_t r;

	while (!sb->done) {
		memset(&ru, 0, sizeof ru);
		r = wait4(sb->pid, &st, WNOHANG, &ru);
		if (r == sb->pid) {
			sb->done = 1;
			sb->status = st;
			usage_fill(sb, &ru);
			break;
		}
		if (r < 0 && errno != EINTR)
			return am_error_set(err, AM_EFAIL, "cannot wait for the sandbox: %s",
					    strerror(errno));
		if (timeout_ms >= 0) {
			int64_t ms = am_mono_ms() - t0;

			if (ms >= timeout_ms)
				return 0;
			left = (int)(timeout_ms - ms);
		}
		if (sb->pidfd >= 0) {
			struct pollfd pfd = { sb->pidfd, POLLIN, 0 };
			poll(&pfd, 1, left);
		} else {
			struct timespec ts = { 0, 10 * 1000000 };
			if (left >= 0 && left < 10)
				ts.tv_nsec = (long)left * 1000000;
			nanosleep(&ts, NULL);
		}
	}
	if (status)
		*status = sb->status;
	if (u)
		*u = sb->usage;
	return 1;
}

void
am_sandbox_free(struct am_sandbox *sb)
{
	struct rusage ru;

	if (sb == NULL)
		return;
	if (sb->pid > 0 && !sb->done) {
		kill(sb->pid, SIGKILL);
		reap(sb, &ru);
	}
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->sock >= 0)
		close(sb->sock);
	/* The last hold on the scratch: the kernel frees its memory now. */
	if (sb->scratch_fd >= 0)
		close(sb->scratch_fd);
	cg_remove(sb);
	free(sb);
}

/* ---- disk usage of the writable paths -------------------------------- */

/* A set of (device, inode) pairs: open addressing, grown at half full. */
struct ino_set {
	struct ino_key {
		dev_t dev;
		ino_t ino;
		int used;
	} *k;
	size_t n, cap;
};

/* Add (dev, ino) to s; 1 if it was new, 0 if it was there already. */
static int
ino_set_add(struct ino_set *s, dev_t dev, ino_t ino)
{
	size_t i, h;

	if (2 * (s->n + 1) > s->cap) {
		struct ino_set t = { am_xcalloc(s->cap ? 2 * s->cap : 64, sizeof *s->k), 0,
				     s->cap ? 2 * s->cap : 64 };

		for (i = 0; i < s->cap; i++)
			if (s->k[i].used)
				ino_set_add(&t, s->k[i].dev, s->k[i].ino);
		free(s->k);
		*s = t;
	}
	h = (size_t)((uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev);
	for (i = h & (s->cap - 1); s->k[i].used; i = (i + 1) & (s->cap - 1))
		if (s->k[i].dev == dev && s->k[i].ino == ino)
			return 0;
	s->k[i].dev = dev;
	s->k[i].ino = ino;
	s->k[i].used = 1;
	s->n++;
	return 1;
}

/* 1 if (dev, ino) is in s. */
static int
ino_set_has(const struct ino_set *s, dev_t dev, ino_t ino)
{
	size_t i, h;

	if (s->cap == 0)
		return 0;
	h = (size_t)((uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev);
	for (i = h & (s->cap - 1); s->k[i].used; i = (i + 1) & (s->cap - 1))
		if (s->k[i].dev == dev && s->k[i].ino == ino)
			return 1;
	return 0;
}

/* One directory being walked: the names of its subdirectories (read in
 * one go, so its descriptor may be closed while a deep subtree is walked)
 * and where the walk is in them. */
struct du_frame {
	int fd;        /* -1 while closed (deep in the tree) */
	ino_t ino;
	struct am_buf names; /* NUL-separated */
	size_t off;
};

/* Descriptors kept open down the tree; deeper, a directory is closed while
 * its subdirectories are walked and found again through "..", so that no
 * depth runs out of descriptors. */
#define DU_OPEN_DEPTH 32

/* Count the regular files of the directory f->fd and list its
 * subdirectories, all on device dev. */
static void
du_scan(struct du_frame *f, dev_t dev, const struct ino_set *skip, struct ino_set *links,
	uint64_t *bytes)
{
	int dfd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	struct stat st;

	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(f->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue; /* gone meanwhile, or a mount point */
		if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1 && !ino_set_add(links, st.st_dev, st.st_ino))
				continue; /* another name of a file counted already */
			*bytes += (uint64_t)st.st_blocks * 512;
		} else if (S_ISDIR(st.st_mode) && !ino_set_has(skip, st.st_dev, st.st_ino)) {
			am_buf_add(&f->names, e->d_name, strlen(e->d_name) + 1);
		}
	}
	closedir(d);
}

/* Walk one root; what cannot be opened is not counted. */
static int
du_root(const char *root, const struct ino_set *skip, struct ino_set *links, uint64_t *bytes)
{
	struct du_frame *st = NULL;
	size_t n = 0, cap = 0;
	struct stat sb;
	dev_t dev;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return -1;
	}
	dev = sb.st_dev;
	for (;;) {
		struct du_frame *top;

		if (fd >= 0) { /* push the directory fd */
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				st = am_xrealloc(st, cap * sizeof *st);
			}
			top = &st[n++];
			memset(top, 0, sizeof *top);
			top->fd = fd;
			top->ino = sb.st_ino;
			du_scan(top, dev, skip, links, bytes);
			fd = -1;
		}
		if (n == 0)
			break;
		top = &st[n - 1];
		if (top->off < top->names.len) {
			const char *name = top->names.data + top->off;

			top->off += strlen(name) + 1;
			fd = openat(top->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 && (fstat(fd, &sb) < 0 || sb.st_dev != dev)) {
				close(fd);
				fd = -1;
			}
			if (fd >= 0 && n >= DU_OPEN_DEPTH) {
				close(top->fd);
				top->fd = -1;
			}
			continue;
		}
		/* Done with top: back to its parent. */
		if (n >= 2 && st[n - 2].fd < 0) {
			int up = openat(top->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			struct stat us;

			/* Moved meanwhile: what is left of the walk would be
			 * somewhere else; stop it there. */
			if (up >= 0 && (fstat(up, &us) < 0 || us.st_dev != dev ||
					us.st_ino != st[n - 2].ino)) {
				close(up);
				up = -1;
			}
			st[n - 2].fd = up;
		}
		close(top->fd);
		am_buf_free(&top->names);
		n--;
		if (n > 0 && st[n - 1].fd < 0) {
			while (n > 0) { /* unwind what cannot be reached any more */
				if (st[n - 1].fd >= 0)
					close(st[n - 1].fd);
				am_buf_free(&st[n - 1].names);
				n--;
			}
		}
	}
	free(st);
	return 0;
}

int
am_sandbox_disk_usage(char *const *roots, char *const *skip, uint64_t *bytes)
{
	struct ino_set sk = { 0 }, links = { 0 };
	char *const *v, *const *w;
	struct stat st;
	int rc = 0;

	*bytes = 0;
	for (v = skip; v && *v; v++)
		if (lstat(*v, &st) == 0 && S_ISDIR(st.st_mode))
			ino_set_add(&sk, st.st_dev, st.st_ino);
	for (v = roots; v && *v; v++) {
		int inner = 0;

		for (w = roots; *w && !inner; w++)
			inner = w != v && path_under(*v, *w) &&
				(strcmp(*v, *w) != 0 || w < v); /* the first of equal roots counts */
		if (!inner && du_root(*v, &sk, &links, bytes) < 0)
			rc = -1;
	}
	free(sk.k);
	free(links.k);
	return rc;
}
