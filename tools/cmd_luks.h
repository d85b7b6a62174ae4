/* Pieces shared by the LUKS subcommands (dump, test-key, format, add-key,
 * remove-key). */
#ifndef CRYPTBLK_TOOLS_CMD_LUKS_H
#define CRYPTBLK_TOOLS_CMD_LUKS_H

#include "image.h"

#include <cryptblk/luks.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

struct luks_image {
	const char *path;
	struct image image; /* a file or a remote export */
	struct luks_io io;
	struct luks_header *hdr;
};

/* Open the image (a path or an NBD URI; `reconnect_timeout_s` is a remote's,
 * 0 for the default) and load its header; on failure print one line and
 * return the exit code (0 on success). */
int luks_image_open(const char *path, bool writable, unsigned reconnect_timeout_s,
		    struct luks_image *img);
void luks_image_close(struct luks_image *img);

/* Print err (or a strerror line naming `what`) and map rc to an exit code. */
int luks_cli_fail(int rc, const struct luks_err *err, const char *what);

/* KDF options shared by format and add-key. */
#define LUKS_CLI_KDF_OPTIONS                                                                       \
	{"pbkdf", required_argument, NULL, 'P'}, {"iter-time", required_argument, NULL, 'i'},      \
	    {"pbkdf-force-iterations", required_argument, NULL, 'I'},                              \
	    {"pbkdf-memory", required_argument, NULL, 'M'},                                        \
	{                                                                                          \
		"pbkdf-parallel", required_argument, NULL, 'T'                                     \
	}
#define LUKS_CLI_KDF_USAGE                                                                         \
	"[--pbkdf argon2id|argon2i|pbkdf2] [--iter-time MS] [--pbkdf-force-iterations N] "         \
	"[--pbkdf-memory KIB] [--pbkdf-parallel N]"

/* Handle one KDF option: 1 when consumed, 0 when not a KDF option, -1 after
 * printing an error. */
int luks_cli_kdf_option(int opt, const char *arg, struct luks_kdf_choice *kdf);

/* A decimal number with an optional K/M/G/T suffix (powers of 1024). */
int luks_cli_parse_size(const char *s, uint64_t *out);
int luks_cli_parse_u32(const char *s, uint32_t *out);

#endif
