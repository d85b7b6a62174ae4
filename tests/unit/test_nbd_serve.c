/* Listening sockets, signals and fd watches of the NBD server. */
#include "helper_check.h"
#include "helper_nbdclient.h"
#include "nbd_fake_volume.h"

#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#define SIZE   (1024u * 1024)
#define SECTOR 512u

static struct fake_store *st;
static struct nbd_server *srv;
static char dir[] = "/tmp/cryptblk-nbd-XXXXXX";
static char sock_path[128];

static void setup(void)
{
	struct nbd_server_config cfg = {.threads = 2, .ops = &fake_ops};

	st = fake_store_new(SIZE, SECTOR);
	cfg.ctx = st;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	ck_assert_int_eq(nbd_server_create(&cfg, &srv), 0);
}

static void teardown(void)
{
	ck_assert_int_eq(nbd_server_destroy(srv), 0);
	fake_store_free(st);
	rmdir(dir);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int connect_tcp(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A client on another thread: the control loop must run on the thread that
 * created the server. It reads a sector, compares it, and stops the server. */
struct client {
	int fd;
	bool ok;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	uint8_t buf[SECTOR];
	uint16_t flags;

	ck_assert_uint_eq(nbdc_negotiate(c->fd, true, false, &flags), SIZE);
	ck_assert_uint_eq(nbdc_pread(c->fd, true, 1, buf, sizeof(buf), SECTOR), 0);
	c->ok = memcmp(buf, st->data + SECTOR, sizeof(buf)) == 0;
	nbd_server_stop(srv);
	ck_assert(nbdc_wait_eof(c->fd));
	close(c->fd);
	return NULL;
}

static void serve_one_client(int fd)
{
	struct client c = {.fd = fd};
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, client_main, &c), 0);
	ck_assert_int_eq(nbd_server_run(srv), 0);
	pthread_join(t, NULL);
	ck_assert(c.ok);
}

START_TEST(test_nbd_unix_socket_is_private_and_serves)
{
	struct stat sb;

	ck_assert_int_eq(nbd_server_listen_unix(srv, sock_path), 0);
	ck_assert_int_eq(stat(sock_path, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	serve_one_client(connect_unix(sock_path));
}
END_TEST

START_TEST(test_nbd_unix_socket_is_removed_on_destroy)
{
	ck_assert_int_eq(nbd_server_listen_unix(srv, sock_path), 0);
	ck_assert_int_eq(nbd_server_destroy(srv), 0);
	srv = NULL;
	ck_assert_int_eq(access(sock_path, F_OK), -1);
	ck_assert_int_eq(
	    nbd_server_create(
		&(struct nbd_server_config){.threads = 1, .ops = &fake_ops, .ctx = st}, &srv),
	    0);
}
END_TEST

START_TEST(test_nbd_unix_listen_refuses_to_replace_a_regular_file)
{
	int fd = open(sock_path, O_CREAT | O_WRONLY, 0600);

	close(fd);
	ck_assert_int_eq(nbd_server_listen_unix(srv, sock_path), -EEXIST);
	ck_assert_int_eq(access(sock_path, F_OK), 0);
	unlink(sock_path);
}
END_TEST

START_TEST(test_nbd_unix_listen_replaces_a_stale_socket_not_a_live_one)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, sock_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(nbd_server_listen_unix(srv, sock_path), -EADDRINUSE);
	close(fd); /* the file stays behind, nobody listens: stale */
	ck_assert_int_eq(access(sock_path, F_OK), 0);
	ck_assert_int_eq(nbd_server_listen_unix(srv, sock_path), 0);
}
END_TEST

START_TEST(test_nbd_tcp_non_loopback_needs_insecure_plaintext)
{
	ck_assert_int_eq(nbd_server_listen_tcp(srv, "0.0.0.0", "0", false), -EPERM);
	ck_assert_int_eq(nbd_server_listen_tcp(srv, "0.0.0.0", "0", true), 0);
}
END_TEST

static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

START_TEST(test_nbd_tcp_loopback_serves)
{
	uint16_t port = free_port();
	char ports[8];

	snprintf(ports, sizeof(ports), "%u", port);
	ck_assert_int_eq(nbd_server_listen_tcp(srv, "127.0.0.1", ports, false), 0);
	serve_one_client(connect_tcp(port));
}
END_TEST

static void *send_signal(void *arg)
{
	(void)arg;
	usleep(20000);
	kill(getpid(), SIGUSR1);
	return NULL;
}

START_TEST(test_nbd_signal_stops_the_server)
{
	sigset_t set;
	pthread_t t;
	struct nbd_server_config cfg = {.threads = 1, .ops = &fake_ops, .ctx = st};

	/* Workers must inherit the blocked mask: recreate after blocking. */
	ck_assert_int_eq(nbd_server_destroy(srv), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ck_assert_int_eq(nbd_server_create(&cfg, &srv), 0);
	ck_assert_int_eq(nbd_server_watch_signals(srv, &set), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, send_signal, NULL), 0);
	ck_assert_int_eq(nbd_server_run(srv), 0);
	pthread_join(t, NULL);
}
END_TEST

static int pipe_fds[2];
static unsigned watch_calls;

static void watch_fired(void *ctx)
{
	watch_calls++;
	nbd_server_stop(ctx);
}

static void *write_pipe(void *arg)
{
	(void)arg;
	usleep(20000);
	ck_assert_int_eq(write(pipe_fds[1], "x", 1), 1);
	return NULL;
}

START_TEST(test_nbd_fd_watch_fires_once)
{
	pthread_t t;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	ck_assert_int_eq(nbd_server_watch_fd(srv, pipe_fds[0], watch_fired, srv), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, write_pipe, NULL), 0);
	ck_assert_int_eq(nbd_server_run(srv), 0);
	pthread_join(t, NULL);
	ck_assert_uint_eq(watch_calls, 1);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nbd_unix_socket_is_private_and_serves);
	tcase_add_test(tc, test_nbd_unix_socket_is_removed_on_destroy);
	tcase_add_test(tc, test_nbd_unix_listen_refuses_to_replace_a_regular_file);
	tcase_add_test(tc, test_nbd_unix_listen_replaces_a_stale_socket_not_a_live_one);
	tcase_add_test(tc, test_nbd_tcp_non_loopback_needs_insecure_plaintext);
	tcase_add_test(tc, test_nbd_tcp_loopback_serves);
	tcase_add_test(tc, test_nbd_signal_stops_the_server);
	tcase_add_test(tc, test_nbd_fd_watch_fires_once);
}

int main(void)
{
	return unit_run("nbd_serve", add_tests);
}
