/* Limits against hostile clients: negotiation never touches storage, the
 * handshake timeout closes clients that never reach transmission, and the
 * connection cap refuses sockets beyond it. Raw NBD over socketpairs to a
 * server over the in-memory volume model. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_nbd_negotiation_alone_submits_no_volume_request)
{
	struct nbd_server_config cfg = {.export_name = ""};
	const char *queries[] = {"base:allocation"};
	struct harness h;
	uint8_t data[256], buf[SECTOR];
	uint16_t flags;
	size_t n;
	int fd2;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 20);
	nbdc_greeting(h.fd);
	nbdc_client_flags(h.fd, 3);
	nbdc_opt_send(h.fd, 3 /* LIST */, NULL, 0);
	for (struct nbdc_opt_reply r = {0}; r.type != 1;)
		nbdc_opt_reply(h.fd, &r);
	nbdc_opt_expect(h.fd, 8 /* STRUCTURED_REPLY */, NULL, 0, 1 /* ACK */);
	n = nbdc_meta_data(data, "", queries, 1);
	nbdc_opt_send(h.fd, 9 /* LIST_META_CONTEXT */, data, (uint32_t)n);
	for (struct nbdc_opt_reply r = {0}; r.type != 1;)
		nbdc_opt_reply(h.fd, &r);
	n = nbdc_info_data(data, "nope", NULL, 0);
	nbdc_opt_expect(h.fd, 6 /* INFO */, data, (uint32_t)n, 0x80000006u /* UNKNOWN */);
	nbdc_opt_expect(h.fd, 2 /* ABORT */, NULL, 0, 1);
	ck_assert(nbdc_wait_eof(h.fd));

	/* GO alone does no I/O either: nothing is read ahead. */
	fd2 = harness_connect(&h);
	nbdc_set_timeout(fd2, 20);
	nbdc_negotiate(fd2, false, false, &flags);
	usleep(100 * 1000);
	ck_assert_uint_eq(atomic_load(&h.st->max_inflight), 0);

	/* The counter does see requests: the first read is one. */
	ck_assert_uint_eq(nbdc_pread(fd2, false, 1, buf, sizeof(buf), 0), 0);
	ck_assert_uint_ge(atomic_load(&h.st->max_inflight), 1);
	close(fd2);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_handshake_timeout_closes_a_silent_client)
{
	struct nbd_server_config cfg = {.export_name = "", .handshake_timeout = 1};
	struct harness h;
	double t0, took;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 10);
	t0 = now_s();
	nbdc_greeting(h.fd);
	nbdc_client_flags(h.fd, 3);
	ck_assert(nbdc_wait_eof(h.fd));
	took = now_s() - t0;
	/* Deadlines are checked once a second. */
	ck_assert_double_ge(took, 0.95);
	ck_assert_double_le(took, 2.6);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_handshake_timeout_spares_transmission)
{
	struct nbd_server_config cfg = {.export_name = "", .handshake_timeout = 1};
	struct harness h;
	uint8_t buf[SECTOR];
	uint16_t flags;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 10);
	nbdc_negotiate(h.fd, false, false, &flags);
	usleep(2200 * 1000);
	ck_assert_uint_eq(nbdc_pread(h.fd, false, 7, buf, sizeof(buf), 0), 0);
	harness_stop(&h);
}
END_TEST

START_TEST(test_nbd_connection_cap_refuses_then_frees_a_slot)
{
	struct nbd_server_config cfg = {.export_name = "", .max_connections = 2};
	struct harness h;
	int fd2, sv[2], ret = 0;

	harness_start_cfg(&h, SIZE, SECTOR, &cfg);
	nbdc_set_timeout(h.fd, 10);
	fd2 = harness_connect(&h);
	nbdc_set_timeout(fd2, 10);
	nbdc_greeting(h.fd);
	nbdc_greeting(fd2);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	nbdc_set_timeout(sv[0], 10);
	ck_assert_int_eq(nbd_server_add_fd(h.srv, sv[1]), -EMFILE);
	ck_assert(nbdc_wait_eof(sv[0])); /* refused without a greeting */
	close(sv[0]);

	/* Once a connection is gone its slot serves the next client. */
	close(fd2);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ret = nbd_server_add_fd(h.srv, sv[1]);
		if (ret == 0)
			break;
		close(sv[0]);
		usleep(10 * 1000);
	}
	ck_assert_int_eq(ret, 0);
	nbdc_set_timeout(sv[0], 10);
	ck_assert_uint_eq(nbdc_greeting(sv[0]), 3);
	close(sv[0]);
	harness_stop(&h);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_nbd_negotiation_alone_submits_no_volume_request);
	tcase_add_test(tc, test_nbd_handshake_timeout_closes_a_silent_client);
	tcase_add_test(tc, test_nbd_handshake_timeout_spares_transmission);
	tcase_add_test(tc, test_nbd_connection_cap_refuses_then_frees_a_slot);
}

int main(void)
{
	return unit_run("nbd_limits", add_tests);
}
