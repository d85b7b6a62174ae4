/* The server: configuration, worker threads, listening sockets accepted on
 * the control loop, round-robin hand-off, stop and destroy. */
#include "nbd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct nbd_listener {
	struct nbd_listener *next;
	struct nbd_server *srv;
	int fd;
	bool tcp;
	struct loop_op accept_op;
	struct loop_op cancel_op;
	bool accepting, cancelling;
};

static void nbd_listener_arm(struct nbd_listener *l);

static void nbd_listener_accepted(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_listener *l =
	    (struct nbd_listener *)((char *)op - offsetof(struct nbd_listener, accept_op));
	struct nbd_server *srv = l->srv;

	(void)cqe_flags;
	l->accepting = false;
	if (res >= 0) {
		if (l->tcp) {
			int one = 1;
			/* Small replies must not wait for Nagle. */
			setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		nbd_server_add_fd(srv, res);
	} else if (res != -ECANCELED && res != -EINTR && res != -ECONNABORTED) {
		fprintf(stderr, "cryptblk: nbd: accept: %s\n", strerror(-res));
	}
	if (!atomic_load(&srv->stopping) && res != -ECANCELED)
		nbd_listener_arm(l);
}

static void nbd_listener_cancelled(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct nbd_listener *l =
	    (struct nbd_listener *)((char *)op - offsetof(struct nbd_listener, cancel_op));

	(void)res;
	(void)cqe_flags;
	l->cancelling = false;
}

static void nbd_listener_arm(struct nbd_listener *l)
{
	l->accepting = true;
	loop_prep_accept(&l->accept_op, l->fd);
	l->accept_op.done = nbd_listener_accepted;
	loop_submit(l->srv->loop, &l->accept_op);
}

static void nbd_server_cancel_accepts(struct nbd_server *srv)
{
	for (struct nbd_listener *l = srv->listeners; l; l = l->next) {
		if (!l->accepting || l->cancelling)
			continue;
		l->cancelling = true;
		loop_prep_cancel(&l->cancel_op, &l->accept_op);
		l->cancel_op.done = nbd_listener_cancelled;
		loop_submit(srv->loop, &l->cancel_op);
	}
}

static int nbd_server_add_listener(struct nbd_server *srv, int fd, bool tcp)
{
	struct nbd_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->srv = srv;
	l->fd = fd;
	l->tcp = tcp;
	l->next = srv->listeners;
	srv->listeners = l;
	nbd_listener_arm(l);
	return 0;
}

/* Does a server accept on this socket file? Only a dead one is replaced. */
static bool nbd_unix_socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno != ECONNREFUSED;
	close(fd);
	return live;
}

int nbd_server_listen_unix(struct nbd_server *srv, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cryptblk: nbd: unix:%s: path longer than %zu bytes\n", path,
			sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "cryptblk: nbd: unix:%s: exists and is not a socket\n",
				path);
			return -EEXIST;
		}
		if (nbd_unix_socket_is_live(&sa)) {
			fprintf(stderr, "cryptblk: nbd: unix:%s: another server listens there\n",
				path);
			return -EADDRINUSE;
		}
		unlink(path); /* a stale socket of an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* On Linux the socket inode's mode becomes the file's mode at bind:
	 * the file never exists with wider permissions. */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
		ret = -errno;
		fprintf(stderr, "cryptblk: nbd: unix:%s: %s\n", path, strerror(-ret));
		close(fd);
		return ret;
	}
	free(srv->unix_path);
	srv->unix_path = strdup(path);
	if (!srv->unix_path) {
		unlink(path);
		close(fd);
		return -ENOMEM;
	}
	return nbd_server_add_listener(srv, fd, false);
}

static bool nbd_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

static int nbd_tcp_bind(const struct addrinfo *ai)
{
	int one = 1, fd, ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int nbd_server_listen_tcp(struct nbd_server *srv, const char *host, const char *port,
			  bool insecure_plaintext)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	unsigned bound = 0;
	int ret, first_err = 0;

	ret = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
	if (ret) {
		fprintf(stderr, "cryptblk: nbd: tcp:%s:%s: %s\n", host ? host : "", port,
			gai_strerror(ret));
		return -EINVAL;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!insecure_plaintext && !srv->cfg.tls && !nbd_addr_is_loopback(ai->ai_addr)) {
			fprintf(stderr,
				"cryptblk: nbd: tcp:%s:%s: not a loopback address; without TLS "
				"(--tls-cert, --tls-key) the volume's plaintext would cross the "
				"network (pass --insecure-plaintext to allow it)\n",
				host ? host : "", port);
			ret = -EPERM;
			goto out;
		}
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = nbd_tcp_bind(ai);

		if (fd < 0) {
			if (!first_err)
				first_err = fd;
			continue;
		}
		ret = nbd_server_add_listener(srv, fd, true);
		if (ret < 0)
			goto out;
		bound++;
	}
	ret = bound ? 0 : (first_err ? first_err : -EADDRNOTAVAIL);
	if (ret < 0)
		fprintf(stderr, "cryptblk: nbd: tcp:%s:%s: %s\n", host ? host : "", port,
			strerror(-ret));
out:
	freeaddrinfo(res);
	return ret;
}

int nbd_server_add_fd(struct nbd_server *srv, int fd)
{
	unsigned i;

	if (atomic_load(&srv->stopping)) {
		close(fd);
		return -ESHUTDOWN;
	}
	if (atomic_fetch_add(&srv->nr_conns, 1) >= srv->cfg.max_connections) {
		/* A flood of idle clients must not exhaust memory or fds:
		 * refuse at once, and log once per episode. */
		atomic_fetch_sub(&srv->nr_conns, 1);
		close(fd);
		if (!atomic_exchange(&srv->cap_reported, true))
			fprintf(stderr,
				"cryptblk: nbd: connection refused: %u connections open, the "
				"limit (--max-connections)\n",
				srv->cfg.max_connections);
		return -EMFILE;
	}
	i = atomic_fetch_add(&srv->next_worker, 1) % srv->nworkers;
	return nbd_worker_hand_fd(&srv->workers[i], fd);
}

void nbd_server_conn_gone(struct nbd_server *srv)
{
	if (atomic_fetch_sub(&srv->nr_conns, 1) <= srv->cfg.max_connections)
		atomic_store(&srv->cap_reported, false);
}

struct loop *nbd_server_loop(struct nbd_server *srv)
{
	return srv->loop;
}

static void nbd_server_woken(void *ctx)
{
	struct nbd_server *srv = ctx;

	if (atomic_load(&srv->stopping) && !srv->loop_stopped) {
		srv->loop_stopped = true;
		nbd_server_cancel_accepts(srv);
		nbd_server_cancel_fdwatches(srv);
		loop_stop(srv->loop);
	}
}

int nbd_server_run(struct nbd_server *srv)
{
	if (atomic_load(&srv->stopping))
		return 0;
	return loop_run(srv->loop);
}

void nbd_server_stop(struct nbd_server *srv)
{
	uint64_t one = 1;
	ssize_t n;

	atomic_store(&srv->stopping, true);
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].thread_started)
			nbd_worker_wake(&srv->workers[i]);
	n = write(srv->wake_fd, &one, sizeof(one));
	(void)n;
}

static int nbd_server_copy_strings(struct nbd_server *srv, const struct nbd_server_config *cfg)
{
	const char *name = cfg->export_name ? cfg->export_name : "";

	if (strlen(name) > NBD_STRING_MAX ||
	    (cfg->description && strlen(cfg->description) > NBD_STRING_MAX)) {
		fprintf(stderr, "cryptblk: nbd: export name or description over %u bytes\n",
			NBD_STRING_MAX);
		return -EINVAL;
	}
	srv->export_name = strdup(name);
	if (cfg->description)
		srv->description = strdup(cfg->description);
	if (!srv->export_name || (cfg->description && !srv->description))
		return -ENOMEM;
	return 0;
}

static int nbd_server_init(struct nbd_server *srv, const struct nbd_server_config *cfg)
{
	long cpus;
	int ret;

	srv->cfg = *cfg;
	if (!srv->cfg.max_requests)
		srv->cfg.max_requests = NBD_DEFAULT_MAX_REQUESTS;
	if (!srv->cfg.max_bytes)
		srv->cfg.max_bytes = NBD_DEFAULT_MAX_BYTES;
	if (!srv->cfg.handshake_timeout)
		srv->cfg.handshake_timeout = NBD_DEFAULT_HANDSHAKE_TIMEOUT;
	if (!srv->cfg.max_connections)
		srv->cfg.max_connections = NBD_DEFAULT_MAX_CONNECTIONS;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	srv->nworkers = cfg->threads ? cfg->threads : (cpus > 0 ? (unsigned)cpus : 1);
	srv->wake_fd = -1;
	ret = nbd_server_copy_strings(srv, cfg);
	if (ret < 0)
		return ret;
	ret = nbd_rangelock_init(&srv->locks);
	if (ret < 0)
		return ret;
	ret = loop_create(64, &srv->loop);
	if (ret < 0)
		return ret;
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->wake_fd < 0)
		return -errno;
	ret = loop_watch_eventfd(srv->loop, srv->wake_fd, nbd_server_woken, srv, &srv->wake_watch);
	if (ret < 0)
		return ret;
	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (!srv->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct nbd_worker *w = &srv->workers[i];

		w->srv = srv;
		w->index = i;
		w->wake_fd = -1;
		pthread_mutex_init(&w->mutex, NULL);
		pthread_mutex_init(&w->start_mutex, NULL);
		pthread_cond_init(&w->start_cond, NULL);
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		ret = nbd_worker_start(&srv->workers[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int nbd_server_create(const struct nbd_server_config *cfg, struct nbd_server **out)
{
	struct nbd_server *srv;
	int ret;

	if (!cfg->ops || !cfg->ops->open || !cfg->ops->close)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	ret = nbd_server_init(srv, cfg);
	if (ret < 0) {
		nbd_server_destroy(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

int nbd_server_destroy(struct nbd_server *srv)
{
	int err = 0;

	if (!srv)
		return 0;
	if (srv->workers)
		nbd_server_stop(srv);
	for (unsigned i = 0; srv->workers && i < srv->nworkers; i++) {
		struct nbd_worker *w = &srv->workers[i];

		if (w->thread_started)
			pthread_join(w->thread, NULL);
		if (!err)
			err = w->error;
		for (unsigned j = 0; j < w->nr_new_fds; j++)
			close(w->new_fds[j]);
		free(w->new_fds);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		pthread_mutex_destroy(&w->mutex);
		pthread_mutex_destroy(&w->start_mutex);
		pthread_cond_destroy(&w->start_cond);
	}
	if (srv->loop) {
		nbd_server_cancel_accepts(srv);
		nbd_server_cancel_fdwatches(srv);
		if (srv->wake_watch)
			loop_watch_remove(srv->wake_watch);
		while (loop_inflight(srv->loop) && loop_run_once(srv->loop, true) == 0)
			;
		loop_destroy(srv->loop);
	}
	nbd_server_free_fdwatches(srv);
	while (srv->listeners) {
		struct nbd_listener *l = srv->listeners;

		srv->listeners = l->next;
		close(l->fd);
		free(l);
	}
	if (srv->unix_path)
		unlink(srv->unix_path);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	nbd_rangelock_destroy(&srv->locks);
	free(srv->unix_path);
	free(srv->workers);
	free(srv->export_name);
	free(srv->description);
	free(srv);
	return err;
}
