/* NBD ordering and resources: overlapping read-modify-writes lose no update
 * (within a connection and across worker threads), per-connection caps stop
 * reading new requests, and shutdown finishes what is in flight, flushes and
 * closes. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

static struct harness h;

static void start(unsigned threads, unsigned max_requests, uint64_t max_bytes)
{
	struct nbd_server_config cfg = {
	    .threads = threads, .max_requests = max_requests, .max_bytes = max_bytes};
	uint16_t flags;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_negotiate(h.fd, false, false, &flags);
}

static void wait_inflight(unsigned n)
{
	for (unsigned i = 0; i < 5000 && atomic_load(&h.st->inflight) < n; i++)
		usleep(1000);
	ck_assert_uint_eq(atomic_load(&h.st->inflight), n);
}

/* Pipeline writes of `len` bytes at `base + k * SECTOR` for k < n, each
 * with a byte value of its own, then collect all replies. */
static void pipelined_writes(int fd, uint64_t base, uint32_t len, unsigned n, uint8_t value)
{
	uint8_t buf[SECTOR];
	struct nbdc_reply r;

	memset(buf, value, sizeof(buf));
	for (unsigned k = 0; k < n; k++)
		nbdc_request(fd, 1, 0, k, base + (uint64_t)k * SECTOR, len, buf);
	for (unsigned k = 0; k < n; k++) {
		nbdc_reply(fd, &r);
		ck_assert_uint_eq(r.error, 0);
	}
}

static void check_sectors(int fd, unsigned n, const uint8_t *expect_sector)
{
	uint8_t *buf = malloc((size_t)n * SECTOR);

	ck_assert_uint_eq(nbdc_pread(fd, false, 777, buf, n * SECTOR, 0), 0);
	for (unsigned k = 0; k < n; k++)
		ck_assert_mem_eq(buf + (size_t)k * SECTOR, expect_sector, SECTOR);
	free(buf);
}

START_TEST(test_nbd_overlapping_rmw_in_one_connection_loses_no_update)
{
	enum { N = 64 };
	uint8_t expect[SECTOR];
	struct nbdc_reply r;
	uint8_t a[100], b[100];

	start(1, 2 * N, 0);
	h.st->reverse = true;
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	memset(h.st->data, 0, N * SECTOR);
	/* Two writes to distinct bytes of the same sector, back to back, with
	 * the volume held: both read-modify-writes would read the old sector
	 * if nothing ordered them. */
	atomic_store(&h.st->hold, true);
	for (unsigned k = 0; k < N; k++) {
		nbdc_request(h.fd, 1, 0, 2 * k, (uint64_t)k * SECTOR + 10, sizeof(a), a);
		nbdc_request(h.fd, 1, 0, 2 * k + 1, (uint64_t)k * SECTOR + 300, sizeof(b), b);
	}
	for (unsigned i = 0; i < 5000 && atomic_load(&h.st->inflight) < N; i++)
		usleep(1000);
	usleep(50000);					    /* every request has been read by now */
	ck_assert_uint_eq(atomic_load(&h.st->inflight), N); /* the second of each pair waits */
	fake_release(h.st);
	for (unsigned k = 0; k < 2 * N; k++) {
		nbdc_reply(h.fd, &r);
		ck_assert_uint_eq(r.error, 0);
	}
	memset(expect, 0, sizeof(expect));
	memset(expect + 10, 0xaa, 100);
	memset(expect + 300, 0xbb, 100);
	check_sectors(h.fd, N, expect);
	harness_stop(&h);
}
END_TEST

struct writer {
	int fd;
	uint64_t off;
	uint8_t value;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pipelined_writes(w->fd, w->off, 64, 64, w->value);
	return NULL;
}

START_TEST(test_nbd_overlapping_rmw_across_threads_loses_no_update)
{
	enum { N = 64, ROUNDS = 20 };
	struct writer w[2];
	pthread_t t[2];
	uint8_t expect[SECTOR];
	uint16_t flags;

	start(2, 0, 0);
	w[0].fd = h.fd;
	w[1].fd = harness_connect(&h); /* round-robin: the other worker */
	nbdc_negotiate(w[1].fd, false, false, &flags);
	memset(h.st->data, 0, N * SECTOR);
	for (unsigned round = 0; round < ROUNDS; round++) {
		w[0].off = 0;
		w[0].value = (uint8_t)(2 * round + 1);
		w[1].off = 256;
		w[1].value = (uint8_t)(2 * round + 2);
		for (unsigned i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
		for (unsigned i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		memset(expect, 0, sizeof(expect));
		memset(expect, w[0].value, 64);
		memset(expect + 256, w[1].value, 64);
		check_sectors(h.fd, N, expect);
	}
	close(w[1].fd);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_request_cap_stops_reading_new_requests)
{
	enum { N = 16, CAP = 4 };
	struct nbdc_reply r;
	uint8_t buf[SECTOR];

	start(1, CAP, 0);
	atomic_store(&h.st->hold, true);
	for (unsigned i = 0; i < N; i++)
		nbdc_request(h.fd, 0, 0, i, 0, SECTOR, NULL);
	wait_inflight(CAP);
	usleep(50000);
	ck_assert_uint_eq(atomic_load(&h.st->inflight), CAP);
	fake_release(h.st);
	for (unsigned i = 0; i < N; i++) {
		nbdc_reply(h.fd, &r);
		ck_assert_uint_eq(r.error, 0);
		nbdc_read_all(h.fd, buf, sizeof(buf));
	}
	ck_assert_uint_le(atomic_load(&h.st->max_inflight), CAP);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_byte_cap_stops_reading_new_requests)
{
	enum { N = 8, LEN = 65536 };
	struct nbdc_reply r;
	uint8_t *buf = malloc(LEN);

	start(1, 0, LEN);
	atomic_store(&h.st->hold, true);
	for (unsigned i = 0; i < N; i++)
		nbdc_request(h.fd, 0, 0, i, 0, LEN, NULL);
	wait_inflight(1);
	usleep(50000);
	ck_assert_uint_eq(atomic_load(&h.st->inflight), 1);
	fake_release(h.st);
	for (unsigned i = 0; i < N; i++) {
		nbdc_reply(h.fd, &r);
		ck_assert_uint_eq(r.error, 0);
		nbdc_read_all(h.fd, buf, LEN);
	}
	ck_assert_uint_eq(atomic_load(&h.st->max_inflight), 1);
	free(buf);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_stop_finishes_in_flight_flushes_and_closes)
{
	enum { N = 4 };
	struct nbdc_reply r;
	uint8_t buf[SECTOR];

	start(1, 0, 0);
	atomic_store(&h.st->hold, true);
	for (unsigned i = 0; i < N; i++)
		nbdc_request(h.fd, 0, 0, i, 0, SECTOR, NULL);
	wait_inflight(N);
	nbd_server_stop(h.srv);
	usleep(20000);
	ck_assert_uint_eq(atomic_load(&h.st->flushes), 0); /* not before the reads */
	fake_release(h.st);
	for (unsigned i = 0; i < N; i++) {
		nbdc_reply(h.fd, &r);
		ck_assert_uint_eq(r.error, 0);
		nbdc_read_all(h.fd, buf, sizeof(buf));
	}
	ck_assert(nbdc_wait_eof(h.fd));
	harness_stop(&h);
	/* harness_stop freed the store; the flush was counted before */
}
END_TEST

START_TEST(test_nbd_stop_flushes_the_volume_once_idle)
{
	struct fake_store *st;

	start(1, 0, 0);
	st = h.st;
	nbd_server_stop(h.srv);
	ck_assert(nbdc_wait_eof(h.fd));
	/* destroy joins the worker, which flushed before closing its volume */
	close(h.fd);
	h.fd = -1;
	ck_assert_int_eq(nbd_server_destroy(h.srv), 0);
	ck_assert_uint_eq(atomic_load(&st->flushes), 1);
	fake_store_free(st);
}
END_TEST

START_TEST(test_nbd_stop_closes_negotiating_connections)
{
	struct nbd_server_config cfg = {.threads = 1};

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 20);
	nbdc_greeting(h.fd);
	nbd_server_stop(h.srv);
	ck_assert(nbdc_wait_eof(h.fd));
	ck_assert_int_eq(nbd_server_add_fd(h.srv, dup(h.fd)), -ESHUTDOWN);
	harness_stop(&h);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_nbd_overlapping_rmw_in_one_connection_loses_no_update);
	tcase_add_test(tc, test_nbd_overlapping_rmw_across_threads_loses_no_update);
	tcase_add_test(tc, test_nbd_request_cap_stops_reading_new_requests);
	tcase_add_test(tc, test_nbd_byte_cap_stops_reading_new_requests);
	tcase_add_test(tc, test_nbd_stop_finishes_in_flight_flushes_and_closes);
	tcase_add_test(tc, test_nbd_stop_flushes_the_volume_once_idle);
	tcase_add_test(tc, test_nbd_stop_closes_negotiating_connections);
}

int main(void)
{
	return unit_run("nbd_ordering", add_tests);
}
