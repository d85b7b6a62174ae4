/* Shared by every fuzz target. */
#ifndef CRYPTBLK_FUZZ_HELPER_FUZZ_H
#define CRYPTBLK_FUZZ_HELPER_FUZZ_H

/* Report a broken invariant and abort, so libFuzzer keeps the input. The
 * message goes to stderr and, when a sanitizer runtime is linked, to its
 * report stream too (which survives libFuzzer's -close_fd_mask=2). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
