/* Reading passphrases from key files, pipes and terminals. */
#include "passphrase.h"
#include "cli.h"

#include <cryptblk/secmem.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

void passphrase_free(struct passphrase *p)
{
	secmem_free(p->buf, p->cap);
	p->buf = NULL;
	p->len = p->cap = 0;
}

bool passphrase_uses_stdin(const char *key_file)
{
	return !key_file || !strcmp(key_file, "-");
}

/* Make room for one more byte, moving the text to a larger locked buffer. */
static int pp_grow(struct passphrase *p)
{
	size_t cap = p->cap ? p->cap * 2 : 4096;
	char *buf;

	if (p->len < p->cap)
		return 0;
	if (p->len >= PASSPHRASE_MAX)
		return -EFBIG;
	buf = secmem_alloc(cap);
	if (!buf)
		return -ENOMEM;
	if (p->len)
		memcpy(buf, p->buf, p->len);
	secmem_free(p->buf, p->cap);
	p->buf = buf;
	p->cap = cap;
	return 0;
}

/* Read fd to its end, or to the first newline when `line`. */
static int pp_read_fd(int fd, bool line, struct passphrase *p)
{
	for (;;) {
		ssize_t n;
		int rc = pp_grow(p);

		if (rc)
			return rc;
		n = read(fd, p->buf + p->len, line ? 1 : p->cap - p->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (line && p->buf[p->len] == '\n') {
			p->buf[p->len] = '\0';
			return 0;
		}
		p->len += (size_t)n;
	}
}

static int pp_read_file(const char *path, struct passphrase *p)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	int rc;

	if (fd < 0) {
		rc = -errno;
		cli_error("key file %s: %s", path, strerror(errno));
		return rc;
	}
	rc = pp_read_fd(fd, false, p);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc == -EFBIG)
		cli_error("key file %s: larger than %u bytes", path, PASSPHRASE_MAX);
	else if (rc)
		cli_error("key file %s: %s", path, strerror(-rc));
	return rc;
}

/* One line from the terminal on stdin, echo off; the newline is dropped.
 * Echo goes off before the prompt is shown: whoever answers the prompt at
 * once must never see the answer echoed, nor have it discarded by the
 * flush that switching echo off does. */
static int pp_prompt(const char *prompt, struct passphrase *p)
{
	struct termios old, quiet;
	int rc;

	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -errno;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return -errno;
	fputs(prompt, stderr);
	fflush(stderr);
	rc = pp_read_fd(STDIN_FILENO, true, p);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

static int pp_interactive(const char *prompt, bool verify, struct passphrase *out)
{
	struct passphrase again = {0};
	int rc = pp_prompt(prompt, out);

	if (rc == 0 && verify) {
		rc = pp_prompt("Verify passphrase: ", &again);
		if (rc == 0 && (again.len != out->len ||
				(out->len && memcmp(again.buf, out->buf, out->len) != 0))) {
			cli_error("Passphrases do not match.");
			rc = -EINVAL;
		}
		passphrase_free(&again);
	} else if (rc) {
		cli_error("reading the passphrase: %s", strerror(-rc));
	}
	return rc;
}

int passphrase_read(const char *key_file, const char *prompt, bool verify, struct passphrase *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (key_file)
		rc = pp_read_file(key_file, out);
	else if (isatty(STDIN_FILENO))
		rc = pp_interactive(prompt, verify, out);
	else if ((rc = pp_read_fd(STDIN_FILENO, true, out)))
		cli_error("reading the passphrase from standard input: %s", strerror(-rc));
	if (rc == 0 && out->len == 0) {
		cli_error("passphrase is empty");
		rc = -EINVAL;
	}
	if (rc)
		passphrase_free(out);
	return rc;
}
