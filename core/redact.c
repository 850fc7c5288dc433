/* redact.c - see redact.h
 *
 * Layers, bottom up:
 *   scan_run()   finds hits in one in-memory region: a loop over the bytes
 *                that only stops at word starts carrying a known prefix and
 *                at a few punctuation triggers (= : - % \), plus the decode
 *                of base64 runs and %XX / \uXXXX segments (re-scanned once).
 *   struct te    a streaming window over one text stream: holds up to
 *                TE_CAP bytes, decides and emits everything but the last
 *                TE_K, keeps TE_LCTX bytes of left context; a match running
 *                into the end of the window becomes an "open" state that
 *                streams the rest of the secret into an HMAC.  In "mapped"
 *                form it carries the unescaped text of a JSON string with a
 *                map back to the raw escapes, so redactions cover whole
 *                escape sequences.
 *   json_*()     the JSON walker that routes structure to the output,
 *                strings to a mapped te, and prompt values to a counter.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sodium.h>

#include "redact.h"
#include "util.h"

#define TE_CAP (256 * 1024)	/* window, logical bytes */
#define TE_RCAP (8 * TE_CAP)	/* raw bytes behind a mapped window */
#define TE_K (64 * 1024)	/* look-ahead kept undecided */
#define TE_LCTX (4 * 1024)	/* left context kept after emitting */
#define DECMAX (16 * 1024)	/* longest segment decoded and re-scanned */
#define QMAX 4096		/* longest quoted value read */
#define KEYMAX 64		/* longest key looked back at */
#define JKEYMAX 256		/* longest JSON key kept for classification */
#define JDEPTH 128		/* deepest JSON nesting walked */
#define OUTBUF (64 * 1024)
#define SBUF (64 * 1024)	/* JSON strings scanned in place up to this */
#define KCACHE 64		/* JSON key classes remembered */
#define KCACHE_KEY 32

/* ---- rules ---------------------------------------------------------- */

enum rule {
	R_AWS_KEY_ID, R_AWS_SECRET, R_GITHUB, R_GITHUB_FG, R_GITLAB, R_SLACK,
	R_SLACK_HOOK, R_STRIPE, R_OPENAI, R_ANTHROPIC, R_GOOGLE, R_HF, R_NPM,
	R_PYPI, R_AZURE, R_VAULT, R_DO, R_SENDGRID, R_TWILIO, R_JWT, R_AMDEL,
	R_PKEY, R_AGE, R_URLPASS, R_AUTHZ, R_COOKIE, R_APIKEY_HDR, R_NETRC,
	R_DOCKER, R_K8S, R_CLI, R_GENERIC, R_PASSWORD, R_PROMPT, R_NRULES
};

static const struct am_redact_rule rules[R_NRULES] = {
	[R_AWS_KEY_ID] = { "aws-access-key-id", "AWS access key id (AKIA..., ASIA..., 20 chars)" },
	[R_AWS_SECRET] = { "aws-secret-access-key", "AWS secret access key assigned to an aws_secret* name" },
	[R_GITHUB] = { "github-token", "GitHub classic token (ghp_, gho_, ghu_, ghs_, ghr_)" },
	[R_GITHUB_FG] = { "github-fine-grained-token", "GitHub fine-grained token (github_pat_)" },
	[R_GITLAB] = { "gitlab-token", "GitLab token (glpat-, gldt-, glrt-, glptt-)" },
	[R_SLACK] = { "slack-token", "Slack token (xoxa-, xoxb-, xoxp-, xoxo-, xoxs-, xoxr-, xapp-)" },
	[R_SLACK_HOOK] = { "slack-webhook", "Slack incoming webhook or workflow URL path" },
	[R_STRIPE] = { "stripe-key", "Stripe secret/restricted key or webhook secret (sk_live_, rk_live_, whsec_)" },
	[R_OPENAI] = { "openai-key", "OpenAI API key (sk-, sk-proj-, sk-svcacct-)" },
	[R_ANTHROPIC] = { "anthropic-key", "Anthropic API key (sk-ant-)" },
	[R_GOOGLE] = { "google-api-key", "Google API key (AIza...)" },
	[R_HF] = { "huggingface-token", "Hugging Face token (hf_)" },
	[R_NPM] = { "npm-token", "npm access token (npm_)" },
	[R_PYPI] = { "pypi-token", "PyPI upload token (pypi-AgE...)" },
	[R_AZURE] = { "azure-storage-key", "Azure AccountKey= / SharedAccessKey= in a connection string, SAS sig=" },
	[R_VAULT] = { "vault-token", "HashiCorp Vault token (hvs., hvb., hvr.)" },
	[R_DO] = { "digitalocean-token", "DigitalOcean token (dop_v1_, doo_v1_, dor_v1_)" },
	[R_SENDGRID] = { "sendgrid-key", "SendGrid API key (SG.x.y)" },
	[R_TWILIO] = { "twilio-key", "Twilio API key or account SID (SK/AC + 32 hex) near the word twilio" },
	[R_JWT] = { "jwt", "JSON Web Token (eyJ...eyJ...signature)" },
	[R_AMDEL] = { "am-delegation", "am delegation token (JWS with typ am-delegation+jwt)" },
	[R_PKEY] = { "private-key", "PEM or OpenSSH private key block (BEGIN ... PRIVATE KEY ... END)" },
	[R_AGE] = { "age-secret-key", "age secret key (AGE-SECRET-KEY-1...)" },
	[R_URLPASS] = { "url-password", "password in URL userinfo (scheme://user:pass@host)" },
	[R_AUTHZ] = { "http-authorization", "Authorization / Proxy-Authorization header credentials" },
	[R_COOKIE] = { "http-cookie", "Cookie / Set-Cookie header value" },
	[R_APIKEY_HDR] = { "http-api-key", "X-Api-Key and similar token headers" },
	[R_NETRC] = { "netrc-password", ".netrc password" },
	[R_DOCKER] = { "docker-auth", "docker config auths auth / identitytoken values" },
	[R_K8S] = { "k8s-secret", "Kubernetes Secret data: / stringData: values" },
	[R_CLI] = { "cli-password", "command-line --password/--token/--api-key values, mysql -p" },
	[R_GENERIC] = { "generic-secret", "*_SECRET/_TOKEN/_API_KEY/_KEY assignments passing an entropy gate" },
	[R_PASSWORD] = { "generic-password", "*_PASSWORD/_PASSWD/_PWD assignments" },
	[R_PROMPT] = { "prompt", "JSON prompt-like field (prompt, messages, content, ...) replaced" },
};

/* ---- character classes ---------------------------------------------- */

enum {
	C_UP = 1 << 0, C_LO = 1 << 1, C_DIG = 1 << 2,
	C_ALNUM = C_UP | C_LO | C_DIG,
	C_B64 = 1 << 3,   /* base64 either alphabet: alnum + / - _ */
	C_TOK = 1 << 4,   /* alnum _ - */
	C_JWT = 1 << 5,   /* alnum _ - . */
	C_DELIM = 1 << 6, /* ends a decode segment: space, control, quotes, <> */
	C_HEX = 1 << 7,   /* 0-9 a-f */
	C_VAL = 1 << 8,   /* may appear in an unquoted value */
	C_KEY = 1 << 9,   /* may appear in a key: alnum _ - . */
	C_PFX = 1 << 10,  /* first letter of a token prefix */
	C_TRIG = 1 << 11, /* punctuation trigger */
	C_SP = 1 << 12,   /* space or tab */
	C_B64S = 1 << 13, /* standard base64: alnum + / */
	C_SLK = 1 << 14,  /* slack webhook path: alnum / _ - */
};

static uint16_t ctab[256];
static uint8_t jstop[256];	/* ends a run of plain JSON string bytes */
static uint8_t pfx2[256][32];	/* bit set: these two bytes may start a prefix */
static pthread_once_t ctab_once = PTHREAD_ONCE_INIT;

static void
pfx2_set(const char *two)
{
	uint8_t a = (uint8_t)two[0], b = (uint8_t)two[1];

	pfx2[a][b >> 3] |= (uint8_t)(1 << (b & 7));
}

static int
pfx2_has(uint8_t a, uint8_t b)
{
	return pfx2[a][b >> 3] & (1 << (b & 7));
}

static void
ctab_init(void)
{
	for (int c = 0; c < 256; c++) {
		uint16_t k = 0;

		if (c >= 'A' && c <= 'Z')
			k |= C_UP;
		if (c >= 'a' && c <= 'z')
			k |= C_LO;
		if (c >= '0' && c <= '9')
			k |= C_DIG;
		if (k & C_ALNUM)
			k |= C_B64 | C_TOK | C_JWT | C_KEY | C_B64S | C_SLK;
		if (c == '-' || c == '_')
			k |= C_B64 | C_TOK | C_JWT | C_KEY | C_SLK;
		if (c == '+' || c == '/')
			k |= C_B64 | C_B64S;
		if (c == '/')
			k |= C_SLK;
		if (c == '.')
			k |= C_JWT | C_KEY;
		if (c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`')
			k |= C_DELIM;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
			k |= C_HEX;
		if (c > ' ' && c != 0x7f && !strchr("\"'`,;<>(){}[]&", c))
			k |= C_VAL;
		if (strchr("ASgxhsrwnped", c) && c != 0)
			k |= C_PFX;
		if (strchr("=:-%\\", c) && c != 0)
			k |= C_TRIG;
		if (c == ' ' || c == '\t')
			k |= C_SP;
		ctab[c] = k;
		jstop[c] = c < 0x20 || c == '"' || c == '\\';
	}
	{
		static const char *const two[] = {
			"AK", "AS", "AB", "AC", "AG", "AI", "AN", "AP", "AR", "SG", "SK",
			"gh", "gi", "gl", "xo", "xa", "hf", "hv", "ho", "sk", "rk", "wh",
			"np", "py", "pa", "ey", "do",
		};

		for (size_t i = 0; i < AM_ARRAY_LEN(two); i++)
			pfx2_set(two[i]);
	}
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Case-insensitive search of needle in [p, p+n). */
static int
ci_contains(const uint8_t *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++) {
		size_t j = 0;

		while (j < m && lower(p[i + j]) == needle[j])
			j++;
		if (j == m)
			return 1;
	}
	return 0;
}

static int
ci_eq(const uint8_t *p, size_t n, const char *s)
{
	size_t m = strlen(s);

	if (m != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != s[i])
			return 0;
	return 1;
}

/* log2 without libm: x = m * 2^e, ln m by the atanh series. */
static double
lg2(double x)
{
	int e = 0;
	double y, y2, s = 0, t;

	while (x >= 2) {
		x /= 2;
		e++;
	}
	while (x < 1) {
		x *= 2;
		e--;
	}
	y = (x - 1) / (x + 1);
	y2 = y * y;
	t = y;
	for (int k = 1; k < 40; k += 2) {
		s += t / k;
		t *= y2;
	}
	return e + 2 * s / 0.69314718055994530942;
}

/* Shannon entropy in bits per byte. */
static double
entropy(const uint8_t *v, size_t n)
{
	unsigned cnt[256] = { 0 };
	double h = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		cnt[v[i]]++;
	for (int c = 0; c < 256; c++)
		if (cnt[c]) {
			double p = (double)cnt[c] / (double)n;

			h -= p * lg2(p);
		}
	return h;
}

/* ---- the scanner object --------------------------------------------- */

struct hit {
	size_t s, e;
	uint16_t rule;
	uint8_t tag[3];
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

enum { OPEN_NONE, OPEN_TOKEN, OPEN_LINE, OPEN_PEM, OPEN_ALL };

/* Key classes: what the name in front of a value says about it. */
enum kc {
	KC_NONE, KC_PROMPT, KC_SECRET, KC_WEAK, KC_PASSWORD, KC_AWS, KC_AUTHZ,
	KC_COOKIE, KC_APIHDR, KC_DOCKER, KC_AZURE, KC_K8S_DATA, KC_K8S_SDATA, KC_CLI,
	KC_NETRC, KC_DATA_KEY, KC_SDATA_KEY
};

struct te {
	struct am_redact *r;
	uint8_t *lb;		/* logical bytes, lb[llen] == 0 */
	size_t llen, from;	/* [0,from) emitted (left context only) */
	int mapped;
	uint32_t *map;		/* mapped: raw offset of each logical byte's unit */
	char *rb;		/* mapped: the raw bytes */
	size_t rlen;
	struct hits hits;
	/* an open match streaming into the HMAC */
	int open;
	uint16_t open_rule, open_mask;
	crypto_auth_hmacsha256_state hst;
	uint64_t open_line, open_off, open_len;
	int pem_k, pem_st, pem_dash, pem_lab;
	/* YAML data:/stringData: block */
	int k8s;
	size_t k8s_indent;
	/* JSON string mode: the whole value is judged by its key */
	int whole;
};

enum jstate {
	J_LINE, J_TEXT, J_VALUE, J_ARR_FIRST, J_OBJ_FIRST, J_OBJ_KEY, J_COLON,
	J_AFTER, J_STR, J_ESC, J_ESC_U, J_LIT, J_SKIP
};

struct jframe {
	uint8_t obj;		/* 1 object, 0 array */
	uint8_t child;		/* key class for the members (k8s data) */
};

struct am_redact {
	unsigned char salt[crypto_auth_hmacsha256_KEYBYTES];
	am_redact_finding_fn fcb;
	void *fcb_arg;
	/* current file */
	const char *file;
	int mode, active, failed, saved_errno;
	am_redact_write_fn write;
	void *warg;
	uint64_t line, off;
	char *obuf;
	size_t olen;
	struct te text, str;
	/* JSON walker */
	int js;
	struct jframe stk[JDEPTH];
	int depth;
	int str_key, cur_kc;
	uint8_t key[JKEYMAX];
	size_t keylen;
	char esc[16];
	int escn;
	unsigned hi_sur;
	char lit[8];
	int litn;
	uint64_t skip_n, skip_line, skip_off;
	struct kcache {
		uint8_t key[KCACHE_KEY];
		uint8_t len, kc;	/* len = key length + 1, 0 = empty */
	} kcache[KCACHE];
	int skip_depth, skip_str, skip_esc, skip_scalar;
	/* scratch for decoding */
	uint8_t *dec, *sbuf;
	uint32_t *dsrc, *dend;
	struct hits shits;
	struct hits nhits;
	char **names;		/* file names given to begin, copied */
	size_t nnames;
	/* report */
	struct rep {
		uint16_t rule;
		const char *file;
		uint64_t line, count;
	} *rep;
	size_t nrep, caprep;
	uint64_t nsecrets, nprompts;
};

static void
hits_add(struct hits *h, size_t s, size_t e, uint16_t rule, const uint8_t tag[3])
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = am_xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n].s = s;
	h->v[h->n].e = e;
	h->v[h->n].rule = rule;
	memcpy(h->v[h->n].tag, tag, 3);
	h->n++;
}

static void
tag_of(const struct am_redact *r, const uint8_t *p, size_t n, uint8_t tag[3])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256(mac, p, n, r->salt);
	memcpy(tag, mac, 3);
}

/* ---- output ----------------------------------------------------------- */

static void
out_flush(struct am_redact *r)
{
	if (r->olen && r->write && !r->failed) {
		if (r->write(r->warg, r->obuf, r->olen) != 0) {
			r->failed = 1;
			r->saved_errno = errno;
		}
	}
	r->olen = 0;
}

static void
out_put(struct am_redact *r, const void *p, size_t n)
{
	if (r->write == NULL)
		return;
	if (n >= OUTBUF) {
		out_flush(r);
		if (!r->failed && r->write(r->warg, p, n) != 0) {
			r->failed = 1;
			r->saved_errno = errno;
		}
		return;
	}
	if (r->olen + n > OUTBUF)
		out_flush(r);
	memcpy(r->obuf + r->olen, p, n);
	r->olen += n;
}

static void
count_in(struct am_redact *r, const void *p, size_t n)
{
	const char *s = p, *e = s + n;

	r->off += n;
	if (n <= 16) {
		for (size_t i = 0; i < n; i++)
			r->line += s[i] == '\n';
		return;
	}
	while ((s = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		r->line++;
		s++;
	}
}

/* Input bytes copied to the output. */
static void
out_raw(struct am_redact *r, const void *p, size_t n)
{
	if (n == 0)
		return;
	count_in(r, p, n);
	out_put(r, p, n);
}

static void
record(struct am_redact *r, uint16_t rule, uint64_t line, uint64_t off, uint64_t len)
{
	struct am_redact_finding f = {
		.rule = rules[rule].id, .file = r->file, .line = line,
		.offset = off, .length = len, .secret = rule != R_PROMPT,
	};
	size_t i;

	if (rule == R_PROMPT)
		r->nprompts++;
	else
		r->nsecrets++;
	for (i = r->nrep; i > 0 && r->rep[i - 1].file == r->file && r->rep[i - 1].line == line; i--)
		if (r->rep[i - 1].rule == rule) {
			r->rep[i - 1].count++;
			goto cb;
		}
	if (r->nrep == r->caprep) {
		r->caprep = r->caprep ? r->caprep * 2 : 64;
		r->rep = am_xrealloc(r->rep, r->caprep * sizeof(*r->rep));
	}
	r->rep[r->nrep].rule = rule;
	r->rep[r->nrep].file = r->file;
	r->rep[r->nrep].line = line;
	r->rep[r->nrep].count = 1;
	r->nrep++;
cb:
	if (r->fcb)
		r->fcb(r->fcb_arg, &f);
}

static void
out_pseudonym(struct am_redact *r, uint16_t rule, const uint8_t tag[3])
{
	char buf[96], hex[7];
	int n;

	am_hex(hex, tag, 3);
	n = snprintf(buf, sizeof(buf), "[REDACTED:%s:%s]", rules[rule].id, hex);
	out_put(r, buf, (size_t)n);
}

/* Replace raw input bytes [p, p+n) by the pseudonym. */
static void
out_redact(struct am_redact *r, const void *p, size_t n, uint16_t rule, const uint8_t tag[3])
{
	record(r, rule, r->line, r->off, n);
	count_in(r, p, n);
	out_pseudonym(r, rule, tag);
}

/* ---- value gates ------------------------------------------------------ */

static int
is_placeholder(const uint8_t *v, size_t n)
{
	static const char *const sub[] = {
		"changeme", "change_me", "change-me", "example", "placeholder",
		"redacted", "your_", "your-", "dummy", "<your", "${", "{{",
	};
	static const char *const word[] = {
		"null", "none", "nil", "true", "false", "undefined", "password",
		"secret", "token", "required", "optional", "string", "empty",
	};
	size_t i;

	if (n == 0)
		return 1;
	if (v[0] == '$') {
		if (n >= 3 && v[1] == '(' && v[n - 1] == ')')
			return 1;
		i = 1;
		if (i < n && ((ctab[v[i]] & (C_UP | C_LO)) || v[i] == '_')) {
			while (i < n && ((ctab[v[i]] & C_ALNUM) || v[i] == '_'))
				i++;
			if (i == n)
				return 1;
		}
	}
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
		return 1;
	if (n >= 2 && v[0] == '%' && (n == 2 || v[1] == '('))
		return 1;
	for (i = 0; i < n; i++)
		if (!strchr("xX*.-_#", v[i]) || v[i] == 0)
			break;
	if (i == n && n >= 3)
		return 1;
	if (n >= 10 && memcmp(v, "[REDACTED:", 10) == 0)
		return 1;
	for (i = 0; i < AM_ARRAY_LEN(word); i++)
		if (ci_eq(v, n, word[i]))
			return 1;
	for (i = 0; i < AM_ARRAY_LEN(sub) && n <= 64; i++)
		if (ci_contains(v, n, sub[i]))
			return 1;
	return 0;
}

static unsigned
classes(const uint8_t *v, size_t n, int *sym)
{
	unsigned f = 0;

	*sym = 0;
	for (size_t i = 0; i < n; i++) {
		f |= ctab[v[i]] & C_ALNUM;
		if (!(ctab[v[i]] & C_ALNUM))
			*sym = 1;
	}
	return f;
}

static int
popcount3(unsigned f)
{
	return !!(f & C_UP) + !!(f & C_LO) + !!(f & C_DIG);
}

/* An identifier, a dotted name: code, not a secret. */
static int
looks_code(const uint8_t *v, size_t n)
{
	int dot = 0, under = 0, up = 0;

	if (n == 0 || !((ctab[v[0]] & (C_UP | C_LO)) || v[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint16_t k = ctab[v[i]];

		if (k & C_DIG)
			return 0;
		if (v[i] == '.')
			dot = 1;
		else if (v[i] == '_')
			under = 1;
		else if (k & C_UP)
			up = 1;
		else if (!(k & C_LO))
			return 0;
	}
	return dot || under || !up;
}

static int
is_hexdigest(const uint8_t *v, size_t n)
{
	size_t i = 0;

	if (n > 7 && memcmp(v, "sha256:", 7) == 0)
		i = 7;
	else if (n > 5 && memcmp(v, "sha1:", 5) == 0)
		i = 5;
	if (n - i != 40 && n - i != 64 && n - i != 128)
		return 0;
	for (; i < n; i++)
		if (!(ctab[v[i]] & C_HEX))
			return 0;
	return 1;
}

static int
is_uuid(const uint8_t *v, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (v[i] != '-')
				return 0;
		} else if (hexval(v[i]) < 0) {
			return 0;
		}
	}
	return 1;
}

static int
gate_generic(const uint8_t *v, size_t n, int weak)
{
	int sym;
	unsigned f;
	double h, need;

	if (n < 8 || is_placeholder(v, n) || looks_code(v, n))
		return 0;
	/* "sha256:<hex>" is a content digest (am names artifacts and token
	 * hashes this way), never a credential. */
	if (n == 71 && memcmp(v, "sha256:", 7) == 0 && is_hexdigest(v + 7, 64))
		return 0;
	/* Public identifiers, never credentials: an OpenSSH key fingerprint
	 * ("SHA256:" + 43 base64), a public key line, a URN. */
	if ((n == 50 && memcmp(v, "SHA256:", 7) == 0) ||
	    (n > 12 && memcmp(v, "ssh-ed25519 ", 12) == 0) || (n > 4 && memcmp(v, "urn:", 4) == 0))
		return 0;
	if (n > QMAX)
		return 1;
	f = classes(v, n, &sym);
	h = entropy(v, n);
	if (popcount3(f) < 2 && !(n >= 16 && h >= 3.8 && f != C_DIG))
		return 0;
	need = lg2((double)n) - 0.7;
	if (need > 3.0)
		need = 3.0;
	if (h < need)
		return 0;
	if (weak) {
		if (n < 16 || h < 3.3 || is_hexdigest(v, n) || is_uuid(v, n))
			return 0;
	}
	return 1;
}

static int
gate_password(const uint8_t *v, size_t n)
{
	int sym;
	unsigned f;

	if (n < 6 || is_placeholder(v, n) || looks_code(v, n))
		return 0;
	f = classes(v, n, &sym);
	if ((f & (C_DIG | C_UP)) || sym)
		return f != C_DIG || n >= 12;
	return n >= 10 && entropy(v, n) >= 3.0;
}

/* Valid padded standard base64 whose decoding reads as text. */
static int b64_texty(struct am_redact *r, const uint8_t *v, size_t n, int anybytes);

/* Which rule, if any, the value under a key of class kc falls to. */
static int
gate(struct am_redact *r, int kc, const uint8_t *v, size_t n)
{
	switch (kc) {
	case KC_SECRET:
		return gate_generic(v, n, 0) ? R_GENERIC : -1;
	case KC_WEAK:
		return gate_generic(v, n, 1) ? R_GENERIC : -1;
	case KC_AWS:
		return gate_generic(v, n, 0) ? R_AWS_SECRET : -1;
	case KC_PASSWORD:
		return gate_password(v, n) ? R_PASSWORD : -1;
	case KC_CLI:
		return gate_password(v, n) || gate_generic(v, n, 0) ? R_CLI : -1;
	case KC_NETRC:
		return n >= 1 && !is_placeholder(v, n) ? R_NETRC : -1;
	case KC_AUTHZ:
		return n >= 4 && !is_placeholder(v, n) ? R_AUTHZ : -1;
	case KC_COOKIE:
		return n >= 4 && !is_placeholder(v, n) ? R_COOKIE : -1;
	case KC_APIHDR:
		return n >= 8 && !is_placeholder(v, n) ? R_APIKEY_HDR : -1;
	case KC_DOCKER:
		return n >= 8 && !is_placeholder(v, n) && !looks_code(v, n) ? R_DOCKER : -1;
	case KC_AZURE:
		return n >= 16 && !is_placeholder(v, n) ? R_AZURE : -1;
	case KC_K8S_DATA:
		/* Secret data is base64; short binary-looking values under an
		 * unrelated "data" key are let through */
		return n >= 8 && b64_texty(r, v, n, n >= 24) ? R_K8S : -1;
	case KC_K8S_SDATA:
		return n >= 1 && !is_placeholder(v, n) ? R_K8S : -1;
	}
	return -1;
}

/* ---- key classification ---------------------------------------------- */

static const char *const prompt_keys[] = {
	"prompt", "messages", "content", "system", "instructions", "input", "query",
	"text", "completion", "output", "response", "choices", "arguments",
	"toolinput", "tooloutput", "toolresult", "stdout", "stderr", "thinking",
	"reasoning", "transcript", "body", "attachments",
};

static int
ends(const char *s, size_t n, const char *suf, size_t *at)
{
	size_t m = strlen(suf);

	if (m > n || memcmp(s + n - m, suf, m) != 0)
		return 0;
	*at = n - m;
	return 1;
}

/* Does the suffix starting at orig[at] start a word (after _ - . or camelCase)? */
static int
word_start(const uint8_t *orig, size_t at)
{
	if (at == 0)
		return 1;
	if (strchr("_-. ", orig[at - 1]) && orig[at - 1])
		return 1;
	return (ctab[orig[at]] & C_UP) && (ctab[orig[at - 1]] & C_LO);
}

/* The last three bytes of every key classify_key() knows, lowercased: a
 * cheap first test, since most keys ("status", "ts", "04") are nothing. */
static const char *const key_tails[] = {
	"ken", "ret", "ord", "swd", "ase", "pwd", "ass", "key", "als", "ial",
	"ion", "kie", "ies", "uth", "ata",
};
static const char *const prompt_tails[] = {
	"mpt", "ges", "ent", "tem", "ons", "put", "ery", "ext", "ion", "nse",
	"ces", "nts", "ult", "out", "err", "ing", "ipt", "ody",
};

static int
key_tail_known(const uint8_t *k, size_t n, int json)
{
	char t[3];

	if (n < 3)
		return 0;
	t[0] = (char)lower(k[n - 3]);
	t[1] = (char)lower(k[n - 2]);
	t[2] = (char)lower(k[n - 1]);
	for (size_t i = 0; i < AM_ARRAY_LEN(key_tails); i++)
		if (!memcmp(t, key_tails[i], 3))
			return 1;
	if (json)
		for (size_t i = 0; i < AM_ARRAY_LEN(prompt_tails); i++)
			if (!memcmp(t, prompt_tails[i], 3))
				return 1;
	return 0;
}

static int
classify_key(const uint8_t *k, size_t n, int json)
{
	char lk[JKEYMAX + 1], nk[JKEYMAX + 1];
	size_t ln = 0, nn = 0, at;

	if (n == 0 || n > JKEYMAX || !key_tail_known(k, n, json))
		return KC_NONE;
	for (size_t i = 0; i < n; i++) {
		lk[ln++] = (char)lower(k[i]);
		if (k[i] != '_' && k[i] != '-' && k[i] != '.')
			nk[nn++] = (char)lower(k[i]);
	}
	lk[ln] = nk[nn] = 0;
	if (!strcmp(lk, "authorization") || !strcmp(lk, "proxy-authorization") ||
	    !strcmp(lk, "proxy_authorization"))
		return KC_AUTHZ;
	if (!strcmp(lk, "cookie") || !strcmp(lk, "set-cookie") || !strcmp(lk, "cookies"))
		return KC_COOKIE;
	if (!strcmp(lk, "x-api-key") || !strcmp(lk, "api-key") || !strcmp(lk, "x-auth-token") ||
	    !strcmp(lk, "x-goog-api-key") || !strcmp(lk, "x-access-token") ||
	    !strcmp(lk, "private-token") || !strcmp(lk, "x-vault-token") ||
	    !strcmp(lk, "x-amz-security-token"))
		return KC_APIHDR;
	if (!strcmp(lk, "auth") || !strcmp(lk, "identitytoken") || !strcmp(lk, "registrytoken"))
		return KC_DOCKER;
	if (!strcmp(nk, "accountkey") || !strcmp(nk, "sharedaccesskey"))
		return KC_AZURE;
	if (json)
		for (size_t i = 0; i < AM_ARRAY_LEN(prompt_keys); i++)
			if (!strcmp(nk, prompt_keys[i]))
				return KC_PROMPT;
	if (ends(nk, nn, "publickey", &at) || ends(nk, nn, "pubkey", &at) ||
	    ends(nk, nn, "tokens", &at) || ends(lk, ln, "_file", &at) ||
	    ends(lk, ln, "_path", &at) || ends(lk, ln, "_env", &at))
		return KC_NONE;
	if (strstr(nk, "aws") && strstr(nk, "secret"))
		return KC_AWS;
	if (ends(nk, nn, "password", &at) || ends(nk, nn, "passwd", &at) ||
	    ends(nk, nn, "passphrase", &at))
		return KC_PASSWORD;
	if ((ends(lk, ln, "pwd", &at) || ends(lk, ln, "pass", &at)) && word_start(k, at))
		return KC_PASSWORD;
	if (ends(nk, nn, "secret", &at) || ends(nk, nn, "token", &at) ||
	    ends(nk, nn, "apikey", &at) || ends(nk, nn, "accesskey", &at) ||
	    ends(nk, nn, "secretkey", &at) || ends(nk, nn, "privatekey", &at) ||
	    ends(nk, nn, "credentials", &at) || ends(nk, nn, "credential", &at) ||
	    ends(nk, nn, "authkey", &at) || ends(nk, nn, "signingkey", &at) ||
	    ends(nk, nn, "encryptionkey", &at) || ends(nk, nn, "masterkey", &at) ||
	    ends(nk, nn, "sessionkey", &at))
		return KC_SECRET;
	if (ends(lk, ln, "key", &at) && at > 0 && word_start(k, at))
		return KC_WEAK;
	return KC_NONE;
}

/* ---- the region scanner ----------------------------------------------- */

struct scan {
	struct am_redact *r;
	const uint8_t *b;	/* b[len] is readable and 0 */
	size_t len, from, end;
	int final, depth;
	struct te *te;		/* streaming state, NULL in nested scans */
	struct hits *hits;
	size_t stop;		/* where the loop stopped */
	/* an open match */
	int open;
	size_t open_s, open_skip;
	uint16_t open_rule, open_mask;
};

#define NOMATCH 0
#define OPENED ((size_t)-1)

static int
has(const struct scan *sc, size_t p, const char *s, size_t n)
{
	return p + n <= sc->len && memcmp(sc->b + p, s, n) == 0;
}

static size_t
run(const struct scan *sc, size_t i, uint16_t mask)
{
	while (i < sc->len && (ctab[sc->b[i]] & mask))
		i++;
	return i;
}

static void
hit(struct scan *sc, size_t s, size_t e, int rule)
{
	uint8_t tag[3];

	tag_of(sc->r, sc->b + s, e - s, tag);
	hits_add(sc->hits, s, e, (uint16_t)rule, tag);
}

static size_t
open_at(struct scan *sc, size_t s, int kind, int rule, uint16_t mask, size_t skip)
{
	sc->open = kind;
	sc->open_s = s;
	sc->open_rule = (uint16_t)rule;
	sc->open_mask = mask;
	sc->open_skip = skip;
	return OPENED;
}

/* A token of prefix plen then a run of mask, at least minlen long. */
static size_t
tok(struct scan *sc, size_t s, size_t plen, uint16_t mask, size_t minlen, int rule)
{
	size_t e = run(sc, s + plen, mask);

	if (e - (s + plen) < minlen)
		return NOMATCH;
	if (e == sc->len && !sc->final)
		return open_at(sc, s, OPEN_TOKEN, rule, mask, 0);
	hit(sc, s, e, rule);
	return e;
}

static int
near_word(const struct scan *sc, size_t p, size_t back, const char *w)
{
	size_t lo = p > back ? p - back : 0;

	return ci_contains(sc->b + lo, p - lo, w);
}

/* SK/AC + 32 lowercase hex, only near the word "twilio". */
static size_t
m_twilio(struct scan *sc, size_t p)
{
	size_t e = run(sc, p + 2, C_HEX);

	if (e - p != 34 || (ctab[sc->b[e]] & C_ALNUM))
		return NOMATCH;
	if (!near_word(sc, p, 256, "twilio"))
		return NOMATCH;
	hit(sc, p, e, R_TWILIO);
	return e;
}

static size_t
m_aws_id(struct scan *sc, size_t p)
{
	static const char *const pfx[] = {
		"AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA",
		"ANVA", "APKA", "AROA", "ASCA",
	};
	size_t e;

	for (size_t i = 0; i < AM_ARRAY_LEN(pfx); i++) {
		if (!has(sc, p, pfx[i], 4))
			continue;
		e = run(sc, p + 4, C_UP | C_DIG);
		if (e - p != 20 || (ctab[sc->b[e]] & C_ALNUM))
			return NOMATCH;
		if (ci_contains(sc->b + p, 20, "example"))
			return e;
		hit(sc, p, e, R_AWS_KEY_ID);
		return e;
	}
	return NOMATCH;
}

/* Decode up to cap bytes of base64url at [s,e) into out; returns length. */
static size_t
b64url_small(const uint8_t *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n && o < cap; i++) {
		int v, c = s[i];

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-' || c == '+')
			v = 62;
		else if (c == '_' || c == '/')
			v = 63;
		else
			break;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

static size_t
m_jwt(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t h = run(sc, p, C_TOK), e, dots = 0, n;
	uint8_t hdr[768];
	int rule = R_JWT;

	if (h - p < 10 || b[h] != '.')
		return NOMATCH;
	e = run(sc, p, C_JWT);
	for (size_t i = h; i < e; i++)
		dots += b[i] == '.';
	if (run(sc, h + 1, C_TOK) - (h + 1) < 8 || dots < 2)
		return NOMATCH;
	n = b64url_small(b + p, h - p, hdr, sizeof(hdr));
	if (ci_contains(hdr, n, "am-delegation+jwt"))
		rule = R_AMDEL;
	if (e == sc->len && !sc->final)
		return open_at(sc, p, OPEN_TOKEN, rule, C_JWT, 0);
	while (b[e - 1] == '.')
		e--;
	hit(sc, p, e, rule);
	return e;
}

/* Feed the PEM end matcher one byte; 1 when "-----END ...-----" completed. */
static int
pem_step(int *k, int *st, int *dash, int *lab, int c)
{
	static const char P[] = "-----END ";

	if (*st == 0) {
		if (c == P[*k]) {
			if (++*k == 9) {
				*st = 1;
				*dash = *lab = 0;
			}
		} else if (c == '-') {
			*k = *k == 5 ? 5 : 1;
		} else {
			*k = 0;
		}
		return 0;
	}
	if (c == '-') {
		if (++*dash == 5)
			return 1;
	} else {
		*dash = 0;
		if (++*lab > 100 || c == '\n') {
			*st = 0;
			*k = 0;
		}
	}
	return 0;
}

static size_t
m_pem(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t q = p + 11, hdr;
	int k = 0, st = 0, dash = 0, lab = 0;

	while (q < sc->len && q - p < 100 && b[q] != '\n' && !has(sc, q, "-----", 5))
		q++;
	if (!has(sc, q, "-----", 5))
		return NOMATCH;
	if (!(q - p >= 22 && memcmp(b + q - 11, "PRIVATE KEY", 11) == 0) &&
	    !(q - p >= 28 && memcmp(b + q - 17, "PRIVATE KEY BLOCK", 17) == 0))
		return NOMATCH;
	hdr = q + 5;
	for (q = hdr; q < sc->len; q++)
		if (pem_step(&k, &st, &dash, &lab, b[q])) {
			hit(sc, p, q + 1, R_PKEY);
			return q + 1;
		}
	if (!sc->final)
		return open_at(sc, p, OPEN_PEM, R_PKEY, 0, hdr - p);
	hit(sc, p, sc->len, R_PKEY);
	return sc->len;
}

/* Start of the line holding p, or -1 if not within back bytes. */
static long
line_start(const struct scan *sc, size_t p, size_t back)
{
	size_t lo = p > back ? p - back : 0, q = p;

	while (q > lo && sc->b[q - 1] != '\n')
		q--;
	if (q == lo && lo > 0 && sc->b[q - 1] != '\n')
		return -1;
	return (long)q;
}

/* Value after position v: quoted (content) or a run of mask; [*vs,*ve). */
static int
value_at(const struct scan *sc, size_t v, uint16_t mask, size_t *vs, size_t *ve, int *quoted)
{
	const uint8_t *b = sc->b;
	size_t e;

	*quoted = 0;
	if (b[v] == '\\' && b[v + 1] == '"') {
		*vs = v + 2;
		for (e = *vs; e < sc->len && e - *vs < QMAX && b[e] != '\n'; e++)
			if (b[e] == '\\' && b[e + 1] == '"')
				break;
		*ve = e;
		*quoted = 1;
		return 1;
	}
	if (b[v] == '"' || b[v] == '\'' || b[v] == '`') {
		int q = b[v];

		*vs = v + 1;
		for (e = *vs; e < sc->len && e - *vs < QMAX && b[e] != q && b[e] != '\n'; e++)
			if (b[e] == '\\' && q == '"' && e + 1 < sc->len && b[e + 1] != '\n')
				e++;
		*ve = e;
		*quoted = 1;
		return 1;
	}
	*vs = v;
	*ve = run(sc, v, mask);
	return *ve > v;
}

static size_t prefix(struct scan *sc, size_t p);

/* Judge value [vs,ve) under key class kc; add a hit, or hand a known
 * token prefix to its own rule. */
static size_t
judge(struct scan *sc, int kc, size_t vs, size_t ve)
{
	int rule;

	if (vs < ve && (ctab[sc->b[vs]] & C_PFX)) {
		size_t e = prefix(sc, vs);

		if (e != NOMATCH)
			return e;
	}
	rule = gate(sc->r, kc, sc->b + vs, ve - vs);
	if (rule < 0)
		return NOMATCH;
	hit(sc, vs, ve, rule);
	return ve;
}

/* Header values run to the end of the line; Authorization keeps its scheme. */
static size_t
header_value(struct scan *sc, int kc, size_t v, int quote)
{
	const uint8_t *b = sc->b;
	size_t e = v, w;

	while (e < sc->len && b[e] != '\n' && b[e] != '\r' && b[e] != quote)
		e++;
	if (kc == KC_AUTHZ) {
		w = v;
		while (w < e && ((ctab[b[w]] & (C_UP | C_LO)) || b[w] == '-'))
			w++;
		if (w > v && w < e && b[w] == ' ') {
			while (w < e && b[w] == ' ')
				w++;
			v = w;
		}
	}
	if (e == sc->len && !sc->final)
		return open_at(sc, v, OPEN_LINE, kc == KC_AUTHZ ? R_AUTHZ : kc == KC_COOKIE ? R_COOKIE : R_APIKEY_HDR, 0, 0);
	while (e > v && (b[e - 1] == ' ' || b[e - 1] == '\t'))
		e--;
	return judge(sc, kc, v, e);
}

static size_t
m_url(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t s = p, u, ps, pe;

	while (s > 0 && p - s < 32 && ((ctab[b[s - 1]] & C_ALNUM) || b[s - 1] == '+' || b[s - 1] == '.' || b[s - 1] == '-'))
		s--;
	if (p - s < 2)
		return NOMATCH;
	u = p + 3;
	while (u < sc->len && u - p < 260 && !strchr("/?#@: \t\r\n\"'<>\\", b[u]))
		u++;
	if (b[u] != ':')
		return NOMATCH;
	ps = pe = u + 1;
	while (pe < sc->len && pe - ps < 256 && !strchr("/?#@ \t\r\n\"'<>\\", b[pe]))
		pe++;
	if (b[pe] != '@' || pe == ps || is_placeholder(b + ps, pe - ps))
		return NOMATCH;
	hit(sc, ps, pe, R_URLPASS);
	return pe;
}

/* YAML data:/stringData: blocks, tracked through the ':' trigger. */
static int
k8s_track(struct scan *sc, size_t ks, size_t ke, size_t p, int *kc)
{
	struct te *te = sc->te;
	long ls;
	size_t ind, v;

	if (te == NULL || sc->b[p] != ':')
		return 0;
	ls = line_start(sc, ks, 512);
	if (ls < 0)
		return 0;
	for (ind = (size_t)ls; ind < ks && (sc->b[ind] == ' ' || sc->b[ind] == '-'); ind++)
		;
	if (ind != ks)
		return 0;
	ind -= (size_t)ls;
	v = p + 1;
	while (sc->b[v] == ' ' || sc->b[v] == '\t')
		v++;
	if ((has(sc, ks, "data", 4) && ke - ks == 4) || (has(sc, ks, "stringData", 10) && ke - ks == 10)) {
		if (sc->b[v] == '\n' || sc->b[v] == '\r' || sc->b[v] == '#' || v >= sc->len) {
			te->k8s = ke - ks == 4 ? 1 : 2;
			te->k8s_indent = ind;
			return 1;
		}
	}
	if (te->k8s && ind > te->k8s_indent) {
		*kc = te->k8s == 1 ? KC_K8S_DATA : KC_K8S_SDATA;
		return 0;
	}
	te->k8s = 0;
	return 0;
}

/* '=' or ':' : a key before it, a value after it. */
static size_t
m_assign(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	int sep = b[p], kc = KC_NONE, quoted, k8s = -1;
	size_t q, ks, ke, v, vs, ve, lo;

	if (sep == ':') {
		if (b[p + 1] == '/' && b[p + 2] == '/')
			return m_url(sc, p);
		if (b[p + 1] == ':')
			return NOMATCH;
	} else if (b[p + 1] == '=' || (p > 0 && (b[p - 1] == '=' || b[p - 1] == '!' || b[p - 1] == '<' ||
						 b[p - 1] == '>'))) {
		return NOMATCH;
	}
	lo = p > KEYMAX + 8 ? p - KEYMAX - 8 : 0;
	q = p;
	while (q > lo && (b[q - 1] == ' ' || b[q - 1] == '\t'))
		q--;
	if (q > lo && (b[q - 1] == '"' || b[q - 1] == '\'')) {
		q--;
		if (q > lo && b[q - 1] == '\\')
			q--;
	}
	ke = q;
	while (q > lo && (ctab[b[q - 1]] & C_KEY))
		q--;
	ks = q;
	if (ke - ks < 2 || ke - ks > KEYMAX)
		return NOMATCH;
	if (ks >= 10 && memcmp(b + ks - 10, "[REDACTED:", 10) == 0)
		return NOMATCH;
	if (sc->te && (sc->te->k8s || (ke - ks == 4 && !memcmp(b + ks, "data", 4)) ||
		       (ke - ks == 10 && !memcmp(b + ks, "stringData", 10)))) {
		if (k8s_track(sc, ks, ke, p, &kc))
			return NOMATCH;
		if (kc != KC_NONE)
			k8s = kc;
	}
	if (kc == KC_NONE)
		kc = classify_key(b + ks, ke - ks, 0);
	if (kc == KC_NONE && ke - ks == 3 && sep == '=' && !memcmp(b + ks, "sig", 3) && ks > 0 &&
	    (b[ks - 1] == '&' || b[ks - 1] == '?'))
		kc = KC_AZURE; /* a SAS token's signature */
	if (kc == KC_NONE)
		return NOMATCH;
	if (b[ks] == '-' && b[ks + 1] == '-')
		kc = KC_CLI;
	v = p + 1;
	if (sep == '=' && b[v] == '>')
		v++;
	while (v < sc->len && v - p < 16 && (b[v] == ' ' || b[v] == '\t'))
		v++;
	if ((kc == KC_AUTHZ || kc == KC_COOKIE || kc == KC_APIHDR) && sep == ':' &&
	    b[v] != '"' && b[v] != '\'' && !(b[v] == '\\' && b[v + 1] == '"'))
		return header_value(sc, kc, v, ks > 0 && (b[ks - 1] == '"' || b[ks - 1] == '\'') ? b[ks - 1] : '\n');
	if (!value_at(sc, v, C_VAL, &vs, &ve, &quoted))
		return NOMATCH;
	if (!quoted && ve < sc->len && (b[ve] == '(' || b[ve] == '['))
		return NOMATCH;
	if (!quoted && ve == sc->len && !sc->final && kc != KC_WEAK)
		return open_at(sc, vs, OPEN_TOKEN, k8s >= 0 ? R_K8S : kc == KC_PASSWORD ? R_PASSWORD : R_GENERIC, C_VAL, 0);
	if (kc == KC_AUTHZ) {
		size_t w = vs;

		while (w < ve && ((ctab[b[w]] & (C_UP | C_LO)) || b[w] == '-'))
			w++;
		if (w > vs && w < ve && b[w] == ' ') {
			while (w < ve && b[w] == ' ')
				w++;
			vs = w;
		}
	}
	return judge(sc, kc, vs, ve);
}

static int
mysql_context(const struct scan *sc, size_t p)
{
	static const char *const cmds[] = {
		"mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump",
		"mysqlimport", "mysqlcheck", "mysqlsh", "sshpass",
	};
	long ls = line_start(sc, p, 512);
	const uint8_t *b = sc->b;

	if (ls < 0)
		return 0;
	for (size_t i = (size_t)ls; i < p; i++) {
		if (i > (size_t)ls && (ctab[b[i - 1]] & C_ALNUM))
			continue;
		for (size_t c = 0; c < AM_ARRAY_LEN(cmds); c++) {
			size_t m = strlen(cmds[c]);

			if (i + m <= p && memcmp(b + i, cmds[c], m) == 0 &&
			    (b[i + m] == ' ' || b[i + m] == '\t'))
				return 1;
		}
	}
	return 0;
}

/* '-': a PEM private key, --password X, mysql -pX. */
static size_t
m_dash(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t n, ne, v, vs, ve;
	int quoted, prev = p > 0 ? b[p - 1] : ' ';
	char name[48];
	size_t at;

	if (b[p + 1] == '-' && b[p + 2] == '-' && has(sc, p, "-----BEGIN ", 11))
		return m_pem(sc, p);
	if (!(ctab[prev] & C_SP) && prev != '\n' && prev != '"' && prev != '\'' && prev != '(' && prev != '=')
		return NOMATCH;
	if (b[p + 1] == '-') {
		n = p + 2;
		ne = n;
		while (ne < sc->len && ne - n < 40 && ((ctab[b[ne]] & C_ALNUM) || b[ne] == '-'))
			ne++;
		if (ne - n < 4 || ne - n >= sizeof(name))
			return NOMATCH;
		for (size_t i = n; i < ne; i++)
			name[i - n] = (char)lower(b[i]);
		name[ne - n] = 0;
		if (!(ends(name, ne - n, "password", &at) || ends(name, ne - n, "passwd", &at) ||
		      ends(name, ne - n, "token", &at) || ends(name, ne - n, "secret", &at) ||
		      ends(name, ne - n, "api-key", &at) || ends(name, ne - n, "apikey", &at) ||
		      (ends(name, ne - n, "pass", &at) && (at == 0 || name[at - 1] == '-'))))
			return NOMATCH;
		if (b[ne] == '=')
			v = ne + 1;
		else if (b[ne] == ' ' || b[ne] == '\t') {
			v = ne;
			while (v < sc->len && (b[v] == ' ' || b[v] == '\t'))
				v++;
			if (b[v] == '-')
				return ne;
		} else
			return NOMATCH;
	} else if (b[p + 1] == 'p' && mysql_context(sc, p)) {
		v = p + 2;
		if (b[v] == ' ') {
			while (b[v] == ' ')
				v++;
			if (b[v] == '-')
				return NOMATCH;
		}
	} else {
		return NOMATCH;
	}
	if (!value_at(sc, v, C_VAL, &vs, &ve, &quoted))
		return NOMATCH;
	if (!quoted && ve == sc->len && !sc->final)
		return open_at(sc, vs, OPEN_TOKEN, R_CLI, C_VAL, 0);
	return judge(sc, KC_CLI, vs, ve);
}

/* .netrc: "machine h login u password p", or a line "password p". */
static size_t
m_netrc(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t v = p + 8, ve;
	long ls;
	int ctx = 0, strong = 0;

	if (!(b[v] == ' ' || b[v] == '\t'))
		return NOMATCH;
	while (b[v] == ' ' || b[v] == '\t')
		v++;
	ls = line_start(sc, p, 512);
	if (ls < 0)
		return NOMATCH;
	for (size_t i = (size_t)ls; i < p; i++)
		if (!(ctab[b[i]] & C_SP))
			ctx = 1;
	if (!ctx)
		strong = 1;
	else if (near_word(sc, p, p - (size_t)ls, "machine ") || near_word(sc, p, p - (size_t)ls, "login ") ||
		 near_word(sc, p, p - (size_t)ls, "default "))
		strong = 2;
	if (!strong)
		return NOMATCH;
	ve = v;
	while (ve < sc->len && !(ctab[b[ve]] & C_DELIM))
		ve++;
	if (ve == v)
		return NOMATCH;
	if (strong == 1 && gate(sc->r, KC_PASSWORD, b + v, ve - v) < 0)
		return NOMATCH;
	if (ve == sc->len && !sc->final)
		return open_at(sc, v, OPEN_TOKEN, R_NETRC, C_VAL, 0);
	return judge(sc, KC_NETRC, v, ve);
}

static size_t
m_sk(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t e, n;
	unsigned f = 0;

	if (has(sc, p, "sk_live_", 8) || has(sc, p, "sk_test_", 8))
		return tok(sc, p, 8, C_ALNUM, 16, R_STRIPE);
	if (b[p + 1] != 'k' || b[p + 2] != '-')
		return NOMATCH;
	if (has(sc, p, "sk-ant-", 7))
		return tok(sc, p, 7, C_TOK, 30, R_ANTHROPIC);
	e = run(sc, p + 3, C_TOK);
	n = e - (p + 3);
	for (size_t i = p + 3; i < e; i++)
		f |= ctab[b[i]] & C_ALNUM;
	if (n < 20 || popcount3(f) < 2 || !(f & C_DIG))
		return NOMATCH;
	if (!(has(sc, p, "sk-proj-", 8) || has(sc, p, "sk-svcacct-", 11) ||
	      has(sc, p, "sk-admin-", 9)) && (n < 32 || popcount3(f) < 3))
		return NOMATCH;
	return tok(sc, p, 3, C_TOK, 20, R_OPENAI);
}

/* A word start carrying the first letter of a known prefix. */
static size_t
prefix(struct scan *sc, size_t p)
{
	const uint8_t *b = sc->b;
	size_t e;

	switch (b[p]) {
	case 'A':
		if (b[p + 1] == 'I' && b[p + 2] == 'z' && b[p + 3] == 'a')
			return tok(sc, p, 4, C_TOK, 30, R_GOOGLE);
		if (has(sc, p, "AGE-SECRET-KEY-1", 16))
			return tok(sc, p, 16, C_UP | C_DIG, 50, R_AGE);
		if (b[p + 1] == 'C' && (ctab[b[p + 2]] & C_HEX))
			return m_twilio(sc, p);
		if (ctab[b[p + 1]] & C_UP)
			return m_aws_id(sc, p);
		return NOMATCH;
	case 'S':
		if (b[p + 1] == 'G' && b[p + 2] == '.') {
			e = run(sc, p + 3, C_TOK);
			if (e - p < 19 || b[e] != '.' || run(sc, e + 1, C_TOK) - (e + 1) < 16)
				return NOMATCH;
			return tok(sc, p, 3, C_JWT, 33, R_SENDGRID);
		}
		if (b[p + 1] == 'K' && (ctab[b[p + 2]] & C_HEX))
			return m_twilio(sc, p);
		return NOMATCH;
	case 'g':
		if (b[p + 1] == 'h' && strchr("pousr", b[p + 2]) && b[p + 2] && b[p + 3] == '_')
			return tok(sc, p, 4, C_ALNUM, 30, R_GITHUB);
		if (has(sc, p, "github_pat_", 11))
			return tok(sc, p, 11, C_ALNUM | C_TOK, 40, R_GITHUB_FG);
		if (b[p + 1] == 'l') {
			if (has(sc, p, "glpat-", 6) || has(sc, p, "glptt-", 6))
				return tok(sc, p, 6, C_TOK, 20, R_GITLAB);
			if (has(sc, p, "gldt-", 5) || has(sc, p, "glrt-", 5))
				return tok(sc, p, 5, C_TOK, 20, R_GITLAB);
		}
		return NOMATCH;
	case 'x':
		if (b[p + 1] == 'o' && b[p + 2] == 'x' && strchr("abposr", b[p + 3]) && b[p + 3] && b[p + 4] == '-')
			return tok(sc, p, 5, C_ALNUM | C_TOK, 10, R_SLACK);
		if (has(sc, p, "xapp-", 5))
			return tok(sc, p, 5, C_TOK, 10, R_SLACK);
		return NOMATCH;
	case 'h':
		if (b[p + 1] == 'f' && b[p + 2] == '_')
			return tok(sc, p, 3, C_ALNUM, 30, R_HF);
		if (b[p + 1] == 'v' && strchr("sbr", b[p + 2]) && b[p + 2] && b[p + 3] == '.')
			return tok(sc, p, 4, C_TOK, 20, R_VAULT);
		if (has(sc, p, "hooks.slack.com/", 16)) {
			size_t s = p + 16;

			if (has(sc, s, "services/", 9))
				s += 9;
			else if (has(sc, s, "workflows/", 10))
				s += 10;
			else if (has(sc, s, "triggers/", 9))
				s += 9;
			else
				return NOMATCH;
			e = run(sc, s, C_SLK);
			if (e - s < 20)
				return NOMATCH;
			if (e == sc->len && !sc->final)
				return open_at(sc, s, OPEN_TOKEN, R_SLACK_HOOK, C_SLK, 0);
			hit(sc, s, e, R_SLACK_HOOK);
			return e;
		}
		return NOMATCH;
	case 's':
		return m_sk(sc, p);
	case 'r':
		if (has(sc, p, "rk_live_", 8) || has(sc, p, "rk_test_", 8))
			return tok(sc, p, 8, C_ALNUM, 16, R_STRIPE);
		return NOMATCH;
	case 'w':
		if (has(sc, p, "whsec_", 6))
			return tok(sc, p, 6, C_ALNUM, 24, R_STRIPE);
		return NOMATCH;
	case 'n':
		if (b[p + 1] == 'p' && b[p + 2] == 'm' && b[p + 3] == '_')
			return tok(sc, p, 4, C_ALNUM, 30, R_NPM);
		return NOMATCH;
	case 'p':
		if (has(sc, p, "pypi-AgE", 8))
			return tok(sc, p, 5, C_TOK, 50, R_PYPI);
		if (has(sc, p, "password", 8))
			return m_netrc(sc, p);
		return NOMATCH;
	case 'e':
		if (b[p + 1] == 'y' && b[p + 2] == 'J')
			return m_jwt(sc, p);
		return NOMATCH;
	case 'd':
		if (b[p + 1] == 'o' && strchr("por", b[p + 2]) && b[p + 2] && has(sc, p + 3, "_v1_", 4))
			return tok(sc, p, 7, C_HEX, 60, R_DO);
		return NOMATCH;
	}
	return NOMATCH;
}

/* ---- decoding and re-scanning ---------------------------------------- */

static void scan_run(struct scan *sc);

/* Re-scan decoded bytes dec[0,n) whose byte i came from the input unit
 * [dsrc[i], dend[i]); map hits back to whole units. */
static void
rescan(struct scan *sc, size_t n)
{
	struct am_redact *r = sc->r;
	struct scan ns = { .r = r, .b = r->dec, .len = n, .from = 0, .end = n, .final = 1,
			   .depth = 1, .te = NULL, .hits = &r->nhits };

	r->dec[n] = 0;
	r->nhits.n = 0;
	scan_run(&ns);
	for (size_t i = 0; i < r->nhits.n; i++) {
		struct hit *h = &r->nhits.v[i];

		hits_add(sc->hits, r->dsrc[h->s], r->dend[h->e - 1], h->rule, h->tag);
	}
}

static int
texty(const uint8_t *p, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
			bad++;
	return bad * 20 <= n;
}

static int
b64v(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static int
b64_texty(struct am_redact *r, const uint8_t *v, size_t n, int anybytes)
{
	size_t m = n, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (m > 0 && v[m - 1] == '=')
		m--;
	if (n % 4 != 0 || n - m > 2 || n > DECMAX)
		return 0;
	for (size_t i = 0; i < m; i++) {
		int x = b64v(v[i]);

		if (x < 0 || v[i] == '-' || v[i] == '_')
			return 0;
		acc = (acc << 6) | (uint32_t)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			r->dec[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o > 0 && (anybytes || texty(r->dec, o));
}

/* Base64 run [s,e) (may hold line breaks of wrapped output). */
static void
decode_b64(struct scan *sc, size_t s, size_t e)
{
	struct am_redact *r = sc->r;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0, qstart = s, nq = 0, qout = 0, last = s;

	for (size_t i = s; i < e; i++) {
		int x = b64v(sc->b[i]);

		if (x < 0)
			continue;
		if (nq % 4 == 0)
			qstart = i;
		nq++;
		last = i;
		acc = (acc << 6) | (uint32_t)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			r->dec[o] = (uint8_t)(acc >> bits);
			r->dsrc[o++] = (uint32_t)qstart;
		}
		if (nq % 4 == 0) {
			for (; qout < o; qout++)
				r->dend[qout] = (uint32_t)(i + 1);
		}
	}
	if (o < 12 || !texty(r->dec, o))
		return;
	last++;
	while (last < sc->len && sc->b[last] == '=' && nq % 4 != 0) {
		last++;
		nq++;
	}
	for (; qout < o; qout++)
		r->dend[qout] = (uint32_t)last;
	rescan(sc, o);
}

static size_t
utf8_put(uint8_t *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | (cp >> 18));
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

static int
hex4(const uint8_t *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return 0;
		*v = *v * 16 + (unsigned)h;
	}
	return 1;
}

/* Segment [s,e) holding %XX or \uXXXX escapes. */
static void
decode_seg(struct scan *sc, size_t s, size_t e)
{
	struct am_redact *r = sc->r;
	const uint8_t *b = sc->b;
	size_t o = 0, i = s;

	while (i < e) {
		unsigned cp, lo;
		size_t k, u = i;

		if (b[i] == '%' && i + 2 < e + 1 && hexval(b[i + 1]) >= 0 && hexval(b[i + 2]) >= 0) {
			r->dec[o] = (uint8_t)(hexval(b[i + 1]) * 16 + hexval(b[i + 2]));
			r->dend[o] = (uint32_t)(i + 3);
			r->dsrc[o++] = (uint32_t)u;
			i += 3;
			continue;
		}
		if (b[i] == '\\' && i + 5 < e + 1 && b[i + 1] == 'u' && hex4(b + i + 2, &cp)) {
			i += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && i + 5 < e + 1 && b[i] == '\\' && b[i + 1] == 'u' &&
			    hex4(b + i + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			k = utf8_put(r->dec + o, cp);
			while (k--) {
				r->dend[o] = (uint32_t)i;
				r->dsrc[o++] = (uint32_t)u;
			}
			continue;
		}
		if (b[i] == '\\' && i + 1 < e && strchr("nrt\"\\/", b[i + 1]) && b[i + 1]) {
			int c = b[i + 1];

			r->dec[o] = (uint8_t)(c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c);
			r->dend[o] = (uint32_t)(i + 2);
			r->dsrc[o++] = (uint32_t)u;
			i += 2;
			continue;
		}
		r->dec[o] = b[i];
		r->dend[o] = (uint32_t)(i + 1);
		r->dsrc[o++] = (uint32_t)i++;
	}
	rescan(sc, o);
}

/* ---- the main loop ---------------------------------------------------- */

/* Does [s,e) hold both upper and lower case letters (base64 of text does)? */
static int
mixed_case(const uint8_t *b, size_t s, size_t e)
{
	unsigned f = 0;

	for (size_t i = s; i < e && (f & (C_UP | C_LO)) != (C_UP | C_LO); i++)
		f |= ctab[b[i]];
	return (f & (C_UP | C_LO)) == (C_UP | C_LO);
}

/* After a hit that ended at i: decode state restarts as a continuation. */
#define AFTER_HIT()                                                         \
	do {                                                                \
		uint16_t pk_ = ctab[b[i - 1]];                              \
		seg_on = !(pk_ & C_DELIM);                                  \
		seg_ok = 0;                                                 \
		b64_on = !!(pk_ & C_B64);                                   \
		b64_ok = 0;                                                 \
	} while (0)

static void
scan_run(struct scan *sc)
{
	const uint8_t *b = sc->b;
	size_t i = sc->from, end = sc->end, e;
	int seg_on = 0, seg_ok = 0, seg_esc = 0, b64_on = 0, b64_ok = 0;
	size_t seg_s = 0, b64_s = 0, b64_ls = 0;
	int dec = sc->depth == 0;

	if (i > 0) {
		uint16_t pk = ctab[b[i - 1]];

		seg_on = !(pk & C_DELIM);
		b64_on = !!(pk & C_B64);
		if (pk & C_ALNUM)
			while (ctab[b[i]] & C_ALNUM)
				i++;
	}
	while (i < end) {
		uint8_t c = b[i];
		uint16_t k = ctab[c];

		if (k & C_ALNUM) {
			size_t j;

			if (!seg_on) {
				seg_on = 1;
				seg_ok = dec;
				seg_s = i;
				seg_esc = 0;
			}
			if (!b64_on) {
				b64_on = 1;
				b64_ok = dec;
				b64_s = b64_ls = i;
			}
			if ((k & C_PFX) && pfx2_has(c, b[i + 1])) {
				e = prefix(sc, i);
				if (e == OPENED)
					goto opened;
				if (e != NOMATCH) {
					i = e;
					AFTER_HIT();
					continue;
				}
			}
			j = i + 1;
			while (ctab[b[j]] & C_ALNUM)
				j++;
			i = j;
			continue;
		}
		if (k & C_DELIM) {
			if (seg_on && seg_ok && seg_esc && i - seg_s <= DECMAX)
				decode_seg(sc, seg_s, i);
			seg_on = 0;
		} else if (!seg_on) {
			seg_on = 1;
			seg_ok = dec;
			seg_s = i;
			seg_esc = 0;
		}
		if (!(k & C_B64)) {
			/* wrapped base64 (76 or 64 columns) continues on the next line */
			int wrap = b64_on && b64_ok && (c == '\n' || (c == '\r' && b[i + 1] == '\n')) &&
				   i - b64_ls >= 60 && i - b64_ls <= 80 && (i - b64_ls) % 4 == 0 &&
				   (ctab[b[i + (c == '\r') + 1]] & C_B64S) && i - b64_s < DECMAX;

			if (wrap) {
				b64_ls = i + (c == '\r') + 1;
			} else {
				if (b64_on && b64_ok && i - b64_s >= 20 && i - b64_s <= DECMAX &&
				    mixed_case(b, b64_s, i))
					decode_b64(sc, b64_s, i);
				b64_on = 0;
			}
		} else if (!b64_on) {
			b64_on = 1;
			b64_ok = dec;
			b64_s = b64_ls = i;
		}
		if (k & C_TRIG) {
			e = NOMATCH;
			switch (c) {
			case '=':
			case ':':
				e = m_assign(sc, i);
				break;
			case '-':
				e = m_dash(sc, i);
				break;
			case '%':
				if (hexval(b[i + 1]) >= 0 && hexval(b[i + 2]) >= 0)
					seg_esc = 1;
				break;
			case '\\':
				if (b[i + 1] == 'u' || b[i + 1] == 'n' || b[i + 1] == '"')
					seg_esc = 1;
				break;
			}
			if (e == OPENED)
				goto opened;
			if (e != NOMATCH && e > i) {
				i = e;
				AFTER_HIT();
				continue;
			}
		}
		i++;
	}
	if (sc->final && i >= sc->len) {
		if (seg_on && seg_ok && seg_esc && i - seg_s <= DECMAX)
			decode_seg(sc, seg_s, i);
		if (b64_on && b64_ok && i - b64_s >= 20 && i - b64_s <= DECMAX && mixed_case(b, b64_s, i))
			decode_b64(sc, b64_s, i);
	}
	sc->stop = i;
	return;
opened:
	sc->stop = sc->len;
}

/* ---- the streaming window --------------------------------------------- */

/* The buffers that hold text being scanned (secrets among it) come
 * straight from mmap and go back with munmap: the kernel zeroes the pages
 * before anyone else gets them, nothing of them stays in this process's
 * heap for a later allocation to find, and they are left out of core
 * dumps.  Wiping them with sodium_memzero before free() instead touched
 * every page of 2.6 MB, used or not: 2.5 ms for each scanner, most of
 * what recording one execution's argv cost. */
static void *
secret_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort(); /* like am_xmalloc */
	madvise(p, n, MADV_DONTDUMP);
	return p;
}

static void
secret_free(void *p, size_t n)
{
	if (p)
		munmap(p, n);
}

static void
te_init(struct te *te, struct am_redact *r, int mapped)
{
	memset(te, 0, sizeof(*te));
	te->r = r;
	te->mapped = mapped;
	te->lb = secret_alloc(TE_CAP + 8);
	te->lb[0] = 0;
	if (mapped) {
		te->map = am_xmalloc((TE_CAP + 8) * sizeof(*te->map));
		te->rb = secret_alloc(TE_RCAP + 16);
		te->map[0] = 0;
	}
}

static void
te_destroy(struct te *te)
{
	secret_free(te->lb, TE_CAP + 8);
	free(te->map);
	secret_free(te->rb, TE_RCAP + 16);
	free(te->hits.v);
	sodium_memzero(&te->hst, sizeof(te->hst));
	memset(te, 0, sizeof(*te));
}

static size_t
te_raw(const struct te *te, size_t i)
{
	return te->mapped ? te->map[i] : i;
}

static const char *
te_rawp(const struct te *te)
{
	return te->mapped ? te->rb : (const char *)te->lb;
}

/* Raw end of the unit holding logical byte e-1. */
static size_t
te_rawend(const struct te *te, size_t e)
{
	if (!te->mapped)
		return e;
	if (e == 0)
		return 0;
	while (e < te->llen && te->map[e] == te->map[e - 1])
		e++;
	return e < te->llen ? te->map[e] : te->rlen;
}

static int
hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s ? 1 : 0;
}

/* Emit logical [from, upto) with the hits (sorted, merged). */
static void
te_emit(struct te *te, size_t upto)
{
	struct am_redact *r = te->r;
	const char *raw = te_rawp(te);
	size_t pos = te_raw(te, te->from), rend = upto >= te->llen ? (te->mapped ? te->rlen : te->llen) : te_raw(te, upto);
	struct hits *h = &te->hits;

	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n; i++) {
		struct hit x = h->v[i];
		size_t rs, re;

		if (x.s >= upto)
			break;
		while (i + 1 < h->n && h->v[i + 1].s < x.e) {
			if (h->v[i + 1].e > x.e)
				x.e = h->v[i + 1].e;
			i++;
		}
		rs = te_raw(te, x.s);
		re = te_rawend(te, x.e);
		if (re <= pos)
			continue;
		if (rs < pos)
			rs = pos;
		out_raw(r, raw + pos, rs - pos);
		out_redact(r, raw + rs, re - rs, x.rule, x.tag);
		pos = re;
	}
	if (rend > pos)
		out_raw(r, raw + pos, rend - pos);
}

static void
te_reset(struct te *te)
{
	te->llen = te->from = te->rlen = 0;
	te->lb[0] = 0;
	if (te->mapped)
		te->map[0] = 0;
	te->hits.n = 0;
}

/* Bytes of an open match: hash logical, count raw as consumed; returns how
 * many logical bytes belong to it (n if it is still open). */
static size_t
open_span(struct te *te, const uint8_t *p, size_t n)
{
	size_t i = 0;

	switch (te->open) {
	case OPEN_TOKEN:
		while (i < n && (ctab[p[i]] & te->open_mask))
			i++;
		return i;
	case OPEN_LINE:
		while (i < n && p[i] != '\n' && p[i] != '\r')
			i++;
		return i;
	case OPEN_PEM:
		for (; i < n; i++)
			if (pem_step(&te->pem_k, &te->pem_st, &te->pem_dash, &te->pem_lab, p[i]))
				return i + 1;
		return n;
	}
	return n;
}

static void
open_close(struct te *te)
{
	struct am_redact *r = te->r;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_final(&te->hst, mac);
	record(r, te->open_rule, te->open_line, te->open_off, te->open_len);
	out_pseudonym(r, te->open_rule, mac);
	te->open = OPEN_NONE;
}

/* Feed bytes that are both logical and raw (plain text, a JSON run) to an
 * open match; returns bytes consumed. */
static size_t
open_feed(struct te *te, const uint8_t *p, size_t n)
{
	size_t k = open_span(te, p, n);

	crypto_auth_hmacsha256_update(&te->hst, p, k);
	count_in(te->r, p, k);
	te->open_len += k;
	if (k < n || (te->open == OPEN_PEM && k > 0 && te->pem_st == 1 && te->pem_dash == 5))
		open_close(te);
	return k;
}

static void
te_enter_open(struct te *te, const struct scan *sc)
{
	struct am_redact *r = te->r;
	size_t s = sc->open_s, rs = te_raw(te, s);
	const char *raw = te_rawp(te);
	size_t rlen = te->mapped ? te->rlen : te->llen;

	te->open = sc->open;
	te->open_rule = sc->open_rule;
	te->open_mask = sc->open_mask;
	te->open_line = r->line;
	te->open_off = r->off;
	te->open_len = rlen - rs;
	te->pem_k = te->pem_st = te->pem_dash = te->pem_lab = 0;
	crypto_auth_hmacsha256_init(&te->hst, r->salt, sizeof(r->salt));
	crypto_auth_hmacsha256_update(&te->hst, te->lb + s, te->llen - s);
	if (te->open == OPEN_PEM)
		for (size_t i = s + sc->open_skip; i < te->llen; i++)
			pem_step(&te->pem_k, &te->pem_st, &te->pem_dash, &te->pem_lab, te->lb[i]);
	count_in(r, raw + rs, rlen - rs);
	te_reset(te);
}

/* Choose where to stop deciding: at or after limit, at a point no decode
 * segment or base64 run crosses (or inside one too long to decode). */
static size_t
te_cut(const struct te *te, size_t limit)
{
	const uint8_t *b = te->lb;
	size_t p, hi = limit + DECMAX + 2;

	if (hi > te->llen)
		hi = te->llen;
	for (p = limit; p < hi; p++) {
		uint16_t k = ctab[b[p - 1]];

		if ((k & C_DELIM) && !((b[p - 1] == '\n' || b[p - 1] == '\r') && (ctab[b[p]] & C_B64)))
			return p;
	}
	for (p = limit; p < hi; p++)
		if (!(ctab[b[p - 1]] & (C_B64 | C_DELIM)))
			return p;
	return limit;
}

/* Decide and emit what can be decided; all of it when final. */
static void
te_process(struct te *te, int final)
{
	struct am_redact *r = te->r;
	struct scan sc;
	size_t end, upto, keep;

	if (te->llen <= te->from && !final)
		return;
	if (final) {
		end = te->llen;
	} else {
		if (te->llen < TE_K + 1 || te->llen - TE_K <= te->from)
			return;
		end = te_cut(te, te->llen - TE_K);
	}
	te->hits.n = 0;
	memset(&sc, 0, sizeof(sc));
	sc.r = r;
	sc.b = te->lb;
	sc.len = te->llen;
	sc.from = te->from;
	sc.end = end;
	sc.final = final;
	sc.te = te;
	sc.hits = &te->hits;
	scan_run(&sc);
	if (sc.open) {
		size_t n = 0;

		for (size_t i = 0; i < te->hits.n; i++)
			if (te->hits.v[i].s < sc.open_s) {
				if (te->hits.v[i].e > sc.open_s)
					te->hits.v[i].e = sc.open_s;
				te->hits.v[n++] = te->hits.v[i];
			}
		te->hits.n = n;
		te_emit(te, sc.open_s);
		te_enter_open(te, &sc);
		return;
	}
	upto = sc.stop > end ? sc.stop : end;
	for (size_t i = 0; i < te->hits.n; i++)
		if (te->hits.v[i].e > upto)
			upto = te->hits.v[i].e;
	if (upto > te->llen)
		upto = te->llen;
	if (te->mapped)
		while (upto < te->llen && upto > 0 && te->map[upto] == te->map[upto - 1])
			upto++;
	te_emit(te, upto);
	te->hits.n = 0;
	if (final || upto >= te->llen) {
		size_t k8s_ind = te->k8s_indent;
		int k8s = te->k8s;

		te_reset(te);
		if (!final) {
			te->k8s = k8s;
			te->k8s_indent = k8s_ind;
		}
		return;
	}
	/* keep left context */
	keep = upto > TE_LCTX ? upto - TE_LCTX : 0;
	memmove(te->lb, te->lb + keep, te->llen - keep);
	te->llen -= keep;
	te->lb[te->llen] = 0;
	if (te->mapped) {
		uint32_t rk = te->map[keep];

		memmove(te->rb, te->rb + rk, te->rlen - rk);
		te->rlen -= rk;
		memmove(te->map, te->map + keep, (te->llen + 1) * sizeof(*te->map));
		for (size_t i = 0; i <= te->llen; i++)
			te->map[i] -= rk;
	}
	te->from = upto - keep;
}

/* Plain text into an identity window. */
static void
te_push(struct te *te, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k;

		if (te->open) {
			k = open_feed(te, p, n);
			p += k;
			n -= k;
			continue;
		}
		k = TE_CAP - te->llen;
		if (k > n)
			k = n;
		memcpy(te->lb + te->llen, p, k);
		te->llen += k;
		te->lb[te->llen] = 0;
		p += k;
		n -= k;
		if (te->llen == TE_CAP)
			te_process(te, 0);
	}
}

static void
te_finish(struct te *te)
{
	if (te->open) {
		open_close(te);
		te_reset(te);
		return;
	}
	te_process(te, 1);
	te->k8s = 0;
}

/* ---- mapped windows (JSON strings) ------------------------------------ */

/* Open state of a JSON string whose key says the whole value is secret. */
static void
te_open_all(struct te *te, int rule)
{
	struct scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.open = OPEN_ALL;
	sc.open_s = 0;
	sc.open_rule = (uint16_t)rule;
	te_enter_open(te, &sc);
}

static int
whole_rule(int kc)
{
	switch (kc) {
	case KC_PASSWORD: return R_PASSWORD;
	case KC_AWS: return R_AWS_SECRET;
	case KC_AUTHZ: return R_AUTHZ;
	case KC_COOKIE: return R_COOKIE;
	case KC_APIHDR: return R_APIKEY_HDR;
	case KC_DOCKER: return R_DOCKER;
	case KC_AZURE: return R_AZURE;
	case KC_K8S_DATA:
	case KC_K8S_SDATA: return R_K8S;
	}
	return R_GENERIC;
}

static void
te_mroom(struct te *te, size_t nl, size_t nr)
{
	if (te->llen + nl <= TE_CAP && te->rlen + nr <= TE_RCAP)
		return;
	if (te->whole) {
		te_open_all(te, whole_rule(te->whole));
		return;
	}
	te_process(te, 0);
	if (te->llen + nl > TE_CAP || te->rlen + nr > TE_RCAP) {
		/* cannot happen with the sizes above; stay safe: emit all */
		te_process(te, 1);
	}
}

/* A run of unescaped string bytes (logical == raw). */
static void
te_mrun(struct te *te, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k;

		if (te->open) {
			if (te->open == OPEN_ALL)
				k = n;
			else
				k = open_span(te, p, n);
			crypto_auth_hmacsha256_update(&te->hst, p, k);
			count_in(te->r, p, k);
			te->open_len += k;
			p += k;
			n -= k;
			if (te->open != OPEN_ALL && (n > 0 || (te->open == OPEN_PEM && te->pem_st == 1 && te->pem_dash == 5)))
				open_close(te);
			continue;
		}
		te_mroom(te, 1, 1);
		if (te->open)
			continue;
		k = n;
		if (k > TE_CAP - te->llen)
			k = TE_CAP - te->llen;
		if (k > TE_RCAP - te->rlen)
			k = TE_RCAP - te->rlen;
		memcpy(te->lb + te->llen, p, k);
		memcpy(te->rb + te->rlen, p, k);
		for (size_t i = 0; i < k; i++)
			te->map[te->llen + i] = (uint32_t)(te->rlen + i);
		te->llen += k;
		te->rlen += k;
		te->lb[te->llen] = 0;
		te->map[te->llen] = (uint32_t)te->rlen;
		p += k;
		n -= k;
	}
}

/* One escape: logical bytes l[0,nl) standing for raw bytes raw[0,nr). */
static void
te_munit(struct te *te, const uint8_t *l, size_t nl, const char *raw, size_t nr)
{
	if (te->open) {
		size_t k = te->open == OPEN_ALL ? nl : open_span(te, l, nl);

		if (k == nl) {
			crypto_auth_hmacsha256_update(&te->hst, l, nl);
			count_in(te->r, raw, nr);
			te->open_len += nr;
			if (te->open == OPEN_PEM && te->pem_st == 1 && te->pem_dash == 5)
				open_close(te);
			return;
		}
		open_close(te);
	}
	te_mroom(te, nl, nr);
	if (te->open) {
		te_munit(te, l, nl, raw, nr);
		return;
	}
	memcpy(te->lb + te->llen, l, nl);
	memcpy(te->rb + te->rlen, raw, nr);
	for (size_t i = 0; i < nl; i++)
		te->map[te->llen + i] = (uint32_t)te->rlen;
	te->llen += nl;
	te->rlen += nr;
	te->lb[te->llen] = 0;
	te->map[te->llen] = (uint32_t)te->rlen;
}

/* End of a JSON string. */
static void
te_mfinish(struct te *te)
{
	int kc = te->whole;

	te->whole = 0;
	if (te->open) {
		open_close(te);
		te_reset(te);
		return;
	}
	if (kc && te->from == 0 && te->llen > 0) {
		struct scan sc;
		size_t vs = 0;
		int rule;

		memset(&sc, 0, sizeof(sc));
		sc.r = te->r;
		sc.b = te->lb;
		sc.len = te->llen;
		sc.end = te->llen;
		sc.final = 1;
		sc.hits = &te->hits;
		te->hits.n = 0;
		scan_run(&sc);
		if (te->hits.n == 0) {
			if (kc == KC_AUTHZ) {
				size_t w = 0;

				while (w < te->llen && ((ctab[te->lb[w]] & (C_UP | C_LO)) || te->lb[w] == '-'))
					w++;
				if (w > 0 && w < te->llen && te->lb[w] == ' ') {
					while (w < te->llen && te->lb[w] == ' ')
						w++;
					vs = w;
				}
			}
			rule = gate(te->r, kc, te->lb + vs, te->llen - vs);
			if (rule >= 0)
				hit(&sc, vs, te->llen, rule);
		}
		te_emit(te, te->llen);
		te_reset(te);
		return;
	}
	te_process(te, 1);
}

/* ---- the JSON walker ------------------------------------------------- */

static void
j_error(struct am_redact *r)
{
	r->depth = 0;
	r->js = J_TEXT;
}

static void
j_push(struct am_redact *r, int obj, int child)
{
	if (r->depth >= JDEPTH) {
		j_error(r);
		return;
	}
	r->stk[r->depth].obj = (uint8_t)obj;
	r->stk[r->depth].child = (uint8_t)child;
	r->depth++;
}

static void
j_after_value(struct am_redact *r)
{
	r->js = r->depth == 0 ? J_LINE : J_AFTER;
}

/* The key just read decides the class of its value. */
static int
j_key_class(struct am_redact *r)
{
	int kc;
	unsigned h = (unsigned)r->keylen * 31;
	struct kcache *kce;

	for (size_t i = 0; i < r->keylen && i < KCACHE_KEY; i++)
		h = h * 131 + r->key[i];
	kce = &r->kcache[h % KCACHE];
	if (r->keylen <= KCACHE_KEY && kce->len == r->keylen + 1 && !memcmp(kce->key, r->key, r->keylen)) {
		kc = kce->kc;
	} else {
		kc = classify_key(r->key, r->keylen, 1);
		if (r->keylen <= KCACHE_KEY) {
			memcpy(kce->key, r->key, r->keylen);
			kce->len = (uint8_t)(r->keylen + 1);
			kce->kc = (uint8_t)kc;
		}
	}
	int child = r->depth > 0 ? r->stk[r->depth - 1].child : 0;

	if (r->keylen == 4 && memcmp(r->key, "data", 4) == 0)
		return KC_DATA_KEY;
	if (r->keylen == 10 && memcmp(r->key, "stringData", 10) == 0)
		return KC_SDATA_KEY;
	if (child)
		return child;

	if (kc == KC_NONE && child)
		kc = child;
	return kc;
}

static void
j_skip_end(struct am_redact *r)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "{\"$redacted\":\"prompt\",\"bytes\":%llu}",
			 (unsigned long long)r->skip_n);

	record(r, R_PROMPT, r->skip_line, r->skip_off, r->skip_n);
	out_put(r, buf, (size_t)n);
	j_after_value(r);
}

/* Bytes of a prompt value being dropped; returns bytes consumed. */
static size_t
j_skip(struct am_redact *r, const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i < n; i++) {
		uint8_t c;

		if (r->skip_str && !r->skip_esc)
			while (i < n && !jstop[p[i]])
				i++;
		if (i == n)
			break;
		c = p[i];
		if (r->skip_str) {
			if (r->skip_esc)
				r->skip_esc = 0;
			else if (c == '\\')
				r->skip_esc = 1;
			else if (c == '"')
				r->skip_str = 0;
			else if (c == '\n') {
				count_in(r, p, i);
				r->skip_n += i;
				j_skip_end(r);
				j_error(r);
				return i;
			}
			if (!r->skip_str && r->skip_depth == 0) {
				i++;
				break;
			}
			continue;
		}
		if (r->skip_scalar) {
			if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				count_in(r, p, i);
				r->skip_n += i;
				j_skip_end(r);
				return i;
			}
			continue;
		}
		if (c == '"')
			r->skip_str = 1;
		else if (c == '{' || c == '[')
			r->skip_depth++;
		else if (c == '}' || c == ']') {
			if (--r->skip_depth == 0) {
				i++;
				break;
			}
		}
	}
	count_in(r, p, i);
	r->skip_n += i;
	if (!r->skip_str && r->skip_depth == 0 && !r->skip_scalar)
		j_skip_end(r);
	return i;
}

static void
j_begin_skip(struct am_redact *r, uint8_t c)
{
	r->skip_n = 0;
	r->skip_line = r->line;
	r->skip_off = r->off;
	r->skip_depth = 0;
	r->skip_str = 0;
	r->skip_esc = 0;
	r->skip_scalar = !(c == '"' || c == '{' || c == '[');
	r->js = J_SKIP;
}

static void
j_key_add(struct am_redact *r, const uint8_t *p, size_t n)
{
	if (!r->str_key)
		return;
	for (size_t i = 0; i < n && r->keylen < JKEYMAX; i++)
		r->key[r->keylen++] = p[i];
}

static void
j_unit(struct am_redact *r, unsigned cp, size_t nraw)
{
	uint8_t l[4];
	size_t nl = utf8_put(l, cp);

	j_key_add(r, l, nl);
	te_munit(&r->str, l, nl, r->esc, nraw);
}

/* One escape sequence completed in r->esc. */
static int
j_escape(struct am_redact *r)
{
	unsigned cp;
	int c = (uint8_t)r->esc[1];

	if (r->escn == 2) {
		switch (c) {
		case '"': case '\\': case '/': cp = (unsigned)c; break;
		case 'b': cp = 8; break;
		case 'f': cp = 12; break;
		case 'n': cp = 10; break;
		case 'r': cp = 13; break;
		case 't': cp = 9; break;
		case 'u': return 1; /* need more */
		default: return -1;
		}
		j_unit(r, cp, 2);
		return 0;
	}
	if (r->escn < 6)
		return 1;
	if (!hex4((const uint8_t *)r->esc + 2, &cp))
		return -1;
	if (r->escn == 6) {
		if (cp >= 0xd800 && cp < 0xdc00)
			return 1; /* want the low half */
		if (cp >= 0xdc00 && cp < 0xe000)
			cp = 0xfffd;
		j_unit(r, cp, 6);
		return 0;
	}
	if (r->escn == 7) {
		if (r->esc[6] != '\\') {
			/* lone high surrogate; the byte is reprocessed */
			j_unit(r, 0xfffd, 6);
			return 2;
		}
		return 1;
	}
	if (r->escn == 8) {
		if (r->esc[7] != 'u') {
			j_unit(r, 0xfffd, 6);
			return 3;
		}
		return 1;
	}
	if (r->escn < 12)
		return 1;
	{
		unsigned lo, hi;

		hex4((const uint8_t *)r->esc + 2, &hi);
		if (!hex4((const uint8_t *)r->esc + 8, &lo))
			return -1;
		if (lo >= 0xdc00 && lo < 0xe000) {
			j_unit(r, 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00), 12);
			return 0;
		}
		j_unit(r, 0xfffd, 6);
		return 4;
	}
}

static void
j_str_begin(struct am_redact *r, int key, int kc)
{
	r->str_key = key;
	if (key)
		r->keylen = 0;
	r->str.whole = key ? 0 : (kc != KC_NONE && kc != KC_PROMPT ? kc : 0);
	r->js = J_STR;
}

/* A structural byte: copied, batched with its neighbours. */
#define J_OUT(c)                                                            \
	do {                                                                \
		(void)(c);                                                  \
		if (pend == NOPEND)                                         \
			pend = i;                                           \
	} while (0)
#define NOPEND ((size_t)-1)

static int
j_structural(int st)
{
	return st == J_VALUE || st == J_ARR_FIRST || st == J_OBJ_FIRST || st == J_OBJ_KEY ||
	       st == J_COLON || st == J_AFTER || st == J_LIT || st == J_STR;
}

/* Scan the plain string p[s,e) where it lies; if it holds secrets, emit
 * what is pending before it and it, redacted, and return 1. */
static int
j_scan_inplace(struct am_redact *r, const uint8_t *p, size_t s, size_t e, size_t *pend)
{
	struct scan sc;
	struct hits *h = &r->shits;
	size_t pos = s;

	memcpy(r->sbuf, p + s, e - s);
	r->sbuf[e - s] = 0;
	memset(&sc, 0, sizeof(sc));
	sc.r = r;
	sc.b = r->sbuf;
	sc.len = sc.end = e - s;
	sc.final = 1;
	sc.hits = h;
	h->n = 0;
	scan_run(&sc);
	if (h->n == 0)
		return 0;
	if (*pend != NOPEND)
		out_raw(r, p + *pend, s - *pend);
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n; i++) {
		struct hit x = h->v[i];

		while (i + 1 < h->n && h->v[i + 1].s < x.e) {
			if (h->v[i + 1].e > x.e)
				x.e = h->v[i + 1].e;
			i++;
		}
		if (s + x.e <= pos)
			continue;
		if (s + x.s < pos)
			x.s = pos - s;
		out_raw(r, p + pos, s + x.s - pos);
		out_redact(r, p + s + x.s, x.e - x.s, x.rule, x.tag);
		pos = s + x.e;
	}
	out_raw(r, p + pos, e - pos);
	return 1;
}

static void
j_feed(struct am_redact *r, const uint8_t *p, size_t n)
{
	size_t i = 0, pend = NOPEND;

	while (i < n) {
		uint8_t c = p[i];

		if (pend != NOPEND && !j_structural(r->js)) {
			out_raw(r, p + pend, i - pend);
			pend = NOPEND;
		}
		switch (r->js) {
		case J_TEXT: {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			size_t k = nl ? (size_t)(nl - (p + i)) + 1 : n - i;

			te_push(&r->text, p + i, k);
			i += k;
			if (nl)
				r->js = J_LINE;
			continue;
		}
		case J_LINE:
			if (c == '{' || c == '[') {
				if (r->text.open) {
					r->js = J_TEXT;
					continue;
				}
				te_finish(&r->text);
				J_OUT(c);
				j_push(r, c == '{', 0);
				r->js = c == '{' ? J_OBJ_FIRST : J_ARR_FIRST;
				r->cur_kc = KC_NONE;
				i++;
				continue;
			}
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				if (r->text.llen || r->text.open)
					te_push(&r->text, p + i, 1);
				else
					J_OUT(c);
				i++;
				continue;
			}
			r->js = J_TEXT;
			continue;
		case J_SKIP:
			i += j_skip(r, p + i, n - i);
			continue;
		case J_STR: {
			size_t j = i;

			while (j < n && !jstop[p[j]])
				j++;
			if (j < n && p[j] == '"' && r->str.llen == 0 && !r->str.open && !r->str.whole &&
			    j - i <= SBUF) {
				/* the whole plain string is here: scan it in place */
				j_key_add(r, p + i, j - i);
				if (j - i >= 8 && j_scan_inplace(r, p, i, j, &pend))
					pend = NOPEND;
				else if (pend == NOPEND)
					pend = i;
				i = j;
				J_OUT(c);
				i++;
				r->js = r->str_key ? J_COLON : J_AFTER;
				if (!r->str_key && r->depth == 0)
					r->js = J_LINE;
				continue;
			}
			if (pend != NOPEND) {
				out_raw(r, p + pend, i - pend);
				pend = NOPEND;
			}
			if (j > i) {
				j_key_add(r, p + i, j - i);
				te_mrun(&r->str, p + i, j - i);
				i = j;
				continue;
			}
			if (c == '"') {
				te_mfinish(&r->str);
				J_OUT(c);
				i++;
				if (r->str_key) {
					r->js = J_COLON;
				} else {
					j_after_value(r);
				}
				continue;
			}
			if (c == '\\') {
				r->esc[0] = '\\';
				r->escn = 1;
				r->js = J_ESC;
				i++;
				continue;
			}
			te_mfinish(&r->str);
			j_error(r);
			continue;
		}
		case J_ESC: {
			int rc;

			r->esc[r->escn++] = (char)c;
			i++;
			rc = j_escape(r);
			if (rc == 0) {
				r->js = J_STR;
			} else if (rc < 0) {
				te_munit(&r->str, (const uint8_t *)r->esc, (size_t)r->escn, r->esc, (size_t)r->escn);
				te_mfinish(&r->str);
				j_error(r);
			} else if (rc >= 2) {
				/* bytes after a lone surrogate go back to the string */
				uint8_t again[8];
				size_t back = (size_t)r->escn - 6;

				memcpy(again, r->esc + 6, back);
				r->js = J_STR;
				j_feed(r, again, back);
			}
			continue;
		}
		case J_VALUE:
		case J_ARR_FIRST:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				J_OUT(c);
				i++;
				continue;
			}
			if (c == ']' && r->js == J_ARR_FIRST) {
				J_OUT(c);
				r->depth--;
				j_after_value(r);
				i++;
				continue;
			}
			if (r->cur_kc == KC_PROMPT) {
				if (!(c == '"' || c == '{' || c == '[' || c == '-' || (c >= '0' && c <= '9') ||
				      c == 't' || c == 'f' || c == 'n')) {
					j_error(r);
					continue;
				}
				j_begin_skip(r, c);
				continue;
			}
			if (c == '"') {
				J_OUT(c);
				/* data: only marks the members of its object */
				j_str_begin(r, 0, r->cur_kc == KC_DATA_KEY || r->cur_kc == KC_SDATA_KEY ? KC_NONE : r->cur_kc);
				i++;
				continue;
			}
			if (c == '{' || c == '[') {
				int child = r->cur_kc == KC_DATA_KEY ? KC_K8S_DATA :
					    r->cur_kc == KC_SDATA_KEY ? KC_K8S_SDATA :
					    (r->cur_kc == KC_K8S_DATA || r->cur_kc == KC_K8S_SDATA) ? r->cur_kc : 0;

				J_OUT(c);
				j_push(r, c == '{', child);
				if (r->js != J_TEXT)
					r->js = c == '{' ? J_OBJ_FIRST : J_ARR_FIRST;
				r->cur_kc = KC_NONE;
				i++;
				continue;
			}
			if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
				r->litn = 0;
				r->js = J_LIT;
				continue;
			}
			j_error(r);
			continue;
		case J_LIT:
			if ((ctab[c] & C_ALNUM) || c == '.' || c == '+' || c == '-') {
				if (r->litn < (int)sizeof(r->lit))
					r->lit[r->litn] = (char)c;
				r->litn++;
				J_OUT(c);
				i++;
				continue;
			}
			if (r->lit[0] >= 'a' && r->lit[0] <= 'z' &&
			    !((r->litn == 4 && !memcmp(r->lit, "true", 4)) || (r->litn == 4 && !memcmp(r->lit, "null", 4)) ||
			      (r->litn == 5 && !memcmp(r->lit, "false", 5)))) {
				j_error(r);
				continue;
			}
			j_after_value(r);
			continue;
		case J_OBJ_FIRST:
		case J_OBJ_KEY:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				J_OUT(c);
				i++;
				continue;
			}
			if (c == '}' && r->js == J_OBJ_FIRST) {
				J_OUT(c);
				r->depth--;
				j_after_value(r);
				i++;
				continue;
			}
			if (c == '"') {
				J_OUT(c);
				j_str_begin(r, 1, KC_NONE);
				i++;
				continue;
			}
			j_error(r);
			continue;
		case J_COLON:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				J_OUT(c);
				i++;
				continue;
			}
			if (c == ':') {
				J_OUT(c);
				r->cur_kc = j_key_class(r);
				r->js = J_VALUE;
				i++;
				continue;
			}
			j_error(r);
			continue;
		case J_AFTER:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				J_OUT(c);
				i++;
				continue;
			}
			if (c == ',') {
				J_OUT(c);
				r->js = r->stk[r->depth - 1].obj ? J_OBJ_KEY : J_VALUE;
				r->cur_kc = KC_NONE;
				i++;
				continue;
			}
			if ((c == '}' && r->stk[r->depth - 1].obj) || (c == ']' && !r->stk[r->depth - 1].obj)) {
				J_OUT(c);
				r->depth--;
				j_after_value(r);
				i++;
				continue;
			}
			j_error(r);
			continue;
		}
	}
	if (pend != NOPEND)
		out_raw(r, p + pend, n - pend);
}

static void
j_finish(struct am_redact *r)
{
	switch (r->js) {
	case J_STR:
	case J_ESC:
		if (r->js == J_ESC)
			te_munit(&r->str, (const uint8_t *)r->esc, (size_t)r->escn, r->esc, (size_t)r->escn);
		te_mfinish(&r->str);
		break;
	case J_SKIP:
		j_skip_end(r);
		break;
	}
	te_finish(&r->text);
	r->js = J_LINE;
	r->depth = 0;
}

/* ---- public API ------------------------------------------------------- */

struct am_redact *
am_redact_new(void)
{
	struct am_redact *r;

	if (sodium_init() < 0)
		abort();
	pthread_once(&ctab_once, ctab_init);
	r = am_xcalloc(1, sizeof(*r));
	randombytes_buf(r->salt, sizeof(r->salt));
	r->obuf = am_xmalloc(OUTBUF);
	r->dec = secret_alloc(DECMAX * 2 + 16);
	r->sbuf = secret_alloc(SBUF + 8);
	r->dsrc = am_xmalloc((DECMAX * 2 + 16) * sizeof(*r->dsrc));
	r->dend = am_xmalloc((DECMAX * 2 + 16) * sizeof(*r->dend));
	te_init(&r->text, r, 0);
	te_init(&r->str, r, 1);
	return r;
}

void
am_redact_free(struct am_redact *r)
{
	if (r == NULL)
		return;
	sodium_memzero(r->salt, sizeof(r->salt));
	te_destroy(&r->text);
	te_destroy(&r->str);
	secret_free(r->dec, DECMAX * 2 + 16);
	secret_free(r->sbuf, SBUF + 8);
	free(r->shits.v);
	free(r->dsrc);
	free(r->dend);
	free(r->nhits.v);
	free(r->obuf);
	free(r->rep);
	for (size_t i = 0; i < r->nnames; i++)
		free(r->names[i]);
	free(r->names);
	sodium_memzero(r->key, sizeof(r->key));
	free(r);
}

void
am_redact_set_finding_cb(struct am_redact *r, am_redact_finding_fn fn, void *arg)
{
	r->fcb = fn;
	r->fcb_arg = arg;
}

static int
check_failed(struct am_redact *r, struct am_error **err)
{
	if (!r->failed)
		return 0;
	return am_error_set(err, AM_EFAIL, "cannot write redacted '%s': %s",
			    r->file ? r->file : "-", strerror(r->saved_errno));
}

int
am_redact_begin(struct am_redact *r, const char *file, enum am_redact_mode mode,
		am_redact_write_fn write, void *write_arg, struct am_error **err)
{
	if (r->active)
		(void)am_redact_end(r, NULL);
	r->names = am_xrealloc(r->names, (r->nnames + 1) * sizeof(*r->names));
	r->names[r->nnames++] = am_xstrdup(file ? file : "-");
	r->file = r->names[r->nnames - 1];
	r->mode = mode;
	r->write = write;
	r->warg = write_arg;
	r->line = 1;
	r->off = 0;
	r->olen = 0;
	r->failed = 0;
	r->active = 1;
	r->js = J_LINE;
	r->depth = 0;
	te_reset(&r->text);
	te_reset(&r->str);
	r->text.open = r->str.open = OPEN_NONE;
	r->text.k8s = 0;
	r->str.whole = 0;
	return 0;
}

int
am_redact_feed(struct am_redact *r, const void *buf, size_t n, struct am_error **err)
{
	if (!r->active)
		return am_error_set(err, AM_EFAIL, "redact: feed before begin");
	if (r->mode == AM_REDACT_JSON)
		j_feed(r, buf, n);
	else
		te_push(&r->text, buf, n);
	return check_failed(r, err);
}

int
am_redact_end(struct am_redact *r, struct am_error **err)
{
	int rc;

	if (!r->active)
		return 0;
	if (r->mode == AM_REDACT_JSON)
		j_finish(r);
	else
		te_finish(&r->text);
	out_flush(r);
	r->active = 0;
	rc = check_failed(r, err);
	sodium_memzero(r->obuf, OUTBUF);
	return rc;
}

static int
buf_write(void *arg, const void *p, size_t n)
{
	am_buf_add(arg, p, n);
	return 0;
}

int
am_redact_buf(struct am_redact *r, const char *file, enum am_redact_mode mode,
	      const void *in, size_t n, char **out, size_t *outlen, struct am_error **err)
{
	struct am_buf b = AM_BUF_INIT;

	am_buf_grow(&b, n + 64);
	if (am_redact_begin(r, file, mode, buf_write, &b, err) < 0 ||
	    am_redact_feed(r, in, n, err) < 0 || am_redact_end(r, err) < 0) {
		am_buf_free(&b);
		return -1;
	}
	am_buf_grow(&b, 1);
	b.data[b.len] = 0;
	*out = am_buf_detach(&b, outlen);
	return 0;
}

enum am_redact_mode
am_redact_mode_for_name(const char *name)
{
	size_t n = strlen(name), at;

	if (ends(name, n, ".json", &at) || ends(name, n, ".jsonl", &at) || ends(name, n, ".ndjson", &at))
		return AM_REDACT_JSON;
	return AM_REDACT_TEXT;
}

uint64_t
am_redact_secrets(const struct am_redact *r)
{
	return r->nsecrets;
}

uint64_t
am_redact_prompts(const struct am_redact *r)
{
	return r->nprompts;
}

cJSON *
am_redact_report_json(const struct am_redact *r)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < r->nrep; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "rule", rules[r->rep[i].rule].id);
		cJSON_AddStringToObject(o, "file", r->rep[i].file);
		cJSON_AddNumberToObject(o, "line", (double)r->rep[i].line);
		cJSON_AddNumberToObject(o, "count", (double)r->rep[i].count);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

const struct am_redact_rule *
am_redact_rules(size_t *n)
{
	*n = R_NRULES;
	return rules;
}
