/* Error messages of the format code. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

/* Messages quote header fields, which are outside input: a newline or an
 * escape sequence in a label or cipher name must not reach a terminal or
 * split the one line a caller prints. */
static void err_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int luks_err_set(struct luks_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->msg[0])
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err_printable(err->msg);
	return code;
}

void luks_err_clear(struct luks_err *err)
{
	if (err)
		err->msg[0] = '\0';
}
