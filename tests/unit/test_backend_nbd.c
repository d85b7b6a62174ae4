/* The remote NBD backend against a real nbdkit (memory plugin) on a unix
 * socket, through real io_uring loops: many I/Os in flight, results only
 * from the loop, refusals, detach letting a loop run dry, one connection per
 * loop on two threads. What a write left on the remote is read back through
 * a second, independent backend. */
#include <cryptblk/backend.h>
#include <cryptblk/loop.h>

#include "helper_check.h"
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REMOTE_SIZE (8u * 1024 * 1024)
#define NR_IOS	    64
#define IO_LEN	    4096u

extern char **environ;

struct remote {
	char dir[64], sock[96], uri[160];
	pid_t pid;
};

/* nbdkit's memory plugin in the foreground on r->sock. */
static void remote_spawn(struct remote *r)
{
	char *argv[] = {"nbdkit", "-f", "-U", r->sock, "memory", "8M", NULL};
	struct stat st;

	ck_assert_msg(posix_spawnp(&r->pid, "nbdkit", NULL, NULL, argv, environ) == 0,
		      "nbdkit (Debian package nbdkit) must be installed");
	for (int i = 0; i < 400 && stat(r->sock, &st) != 0; i++)
		usleep(10000);
	ck_assert_msg(stat(r->sock, &st) == 0, "nbdkit never listened");
}

static void remote_start(struct remote *r)
{
	strcpy(r->dir, "/tmp/cryptblk-nbd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	snprintf(r->sock, sizeof(r->sock), "%s/remote.sock", r->dir);
	snprintf(r->uri, sizeof(r->uri), "nbd+unix:///?socket=%s", r->sock);
	remote_spawn(r);
}

/* The server process ends; the socket path stays ours for a restart. */
static void remote_kill(struct remote *r)
{
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	unlink(r->sock);
}

static void remote_stop(struct remote *r)
{
	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	unlink(r->sock);
	rmdir(r->dir);
}

struct io_wait {
	struct backend_io io;
	int res;
	bool done;
};

static void io_wait_done(struct backend_io *io, int res)
{
	struct io_wait *w = io->priv;

	ck_assert_msg(!w->done, "done() ran twice");
	w->res = res;
	w->done = true;
}

static void io_submit(struct backend *be, struct loop *loop, struct io_wait *w, uint8_t op,
		      void *buf, uint32_t len, uint64_t off)
{
	memset(w, 0, sizeof(*w));
	w->io.op = op;
	w->io.buf = buf;
	w->io.len = len;
	w->io.offset = off;
	w->io.done = io_wait_done;
	w->io.priv = w;
	backend_submit(be, loop, &w->io);
	/* Results, errors included, come from the loop, never from submit. */
	ck_assert(!w->done);
}

static void wait_all(struct loop *loop, struct io_wait *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		while (!w[i].done)
			ck_assert_int_eq(loop_run_once(loop, true), 0);
}

static int io_run(struct backend *be, struct loop *loop, uint8_t op, void *buf, uint32_t len,
		  uint64_t off)
{
	struct io_wait w;

	io_submit(be, loop, &w, op, buf, len, off);
	wait_all(loop, &w, 1);
	return w.res;
}

/* Let go of the loop and run it dry; the loop must end with nothing armed. */
static void detach_and_drain(struct backend *be, struct loop *loop)
{
	backend_detach(be, loop);
	for (int i = 0; i < 100 && loop_inflight(loop); i++)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	ck_assert_uint_eq(loop_inflight(loop), 0);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

START_TEST(test_nbd_backend_writes_many_in_flight_and_a_new_connection_reads_them)
{
	struct remote r;
	struct backend *be, *be2;
	struct loop *loop;
	static struct io_wait w[NR_IOS];
	uint8_t *data = malloc(NR_IOS * IO_LEN), *back = calloc(NR_IOS, IO_LEN);

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(back);
	remote_start(&r);
	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(backend_nbd_open(r.uri, 0, 0, &be), 0);
	ck_assert_uint_eq(be->size, REMOTE_SIZE);
	ck_assert(!be->read_only);
	/* Scattered offsets, all submitted before any completes. */
	fill(data, NR_IOS * IO_LEN, 3);
	for (unsigned i = 0; i < NR_IOS; i++)
		io_submit(be, loop, &w[i], BACKEND_WRITE, data + i * IO_LEN, IO_LEN,
			  (uint64_t)((i * 37) % NR_IOS) * 65536);
	wait_all(loop, w, NR_IOS);
	for (unsigned i = 0; i < NR_IOS; i++)
		ck_assert_int_eq(w[i].res, 0);
	ck_assert_int_eq(io_run(be, loop, BACKEND_FLUSH, NULL, 0, 0), 0);
	detach_and_drain(be, loop);

	/* Another backend, another connection: the remote has the data. */
	ck_assert_int_eq(backend_nbd_open(r.uri, BACKEND_NBD_READONLY, 0, &be2), 0);
	for (unsigned i = 0; i < NR_IOS; i++)
		io_submit(be2, loop, &w[i], BACKEND_READ, back + i * IO_LEN, IO_LEN,
			  (uint64_t)((i * 37) % NR_IOS) * 65536);
	wait_all(loop, w, NR_IOS);
	for (unsigned i = 0; i < NR_IOS; i++)
		ck_assert_int_eq(w[i].res, 0);
	ck_assert_mem_eq(back, data, NR_IOS * IO_LEN);
	detach_and_drain(be2, loop);
	backend_close(be2);
	backend_close(be);
	loop_destroy(loop);
	remote_stop(&r);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_nbd_backend_refuses_through_the_loop_and_discard_reads_zeros)
{
	struct remote r;
	struct backend *be, *ro;
	struct loop *loop;
	uint8_t buf[IO_LEN], zero[IO_LEN] = {0};

	remote_start(&r);
	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(backend_nbd_open(r.uri, 0, 0, &be), 0);
	ck_assert_int_eq(backend_nbd_open(r.uri, BACKEND_NBD_READONLY, 0, &ro), 0);
	ck_assert(ro->read_only);
	fill(buf, sizeof(buf), 9);
	ck_assert_int_eq(io_run(ro, loop, BACKEND_WRITE, buf, IO_LEN, 0), -EPERM);
	ck_assert_int_eq(io_run(ro, loop, BACKEND_DISCARD, NULL, IO_LEN, 0), -EPERM);
	ck_assert_int_eq(io_run(be, loop, BACKEND_READ, buf, IO_LEN, REMOTE_SIZE), -EINVAL);
	ck_assert_int_eq(io_run(be, loop, BACKEND_WRITE, buf, IO_LEN, REMOTE_SIZE - 512), -ENOSPC);
	ck_assert_int_eq(io_run(be, loop, BACKEND_READ, buf, 0, 0), -EINVAL);
	/* A discard must read back as zeros (WRITE_ZEROES, not TRIM). */
	ck_assert(be->can_discard);
	ck_assert_int_eq(io_run(be, loop, BACKEND_WRITE, buf, IO_LEN, 8192), 0);
	ck_assert_int_eq(io_run(be, loop, BACKEND_DISCARD, NULL, IO_LEN, 8192), 0);
	ck_assert_int_eq(io_run(ro, loop, BACKEND_READ, buf, IO_LEN, 8192), 0);
	ck_assert_mem_eq(buf, zero, IO_LEN);
	backend_detach(ro, loop); /* its polls share the loop with be's */
	detach_and_drain(be, loop);
	backend_close(ro);
	backend_close(be);
	loop_destroy(loop);
	remote_stop(&r);
}
END_TEST

START_TEST(test_nbd_backend_open_fails_with_the_reason)
{
	struct backend *be = (struct backend *)1;
	int ret = backend_nbd_open("nbd+unix:///?socket=/nonexistent/cryptblk.sock", 0, 0, &be);

	ck_assert_int_lt(ret, 0);
	ck_assert_ptr_null(be);
	ck_assert_msg(strstr(backend_nbd_error(), "/nonexistent/cryptblk.sock") != NULL, "%s",
		      backend_nbd_error());
}
END_TEST

struct ticker {
	struct loop_op op;
	struct __kernel_timespec ts;
	struct loop *loop;
	unsigned ticks;
	bool stop, armed;
};

static void ticker_arm(struct ticker *t);

static void ticker_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct ticker *t = (struct ticker *)op;

	(void)res;
	(void)cqe_flags;
	t->armed = false;
	t->ticks++;
	if (!t->stop)
		ticker_arm(t);
}

/* A 20 ms timer on the loop: it counts only while the loop keeps turning. */
static void ticker_arm(struct ticker *t)
{
	t->ts.tv_sec = 0;
	t->ts.tv_nsec = 20 * 1000 * 1000;
	t->op.done = ticker_done;
	t->armed = true;
	loop_prep_timeout(&t->op, &t->ts);
	loop_submit(t->loop, &t->op);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_nbd_backend_fails_after_the_reconnect_timeout_without_blocking_then_recovers)
{
	struct remote r;
	struct backend *be;
	struct loop *loop;
	struct ticker t = {0};
	struct io_wait w;
	uint8_t buf[IO_LEN];
	double t0, waited;
	int res = -1;

	remote_start(&r);
	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(backend_nbd_open(r.uri, 0, 1, &be), 0);
	ck_assert_int_eq(io_run(be, loop, BACKEND_READ, buf, IO_LEN, 0), 0);
	remote_kill(&r);

	t.loop = loop;
	ticker_arm(&t);
	t0 = now_s();
	io_submit(be, loop, &w, BACKEND_READ, buf, IO_LEN, 0);
	wait_all(loop, &w, 1);
	waited = now_s() - t0;
	ck_assert_int_eq(w.res, -EIO);
	ck_assert_msg(waited >= 0.9 && waited < 5, "EIO after %.2f s, not about 1 s", waited);
	/* Reconnection attempts never held the loop: the timer kept firing. */
	ck_assert_msg(t.ticks >= (unsigned)(waited / 0.02) / 2, "%u ticks in %.2f s", t.ticks,
		      waited);

	remote_spawn(&r);
	for (t0 = now_s(); now_s() - t0 < 10 && res != 0;) {
		res = io_run(be, loop, BACKEND_READ, buf, IO_LEN, 0);
		ck_assert(res == 0 || res == -EIO);
		if (res)
			usleep(50000);
	}
	ck_assert_msg(res == 0, "never reconnected");
	t.stop = true;
	while (t.armed)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	detach_and_drain(be, loop);
	backend_close(be);
	loop_destroy(loop);
	remote_stop(&r);
}
END_TEST

struct thread_arg {
	struct backend *be;
	unsigned seed;
	int failures;
};

/* A loop of its own on its own thread: write a region, read it back. */
static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct loop *loop;
	uint8_t *data = malloc(16 * IO_LEN), *back = malloc(16 * IO_LEN);
	struct io_wait w[16];
	uint64_t base = (uint64_t)a->seed * 1024 * 1024;

	if (!data || !back || loop_create(32, &loop) < 0) {
		a->failures++;
		goto out;
	}
	fill(data, 16 * IO_LEN, a->seed);
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 16; i++)
			io_submit(a->be, loop, &w[i], BACKEND_WRITE, data + i * IO_LEN, IO_LEN,
				  base + i * IO_LEN);
		wait_all(loop, w, 16);
		for (unsigned i = 0; i < 16; i++)
			io_submit(a->be, loop, &w[i], BACKEND_READ, back + i * IO_LEN, IO_LEN,
				  base + i * IO_LEN);
		wait_all(loop, w, 16);
		for (unsigned i = 0; i < 16; i++)
			a->failures += w[i].res != 0;
		a->failures += memcmp(back, data, 16 * IO_LEN) != 0;
	}
	detach_and_drain(a->be, loop);
	loop_destroy(loop);
out:
	free(data);
	free(back);
	return NULL;
}

START_TEST(test_nbd_backend_serves_two_threads_at_once)
{
	struct remote r;
	struct backend *be;
	pthread_t t[2];
	struct thread_arg a[2];

	remote_start(&r);
	ck_assert_int_eq(backend_nbd_open(r.uri, 0, 0, &be), 0);
	ck_assert(backend_nbd_multi_conn(be));
	for (unsigned i = 0; i < 2; i++) {
		a[i] = (struct thread_arg){.be = be, .seed = i + 1};
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].failures, 0);
	}
	backend_close(be);
	remote_stop(&r);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_nbd_backend_writes_many_in_flight_and_a_new_connection_reads_them);
	tcase_add_test(tc, test_nbd_backend_refuses_through_the_loop_and_discard_reads_zeros);
	tcase_add_test(tc, test_nbd_backend_open_fails_with_the_reason);
	tcase_add_test(tc, test_nbd_backend_serves_two_threads_at_once);
	tcase_add_test(
	    tc, test_nbd_backend_fails_after_the_reconnect_timeout_without_blocking_then_recovers);
}

int main(void)
{
	return unit_run("backend_nbd", add_tests);
}
