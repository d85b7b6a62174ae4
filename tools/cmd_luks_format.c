/* cryptblk format: a new LUKS2 (or LUKS1) volume on a file, a device or a
 * remote NBD export. */
#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char format_usage[] =
    "usage: cryptblk format IMAGE [--size SIZE] [--type luks2|luks1] [--cipher aes-xts-plain64] "
    "[--key-size 256|512] [--sector-size 512|4096] [--label TEXT] [--key-file FILE] "
    "[--volume-key-file FILE] [--batch-mode] " LUKS_CLI_KDF_USAGE;

struct format_args {
	const char *image;
	const char *key_file;
	const char *volume_key_file; /* NULL: a random volume key */
	uint64_t size;		     /* 0: keep */
	bool batch;
	struct luks_format_params params;
};

static int format_parse(int argc, char **argv, struct format_args *a)
{
	static const struct option opts[] = {{"size", required_argument, NULL, 's'},
					     {"type", required_argument, NULL, 't'},
					     {"cipher", required_argument, NULL, 'c'},
					     {"key-size", required_argument, NULL, 'k'},
					     {"sector-size", required_argument, NULL, 'S'},
					     {"label", required_argument, NULL, 'l'},
					     {"key-file", required_argument, NULL, 'd'},
					     {"batch-mode", no_argument, NULL, 'q'},
					     {"volume-key-file", required_argument, NULL, 'V'},
					     LUKS_CLI_KDF_OPTIONS,
					     {0}};
	uint32_t bits;
	int opt, k;

	while ((opt = getopt_long(argc, argv, "c:d:i:qs:", opts, NULL)) != -1) {
		k = luks_cli_kdf_option(opt, optarg, &a->params.kdf);
		if (k < 0)
			return -1;
		if (k > 0)
			continue;
		switch (opt) {
		case 's':
			if (luks_cli_parse_size(optarg, &a->size) || a->size == 0) {
				cli_error("--size %s: not a size (digits, K/M/G/T)", optarg);
				return -1;
			}
			break;
		case 't':
			if (strcmp(optarg, "luks2") && strcmp(optarg, "luks1") &&
			    strcmp(optarg, "luks")) {
				cli_error("--type %s: not luks2 or luks1", optarg);
				return -1;
			}
			a->params.version = strcmp(optarg, "luks2") ? 1 : 2;
			break;
		case 'c':
			a->params.cipher = optarg;
			break;
		case 'k':
			if (luks_cli_parse_u32(optarg, &bits) || (bits != 256 && bits != 512)) {
				cli_error("--key-size %s: not 256 or 512", optarg);
				return -1;
			}
			a->params.key_size = bits / 8;
			break;
		case 'S':
			if (luks_cli_parse_u32(optarg, &a->params.sector_size) ||
			    (a->params.sector_size != 512 && a->params.sector_size != 4096)) {
				cli_error("--sector-size %s: not 512 or 4096", optarg);
				return -1;
			}
			break;
		case 'l':
			a->params.label = optarg;
			break;
		case 'd':
			a->key_file = optarg;
			break;
		case 'q':
			a->batch = true;
			break;
		case 'V':
			a->volume_key_file = optarg;
			break;
		default:
			cli_error("%s", format_usage);
			return -1;
		}
	}
	if (optind + 1 != argc) {
		cli_error("%s", format_usage);
		return -1;
	}
	a->image = argv[optind];
	return 0;
}

/* Open the image if it exists and check --size against it. Nothing is
 * created or grown yet: a format refused later (wrong confirmation, existing
 * volume) must leave the file system as it was. *fd_out is -1 when the file
 * does not exist and --size will create it. */
static int format_open(const struct format_args *a, int *fd_out)
{
	struct stat st;
	int fd = open(a->image, O_RDWR | O_CLOEXEC);
	int rc = 0;

	*fd_out = -1;
	if (fd < 0 && errno == ENOENT && a->size)
		return 0;
	if (fd < 0) {
		rc = -errno;
		cli_error("%s: %s", a->image, strerror(errno));
		return rc;
	}
	if (a->size && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > a->size) {
			cli_error("%s: already %lld bytes, larger than --size; not shrinking it",
				  a->image, (long long)st.st_size);
			rc = -EINVAL;
		}
	} else if (a->size) {
		cli_error("%s: --size applies to regular files only", a->image);
		rc = -EINVAL;
	}
	if (rc) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* Create the file (*created set) or grow it to --size. */
static int format_grow(const struct format_args *a, int *fd, bool *created)
{
	int rc = 0;

	if (*fd < 0) {
		*fd = open(a->image, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		if (*fd < 0) {
			rc = -errno;
			cli_error("%s: %s", a->image, strerror(-rc));
			return rc;
		}
		*created = true;
	}
	if (a->size && ftruncate(*fd, (off_t)a->size) != 0) {
		rc = -errno;
		cli_error("%s: growing to %llu bytes: %s", a->image, (unsigned long long)a->size,
			  strerror(-rc));
	}
	return rc;
}

/* Overwriting a LUKS volume destroys its data: only with --batch-mode. */
static int format_guard(const struct luks_io *io, const struct format_args *a)
{
	uint8_t magic[6];
	bool luks, skul;

	if (a->batch || io->size < sizeof(magic) || io->read(io->priv, magic, 6, 0))
		return 0;
	luks = !memcmp(magic, "LUKS\xba\xbe", 6);
	skul = false;
	if (!luks && io->size >= 16384 + 6 && io->read(io->priv, magic, 6, 16384) == 0)
		skul = !memcmp(magic, "SKUL\xba\xbe", 6);
	if (!luks && !skul)
		return 0;
	cli_error("%s already holds a LUKS volume; add --batch-mode to overwrite it", a->image);
	return -EEXIST;
}

/* A remote export: nothing to create or grow, its server decides the size. */
static int format_remote(const struct format_args *a)
{
	struct image img;
	struct passphrase pass = {0};
	struct luks_err err = {{0}};
	int rc;

	if (a->size) {
		cli_error("%s: --size applies to files; a remote export has the size its server "
			  "gives it",
			  a->image);
		return CLI_EXIT_USAGE;
	}
	rc = image_open(a->image, true, 0, &img);
	if (rc < 0)
		return cli_exit_code(rc);
	if ((rc = format_guard(&img.io, a)))
		goto out;
	if ((rc = passphrase_read(a->key_file, "Enter passphrase for the new volume: ", true,
				  &pass)))
		goto out;
	rc = luks_format(&img.io, &a->params, pass.buf, pass.len, &err);
	if (rc)
		luks_cli_fail(rc, &err, "format");
out:
	passphrase_free(&pass);
	image_close(&img);
	return rc == -EEXIST ? CLI_EXIT_USAGE : cli_exit_code(rc);
}

/* --volume-key-file: the whole file is the key (32 or 64 bytes), read
 * into locked memory before anything is touched. */
static int format_volume_key_read(const struct format_args *a, struct luks_key **out)
{
	struct passphrase raw = {0};
	int rc;

	*out = NULL;
	if (!strcmp(a->volume_key_file, "-") && passphrase_uses_stdin(a->key_file)) {
		cli_error("format: the passphrase and the volume key cannot both come from "
			  "standard input; give --key-file");
		return -EINVAL;
	}
	rc = passphrase_read(a->volume_key_file, "", false, &raw);
	if (rc == 0 && raw.len != 32 && raw.len != 64) {
		cli_error("--volume-key-file %s: %zu bytes, not 32 or 64", a->volume_key_file,
			  raw.len);
		rc = -EINVAL;
	}
	if (rc == 0 && !(*out = luks_key_new(raw.len)))
		rc = -ENOMEM;
	if (rc == 0)
		memcpy((*out)->bytes, raw.buf, raw.len);
	passphrase_free(&raw);
	return rc;
}

static int format_local(const struct format_args *a_in)
{
	struct format_args a = *a_in;
	struct passphrase pass = {0};
	struct luks_err err = {{0}};
	struct luks_io io;
	bool created = false;
	int fd = -1, rc;

	if ((rc = format_open(&a, &fd)))
		return cli_exit_code(rc);
	/* Not over a volume a serve (or another change) has open. A file
	 * this run creates is new: nobody else can hold it. */
	if (fd >= 0 && (rc = image_lock_fd(fd, a.image, IMAGE_LOCK_EXCLUSIVE, "format")))
		goto out;
	if (fd >= 0 && (rc = luks_io_init_fd(&io, fd, true))) {
		cli_error("%s: %s", a.image, strerror(-rc));
		goto out;
	}
	if (fd >= 0 && (rc = format_guard(&io, &a)))
		goto out;
	if ((rc =
		 passphrase_read(a.key_file, "Enter passphrase for the new volume: ", true, &pass)))
		goto out;
	if ((rc = format_grow(&a, &fd, &created)))
		goto out;
	if ((rc = luks_io_init_fd(&io, fd, true))) {
		cli_error("%s: %s", a.image, strerror(-rc));
		goto out;
	}
	rc = luks_format(&io, &a.params, pass.buf, pass.len, &err);
	if (rc)
		luks_cli_fail(rc, &err, "format");
out:
	passphrase_free(&pass);
	if (fd >= 0)
		close(fd);
	/* A file this run created holds no volume after a failure. */
	if (rc && created)
		unlink(a.image);
	return rc == -EEXIST ? CLI_EXIT_USAGE : cli_exit_code(rc);
}

int cmd_format(int argc, char **argv)
{
	struct format_args a = {0};
	struct luks_key *vk = NULL;
	int rc;

	if (format_parse(argc, argv, &a))
		return CLI_EXIT_USAGE;
	if (a.volume_key_file && (rc = format_volume_key_read(&a, &vk)))
		return cli_exit_code(rc);
	a.params.volume_key = vk;
	rc = image_is_uri(a.image) ? format_remote(&a) : format_local(&a);
	luks_key_free(vk);
	return rc;
}
