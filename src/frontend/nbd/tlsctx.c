/* The server's TLS context: certificate, private key, the CA that client
 * certificates must chain to, and the protocol policy (TLS 1.2 at least,
 * no renegotiation, no session resumption). Built once on the calling
 * thread before any worker runs; workers only create sessions from it,
 * which OpenSSL allows from any thread. The record layer of a connection
 * is tls.c. */
#include "nbd_int.h"

#include <cryptblk/secmem.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBD_TLS_KEY_FILE_MAX (64u * 1024) /* a PEM private key is a few KiB */

void nbd_tls_error_string(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	/* The first error queued is the cause; later ones are context. */
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown TLS error");
	ERR_clear_error();
}

/* Encrypted keys would need a passphrase prompt; OpenSSL's default
 * callback reads the terminal, which a server must never do. */
static int nbd_tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A file OpenSSL will read: report a missing or unreadable one with errno. */
static int nbd_tls_check_readable(const char *what, const char *path)
{
	int ret = 0;

	if (access(path, R_OK) < 0) {
		ret = -errno;
		fprintf(stderr, "cryptblk: nbd: tls: %s %s: %s\n", what, path, strerror(-ret));
	}
	return ret;
}

/* Read the key file into locked memory, parse it, wipe the copy. */
static int nbd_tls_load_key(SSL_CTX *ctx, const char *path)
{
	char reason[256];
	struct stat st;
	uint8_t *pem = NULL;
	size_t cap = 0, got = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "cryptblk: nbd: tls: key %s: %s\n", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > NBD_TLS_KEY_FILE_MAX) {
		fprintf(stderr, "cryptblk: nbd: tls: key %s: not a regular file of 1 to %u bytes\n",
			path, NBD_TLS_KEY_FILE_MAX);
		ret = -EINVAL;
		goto out;
	}
	cap = (size_t)st.st_size;
	pem = secmem_alloc(cap);
	if (!pem) {
		ret = -ENOMEM;
		fprintf(stderr, "cryptblk: nbd: tls: key %s: locked memory: %s\n", path,
			strerror(errno));
		goto out;
	}
	while (got < cap) {
		ssize_t n = read(fd, pem + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			fprintf(stderr, "cryptblk: nbd: tls: key %s: %s\n", path,
				n < 0 ? strerror(errno) : "file shrank while read");
			goto out;
		}
		got += (size_t)n;
	}
	ERR_clear_error();
	bio = BIO_new_mem_buf(pem, (int)got);
	if (!bio) {
		ret = -ENOMEM;
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, nbd_tls_no_passphrase, NULL);
	if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		nbd_tls_error_string(reason, sizeof(reason));
		fprintf(stderr,
			"cryptblk: nbd: tls: key %s: not an unencrypted PEM private key "
			"usable with the certificate: %s\n",
			path, reason);
		ret = -EINVAL;
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		fprintf(stderr, "cryptblk: nbd: tls: key %s: does not match the certificate\n",
			path);
		ret = -EINVAL;
	}
out:
	EVP_PKEY_free(key); /* OpenSSL clears private key material on free */
	BIO_free(bio);
	secmem_free(pem, cap);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int nbd_tls_load_cert(SSL_CTX *ctx, const char *path)
{
	char reason[256];
	int ret = nbd_tls_check_readable("certificate", path);

	if (ret < 0)
		return ret;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
		nbd_tls_error_string(reason, sizeof(reason));
		fprintf(stderr, "cryptblk: nbd: tls: certificate %s: %s\n", path, reason);
		return -EINVAL;
	}
	return 0;
}

/* Client certificates are requested, required, and verified against the
 * CA certificates in `path`; their names are sent to the client so it can
 * pick a matching certificate. */
static int nbd_tls_load_ca(SSL_CTX *ctx, const char *path)
{
	char reason[256];
	STACK_OF(X509_NAME) * names;
	int ret = nbd_tls_check_readable("CA", path);

	if (ret < 0)
		return ret;
	ERR_clear_error();
	names = SSL_load_client_CA_file(path);
	if (!names || sk_X509_NAME_num(names) == 0 ||
	    SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
		nbd_tls_error_string(reason, sizeof(reason));
		fprintf(stderr, "cryptblk: nbd: tls: CA %s: no usable PEM certificate: %s\n", path,
			reason);
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		return -EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names); /* takes `names` */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static int nbd_tls_policy(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return -EINVAL;
	/* No renegotiation (TLS 1.2) and no resumption: every connection does
	 * a full handshake, so no ticket keys or session cache exist. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
		return -EINVAL;
	/* Idle connections give their record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

int nbd_tls_create(const struct nbd_tls_config *cfg, struct nbd_tls **out)
{
	struct nbd_tls *tls = NULL;
	int ret;

	*out = NULL;
	if (!cfg->cert_file || !cfg->key_file) {
		fprintf(stderr, "cryptblk: nbd: tls: a certificate and its key are both needed\n");
		return -EINVAL;
	}
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		return -ENOMEM;
	ERR_clear_error();
	tls->ctx = SSL_CTX_new(TLS_server_method());
	if (!tls->ctx) {
		ret = -ENOMEM;
		goto out;
	}
	ret = nbd_tls_policy(tls->ctx);
	if (ret == 0)
		ret = nbd_tls_load_cert(tls->ctx, cfg->cert_file);
	if (ret == 0)
		ret = nbd_tls_load_key(tls->ctx, cfg->key_file);
	if (ret == 0 && cfg->ca_file)
		ret = nbd_tls_load_ca(tls->ctx, cfg->ca_file);
out:
	ERR_clear_error();
	if (ret < 0)
		nbd_tls_free(tls);
	else
		*out = tls;
	return ret;
}

void nbd_tls_free(struct nbd_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}
