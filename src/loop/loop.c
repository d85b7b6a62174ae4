/* The io_uring event loop: ops with their completion callbacks, a FIFO for
 * ops that find the submission queue full, progress functions run after every
 * CQE batch. See docs/architecture.md, "Event loop". */
#include <cryptblk/loop.h>

#include <cryptblk/clock.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

struct loop_progress {
	loop_progress_fn fn;
	void *ctx;
};

struct loop {
	struct io_uring ring;
	struct loop_op *wait_head, *wait_tail; /* ops waiting for SQ room */
	unsigned inflight;
	struct loop_progress *progress;
	unsigned nr_progress, cap_progress;
	unsigned last_moved;	       /* callbacks and progress of the last turn */
	uint64_t wake_by;	       /* CLOCK_MONOTONIC ns, 0 = none; see loop_wake_by() */
	uint32_t poll_max_ns, poll_ns; /* see loop_set_poll(), loop_poll_adapt() */
	unsigned worker_ops;	       /* in flight, see loop_op_needs_worker() */
	bool stopping;
	bool wait_in_poll; /* CRYPTBLK_LOOP_WAIT=poll, see loop_sleep() */
};

int loop_create(unsigned entries, struct loop **out)
{
	struct io_uring_params params;
	struct loop *loop;
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	memset(&params, 0, sizeof(params));
	/* Only this thread submits; the kernel may skip cross-thread work.
	 * Completions that need this thread's task work do not interrupt it
	 * (COOP_TASKRUN) but raise IORING_SQ_TASKRUN, which a polling loop
	 * watches (TASKRUN_FLAG). */
	params.flags =
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	ret = io_uring_queue_init_params(entries, &loop->ring, &params);
	if (ret == -EINVAL) {
		/* Kernels before 6.0 know neither flag. */
		memset(&params, 0, sizeof(params));
		ret = io_uring_queue_init_params(entries, &loop->ring, &params);
	}
	if (ret < 0) {
		free(loop);
		return ret;
	}
	loop->wait_in_poll =
	    getenv("CRYPTBLK_LOOP_WAIT") && !strcmp(getenv("CRYPTBLK_LOOP_WAIT"), "poll");
	*out = loop;
	return 0;
}

void loop_destroy(struct loop *loop)
{
	if (!loop)
		return;
	io_uring_queue_exit(&loop->ring);
	free(loop->progress);
	free(loop);
}

/* Move ops from the FIFO into the SQ, submitting to make room, in order.
 * Returns 0, or a negative errno from io_uring_submit. */
static int loop_flush_waiting(struct loop *loop)
{
	while (loop->wait_head) {
		struct loop_op *op = loop->wait_head;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

		if (!sqe) {
			int ret = io_uring_submit(&loop->ring);
			if (ret < 0)
				return ret;
			sqe = io_uring_get_sqe(&loop->ring);
			if (!sqe)
				return 0; /* the kernel took nothing; try next turn */
		}
		*sqe = op->sqe;
		io_uring_sqe_set_data(sqe, op);
		loop->wait_head = op->next;
		if (!loop->wait_head)
			loop->wait_tail = NULL;
		op->next = NULL;
	}
	return 0;
}

/* File writes and syncs: on a buffered file (ext4 on this kernel) io_uring
 * hands them to a kernel worker thread, which needs a CPU to finish them.
 * While one is in flight the loop does not poll: spinning would take a
 * CPU from that worker (random 4K writes lost 10% on 2 cores). Reads,
 * socket ops and polls complete inline or on an outside event. */
static bool loop_op_needs_worker(const struct loop_op *op)
{
	switch (op->sqe.opcode) {
	case IORING_OP_WRITE:
	case IORING_OP_WRITEV:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_FSYNC:
	case IORING_OP_SYNC_FILE_RANGE:
	case IORING_OP_FALLOCATE:
		return true;
	default:
		return false;
	}
}

void loop_submit(struct loop *loop, struct loop_op *op)
{
	struct io_uring_sqe *sqe = NULL;

	loop->inflight++;
	if (loop_op_needs_worker(op))
		loop->worker_ops++;
	op->next = NULL;
	/* Keep submission order: nothing overtakes an op already waiting. */
	if (!loop->wait_head)
		sqe = io_uring_get_sqe(&loop->ring);
	if (sqe) {
		*sqe = op->sqe;
		io_uring_sqe_set_data(sqe, op);
		return;
	}
	if (loop->wait_tail)
		loop->wait_tail->next = op;
	else
		loop->wait_head = op;
	loop->wait_tail = op;
}

/* user_data always carries the op pointer; this is the one place that says so. */
static struct loop_op *loop_op_from_cqe(const struct io_uring_cqe *cqe)
{
	return (struct loop_op *)io_uring_cqe_get_data(cqe);
}

/* The kernel filled a read's or a recv's buffer behind memcheck's back;
 * tell it (a few no-op instructions when not under valgrind). */
static void loop_op_mark_filled(const struct loop_op *op, int res)
{
	if (res > 0 && (op->sqe.opcode == IORING_OP_READ || op->sqe.opcode == IORING_OP_RECV))
		VALGRIND_MAKE_MEM_DEFINED((void *)(uintptr_t)op->sqe.addr, (size_t)res);
}

static unsigned loop_reap(struct loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&loop->ring, &cqe) == 0) {
		struct loop_op *op = loop_op_from_cqe(cqe);
		int res = cqe->res;
		uint32_t flags = cqe->flags;

		/* Release the CQE first: the callback may submit and reap. */
		io_uring_cqe_seen(&loop->ring, cqe);
		if (!(flags & IORING_CQE_F_MORE)) {
			loop->inflight--;
			if (loop_op_needs_worker(op))
				loop->worker_ops--;
		}
		loop_op_mark_filled(op, res);
		op->done(op, res, flags);
		n++;
	}
	return n;
}

static unsigned loop_run_progress(struct loop *loop)
{
	unsigned total = 0, n;

	do {
		n = 0;
		for (unsigned i = 0; i < loop->nr_progress; i++) {
			struct loop_progress *p = &loop->progress[i];
			if (p->fn)
				n += p->fn(p->ctx);
		}
		total += n;
	} while (n);
	return total;
}

void loop_set_poll(struct loop *loop, uint32_t max_ns)
{
	loop->poll_max_ns = max_ns;
	loop->poll_ns = 0;
}

/* Polling pays when the next event comes soon after the loop goes idle:
 * then the thread is still on its CPU and no wake-up (an interrupt to an
 * idle CPU, costly in a VM) is needed. Like QEMU's adaptive aio polling:
 * an idle spell longer than the window but shorter than
 * LOOP_POLL_WORTH x the maximum would have been caught by a longer window,
 * which doubles; a longer spell means polling only burns CPU, and the
 * window halves, down to none. `idle_ns` includes the wake-up itself. */
#define LOOP_POLL_START 2000u
#define LOOP_POLL_WORTH 4u
static void loop_poll_adapt(struct loop *loop, uint64_t idle_ns)
{
	if (idle_ns <= loop->poll_ns)
		return;
	if (idle_ns <= (uint64_t)loop->poll_max_ns * LOOP_POLL_WORTH) {
		uint32_t grown = loop->poll_ns ? loop->poll_ns * 2 : LOOP_POLL_START;

		loop->poll_ns = grown < loop->poll_max_ns ? grown : loop->poll_max_ns;
	} else {
		loop->poll_ns /= 2;
		if (loop->poll_ns < LOOP_POLL_START)
			loop->poll_ns = 0;
	}
}

/* Spin until a CQE is there, or the window (or the wake-up time) is over.
 * Pending task work (a socket became readable) raises IORING_SQ_TASKRUN;
 * running it turns it into CQEs. Returns true if a CQE came. */
static bool loop_poll(struct loop *loop, uint64_t t0)
{
	uint64_t end = t0 + loop->poll_ns;

	if (loop->wake_by && loop->wake_by < end)
		end = loop->wake_by;
	for (unsigned i = 1;; i++) {
		if (io_uring_cq_ready(&loop->ring))
			return true;
		if (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_TASKRUN) {
			io_uring_get_events(&loop->ring);
			continue;
		}
		__builtin_ia32_pause();
		if (i % 16 == 0 && clock_now_ns() >= end)
			return false;
	}
}

void loop_wake_by(struct loop *loop, uint64_t mono_ns)
{
	if (mono_ns && (!loop->wake_by || mono_ns < loop->wake_by))
		loop->wake_by = mono_ns;
}

/* Submit, and sleep until a completion is there or the wake-up time set by
 * loop_wake_by() has come. Normally one io_uring_enter does both (the
 * timeout rides in its extended argument: no timer fd, and a kernel timer
 * only while the thread really sleeps). With CRYPTBLK_LOOP_WAIT=poll the
 * sleep is a ppoll() on the ring's fd instead (it is readable while
 * completions wait): the same wake-ups, for tools that know poll() blocks
 * but hold a lock across io_uring_enter (valgrind 3.19 stops every other
 * thread then, see tests/interop/test-serve-valgrind.sh). Completions that
 * need this thread's task work interrupt the poll (-EINTR), like any sleep. */
static int loop_sleep(struct loop *loop, uint64_t now)
{
	struct pollfd pfd = {.fd = loop->ring.ring_fd, .events = POLLIN};
	bool timed = loop->wake_by != 0;
	uint64_t left = 0;
	int ret;

	if (timed) {
		if (loop->wake_by <= now)
			return io_uring_submit(&loop->ring);
		left = loop->wake_by - now;
	}
	if (!loop->wait_in_poll) {
		struct __kernel_timespec kts = {.tv_sec = (long long)(left / 1000000000ull),
						.tv_nsec = (long long)(left % 1000000000ull)};
		struct io_uring_cqe *cqe;

		if (!timed)
			return io_uring_submit_and_wait(&loop->ring, 1);
		ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &kts, NULL);
		return ret == -ETIME ? 0 : ret;
	}
	ret = io_uring_submit(&loop->ring);
	if (ret >= 0 && !io_uring_cq_ready(&loop->ring)) {
		struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull),
				      .tv_nsec = (long)(left % 1000000000ull)};

		if (ppoll(&pfd, 1, timed ? &ts : NULL, NULL) < 0)
			ret = -errno;
	}
	return ret;
}

/* Poll first when loop_set_poll() allows it (not in poll mode: under
 * valgrind a spin only slows everything down; not while a kernel worker
 * has one of our writes), then sleep. */
static int loop_submit_and_wait(struct loop *loop)
{
	uint64_t t0 = (loop->wake_by || loop->poll_max_ns) ? clock_now_ns() : 0;
	int ret;

	if (!loop->poll_max_ns || loop->wait_in_poll || loop->worker_ops)
		return loop_sleep(loop, t0);
	if (loop->poll_ns) {
		ret = io_uring_submit(&loop->ring);
		if (ret < 0)
			return ret;
		if (loop_poll(loop, t0)) {
			loop_poll_adapt(loop, clock_now_ns() - t0);
			return 0;
		}
	}
	ret = loop_sleep(loop, clock_now_ns());
	loop_poll_adapt(loop, clock_now_ns() - t0);
	return ret;
}

int loop_run_once(struct loop *loop, bool wait)
{
	unsigned moved;
	int ret;

	/* Work queued outside any callback (a request submitted before the
	 * loop runs, from another module's timer...) is only visible to the
	 * progress functions: give them a chance before sleeping. They also
	 * set this turn's wake-up time afresh. */
	loop->wake_by = 0;
	moved = loop_run_progress(loop);
	ret = loop_flush_waiting(loop);
	if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
		return ret;
	if (wait && !moved && (loop->inflight || loop->wake_by) && !loop->wait_head)
		ret = loop_submit_and_wait(loop);
	else
		ret = io_uring_submit(&loop->ring);
	/* EBUSY/EAGAIN: the CQ is full or memory is short; reaping makes room. */
	if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN && ret != -ETIME)
		return ret;
	moved += loop_reap(loop);
	moved += loop_run_progress(loop);
	loop->last_moved = moved;
	return 0;
}

int loop_run(struct loop *loop)
{
	int ret = 0;

	loop->stopping = false;
	/* With nothing in flight, no wake-up time and nothing moving, nothing
	 * could ever wake the loop: return instead of spinning. */
	do {
		ret = loop_run_once(loop, true);
		if (ret < 0)
			break;
	} while (!loop->stopping && (loop->inflight || loop->last_moved || loop->wake_by));
	return ret;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}

unsigned loop_inflight(const struct loop *loop)
{
	return loop->inflight;
}

int loop_progress_add(struct loop *loop, loop_progress_fn fn, void *ctx)
{
	/* Reuse a slot left by a removal (removal never shifts entries, so a
	 * removal from inside a progress function is safe). */
	for (unsigned i = 0; i < loop->nr_progress; i++) {
		if (!loop->progress[i].fn) {
			loop->progress[i] = (struct loop_progress){fn, ctx};
			return 0;
		}
	}
	if (loop->nr_progress == loop->cap_progress) {
		unsigned cap = loop->cap_progress ? loop->cap_progress * 2 : 8;
		struct loop_progress *p = realloc(loop->progress, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		loop->progress = p;
		loop->cap_progress = cap;
	}
	loop->progress[loop->nr_progress++] = (struct loop_progress){fn, ctx};
	return 0;
}

void loop_progress_remove(struct loop *loop, loop_progress_fn fn, void *ctx)
{
	for (unsigned i = 0; i < loop->nr_progress; i++) {
		if (loop->progress[i].fn == fn && loop->progress[i].ctx == ctx) {
			loop->progress[i].fn = NULL;
			loop->progress[i].ctx = NULL;
			return;
		}
	}
}
