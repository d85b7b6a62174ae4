/* OpenSSL allocation hooks: secret scopes go to OpenSSL's secure heap. */
#include <cryptblk/osslmem.h>

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The smallest block the secure heap hands out; OpenSSL's buddy allocator
 * rounds every request up to a power of two of at least this. */
#define OSSLMEM_MIN_BLOCK 16

static bool osslmem_hooked;	/* written once, before any thread exists */
static bool osslmem_heap_ready; /* likewise */
static _Thread_local unsigned osslmem_depth;
static atomic_ulong osslmem_spill_count;

static bool osslmem_in_scope(void)
{
	return osslmem_depth > 0 && osslmem_heap_ready;
}

static bool osslmem_is_secure(const void *p)
{
	return p && osslmem_heap_ready && CRYPTO_secure_allocated(p);
}

/* Neither file nor line is passed on: with them, a full secure heap would
 * queue an OpenSSL error, which allocates, inside this hook. */
static void *osslmem_malloc(size_t n, const char *file, int line)
{
	void *p;

	(void)file;
	(void)line;
	if (n == 0)
		return NULL; /* as CRYPTO_malloc answers */
	if (osslmem_in_scope()) {
		p = CRYPTO_secure_malloc(n, NULL, 0);
		if (p)
			return p;
		atomic_fetch_add(&osslmem_spill_count, 1);
	}
	return malloc(n);
}

static void osslmem_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (osslmem_is_secure(p))
		CRYPTO_secure_free(p, NULL, 0); /* wipes the whole block */
	else
		free(p);
}

/* A secure block stays secure when it grows: it held a secret. A plain
 * block stays plain (OpenSSL grows buffers and stacks this way, not key
 * schedules). */
static void *osslmem_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	if (!p)
		return osslmem_malloc(n, file, line);
	if (!osslmem_is_secure(p))
		return n ? realloc(p, n) : (free(p), NULL);
	if (n == 0) {
		CRYPTO_secure_free(p, NULL, 0);
		return NULL;
	}
	q = CRYPTO_secure_malloc(n, NULL, 0);
	if (!q) {
		atomic_fetch_add(&osslmem_spill_count, 1);
		q = malloc(n);
		if (!q)
			return NULL;
	}
	old = CRYPTO_secure_actual_size(p);
	memcpy(q, p, old < n ? old : n);
	CRYPTO_secure_free(p, NULL, 0);
	return q;
}

/* The first use of an algorithm makes OpenSSL build its tables of every
 * algorithm of that kind, and cache them for the life of the process:
 * kilobytes that would otherwise fill the secure heap, first used inside a
 * secret scope. So the ciphers, digests and PBKDF2 of the format and
 * crypto code are used once here, outside any scope, on dummy data. */
static void osslmem_warm_up(void)
{
	static const uint8_t dummy[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	const EVP_MD *mds[] = {EVP_sha1(), EVP_sha224(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	const EVP_CIPHER *ciphers[] = {EVP_aes_128_xts(), EVP_aes_256_xts()};
	uint8_t out[EVP_MAX_MD_SIZE];
	unsigned outl;

	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

		if (ctx)
			EVP_CipherInit_ex(ctx, ciphers[i], NULL, dummy, NULL, 1);
		EVP_CIPHER_CTX_free(ctx);
	}
	for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
		EVP_Digest(dummy, sizeof(dummy), out, &outl, mds[i], NULL);
		PKCS5_PBKDF2_HMAC("x", 1, dummy, 16, 1, mds[i], 16, out);
	}
}

int osslmem_init(size_t heap_size, bool *locked)
{
	int rc;

	*locked = false;
	if (heap_size == 0)
		return 0;
	if (heap_size < (64u << 10) || (heap_size & (heap_size - 1)))
		return -EINVAL;
	if (osslmem_hooked)
		return -EALREADY;
	if (!CRYPTO_set_mem_functions(osslmem_malloc, osslmem_realloc, osslmem_free))
		return -EBUSY;
	osslmem_hooked = true;
	/* 1: mapped, locked and MADV_DONTDUMP; 2: the same but not locked. */
	rc = CRYPTO_secure_malloc_init(heap_size, OSSLMEM_MIN_BLOCK);
	if (rc == 0)
		return -ENOMEM;
	*locked = rc == 1;
	osslmem_heap_ready = true;
	osslmem_warm_up();
	return 0;
}

bool osslmem_active(void)
{
	return osslmem_heap_ready;
}

void osslmem_secret_begin(void)
{
	osslmem_depth++;
}

void osslmem_secret_end(void)
{
	if (osslmem_depth > 0)
		osslmem_depth--;
}

unsigned long osslmem_spills(void)
{
	return atomic_load(&osslmem_spill_count);
}
