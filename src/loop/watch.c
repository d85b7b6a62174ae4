/* Watching an eventfd with a multishot poll: readiness becomes a CQE. */
#include <cryptblk/loop.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

struct loop_watch {
	struct loop_op poll_op;
	struct loop_op cancel_op;
	struct loop *loop;
	int fd;
	void (*fn)(void *ctx);
	void *ctx;
	/* Ops of this watch whose final CQE has not arrived: the watch is freed
	 * only after the poll and its cancel have both finished, in either order. */
	unsigned ops_alive;
	bool removing;
};

static struct loop_watch *loop_watch_of(struct loop_op *op, size_t member)
{
	return (struct loop_watch *)((char *)op - member);
}

static void loop_watch_put(struct loop_watch *w)
{
	if (--w->ops_alive == 0 && w->removing)
		free(w);
}

static void loop_watch_arm(struct loop_watch *w)
{
	w->ops_alive++;
	loop_prep_poll_multishot(&w->poll_op, w->fd, POLLIN);
	loop_submit(w->loop, &w->poll_op);
}

static void loop_watch_polled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct loop_watch *w = loop_watch_of(op, offsetof(struct loop_watch, poll_op));
	bool final = !(cqe_flags & IORING_CQE_F_MORE);

	if (res > 0 && !w->removing) {
		uint64_t count;
		/* Drain the counter so the fd goes quiet until the next signal;
		 * the fd is non-blocking, so EAGAIN only means another reader won. */
		ssize_t n = read(w->fd, &count, sizeof(count));
		(void)n;
		w->fn(w->ctx);
	}
	if (!final)
		return;
	/* The kernel may end a multishot poll at any time (overflow, a
	 * cancelled or failed poll); re-arm unless it was asked to stop or the
	 * fd itself is bad. */
	if (!w->removing && res != -EBADF && res != -EINVAL) {
		w->ops_alive--;
		loop_watch_arm(w);
		return;
	}
	loop_watch_put(w);
}

static void loop_watch_cancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	(void)res;
	(void)cqe_flags;
	loop_watch_put(loop_watch_of(op, offsetof(struct loop_watch, cancel_op)));
}

int loop_watch_eventfd(struct loop *loop, int fd, void (*fn)(void *ctx), void *ctx,
		       struct loop_watch **out)
{
	struct loop_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	w->poll_op.done = loop_watch_polled;
	w->cancel_op.done = loop_watch_cancelled;
	loop_watch_arm(w);
	*out = w;
	return 0;
}

void loop_watch_remove(struct loop_watch *w)
{
	if (!w || w->removing)
		return;
	w->removing = true;
	w->ops_alive++;
	loop_prep_cancel(&w->cancel_op, &w->poll_op);
	loop_submit(w->loop, &w->cancel_op);
}
