/* TLS for the NBD tests: a throwaway PKI written to files, and a TLS client
 * that turns an NBD socket, right after its STARTTLS was acked, into a
 * plaintext socket a relay thread encrypts for, so the raw client in
 * helper_nbdclient.h speaks NBD over TLS unchanged. The client is OpenSSL
 * used as a client, independent of the server's memory-BIO record layer. */
#ifndef CRYPTBLK_TEST_HELPER_TLS_H
#define CRYPTBLK_TEST_HELPER_TLS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A CA, a server certificate (localhost, 127.0.0.1) and a client
 * certificate signed by it, and a second CA with a client certificate of
 * its own, all PEM files in a fresh directory. */
struct tlst_pki {
	char dir[64];
	char ca[128], server_cert[128], server_key[128], client_cert[128], client_key[128];
	char other_ca[128], other_client_cert[128], other_client_key[128];
};

void tlst_pki_make(struct tlst_pki *pki);
void tlst_pki_remove(struct tlst_pki *pki);

struct tlsc_opts {
	const char *ca;		/* trust anchor for the server's certificate; NULL: don't verify */
	const char *cert, *key; /* client certificate; NULL: none */
	int max_version;	/* 0, or e.g. TLS1_1_VERSION for an old client */
};

struct tlsc {
	int fd;			/* the test's plaintext end */
	bool got_close_notify;	/* the server ended TLS cleanly */
	char error[256];	/* why the handshake or the stream failed, if it did */
	atomic_bool key_update; /* set: the relay sends a KeyUpdate asking for one back */
	atomic_uint key_updates_sent, key_updates_received;
	/* relay */
	int raw_fd, relay_fd;
	void *ctx, *ssl;
	pthread_t thread;
	bool running;
};

/* TLS handshake on `raw_fd` (the server just acked STARTTLS), then relay.
 * Returns 0 with c->fd ready, or -1 when the handshake failed (c->error
 * says why). Owns raw_fd from now on, also on failure. */
int tlsc_start(struct tlsc *c, int raw_fd, const struct tlsc_opts *o);
/* Close the plaintext end, wait for the relay, free everything. */
void tlsc_stop(struct tlsc *c);

/* Greeting, fixed newstyle + no zeroes, NBD_OPT_STARTTLS acked, then
 * tlsc_start(). */
int tlsc_upgrade(struct tlsc *c, int raw_fd, const struct tlsc_opts *o);

#endif
