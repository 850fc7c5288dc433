/* test_sshsig.c - ed25519 keys and SSH signatures, checked against the real
 * OpenSSH tools: ssh-keygen must accept the keys and signatures we write, we
 * must accept theirs, and ssh-agent must sign for us.  Never prints key
 * material. */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

#include <sodium.h>

#include "sshbuf.h"
#include "sshkey.h"
#include "sshsig.h"
#include "t.h"
#include "util.h"

static char dir[] = "/tmp/am-test-sshsig-XXXXXX";
static pid_t agent_pid = -1;

/* Run a shell command quietly; its exit status, or -1. */
static int
run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
run(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = am_xasprintf("(%s) >/dev/null 2>&1 </dev/null", cmd);
	st = system(full);
	free(cmd);
	free(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run a shell command and return its stdout (stderr discarded). */
static char *
capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
capture(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full, *out = NULL;
	size_t len;
	FILE *f;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = am_xasprintf("(%s) 2>/dev/null </dev/null", cmd);
	f = popen(full, "r");
	if (f == NULL || am_read_fd(fileno(f), 0, &out, &len, NULL) < 0)
		out = am_xstrdup("");
	if (f)
		pclose(f);
	free(cmd);
	free(full);
	return out;
}

/* Contents of a file (or ""), trailing newline removed. */
static char *
slurp(const char *path)
{
	char *s = NULL;
	size_t n = 0;

	if (am_read_file(path, 0, &s, &n, NULL) < 0)
		return am_xstrdup("");
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Write s to path, mode 0644. */
static void
spit(const char *path, const char *s, size_t n)
{
	if (am_write_file_atomic(path, s, n, 0644, 1, NULL) < 0)
		abort();
}

/* 1 if e is set with class cls and its message contains sub. */
static int
err_is(struct am_error *e, enum am_errclass cls, const char *sub)
{
	int ok = e != NULL && e->cls == cls && strstr(e->msg, sub) != NULL;

	if (!ok)
		fprintf(stderr, "  unexpected error: %s\n", e ? e->msg : "(none)");
	return ok;
}

/* Reset an error for the next check. */
static void
clear(struct am_error **e)
{
	am_error_free(*e);
	*e = NULL;
}

/* Mode bits of path, or -1. */
static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Re-armor a signature blob changed by fn (to build malformed inputs). */
static char *
mangle(const char *armored, void (*fn)(unsigned char *, size_t *))
{
	unsigned char *bin = NULL, *big;
	size_t n = 0;
	const char *why;
	char *out;

	if (am_sshbuf_dearmor("SSH SIGNATURE", armored, strlen(armored), &bin, &n, &why) < 0)
		return am_xstrdup("");
	big = am_xmalloc(n + 16);
	memcpy(big, bin, n);
	fn(big, &n);
	out = am_sshbuf_armor("SSH SIGNATURE", big, n);
	free(bin);
	free(big);
	return out;
}

/* Blob edits for mangle(): shorten, lengthen, corrupt the signature, version 2. */
static void drop_last(unsigned char *b, size_t *n) { (*n)--; }
static void add_byte(unsigned char *b, size_t *n) { b[(*n)++] = 0; }
static void flip_sig(unsigned char *b, size_t *n) { b[*n - 1] ^= 1; }
static void bump_version(unsigned char *b, size_t *n) { b[9] = 2; }

/* Keys we write are read by ssh-keygen, and by us. */
static void
test_write_pair(struct am_key **keep)
{
	struct am_error *err = NULL;
	struct am_key *k = NULL, *l = NULL, *p = NULL;
	AM_AUTOFREE char *path = am_xasprintf("%s/gen", dir);
	AM_AUTOFREE char *pubpath = am_xasprintf("%s/gen.pub", dir);
	AM_AUTOFREE char *lone = am_xasprintf("%s/lone", dir);
	AM_AUTOFREE char *fp = NULL, *line = NULL, *out = NULL, *out2 = NULL, *pub = NULL;

	T_OK(am_key_generate("am-test@example", &k, &err) == 0);
	if (k == NULL)
		return;
	fp = am_key_fingerprint(k);
	line = am_key_public_line(k);
	T_OK(am_starts_with(fp, "SHA256:") && strlen(fp) == 7 + 43);
	T_OK(am_starts_with(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
	T_OK(am_key_write_pair(k, path, &err) == 0);
	T_OK(mode_of(path) == 0600);
	T_OK(mode_of(pubpath) == 0644);
	pub = slurp(pubpath);
	T_STREQ(pub, line);

	/* ssh-keygen must parse the private file itself, so no .pub beside it. */
	T_OK(run("cp '%s' '%s' && chmod 600 '%s'", path, lone, lone) == 0);
	out = capture("ssh-keygen -l -f '%s'", lone);
	T_OK(strstr(out, fp) != NULL);
	T_OK(strstr(out, "(ED25519)") != NULL);
	/* The comment lives in the private section: -l shows it, -y too. */
	T_OK(strstr(out, " am-test@example (ED25519)") != NULL);
	out2 = capture("ssh-keygen -y -f '%s'", lone);
	if (strlen(out2) > 0 && out2[strlen(out2) - 1] == '\n')
		out2[strlen(out2) - 1] = '\0';
	T_STREQ(out2, line);
	free(out);
	out = capture("ssh-keygen -l -f '%s'", pubpath);
	T_OK(strstr(out, fp) != NULL);

	/* No silent overwrite of either half. */
	T_OK(am_key_write_pair(k, path, &err) < 0);
	T_OK(err_is(err, AM_EUSAGE, "already exists"));
	clear(&err);

	/* Round trip through our own parser. */
	T_OK(am_key_load(path, &l, &err) == 0);
	T_OK(l && l->has_secret && memcmp(l->sk, k->sk, 64) == 0 &&
	     memcmp(l->pk, k->pk, 32) == 0);
	T_STREQ(l ? l->comment : NULL, "am-test@example");
	T_OK(am_key_load_public(path, &p, &err) == 0);
	T_OK(p && !p->has_secret && memcmp(p->pk, k->pk, 32) == 0);
	am_key_free(l);
	am_key_free(p);
	p = NULL;
	T_OK(am_key_load_public(pubpath, &p, &err) == 0);
	T_OK(p && !p->has_secret && memcmp(p->pk, k->pk, 32) == 0);
	am_key_free(p);
	clear(&err);
	*keep = k;
}

/* Keys ssh-keygen makes load, and agree with its .pub and fingerprint. */
static void
test_load_keygen(struct am_key **keep)
{
	struct am_error *err = NULL;
	struct am_key *k = NULL, *p = NULL;
	AM_AUTOFREE char *path = am_xasprintf("%s/kg", dir);
	AM_AUTOFREE char *pubpath = am_xasprintf("%s/kg.pub", dir);
	AM_AUTOFREE char *pub = NULL, *line = NULL, *fp = NULL, *out = NULL;

	T_OK(run("ssh-keygen -q -t ed25519 -N '' -C kg@test -f '%s'", path) == 0);
	T_OK(am_key_load(path, &k, &err) == 0);
	if (k == NULL) {
		clear(&err);
		return;
	}
	T_OK(k->has_secret && k->agent_sock == NULL);
	pub = slurp(pubpath);
	line = am_key_public_line(k);
	T_STREQ(line, pub);
	fp = am_key_fingerprint(k);
	out = capture("ssh-keygen -l -f '%s'", pubpath);
	T_OK(strstr(out, fp) != NULL);
	T_OK(am_key_parse_public(pub, &p, &err) == 0);
	T_OK(p && memcmp(p->pk, k->pk, 32) == 0);
	T_STREQ(p ? p->comment : NULL, "kg@test");
	am_key_free(p);

	/*
	 * What we write is what ssh-keygen writes, byte for byte, except the
	 * random check integers (8 bytes after the 98-byte clear header).
	 */
	{
		AM_AUTOFREE char *theirs = slurp(path);
		AM_AUTOFREE char *ours = am_key_private_text(k);
		unsigned char *a = NULL, *b = NULL;
		size_t an = 0, bn = 0;
		const char *why;

		T_OK(am_sshbuf_dearmor("OPENSSH PRIVATE KEY", theirs, strlen(theirs), &a, &an,
				       &why) == 0);
		T_OK(am_sshbuf_dearmor("OPENSSH PRIVATE KEY", ours, strlen(ours), &b, &bn,
				       &why) == 0);
		T_OK(a && b && an == bn && an > 106 && memcmp(a, b, 98) == 0 &&
		     memcmp(a + 106, b + 106, an - 106) == 0);
		if (a)
			sodium_memzero(a, an);
		if (b)
			sodium_memzero(b, bn);
		free(a);
		free(b);
		sodium_memzero(theirs, strlen(theirs));
		sodium_memzero(ours, strlen(ours));
	}
	*keep = k;
}

/* Our signatures verify with ssh-keygen -Y verify, and with us. */
static void
test_sign(const struct am_key *k)
{
	struct am_error *err = NULL;
	AM_AUTOFREE char *msgp = am_xasprintf("%s/msg", dir);
	AM_AUTOFREE char *sigp = am_xasprintf("%s/msg.amsig", dir);
	AM_AUTOFREE char *allowed = am_xasprintf("%s/allowed_signers", dir);
	AM_AUTOFREE char *line = am_key_public_line(k);
	AM_AUTOFREE char *signers = am_xasprintf("id %s\n", line);
	AM_AUTOFREE char *sig = NULL, *out = NULL, *fp = am_key_fingerprint(k);
	static const char msg[] = "tree 1234\nauthor am\n\nhello, signed world\n";
	unsigned char pk[32];
	const char *p;
	int longest = 0, cur = 0;

	sig = am_sshsig_sign(k, "git", msg, sizeof(msg) - 1, &err);
	T_OK(sig != NULL);
	if (sig == NULL) {
		clear(&err);
		return;
	}
	T_OK(am_starts_with(sig, "-----BEGIN SSH SIGNATURE-----\n"));
	T_OK(strlen(sig) > 28 && strcmp(sig + strlen(sig) - 28, "-----END SSH SIGNATURE-----\n") == 0);
	for (p = sig; *p; p++) {
		cur = *p == '\n' ? 0 : cur + 1;
		if (cur > longest && *p != '-')
			longest = cur;
	}
	T_OK(longest == 70);
	spit(msgp, msg, sizeof(msg) - 1);
	spit(sigp, sig, strlen(sig));
	spit(allowed, signers, strlen(signers));
	out = capture("ssh-keygen -Y verify -f '%s' -I id -n git -s '%s' < '%s'", allowed, sigp,
		      msgp);
	T_OK(strstr(out, "Good \"git\" signature for id") != NULL);
	T_OK(strstr(out, fp) != NULL);
	T_OK(run("ssh-keygen -Y verify -f '%s' -I id -n git -s '%s' < '%s'", allowed, sigp,
		 msgp) == 0);
	/* The same tool must say no for another namespace: the check can fail. */
	T_OK(run("ssh-keygen -Y verify -f '%s' -I id -n file -s '%s' < '%s'", allowed, sigp,
		 msgp) != 0);

	T_OK(am_sshsig_verify(sig, strlen(sig), "git", msg, sizeof(msg) - 1, pk, &err) == 0);
	T_OK(memcmp(pk, k->pk, 32) == 0);
	clear(&err);

	T_OK(am_sshsig_sign(k, "", msg, 1, &err) == NULL);
	T_OK(err_is(err, AM_EUSAGE, "namespace"));
	clear(&err);
}

/* ssh-keygen -Y sign signatures verify with us (sha512 and sha256). */
static void
test_verify_keygen(const struct am_key *k)
{
	struct am_error *err = NULL;
	AM_AUTOFREE char *key = am_xasprintf("%s/kg", dir);
	AM_AUTOFREE char *m1 = am_xasprintf("%s/m1", dir);
	AM_AUTOFREE char *m2 = am_xasprintf("%s/m2", dir);
	AM_AUTOFREE char *s1p = am_xasprintf("%s/m1.sig", dir);
	AM_AUTOFREE char *s2p = am_xasprintf("%s/m2.sig", dir);
	AM_AUTOFREE char *s1 = NULL, *s2 = NULL;
	static const char msg[] = "a message signed by ssh-keygen\n";
	unsigned char pk[32];

	spit(m1, msg, sizeof(msg) - 1);
	spit(m2, msg, sizeof(msg) - 1);
	T_OK(run("ssh-keygen -Y sign -n git -f '%s' '%s'", key, m1) == 0);
	T_OK(run("ssh-keygen -Y sign -n git -O hashalg=sha256 -f '%s' '%s'", key, m2) == 0);
	s1 = slurp(s1p);
	s2 = slurp(s2p);
	memset(pk, 0, sizeof(pk));
	T_OK(am_sshsig_verify(s1, strlen(s1), "git", msg, sizeof(msg) - 1, pk, &err) == 0);
	T_OK(memcmp(pk, k->pk, 32) == 0);
	clear(&err);
	memset(pk, 0, sizeof(pk));
	T_OK(am_sshsig_verify(s2, strlen(s2), "git", msg, sizeof(msg) - 1, pk, &err) == 0);
	T_OK(memcmp(pk, k->pk, 32) == 0);
	clear(&err);
	/* slurp dropped the final newline; with it, and with CRLF, too. */
	{
		AM_AUTOFREE char *nl = am_xasprintf("%s\n", s1);
		struct am_buf crlf = AM_BUF_INIT;
		const char *c;

		T_OK(am_sshsig_verify(nl, strlen(nl), "git", msg, sizeof(msg) - 1, pk, &err) == 0);
		clear(&err);
		for (c = nl; *c; c++) {
			if (*c == '\n')
				am_buf_addc(&crlf, '\r');
			am_buf_addc(&crlf, *c);
		}
		T_OK(am_sshsig_verify(crlf.data, crlf.len, "git", msg, sizeof(msg) - 1, pk,
				      &err) == 0);
		clear(&err);
		am_buf_free(&crlf);
	}
}

/* Anything changed in message, namespace or blob fails, with a reason. */
static void
test_tamper(const struct am_key *k)
{
	struct am_error *err = NULL;
	static const char msg[] = "pay 10 to alice\n";
	char bad[sizeof(msg)];
	AM_AUTOFREE char *sig = am_sshsig_sign(k, "git", msg, sizeof(msg) - 1, &err);
	AM_AUTOFREE char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;
	unsigned char pk[32];
	size_t half;

	T_OK(sig != NULL);
	if (sig == NULL)
		return;
	memcpy(bad, msg, sizeof(msg));
	bad[4] = '9';
	T_OK(am_sshsig_verify(sig, strlen(sig), "git", bad, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "does not match"));
	clear(&err);
	T_OK(am_sshsig_verify(sig, strlen(sig), "git", msg, sizeof(msg) - 2, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "does not match"));
	clear(&err);
	T_OK(am_sshsig_verify(sig, strlen(sig), "file", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "namespace 'file'"));
	clear(&err);
	/* A namespace that is a prefix of the signed one is still another one. */
	T_OK(am_sshsig_verify(sig, strlen(sig), "gi", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "namespace"));
	clear(&err);

	t1 = mangle(sig, drop_last);
	T_OK(am_sshsig_verify(t1, strlen(t1), "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "truncated"));
	clear(&err);
	t2 = mangle(sig, add_byte);
	T_OK(am_sshsig_verify(t2, strlen(t2), "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "trailing data"));
	clear(&err);
	t3 = mangle(sig, flip_sig);
	T_OK(am_sshsig_verify(t3, strlen(t3), "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "does not match"));
	clear(&err);
	t4 = mangle(sig, bump_version);
	T_OK(am_sshsig_verify(t4, strlen(t4), "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "version 2"));
	clear(&err);
	/* Armor cut in half: no END line. */
	half = strlen(sig) / 2;
	T_OK(am_sshsig_verify(sig, half, "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "END"));
	clear(&err);
	/* Garbage after the END line. */
	t5 = am_xasprintf("%sextra\n", sig);
	T_OK(am_sshsig_verify(t5, strlen(t5), "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "after END"));
	clear(&err);
	T_OK(am_sshsig_verify("", 0, "git", msg, sizeof(msg) - 1, pk, &err) < 0);
	T_OK(err_is(err, AM_EINTEGRITY, "BEGIN"));
	clear(&err);
}

/* Malformed keys and files are refused with a reason. */
static void
test_bad_keys(const struct am_key *k)
{
	struct am_error *err = NULL;
	struct am_key *l = NULL;
	AM_AUTOFREE char *gen = am_xasprintf("%s/gen", dir);
	AM_AUTOFREE char *open_ = am_xasprintf("%s/open", dir);
	AM_AUTOFREE char *enc = am_xasprintf("%s/enc", dir);
	AM_AUTOFREE char *encpub = am_xasprintf("%s/enc.pub", dir);
	AM_AUTOFREE char *bad = am_xasprintf("%s/badhalf", dir);
	AM_AUTOFREE char *want = NULL, *pub = NULL, *text = NULL, *re = NULL;
	unsigned char *bin = NULL;
	size_t n = 0;
	const char *why;
	struct am_key *p = NULL;

	/* Readable by others: refused like ssh does. */
	T_OK(run("cp '%s' '%s' && chmod 644 '%s'", gen, open_, open_) == 0);
	T_OK(am_key_load(open_, &l, &err) < 0);
	want = am_xasprintf("'%s': permissions 0644 are too open", open_);
	T_OK(err && err->cls == AM_EAUTH);
	T_STREQ(err ? err->msg : NULL, want);
	clear(&err);
	T_OK(chmod(open_, 0640) == 0);
	T_OK(am_key_load(open_, &l, &err) < 0);
	T_OK(err_is(err, AM_EAUTH, "permissions 0640 are too open"));
	clear(&err);
	T_OK(chmod(open_, 0600) == 0);
	T_OK(am_key_load(open_, &l, &err) == 0);
	am_key_free(l);
	l = NULL;

	/* Encrypted: refused, pointing at the agent; its public half loads. */
	T_OK(run("ssh-keygen -q -t ed25519 -N pass -f '%s'", enc) == 0);
	T_OK(am_key_load(enc, &l, &err) < 0);
	free(want);
	want = am_xasprintf("'%s' is encrypted; load it into ssh-agent and pass the .pub file",
			    enc);
	T_OK(err && err->cls == AM_EAUTH);
	T_STREQ(err ? err->msg : NULL, want);
	clear(&err);
	T_OK(am_key_load_public(enc, &p, &err) == 0);
	pub = slurp(encpub);
	if (p) {
		AM_AUTOFREE char *line = am_key_public_line(p);

		T_OK(strncmp(line, pub, strlen(line)) == 0);
	}
	am_key_free(p);

	/* A seed that does not derive the stored public key. */
	text = am_key_private_text(k);
	T_OK(am_sshbuf_dearmor("OPENSSH PRIVATE KEY", text, strlen(text), &bin, &n, &why) == 0);
	if (bin) {
		/* The seed is the 64-byte string before the comment; flip its first byte. */
		unsigned char *s = memmem(bin, n, k->sk, 64);

		T_OK(s != NULL);
		if (s)
			s[0] ^= 1;
		re = am_sshbuf_armor("OPENSSH PRIVATE KEY", bin, n);
		sodium_memzero(bin, n);
		free(bin);
		T_OK(am_write_file_atomic(bad, re, strlen(re), 0600, 1, NULL) == 0);
		sodium_memzero(re, strlen(re));
		T_OK(am_key_load(bad, &l, &err) < 0);
		T_OK(err_is(err, AM_EUSAGE, "do not match"));
		clear(&err);
	}
	sodium_memzero(text, strlen(text));

	/* Public lines of other types or with a bad blob. */
	T_OK(am_key_parse_public("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x", &l, &err) < 0);
	T_OK(err_is(err, AM_EUSAGE, "'ssh-rsa' is not supported"));
	clear(&err);
	/* Right type word, but the blob says ssh-rsa. */
	T_OK(am_key_parse_public("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==", &l, &err) < 0);
	T_OK(err_is(err, AM_EUSAGE, "invalid"));
	clear(&err);
	T_OK(am_key_parse_public("ssh-ed25519 !!!!", &l, &err) < 0);
	T_OK(err_is(err, AM_EUSAGE, "base64"));
	clear(&err);
	T_OK(am_key_load("/nonexistent/key", &l, &err) < 0);
	T_OK(err_is(err, AM_ENOTFOUND, "/nonexistent/key"));
	clear(&err);
}

/* Start "ssh-agent -D -a sock"; wait until it answers (the socket file
 * appears at bind(), before listen(), so its existence is not enough). */
static int
start_agent(const char *sock)
{
	int i, fd;

	agent_pid = fork();
	if (agent_pid < 0)
		return -1;
	if (agent_pid == 0) {
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("ssh-agent", "ssh-agent", "-D", "-a", sock, (char *)NULL);
		_exit(127);
	}
	setenv("SSH_AUTH_SOCK", sock, 1);
	/* ssh-add -l: 1 = no identities (agent up), 2 = cannot connect. */
	for (i = 0; i < 500; i++) {
		if (run("ssh-add -l") == 1)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Stop the agent we started. */
static void
stop_agent(void)
{
	if (agent_pid > 0) {
		kill(agent_pid, SIGTERM);
		waitpid(agent_pid, NULL, 0);
	}
	agent_pid = -1;
}

/* Signing through ssh-agent with only the .pub file. */
static void
test_agent(const struct am_key *kg)
{
	struct am_error *err = NULL;
	struct am_key *k = NULL, *o = NULL;
	AM_AUTOFREE char *sock = am_xasprintf("%s/agent.sock", dir);
	AM_AUTOFREE char *key = am_xasprintf("%s/kg", dir);
	AM_AUTOFREE char *pubpath = am_xasprintf("%s/kg.pub", dir);
	AM_AUTOFREE char *other = am_xasprintf("%s/gen.pub", dir);
	AM_AUTOFREE char *msgp = am_xasprintf("%s/amsg", dir);
	AM_AUTOFREE char *sigp = am_xasprintf("%s/amsg.amsig", dir);
	AM_AUTOFREE char *allowed = am_xasprintf("%s/allowed_agent", dir);
	AM_AUTOFREE char *line = am_key_public_line(kg);
	AM_AUTOFREE char *signers = am_xasprintf("id %s\n", line);
	AM_AUTOFREE char *want = NULL, *sig = NULL, *sig2 = NULL;
	static const char msg[] = "signed by the agent\n";
	unsigned char pk[32], raw[64];

	unsetenv("SSH_AUTH_SOCK");
	T_OK(am_key_load(pubpath, &k, &err) < 0);
	want = am_xasprintf("no ssh-agent ($SSH_AUTH_SOCK unset) to sign with '%s'", pubpath);
	T_OK(err && err->cls == AM_EAUTH);
	T_STREQ(err ? err->msg : NULL, want);
	clear(&err);

	T_OK(start_agent(sock) == 0);
	setenv("SSH_AUTH_SOCK", sock, 1);
	/* Before ssh-add the agent does not hold it: refused at load. */
	T_OK(am_key_load(pubpath, &k, &err) < 0);
	T_OK(err_is(err, AM_EAUTH, "does not hold"));
	clear(&err);
	T_OK(run("ssh-add '%s'", key) == 0);
	T_OK(am_key_load(pubpath, &k, &err) == 0);
	T_OK(am_key_load(other, &o, &err) < 0);
	T_OK(err_is(err, AM_EAUTH, "does not hold"));
	clear(&err);
	if (k == NULL) {
		stop_agent();
		return;
	}
	T_OK(!k->has_secret && k->agent_sock && strcmp(k->agent_sock, sock) == 0);
	T_OK(memcmp(k->pk, kg->pk, 32) == 0);

	T_OK(am_key_sign(k, msg, sizeof(msg) - 1, raw, &err) == 0);
	T_OK(am_ed25519_verify(kg->pk, msg, sizeof(msg) - 1, raw));
	raw[0] ^= 1;
	T_OK(!am_ed25519_verify(kg->pk, msg, sizeof(msg) - 1, raw));
	sig = am_sshsig_sign(k, "git", msg, sizeof(msg) - 1, &err);
	T_OK(sig != NULL);
	clear(&err);
	if (sig) {
		spit(msgp, msg, sizeof(msg) - 1);
		spit(sigp, sig, strlen(sig));
		spit(allowed, signers, strlen(signers));
		T_OK(run("ssh-keygen -Y verify -f '%s' -I id -n git -s '%s' < '%s'", allowed,
			 sigp, msgp) == 0);
		T_OK(am_sshsig_verify(sig, strlen(sig), "git", msg, sizeof(msg) - 1, pk,
				      &err) == 0);
		T_OK(memcmp(pk, kg->pk, 32) == 0);
		clear(&err);
	}

	/* Agent gone: a clear error that names the socket. */
	stop_agent();
	sig2 = am_sshsig_sign(k, "git", msg, sizeof(msg) - 1, &err);
	T_OK(sig2 == NULL);
	T_OK(err_is(err, AM_EAUTH, sock));
	T_OK(err_is(err, AM_EAUTH, "cannot reach ssh-agent"));
	clear(&err);
	am_key_free(k);
	unsetenv("SSH_AUTH_SOCK");
}

/* The wire reader never reads past the end, whatever the lengths say. */
static void
test_sshbuf(void)
{
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xfc, 'a', 'b' };
	static const unsigned char ok[] = { 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1 };
	struct am_sshbuf_reader r;
	const unsigned char *p;
	size_t n;
	uint32_t v;

	am_sshbuf_reader_init(&r, huge, sizeof(huge));
	T_OK(am_sshbuf_get_string(&r, &p, &n) < 0);
	T_OK(am_sshbuf_remaining(&r) == sizeof(huge));
	am_sshbuf_reader_init(&r, ok, sizeof(ok));
	T_OK(am_sshbuf_get_string_eq(&r, "ac") < 0);
	T_OK(am_sshbuf_get_string_eq(&r, "ab") == 0);
	T_OK(am_sshbuf_get_u32(&r, &v) == 0 && v == 1);
	T_OK(am_sshbuf_get_u8(&r, (uint8_t *)&v) < 0);
}

int
main(void)
{
	struct am_key *gen = NULL, *kg = NULL;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	/* Keep the OpenSSH tools away from the user's ~/.ssh and agent. */
	setenv("HOME", dir, 1);
	unsetenv("SSH_AUTH_SOCK");
	unsetenv("SSH_AGENT_PID");
	test_sshbuf();
	test_write_pair(&gen);
	test_load_keygen(&kg);
	if (gen) {
		test_sign(gen);
		test_tamper(gen);
		test_bad_keys(gen);
	}
	if (kg) {
		test_verify_keygen(kg);
		test_agent(kg);
	}
	stop_agent();
	am_key_free(gen);
	am_key_free(kg);
	run("rm -rf '%s'", dir);
	T_DONE();
}
