/* The benchmark-only "delay:D[,SPEC]" engine: spec parsing; every job comes
 * back no sooner than D after it was submitted, with the inner engine's
 * output; many held jobs overlap instead of queueing behind each other; the
 * loop keeps running other work while jobs are held; a full ring refuses
 * with -EBUSY and the backlog still drains; keys are checked at submit.
 *
 * Output is compared with the plain "openssl" engine run directly, which the
 * crypto engine suite checks against an independent model.
 */
#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>

#include <check.h>
#include <cryptblk/clock.h>

#include "helper_check.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_LEN 4096

static const uint8_t test_key[32] = {1,	 2,  3,	 4,  5,	 6,  7,	 8,  9,	 10, 11,
				     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				     23, 24, 25, 26, 27, 28, 29, 30, 31, 33};

struct timed_job {
	struct crypto_job job;
	uint8_t buf[JOB_LEN];
	uint64_t submitted_ns, done_ns;
};

static unsigned jobs_done;

static void timed_done(struct crypto_job *job)
{
	struct timed_job *t = (struct timed_job *)job;

	t->done_ns = clock_now_ns();
	jobs_done++;
}

static struct crypto_engine *open_keyed(const char *spec)
{
	struct crypto_engine *e = NULL;

	ck_assert_msg(crypto_engine_open(spec, &e) == 0, "spec '%s' refused", spec);
	ck_assert_int_eq(crypto_engine_set_key(e, 0, test_key, sizeof(test_key)), 0);
	return e;
}

static void job_fill(struct timed_job *t, unsigned i)
{
	for (unsigned b = 0; b < JOB_LEN; b++)
		t->buf[b] = (uint8_t)(i * 7 + b);
	t->job = (struct crypto_job){.src = t->buf,
				     .dst = t->buf,
				     .iv = (uint64_t)i * 8,
				     .sector_size = 4096,
				     .nr_sectors = 1,
				     .dir = CRYPTO_ENCRYPT,
				     .done = timed_done};
	t->done_ns = 0;
}

/* What the plain openssl engine makes of job i, run directly. */
static void expected_ciphertext(unsigned i, uint8_t out[JOB_LEN])
{
	struct crypto_engine *e = open_keyed("openssl");
	struct timed_job t;
	struct crypto_job *list;

	job_fill(&t, i);
	ck_assert_int_eq(e->ops->submit(e, &t.job), 0);
	list = e->ops->complete(e);
	ck_assert_ptr_eq(list, &t.job);
	ck_assert_int_eq(t.job.result, 0);
	memcpy(out, t.buf, JOB_LEN);
	crypto_engine_close(e);
}

/* Submits n jobs at once through crypto_submit and runs the loop until all
 * are done; returns the wall time taken in ns. */
static uint64_t run_jobs(const char *spec, struct timed_job *jobs, unsigned n)
{
	struct crypto_engine *e = open_keyed(spec);
	struct loop *loop;
	uint64_t start;

	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
	jobs_done = 0;
	start = clock_now_ns();
	for (unsigned i = 0; i < n; i++) {
		job_fill(&jobs[i], i);
		jobs[i].submitted_ns = clock_now_ns();
		ck_assert_int_eq(crypto_submit(e, &jobs[i].job), 0);
	}
	while (jobs_done < n)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	start = clock_now_ns() - start;
	ck_assert_uint_eq(crypto_engine_pending(e), 0);
	crypto_engine_detach(e);
	while (loop_inflight(loop) > 0)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	loop_destroy(loop);
	crypto_engine_close(e);
	return start;
}

START_TEST(test_delay_spec_parsing)
{
	static const char *const good[] = {"delay:100us", "delay:2ms,openssl", "delay:0ns",
					   "delay:1s,threads:2", "delay:5us,delay:5us,openssl"};
	static const char *const bad[] = {"delay",	  "delay:",	      "delay:100",
					  "delay:us",	  "delay:10xs",	      "delay:2s",
					  "delay:100us,", "delay:1us,nosuch", "delay:1us,threads:0",
					  "delay:-1us"};
	struct crypto_engine *e;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(crypto_engine_open(bad[i], &e) == -EINVAL, "spec '%s' accepted",
			      bad[i]);
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(crypto_engine_open(good[i], &e) == 0, "spec '%s' refused", good[i]);
		ck_assert_str_eq(crypto_engine_name(e), "delay");
		crypto_engine_close(e);
	}
}
END_TEST

/* Every job waits at least D and gives the inner engine's ciphertext. */
static void delay_holds_each_job(const char *spec, uint64_t delay_ns)
{
	enum { N = 8 };
	struct timed_job *jobs = calloc(N, sizeof(*jobs));
	uint8_t want[JOB_LEN];

	ck_assert_ptr_nonnull(jobs);
	run_jobs(spec, jobs, N);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(jobs[i].job.result, 0);
		ck_assert_msg(jobs[i].done_ns - jobs[i].submitted_ns >= delay_ns,
			      "%s: job %u back after %llu ns", spec, i,
			      (unsigned long long)(jobs[i].done_ns - jobs[i].submitted_ns));
		expected_ciphertext(i, want);
		ck_assert_mem_eq(jobs[i].buf, want, JOB_LEN);
	}
	free(jobs);
}

START_TEST(test_delay_over_openssl_holds_each_job_and_encrypts)
{
	delay_holds_each_job("delay:3ms,openssl", 3000000);
}
END_TEST

START_TEST(test_delay_over_threads_holds_each_job_and_encrypts)
{
	delay_holds_each_job("delay:3ms,threads:2", 3000000);
}
END_TEST

/* 200 jobs held 20 ms each finish in about 20 ms, not 200 x 20 ms: held
 * jobs overlap. The bound leaves room for a loaded machine. */
START_TEST(test_delay_held_jobs_overlap)
{
	enum { N = 200 };
	struct timed_job *jobs = calloc(N, sizeof(*jobs));
	uint64_t took;

	ck_assert_ptr_nonnull(jobs);
	took = run_jobs("delay:20ms,openssl", jobs, N);
	ck_assert_uint_ge(took, 20000000);
	ck_assert_msg(took < 500000000, "200 jobs took %llu ns", (unsigned long long)took);
	free(jobs);
}
END_TEST

/* More jobs than the engine holds (1024): it says -EBUSY, the backlog in
 * crypto_submit keeps the rest, and all of them come back. */
START_TEST(test_delay_full_ring_is_ebusy_and_backlog_drains)
{
	enum { N = 1500 };
	struct timed_job *jobs = calloc(N, sizeof(*jobs));
	struct crypto_engine *e = open_keyed("delay:1ms,threads:1");
	unsigned accepted = 0;
	int err = 0;

	ck_assert_ptr_nonnull(jobs);
	for (unsigned i = 0; i < N && err == 0; i++) {
		job_fill(&jobs[i], i);
		err = e->ops->submit(e, &jobs[i].job);
		if (err == 0)
			accepted++;
	}
	ck_assert_int_eq(err, -EBUSY);
	ck_assert_uint_eq(accepted, 1024);
	/* Reap everything the engine accepted, then run all through the loop. */
	for (unsigned got = 0; got < accepted;) {
		for (struct crypto_job *j = e->ops->complete(e); j; j = j->next)
			got++;
	}
	crypto_engine_close(e);
	run_jobs("delay:1ms,threads:1", jobs, N);
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(jobs[i].job.result, 0);
	free(jobs);
}
END_TEST

struct tick {
	struct loop_op op;
	struct __kernel_timespec ts;
	uint64_t fired_ns;
};

static void tick_done(struct loop_op *op, int res, uint32_t flags)
{
	(void)res;
	(void)flags;
	((struct tick *)op)->fired_ns = clock_now_ns();
}

/* While a job is held for 50 ms, a 1 ms loop timeout still fires on time:
 * the engine holds jobs without holding the loop. */
START_TEST(test_delay_does_not_block_the_loop)
{
	struct crypto_engine *e = open_keyed("delay:50ms,openssl");
	struct timed_job t;
	struct tick tick = {.op.done = tick_done, .ts = {.tv_nsec = 1000000}};
	struct loop *loop;

	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
	jobs_done = 0;
	job_fill(&t, 0);
	t.submitted_ns = clock_now_ns();
	ck_assert_int_eq(crypto_submit(e, &t.job), 0);
	loop_prep_timeout(&tick.op, &tick.ts);
	loop_submit(loop, &tick.op);
	while (jobs_done < 1)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	ck_assert_uint_ne(tick.fired_ns, 0);
	ck_assert_uint_lt(tick.fired_ns, t.done_ns);
	ck_assert_uint_ge(t.done_ns - t.submitted_ns, 50000000);
	crypto_engine_detach(e);
	while (loop_inflight(loop) > 0)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	loop_destroy(loop);
	crypto_engine_close(e);
}
END_TEST

START_TEST(test_delay_checks_keys_and_jobs_at_submit)
{
	struct crypto_engine *e = open_keyed("delay:1us");
	struct timed_job t;

	job_fill(&t, 0);
	t.job.key_slot = 1;
	ck_assert_int_eq(e->ops->submit(e, &t.job), -ENOKEY);
	t.job.key_slot = 0;
	t.job.sector_size = 100;
	ck_assert_int_eq(e->ops->submit(e, &t.job), -EINVAL);
	crypto_engine_clear_key(e, 0);
	job_fill(&t, 0);
	ck_assert_int_eq(e->ops->submit(e, &t.job), -ENOKEY);
	crypto_engine_close(e);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_delay_spec_parsing);
	tcase_add_test(tc, test_delay_over_openssl_holds_each_job_and_encrypts);
	tcase_add_test(tc, test_delay_over_threads_holds_each_job_and_encrypts);
	tcase_add_test(tc, test_delay_held_jobs_overlap);
	tcase_add_test(tc, test_delay_full_ring_is_ebusy_and_backlog_drains);
	tcase_add_test(tc, test_delay_does_not_block_the_loop);
	tcase_add_test(tc, test_delay_checks_keys_and_jobs_at_submit);
}

int main(void)
{
	return unit_run("crypto_delay", add_tests);
}
