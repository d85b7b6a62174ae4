/* Error messages of the format code: one line, kept for the caller to print. */
#ifndef CRYPTBLK_FORMAT_ERR_H
#define CRYPTBLK_FORMAT_ERR_H

#include <cryptblk/luks.h>

/* Format the message into err (when not NULL) and return `code`, so that
 * `return luks_err_set(err, -EINVAL, "luks2: ...")` reads as one step. A
 * message already set is kept: the first failure is the one reported. */
int luks_err_set(struct luks_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Empty the message so that the next luks_err_set() is kept. */
void luks_err_clear(struct luks_err *err);

#endif
