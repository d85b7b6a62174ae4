/* TLS for the NBD tests; see helper_tls.h. */
#include "helper_tls.h"
#include "helper_nbdclient.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a throwaway PKI ---- */

static void tlst_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A P-256 key and a certificate for `cn`, signed by issuer (or itself). */
static void tlst_cert_make(const char *cn, EVP_PKEY *issuer_key, X509 *issuer, bool ca, bool server,
			   EVP_PKEY **key_out, X509 **cert_out)
{
	static long serial = 1;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	X509_NAME *name;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(cert);
	ck_assert_int_eq(X509_set_version(cert, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	ck_assert_int_eq(X509_set_pubkey(cert, key), 1);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	ck_assert_int_eq(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name),
			 1);
	if (ca) {
		tlst_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
		tlst_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
		tlst_add_ext(cert, cert, NID_subject_key_identifier, "hash");
	} else {
		tlst_add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
		tlst_add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature");
		tlst_add_ext(cert, issuer, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
		if (server)
			tlst_add_ext(cert, issuer, NID_subject_alt_name,
				     "DNS:localhost,IP:127.0.0.1");
	}
	ck_assert_int_gt(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()), 0);
	*key_out = key;
	*cert_out = cert;
}

static void tlst_write(const char *path, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	if (cert)
		ck_assert_int_eq(PEM_write_X509(f, cert), 1);
	if (key)
		ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	ck_assert_int_eq(fclose(f), 0);
}

void tlst_pki_make(struct tlst_pki *p)
{
	EVP_PKEY *ca_key, *key, *other_key;
	X509 *ca, *cert, *other;

	snprintf(p->dir, sizeof(p->dir), "/tmp/cryptblk-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
#define TLST_PATH(field, name) snprintf(p->field, sizeof(p->field), "%s/%s", p->dir, name)
	TLST_PATH(ca, "ca-cert.pem");
	TLST_PATH(server_cert, "server-cert.pem");
	TLST_PATH(server_key, "server-key.pem");
	TLST_PATH(client_cert, "client-cert.pem");
	TLST_PATH(client_key, "client-key.pem");
	TLST_PATH(other_ca, "other-ca-cert.pem");
	TLST_PATH(other_client_cert, "other-client-cert.pem");
	TLST_PATH(other_client_key, "other-client-key.pem");
#undef TLST_PATH
	tlst_cert_make("cryptblk test CA", NULL, NULL, true, false, &ca_key, &ca);
	tlst_write(p->ca, ca, NULL);
	tlst_cert_make("localhost", ca_key, ca, false, true, &key, &cert);
	tlst_write(p->server_cert, cert, NULL);
	tlst_write(p->server_key, NULL, key);
	X509_free(cert);
	EVP_PKEY_free(key);
	tlst_cert_make("client", ca_key, ca, false, false, &key, &cert);
	tlst_write(p->client_cert, cert, NULL);
	tlst_write(p->client_key, NULL, key);
	X509_free(cert);
	EVP_PKEY_free(key);
	/* Same subject names, another CA: only the signature tells them apart. */
	tlst_cert_make("cryptblk test CA", NULL, NULL, true, false, &other_key, &other);
	tlst_write(p->other_ca, other, NULL);
	tlst_cert_make("client", other_key, other, false, false, &key, &cert);
	tlst_write(p->other_client_cert, cert, NULL);
	tlst_write(p->other_client_key, NULL, key);
	X509_free(cert);
	EVP_PKEY_free(key);
	X509_free(other);
	EVP_PKEY_free(other_key);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

void tlst_pki_remove(struct tlst_pki *p)
{
	const char *files[] = {
	    p->ca,	   p->server_cert, p->server_key,	 p->client_cert,
	    p->client_key, p->other_ca,	   p->other_client_cert, p->other_client_key};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(p->dir);
}

/* ---- the client and its relay ---- */

static void tlsc_note_error(struct tlsc *c, const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[200] = "no error queued";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	if (!c->error[0])
		snprintf(c->error, sizeof(c->error), "%s: %s", what, reason);
	ERR_clear_error();
}

struct tlsc_relay {
	uint8_t up[64 * 1024], down[64 * 1024]; /* test -> server, server -> test */
	size_t up_len, up_off, down_len, down_off;
	bool test_eof, server_eof, want_write, shutdown_sent;
};

/* Server -> test: decrypt while there is room, then hand it on. */
static bool tlsc_relay_down(struct tlsc *c, struct tlsc_relay *r)
{
	bool moved = false;

	while (!r->server_eof && r->down_off == r->down_len) {
		size_t n = 0;
		int ret = SSL_read_ex(c->ssl, r->down, sizeof(r->down), &n);

		if (ret == 1) {
			r->down_len = n;
			r->down_off = 0;
			moved = true;
			break;
		}
		switch (SSL_get_error(c->ssl, ret)) {
		case SSL_ERROR_WANT_READ:
			return moved;
		case SSL_ERROR_ZERO_RETURN:
			c->got_close_notify = true;
			break;
		default:
			tlsc_note_error(c, "TLS read");
			break;
		}
		r->server_eof = true;
		shutdown(c->relay_fd, SHUT_WR);
		return true;
	}
	while (r->down_off < r->down_len) {
		ssize_t n = send(c->relay_fd, r->down + r->down_off, r->down_len - r->down_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			r->down_off = r->down_len; /* the test is gone: drop it */
			break;
		}
		r->down_off += (size_t)n;
		moved = true;
	}
	return moved;
}

/* Test -> server: read what the test sent, encrypt it. */
static bool tlsc_relay_up(struct tlsc *c, struct tlsc_relay *r)
{
	bool moved = false;

	if (!r->test_eof && r->up_off == r->up_len) {
		ssize_t n = recv(c->relay_fd, r->up, sizeof(r->up), MSG_DONTWAIT);

		if (n > 0) {
			r->up_len = (size_t)n;
			r->up_off = 0;
			moved = true;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->test_eof = true;
			moved = true;
		}
	}
	r->want_write = false;
	while (r->up_off < r->up_len) {
		size_t n = 0;
		int ret = SSL_write_ex(c->ssl, r->up + r->up_off, r->up_len - r->up_off, &n);

		if (ret == 1) {
			r->up_off += n;
			moved = true;
			continue;
		}
		ret = SSL_get_error(c->ssl, ret);
		if (ret == SSL_ERROR_WANT_WRITE) {
			r->want_write = true;
		} else if (ret != SSL_ERROR_WANT_READ) {
			tlsc_note_error(c, "TLS write");
			r->up_off = r->up_len; /* the server is gone; drop it */
			r->server_eof = true;
			shutdown(c->relay_fd, SHUT_WR);
		}
		break;
	}
	return moved;
}

static void *tlsc_relay_main(void *arg)
{
	struct tlsc *c = arg;
	struct tlsc_relay *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	while (!(r->server_eof && r->test_eof)) {
		struct pollfd p[2] = {{.fd = c->raw_fd}, {.fd = c->relay_fd}};
		bool moved;

		if (r->up_off == r->up_len && atomic_exchange(&c->key_update, false)) {
			/* Sent with the next record the test writes. */
			ck_assert_int_eq(SSL_key_update(c->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
			atomic_fetch_add(&c->key_updates_sent, 1);
		}
		moved = tlsc_relay_down(c, r) | tlsc_relay_up(c, r);

		if (moved)
			continue;
		if (r->test_eof && r->up_off == r->up_len && !r->shutdown_sent) {
			/* The test is done: end TLS, then wait for the server's end. */
			r->shutdown_sent = true;
			SSL_shutdown(c->ssl);
			continue;
		}
		if (r->server_eof)
			p[0].fd = -1;
		if (r->test_eof && r->down_off == r->down_len)
			p[1].fd = -1;
		if (!r->server_eof && r->down_off == r->down_len)
			p[0].events |= POLLIN;
		if (r->want_write)
			p[0].events |= POLLOUT;
		if (!r->test_eof && r->up_off == r->up_len)
			p[1].events |= POLLIN;
		if (r->down_off < r->down_len)
			p[1].events |= POLLOUT;
		if (poll(p, 2, 20000) <= 0)
			break; /* a stuck peer: let the test see EOF */
	}
	/* With the relay gone, the test's end must see EOF too. */
	shutdown(c->relay_fd, SHUT_RDWR);
	free(r);
	ERR_clear_error();
	return NULL;
}

/* Count the server's KeyUpdate messages as they arrive. */
static void tlsc_msg_seen(int write_p, int version, int content_type, const void *buf, size_t len,
			  SSL *ssl, void *arg)
{
	struct tlsc *c = arg;

	(void)version;
	(void)ssl;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_KEY_UPDATE)
		atomic_fetch_add(&c->key_updates_received, 1);
}

int tlsc_start(struct tlsc *c, int raw_fd, const struct tlsc_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int sv[2];

	/* OpenSSL writes to the socket with write(): a server that already
	 * closed must show as an error, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	memset(c, 0, sizeof(*c));
	c->raw_fd = raw_fd;
	c->fd = c->relay_fd = -1;
	ck_assert_ptr_nonnull(ctx);
	if (o->max_version) {
		/* Old protocol versions need the lowest security level. */
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_min_proto_version(ctx, 0);
		SSL_CTX_set_max_proto_version(ctx, o->max_version);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	}
	if (o->ca) {
		ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, o->ca, NULL), 1);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (o->cert) {
		ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx, o->cert, SSL_FILETYPE_PEM), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM), 1);
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ssl = SSL_new(ctx);
	ck_assert_ptr_nonnull(ssl);
	c->ctx = ctx;
	c->ssl = ssl;
	SSL_set_msg_callback(ssl, tlsc_msg_seen);
	SSL_set_msg_callback_arg(ssl, c);
	SSL_set_fd(ssl, raw_fd);
	if (o->ca)
		SSL_set1_host(ssl, "localhost");
	/* Blocking, bounded by the socket timeouts the test set on raw_fd. */
	if (SSL_connect(ssl) != 1) {
		tlsc_note_error(c, "TLS handshake");
		tlsc_stop(c);
		return -1;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->fd = sv[0];
	c->relay_fd = sv[1];
	fcntl(raw_fd, F_SETFL, fcntl(raw_fd, F_GETFL) | O_NONBLOCK);
	fcntl(c->relay_fd, F_SETFL, fcntl(c->relay_fd, F_GETFL) | O_NONBLOCK);
	nbdc_set_timeout(c->fd, 20);
	ck_assert_int_eq(pthread_create(&c->thread, NULL, tlsc_relay_main, c), 0);
	c->running = true;
	return 0;
}

void tlsc_stop(struct tlsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->running)
		pthread_join(c->thread, NULL);
	c->running = false;
	c->fd = -1;
	if (c->relay_fd >= 0)
		close(c->relay_fd);
	c->relay_fd = -1;
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	c->ssl = c->ctx = NULL;
	if (c->raw_fd >= 0)
		close(c->raw_fd);
	c->raw_fd = -1;
}

int tlsc_upgrade(struct tlsc *c, int raw_fd, const struct tlsc_opts *o)
{
	nbdc_set_timeout(raw_fd, 20);
	ck_assert_uint_eq(nbdc_greeting(raw_fd) & 3, 3);
	nbdc_client_flags(raw_fd, 3);
	nbdc_opt_expect(raw_fd, 5, NULL, 0, 1); /* NBD_OPT_STARTTLS: ACK */
	return tlsc_start(c, raw_fd, o);
}
