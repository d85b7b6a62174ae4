/* The NBD server: fixed-newstyle NBD over unix and TCP sockets, serving one
 * export backed by a volume per worker thread.
 *
 * The server knows nothing of LUKS or engines: on each of its worker
 * threads it calls ops->open to get that thread's volume (opened over the
 * caller's shared backend with an engine attached to that thread's loop),
 * and ops->close when the thread is done with it.
 *
 * Typical use: nbd_server_create(), nbd_server_listen_*(), watch signals on
 * nbd_server_loop(), nbd_server_run() until nbd_server_stop(), then
 * nbd_server_destroy(). See docs/architecture.md, "NBD server".
 */
#ifndef CRYPTBLK_NBD_H
#define CRYPTBLK_NBD_H

#include <cryptblk/loop.h>
#include <cryptblk/volume.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct nbd_thread_ops {
	/* required: runs on worker thread `index`; opens the volume that
	 * thread serves, driven by `loop` (attach the engine to it). */
	int (*open)(void *ctx, unsigned index, struct loop *loop, struct volume **out);
	/* required: runs on the same thread after the last request finished
	 * and the volume was flushed; closes the volume and its engine. */
	void (*close)(void *ctx, unsigned index, struct volume *vol);
};

/* TLS for the server (src/frontend/nbd/tls.c): a certificate and its key,
 * optionally a CA whose certificates clients must present. With TLS the
 * server insists on it: every option before NBD_OPT_STARTTLS but
 * NBD_OPT_ABORT is refused with NBD_REP_ERR_TLS_REQD. TLS 1.2 at least. */
struct nbd_tls_config {
	const char *cert_file; /* required: PEM, the server's certificate (chain) */
	const char *key_file;  /* required: PEM, its private key, unencrypted */
	const char *ca_file;   /* NULL: no client certificates; else required and
				* verified against the CA certificates in this PEM */
};

struct nbd_tls;

/* Load the files and build the TLS context. Errors are printed on stderr
 * (`nbd: tls: certificate FILE: ...`). Returns 0 or a negative errno:
 * -ENOENT/-EACCES for files that cannot be read, -EINVAL for contents that
 * cannot be used, -ENOMEM. The key's file contents pass through locked
 * memory and are wiped; the parsed key lives in OpenSSL until
 * nbd_tls_free(). */
int nbd_tls_create(const struct nbd_tls_config *cfg, struct nbd_tls **out);
void nbd_tls_free(struct nbd_tls *tls);

struct nbd_server_config {
	const char *export_name;	  /* NULL or "" means the default export "" */
	const char *description;	  /* NULL: none */
	bool read_only;			  /* also forced when the volume is read-only */
	unsigned threads;		  /* 0: one per online CPU */
	unsigned max_requests;		  /* per connection in flight; 0: 64 */
	uint64_t max_bytes;		  /* per connection payload in flight; 0: 64 MiB */
	struct nbd_tls *tls;		  /* NULL: no TLS; borrowed, outlives the server */
	unsigned handshake_timeout;	  /* seconds from accept to transmission; 0: 10 */
	unsigned max_connections;	  /* open at once over all threads; 0: 256 */
	const struct nbd_thread_ops *ops; /* required */
	void *ctx;			  /* passed to ops */
};

struct nbd_server;

/* Start the worker threads and open their volumes. Returns 0 or a negative
 * errno (the first failing ops->open's). */
int nbd_server_create(const struct nbd_server_config *cfg, struct nbd_server **out);

/* Listen on a unix socket created with mode 0600 (an existing socket file
 * at `path` is replaced). The file is removed by nbd_server_destroy(). */
int nbd_server_listen_unix(struct nbd_server *srv, const char *path);

/* Listen on TCP. `host` may be a name or an address; without TLS a
 * non-loopback address is refused with -EPERM unless `insecure_plaintext`,
 * since NBD without TLS sends the plaintext of the volume over the
 * network. */
int nbd_server_listen_tcp(struct nbd_server *srv, const char *host, const char *port,
			  bool insecure_plaintext);

/* Serve an already connected stream socket (a socketpair end in tests, a
 * socket from elsewhere). The server owns `fd` from now on, also on error.
 * Returns -EMFILE (and closes `fd`) when max_connections are open.
 * Safe to call from any thread. */
int nbd_server_add_fd(struct nbd_server *srv, int fd);

/* The control loop that accepts connections; run by nbd_server_run() on the
 * calling thread. Callers may add their own watches (signals, a child). */
struct loop *nbd_server_loop(struct nbd_server *srv);

/* Run fn(ctx) once on the control loop when `fd` becomes readable (a
 * child's pidfd, say). The caller keeps `fd` open until the server is
 * destroyed; the watch is cancelled when the server stops. */
int nbd_server_watch_fd(struct nbd_server *srv, int fd, void (*fn)(void *ctx), void *ctx);

/* Stop the server when one of the signals in `set` arrives (a signalfd on
 * the control loop). Block them in every thread first: call
 * pthread_sigmask() before nbd_server_create() so the workers inherit it. */
int nbd_server_watch_signals(struct nbd_server *srv, const sigset_t *set);

/* Accept and hand out connections until nbd_server_stop(). Returns 0 or a
 * negative errno from the loop. */
int nbd_server_run(struct nbd_server *srv);

/* Stop accepting; workers finish the requests in flight, send their
 * replies, flush and close their volumes. Safe to call from any thread and
 * more than once. */
void nbd_server_stop(struct nbd_server *srv);

/* Stop (if not yet stopped), wait for the workers, free everything. Call it
 * on the thread that created the server, after removing any watch of your
 * own from nbd_server_loop(). Returns 0 or the first error a worker met. */
int nbd_server_destroy(struct nbd_server *srv);

#endif
