/* cryptblk dump and test-key, and the helpers of every LUKS subcommand. */
#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int luks_cli_fail(int rc, const struct luks_err *err, const char *what)
{
	if (err && err->msg[0])
		cli_error("%s", err->msg);
	else
		cli_error("%s: %s", what, strerror(-rc));
	return cli_exit_code(rc);
}

int luks_image_open(const char *path, bool writable, unsigned reconnect_timeout_s,
		    struct luks_image *img)
{
	struct luks_err err = {{0}};
	int rc;

	memset(img, 0, sizeof(*img));
	img->path = path;
	rc = image_open(path, writable, reconnect_timeout_s, &img->image);
	if (rc < 0)
		return cli_exit_code(rc);
	img->io = img->image.io;
	rc = luks_load(&img->io, &img->hdr, &err);
	if (rc) {
		/* Corrupt or foreign metadata is a usage error (exit 1), not a
		 * missing device. */
		if (rc == -ENOENT || rc == -ENODEV)
			rc = -EINVAL;
		luks_cli_fail(rc, &err, path);
		luks_image_close(img);
		return cli_exit_code(rc);
	}
	return 0;
}

void luks_image_close(struct luks_image *img)
{
	luks_free(img->hdr);
	img->hdr = NULL;
	image_close(&img->image);
}

int luks_cli_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int luks_cli_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	char *end;
	unsigned long long v;
	const char *u;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (*end) {
		u = strchr(units, end[0] & ~0x20);
		if (!u || (end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")))
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
	}
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int luks_cli_kdf_option(int opt, const char *arg, struct luks_kdf_choice *kdf)
{
	uint32_t v;

	switch (opt) {
	case 'P':
		if (!strcmp(arg, "pbkdf2"))
			kdf->type = LUKS_KDF_PBKDF2;
		else if (!strcmp(arg, "argon2i"))
			kdf->type = LUKS_KDF_ARGON2I;
		else if (!strcmp(arg, "argon2id"))
			kdf->type = LUKS_KDF_ARGON2ID;
		else {
			cli_error("--pbkdf %s: not argon2id, argon2i or pbkdf2", arg);
			return -1;
		}
		return 1;
	case 'i':
	case 'I':
	case 'M':
	case 'T':
		if (luks_cli_parse_u32(arg, &v) || v == 0) {
			cli_error("option value '%s' is not a positive number", arg);
			return -1;
		}
		if (opt == 'i')
			kdf->iter_time_ms = v;
		else if (opt == 'I')
			kdf->iterations = v;
		else if (opt == 'M')
			kdf->memory_kib = v;
		else
			kdf->parallel = v;
		return 1;
	}
	return 0;
}

/* `s` with every byte outside printable ASCII, and the backslash, written
 * as \xNN: a label or cipher name from a hostile header must not reach the
 * terminal as an escape sequence or a line break. NULL when nothing needs
 * escaping (*clean) or memory is short. */
static char *dump_escape(const char *s, bool *clean)
{
	size_t n = 0;
	char *out, *p;

	*clean = true;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		bool plain = *c >= 0x20 && *c < 0x7f && *c != '\\';

		n += plain ? 1 : 4;
		*clean = *clean && plain;
	}
	if (*clean || !(out = malloc(n + 1)))
		return NULL;
	p = out;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x20 && *c < 0x7f && *c != '\\')
			*p++ = (char)*c;
		else
			p += sprintf(p, "\\x%02x", *c);
	}
	*p = '\0';
	return out;
}

/* Escape every string of the description in place; -ENOMEM if one could
 * not be (nothing unescaped is printed then). */
static int dump_escape_tree(json_object *o)
{
	int rc = 0;

	if (json_object_is_type(o, json_type_string)) {
		bool clean;
		char *e = dump_escape(json_object_get_string(o), &clean);

		if (!clean && (!e || !json_object_set_string(o, e)))
			rc = -ENOMEM;
		free(e);
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o) && rc == 0; i++)
			rc = dump_escape_tree(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if (rc == 0)
				rc = dump_escape_tree(val);
		}
	}
	return rc;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static void dump_keyslot(json_object *ks)
{
	json_object *kdf = NULL;

	json_object_object_get_ex(ks, "kdf", &kdf);
	printf("  %s:\n", jstr(ks, "id"));
	printf("\tKey:        %d bits\n", atoi(jstr(ks, "key_size")) * 8);
	if (json_object_object_get_ex(ks, "priority", NULL))
		printf("\tPriority:   %s\n", jstr(ks, "priority"));
	printf("\tPBKDF:      %s\n", jstr(kdf, "type"));
	if (!strcmp(jstr(kdf, "type"), "pbkdf2")) {
		printf("\tHash:       %s\n", jstr(kdf, "hash"));
		printf("\tIterations: %s\n", jstr(kdf, "iterations"));
	} else {
		printf("\tTime cost:  %s\n", jstr(kdf, "time"));
		printf("\tMemory:     %s\n", jstr(kdf, "memory"));
		printf("\tThreads:    %s\n", jstr(kdf, "cpus"));
	}
	printf("\tAF stripes: %s\n", jstr(ks, "af_stripes"));
	printf("\tAF hash:    %s\n", jstr(ks, "af_hash"));
	printf("\tArea offset:%s [bytes]\n", jstr(ks, "area_offset"));
	printf("\tArea length:%s [bytes]\n", jstr(ks, "area_size"));
}

static void dump_text(json_object *d)
{
	json_object *slots, *copies;

	printf("LUKS header information\n");
	printf("Version:       \t%s\n", jstr(d, "version"));
	if (json_object_object_get_ex(d, "seqid", NULL))
		printf("Epoch:         \t%s\n", jstr(d, "seqid"));
	printf("UUID:          \t%s\n", jstr(d, "uuid"));
	if (json_object_object_get_ex(d, "label", NULL))
		printf("Label:         \t%s\n",
		       jstr(d, "label")[0] ? jstr(d, "label") : "(no label)");
	if (json_object_object_get_ex(d, "subsystem", NULL))
		printf("Subsystem:     \t%s\n",
		       jstr(d, "subsystem")[0] ? jstr(d, "subsystem") : "(no subsystem)");
	printf("\nData segment:\n");
	printf("\toffset: %s [bytes]\n", jstr(d, "data_offset"));
	printf("\tlength: %s\n",
	       !strcmp(jstr(d, "data_size"), "dynamic") ? "(whole device)" : jstr(d, "data_size"));
	printf("\tcipher: %s\n", jstr(d, "cipher"));
	printf("\tkey:    %d bits\n", atoi(jstr(d, "key_size")) * 8);
	printf("\tsector: %s [bytes]\n", jstr(d, "sector_size"));
	printf("\nKeyslots:\n");
	if (json_object_object_get_ex(d, "keyslots", &slots))
		for (size_t i = 0; i < json_object_array_length(slots); i++)
			dump_keyslot(json_object_array_get_idx(slots, i));
	if (json_object_object_get_ex(d, "header_copies", &copies)) {
		printf("\nHeader copies:\n");
		for (size_t i = 0; i < json_object_array_length(copies); i++) {
			json_object *c = json_object_array_get_idx(copies, i);

			printf("  %s: %s\n", jstr(c, "offset"),
			       json_object_get_boolean(json_object_object_get(c, "valid"))
				   ? "valid"
				   : jstr(c, "error"));
		}
	}
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
	struct luks_image img;
	struct luks_err err = {{0}};
	json_object *d = NULL;
	char *text = NULL;
	bool json = false;
	int opt, rc, ret;

	while ((opt = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (opt != 'j') {
			cli_error("usage: cryptblk dump IMAGE [--json]");
			return CLI_EXIT_USAGE;
		}
		json = true;
	}
	if (optind + 1 != argc) {
		cli_error("usage: cryptblk dump IMAGE [--json]");
		return CLI_EXIT_USAGE;
	}
	ret = luks_image_open(argv[optind], false, 0, &img);
	if (ret)
		return ret;
	rc = luks_describe(img.hdr, &text, &err);
	if (rc) {
		ret = luks_cli_fail(rc, &err, "dump");
	} else if (json) {
		printf("%s\n", text);
	} else if (!(d = json_tokener_parse(text)) || dump_escape_tree(d) < 0) {
		ret = luks_cli_fail(-ENOMEM, NULL, "dump");
	} else {
		dump_text(d);
	}
	json_object_put(d);
	free(text);
	luks_image_close(&img);
	return ret;
}

static int write_key_file(const char *path, const struct luks_key *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, key->bytes, key->len);
	if (close(fd) != 0 || n != (ssize_t)key->len)
		return n < 0 ? -errno : -EIO;
	return 0;
}

static void print_layout(int slot, const struct volume_layout *l)
{
	printf("{\"keyslot\":%d,\"data_offset\":%llu,\"size\":%llu,\"sector_size\":%u,"
	       "\"iv_tweak\":%llu,\"allow_discards\":%s}\n",
	       slot, (unsigned long long)l->data_offset, (unsigned long long)l->size,
	       l->sector_size, (unsigned long long)l->iv_tweak,
	       l->allow_discards ? "true" : "false");
}

int cmd_test_key(int argc, char **argv)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'},
					     {"volume-key-file", required_argument, NULL, 'V'},
					     {"json", no_argument, NULL, 'j'},
					     {0}};
	static const char usage[] =
	    "usage: cryptblk test-key IMAGE [--key-file FILE] [--volume-key-file OUT] [--json]";
	const char *key_file = NULL, *vk_file = NULL;
	struct luks_image img;
	struct luks_err err = {{0}};
	struct passphrase pass = {0};
	struct luks_key *key = NULL;
	struct volume_layout layout;
	bool json = false;
	int opt, rc = 0, ret, slot = -1;

	while ((opt = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (opt == 'd')
			key_file = optarg;
		else if (opt == 'V')
			vk_file = optarg;
		else if (opt == 'j')
			json = true;
		else {
			cli_error("%s", usage);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_error("%s", usage);
		return CLI_EXIT_USAGE;
	}
	ret = luks_image_open(argv[optind], false, 0, &img);
	if (ret)
		return ret;
	rc = passphrase_read(key_file, "Enter passphrase: ", false, &pass);
	if (rc) {
		ret = cli_exit_code(rc);
		goto out;
	}
	rc = luks_unlock(&img.io, img.hdr, pass.buf, pass.len, &key, &slot, &err);
	if (rc == 0)
		rc = luks_layout(img.hdr, img.io.size, &layout, &err);
	if (rc) {
		ret = luks_cli_fail(rc, &err, "test-key");
		goto out;
	}
	if (vk_file && (rc = write_key_file(vk_file, key))) {
		cli_error("volume key file %s: %s", vk_file, strerror(-rc));
		ret = cli_exit_code(rc);
		goto out;
	}
	if (json)
		print_layout(slot, &layout);
	else
		printf("Key slot %d unlocked.\n", slot);
out:
	luks_key_free(key);
	passphrase_free(&pass);
	luks_image_close(&img);
	return ret;
}
