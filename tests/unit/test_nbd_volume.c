/* The NBD server over the real pipeline: file backend, OpenSSL engine and
 * volume, keyed with a raw test key (no LUKS). What a client writes over
 * NBD must be on disk as AES-XTS ciphertext that OpenSSL's EVP, driven here
 * directly with plain64 IVs, decrypts back to the client's bytes; and what
 * one connection wrote and flushed another (on another worker) reads. */
#include "helper_check.h"
#include "helper_nbdclient.h"

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/nbd.h>
#include <cryptblk/volume.h>

#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DATA_OFFSET 8192u
#define SIZE	    (1024u * 1024)
#define THREADS	    2u

static uint8_t key[64];
static char path[] = "/tmp/cryptblk-nbd-volume-XXXXXX";

struct raw_ctx {
	struct backend *be;
	struct volume_layout layout;
	struct crypto_engine *engines[THREADS];
};

static int raw_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
{
	struct raw_ctx *rc = ctx;
	struct crypto_engine *e;

	ck_assert_int_eq(crypto_engine_open("openssl", &e), 0);
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
	ck_assert_int_eq(volume_open(rc->be, e, loop, &rc->layout, out), 0);
	rc->engines[index] = e;
	return 0;
}

static void raw_close(void *ctx, unsigned index, struct volume *vol)
{
	struct raw_ctx *rc = ctx;

	volume_close(vol);
	crypto_engine_detach(rc->engines[index]);
	crypto_engine_close(rc->engines[index]);
}

static const struct nbd_thread_ops raw_ops = {.open = raw_open, .close = raw_close};

static struct raw_ctx rctx;
static struct nbd_server *srv;

static int connect_fd(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(nbd_server_add_fd(srv, sv[1]), 0);
	return sv[0];
}

static void start(uint32_t sector)
{
	struct nbd_server_config cfg = {.threads = THREADS, .ops = &raw_ops, .ctx = &rctx};
	int fd;

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DATA_OFFSET + SIZE), 0);
	close(fd);
	memset(&rctx, 0, sizeof(rctx));
	ck_assert_int_eq(backend_file_open(path, 0, &rctx.be), 0);
	rctx.layout.data_offset = DATA_OFFSET;
	rctx.layout.size = SIZE;
	rctx.layout.sector_size = sector;
	ck_assert_int_eq(nbd_server_create(&cfg, &srv), 0);
}

static void stop(void)
{
	ck_assert_int_eq(nbd_server_destroy(srv), 0);
	backend_close(rctx.be);
	unlink(path);
}

/* Decrypt the data segment of the file with EVP, sector by sector. */
static void decrypt_file(uint8_t *out, uint32_t sector)
{
	uint8_t *ct = malloc(SIZE);
	FILE *f = fopen(path, "rb");
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, DATA_OFFSET, SEEK_SET), 0);
	ck_assert_uint_eq(fread(ct, 1, SIZE, f), SIZE);
	fclose(f);
	for (uint32_t off = 0; off < SIZE; off += sector) {
		uint8_t iv[16] = {0};
		uint64_t n = off / 512; /* plain64 counts 512-byte units */
		int len = 0;

		for (unsigned b = 0; b < 8; b++)
			iv[b] = (uint8_t)(n >> (8 * b));
		ck_assert_int_eq(EVP_DecryptInit_ex(ctx, EVP_aes_256_xts(), NULL, key, iv), 1);
		ck_assert_int_eq(EVP_DecryptUpdate(ctx, out + off, &len, ct + off, (int)sector), 1);
		ck_assert_int_eq(len, (int)sector);
	}
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}

static void write_then_decrypt(uint32_t sector)
{
	uint8_t *model = malloc(SIZE), *plain = malloc(SIZE), piece[70001];
	static const struct {
		uint64_t off;
		uint32_t len;
	} w[] = {{1, 3}, {511, 2}, {4095, 4099}, {100000, 70001}, {SIZE - 7, 7}};
	uint16_t flags;
	int fd;

	start(sector);
	fd = connect_fd();
	ck_assert_uint_eq(nbdc_negotiate(fd, true, false, &flags), SIZE);
	fill(model, SIZE, sector);
	ck_assert_uint_eq(nbdc_pwrite(fd, 1, 0, model, SIZE, 0), 0);
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		fill(piece, w[i].len, 100 + i);
		ck_assert_uint_eq(nbdc_pwrite(fd, 10 + i, 0, piece, w[i].len, w[i].off), 0);
		memcpy(model + w[i].off, piece, w[i].len);
	}
	ck_assert_uint_eq(nbdc_cmd(fd, 6, 0, 20, 7777, 1000), 0); /* write zeroes */
	memset(model + 7777, 0, 1000);
	ck_assert_uint_eq(nbdc_cmd(fd, 3, 0, 21, 0, 0), 0); /* flush */
	decrypt_file(plain, sector);
	ck_assert_mem_eq(plain, model, SIZE);
	ck_assert_uint_eq(nbdc_pread(fd, true, 22, plain, SIZE, 0), 0);
	ck_assert_mem_eq(plain, model, SIZE);
	close(fd);
	stop();
	free(model);
	free(plain);
}

START_TEST(test_nbd_writes_land_as_xts_ciphertext_512)
{
	write_then_decrypt(512);
}
END_TEST

START_TEST(test_nbd_writes_land_as_xts_ciphertext_4096)
{
	write_then_decrypt(4096);
}
END_TEST

START_TEST(test_nbd_flushed_write_is_seen_by_another_connection)
{
	uint8_t a[8192], b[8192];
	uint16_t flags;
	int fd1, fd2;

	start(4096);
	fd1 = connect_fd();
	fd2 = connect_fd(); /* round-robin: the other worker and volume */
	nbdc_negotiate(fd1, false, false, &flags);
	ck_assert(flags & 0x100); /* CAN_MULTI_CONN */
	nbdc_negotiate(fd2, false, false, &flags);
	fill(a, sizeof(a), 5);
	ck_assert_uint_eq(nbdc_pwrite(fd1, 1, 0, a, sizeof(a), 12345), 0);
	ck_assert_uint_eq(nbdc_cmd(fd1, 3, 0, 2, 0, 0), 0);
	ck_assert_uint_eq(nbdc_pread(fd2, false, 3, b, sizeof(b), 12345), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	close(fd1);
	close(fd2);
	stop();
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_nbd_writes_land_as_xts_ciphertext_512);
	tcase_add_test(tc, test_nbd_writes_land_as_xts_ciphertext_4096);
	tcase_add_test(tc, test_nbd_flushed_write_is_seen_by_another_connection);
}

int main(void)
{
	return unit_run("nbd_volume", add_tests);
}
