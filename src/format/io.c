/* Storage access on a file descriptor, and volume keys in locked memory. */
#include <cryptblk/luks.h>
#include <cryptblk/secmem.h>

#include <errno.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_of(void *priv)
{
	return (int)(intptr_t)priv;
}

static int io_fd_read(void *priv, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd_of(priv), p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* end of file inside the metadata */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int io_fd_write(void *priv, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd_of(priv), p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int io_fd_sync(void *priv)
{
	return fdatasync(fd_of(priv)) ? -errno : 0;
}

int luks_io_init_fd(struct luks_io *io, int fd, bool writable)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) != 0)
			return -errno;
	} else {
		return -ENOTBLK;
	}
	io->size = size;
	io->read = io_fd_read;
	io->write = writable ? io_fd_write : NULL;
	io->sync = writable ? io_fd_sync : NULL;
	io->priv = (void *)(intptr_t)fd;
	return 0;
}

struct luks_key *luks_key_new(size_t len)
{
	struct luks_key *key;

	if (len == 0 || len > LUKS_KEY_MAX) {
		errno = EINVAL;
		return NULL;
	}
	key = secmem_alloc(sizeof(*key));
	if (key)
		key->len = len;
	return key;
}

void luks_key_free(struct luks_key *key)
{
	secmem_free(key, sizeof(*key));
}
