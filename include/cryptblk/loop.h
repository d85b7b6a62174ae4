/* The io_uring event loop: one per thread, completion driven.
 *
 * Every submission is a `struct loop_op` that the caller embeds in its own
 * request structure and fills with one of the loop_prep_* helpers; the loop
 * calls op->done when the CQE arrives. When the submission queue is full the
 * op waits in a FIFO inside the loop and is submitted on the next turn;
 * loop_submit never fails and never blocks.
 *
 * After every batch of CQEs the loop runs its progress functions (crypto
 * engines' complete(), pipelines waiting for room) until none of them reports
 * progress, so work chained on a finished job moves on in the same turn.
 * The loop sleeps in the kernel only when no progress function has work.
 */
#ifndef CRYPTBLK_LOOP_H
#define CRYPTBLK_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_op;

/* Called on the loop's thread for every CQE of the op. `res` is the CQE's
 * result (a byte count, or a negative errno); `cqe_flags` carries
 * IORING_CQE_F_MORE for multishot ops that stay armed. */
typedef void (*loop_done_fn)(struct loop_op *op, int res, uint32_t cqe_flags);

/* Returns the number of things it moved on (0 when idle). It may submit new
 * ops and call other modules' completion callbacks. */
typedef unsigned (*loop_progress_fn)(void *ctx);

struct loop_op {
	loop_done_fn done;	 /* required */
	struct io_uring_sqe sqe; /* filled by loop_prep_*; user_data is the loop's */
	struct loop_op *next;	 /* owned by the loop while the op waits for SQ room */
};

int loop_create(unsigned entries, struct loop **out);
void loop_destroy(struct loop *loop);

/* Queue an op whose sqe was prepared; the loop owns `op` until its final CQE
 * (one without IORING_CQE_F_MORE). */
void loop_submit(struct loop *loop, struct loop_op *op);

/* Preparation helpers: they fill op->sqe only. */
void loop_prep_read(struct loop_op *op, int fd, void *buf, uint32_t len, uint64_t off);
void loop_prep_write(struct loop_op *op, int fd, const void *buf, uint32_t len, uint64_t off);
void loop_prep_fsync(struct loop_op *op, int fd, bool datasync);
void loop_prep_fallocate(struct loop_op *op, int fd, int mode, uint64_t off, uint64_t len);
void loop_prep_poll_multishot(struct loop_op *op, int fd, uint32_t poll_mask);
/* One-shot: a single CQE with the ready events (or a negative errno). */
void loop_prep_poll(struct loop_op *op, int fd, uint32_t poll_mask);
void loop_prep_recv(struct loop_op *op, int fd, void *buf, uint32_t len, int flags);
void loop_prep_send(struct loop_op *op, int fd, const void *buf, uint32_t len, int flags);
void loop_prep_accept(struct loop_op *op, int fd);
void loop_prep_timeout(struct loop_op *op, struct __kernel_timespec *ts);
void loop_prep_cancel(struct loop_op *op, struct loop_op *target);
/* Completes on the next turn with res 0: a way to call op->done later. */
void loop_prep_nop(struct loop_op *op);

/* Progress functions run after every CQE batch, in registration order. */
int loop_progress_add(struct loop *loop, loop_progress_fn fn, void *ctx);
void loop_progress_remove(struct loop *loop, loop_progress_fn fn, void *ctx);

/* For a progress function that holds work until a time rather than until a
 * completion (the benchmark-only delay engine): the loop's next sleep ends
 * by `mono_ns` (CLOCK_MONOTONIC) even if no CQE comes. It lasts one turn:
 * call it from the progress function on every turn that still needs it.
 * No timer is armed while the loop is busy, only when it would sleep. */
void loop_wake_by(struct loop *loop, uint64_t mono_ns);

/* Adaptive polling: before sleeping, spin for up to a window that grows
 * while idle spells are short (up to `max_ns`) and shrinks to nothing while
 * they are long, so that a thread serving a steady stream of requests does
 * not pay a wake-up per request. 0 (the default) never polls. */
void loop_set_poll(struct loop *loop, uint32_t max_ns);

/* Watch a readable fd (an eventfd, a VFIO interrupt): `fn` runs on the loop's
 * thread whenever it becomes readable, after the loop drained its 8-byte
 * eventfd counter. Re-arms itself if the kernel ends the multishot poll. */
struct loop_watch;
int loop_watch_eventfd(struct loop *loop, int fd, void (*fn)(void *ctx), void *ctx,
		       struct loop_watch **out);
void loop_watch_remove(struct loop_watch *watch);

/* One turn: run the progress functions (work queued outside any callback),
 * submit what waits, reap completions (sleeping for at least one if `wait`
 * and nothing moved), run the progress functions again. Returns 0
 * or a negative errno from io_uring. */
int loop_run_once(struct loop *loop, bool wait);

/* Turn until loop_stop() is called (from a callback on this thread), or
 * until nothing is in flight, no wake-up time is set and the last turn
 * moved nothing. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* Ops submitted and not yet finally completed (for drains and tests). */
unsigned loop_inflight(const struct loop *loop);

#endif
