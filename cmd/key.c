/* key.c - am key: make and inspect OpenSSH ed25519 keys. */
#include <getopt.h>
#include <sys/stat.h>

#include "am.h"
#include "sshkey.h"

static int
key_generate(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "comment", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *comment = NULL;
	char defcomment[512];
	AM_AUTOFREE char *dflt = NULL;
	AM_AUTOFREE char *fpr = NULL;
	const char *path;
	struct am_key *k = NULL;
	struct am_error *err = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "C:", longopts, NULL)) != -1) {
		if (c == 'C')
			comment = optarg;
		else
			return am_usage_error(ctx, "bad option");
	}
	if (argc - optind > 1)
		return am_usage_error(ctx, "too many arguments");
	if (optind < argc) {
		path = argv[optind];
	} else {
		AM_AUTOFREE char *cfg = am_config_dir();

		if (am_mkdir_p(cfg, 0700, &err) < 0)
			return am_report(ctx, err);
		dflt = am_xasprintf("%s/key_ed25519", cfg);
		path = dflt;
	}
	if (comment == NULL) {
		const char *user = getenv("USER");
		char host[256] = "localhost";

		gethostname(host, sizeof(host) - 1);
		snprintf(defcomment, sizeof(defcomment), "%s@%s", user && *user ? user : "am", host);
		comment = defcomment;
	}
	if (am_key_generate(comment, &k, &err) < 0 || am_key_write_pair(k, path, &err) < 0) {
		am_key_free(k);
		return am_report(ctx, err);
	}
	fpr = am_key_fingerprint(k);
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();
		char *pub = am_xasprintf("%s.pub", path);

		cJSON_AddStringToObject(doc, "privateKey", path);
		cJSON_AddStringToObject(doc, "publicKey", pub);
		cJSON_AddStringToObject(doc, "fingerprint", fpr);
		free(pub);
		am_print_json(doc);
	} else if (!ctx->quiet) {
		printf("%s\n", fpr);
		am_info(ctx, "am: wrote %s and %s.pub", path, path);
	}
	am_key_free(k);
	return 0;
}

static int
key_show(struct am_ctx *ctx, int argc, char **argv)
{
	struct am_key *k = NULL;
	struct am_error *err = NULL;
	AM_AUTOFREE char *fpr = NULL;
	AM_AUTOFREE char *line = NULL;

	if (argc != 2)
		return am_usage_error(ctx, "expected one key FILE");
	if (am_key_load_public(argv[1], &k, &err) < 0)
		return am_report(ctx, err);
	fpr = am_key_fingerprint(k);
	line = am_key_public_line(k);
	if (ctx->json) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddStringToObject(doc, "fingerprint", fpr);
		cJSON_AddStringToObject(doc, "publicKey", line);
		am_print_json(doc);
	} else {
		printf("%s\n%s\n", fpr, line);
	}
	am_key_free(k);
	return 0;
}

static int
cmd_key_exec(struct am_ctx *ctx, int argc, char **argv)
{
	static const struct am_verb verbs[] = {
		{ "generate", key_generate }, { "show", key_show }
	};

	return am_run_verb(ctx, argc, argv, verbs, AM_ARRAY_LEN(verbs));
}

const struct am_cmd am_cmd_key = {
	.name = "key",
	.summary = "generate and inspect OpenSSH ed25519 keys",
	.usage = "generate [-C COMMENT] [FILE]\nshow FILE",
	.exec = cmd_key_exec,
};
