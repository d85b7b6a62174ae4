/* Passphrases for the cryptblk command, with cryptsetup's conventions:
 *   --key-file FILE   the whole file is the passphrase (no newline stripped)
 *   --key-file -      the whole of standard input
 *   no key file, standard input a terminal: a prompt without echo (asked
 *                     twice when `verify`)
 *   no key file, standard input not a terminal: standard input up to the
 *                     first newline
 * The text lives in locked memory and is wiped by passphrase_free(). */
#ifndef CRYPTBLK_TOOLS_PASSPHRASE_H
#define CRYPTBLK_TOOLS_PASSPHRASE_H

#include <stdbool.h>
#include <stddef.h>

#define PASSPHRASE_MAX (1u << 20) /* bytes: key files above 1 MiB are refused */

struct passphrase {
	char *buf; /* secmem */
	size_t len;
	size_t cap;
};

/* 0, or a negative errno after printing one error line. `prompt` is shown
 * on a terminal. */
int passphrase_read(const char *key_file, const char *prompt, bool verify, struct passphrase *out);
void passphrase_free(struct passphrase *p);

/* Does this source read standard input (so two of them would conflict)? */
bool passphrase_uses_stdin(const char *key_file);

#endif
