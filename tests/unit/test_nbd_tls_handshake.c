/* NBD_OPT_STARTTLS and the FORCEDTLS rules of the NBD spec, spoken raw,
 * and the TLS handshake's policy: client certificates against the CA,
 * protocol versions, clients that break off. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "helper_tls.h"
#include "nbd_fake_volume.h"
#include "frontend/nbd/nbd_int.h"

#include <check.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

#define OPT_EXPORT_NAME 1u
#define OPT_ABORT	2u
#define OPT_LIST	3u
#define OPT_STARTTLS	5u
#define OPT_INFO	6u
#define OPT_GO		7u
#define OPT_STRUCTURED	8u
#define OPT_SET_META	10u
#define REP_ACK		1u
#define REP_ERR_POLICY	0x80000002u
#define REP_ERR_INVALID 0x80000003u
#define REP_ERR_TLS_REQ 0x80000005u

static struct tlst_pki pki;
static struct nbd_tls *tls;
static struct harness h;

/* A server with TLS; with `ca`, client certificates are required. */
static void start(bool ca)
{
	struct nbd_tls_config tc = {.cert_file = pki.server_cert, .key_file = pki.server_key};
	struct nbd_server_config cfg = {.export_name = "", .threads = 1};

	if (ca)
		tc.ca_file = pki.ca;
	ck_assert_int_eq(nbd_tls_create(&tc, &tls), 0);
	cfg.tls = tls;
	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 20);
}

static void setup(void)
{
	tlst_pki_make(&pki);
	tls = NULL;
	h.srv = NULL;
}

static void teardown(void)
{
	if (h.srv)
		harness_stop(&h);
	nbd_tls_free(tls);
	tlst_pki_remove(&pki);
}

static void start_options(void)
{
	ck_assert_uint_eq(nbdc_greeting(h.fd), 3);
	nbdc_client_flags(h.fd, 3);
}

/* The export answers over `fd`: read a sector and compare with the store. */
static void expect_served(int fd, bool structured)
{
	uint8_t buf[SECTOR];
	uint16_t flags;

	ck_assert_uint_eq(nbdc_go(fd, structured, false, &flags), SIZE);
	ck_assert_uint_eq(nbdc_pread(fd, structured, 7, buf, sizeof(buf), 3 * SECTOR), 0);
	ck_assert_mem_eq(buf, h.st->data + 3 * SECTOR, sizeof(buf));
}

START_TEST(test_nbd_tls_options_before_starttls_answer_tls_reqd)
{
	static const uint32_t options[] = {OPT_LIST,	   OPT_INFO,	 OPT_GO,
					   OPT_STRUCTURED, OPT_SET_META, 99};
	uint8_t data[64];
	size_t len = nbdc_info_data(data, "", NULL, 0);

	start(false);
	start_options();
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		nbdc_opt_expect(h.fd, options[i], data, (uint32_t)len, REP_ERR_TLS_REQ);
	/* ABORT is still served before TLS. */
	nbdc_opt_expect(h.fd, OPT_ABORT, NULL, 0, REP_ACK);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_tls_export_name_before_starttls_closes)
{
	start(false);
	start_options();
	nbdc_opt_send(h.fd, OPT_EXPORT_NAME, NULL, 0);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_tls_client_without_fixed_newstyle_closes)
{
	start(false);
	nbdc_greeting(h.fd);
	nbdc_client_flags(h.fd, 0);
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_tls_starttls_with_data_is_invalid_then_starttls_works)
{
	struct tlsc c;

	start(false);
	start_options();
	nbdc_opt_expect(h.fd, OPT_STARTTLS, "x", 1, REP_ERR_INVALID);
	nbdc_opt_expect(h.fd, OPT_STARTTLS, NULL, 0, REP_ACK);
	ck_assert_int_eq(tlsc_start(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	expect_served(c.fd, true);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_starttls_twice_is_invalid)
{
	struct tlsc c;

	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	nbdc_opt_expect(c.fd, OPT_STARTTLS, NULL, 0, REP_ERR_INVALID);
	/* still negotiating, still over TLS */
	expect_served(c.fd, false);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_export_name_after_starttls_enters_transmission)
{
	struct tlsc c;
	uint8_t r[10], buf[SECTOR];

	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	nbdc_opt_send(c.fd, OPT_EXPORT_NAME, NULL, 0);
	nbdc_read_all(c.fd, r, sizeof(r)); /* size, flags; no zeroes were asked for */
	ck_assert_uint_eq(nbdc_be64(r), SIZE);
	ck_assert_uint_eq(nbdc_pread(c.fd, false, 9, buf, sizeof(buf), 5 * SECTOR), 0);
	ck_assert_mem_eq(buf, h.st->data + 5 * SECTOR, sizeof(buf));
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_abort_over_tls_ends_with_close_notify)
{
	struct tlsc c;

	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	nbdc_opt_expect(c.fd, OPT_ABORT, NULL, 0, REP_ACK);
	ck_assert(nbdc_wait_eof(c.fd));
	ck_assert_msg(c.got_close_notify, "no close_notify: %s", c.error);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_disc_ends_with_close_notify)
{
	struct tlsc c;
	uint16_t flags;

	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	nbdc_go(c.fd, true, false, &flags);
	nbdc_request(c.fd, 2, 0, 1, 0, 0, NULL); /* NBD_CMD_DISC */
	ck_assert(nbdc_wait_eof(c.fd));
	ck_assert_msg(c.got_close_notify, "no close_notify: %s", c.error);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_server_certificate_verifies_for_localhost)
{
	struct tlsc c;

	/* The client checks the chain and the name: a wrong CA fails. */
	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.other_ca}), -1);
	h.fd = -1;
	tlsc_stop(&c);
	ck_assert_int_eq(tlsc_upgrade(&c, harness_connect(&h), &(struct tlsc_opts){.ca = pki.ca}),
			 0);
	expect_served(c.fd, true);
	tlsc_stop(&c);
}
END_TEST

/* A client the server refuses: the handshake fails, or (TLS 1.3, where the
 * client finishes first) the server's alert ends the stream at once. */
static void expect_refused(const struct tlsc_opts *o)
{
	struct tlsc c;
	int fd = harness_connect(&h);

	if (tlsc_upgrade(&c, fd, o) == 0) {
		nbdc_opt_send(c.fd, OPT_LIST, NULL, 0);
		ck_assert(nbdc_wait_eof(c.fd));
		ck_assert(!c.got_close_notify);
	}
	ck_assert_msg(c.error[0], "refused without a TLS error");
	tlsc_stop(&c);
}

START_TEST(test_nbd_tls_ca_requires_a_client_certificate)
{
	start(true);
	close(h.fd);
	h.fd = -1;
	expect_refused(&(struct tlsc_opts){.ca = pki.ca});
}
END_TEST

START_TEST(test_nbd_tls_ca_refuses_a_certificate_of_another_ca)
{
	start(true);
	close(h.fd);
	h.fd = -1;
	expect_refused(&(struct tlsc_opts){
	    .ca = pki.ca, .cert = pki.other_client_cert, .key = pki.other_client_key});
}
END_TEST

START_TEST(test_nbd_tls_ca_serves_a_certificate_it_signed)
{
	struct tlsc c;

	start(true);
	ck_assert_int_eq(
	    tlsc_upgrade(
		&c, h.fd,
		&(struct tlsc_opts){.ca = pki.ca, .cert = pki.client_cert, .key = pki.client_key}),
	    0);
	h.fd = -1;
	expect_served(c.fd, true);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_without_ca_serves_a_client_without_certificate)
{
	struct tlsc c;

	start(false);
	ck_assert_int_eq(tlsc_upgrade(&c, h.fd, &(struct tlsc_opts){.ca = pki.ca}), 0);
	h.fd = -1;
	expect_served(c.fd, true);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_below_1_2_is_refused)
{
	start(false);
	close(h.fd);
	h.fd = -1;
	expect_refused(&(struct tlsc_opts){.max_version = TLS1_1_VERSION});
	/* The same client allowed 1.2 is served: the version was the reason. */
	{
		struct tlsc c;

		ck_assert_int_eq(tlsc_upgrade(&c, harness_connect(&h),
					      &(struct tlsc_opts){.max_version = TLS1_2_VERSION}),
				 0);
		expect_served(c.fd, true);
		tlsc_stop(&c);
	}
}
END_TEST

START_TEST(test_nbd_tls_garbage_instead_of_client_hello_closes)
{
	static const char junk[] = "GET / HTTP/1.0\r\n\r\nthis is not a TLS ClientHello at all";

	start(false);
	start_options();
	nbdc_opt_expect(h.fd, OPT_STARTTLS, NULL, 0, REP_ACK);
	nbdc_write_all(h.fd, junk, sizeof(junk));
	ck_assert(nbdc_wait_eof(h.fd));
}
END_TEST

START_TEST(test_nbd_tls_client_leaving_mid_handshake_leaves_server_serving)
{
	struct tlsc c;

	start(false);
	start_options();
	nbdc_opt_expect(h.fd, OPT_STARTTLS, NULL, 0, REP_ACK);
	nbdc_write_all(h.fd, "\x16\x03\x01", 3); /* the start of a record, then gone */
	close(h.fd);
	h.fd = -1;
	ck_assert_int_eq(tlsc_upgrade(&c, harness_connect(&h), &(struct tlsc_opts){.ca = pki.ca}),
			 0);
	expect_served(c.fd, true);
	tlsc_stop(&c);
}
END_TEST

START_TEST(test_nbd_tls_without_tls_configured_starttls_is_policy)
{
	struct nbd_server_config cfg = {.export_name = "", .threads = 1};

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 20);
	start_options();
	nbdc_opt_expect(h.fd, OPT_STARTTLS, NULL, 0, REP_ERR_POLICY);
	/* and no option is refused for lack of TLS */
	nbdc_opt_expect(h.fd, OPT_STRUCTURED, NULL, 0, REP_ACK);
}
END_TEST

/* In FORCEDTLS nothing can be negotiated before STARTTLS, so this state
 * reset is checked on the option logic itself. */
START_TEST(test_nbd_tls_starttls_discards_negotiated_state)
{
	struct nbd_opt_ctx ctx = {.name = "", .size = SIZE, .sector_size = SECTOR};
	struct nbd_buf out = {0};

	ctx.tls_required = true;
	ctx.structured = true;
	ctx.meta_base_allocation = true;
	ck_assert_int_eq(nbd_option_handle(&ctx, OPT_STARTTLS, NULL, 0, &out), NBD_OPT_START_TLS);
	ck_assert(!ctx.structured);
	ck_assert(!ctx.meta_base_allocation);
	ck_assert_uint_eq(out.len, 20);
	ck_assert_uint_eq(nbdc_be32(out.data + 12), REP_ACK);
	nbd_buf_free(&out);
}
END_TEST

START_TEST(test_nbd_tls_create_refuses_bad_files)
{
	struct nbd_tls *t = NULL;

	ck_assert_int_eq(nbd_tls_create(&(struct nbd_tls_config){.cert_file = "/nonexistent",
								 .key_file = pki.server_key},
					&t),
			 -ENOENT);
	/* a key that is not the certificate's */
	ck_assert_int_eq(nbd_tls_create(&(struct nbd_tls_config){.cert_file = pki.server_cert,
								 .key_file = pki.client_key},
					&t),
			 -EINVAL);
	/* a certificate where the key should be */
	ck_assert_int_eq(nbd_tls_create(&(struct nbd_tls_config){.cert_file = pki.server_cert,
								 .key_file = pki.server_cert},
					&t),
			 -EINVAL);
	ck_assert_int_eq(nbd_tls_create(&(struct nbd_tls_config){.cert_file = pki.server_cert,
								 .key_file = pki.server_key,
								 .ca_file = pki.server_key},
					&t),
			 -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(nbd_tls_create(&(struct nbd_tls_config){.cert_file = pki.server_cert,
								 .key_file = pki.server_key,
								 .ca_file = pki.ca},
					&t),
			 0);
	nbd_tls_free(t);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nbd_tls_options_before_starttls_answer_tls_reqd);
	tcase_add_test(tc, test_nbd_tls_export_name_before_starttls_closes);
	tcase_add_test(tc, test_nbd_tls_client_without_fixed_newstyle_closes);
	tcase_add_test(tc, test_nbd_tls_starttls_with_data_is_invalid_then_starttls_works);
	tcase_add_test(tc, test_nbd_tls_starttls_twice_is_invalid);
	tcase_add_test(tc, test_nbd_tls_export_name_after_starttls_enters_transmission);
	tcase_add_test(tc, test_nbd_tls_abort_over_tls_ends_with_close_notify);
	tcase_add_test(tc, test_nbd_tls_disc_ends_with_close_notify);
	tcase_add_test(tc, test_nbd_tls_server_certificate_verifies_for_localhost);
	tcase_add_test(tc, test_nbd_tls_ca_requires_a_client_certificate);
	tcase_add_test(tc, test_nbd_tls_ca_refuses_a_certificate_of_another_ca);
	tcase_add_test(tc, test_nbd_tls_ca_serves_a_certificate_it_signed);
	tcase_add_test(tc, test_nbd_tls_without_ca_serves_a_client_without_certificate);
	tcase_add_test(tc, test_nbd_tls_below_1_2_is_refused);
	tcase_add_test(tc, test_nbd_tls_garbage_instead_of_client_hello_closes);
	tcase_add_test(tc, test_nbd_tls_client_leaving_mid_handshake_leaves_server_serving);
	tcase_add_test(tc, test_nbd_tls_without_tls_configured_starttls_is_policy);
	tcase_add_test(tc, test_nbd_tls_starttls_discards_negotiated_state);
	tcase_add_test(tc, test_nbd_tls_create_refuses_bad_files);
}

int main(void)
{
	return unit_run("nbd_tls_handshake", add_tests);
}
