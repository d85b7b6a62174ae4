/* Temporary files with a reproducible pattern, for unit tests. */
#include "helper_tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

uint8_t helper_pattern_byte(uint32_t seed, uint64_t offset)
{
	uint64_t x;

	if (seed == 0)
		return 0;
	/* A cheap mix of seed and offset: neighbouring bytes and sectors differ. */
	x = (offset + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 8));
}

void helper_pattern_fill(uint32_t seed, uint64_t offset, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = helper_pattern_byte(seed, offset + i);
}

static int helper_fd_io(int fd, void *buf, size_t len, uint64_t offset, int write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    write ? pwrite(fd, (uint8_t *)buf + done, len - done, (off_t)(offset + done))
			  : pread(fd, (uint8_t *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int helper_tmpfile_create(uint64_t size, uint32_t seed, char path[HELPER_TMPFILE_PATH_MAX])
{
	const char *dir = getenv("TMPDIR");
	uint8_t buf[65536];
	int fd, err = 0;

	snprintf(path, HELPER_TMPFILE_PATH_MAX, "%s/cryptblk-test-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	for (uint64_t off = 0; off < size && !err; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		helper_pattern_fill(seed, off, buf, n);
		err = helper_fd_io(fd, buf, n, off, 1);
	}
	close(fd);
	if (err)
		unlink(path);
	return err;
}

int helper_file_pread(const char *path, void *buf, size_t len, uint64_t offset)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = helper_fd_io(fd, buf, len, offset, 0);
	close(fd);
	return err;
}

int helper_file_pwrite(const char *path, const void *buf, size_t len, uint64_t offset)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = helper_fd_io(fd, (void *)buf, len, offset, 1);
	close(fd);
	return err;
}
