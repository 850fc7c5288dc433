/* sandbox.h - run one command contained by the kernel.
 *
 * The caller (core/execution.c) builds a plan from the profile, the grants
 * and the budget; this module turns it into namespaces (user, mount, PID,
 * IPC, UTS, network), mounts (a scratch tmpfs for HOME and TMPDIR, masked
 * deny paths, the ledger hidden or read-only, a fresh /proc), Landlock
 * rules (file access and execute rights), a seccomp filter, no_new_privs,
 * rlimits and cgroup limits, then execs the command under a tiny init that
 * is PID 1 of the new PID namespace (it forwards signals and reaps; when
 * it exits the kernel kills everything left in the namespace, so daemonized
 * grandchildren never outlive the run).
 *
 * Every mount of the sandbox is noexec except the library directories and
 * each executable's own read-only bind: the dynamic loader, which must be
 * executable, can then map code only from those (the kernel refuses
 * mmap(PROT_EXEC) on a noexec mount), so it cannot run a file that was not
 * granted.
 *
 * Fail closed: am_sandbox_check() refuses a plan that needs a mechanism this
 * kernel lacks, naming it.  Nothing here prints; the plan is data that
 * --dry-run shows (am_sandbox_plan_json).
 *
 * Ownership: struct am_sandbox is freed with am_sandbox_free(); strings in
 * a plan are borrowed from the caller for the plan's lifetime.
 */
#ifndef AM_SANDBOX_H
#define AM_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"

enum am_net { AM_NET_NONE, AM_NET_LOOPBACK, AM_NET_HOST };

struct am_sandbox_plan {
	char *const *argv;       /* argv[0] is the absolute path of the entry point */
	char *const *env;        /* the child's whole environment (already allow-listed) */
	const char *cwd;         /* working directory inside (the workspace) */
	char *const *ro_paths;   /* absolute, existing paths readable (not writable) */
	char *const *rw_paths;   /* absolute, existing paths readable and writable */
	char *const *deny_paths; /* absolute paths masked (empty dir / empty file) */
	char *const *exec_paths; /* the only files the child may execute */
	const char *ledger_dir;  /* the workspace's .am directory, or NULL */
	int ledger_readonly;     /* 1: read-only; 0: hidden (masked) */
	uint64_t scratch_bytes;  /* size of the tmpfs at /tmp (HOME=/tmp/home, TMPDIR=/tmp) */
	enum am_net net;
	uint64_t memory_bytes;   /* 0: no limit */
	uint64_t cpu_seconds;    /* 0: no limit */
	uint64_t max_pids;       /* 0: no limit */
	uint64_t max_file_bytes; /* RLIMIT_FSIZE; 0: scratch_bytes */
	const char *name;        /* unique name (cgroup directory), e.g. the op uuid */
	int progress_fd;         /* if >= 0, becomes fd 4 in the command (AM_PROGRESS_FD) */
	int stdin_fd;            /* child's fds (dup2'd to 0,1,2); -1: /dev/null */
	int stdout_fd;
	int stderr_fd;
	int hold;                /* 1: the command waits for am_sandbox_release */
};

/* What this kernel and this user can enforce. */
struct am_sandbox_features {
	int root;              /* running as uid 0 */
	int userns;            /* can create a user namespace */
	int landlock_abi;      /* 0: none */
	int seccomp;           /* seccomp filters available */
	int cgroup_memory;     /* a writable memory controller (v1 or v2) */
	int cgroup_pids;       /* a writable pids controller */
	int cgroup_cpu;        /* cpu accounting (cpuacct or v2 cpu.stat) */
	int mount_setattr;     /* mount_setattr(2): noexec mounts (Linux 5.12) */
	char cgroup_mode[16];  /* "v1", "v2", "hybrid" or "none" */
};

void am_sandbox_probe(struct am_sandbox_features *f);
/* cJSON describing f (for am version --features and --dry-run). */
cJSON *am_sandbox_features_json(const struct am_sandbox_features *f);
/* Refuse (AM_EDENIED) a plan that needs what f lacks, naming it, e.g.
 * "this kernel has no Landlock; profile personal requires file access
 * control".  Memory/pids limits fall back to RLIMIT_AS / RLIMIT_NPROC when no
 * cgroup is writable (said in the plan). */
int am_sandbox_check(const struct am_sandbox_plan *p, const struct am_sandbox_features *f,
		     struct am_error **err);
/* The plan as data, for --dry-run. */
cJSON *am_sandbox_plan_json(const struct am_sandbox_plan *p, const struct am_sandbox_features *f);

struct am_sandbox;

/* Start the plan, from a single-threaded process; returns once the child
 * has passed every setup step (or failed one: the error names it) and is
 * about to exec.  The sandbox is
 * killed when the thread that started it exits (PR_SET_PDEATHSIG), so a
 * supervisor that dies takes the agent with it: start it from a thread that
 * lives as long as the run.  The command leads its own session, so terminal
 * signals (^C) reach am only; pass them on with am_sandbox_signal(). */
int am_sandbox_start(const struct am_sandbox_plan *p, struct am_sandbox **out,
		     struct am_error **err);
/* With plan->hold, start returns as soon as the sandbox's own set-up is
 * under way (the caller works meanwhile); the command stops at its last
 * step, just before exec, and release waits for it to get there (or for the
 * step that failed) and lets it exec, which is what start does itself
 * without hold.  An exec that fails ends the command with 126 or 127.  A
 * held sandbox that is never released is killed by am_sandbox_free. */
int am_sandbox_release(struct am_sandbox *sb, struct am_error **err);
/* Remove what sandboxes named NAME-<attempt> left of their cgroups: what a
 * supervisor killed before am_sandbox_free leaves behind.  Best effort. */
void am_sandbox_reclaim(const char *name);
/* PID (in our namespace) of the sandbox init. */
pid_t am_sandbox_pid(const struct am_sandbox *sb);
/* Bytes in use on the sandbox's scratch tmpfs, through a descriptor of it
 * the sandbox handed over when it mounted it (no access to the sandbox's
 * /proc/PID/root needed, so it works unprivileged too); still valid after
 * the command ended, until am_sandbox_free().  0 or -1 (errno). */
int am_sandbox_scratch_used(const struct am_sandbox *sb, uint64_t *used);
/* Send sig to the command's process group through the init, which forwards
 * SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH; SIGKILL
 * ends the whole sandbox; other signals fail with EINVAL.  0 or -1 (errno). */
int am_sandbox_signal(struct am_sandbox *sb, int sig);
/* Kill everything in the sandbox at once (SIGKILL to the init). */
void am_sandbox_kill(struct am_sandbox *sb);

struct am_usage {
	uint64_t cpu_usec;        /* user + system CPU of the whole tree */
	uint64_t memory_peak;     /* bytes (cgroup peak, else max RSS) */
	uint64_t pids_peak;       /* if known */
	int oom_killed;           /* the memory limit killed something */
	int pids_limited;         /* fork failed at the pids limit */
};

/* Wait up to timeout_ms (-1: forever) for the command to end.  Returns 1
 * when it ended (*status as from waitpid for the command: the init exits
 * with the command's exit code, or 128+N for signal N), 0 on timeout, -1 on
 * error.  Usage is filled when it ended. */
int am_sandbox_wait(struct am_sandbox *sb, int timeout_ms, int *status, struct am_usage *u,
		    struct am_error **err);
/* Remove cgroups; kill anything left. */
void am_sandbox_free(struct am_sandbox *sb);

/* Allocated bytes (st_blocks * 512) of the regular files under the
 * directories roots, for the localDiskBytes budget: a file with several
 * hard links counts once, symbolic links are not followed, mount points are
 * not crossed, a root inside another root is not counted twice, and the
 * directories in skip (compared by device and inode; NULL-terminated, may be
 * NULL or name missing paths) are left out with everything below them.
 * What cannot be read is not counted.  0, or -1 with errno when a root
 * cannot be opened at all. */
int am_sandbox_disk_usage(char *const *roots, char *const *skip, uint64_t *bytes);

#endif
