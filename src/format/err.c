/* Error messages of the format code. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int luks_err_set(struct luks_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->msg[0])
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void luks_err_clear(struct luks_err *err)
{
	if (err)
		err->msg[0] = '\0';
}
