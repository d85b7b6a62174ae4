/* Transmission over TLS: many requests in flight, 32 MiB reads and writes,
 * replies completing out of order, and a server stop with requests in
 * flight, each checked byte for byte against the in-memory volume model. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "helper_tls.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (80u * 1024 * 1024)
#define SECTOR 4096u
#define BIG    (32u * 1024 * 1024)

static struct tlst_pki pki;
static struct nbd_tls *tls;
static struct harness h;
static struct tlsc c;

static void setup(void)
{
	struct nbd_tls_config tc;
	struct nbd_server_config cfg = {.export_name = "", .threads = 1};
	struct tlsc_opts o = {0};

	tlst_pki_make(&pki);
	tc.cert_file = pki.server_cert;
	tc.key_file = pki.server_key;
	tc.ca_file = pki.ca;
	o.ca = pki.ca;
	o.cert = pki.client_cert;
	o.key = pki.client_key;
	ck_assert_int_eq(nbd_tls_create(&tc, &tls), 0);
	cfg.tls = tls;
	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &o), 0);
	h.fd = -1;
}

static void teardown(void)
{
	tlsc_stop(&c);
	harness_stop(&h);
	nbd_tls_free(tls);
	tlst_pki_remove(&pki);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 7 + seed) ^ (i >> 12));
	return p;
}

START_TEST(test_nbd_tls_many_reads_in_flight_match_their_handles)
{
	enum { N = 64, LEN = 65536 + 100 };
	bool seen[N] = {false};
	uint16_t flags;

	nbdc_go(c.fd, true, false, &flags);
	/* All requests first, so they are all in flight together; odd
	 * offsets make each a read-modify-write cover. */
	for (unsigned i = 0; i < N; i++)
		nbdc_request(c.fd, 0, 0, 1000 + i, (uint64_t)i * 3 * LEN + 13, LEN, NULL);
	for (unsigned i = 0; i < N; i++) {
		struct nbdc_reply r;
		uint64_t off;
		unsigned k;

		nbdc_reply(c.fd, &r);
		ck_assert(r.structured);
		ck_assert_uint_eq(r.type, 1); /* OFFSET_DATA */
		ck_assert_uint_eq(r.flags & 1, 1);
		k = (unsigned)(r.handle - 1000);
		ck_assert_uint_lt(k, N);
		ck_assert(!seen[k]);
		seen[k] = true;
		off = nbdc_be64(r.payload);
		ck_assert_uint_eq(off, (uint64_t)k * 3 * LEN + 13);
		ck_assert_uint_eq(r.len, 8 + LEN);
		ck_assert_mem_eq(r.payload + 8, h.st->data + off, LEN);
		nbdc_reply_free(&r);
	}
}
END_TEST

START_TEST(test_nbd_tls_32_mib_write_then_read_round_trips)
{
	uint8_t *in = pattern(BIG, 5), *out = malloc(BIG);
	uint64_t off = 3 * 1024 * 1024 + 7; /* unaligned both ends */
	uint16_t flags;

	ck_assert_ptr_nonnull(out);
	nbdc_go(c.fd, false, false, &flags);
	ck_assert_uint_eq(nbdc_pwrite(c.fd, 1, 0, in, BIG, off), 0);
	ck_assert_mem_eq(h.st->data + off, in, BIG);
	ck_assert_uint_eq(nbdc_pread(c.fd, false, 2, out, BIG, off), 0);
	ck_assert_mem_eq(out, in, BIG);
	free(in);
	free(out);
}
END_TEST

START_TEST(test_nbd_tls_32_mib_reads_in_flight_together)
{
	uint16_t flags;

	nbdc_go(c.fd, true, false, &flags);
	/* Three maximum-size reads at once: their replies leave one after
	 * the other through the record layer, never interleaved. */
	for (unsigned i = 0; i < 3; i++)
		nbdc_request(c.fd, 0, 0, 50 + i, (uint64_t)i * 16 * 1024 * 1024, BIG, NULL);
	for (unsigned i = 0; i < 3; i++) {
		struct nbdc_reply r;
		uint64_t off;

		nbdc_reply(c.fd, &r);
		ck_assert_uint_eq(r.type, 1);
		ck_assert_uint_ge(r.handle, 50);
		ck_assert_uint_lt(r.handle, 53);
		off = nbdc_be64(r.payload);
		ck_assert_uint_eq(off, (r.handle - 50) * 16 * 1024 * 1024);
		ck_assert_uint_eq(r.len, 8 + BIG);
		ck_assert_mem_eq(r.payload + 8, h.st->data + off, BIG);
		nbdc_reply_free(&r);
	}
}
END_TEST

START_TEST(test_nbd_tls_pipelined_writes_then_reads_see_the_data)
{
	enum { N = 48, LEN = 100000 };
	uint8_t *in = pattern((size_t)N * LEN, 9), *out = malloc(LEN);
	uint16_t flags;

	ck_assert_ptr_nonnull(out);
	nbdc_go(c.fd, true, true, &flags);
	for (unsigned i = 0; i < N; i++)
		nbdc_request(c.fd, 1, 0, i, (uint64_t)i * LEN, LEN, in + (size_t)i * LEN);
	for (unsigned i = 0; i < N; i++) {
		struct nbdc_reply r;

		nbdc_reply(c.fd, &r);
		ck_assert_uint_eq(r.type, 0);
		ck_assert_uint_eq(r.error, 0);
		nbdc_reply_free(&r);
	}
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(nbdc_pread(c.fd, true, 100 + i, out, LEN, (uint64_t)i * LEN), 0);
		ck_assert_mem_eq(out, in + (size_t)i * LEN, LEN);
	}
	/* block status and an error reply travel the same way */
	ck_assert_uint_eq(nbdc_cmd(c.fd, 7, 0, 900, 0, 4096), 0);
	ck_assert_uint_ne(nbdc_cmd(c.fd, 4, 0, 901, SIZE, 4096), 0);
	free(in);
	free(out);
}
END_TEST

START_TEST(test_nbd_tls_replies_completing_in_reverse_order)
{
	enum { N = 16, LEN = 8192 };
	uint16_t flags;
	unsigned order[N], got = 0;

	nbdc_go(c.fd, true, false, &flags);
	atomic_store(&h.st->hold, true);
	h.st->reverse = true;
	for (unsigned i = 0; i < N; i++)
		nbdc_request(c.fd, 0, 0, i, (uint64_t)i * LEN, LEN, NULL);
	/* let every request reach the volume before releasing them */
	for (int tries = 0; atomic_load(&h.st->inflight) < N && tries < 2000; tries++)
		usleep(1000);
	ck_assert_uint_eq(atomic_load(&h.st->inflight), N);
	fake_release(h.st);
	for (unsigned i = 0; i < N; i++) {
		struct nbdc_reply r;

		nbdc_reply(c.fd, &r);
		ck_assert_uint_eq(r.type, 1);
		ck_assert_mem_eq(r.payload + 8, h.st->data + r.handle * LEN, LEN);
		order[got++] = (unsigned)r.handle;
		nbdc_reply_free(&r);
	}
	ck_assert_uint_eq(order[0], N - 1); /* the model's reversal reached the wire */
}
END_TEST

/* A TLS 1.3 KeyUpdate that asks for one back makes the server write a
 * record of its own while it reads: replies after it must still decrypt. */
START_TEST(test_nbd_tls_key_update_mid_stream_keeps_serving)
{
	enum { LEN = 256 * 1024 };
	uint8_t *in = pattern(LEN, 3), *out = malloc(LEN);
	uint16_t flags;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(SSL_version(c.ssl), TLS1_3_VERSION);
	nbdc_go(c.fd, true, false, &flags);
	for (unsigned i = 0; i < 3; i++) {
		atomic_store(&c.key_update, true);
		ck_assert_uint_eq(nbdc_pwrite(c.fd, 10 + i, 0, in, LEN, (uint64_t)i * LEN), 0);
		ck_assert_uint_eq(nbdc_pread(c.fd, true, 20 + i, out, LEN, (uint64_t)i * LEN), 0);
		ck_assert_mem_eq(out, in, LEN);
	}
	ck_assert_uint_eq(atomic_load(&c.key_updates_sent), 3);
	ck_assert_uint_eq(atomic_load(&c.key_updates_received), 3);
	free(in);
	free(out);
}
END_TEST

START_TEST(test_nbd_tls_stop_finishes_requests_in_flight)
{
	enum { LEN = 1024 * 1024 };
	uint16_t flags;
	struct nbdc_reply r;

	nbdc_go(c.fd, true, false, &flags);
	atomic_store(&h.st->hold, true);
	nbdc_request(c.fd, 0, 0, 77, 0, LEN, NULL);
	for (int tries = 0; atomic_load(&h.st->inflight) < 1 && tries < 2000; tries++)
		usleep(1000);
	nbd_server_stop(h.srv);
	fake_release(h.st);
	nbdc_reply(c.fd, &r);
	ck_assert_uint_eq(r.handle, 77);
	ck_assert_uint_eq(r.len, 8 + LEN);
	ck_assert_mem_eq(r.payload + 8, h.st->data, LEN);
	nbdc_reply_free(&r);
	ck_assert(nbdc_wait_eof(c.fd));
	ck_assert_msg(c.got_close_notify, "no close_notify: %s", c.error);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nbd_tls_many_reads_in_flight_match_their_handles);
	tcase_add_test(tc, test_nbd_tls_32_mib_write_then_read_round_trips);
	tcase_add_test(tc, test_nbd_tls_32_mib_reads_in_flight_together);
	tcase_add_test(tc, test_nbd_tls_pipelined_writes_then_reads_see_the_data);
	tcase_add_test(tc, test_nbd_tls_replies_completing_in_reverse_order);
	tcase_add_test(tc, test_nbd_tls_key_update_mid_stream_keeps_serving);
	tcase_add_test(tc, test_nbd_tls_stop_finishes_requests_in_flight);
}

int main(void)
{
	return unit_run("nbd_tls_transfer", add_tests);
}
