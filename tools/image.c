/* The IMAGE argument: a file or block device, or a remote NBD export.
 *
 * A file's metadata is read and written through its descriptor, as before
 * remote exports existed. A remote's goes through the same backend that
 * serves it, on a private loop run until each request is done: the
 * metadata code is synchronous and runs before any serving loop. The
 * connection that loop made is parked when the image closes, and the first
 * serving thread takes it over. */
#include "image.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Largest request the metadata code sends at once. */
#define IMAGE_IO_MAX (1u << 20)

bool image_is_uri(const char *name)
{
	static const char *const schemes[] = {"nbd://",	      "nbds://",      "nbd+unix://",
					      "nbds+unix://", "nbd+vsock://", "nbds+vsock://"};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(name, schemes[i], strlen(schemes[i])))
			return true;
	return false;
}

struct image_wait {
	bool done;
	int res;
};

static void image_io_done(struct backend_io *io, int res)
{
	struct image_wait *w = io->priv;

	w->done = true;
	w->res = res;
}

/* One request on the private loop, waited for. */
static int image_be_io(struct image *img, uint8_t op, void *buf, uint32_t len, uint64_t off)
{
	struct image_wait w = {0};
	struct backend_io io = {
	    .op = op, .buf = buf, .len = len, .offset = off, .done = image_io_done, .priv = &w};
	int ret = 0;

	if (img->broken)
		return -EIO;
	backend_submit(img->be, img->loop, &io);
	while (!w.done && ret == 0)
		ret = loop_run_once(img->loop, true);
	if (ret < 0) {
		/* The request may still point at this stack frame. */
		img->broken = true;
		return ret;
	}
	return w.res;
}

/* [off, off+len) rounded out to whole blocks of the backend, and the
 * bounce buffer that covers it when it is not already aligned. */
static int image_be_span(struct image *img, void *buf, size_t len, uint64_t off, bool write)
{
	uint64_t bs = img->be->block_size, a0 = off & ~(bs - 1);
	uint64_t a1 = (off + len + bs - 1) & ~(bs - 1);
	uint8_t *bounce;
	int ret = 0;

	if (a0 == off && a1 == off + len)
		return image_be_io(img, write ? BACKEND_WRITE : BACKEND_READ, buf, (uint32_t)len,
				   off);
	if (a1 > img->be->size)
		return -EINVAL;
	bounce = malloc(a1 - a0);
	if (!bounce)
		return -ENOMEM;
	/* A partial block is read first, whether we read or write it. */
	ret = image_be_io(img, BACKEND_READ, bounce, (uint32_t)(a1 - a0), a0);
	if (ret == 0 && !write)
		memcpy(buf, bounce + (off - a0), len);
	if (ret == 0 && write) {
		memcpy(bounce + (off - a0), buf, len);
		ret = image_be_io(img, BACKEND_WRITE, bounce, (uint32_t)(a1 - a0), a0);
	}
	free(bounce);
	return ret;
}

static int image_be_rw(struct image *img, void *buf, size_t len, uint64_t off, bool write)
{
	uint8_t *p = buf;
	int ret = 0;

	if (off > img->be->size || len > img->be->size - off)
		return -EIO; /* like a file that ends inside the metadata */
	while (len > 0 && ret == 0) {
		size_t n = len < IMAGE_IO_MAX ? len : IMAGE_IO_MAX;

		ret = image_be_span(img, p, n, off, write);
		p += n;
		off += n;
		len -= n;
	}
	return ret;
}

static int image_be_read(void *priv, void *buf, size_t len, uint64_t off)
{
	return image_be_rw(priv, buf, len, off, false);
}

static int image_be_write(void *priv, const void *buf, size_t len, uint64_t off)
{
	/* Never written to: a write is only read from (cast for the shared
	 * read/write path). */
	return image_be_rw(priv, (void *)buf, len, off, true);
}

static int image_be_sync(void *priv)
{
	return image_be_io(priv, BACKEND_FLUSH, NULL, 0, 0);
}

static int image_open_remote(struct image *img, bool writable, unsigned reconnect_timeout_s)
{
	int ret = backend_nbd_open(img->name, writable ? 0 : BACKEND_NBD_READONLY,
				   reconnect_timeout_s, &img->be);

	if (ret < 0) {
		cli_error("%s", backend_nbd_error()[0] ? backend_nbd_error() : strerror(-ret));
		/* Unreachable or refused: the device is not there (exit 4). */
		return ret == -ENOMEM || ret == -EROFS ? ret : -ENXIO;
	}
	ret = loop_create(64, &img->loop);
	if (ret < 0) {
		cli_error("%s: io_uring: %s", img->name, strerror(-ret));
		return ret;
	}
	img->io.size = img->be->size;
	img->io.read = image_be_read;
	img->io.write = writable ? image_be_write : NULL;
	img->io.sync = writable ? image_be_sync : NULL;
	img->io.priv = img;
	return 0;
}

static int image_open_file(struct image *img, bool writable)
{
	int ret;

	img->fd = open(img->name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (img->fd < 0) {
		ret = -errno;
		cli_error("%s: %s", img->name, strerror(-ret));
		return ret;
	}
	ret = luks_io_init_fd(&img->io, img->fd, writable);
	if (ret == 0)
		ret = backend_file_open(img->name, writable ? 0 : BACKEND_FILE_READONLY, &img->be);
	if (ret < 0)
		cli_error("%s: %s", img->name, strerror(-ret));
	return ret;
}

int image_open(const char *name, bool writable, unsigned reconnect_timeout_s, struct image *img)
{
	int ret;

	memset(img, 0, sizeof(*img));
	img->name = name;
	img->fd = -1;
	ret = image_is_uri(name) ? image_open_remote(img, writable, reconnect_timeout_s)
				 : image_open_file(img, writable);
	if (ret < 0)
		image_close(img);
	return ret;
}

struct backend *image_take_backend(struct image *img)
{
	img->be_taken = true;
	return img->be;
}

void image_close(struct image *img)
{
	if (img->loop) {
		/* Park the private loop's connection for whoever serves next,
		 * and let the cancelled polls finish before the ring goes. */
		backend_detach(img->be, img->loop);
		while (!img->broken && loop_inflight(img->loop) &&
		       loop_run_once(img->loop, true) == 0)
			;
		loop_destroy(img->loop);
		img->loop = NULL;
	}
	if (!img->be_taken)
		backend_close(img->be);
	img->be = NULL;
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}

int image_serve_threads(const char *name, const struct backend *be, unsigned requested,
			unsigned *out)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool one = !backend_nbd_multi_conn(be);

	if (one && requested > 1) {
		cli_error("serve: %s: the remote does not allow multi-conn (a flush on one "
			  "connection would not cover the others); serve it with one thread",
			  name);
		return -EINVAL;
	}
	if (one)
		*out = 1;
	else
		*out = requested ? requested : (cpus > 0 ? (unsigned)cpus : 1);
	return 0;
}

int image_lock_fd(int fd, const char *name, enum image_lock_mode mode, const char *what)
{
	int op = (mode == IMAGE_LOCK_SHARED ? LOCK_SH : LOCK_EX) | LOCK_NB;

	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			int ret = -errno;

			cli_error("%s: %s: lock: %s", what, name, strerror(-ret));
			return ret;
		}
		if (mode == IMAGE_LOCK_SHARED)
			cli_error("%s: %s: in use by another cryptblk process that may write it",
				  what, name);
		else
			cli_error("%s: %s: in use by another cryptblk process%s", what, name,
				  strcmp(what, "serve") ? ""
							: " (serves share an image only with "
							  "--readonly --shared-readonly)");
		return -EBUSY;
	}
	return 0;
}

int image_lock(const char *name, enum image_lock_mode mode, const char *what, int *fd)
{
	int ret;

	*fd = -1;
	if (image_is_uri(name))
		return 0;
	/* Read-only is enough for flock, whatever the lock's mode. */
	*fd = open(name, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		ret = -errno;
		cli_error("%s: %s", name, strerror(-ret));
		return ret;
	}
	ret = image_lock_fd(*fd, name, mode, what);
	if (ret < 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}
