/* NBD transmission commands against the in-memory volume model: data lands
 * where the client put it (also at unaligned offsets, through
 * read-modify-write), replies match their handles, simple and structured
 * replies each follow the spec. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

static struct harness h;
static uint8_t *model; /* what the export must read back as */

static void setup_with(uint32_t sector, bool structured, bool meta)
{
	uint16_t flags;

	harness_start(&h, SIZE, sector);
	model = malloc(SIZE);
	memcpy(model, h.st->data, SIZE);
	ck_assert_uint_eq(nbdc_negotiate(h.fd, structured, meta, &flags), SIZE);
}

static void setup_simple(void)
{
	setup_with(SECTOR, false, false);
}

static void setup_structured(void)
{
	setup_with(SECTOR, true, true);
}

static void setup_4k(void)
{
	setup_with(4096, true, false);
}

static void teardown(void)
{
	harness_stop(&h);
	free(model);
}

/* Loop tests run twice: index 0 with simple replies, 1 with structured. */
#define START_BOTH(name)                                                                           \
	static void name##_body(bool sr);                                                          \
	START_TEST(name)                                                                           \
	{                                                                                          \
		setup_with(SECTOR, _i == 1, _i == 1);                                              \
		name##_body(_i == 1);                                                              \
		teardown();                                                                        \
	}                                                                                          \
	END_TEST                                                                                   \
	static void name##_body(bool sr __attribute__((unused)))

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void check_export_matches_model(bool sr)
{
	uint8_t *buf = malloc(SIZE);

	/* Reads of at most 32 MiB each; the export is smaller. */
	ck_assert_uint_eq(nbdc_pread(h.fd, sr, 999, buf, SIZE, 0), 0);
	ck_assert_mem_eq(buf, model, SIZE);
	free(buf);
}

static void write_and_model(uint64_t handle, uint64_t off, uint32_t len, unsigned seed, bool sr)
{
	uint8_t *buf = malloc(len);

	fill(buf, len, seed);
	ck_assert_uint_eq(nbdc_pwrite(h.fd, handle, 0, buf, len, off), 0);
	memcpy(model + off, buf, len);
	free(buf);
	(void)sr;
}

START_BOTH(test_nbd_read_returns_volume_data)
{
	uint8_t buf[8192];

	ck_assert_uint_eq(nbdc_pread(h.fd, sr, 1, buf, sizeof(buf), 65536), 0);
	ck_assert_mem_eq(buf, model + 65536, sizeof(buf));
}

START_BOTH(test_nbd_aligned_write_reads_back)
{
	write_and_model(2, 4096, 65536, 1, sr);
	check_export_matches_model(sr);
}

START_BOTH(test_nbd_unaligned_write_keeps_neighbour_bytes)
{
	/* inside one sector, across a sector edge, and spanning many sectors
	 * with both edges partial */
	write_and_model(3, 100, 17, 2, sr);
	write_and_model(4, 1000, 100, 3, sr);
	write_and_model(5, 3 * 512 + 7, 5000, 4, sr);
	write_and_model(6, SIZE - 3, 3, 5, sr);
	write_and_model(7, 0, 1, 6, sr);
	check_export_matches_model(sr);
}

START_BOTH(test_nbd_unaligned_read_returns_exact_bytes)
{
	static const struct {
		uint64_t off;
		uint32_t len;
	} cases[] = {{1, 1}, {511, 2}, {700, 3000}, {SIZE - 1, 1}, {12345, 65536}};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf = malloc(cases[i].len);

		ck_assert_uint_eq(nbdc_pread(h.fd, sr, 10 + i, buf, cases[i].len, cases[i].off), 0);
		ck_assert_mem_eq(buf, model + cases[i].off, cases[i].len);
		free(buf);
	}
}

START_BOTH(test_nbd_write_zeroes_aligned_and_unaligned)
{
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 20, 8192, 8192), 0);
	memset(model + 8192, 0, 8192);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 2 /* NO_HOLE */, 21, 100, 50), 0);
	memset(model + 100, 0, 50);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 22, 30000, 70001), 0);
	memset(model + 30000, 0, 70001);
	check_export_matches_model(sr);
	ck_assert_uint_eq(atomic_load(&h.st->punches), 0); /* zeros are written */
}

START_BOTH(test_nbd_write_zeroes_large_is_sliced)
{
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 23, 0, SIZE), 0);
	memset(model, 0, SIZE);
	check_export_matches_model(sr);
}

START_BOTH(test_nbd_trim_rounds_inward_and_keeps_partial_sectors)
{
	unsigned before = atomic_load(&h.st->trims);

	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 0, 30, 100, 200), 0); /* no whole sector */
	ck_assert_uint_eq(atomic_load(&h.st->trims), before);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 0, 31, 100, 2000), 0);
	ck_assert_uint_eq(atomic_load(&h.st->trims), before + 1);
	check_export_matches_model(sr);
}

START_BOTH(test_nbd_flush_reaches_the_volume)
{
	unsigned before = atomic_load(&h.st->flushes);

	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 0, 40, 0, 0), 0);
	ck_assert_uint_eq(atomic_load(&h.st->flushes), before + 1);
}

START_BOTH(test_nbd_fua_write_is_durable_before_reply)
{
	uint8_t buf[1024];

	fill(buf, sizeof(buf), 9);
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 41, 1 /* FUA */, buf, sizeof(buf), 512), 0);
	ck_assert_uint_ge(atomic_load(&h.st->fua_writes), 1);
	memcpy(model + 512, buf, sizeof(buf));
	check_export_matches_model(sr);
}

START_BOTH(test_nbd_cache_succeeds)
{
	ck_assert_uint_eq(nbdc_cmd(h.fd, 5, 0, 50, 0, 65536), 0);
}

START_BOTH(test_nbd_zero_length_requests_succeed)
{
	uint8_t b;

	ck_assert_uint_eq(nbdc_pread(h.fd, sr, 60, &b, 0, 100), 0);
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 61, 0, &b, 0, 100), 0);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 62, 100, 0), 0);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 0, 63, 100, 0), 0);
}

START_TEST(test_nbd_structured_read_is_one_data_chunk_with_done)
{
	struct nbdc_reply r;

	setup_structured();
	nbdc_request(h.fd, 0, 4 /* DF */, 77, 1000, 5000, NULL);
	nbdc_reply(h.fd, &r);
	ck_assert(r.structured);
	ck_assert_uint_eq(r.type, 1);
	ck_assert_uint_eq(r.flags, 1);
	ck_assert_uint_eq(r.handle, 77);
	ck_assert_uint_eq(r.len, 8 + 5000);
	ck_assert_uint_eq(nbdc_be64(r.payload), 1000);
	ck_assert_mem_eq(r.payload + 8, model + 1000, 5000);
	nbdc_reply_free(&r);
	teardown();
}
END_TEST

START_TEST(test_nbd_block_status_reports_whole_range_allocated)
{
	struct nbdc_reply r;

	setup_structured();
	nbdc_request(h.fd, 7, 0, 78, 4096, 100000, NULL);
	nbdc_reply(h.fd, &r);
	ck_assert_uint_eq(r.type, 5);
	ck_assert_uint_eq(r.flags, 1);
	ck_assert_uint_eq(r.len, 12);
	ck_assert_uint_eq(nbdc_be32(r.payload), 1); /* base:allocation id */
	ck_assert_uint_eq(nbdc_be32(r.payload + 4), 100000);
	ck_assert_uint_eq(nbdc_be32(r.payload + 8), 0); /* data, not hole */
	nbdc_reply_free(&r);
	teardown();
}
END_TEST

START_TEST(test_nbd_simple_replies_without_structured_negotiation)
{
	struct nbdc_reply r;
	uint8_t buf[512];

	setup_simple();
	nbdc_request(h.fd, 0, 0, 79, 0, sizeof(buf), NULL);
	nbdc_reply(h.fd, &r);
	ck_assert(!r.structured);
	ck_assert_uint_eq(r.error, 0);
	ck_assert_uint_eq(r.handle, 79);
	nbdc_read_all(h.fd, buf, sizeof(buf));
	ck_assert_mem_eq(buf, model, sizeof(buf));
	teardown();
}
END_TEST

START_TEST(test_nbd_replies_out_of_order_match_handles)
{
	enum { N = 32 };
	uint8_t *bufs[N];
	bool seen[N] = {false};
	struct nbdc_reply r;

	setup_simple();
	/* Hold the volume so all requests are in flight, then let them finish
	 * in reverse order. */
	atomic_store(&h.st->hold, true);
	h.st->reverse = true;
	for (unsigned i = 0; i < N; i++)
		nbdc_request(h.fd, 0, 0, 1000 + i, i * 4096, 4096, NULL);
	while (atomic_load(&h.st->inflight) < N)
		usleep(1000);
	fake_release(h.st);
	for (unsigned i = 0; i < N; i++) {
		unsigned k;

		nbdc_reply(h.fd, &r);
		ck_assert_uint_eq(r.error, 0);
		k = (unsigned)(r.handle - 1000);
		ck_assert_uint_lt(k, N);
		ck_assert(!seen[k]);
		seen[k] = true;
		bufs[k] = malloc(4096);
		nbdc_read_all(h.fd, bufs[k], 4096);
		ck_assert_mem_eq(bufs[k], model + k * 4096, 4096);
		free(bufs[k]);
	}
	teardown();
}
END_TEST

START_TEST(test_nbd_disc_finishes_in_flight_then_closes)
{
	uint8_t buf[4096];
	struct nbdc_reply r;

	setup_simple();
	atomic_store(&h.st->hold, true);
	nbdc_request(h.fd, 0, 0, 90, 0, sizeof(buf), NULL);
	while (atomic_load(&h.st->inflight) < 1)
		usleep(1000);
	nbdc_request(h.fd, 2, 0, 91, 0, 0, NULL); /* NBD_CMD_DISC */
	usleep(20000);
	fake_release(h.st);
	nbdc_reply(h.fd, &r);
	ck_assert_uint_eq(r.handle, 90);
	ck_assert_uint_eq(r.error, 0);
	nbdc_read_all(h.fd, buf, sizeof(buf));
	ck_assert(nbdc_wait_eof(h.fd));
	teardown();
}
END_TEST

START_TEST(test_nbd_unaligned_io_on_4k_sectors)
{
	setup_4k();
	write_and_model(1, 4095, 2, 11, true);
	write_and_model(2, 10000, 9000, 12, true);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 3, 5, 8000), 0);
	memset(model + 5, 0, 8000);
	check_export_matches_model(true);
	teardown();
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_nbd_read_returns_volume_data, 0, 2);
	tcase_add_loop_test(tc, test_nbd_aligned_write_reads_back, 0, 2);
	tcase_add_loop_test(tc, test_nbd_unaligned_write_keeps_neighbour_bytes, 0, 2);
	tcase_add_loop_test(tc, test_nbd_unaligned_read_returns_exact_bytes, 0, 2);
	tcase_add_loop_test(tc, test_nbd_write_zeroes_aligned_and_unaligned, 0, 2);
	tcase_add_loop_test(tc, test_nbd_write_zeroes_large_is_sliced, 0, 2);
	tcase_add_loop_test(tc, test_nbd_trim_rounds_inward_and_keeps_partial_sectors, 0, 2);
	tcase_add_loop_test(tc, test_nbd_flush_reaches_the_volume, 0, 2);
	tcase_add_loop_test(tc, test_nbd_fua_write_is_durable_before_reply, 0, 2);
	tcase_add_loop_test(tc, test_nbd_cache_succeeds, 0, 2);
	tcase_add_loop_test(tc, test_nbd_zero_length_requests_succeed, 0, 2);
	tcase_add_test(tc, test_nbd_structured_read_is_one_data_chunk_with_done);
	tcase_add_test(tc, test_nbd_block_status_reports_whole_range_allocated);
	tcase_add_test(tc, test_nbd_simple_replies_without_structured_negotiation);
	tcase_add_test(tc, test_nbd_replies_out_of_order_match_handles);
	tcase_add_test(tc, test_nbd_disc_finishes_in_flight_then_closes);
	tcase_add_test(tc, test_nbd_unaligned_io_on_4k_sectors);
}

int main(void)
{
	return unit_run("nbd_commands", add_tests);
}
