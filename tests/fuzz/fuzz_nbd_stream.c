/* libFuzzer target: a whole NBD connection, as a client's byte stream:
 * client flags, option framing and options, then requests and write
 * payloads, all parsed by the server's handshake and transmission code.
 *
 * Input: one control byte (bit 0 4096-byte sectors instead of 512, bit 1
 * read-only export, bit 2 small in-flight caps: 2 requests, 64 KiB, bit 3 a
 * volume that fails some requests with EIO, bit 4 a server that requires
 * TLS, with a self-signed certificate made at start), then
 * the bytes the client sends. The server (one worker thread, an export of
 * 1 MiB in memory, nbd_memvolume.h) is made once per configuration and
 * reused; each input is one new connection over a socketpair. The target
 * writes the input while reading and discarding the replies, closes its
 * sending side, and waits for the server to close the connection.
 *
 * Checks: the greeting's magics; every request the server passes to the
 * volume is aligned, inside the export and allowed (nbd_memvolume.h); the
 * server closes the connection within 5 s of the client's end of input and
 * finishes the connection's volume requests. Run libFuzzer with
 * -close_fd_mask=2 (fuzz_nbd_stream.flags): the server logs one line per
 * closed connection on stderr. */
#include "helper_fuzz.h"
#include "nbd_memvolume.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXPORT_SIZE (1u << 20)
#define CONFIGS	    32
#define WAIT_MS	    5000
#define GREETING    "NBDMAGICIHAVEOPT"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct memstore stores[CONFIGS];
static struct nbd_server *servers[CONFIGS];
static struct nbd_tls *tls;

/* Write a key or a certificate to a new file made from `path`'s template;
 * *made says whether the file exists (to be removed). */
static bool pem_write(char *path, bool *made, EVP_PKEY *key, X509 *cert)
{
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	bool ok = f && (key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
			    : PEM_write_X509(f, cert));

	if (f)
		ok = fclose(f) == 0 && ok;
	else if (fd >= 0)
		close(fd);
	*made = fd >= 0;
	return ok;
}

/* A throwaway key and self-signed certificate, through files (the only way
 * nbd_tls_create() takes them), removed at once. */
static struct nbd_tls *tls_make(void)
{
	char cert_path[] = "/tmp/cryptblk-fuzz-cert-XXXXXX";
	char key_path[] = "/tmp/cryptblk-fuzz-key-XXXXXX";
	struct nbd_tls_config cfg = {.cert_file = cert_path, .key_file = key_path};
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	struct nbd_tls *made = NULL;
	bool cert_made = false, key_made = false;
	X509_NAME *name;

	if (!key || !cert)
		goto out;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365) ||
	    !X509_set_pubkey(cert, key) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_sign(cert, key, EVP_sha256()))
		goto out;
	if (pem_write(cert_path, &cert_made, NULL, cert) &&
	    pem_write(key_path, &key_made, key, NULL))
		nbd_tls_create(&cfg, &made);
out:
	if (cert_made)
		unlink(cert_path);
	if (key_made)
		unlink(key_path);
	X509_free(cert);
	EVP_PKEY_free(key);
	if (!made)
		fuzz_fail("nbd: no TLS context for the server");
	return made;
}

static void servers_destroy(void)
{
	for (int i = 0; i < CONFIGS; i++) {
		if (!servers[i])
			continue;
		if (nbd_server_destroy(servers[i]))
			fuzz_fail("nbd: server %d ended with an error", i);
		free(stores[i].data);
	}
	nbd_tls_free(tls);
}

static struct nbd_server *server_get(unsigned config)
{
	struct memstore *st = &stores[config];
	struct nbd_server_config cfg = {
	    .export_name = "fuzz",
	    .description = "fuzzed export",
	    .read_only = config & 2,
	    .threads = 1,
	    .max_requests = config & 4 ? 2 : 0,
	    .max_bytes = config & 4 ? 64 * 1024 : 0,
	    .ops = &memvol_ops,
	    .ctx = st,
	};
	static bool registered;
	int rc;

	if (servers[config])
		return servers[config];
	if ((config & 16) && !tls)
		tls = tls_make();
	cfg.tls = config & 16 ? tls : NULL;
	st->data = calloc(1, EXPORT_SIZE);
	if (!st->data)
		fuzz_fail("nbd: out of memory for the export");
	st->size = EXPORT_SIZE;
	st->sector = config & 1 ? 4096 : 512;
	st->read_only = config & 2;
	st->failing = config & 8;
	rc = nbd_server_create(&cfg, &servers[config]);
	if (rc)
		fuzz_fail("nbd: server could not start: %s", strerror(-rc));
	/* Servers go before OpenSSL's own exit handler, which must find their
	 * threads gone: initialise OpenSSL first, so its handler (registered
	 * at initialisation) runs after ours. Else the threads' OpenSSL state
	 * outlives OpenSSL and shows up as leaks at exit. */
	if (!registered && OPENSSL_init_ssl(0, NULL) == 1)
		atexit(servers_destroy);
	registered = true;
	return servers[config];
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Send `data`, read until the server closes; the first bytes must be the
 * greeting. */
static void converse(int fd, const uint8_t *data, size_t size)
{
	uint8_t buf[65536], greeting[16];
	size_t sent = 0, got = 0;
	bool shut = false;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT)};
		ssize_t n;

		if (ms_since(&t0) > WAIT_MS)
			fuzz_fail("nbd: connection still open %d ms after the client's %s", WAIT_MS,
				  shut ? "end of input" : "first byte");
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			fuzz_fail("nbd: poll: %s", strerror(errno));
		if (!shut && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			if ((n < 0 && errno != EAGAIN) || sent == size) {
				shutdown(fd, SHUT_WR); /* the server's cue: end of input */
				shut = true;
				clock_gettime(CLOCK_MONOTONIC, &t0);
			}
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		for (ssize_t i = 0; i < n && got < sizeof(greeting); i++)
			greeting[got++] = buf[i];
	}
	if (got < sizeof(greeting) || memcmp(greeting, GREETING, sizeof(greeting)) != 0)
		fuzz_fail("nbd: greeting missing or wrong (%zu bytes)", got);
}

/* A new connection to `srv`; the client's end. Earlier connections must
 * close: a server still at its connection cap after 5 s keeps connections
 * whose clients are gone. */
static int connect_to(struct nbd_server *srv)
{
	struct timespec t0;
	int sv[2], rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			fuzz_fail("nbd: socketpair: %s", strerror(errno));
		rc = nbd_server_add_fd(srv, sv[1]);
		if (rc == 0)
			return sv[0];
		close(sv[0]);
		if (rc != -EMFILE)
			fuzz_fail("nbd: the server refused a connection: %s", strerror(-rc));
		if (ms_since(&t0) > WAIT_MS)
			fuzz_fail("nbd: connection cap still reached after %d ms", WAIT_MS);
		usleep(1000);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec t0;
	int fd;

	if (size < 1)
		return 0;
	fd = connect_to(server_get(data[0] % CONFIGS));
	converse(fd, data + 1, size - 1);
	close(fd);
	/* The server may close (or shut down) the socket before the volume
	 * has finished the connection's last requests: wait for them, so the
	 * next input starts on a quiet server. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&stores[data[0] % CONFIGS].inflight)) {
		if (ms_since(&t0) > WAIT_MS)
			fuzz_fail("nbd: volume requests still in flight %d ms after the close",
				  WAIT_MS);
		sched_yield();
	}
	return 0;
}
