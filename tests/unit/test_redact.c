/* test_redact.c - the secret/prompt redactor (core/redact.c).
 *
 * Token prefixes are written as adjacent literals ("gh" "p_") so that this
 * file holds nothing a secret scanner would flag; bodies come from a fixed
 * PRNG. */
#include <errno.h>
#include <sys/resource.h>

#include "redact.h"
#include "t.h"
#include "util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

#define UPS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define LOS "abcdefghijklmnopqrstuvwxyz"
#define DIGS "0123456789"
#define ALNUM UPS LOS DIGS
#define HEXS "0123456789abcdef"

/* n random chars of alpha appended to b, mixing upper, lower and digit. */
static void
rand_add(struct am_buf *b, const char *alpha, size_t n)
{
	size_t m = strlen(alpha);

	for (size_t i = 0; i < n; i++) {
		char c = alpha[rnd() % m];

		if (i < 3 && m > 36) /* one of each class first */
			c = (i == 0 ? UPS : i == 1 ? LOS : DIGS)[rnd() % (i == 2 ? 10 : 26)];
		am_buf_addc(b, c);
	}
}

/* prefix + n random chars; caller frees. */
static char *
tokn(const char *prefix, const char *alpha, size_t n)
{
	struct am_buf b = AM_BUF_INIT;

	am_buf_adds(&b, prefix);
	rand_add(&b, alpha, n);
	return am_buf_detach(&b, NULL);
}

struct cap {
	char rules[4096];
	int n;
	uint64_t line[64], off[64], len[64];
};

static void
on_finding(void *arg, const struct am_redact_finding *f)
{
	struct cap *c = arg;
	size_t l = strlen(c->rules);

	if (c->n < 64) {
		c->line[c->n] = f->line;
		c->off[c->n] = f->offset;
		c->len[c->n] = f->length;
	}
	c->n++;
	if (l + strlen(f->rule) + 2 < sizeof(c->rules))
		snprintf(c->rules + l, sizeof(c->rules) - l, "%s%s", l ? " " : "", f->rule);
}

static struct am_redact *R;
static struct cap C;

/* Redact s with the shared scanner; caller frees. */
static char *
red(const char *s, enum am_redact_mode mode)
{
	char *out = NULL;
	size_t n;

	memset(&C, 0, sizeof(C));
	if (am_redact_buf(R, mode == AM_REDACT_JSON ? "t.jsonl" : "t.txt", mode, s, strlen(s),
			  &out, &n, NULL) < 0)
		return am_xstrdup("(error)");
	return out;
}

/* The secret is gone, the pseudonym names the rule, context survives. */
static void
check_pos(const char *before, const char *secret, const char *after, const char *rule, int line)
{
	char *in = am_xasprintf("%s%s%s", before, secret, after);
	char *out = red(in, AM_REDACT_TEXT);
	char *want = am_xasprintf("[REDACTED:%s:", rule);
	int ok = strstr(out, secret) == NULL && strstr(out, want) != NULL &&
		 !strncmp(out, before, strlen(before)) &&
		 strlen(out) >= strlen(after) && !strcmp(out + strlen(out) - strlen(after), after);

	t_checks++;
	if (!ok) {
		t_failed++;
		fprintf(stderr, "%s:%d: rule %s: '%s' -> '%s'\n", __FILE__, line, rule, in, out);
	}
	free(in);
	free(out);
	free(want);
}
#define POS(b, s, a, rule) check_pos(b, s, a, rule, __LINE__)

static void
check_neg(const char *in, enum am_redact_mode mode, int line)
{
	char *out = red(in, mode);

	t_checks++;
	if (strcmp(in, out) != 0) {
		t_failed++;
		fprintf(stderr, "%s:%d: negative changed: '%s' -> '%s'\n", __FILE__, line, in, out);
	}
	free(out);
}
#define NEG(s) check_neg(s, AM_REDACT_TEXT, __LINE__)
#define NEGJ(s) check_neg(s, AM_REDACT_JSON, __LINE__)

static char *
b64(const char *s)
{
	return am_b64_encode((const unsigned char *)s, strlen(s), 0);
}

static void
test_rules(void)
{
	char *t, *u, *v;

	t = tokn("AK" "IA", UPS "234567", 16);
	POS("AWS_ACCESS_KEY_ID=", t, "\n", "aws-access-key-id");
	POS("id ", t, " used", "aws-access-key-id");
	free(t);
	t = tokn("", ALNUM "+/", 40);
	POS("aws_secret_access_key = ", t, "\n", "aws-secret-access-key");
	free(t);
	for (const char *p = "pousr"; *p; p++) {
		char pre[8] = { 'g', 'h', *p, '_', 0 };

		t = tokn(pre, ALNUM, 36);
		POS("token: ", t, "\n", "github-token");
		free(t);
	}
	t = tokn("github" "_pat_", ALNUM "_", 82);
	POS("", t, "", "github-fine-grained-token");
	free(t);
	t = tokn("gl" "pat-", ALNUM "_-", 20);
	POS("CI_TOKEN: ", t, "", "gitlab-token");
	free(t);
	t = tokn("xo" "xb-", DIGS "-", 30);
	u = tokn(t, ALNUM, 24);
	POS("slack=", u, "\n", "slack-token");
	free(t);
	free(u);
	t = tokn("T", UPS, 8);
	u = tokn("/B", UPS, 8);
	v = tokn("/", ALNUM, 24);
	{
		char *s = am_xasprintf("%s%s%s", t, u, v);

		POS("post to https://hooks." "slack.com/services/", s, " now", "slack-webhook");
		free(s);
	}
	free(t);
	free(u);
	free(v);
	t = tokn("sk" "_live_", ALNUM, 24);
	POS("stripe ", t, ".", "stripe-key");
	free(t);
	t = tokn("rk" "_live_", ALNUM, 24);
	POS("", t, "", "stripe-key");
	free(t);
	t = tokn("sk" "-proj-", ALNUM "_-", 48);
	POS("OPENAI_API_KEY=", t, "\n", "openai-key");
	free(t);
	t = tokn("sk" "-", ALNUM, 48);
	POS("key: ", t, "", "openai-key");
	free(t);
	t = tokn("sk" "-ant-api03-", ALNUM "_-", 95);
	POS("x-api: ", t, "", "anthropic-key");
	free(t);
	t = tokn("AI" "za", ALNUM "_-", 35);
	POS("?key=", t, "&x=1", "google-api-key");
	free(t);
	t = tokn("hf" "_", UPS LOS, 34);
	POS("", t, "", "huggingface-token");
	free(t);
	t = tokn("np" "m_", ALNUM, 36);
	POS("//registry.npmjs.org/:_authToken=", t, "\n", "npm-token");
	free(t);
	t = tokn("py" "pi-AgEIcHlwaS5vcmc", ALNUM "_-", 70);
	POS("password = ", t, "\n", "pypi-token");
	free(t);
	t = tokn("", ALNUM "+/", 86);
	u = am_xasprintf("%s==", t);
	POS("DefaultEndpointsProtocol=https;AccountName=a;Account" "Key=", u, ";EndpointSuffix=core.windows.net",
	    "azure-storage-key");
	free(t);
	free(u);
	POS("https://a.blob.core.windows.net/c?sv=2022-11-02&sig=", "Zk9%2Bq1w2e3r4t5y6u7i8o9p0aSdFgHjKl%3D", "&se=1",
	    "azure-storage-key");
	t = tokn("hv" "s.", ALNUM "_-", 90);
	POS("VAULT_TOKEN=", t, "", "vault-token");
	free(t);
	t = tokn("do" "p_v1_", HEXS, 64);
	POS("", t, "", "digitalocean-token");
	free(t);
	t = tokn("S" "G.", ALNUM "_-", 22);
	u = tokn(".", ALNUM "_-", 43);
	v = am_xasprintf("%s%s", t, u);
	POS("sendgrid ", v, "", "sendgrid-key");
	free(t);
	free(u);
	free(v);
	t = tokn("S" "K", HEXS, 32);
	POS("twilio key ", t, "", "twilio-key");
	NEG("a hex id SKabcdefabcdefabcdefabcdefabcdefab in a log");
	free(t);
	t = tokn("AGE-" "SECRET-KEY-1", "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58);
	POS("# key\n", t, "\n", "age-secret-key");
	free(t);

	/* JWTs; an am delegation token is one whose header says so */
	t = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	u = tokn(".eyJzdWIiOiIxMjM0NTY3ODkwIn0.", ALNUM "_-", 43);
	v = am_xasprintf("%.*s%s", (int)strcspn(t, "="), t, u);
	POS("jwt=", v, "", "jwt");
	free(t);
	free(u);
	free(v);
	t = am_b64_encode((const unsigned char *)"{\"alg\":\"EdDSA\",\"typ\":\"am-delegation+jwt\"}", 41, 1);
	u = tokn(".eyJqdGkiOiJkZWwtMSJ9.", ALNUM "_-", 86);
	v = am_xasprintf("%s%s", t, u);
	POS("--delegation ", v, "", "am-delegation");
	free(t);
	free(u);
	free(v);

	/* private keys, whole blocks */
	t = tokn("-----BEGIN " "RSA PRIVATE KEY-----\n", ALNUM "+/", 64);
	u = tokn("\n", ALNUM "+/", 64);
	v = am_xasprintf("%s%s\n-----END RSA PRIVATE KEY-----", t, u);
	POS("key:\n", v, "\nafter", "private-key");
	free(t);
	free(u);
	free(v);
	t = tokn("-----BEGIN " "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", ALNUM "+/", 60);
	v = am_xasprintf("%s\n-----END OPENSSH PRIVATE KEY-----", t);
	POS("", v, "\n", "private-key");
	free(t);
	free(v);
	t = tokn("-----BEGIN " "PRIVATE KEY-----\n", ALNUM "+/", 64);
	POS("unterminated ", t, "", "private-key");
	free(t);

	/* context rules */
	POS("postgres://app:", "Zx9-kq2Lm", "@db:5432/x", "url-password");
	POS("Authorization: Bearer ", "abc.DEF_123-xyz", "\r\nHost: x", "http-authorization");
	POS("proxy-authorization: Basic ", "dXNlcjpwYXNzd29yZA==", "\n", "http-authorization");
	POS("Cookie: ", "sid=9f8e7d6c5b4a; theme=dark", "\n", "http-cookie");
	POS("Set-Cookie: ", "session=QWERTY123456; Path=/; HttpOnly", "\n", "http-cookie");
	POS("X-Api-Key: ", "k3y-for-the-api-1234", "\n", "http-api-key");
	POS("machine example.net login bob password ", "s3cr3t-P4ss", "\n", "netrc-password");
	POS("machine h\n  login x\n  password ", "hunter2hunter2", "\n", "netrc-password");
	POS("{\"auths\":{\"r.io\":{\"auth\":\"", "dXNlcjpodW50ZXIyaHVudGVy", "\"}}}", "docker-auth");
	POS("data:\n  password: ", "aHVudGVyMmh1bnRlcjI=", "\nkind: Secret\n", "k8s-secret");
	POS("mysql -u root -p", "Hunter2Secret", " db", "cli-password");
	POS("mysql -h db -p ", "Hunter2Secret", "", "cli-password");
	POS("tool --password ", "Pa55w0rd!x", " --host h", "cli-password");
	POS("tool --password=", "Pa55w0rd!x", "", "cli-password");
	POS("gh auth --token ", "Qm9rZ2FuZTEyMzQ1Njc4OQ", "", "cli-password");
	POS("client --api-key ", "a8F3kd92LmZq0PxR", " list", "cli-password");
	POS("STRIPE_WEBHOOK_SECRET=", "Yk3Lm9Qx2Wp8Rt5Vn1Bc", "\n", "generic-secret");
	POS("MY_SERVICE_TOKEN: ", "4f9c2a7e1b8d3f6a0c5e9b2d", "\n", "generic-secret");
	POS("{\"refresh_token\": \"", "Xk29dLq0ZmP4vR8tY1wN", "\"}", "generic-secret");
	POS("ENCRYPTION_KEY=", "Qz8Lp2Xv9Rk4Wm7Tn1Yc", "", "generic-secret");
	POS("DB_PASSWORD=", "hunter2!", "", "generic-password");
	POS("PGPASSWORD=", "Tr0ub4dor&3x", " psql", "generic-password");
	POS("password: '", "c0rrect-h0rse", "'", "generic-password");
	NEG("--password-stdin");
	NEG("mysql -p");
	NEG("tool --token $TOKEN");
}

static void
test_negatives(void)
{
	NEG("request 550e8400-e29b-41d4-a716-446655440000 done\n");
	NEG("commit 3f786850e387550fdab836ed7e6dc881de23001b\n");
	NEG("image@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
	NEG("checksum 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
	NEG("cache_key: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
	NEG("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl u@h\n");
	NEG("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2hhbmdlZEJ5VGhlVGVzdDAKBggqhkjOPQQDAjAPMQ0w\n"
	    "-----END CERTIFICATE-----\n");
	NEG("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq6gB8Kw0fX9Yc8Zb2FkQ3lPq7N1m\n"
	    "-----END PUBLIC KEY-----\n");
	NEG("input_tokens: 1234\nmax_tokens=4096\n\"total_tokens\": 88\n");
	NEG("API_TOKEN=${API_TOKEN}\nDB_PASSWORD=$DB_PASSWORD\nsecret: {{ .Values.s }}\n");
	NEG("api_key: <your-api-key>\nSECRET_KEY=xxxxxxxxxxxxxxxx\npassword: changeme\npassword: '***'\n");
	NEG("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
	NEG("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
	NEG("Passwords must be rotated; see the secret guide. The token budget held.\n");
	NEG("desk-top risk-free task-runner sk-learn ask-me\n");
	NEG("password = getpass.getpass()\ntoken = self.token\napi_key = os.environ['API_KEY']\n");
	NEG("const secret = process.env.APP_SECRET;\nif (a == b && c != d) x = y;\n");
	NEG("func connect(password string) error { return db.Open(dsn, password) }\n");
	NEG("url: https://example.com:8443/path?q=1#frag user@host\n");
	NEG("");
	NEGJ("{\"input_tokens\": 12, \"max_tokens\": 4096, \"model\": \"m\", \"sha\": \"3f786850e387550fdab836ed7e6dc881de23001b\"}\n");
	NEGJ("{\"data\": {\"name\": \"Alice\", \"id\": 42}, \"token_type\": \"bearer\"}\n");
}

static void
test_pseudonyms(void)
{
	char *t = tokn("gh" "p_", ALNUM, 36), *u = tokn("gh" "p_", ALNUM, 36);
	char *in = am_xasprintf("a %s b %s c %s\n", t, u, t);
	char *o1 = red(in, AM_REDACT_TEXT), *o2 = red(in, AM_REDACT_TEXT), *o3;
	char p1[64], p2[64], p3[64];
	struct am_redact *other = am_redact_new();
	size_t n;

	T_OK(sscanf(o1, "a %63s b %63s c %63s", p1, p2, p3) == 3);
	T_STREQ(p1, p3);		/* same secret, same pseudonym */
	T_OK(strcmp(p1, p2) != 0);	/* different secrets differ */
	T_STREQ(o1, o2);		/* and stay so for the scanner's life */
	T_OK(strlen(p1) == strlen("[REDACTED:github-token:") + 7 && p1[strlen(p1) - 1] == ']');
	/* a new scanner has a new salt */
	T_OK(am_redact_buf(other, "x", AM_REDACT_TEXT, in, strlen(in), &o3, &n, NULL) == 0);
	T_OK(strcmp(o1, o3) != 0);
	/* the plain hash of the secret appears nowhere */
	{
		char hex[65];

		am_sha256_hex(hex, t, strlen(t));
		T_OK(strstr(o1, hex) == NULL);
		hex[6] = 0;
		T_OK(strstr(p1, hex) == NULL);
	}
	/* redacting redacted output finds nothing more */
	free(o2);
	o2 = red(o1, AM_REDACT_TEXT);
	T_STREQ(o2, o1);
	T_OK(C.n == 0);
	free(t);
	free(u);
	free(in);
	free(o1);
	free(o2);
	free(o3);
	am_redact_free(other);
}

/* A mixed document: every kind of secret, negatives, JSON lines. */
static char *
mixed_doc(int json, size_t pad)
{
	struct am_buf b = AM_BUF_INIT;
	char *t;

	for (int rep = 0; rep < 3; rep++) {
		for (size_t i = 0; i < pad; i++)
			am_buf_adds(&b, json ? "{\"ts\":1,\"input_tokens\":5,\"log\":\"prose words here\"}\n"
					     : "some ordinary prose words and code(x) = 1;\n");
		t = tokn("gh" "p_", ALNUM, 36);
		am_buf_addf(&b, json ? "{\"log\":\"token %s\",\"prompt\":\"CANARY\"}\n" : "token %s\n", t);
		free(t);
		t = tokn("-----BEGIN " "EC PRIVATE KEY-----\n", ALNUM "+/", 64);
		am_buf_addf(&b, json ? "{\"k\":\"%s\\n-----END EC PRIVATE KEY-----\"}\n"
				     : "%s\n-----END EC PRIVATE KEY-----\n", json ? "x" : t);
		free(t);
		t = tokn("", ALNUM, 24);
		am_buf_addf(&b, json ? "{\"api_token\": \"%s\", \"messages\": [{\"content\": \"hi\"}]}\n"
				     : "API_TOKEN=%s\n", t);
		free(t);
		t = tokn("gh" "p_", ALNUM, 36);
		{
			char *e = b64(t);

			am_buf_addf(&b, json ? "{\"blob\":\"%s\"}\n" : "blob %s\n", e);
			free(e);
		}
		free(t);
		am_buf_adds(&b, json ? "not json Authorization: Bearer Zk29sLq0mP4vR8t\n"
				     : "Authorization: Bearer Zk29sLq0mP4vR8t\n");
		am_buf_adds(&b, json ? "{\"u\":\"\\u0041KIA" "ZZZZZZZZZZZZZZZZ\",\"esc\":\"\\ud83d\\ude00 \\\" \\\\\"}\n"
				     : "u=\\u0041KIA" "ZZZZZZZZZZZZZZZZ\n");
	}
	return am_buf_detach(&b, NULL);
}

static int
sink(void *arg, const void *p, size_t n)
{
	am_buf_add(arg, p, n);
	return 0;
}

/* Feed doc in chunks of the given sizes (cycled); 0 means random. */
static char *
chunked(const char *doc, enum am_redact_mode mode, size_t step)
{
	struct am_buf b = AM_BUF_INIT;
	size_t n = strlen(doc), i = 0;

	am_redact_begin(R, "c", mode, sink, &b, NULL);
	while (i < n) {
		size_t k = step ? step : 1 + rnd() % 9000;

		if (k > n - i)
			k = n - i;
		am_redact_feed(R, doc + i, k, NULL);
		i += k;
	}
	am_redact_end(R, NULL);
	am_buf_addc(&b, 0);
	return am_buf_detach(&b, NULL);
}

static void
test_chunks(void)
{
	for (int json = 0; json < 2; json++) {
		enum am_redact_mode mode = json ? AM_REDACT_JSON : AM_REDACT_TEXT;
		/* pad so the secrets land across the 64 KiB and 256 KiB window edges */
		char *doc = mixed_doc(json, 2000);
		char *whole = red(doc, mode);
		int found = C.n;
		char *one = chunked(doc, mode, 1), *r1 = chunked(doc, mode, 0), *r2 = chunked(doc, mode, 0);

		T_OK(found >= 15);
		T_STREQ(one, whole);
		T_STREQ(r1, whole);
		T_STREQ(r2, whole);
		T_OK(strstr(whole, "-----BEGIN") == NULL || json);
		T_OK(strstr(whole, "CANARY") == NULL);
		T_OK(strstr(whole, "gh" "p_") == NULL);
		T_OK(strstr(whole, "Zk29sLq0mP4vR8t") == NULL);
		free(doc);
		free(whole);
		free(one);
		free(r1);
		free(r2);
	}
	/* a secret at every offset around the window edges */
	for (size_t edge = 65536 - 48; edge < 65536 + 8; edge += 7) {
		struct am_buf b = AM_BUF_INIT;
		char *t = tokn("gl" "pat-", ALNUM, 20), *o;

		while (b.len < edge)
			am_buf_adds(&b, "lorem ipsum dolor ");
		b.len = edge;
		am_buf_addf(&b, " %s tail\n", t);
		for (size_t cap = 0; cap < 200000; cap += 19)
			am_buf_adds(&b, "filler text ");
		am_buf_adds(&b, t);
		o = chunked(b.data, AM_REDACT_TEXT, 4096 + edge % 11);
		T_OK(strstr(o, t) == NULL);
		free(o);
		free(t);
		am_buf_free(&b);
	}
}

struct big {
	uint64_t bytes, marks;
	char tail[16];
	size_t tl;
};

/* Counts output bytes and pseudonyms, even when split across writes. */
static int
big_sink(void *arg, const void *p, size_t n)
{
	struct big *g = arg;
	const char *s = p;
	char join[48];
	size_t k = n < 16 ? n : 16;

	g->bytes += n;
	memcpy(join, g->tail, g->tl);
	memcpy(join + g->tl, s, k);
	for (size_t i = 0; i + 10 <= g->tl + k; i++)
		if (!memcmp(join + i, "[REDACTED:", 10) && i < g->tl)
			g->marks++;
	for (const char *q = s; (q = memmem(q, (size_t)(s + n - q), "[REDACTED:", 10)) != NULL; q++)
		g->marks++;
	g->tl = n < 9 ? n : 9;
	memcpy(g->tail, s + n - g->tl, g->tl);
	return 0;
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
test_big_line(void)
{
	static char chunk[65536];
	struct big g = { 0 };
	long before = maxrss_kb();
	uint64_t total = 100ull << 20, fed = 0;
	int planted = 0;
	char *t = tokn("np" "m_", ALNUM, 36);

	/* prose without a single newline */
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = "the quick brown fox jumps over a lazy dog "[i % 42];
	am_redact_begin(R, "big", AM_REDACT_TEXT, big_sink, &g, NULL);
	while (fed < total) {
		am_redact_feed(R, chunk, sizeof(chunk), NULL);
		fed += sizeof(chunk);
		if (fed % (10u << 20) == 0) {
			am_redact_feed(R, " ", 1, NULL);
			am_redact_feed(R, t, 20, NULL);		/* split mid-token */
			am_redact_feed(R, t + 20, strlen(t) - 20, NULL);
			am_redact_feed(R, " ", 1, NULL);
			fed += strlen(t) + 2;
			planted++;
		}
	}
	/* an over-long token: 3 MiB of token characters */
	am_redact_feed(R, " gh" "p_", 5, NULL);
	for (int i = 0; i < 48; i++) {
		static char tk[65536];

		for (size_t j = 0; j < sizeof(tk); j++)
			tk[j] = ALNUM[(j * 7 + (size_t)i) % 62];
		am_redact_feed(R, tk, sizeof(tk), NULL);
	}
	am_redact_feed(R, " end", 4, NULL);
	T_OK(am_redact_end(R, NULL) == 0);
	T_OK(g.marks == (uint64_t)planted + 1);
	T_OK(g.bytes < fed + 100 && g.bytes > fed - 100000);
	/* bounded memory: nowhere near the 100 MB fed */
	T_OK(maxrss_kb() - before < 16 * 1024);
	free(t);

	/* an over-long private key is one finding */
	{
		struct big h = { 0 };

		am_redact_set_finding_cb(R, on_finding, &C);
		memset(&C, 0, sizeof(C));
		am_redact_begin(R, "pem", AM_REDACT_TEXT, big_sink, &h, NULL);
		am_redact_feed(R, "x\n-----BEGIN " "RSA PRIVATE KEY-----\n", 34, NULL);
		for (int i = 0; i < 40; i++)
			am_redact_feed(R, chunk, sizeof(chunk), NULL);
		am_redact_feed(R, "\n-----END RSA PRIVATE KEY-----\ny\n", 33, NULL);
		am_redact_end(R, NULL);
		T_OK(C.n == 1 && h.marks == 1);
		T_OK(C.line[0] == 2 && C.off[0] == 2 && C.len[0] == 32 + 40 * 65536 + 30);
		T_OK(h.bytes < 100);
	}
}

/* JSON field mode */
static void
test_json(void)
{
	const char *in =
		"{\"prompt\":\"CANARY one\",\"messages\":[{\"role\":\"user\",\"content\":\"CANARY two\"}],"
		"\"usage\":{\"input_tokens\":123,\"max_tokens\":4096},\"Tool-Input\":{\"a\":[1,2]},"
		"\"system\":null,\"text\":7,\"meta\":{\"ok\":true}}\n"
		"plain text line Authorization: Bearer Zk29sLq0mP4vR8tX\n"
		"  [1, \"two\", {\"stdout\": \"CANARY three\"}]\n";
	char *out = red(in, AM_REDACT_JSON), *line2;
	cJSON *j;

	T_OK(strstr(out, "CANARY") == NULL);
	T_OK(strstr(out, "\"prompt\":{\"$redacted\":\"prompt\",\"bytes\":12}") != NULL);
	T_OK(strstr(out, "\"messages\":{\"$redacted\":\"prompt\",\"bytes\":40}") != NULL);
	T_OK(strstr(out, "\"Tool-Input\":{\"$redacted\":\"prompt\",\"bytes\":11}") != NULL);
	T_OK(strstr(out, "\"system\":{\"$redacted\":\"prompt\",\"bytes\":4}") != NULL);
	T_OK(strstr(out, "\"text\":{\"$redacted\":\"prompt\",\"bytes\":1}") != NULL);
	T_OK(strstr(out, "\"input_tokens\":123,\"max_tokens\":4096") != NULL);
	T_OK(strstr(out, "\"meta\":{\"ok\":true}") != NULL);
	T_OK(strstr(C.rules, "prompt") != NULL && strstr(C.rules, "http-authorization") != NULL);
	line2 = strchr(out, '\n');
	T_OK(line2 && strncmp(line2 + 1, "plain text line Authorization: Bearer [REDACTED:", 48) == 0);
	j = cJSON_ParseWithLength(out, (size_t)(line2 - out));
	T_OK(j != NULL);
	cJSON_Delete(j);
	j = cJSON_Parse(strchr(line2 + 1, '\n') + 1);
	T_OK(j != NULL && cJSON_IsArray(j));
	cJSON_Delete(j);
	free(out);

	/* strings are unescaped before scanning; the escapes are redacted whole */
	{
		char *t = tokn("gh" "p_", ALNUM, 36), *esc, *o;
		struct am_buf b = AM_BUF_INIT;

		for (const char *p = t; *p; p++)
			am_buf_addf(&b, "\\u%04x", *p);
		esc = am_xasprintf("{\"a\":\"x %s y\",\"b\":\"Authorization: Bearer Zk29sLq0mP4vR8tX\\r\\nHost: h\","
				   "\"c\":\"-----BEGIN " "PRIVATE KEY-----\\nQUJD\\n-----END PRIVATE KEY-----\\n\","
				   "\"client_secret\":\"Xk29dLq0ZmP4vR8tY1wN\",\"password\":\"\\u0068unter2!\"}\n",
				   b.data);
		o = red(esc, AM_REDACT_JSON);
		T_OK(strstr(o, "\\u0067\\u0068") == NULL);
		T_OK(strstr(o, "QUJD") == NULL && strstr(o, "Zk29s") == NULL && strstr(o, "Xk29d") == NULL);
		T_OK(strstr(o, "\\r\\nHost: h") != NULL);
		T_OK(strstr(o, "unter2") == NULL);
		j = cJSON_Parse(o);
		T_OK(j != NULL);
		T_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "c")) ? "" : "x", "");
		cJSON_Delete(j);
		free(o);
		free(esc);
		free(t);
		am_buf_free(&b);
	}
	/* Kubernetes Secret as JSON, docker config */
	{
		const char *k = "{\"apiVersion\":\"v1\",\"data\":{\"tls.key\":\"c2VjcmV0IGtleSBtYXRlcmlhbCBoZXJl\"},"
				"\"kind\":\"Secret\",\"auths\":{\"r\":{\"auth\":\"dXNlcjpwYXNzd29yZDEyMzQ=\"}}}";
		char *o = red(k, AM_REDACT_JSON);

		T_OK(strstr(o, "c2VjcmV0") == NULL && strstr(o, "dXNlcjpw") == NULL);
		T_OK(strstr(o, "[REDACTED:k8s-secret:") != NULL && strstr(o, "[REDACTED:docker-auth:") != NULL);
		free(o);
	}
	/* a pretty-printed document spanning lines, and broken JSON */
	{
		const char *k = "{\n  \"input\": [\n    \"CANARY\"\n  ],\n  \"n\": 1\n}\n{\"prompt\": \"CANARY\n";
		char *o = red(k, AM_REDACT_JSON);

		T_OK(strstr(o, "CANARY") == NULL);
		T_OK(strstr(o, "\"n\": 1") != NULL);
		free(o);
	}
}

static void
test_report(void)
{
	char *t = tokn("gh" "p_", ALNUM, 36), *in = am_xasprintf("x\n%s %s\nA=1\npassword: Zz9!aa1x\n", t, t), *o;
	cJSON *rep, *e;
	size_t n;
	const struct am_redact_rule *rules = am_redact_rules(&n);
	uint64_t before = am_redact_secrets(R);

	o = red(in, AM_REDACT_TEXT);
	T_OK(am_redact_secrets(R) - before == 3);
	T_OK(C.n == 3 && C.line[0] == 2 && C.off[0] == 2 && C.len[0] == 40 && C.line[2] == 4);
	rep = am_redact_report_json(R);
	n = (size_t)cJSON_GetArraySize(rep);
	e = cJSON_GetArrayItem(rep, (int)n - 2);
	T_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(e, "rule")), "github-token");
	T_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(e, "file")), "t.txt");
	T_OK(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "line")) == 2);
	T_OK(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "count")) == 2);
	{
		char *s = cJSON_PrintUnformatted(rep);

		T_OK(strstr(s, t) == NULL && strstr(s, "Zz9!") == NULL);
		free(s);
	}
	cJSON_Delete(rep);
	/* rule listing: ids unique, described */
	rules = am_redact_rules(&n);
	T_OK(n >= 30);
	for (size_t i = 0; i < n; i++) {
		T_OK(rules[i].id && rules[i].description && *rules[i].description);
		for (size_t j = 0; j < i; j++)
			T_OK(strcmp(rules[i].id, rules[j].id) != 0);
	}
	T_OK(am_redact_mode_for_name("a/b.jsonl") == AM_REDACT_JSON);
	T_OK(am_redact_mode_for_name("x.json") == AM_REDACT_JSON);
	T_OK(am_redact_mode_for_name("x.log") == AM_REDACT_TEXT);
	free(t);
	free(in);
	free(o);
}

static int
bad_sink(void *arg, const void *p, size_t n)
{
	errno = ENOSPC;
	return -1;
}

static void
test_errors(void)
{
	struct am_error *err = NULL;

	T_OK(am_redact_begin(R, "w", AM_REDACT_TEXT, bad_sink, NULL, NULL) == 0);
	T_OK(am_redact_feed(R, "abc", 3, NULL) == 0); /* buffered */
	T_OK(am_redact_end(R, &err) == -1);
	T_OK(err && strstr(err->msg, "'w'") && strstr(err->msg, "No space"));
	am_error_free(err);
	am_redact_free(NULL);
}

int
main(void)
{
	R = am_redact_new();
	am_redact_set_finding_cb(R, on_finding, &C);
	test_rules();
	test_negatives();
	test_pseudonyms();
	test_chunks();
	test_json();
	test_report();
	test_errors();
	test_big_line();
	am_redact_free(R);
	T_DONE();
}
