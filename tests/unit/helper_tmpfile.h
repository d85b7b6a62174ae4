/* Temporary files for tests: created under $TMPDIR (or /tmp), filled with a
 * reproducible byte pattern, removed by the test. */
#ifndef CRYPTBLK_HELPER_TMPFILE_H
#define CRYPTBLK_HELPER_TMPFILE_H

#include <stddef.h>
#include <stdint.h>

#define HELPER_TMPFILE_PATH_MAX 256

/* The pattern byte at `offset` for `seed`: what helper_tmpfile_create wrote. */
uint8_t helper_pattern_byte(uint32_t seed, uint64_t offset);
void helper_pattern_fill(uint32_t seed, uint64_t offset, void *buf, size_t len);

/* Create a file of `size` bytes holding the pattern of `seed` (seed 0: zeros,
 * written as data, not holes). `path` receives its name. Returns 0 or a
 * negative errno. */
int helper_tmpfile_create(uint64_t size, uint32_t seed, char path[HELPER_TMPFILE_PATH_MAX]);

/* pread/pwrite all of it, or a negative errno. */
int helper_file_pread(const char *path, void *buf, size_t len, uint64_t offset);
int helper_file_pwrite(const char *path, const void *buf, size_t len, uint64_t offset);

#endif
