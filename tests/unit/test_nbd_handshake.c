/* NBD handshake and options, spoken raw over a socketpair to a server
 * running on its own worker thread. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (1024u * 1024)
#define SECTOR 4096u

static struct harness h;

static void setup(void)
{
	struct nbd_server_config cfg = {.export_name = "vol0", .description = "test volume"};

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 20);
}

static void teardown(void)
{
	harness_stop(&h);
}

static void start_options(void)
{
	ck_assert_uint_eq(nbdc_greeting(h.fd), 3); /* FIXED_NEWSTYLE | NO_ZEROES */
	nbdc_client_flags(h.fd, 3);
}

START_TEST(test_nbd_greeting_offers_fixed_newstyle_and_no_zeroes)
{
	ck_assert_uint_eq(nbdc_greeting(h.fd), 3);
}
END_TEST

START_TEST(test_nbd_unknown_client_flags_close)
{
	nbdc_greeting(h.fd);
	nbdc_client_flags(h.fd, 1u << 5);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_bad_option_magic_closes)
{
	uint8_t hdr[16] = {0};

	start_options();
	memcpy(hdr, "NOTMAGIC", 8);
	nbdc_write_all(h.fd, hdr, sizeof(hdr));
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_option_length_over_limit_closes)
{
	uint8_t hdr[16];

	start_options();
	nbdc_put64(hdr, NBDC_OPT_MAGIC);
	nbdc_put32(hdr + 8, 7);
	nbdc_put32(hdr + 12, 64u * 1024 + 1);
	nbdc_write_all(h.fd, hdr, sizeof(hdr));
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_option_data_cut_off_closes)
{
	uint8_t hdr[16];

	start_options();
	nbdc_put64(hdr, NBDC_OPT_MAGIC);
	nbdc_put32(hdr + 8, 7);
	nbdc_put32(hdr + 12, 100);
	nbdc_write_all(h.fd, hdr, sizeof(hdr));
	nbdc_write_all(h.fd, "abc", 3);
	shutdown(h.fd, SHUT_WR);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

static void export_name_reply(bool no_zeroes)
{
	uint8_t r[10 + 124];

	ck_assert_uint_eq(nbdc_greeting(h.fd), 3);
	nbdc_client_flags(h.fd, no_zeroes ? 3 : 1);
	nbdc_opt_send(h.fd, 1, "vol0", 4);
	nbdc_read_all(h.fd, r, no_zeroes ? 10 : sizeof(r));
	ck_assert_uint_eq(nbdc_be64(r), SIZE);
	ck_assert_uint_eq(nbdc_be16(r + 8) & 1, 1); /* HAS_FLAGS */
	for (unsigned i = 10; !no_zeroes && i < sizeof(r); i++)
		ck_assert_uint_eq(r[i], 0);
	/* transmission: a flush answers with a simple reply */
	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 0, 42, 0, 0), 0);
}

START_TEST(test_nbd_export_name_sends_size_flags_and_zero_padding)
{
	export_name_reply(false);
}
END_TEST

START_TEST(test_nbd_export_name_with_no_zeroes_omits_padding)
{
	export_name_reply(true);
}
END_TEST

START_TEST(test_nbd_export_name_unknown_closes)
{
	start_options();
	nbdc_opt_send(h.fd, 1, "nope", 4);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_abort_is_acked_then_closed)
{
	start_options();
	nbdc_opt_expect(h.fd, 2, NULL, 0, 1);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_list_returns_the_export_and_ack)
{
	struct nbdc_opt_reply r;

	start_options();
	nbdc_opt_send(h.fd, 3, NULL, 0);
	nbdc_opt_reply(h.fd, &r);
	ck_assert_uint_eq(r.type, 2); /* NBD_REP_SERVER */
	ck_assert_uint_eq(nbdc_be32(r.data), 4);
	ck_assert_mem_eq(r.data + 4, "vol0", 4);
	ck_assert_uint_eq(r.len, 8 + strlen("test volume"));
	ck_assert_mem_eq(r.data + 8, "test volume", strlen("test volume"));
	nbdc_opt_reply(h.fd, &r);
	ck_assert_uint_eq(r.type, 1);
}
END_TEST

START_TEST(test_nbd_list_with_data_is_invalid)
{
	start_options();
	nbdc_opt_expect(h.fd, 3, "x", 1, 0x80000003u);
	/* still negotiating */
	nbdc_opt_expect(h.fd, 2, NULL, 0, 1);
}
END_TEST

START_TEST(test_nbd_starttls_without_tls_is_policy_error)
{
	start_options();
	nbdc_opt_expect(h.fd, 5, NULL, 0, 0x80000002u);
}
END_TEST

START_TEST(test_nbd_unknown_option_is_unsupported)
{
	start_options();
	nbdc_opt_expect(h.fd, 99, "data", 4, 0x80000001u);
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
}
END_TEST

/* Collect NBD_OPT_INFO/GO replies until the final one. */
struct info_result {
	uint32_t final;
	bool export, name, desc, block;
	uint64_t size;
	uint16_t flags;
	uint32_t bmin, bpref, bmax;
	char name_s[64], desc_s[64];
};

static void info_exchange(uint32_t option, const char *name, const uint16_t *infos, uint16_t nr,
			  struct info_result *res)
{
	uint8_t data[256];
	size_t len = nbdc_info_data(data, name, infos, nr);
	struct nbdc_opt_reply r;

	memset(res, 0, sizeof(*res));
	nbdc_opt_send(h.fd, option, data, (uint32_t)len);
	for (;;) {
		nbdc_opt_reply(h.fd, &r);
		ck_assert_uint_eq(r.option, option);
		if (r.type != 3) {
			res->final = r.type;
			return;
		}
		switch (nbdc_be16(r.data)) {
		case 0:
			ck_assert_uint_eq(r.len, 12);
			res->export = true;
			res->size = nbdc_be64(r.data + 2);
			res->flags = nbdc_be16(r.data + 10);
			break;
		case 1:
			res->name = true;
			memcpy(res->name_s, r.data + 2, r.len - 2);
			break;
		case 2:
			res->desc = true;
			memcpy(res->desc_s, r.data + 2, r.len - 2);
			break;
		case 3:
			ck_assert_uint_eq(r.len, 14);
			res->block = true;
			res->bmin = nbdc_be32(r.data + 2);
			res->bpref = nbdc_be32(r.data + 6);
			res->bmax = nbdc_be32(r.data + 10);
			break;
		}
	}
}

START_TEST(test_nbd_info_reports_export_name_description_block_sizes)
{
	static const uint16_t want[] = {1, 2, 3};
	struct info_result res;

	start_options();
	info_exchange(6, "vol0", want, 3, &res);
	ck_assert_uint_eq(res.final, 1);
	ck_assert(res.export && res.name && res.desc && res.block);
	ck_assert_uint_eq(res.size, SIZE);
	ck_assert_str_eq(res.name_s, "vol0");
	ck_assert_str_eq(res.desc_s, "test volume");
	ck_assert_uint_eq(res.bmin, 1);
	ck_assert_uint_eq(res.bpref, SECTOR);
	ck_assert_uint_eq(res.bmax, 32u * 1024 * 1024);
	/* INFO does not leave the option phase */
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
}
END_TEST

START_TEST(test_nbd_transmission_flags_are_truthful)
{
	struct info_result res;
	uint16_t want = 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x100 | 0x400 | 0x800;

	start_options();
	info_exchange(6, "", NULL, 0, &res);
	ck_assert_uint_eq(res.flags, want); /* no DF before structured replies */
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	info_exchange(6, "", NULL, 0, &res);
	ck_assert_uint_eq(res.flags, want | 0x80);
}
END_TEST

START_TEST(test_nbd_info_unknown_export_is_unknown)
{
	struct info_result res;

	start_options();
	info_exchange(6, "other", NULL, 0, &res);
	ck_assert_uint_eq(res.final, 0x80000006u);
	ck_assert(!res.export);
}
END_TEST

START_TEST(test_nbd_go_with_count_mismatch_is_invalid)
{
	uint8_t data[16];
	size_t len = nbdc_info_data(data, "", NULL, 0);

	start_options();
	nbdc_put16(data + 4, 3); /* claims three requests, sends none */
	nbdc_opt_expect(h.fd, 7, data, (uint32_t)len, 0x80000003u);
}
END_TEST

START_TEST(test_nbd_go_with_name_over_limit_is_invalid)
{
	uint32_t len = 4 + 4097 + 2;
	uint8_t *data = calloc(1, len);

	start_options();
	nbdc_put32(data, 4097);
	memset(data + 4, 'a', 4097);
	nbdc_opt_expect(h.fd, 7, data, len, 0x80000003u);
	free(data);
}
END_TEST

START_TEST(test_nbd_go_enters_transmission)
{
	struct info_result res;

	start_options();
	info_exchange(7, "vol0", NULL, 0, &res);
	ck_assert_uint_eq(res.final, 1);
	ck_assert(res.export);
	ck_assert_uint_eq(nbdc_cmd(h.fd, 3, 0, 7, 0, 0), 0);
}
END_TEST

START_TEST(test_nbd_structured_reply_twice_is_invalid)
{
	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	nbdc_opt_expect(h.fd, 8, NULL, 0, 0x80000003u);
	nbdc_opt_expect(h.fd, 8, "x", 1, 0x80000003u);
}
END_TEST

START_TEST(test_nbd_meta_context_needs_structured_replies)
{
	uint8_t data[64];
	const char *q[] = {"base:allocation"};
	size_t len = nbdc_meta_data(data, "", q, 1);

	start_options();
	nbdc_opt_expect(h.fd, 9, data, (uint32_t)len, 0x80000003u);
	nbdc_opt_expect(h.fd, 10, data, (uint32_t)len, 0x80000003u);
}
END_TEST

static void meta_expect_allocation(uint32_t option, const char *const *q, uint32_t nq, uint32_t id)
{
	uint8_t data[256];
	size_t len = nbdc_meta_data(data, "vol0", q, nq);
	struct nbdc_opt_reply r;

	nbdc_opt_send(h.fd, option, data, (uint32_t)len);
	nbdc_opt_reply(h.fd, &r);
	ck_assert_uint_eq(r.type, 4);
	ck_assert_uint_eq(nbdc_be32(r.data), id);
	ck_assert_uint_eq(r.len, 4 + strlen("base:allocation"));
	ck_assert_mem_eq(r.data + 4, "base:allocation", r.len - 4);
	nbdc_opt_reply(h.fd, &r);
	ck_assert_uint_eq(r.type, 1);
}

START_TEST(test_nbd_list_meta_context_offers_base_allocation)
{
	const char *wild[] = {"base:"};

	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	meta_expect_allocation(9, NULL, 0, 0);
	meta_expect_allocation(9, wild, 1, 0);
}
END_TEST

START_TEST(test_nbd_set_meta_context_selects_base_allocation)
{
	const char *q[] = {"x-other:thing", "base:allocation"};

	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	meta_expect_allocation(10, q, 2, 1);
}
END_TEST

START_TEST(test_nbd_set_meta_context_ignores_unknown_namespace)
{
	uint8_t data[64];
	const char *q[] = {"qemu:dirty-bitmap:x"};
	size_t len = nbdc_meta_data(data, "", q, 1);

	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	nbdc_opt_expect(h.fd, 10, data, (uint32_t)len, 1); /* ack, no context */
}
END_TEST

START_TEST(test_nbd_meta_query_without_namespace_is_invalid)
{
	uint8_t data[64];
	const char *q[] = {"allocation"};
	size_t len = nbdc_meta_data(data, "", q, 1);

	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	nbdc_opt_expect(h.fd, 10, data, (uint32_t)len, 0x80000003u);
}
END_TEST

START_TEST(test_nbd_meta_query_length_past_data_is_invalid)
{
	uint8_t data[64];
	const char *q[] = {"base:allocation"};
	size_t len = nbdc_meta_data(data, "", q, 1);

	start_options();
	nbdc_opt_expect(h.fd, 8, NULL, 0, 1);
	nbdc_put32(data + 8, 200); /* query length beyond the option */
	nbdc_opt_expect(h.fd, 10, data, (uint32_t)len, 0x80000003u);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nbd_greeting_offers_fixed_newstyle_and_no_zeroes);
	tcase_add_test(tc, test_nbd_unknown_client_flags_close);
	tcase_add_test(tc, test_nbd_bad_option_magic_closes);
	tcase_add_test(tc, test_nbd_option_length_over_limit_closes);
	tcase_add_test(tc, test_nbd_option_data_cut_off_closes);
	tcase_add_test(tc, test_nbd_export_name_sends_size_flags_and_zero_padding);
	tcase_add_test(tc, test_nbd_export_name_with_no_zeroes_omits_padding);
	tcase_add_test(tc, test_nbd_export_name_unknown_closes);
	tcase_add_test(tc, test_nbd_abort_is_acked_then_closed);
	tcase_add_test(tc, test_nbd_list_returns_the_export_and_ack);
	tcase_add_test(tc, test_nbd_list_with_data_is_invalid);
	tcase_add_test(tc, test_nbd_starttls_without_tls_is_policy_error);
	tcase_add_test(tc, test_nbd_unknown_option_is_unsupported);
	tcase_add_test(tc, test_nbd_info_reports_export_name_description_block_sizes);
	tcase_add_test(tc, test_nbd_transmission_flags_are_truthful);
	tcase_add_test(tc, test_nbd_info_unknown_export_is_unknown);
	tcase_add_test(tc, test_nbd_go_with_count_mismatch_is_invalid);
	tcase_add_test(tc, test_nbd_go_with_name_over_limit_is_invalid);
	tcase_add_test(tc, test_nbd_go_enters_transmission);
	tcase_add_test(tc, test_nbd_structured_reply_twice_is_invalid);
	tcase_add_test(tc, test_nbd_meta_context_needs_structured_replies);
	tcase_add_test(tc, test_nbd_list_meta_context_offers_base_allocation);
	tcase_add_test(tc, test_nbd_set_meta_context_selects_base_allocation);
	tcase_add_test(tc, test_nbd_set_meta_context_ignores_unknown_namespace);
	tcase_add_test(tc, test_nbd_meta_query_without_namespace_is_invalid);
	tcase_add_test(tc, test_nbd_meta_query_length_past_data_is_invalid);
}

int main(void)
{
	return unit_run("nbd_handshake", add_tests);
}
