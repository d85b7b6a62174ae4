/* The io_uring loop: callbacks, the FIFO behind a full SQ, progress
 * functions, eventfd watches, stop and drain. */
#include <cryptblk/loop.h>

#include <check.h>
#include <cryptblk/clock.h>

#include "helper_check.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct rw_op {
	struct loop_op op;
	int res;
	unsigned calls;
	unsigned order; /* completion sequence number */
};

static unsigned completion_seq;

static void rw_done(struct loop_op *op, int res, uint32_t flags)
{
	struct rw_op *r = (struct rw_op *)op;
	(void)flags;
	r->res = res;
	r->calls++;
	r->order = completion_seq++;
}

static int temp_file(void)
{
	char path[] = "/tmp/cryptblk-loop-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

START_TEST(test_loop_write_then_read_reports_byte_counts)
{
	struct loop *loop;
	struct rw_op w = {.op.done = rw_done}, r = {.op.done = rw_done};
	char out[4096], in[4096];
	int fd = temp_file();

	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(loop_create(8, &loop), 0);
	loop_prep_write(&w.op, fd, out, sizeof(out), 8192);
	loop_submit(loop, &w.op);
	ck_assert_uint_eq(loop_inflight(loop), 1);
	ck_assert_int_eq(loop_run(loop), 0);
	ck_assert_uint_eq(w.calls, 1);
	ck_assert_int_eq(w.res, (int)sizeof(out));

	loop_prep_read(&r.op, fd, in, sizeof(in), 8192);
	loop_submit(loop, &r.op);
	ck_assert_int_eq(loop_run(loop), 0);
	ck_assert_int_eq(r.res, (int)sizeof(in));
	ck_assert_mem_eq(in, out, sizeof(in));
	ck_assert_uint_eq(loop_inflight(loop), 0);
	loop_destroy(loop);
	close(fd);
}
END_TEST

START_TEST(test_loop_full_sq_queues_ops_and_submits_them_all)
{
	enum { N = 500 };
	struct loop *loop;
	struct rw_op *ops = calloc(N, sizeof(*ops));
	unsigned char *buf = malloc(N);
	int fd = temp_file();

	for (unsigned i = 0; i < N; i++)
		buf[i] = (unsigned char)(i * 7);
	ck_assert_int_eq(pwrite(fd, buf, N, 0), N);
	memset(buf, 0, N);
	/* A 4-entry ring with 500 ops: most must wait in the FIFO. */
	ck_assert_int_eq(loop_create(4, &loop), 0);
	for (unsigned i = 0; i < N; i++) {
		ops[i].op.done = rw_done;
		loop_prep_read(&ops[i].op, fd, buf + i, 1, i);
		loop_submit(loop, &ops[i].op);
	}
	ck_assert_uint_eq(loop_inflight(loop), N);
	ck_assert_int_eq(loop_run(loop), 0);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(ops[i].calls, 1);
		ck_assert_int_eq(ops[i].res, 1);
		ck_assert_uint_eq(buf[i], (unsigned char)(i * 7));
	}
	loop_destroy(loop);
	free(ops);
	free(buf);
	close(fd);
}
END_TEST

START_TEST(test_loop_error_result_reaches_callback)
{
	struct loop *loop;
	struct rw_op r = {.op.done = rw_done};
	char buf[16];

	ck_assert_int_eq(loop_create(8, &loop), 0);
	loop_prep_read(&r.op, -1, buf, sizeof(buf), 0);
	loop_submit(loop, &r.op);
	ck_assert_int_eq(loop_run(loop), 0);
	ck_assert_uint_eq(r.calls, 1);
	ck_assert_int_eq(r.res, -EBADF);
	loop_destroy(loop);
}
END_TEST

/* A chain where each completed read arms a progress step, and each progress
 * step submits the next read: it only finishes if progress functions run
 * after every batch, until quiescent. */
struct chain {
	struct loop *loop;
	struct rw_op op;
	int fd;
	char byte;
	unsigned steps_left;
	bool ready; /* a completed read waits for the progress step */
	unsigned progress_calls;
};

static void chain_read_done(struct loop_op *op, int res, uint32_t flags)
{
	struct chain *c = (struct chain *)((char *)op - offsetof(struct chain, op));
	(void)flags;
	ck_assert_int_eq(res, 1);
	c->ready = true;
}

static unsigned chain_progress(void *ctx)
{
	struct chain *c = ctx;
	c->progress_calls++;
	if (!c->ready)
		return 0;
	c->ready = false;
	if (c->steps_left == 0)
		return 1;
	c->steps_left--;
	c->op.op.done = chain_read_done;
	loop_prep_read(&c->op.op, c->fd, &c->byte, 1, 0);
	loop_submit(c->loop, &c->op.op);
	return 1;
}

START_TEST(test_loop_progress_moves_chained_work_on)
{
	struct chain c = {.steps_left = 300, .ready = true};

	c.fd = temp_file();
	ck_assert_int_eq(pwrite(c.fd, "x", 1, 0), 1);
	ck_assert_int_eq(loop_create(8, &c.loop), 0);
	ck_assert_int_eq(loop_progress_add(c.loop, chain_progress, &c), 0);
	/* The first step is runnable before any I/O: one turn without waiting
	 * must run it. */
	ck_assert_int_eq(loop_run_once(c.loop, false), 0);
	ck_assert_uint_lt(c.steps_left, 300);
	ck_assert_int_eq(loop_run(c.loop), 0);
	ck_assert_uint_eq(c.steps_left, 0);
	ck_assert(!c.ready);
	ck_assert_uint_ge(c.progress_calls, 300);
	loop_progress_remove(c.loop, chain_progress, &c);
	loop_destroy(c.loop);
	close(c.fd);
}
END_TEST

struct watched {
	struct loop *loop;
	unsigned signals;
	unsigned want;
	int fd;
	struct loop_watch *watch;
};

static void watched_fn(void *ctx)
{
	struct watched *w = ctx;
	uint64_t v;

	__atomic_add_fetch(&w->signals, 1, __ATOMIC_SEQ_CST);
	/* The loop drained the counter before calling us. */
	ck_assert_int_eq(read(w->fd, &v, sizeof(v)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	if (__atomic_load_n(&w->signals, __ATOMIC_SEQ_CST) == w->want)
		loop_stop(w->loop);
}

static void *signaller(void *arg)
{
	struct watched *w = arg;
	for (unsigned i = 0; i < w->want; i++) {
		uint64_t one = 1;
		ck_assert_int_eq(write(w->fd, &one, sizeof(one)), 8);
		/* One signal at a time: eventfd writes before a read coalesce. */
		while (__atomic_load_n(&w->signals, __ATOMIC_SEQ_CST) == i)
			usleep(100);
	}
	return NULL;
}

START_TEST(test_loop_watch_turns_eventfd_signals_into_callbacks)
{
	struct watched w = {.want = 20};
	pthread_t t;

	w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(w.fd, 0);
	ck_assert_int_eq(loop_create(8, &w.loop), 0);
	ck_assert_int_eq(loop_watch_eventfd(w.loop, w.fd, watched_fn, &w, &w.watch), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, signaller, &w), 0);
	/* The watch keeps an op in flight, so loop_run sleeps until stopped. */
	ck_assert_int_eq(loop_run(w.loop), 0);
	pthread_join(t, NULL);
	ck_assert_uint_eq(w.signals, w.want);

	/* Removing the watch drains every op of it; LSan sees no leak. */
	loop_watch_remove(w.watch);
	ck_assert_int_eq(loop_run(w.loop), 0);
	ck_assert_uint_eq(loop_inflight(w.loop), 0);
	loop_destroy(w.loop);
	close(w.fd);
}
END_TEST

struct outside_work {
	unsigned queued; /* put there by the test, outside any callback */
	unsigned done;
};

static unsigned outside_progress(void *ctx)
{
	struct outside_work *w = ctx;
	if (!w->queued)
		return 0;
	w->queued--;
	w->done++;
	return 1;
}

static void never_signalled(void *ctx)
{
	(void)ctx;
	ck_abort_msg("the eventfd was never written");
}

/* An idle watch keeps an op in flight that never completes: a turn that slept
 * before running progress would hang here (and the test time out). */
START_TEST(test_loop_turn_runs_progress_queued_outside_callbacks_before_sleeping)
{
	struct outside_work w = {.queued = 3};
	struct loop_watch *watch;
	struct loop *loop;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	ck_assert_int_eq(loop_create(8, &loop), 0);
	ck_assert_int_eq(loop_watch_eventfd(loop, fd, never_signalled, NULL, &watch), 0);
	ck_assert_int_eq(loop_progress_add(loop, outside_progress, &w), 0);
	ck_assert_int_eq(loop_run_once(loop, true), 0);
	ck_assert_uint_eq(w.done, 3);
	ck_assert_uint_eq(w.queued, 0);
	loop_progress_remove(loop, outside_progress, &w);
	loop_watch_remove(watch);
	ck_assert_int_eq(loop_run(loop), 0);
	ck_assert_uint_eq(loop_inflight(loop), 0);
	loop_destroy(loop);
	close(fd);
}
END_TEST

START_TEST(test_loop_run_returns_at_once_when_nothing_is_in_flight)
{
	struct loop *loop;

	ck_assert_int_eq(loop_create(8, &loop), 0);
	ck_assert_int_eq(loop_run(loop), 0);
	ck_assert_int_eq(loop_run_once(loop, true), 0);
	loop_destroy(loop);
}
END_TEST

/* A progress function that holds work until a time, as the delay engine
 * does: it asks the loop to wake by then on every turn until it has come. */
struct timed_work {
	uint64_t due_ns;
	uint64_t fired_ns; /* 0 until the first turn at or after due_ns */
	unsigned turns;
};

static struct loop *timed_loop;

static unsigned timed_progress(void *ctx)
{
	struct timed_work *w = ctx;
	uint64_t now = clock_now_ns();

	w->turns++;
	if (w->fired_ns)
		return 0;
	if (now >= w->due_ns) {
		w->fired_ns = now;
		return 1;
	}
	loop_wake_by(timed_loop, w->due_ns);
	return 0;
}

/* With only a never-completing op in flight, the loop must still come back
 * by the wake-up time, having slept (a few turns), not spun (thousands). */
static void wake_by_ends_sleep(bool in_poll)
{
	struct timed_work w = {0};
	struct loop_watch *watch;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (in_poll)
		setenv("CRYPTBLK_LOOP_WAIT", "poll", 1);
	ck_assert_int_eq(loop_create(8, &timed_loop), 0);
	unsetenv("CRYPTBLK_LOOP_WAIT");
	ck_assert_int_eq(loop_watch_eventfd(timed_loop, fd, never_signalled, NULL, &watch), 0);
	ck_assert_int_eq(loop_progress_add(timed_loop, timed_progress, &w), 0);
	w.due_ns = clock_now_ns() + 20000000ull;
	while (!w.fired_ns)
		ck_assert_int_eq(loop_run_once(timed_loop, true), 0);
	/* fired_ns >= due_ns by construction; what matters is how late. */
	ck_assert_msg(w.fired_ns - w.due_ns < 200000000ull, "woke %llu ns late",
		      (unsigned long long)(w.fired_ns - w.due_ns));
	ck_assert_msg(w.turns < 100, "%u progress calls in 20 ms: the loop spun", w.turns);
	loop_progress_remove(timed_loop, timed_progress, &w);
	loop_watch_remove(watch);
	ck_assert_int_eq(loop_run(timed_loop), 0);
	loop_destroy(timed_loop);
	close(fd);
}

START_TEST(test_loop_wake_by_ends_a_sleep_without_any_completion)
{
	wake_by_ends_sleep(false);
}
END_TEST

START_TEST(test_loop_wake_by_ends_a_poll_sleep_too)
{
	wake_by_ends_sleep(true);
}
END_TEST

/* Nothing in flight, but a wake-up time set: loop_run must wait for it
 * (sleeping) rather than return with the work still held. */
START_TEST(test_loop_run_waits_for_a_wake_up_time_with_nothing_in_flight)
{
	struct timed_work w = {0};

	ck_assert_int_eq(loop_create(8, &timed_loop), 0);
	ck_assert_int_eq(loop_progress_add(timed_loop, timed_progress, &w), 0);
	w.due_ns = clock_now_ns() + 20000000ull;
	ck_assert_int_eq(loop_run(timed_loop), 0);
	ck_assert_uint_ge(w.fired_ns, w.due_ns);
	ck_assert_msg(w.turns < 100, "%u progress calls in 20 ms: the loop spun", w.turns);
	loop_progress_remove(timed_loop, timed_progress, &w);
	loop_destroy(timed_loop);
}
END_TEST

/* A peer that signals again `gap_us` after the loop has seen the last
 * signal: spinning for gaps below 1 ms (so the gap is what it says),
 * sleeping for longer ones. */
struct pinger {
	struct watched w;
	unsigned gap_us;
};

/* No drain check here (watched_fn's): this peer writes again at once. */
static void pinged_fn(void *ctx)
{
	struct watched *w = ctx;

	if (__atomic_add_fetch(&w->signals, 1, __ATOMIC_SEQ_CST) == w->want)
		loop_stop(w->loop);
}

static void *pinger_thread(void *arg)
{
	struct pinger *p = arg;

	for (unsigned i = 0; i < p->w.want; i++) {
		uint64_t one = 1;
		unsigned spins = 0;

		if (p->gap_us >= 1000) {
			usleep(p->gap_us);
		} else {
			uint64_t until = clock_now_ns() + p->gap_us * 1000ull;

			while (clock_now_ns() < until)
				;
		}
		ck_assert_int_eq(write(p->w.fd, &one, sizeof(one)), 8);
		while (__atomic_load_n(&p->w.signals, __ATOMIC_SEQ_CST) == i)
			if (++spins % 1024 == 0)
				sched_yield(); /* under load, let the loop have the CPU */
	}
	return NULL;
}

/* A write held in flight: to a blocking pipe that is full, so it waits
 * until the test drains the pipe. */
struct held_write {
	struct loop_op op;
	int pipe[2];
	char byte;
	bool done;
};

static void held_write_done(struct loop_op *op, int res, uint32_t flags)
{
	struct held_write *h = (struct held_write *)op;

	(void)flags;
	ck_assert_int_eq(res, 1);
	h->done = true;
}

static void held_write_start(struct held_write *h, struct loop *loop)
{
	char fill[4096] = {0};

	ck_assert_int_eq(pipe(h->pipe), 0);
	ck_assert_int_eq(fcntl(h->pipe[1], F_SETFL, O_NONBLOCK), 0);
	while (write(h->pipe[1], fill, sizeof(fill)) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(h->pipe[1], F_SETFL, 0), 0);
	h->op.done = held_write_done;
	loop_prep_write(&h->op, h->pipe[1], &h->byte, 1, 0);
	loop_submit(loop, &h->op);
}

static void held_write_finish(struct held_write *h, struct loop *loop)
{
	char sink[4096];

	ck_assert_int_eq(fcntl(h->pipe[0], F_SETFL, O_NONBLOCK), 0);
	while (!h->done) {
		while (read(h->pipe[0], sink, sizeof(sink)) > 0)
			;
		ck_assert_int_eq(loop_run_once(loop, false), 0);
	}
	close(h->pipe[0]);
	close(h->pipe[1]);
}

/* Runs the ping-pong on this thread's loop (with a write held in flight if
 * `hold_write`); returns this thread's voluntary context switches and CPU
 * time (µs) over it. */
static void ping_pong(unsigned poll_ns, unsigned want, unsigned gap_us, bool hold_write,
		      long *nvcsw, long *cpu_us)
{
	struct pinger p = {.w = {.want = want}, .gap_us = gap_us};
	struct held_write h = {0};
	struct rusage r0, r1;
	pthread_t t;

	p.w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(p.w.fd, 0);
	ck_assert_int_eq(loop_create(8, &p.w.loop), 0);
	loop_set_poll(p.w.loop, poll_ns);
	ck_assert_int_eq(loop_watch_eventfd(p.w.loop, p.w.fd, pinged_fn, &p.w, &p.w.watch), 0);
	if (hold_write)
		held_write_start(&h, p.w.loop);
	ck_assert_int_eq(getrusage(RUSAGE_THREAD, &r0), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, pinger_thread, &p), 0);
	ck_assert_int_eq(loop_run(p.w.loop), 0);
	ck_assert_int_eq(getrusage(RUSAGE_THREAD, &r1), 0);
	pthread_join(t, NULL);
	ck_assert_uint_eq(p.w.signals, want);
	if (hold_write)
		held_write_finish(&h, p.w.loop);
	loop_watch_remove(p.w.watch);
	ck_assert_int_eq(loop_run(p.w.loop), 0);
	loop_destroy(p.w.loop);
	close(p.w.fd);
	*nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
	*cpu_us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000L +
		  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
		  (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000L +
		  (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
}

/* A steady stream of events 20 µs apart: the polling window grows and
 * catches them, so the loop thread stops sleeping between them (without
 * polling it sleeps once per event: about 3000 switches). */
START_TEST(test_loop_polling_catches_a_steady_stream_without_sleeping)
{
	long nvcsw, cpu_us;

	ping_pong(200000, 3000, 20, false, &nvcsw, &cpu_us);
	ck_assert_msg(nvcsw < 3000 / 4, "%ld sleeps for 3000 events 20 us apart", nvcsw);
}
END_TEST

/* Events 40 ms apart, a 5 ms window allowed: polling would only burn CPU
 * (20 x 5 ms), so the window never opens (idle spells over 4 x 5 ms). */
START_TEST(test_loop_polling_stays_off_when_events_are_far_apart)
{
	long nvcsw, cpu_us;

	ping_pong(5000000, 20, 40000, false, &nvcsw, &cpu_us);
	ck_assert_msg(cpu_us < 30000, "%ld us of CPU for 20 events 40 ms apart", cpu_us);
}
END_TEST

/* The same stream while a file write is in flight: a kernel worker may
 * need the CPU to finish it, so the loop sleeps instead of polling. */
START_TEST(test_loop_does_not_poll_while_a_write_is_in_flight)
{
	long nvcsw, cpu_us;

	ping_pong(200000, 3000, 20, true, &nvcsw, &cpu_us);
	ck_assert_msg(nvcsw > 3000 / 2, "only %ld sleeps for 3000 events: the loop polled", nvcsw);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_loop_write_then_read_reports_byte_counts);
	tcase_add_test(tc, test_loop_full_sq_queues_ops_and_submits_them_all);
	tcase_add_test(tc, test_loop_error_result_reaches_callback);
	tcase_add_test(tc, test_loop_progress_moves_chained_work_on);
	tcase_add_test(tc, test_loop_watch_turns_eventfd_signals_into_callbacks);
	tcase_add_test(tc, test_loop_turn_runs_progress_queued_outside_callbacks_before_sleeping);
	tcase_add_test(tc, test_loop_run_returns_at_once_when_nothing_is_in_flight);
	tcase_add_test(tc, test_loop_wake_by_ends_a_sleep_without_any_completion);
	tcase_add_test(tc, test_loop_wake_by_ends_a_poll_sleep_too);
	tcase_add_test(tc, test_loop_run_waits_for_a_wake_up_time_with_nothing_in_flight);
	tcase_add_test(tc, test_loop_polling_catches_a_steady_stream_without_sleeping);
	tcase_add_test(tc, test_loop_polling_stays_off_when_events_are_far_apart);
	tcase_add_test(tc, test_loop_does_not_poll_while_a_write_is_in_flight);
	tcase_set_timeout(tc, 20);
}

int main(void)
{
	return unit_run("loop", add_tests);
}
