/* NBD request errors: each bad request gets the reply the spec asks for on a
 * stream that keeps working, and framing errors close that connection only. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

#define NBD_EPERM   1u
#define NBD_EIO	    5u
#define NBD_EINVAL  22u
#define NBD_ENOSPC  28u
#define NBD_ENOTSUP 95u

static struct harness h;

static void setup_ro(bool read_only, bool structured, bool meta)
{
	struct nbd_server_config cfg = {.export_name = "", .read_only = read_only};
	uint16_t flags;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_negotiate(h.fd, structured, meta, &flags);
	ck_assert_uint_eq(!!(flags & 2), read_only);
}

static void setup_simple(void)
{
	setup_ro(false, false, false);
}

static void setup_structured(void)
{
	setup_ro(false, true, false);
}

static void setup_read_only(void)
{
	setup_ro(true, true, false);
}

static void teardown(void)
{
	harness_stop(&h);
}

/* The connection still serves after an error reply. */
static void still_works(void)
{
	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 0, 9999, 0, 0), 0);
}

START_TEST(test_nbd_read_past_end_is_einval)
{
	uint8_t buf[1024];

	setup_simple();
	ck_assert_uint_eq(nbdc_pread(h.fd, false, 1, buf, 1024, SIZE - 512), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_write_past_end_is_enospc_and_payload_is_consumed)
{
	uint8_t buf[1024] = {0};

	setup_simple();
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 2, 0, buf, sizeof(buf), SIZE - 512), NBD_ENOSPC);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_write_zeroes_past_end_is_enospc)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 3, SIZE, 1), NBD_ENOSPC);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_trim_past_end_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 0, 4, SIZE - 512, 1024), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_offset_plus_length_overflow_is_rejected)
{
	uint8_t buf[16];

	setup_simple();
	ck_assert_uint_eq(nbdc_pread(h.fd, false, 5, buf, 16, UINT64_MAX - 8), NBD_EINVAL);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 6, UINT64_MAX - 8, 16), NBD_ENOSPC);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_unknown_command_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 42, 0, 7, 0, 0), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_unknown_flag_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 1u << 9, 8, 0, 0), NBD_EINVAL);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 2 /* NO_HOLE on trim */, 9, 0, 512), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_df_without_structured_replies_is_einval)
{
	struct nbdc_reply r;

	setup_simple();
	nbdc_request(h.fd, 0, 4, 10, 0, 512, NULL);
	nbdc_reply(h.fd, &r);
	ck_assert(!r.structured);
	ck_assert_uint_eq(r.error, NBD_EINVAL); /* and no data follows */
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_flush_with_offset_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 0, 11, 512, 0), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_read_over_32m_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 0, 0, 12, 0, 32u * 1024 * 1024 + 1), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_block_status_without_context_is_einval)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 7, 0, 13, 0, 512), NBD_EINVAL);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_fast_zero_is_enotsup)
{
	setup_simple();
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 16, 14, 0, 4096), NBD_ENOTSUP);
	ck_assert_uint_eq(atomic_load(&h.st->zeroes), 0);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_error_chunk_carries_a_message)
{
	struct nbdc_reply r;

	setup_structured();
	nbdc_request(h.fd, 0, 0, 15, SIZE, 1, NULL);
	nbdc_reply(h.fd, &r);
	ck_assert(r.structured);
	ck_assert_uint_eq(r.type, 0x8001);
	ck_assert_uint_eq(r.flags, 1);
	ck_assert_uint_eq(r.error, NBD_EINVAL);
	ck_assert_uint_gt(nbdc_be16(r.payload + 4), 0);
	ck_assert_uint_eq(r.len, 6u + nbdc_be16(r.payload + 4));
	nbdc_reply_free(&r);
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_volume_read_error_is_eio_chunk)
{
	uint8_t buf[512];

	setup_structured();
	h.st->fail_err = -EIO;
	h.st->fail_op = VOLUME_READ;
	ck_assert_uint_eq(nbdc_pread(h.fd, true, 16, buf, 512, 0), NBD_EIO);
	h.st->fail_op = -1;
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_volume_enospc_is_translated)
{
	uint8_t buf[512] = {0};

	setup_structured();
	h.st->fail_err = -ENOSPC;
	h.st->fail_op = VOLUME_WRITE;
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 17, 0, buf, 512, 0), NBD_ENOSPC);
	/* an unaligned write's final write fails with EDQUOT: ENOSPC for NBD */
	h.st->fail_err = -EDQUOT;
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 18, 0, buf, 100, 1), NBD_ENOSPC);
	h.st->fail_op = -1;
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_writes_to_read_only_export_are_eperm)
{
	uint8_t buf[512] = {0};

	setup_read_only();
	ck_assert_uint_eq(nbdc_pwrite(h.fd, 20, 0, buf, sizeof(buf), 0), NBD_EPERM);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 4, 0, 21, 0, 512), NBD_EPERM);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 6, 0, 22, 0, 512), NBD_EPERM);
	ck_assert_uint_eq(nbdc_pread(h.fd, true, 23, buf, sizeof(buf), 0), 0);
	ck_assert_mem_eq(buf, h.st->data, sizeof(buf));
	still_works();
	teardown();
}
END_TEST

START_TEST(test_nbd_bad_request_magic_closes)
{
	uint8_t hdr[28] = {0};

	setup_simple();
	nbdc_write_all(h.fd, hdr, sizeof(hdr));
	ck_assert(nbdc_wait_eof(h.fd));
	teardown();
}
END_TEST

START_TEST(test_nbd_write_over_32m_closes)
{
	setup_simple();
	nbdc_request(h.fd, 1, 0, 30, 0, 32u * 1024 * 1024 + 1, NULL);
	ck_assert(nbdc_wait_eof(h.fd));
	teardown();
}
END_TEST

START_TEST(test_nbd_cut_off_payload_closes)
{
	uint8_t buf[100] = {0};

	setup_simple();
	nbdc_request(h.fd, 1, 0, 31, 0, 4096, NULL);
	nbdc_write_all(h.fd, buf, sizeof(buf));
	shutdown(h.fd, SHUT_WR);
	ck_assert(nbdc_wait_eof(h.fd));
	teardown();
}
END_TEST

START_TEST(test_nbd_bad_connection_leaves_others_serving)
{
	uint8_t hdr[28] = {0}, buf[512];
	uint16_t flags;
	int good;

	setup_simple();
	good = harness_connect(&h);
	nbdc_negotiate(good, false, false, &flags);
	nbdc_write_all(h.fd, hdr, sizeof(hdr));
	ck_assert(nbdc_wait_eof(h.fd));
	ck_assert_uint_eq(nbdc_pread(good, false, 1, buf, sizeof(buf), 0), 0);
	ck_assert_mem_eq(buf, h.st->data, sizeof(buf));
	close(good);
	teardown();
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_nbd_read_past_end_is_einval);
	tcase_add_test(tc, test_nbd_write_past_end_is_enospc_and_payload_is_consumed);
	tcase_add_test(tc, test_nbd_write_zeroes_past_end_is_enospc);
	tcase_add_test(tc, test_nbd_trim_past_end_is_einval);
	tcase_add_test(tc, test_nbd_offset_plus_length_overflow_is_rejected);
	tcase_add_test(tc, test_nbd_unknown_command_is_einval);
	tcase_add_test(tc, test_nbd_unknown_flag_is_einval);
	tcase_add_test(tc, test_nbd_df_without_structured_replies_is_einval);
	tcase_add_test(tc, test_nbd_flush_with_offset_is_einval);
	tcase_add_test(tc, test_nbd_read_over_32m_is_einval);
	tcase_add_test(tc, test_nbd_block_status_without_context_is_einval);
	tcase_add_test(tc, test_nbd_fast_zero_is_enotsup);
	tcase_add_test(tc, test_nbd_bad_request_magic_closes);
	tcase_add_test(tc, test_nbd_write_over_32m_closes);
	tcase_add_test(tc, test_nbd_cut_off_payload_closes);
	tcase_add_test(tc, test_nbd_bad_connection_leaves_others_serving);
	tcase_add_test(tc, test_nbd_error_chunk_carries_a_message);
	tcase_add_test(tc, test_nbd_volume_read_error_is_eio_chunk);
	tcase_add_test(tc, test_nbd_volume_enospc_is_translated);
	tcase_add_test(tc, test_nbd_writes_to_read_only_export_are_eperm);
}

int main(void)
{
	return unit_run("nbd_errors", add_tests);
}
