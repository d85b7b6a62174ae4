/* cryptblk add-key and remove-key. */
#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"
#include "testfaults.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char add_usage[] = "usage: cryptblk add-key IMAGE [--key-file FILE] "
				"--new-key-file FILE " LUKS_CLI_KDF_USAGE;
static const char remove_usage[] = "usage: cryptblk remove-key IMAGE [--key-file FILE]";

int cmd_add_key(int argc, char **argv)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'},
					     {"new-key-file", required_argument, NULL, 'n'},
					     LUKS_CLI_KDF_OPTIONS,
					     {0}};
	const char *key_file = NULL, *new_file = NULL;
	struct luks_kdf_choice kdf = {0};
	struct passphrase pass = {0}, new_pass = {0};
	struct luks_err err = {{0}};
	struct luks_image img;
	int lock_fd = -1, opt, k, rc, ret, slot = -1;

	while ((opt = getopt_long(argc, argv, "d:i:", opts, NULL)) != -1) {
		k = luks_cli_kdf_option(opt, optarg, &kdf);
		if (k < 0)
			return CLI_EXIT_USAGE;
		if (k > 0)
			continue;
		if (opt == 'd') {
			key_file = optarg;
		} else if (opt == 'n') {
			new_file = optarg;
		} else {
			cli_error("%s", add_usage);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_error("%s", add_usage);
		return CLI_EXIT_USAGE;
	}
	if (passphrase_uses_stdin(key_file) && passphrase_uses_stdin(new_file)) {
		cli_error("add-key: the existing and the new passphrase cannot both come from "
			  "standard input; give --key-file or --new-key-file");
		return CLI_EXIT_USAGE;
	}
	/* Not while a serve (or another change) has the image. */
	rc = image_lock(argv[optind], IMAGE_LOCK_EXCLUSIVE, "add-key", &lock_fd);
	if (rc < 0)
		return cli_exit_code(rc);
	ret = luks_image_open(argv[optind], true, 0, &img);
	if (ret)
		goto unlock;
	rc = passphrase_read(key_file, "Enter any existing passphrase: ", false, &pass);
	if (rc == 0)
		rc = passphrase_read(new_file, "Enter new passphrase for key slot: ", true,
				     &new_pass);
	if (rc == 0)
		rc = testfaults_luks_io_wrap(&img.io); /* test only: CRYPTBLK_TEST_CRASH_AT */
	if (rc) {
		ret = cli_exit_code(rc);
		goto out;
	}
	rc = luks_keyslot_add(&img.io, img.hdr, pass.buf, pass.len, new_pass.buf, new_pass.len,
			      &kdf, &slot, &err);
	if (rc)
		ret = luks_cli_fail(rc, &err, "add-key");
	else
		printf("Key slot %d created.\n", slot);
out:
	passphrase_free(&pass);
	passphrase_free(&new_pass);
	luks_image_close(&img);
unlock:
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}

int cmd_remove_key(int argc, char **argv)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'}, {0}};
	const char *key_file = NULL;
	struct passphrase pass = {0};
	struct luks_err err = {{0}};
	struct luks_image img;
	int lock_fd = -1, opt, rc, ret, slot = -1;

	while ((opt = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (opt != 'd') {
			cli_error("%s", remove_usage);
			return CLI_EXIT_USAGE;
		}
		key_file = optarg;
	}
	if (optind + 1 != argc) {
		cli_error("%s", remove_usage);
		return CLI_EXIT_USAGE;
	}
	rc = image_lock(argv[optind], IMAGE_LOCK_EXCLUSIVE, "remove-key", &lock_fd);
	if (rc < 0)
		return cli_exit_code(rc);
	ret = luks_image_open(argv[optind], true, 0, &img);
	if (ret)
		goto unlock;
	rc = passphrase_read(key_file, "Enter passphrase to be deleted: ", false, &pass);
	if (rc == 0)
		rc = testfaults_luks_io_wrap(&img.io); /* test only: CRYPTBLK_TEST_CRASH_AT */
	if (rc == 0)
		rc = luks_keyslot_remove(&img.io, img.hdr, pass.buf, pass.len, &slot, &err);
	if (rc)
		ret = err.msg[0] ? luks_cli_fail(rc, &err, "remove-key") : cli_exit_code(rc);
	else
		printf("Key slot %d removed.\n", slot);
	passphrase_free(&pass);
	luks_image_close(&img);
unlock:
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}
