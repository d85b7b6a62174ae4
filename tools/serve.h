/* Pieces of `cryptblk serve` shared by its NBD mode (cmd_serve.c) and its
 * ublk mode (cmd_serve_ublk.c). */
#ifndef CRYPTBLK_TOOLS_SERVE_H
#define CRYPTBLK_TOOLS_SERVE_H

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>
#include <cryptblk/luks.h>
#include <cryptblk/nbd.h>
#include <cryptblk/ublk.h>
#include <cryptblk/volume.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* --poll-us: a serving loop spins up to this long before it sleeps (the
 * window adapts, loop_set_poll). 32 µs covers a client's round trip on
 * the 2-core VM of docs/performance.md, as QEMU's default for its own
 * event loops (poll-max-ns 32768) does. */
#define SERVE_POLL_US_DEFAULT 32u
#define SERVE_POLL_US_MAX     1000u

struct serve_opts {
	const char *image, *key_file, *nbd, *crypto, *export_name, *description;
	const char *pid_file, *run;
	bool read_only, insecure;
	bool shared_readonly;	    /* --shared-readonly: a shared image lock (needs --readonly) */
	bool no_image_lock;	    /* --no-image-lock: no lock at all (benchmarks) */
	struct nbd_tls_config tls;  /* --tls-cert/--tls-key/--tls-ca (NBD only) */
	unsigned threads;	    /* NBD worker threads, or ublk queues */
	unsigned handshake_timeout; /* --handshake-timeout SECONDS (NBD); 0: default */
	unsigned max_connections;   /* --max-connections N (NBD); 0: default */
	unsigned reconnect_timeout; /* seconds, for a remote IMAGE; 0: default */
	unsigned poll_us;	    /* --poll-us: each loop's adaptive polling window */
	/* --ublk[=ID] */
	bool ublk;
	int ublk_id; /* -1: the kernel picks */
	unsigned queue_depth;
	enum ublk_copy_mode ublk_copy;
};

/* What every serving thread needs to open its volume. */
struct serve_ctx {
	const char *crypto_spec;
	struct backend *be;
	struct volume_layout layout;
	struct luks_key *key; /* until every thread has copied it */
	struct crypto_engine **engines;
	struct loop **loops; /* each thread's, to detach the backend from */
	unsigned nr_engines;
	unsigned poll_us; /* loop_set_poll() for every serving thread's loop */
};

/* The frontends' thread ops: an engine and a volume on thread `index`. */
int serve_volume_open(void *ctx, unsigned index, struct loop *loop, struct volume **out);
void serve_volume_close(void *ctx, unsigned index, struct volume *vol);

/* Write our pid to `path` (through a temporary name and a rename). */
int serve_write_pid_file(const char *path);

/* --run: the command, started through /bin/sh with extra environment and
 * the stop signals at their defaults; `watch` arranges for `stop(srv)` to
 * run when the command exits (a pidfd watch on the server's loop). */
struct serve_child {
	pid_t pid;
	int pidfd;
	void *srv;
	void (*stop)(void *srv);
};
int serve_run_start(struct serve_child *ch, const char *cmd, const char *const *env,
		    int (*watch)(void *srv, int fd, void (*fn)(void *ctx), void *ctx));
/* Wait for the command (ending it if the server stopped first); its exit
 * status, 128 + its signal, or 1. */
int serve_run_finish(struct serve_child *ch);

/* serve --ublk, once the key is unlocked and the backend open. */
int serve_main_ublk(const struct serve_opts *o, struct serve_ctx *sc, const sigset_t *sigs);

#endif
