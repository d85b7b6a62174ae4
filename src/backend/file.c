/* The file backend: a regular file or a block device, served through the
 * submitting thread's io_uring loop. Nothing here blocks on the I/O path;
 * open and close are the only synchronous system calls. */
#include "backend_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Used for O_DIRECT on a regular file when the filesystem does not report
 * its alignment: a page is enough on every filesystem we know of. */
#define FILE_DIRECT_ALIGN_DEFAULT 4096u

struct file_backend {
	struct backend be;
	int fd;
	int direct_fd;	       /* -1 without BACKEND_FILE_DIRECT or when refused */
	uint32_t direct_align; /* buffer, offset and length alignment for direct_fd */
};

static struct file_backend *file_backend_of(struct backend *be)
{
	return backend_container_of(be, struct file_backend, be);
}

static bool file_direct_fits(const struct file_backend *fb, const void *buf, uint64_t off,
			     uint32_t len)
{
	uint64_t mask = fb->direct_align - 1;

	return fb->direct_fd >= 0 && ((uintptr_t)buf & mask) == 0 && (off & mask) == 0 &&
	       (len & mask) == 0;
}

static void file_io_done(struct loop_op *op, int res, uint32_t cqe_flags);

/* Queue the part of a READ or WRITE that has not been transferred yet. */
static void file_rw_queue(struct file_backend *fb, struct backend_io *io, bool buffered_only)
{
	uint8_t *buf = (uint8_t *)io->buf + io->done_bytes;
	uint64_t off = io->offset + io->done_bytes;
	uint32_t len = io->len - io->done_bytes;
	int fd = fb->fd;

	if (!buffered_only && file_direct_fits(fb, buf, off, len))
		fd = fb->direct_fd;
	if (io->op == BACKEND_READ)
		loop_prep_read(&io->op_, fd, buf, len, off);
	else
		loop_prep_write(&io->op_, fd, buf, len, off);
	io->op_.done = file_io_done;
	loop_submit(io->loop, &io->op_);
}

static void file_rw_done(struct file_backend *fb, struct backend_io *io, int res)
{
	if (res == -EINVAL && fb->direct_fd >= 0 && io->op_.sqe.fd == fb->direct_fd) {
		/* The filesystem wants a stricter alignment than it told us:
		 * redo this part through the page cache. */
		file_rw_queue(fb, io, true);
		return;
	}
	if (res < 0) {
		io->done(io, res);
		return;
	}
	if (res == 0) {
		/* End of file or device before the end of the request. */
		io->done(io, -EIO);
		return;
	}
	io->done_bytes += (uint32_t)res;
	if (io->done_bytes < io->len) {
		file_rw_queue(fb, io, false);
		return;
	}
	io->done(io, 0);
}

static void file_io_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct backend_io *io = backend_io_of_op(op);
	struct file_backend *fb = io->backend_priv;

	(void)cqe_flags;
	if (io->op == BACKEND_READ || io->op == BACKEND_WRITE)
		file_rw_done(fb, io, res);
	else
		io->done(io, res < 0 ? res : 0);
}

/* 0 when the io may go to the kernel, or the errno to complete it with. */
static int file_io_check(const struct backend *be, const struct backend_io *io)
{
	bool modifies = io->op == BACKEND_WRITE || io->op == BACKEND_DISCARD;

	if (io->op > BACKEND_DISCARD)
		return -EINVAL;
	if (modifies && be->read_only)
		return -EPERM;
	if (io->op == BACKEND_FLUSH)
		return 0;
	if (io->len == 0 || (io->op != BACKEND_DISCARD && !io->buf))
		return -EINVAL;
	if (io->offset > be->size || io->len > be->size - io->offset)
		return io->op == BACKEND_WRITE ? -ENOSPC : -EINVAL;
	if (io->op == BACKEND_DISCARD && !be->can_discard)
		return -EOPNOTSUPP;
	return 0;
}

static void file_submit(struct backend *be, struct loop *loop, struct backend_io *io)
{
	struct file_backend *fb = file_backend_of(be);
	int err = file_io_check(be, io);

	if (err) {
		backend_io_fail_later(loop, io, err);
		return;
	}
	io->loop = loop;
	io->done_bytes = 0;
	io->backend_priv = fb;
	switch (io->op) {
	case BACKEND_READ:
	case BACKEND_WRITE:
		file_rw_queue(fb, io, false);
		return;
	case BACKEND_FLUSH:
		/* One inode behind both descriptors: one fdatasync covers both. */
		loop_prep_fsync(&io->op_, fb->fd, true);
		break;
	case BACKEND_DISCARD:
		loop_prep_fallocate(&io->op_, fb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    io->offset, io->len);
		break;
	}
	io->op_.done = file_io_done;
	loop_submit(loop, &io->op_);
}

static void file_close(struct backend *be)
{
	struct file_backend *fb = file_backend_of(be);

	if (fb->direct_fd >= 0)
		close(fb->direct_fd);
	if (fb->fd >= 0)
		close(fb->fd);
	free(fb);
}

static const struct backend_ops file_ops = {
    .name = "file",
    .submit = file_submit,
    .close = file_close,
};

static int file_geometry_get(struct file_backend *fb, const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		fb->be.size = (uint64_t)st->st_size;
		fb->be.block_size = 512;
		fb->be.can_discard = !fb->be.read_only;
		return 0;
	}
	if (S_ISBLK(st->st_mode)) {
		uint64_t size = 0;
		int ssz = 0;

		if (ioctl(fb->fd, BLKGETSIZE64, &size) != 0 || ioctl(fb->fd, BLKSSZGET, &ssz) != 0)
			return -errno;
		fb->be.size = size;
		fb->be.block_size = ssz > 0 ? (uint32_t)ssz : 512;
		/* BLKDISCARD is a blocking ioctl, not an io_uring op. */
		fb->be.can_discard = false;
		return 0;
	}
	return S_ISDIR(st->st_mode) ? -EISDIR : -ENODEV;
}

/* The alignment O_DIRECT needs on `fd`, or 0 when it cannot be used. */
static uint32_t file_direct_align(int fd, const struct stat *st, uint32_t block_size)
{
	uint32_t align = S_ISBLK(st->st_mode) ? block_size : FILE_DIRECT_ALIGN_DEFAULT;
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (S_ISREG(st->st_mode) && statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align == 0)
			return 0;
		align = stx.stx_dio_offset_align > stx.stx_dio_mem_align ? stx.stx_dio_offset_align
									 : stx.stx_dio_mem_align;
	}
#else
	(void)fd;
#endif
	/* Lengths and offsets are checked with a mask: only powers of two. */
	if (align == 0 || (align & (align - 1)) != 0)
		return 0;
	return align;
}

/* Open the O_DIRECT twin of fb->fd; a filesystem that refuses O_DIRECT
 * (EINVAL) leaves the backend on buffered I/O without complaint. */
static int file_direct_open(struct file_backend *fb, const char *path, int oflags,
			    const struct stat *st)
{
	struct stat dst;
	uint32_t align;

	fb->direct_fd = open(path, oflags | O_DIRECT);
	if (fb->direct_fd < 0)
		return errno == EINVAL ? 0 : -errno;
	if (fstat(fb->direct_fd, &dst) != 0)
		return -errno;
	/* The path was opened twice: both must name the same file. */
	if (dst.st_dev != st->st_dev || dst.st_ino != st->st_ino)
		return -ESTALE;
	align = file_direct_align(fb->direct_fd, st, fb->be.block_size);
	if (align == 0) {
		close(fb->direct_fd);
		fb->direct_fd = -1;
		return 0;
	}
	fb->direct_align = align;
	return 0;
}

int backend_file_open(const char *path, unsigned flags, struct backend **out)
{
	struct file_backend *fb;
	struct stat st;
	int oflags, err;

	*out = NULL;
	fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	fb->be.ops = &file_ops;
	fb->be.read_only = (flags & BACKEND_FILE_READONLY) != 0;
	fb->direct_fd = -1;
	oflags = (fb->be.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	fb->fd = open(path, oflags);
	if (fb->fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fb->fd, &st) != 0) {
		err = -errno;
		goto out;
	}
	err = file_geometry_get(fb, &st);
	if (err)
		goto out;
	if (flags & BACKEND_FILE_DIRECT)
		err = file_direct_open(fb, path, oflags, &st);
out:
	if (err) {
		file_close(&fb->be);
		return err;
	}
	*out = &fb->be;
	return 0;
}
