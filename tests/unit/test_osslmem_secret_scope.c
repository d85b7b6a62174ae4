/* OpenSSL's allocations inside a secret scope land in its secure heap, the
 * rest in ordinary memory; secure blocks are recognised wherever they are
 * freed or grown; the engines' key schedules go there and come back when
 * the keys are cleared; a full heap spills instead of failing. The hooks
 * are installed in main(), before OpenSSL allocates anything, with a small
 * heap so that it can be filled. */
#include "crypto/xts.h"

#include <check.h>

#include "helper_check.h"
#include <cryptblk/osslmem.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define TEST_HEAP (64u << 10)

static int init_rc = 1;
static bool init_locked;

START_TEST(test_osslmem_init_before_openssl_allocates)
{
	ck_assert_int_eq(init_rc, 0);
	ck_assert(osslmem_active());
	ck_assert(CRYPTO_secure_malloc_initialized());
	/* Once only. */
	bool locked;
	ck_assert_int_eq(osslmem_init(TEST_HEAP, &locked), -EALREADY);
	ck_assert_int_eq(osslmem_init(3u << 16, &locked), -EINVAL);
	ck_assert_int_eq(osslmem_init(4096, &locked), -EINVAL);
}
END_TEST

START_TEST(test_osslmem_scope_decides_where_allocations_go)
{
	void *plain = OPENSSL_malloc(100), *secret, *nested;

	osslmem_secret_begin();
	secret = OPENSSL_malloc(100);
	osslmem_secret_begin();
	nested = OPENSSL_zalloc(40);
	osslmem_secret_end();
	ck_assert(CRYPTO_secure_allocated(nested)); /* still inside the outer scope */
	osslmem_secret_end();
	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_nonnull(secret);
	ck_assert(!CRYPTO_secure_allocated(plain));
	ck_assert(CRYPTO_secure_allocated(secret));
	/* Freed outside the scope, each goes back where it came from. */
	OPENSSL_free(plain);
	OPENSSL_clear_free(secret, 100);
	OPENSSL_free(nested);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);
}
END_TEST

START_TEST(test_osslmem_realloc_keeps_secrets_secure)
{
	unsigned char *p, *q;

	osslmem_secret_begin();
	p = OPENSSL_malloc(32);
	osslmem_secret_end();
	ck_assert(CRYPTO_secure_allocated(p));
	for (unsigned i = 0; i < 32; i++)
		p[i] = (unsigned char)(i + 1);
	/* Grown outside any scope: it held a secret, it stays secure. */
	q = OPENSSL_realloc(p, 3000);
	ck_assert_ptr_nonnull(q);
	ck_assert(CRYPTO_secure_allocated(q));
	for (unsigned i = 0; i < 32; i++)
		ck_assert_uint_eq(q[i], i + 1);
	/* A plain block stays plain, its contents too. */
	p = OPENSSL_malloc(8);
	memcpy(p, "abcdefg", 8);
	osslmem_secret_begin();
	p = OPENSSL_realloc(p, 16);
	osslmem_secret_end();
	ck_assert(!CRYPTO_secure_allocated(p));
	ck_assert_str_eq((char *)p, "abcdefg");
	OPENSSL_free(p);
	OPENSSL_free(q);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);
}
END_TEST

static void *alloc_in_thread(void *arg)
{
	(void)arg;
	/* The scope belongs to the thread that opened it. */
	return OPENSSL_malloc(64);
}

START_TEST(test_osslmem_scope_is_per_thread)
{
	pthread_t t;
	void *p = NULL;

	osslmem_secret_begin();
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_in_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t, &p), 0);
	osslmem_secret_end();
	ck_assert_ptr_nonnull(p);
	ck_assert(!CRYPTO_secure_allocated(p));
	OPENSSL_free(p);
}
END_TEST

START_TEST(test_osslmem_xts_key_schedules_live_in_the_secure_heap)
{
	struct xts_keys keys = {0};
	uint8_t key[64];
	size_t ctx_only, keyed;
	EVP_CIPHER_CTX *bare;

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	/* What an unkeyed context costs, to tell it from a key schedule. */
	osslmem_secret_begin();
	bare = EVP_CIPHER_CTX_new();
	osslmem_secret_end();
	ctx_only = CRYPTO_secure_used();
	EVP_CIPHER_CTX_free(bare);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);

	ck_assert_int_eq(xts_keys_set(&keys, 0, key, sizeof(key)), 0);
	keyed = CRYPTO_secure_used();
	ck_assert(CRYPTO_secure_allocated(keys.ctx[0][CRYPTO_ENCRYPT]));
	ck_assert(CRYPTO_secure_allocated(keys.ctx[0][CRYPTO_DECRYPT]));
	/* Two contexts plus what each keyed cipher holds: two AES-256 key
	 * schedules of 240 bytes at least. */
	ck_assert_uint_ge(keyed, 2 * ctx_only + 2 * 2 * 240);
	ck_assert_uint_eq(osslmem_spills(), 0);
	xts_keys_clear_all(&keys);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);
}
END_TEST

START_TEST(test_osslmem_full_heap_spills_to_ordinary_memory)
{
	enum { N = 40 };
	void *p[N];
	unsigned long before = osslmem_spills();
	unsigned plain = 0;

	/* 40 blocks of 4 KiB cannot fit in a 64 KiB heap. */
	osslmem_secret_begin();
	for (unsigned i = 0; i < N; i++)
		p[i] = OPENSSL_malloc(4096);
	osslmem_secret_end();
	for (unsigned i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(p[i]);
		plain += !CRYPTO_secure_allocated(p[i]);
	}
	ck_assert_uint_ge(plain, N - TEST_HEAP / 4096);
	ck_assert_uint_eq(osslmem_spills() - before, plain);
	for (unsigned i = 0; i < N; i++)
		OPENSSL_free(p[i]);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_osslmem_init_before_openssl_allocates);
	tcase_add_test(tc, test_osslmem_scope_decides_where_allocations_go);
	tcase_add_test(tc, test_osslmem_realloc_keeps_secrets_secure);
	tcase_add_test(tc, test_osslmem_scope_is_per_thread);
	tcase_add_test(tc, test_osslmem_xts_key_schedules_live_in_the_secure_heap);
	tcase_add_test(tc, test_osslmem_full_heap_spills_to_ordinary_memory);
}

int main(void)
{
	init_rc = osslmem_init(TEST_HEAP, &init_locked);
	return unit_run("osslmem", add_tests);
}
