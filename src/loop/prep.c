/* Filling an op's SQE. These only write op->sqe; loop_submit() queues it. */
#include <cryptblk/loop.h>

#include <string.h>
#include <sys/socket.h>

static struct io_uring_sqe *loop_op_sqe(struct loop_op *op)
{
	memset(&op->sqe, 0, sizeof(op->sqe));
	return &op->sqe;
}

void loop_prep_read(struct loop_op *op, int fd, void *buf, uint32_t len, uint64_t off)
{
	io_uring_prep_read(loop_op_sqe(op), fd, buf, len, off);
}

void loop_prep_write(struct loop_op *op, int fd, const void *buf, uint32_t len, uint64_t off)
{
	io_uring_prep_write(loop_op_sqe(op), fd, buf, len, off);
}

void loop_prep_fsync(struct loop_op *op, int fd, bool datasync)
{
	io_uring_prep_fsync(loop_op_sqe(op), fd, datasync ? IORING_FSYNC_DATASYNC : 0);
}

void loop_prep_fallocate(struct loop_op *op, int fd, int mode, uint64_t off, uint64_t len)
{
	io_uring_prep_fallocate(loop_op_sqe(op), fd, mode, (off_t)off, (off_t)len);
}

void loop_prep_poll_multishot(struct loop_op *op, int fd, uint32_t poll_mask)
{
	io_uring_prep_poll_multishot(loop_op_sqe(op), fd, poll_mask);
}

void loop_prep_poll(struct loop_op *op, int fd, uint32_t poll_mask)
{
	io_uring_prep_poll_add(loop_op_sqe(op), fd, poll_mask);
}

void loop_prep_recv(struct loop_op *op, int fd, void *buf, uint32_t len, int flags)
{
	io_uring_prep_recv(loop_op_sqe(op), fd, buf, len, flags);
}

void loop_prep_send(struct loop_op *op, int fd, const void *buf, uint32_t len, int flags)
{
	io_uring_prep_send(loop_op_sqe(op), fd, buf, len, flags);
}

void loop_prep_accept(struct loop_op *op, int fd)
{
	io_uring_prep_accept(loop_op_sqe(op), fd, NULL, NULL, SOCK_CLOEXEC);
}

void loop_prep_timeout(struct loop_op *op, struct __kernel_timespec *ts)
{
	io_uring_prep_timeout(loop_op_sqe(op), ts, 0, 0);
}

void loop_prep_cancel(struct loop_op *op, struct loop_op *target)
{
	io_uring_prep_cancel(loop_op_sqe(op), target, 0);
}

void loop_prep_nop(struct loop_op *op)
{
	io_uring_prep_nop(loop_op_sqe(op));
}
