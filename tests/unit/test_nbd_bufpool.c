/* The NBD worker's data buffer cache (src/frontend/nbd/bufpool.c): a buffer
 * given back is handed out again, and a cache filled with small buffers
 * still keeps a large one (it evicts the smallest), so large requests stop
 * mapping fresh memory after small-block work. */
#include "frontend/nbd/nbd_int.h"

#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "helper_check.h"

#define BIG (1024u * 1024 + NBD_READ_PREFIX)

static bool pool_holds(const struct nbd_worker *w, const void *buf)
{
	for (unsigned i = 0; i < w->pool.nr; i++)
		if (w->pool.buf[i] == buf)
			return true;
	return false;
}

static void fill_with_small(struct nbd_worker *w)
{
	void *bufs[NBD_POOL_MAX_BUFS];
	size_t cap;

	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++) {
		bufs[i] = nbd_pool_get(w, 8192, &cap);
		ck_assert_ptr_nonnull(bufs[i]);
	}
	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++)
		nbd_pool_put(w, bufs[i], cap);
	ck_assert_uint_eq(w->pool.nr, NBD_POOL_MAX_BUFS);
}

START_TEST(test_bufpool_returns_a_buffer_given_back)
{
	struct nbd_worker w;
	size_t cap, cap2;
	void *a, *b;

	memset(&w, 0, sizeof(w));
	a = nbd_pool_get(&w, BIG, &cap);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_ge(cap, BIG);
	nbd_pool_put(&w, a, cap);
	b = nbd_pool_get(&w, BIG, &cap2);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(cap, cap2);
	nbd_pool_put(&w, b, cap2);
	nbd_pool_destroy(&w);
	ck_assert_uint_eq(w.pool.nr, 0);
}
END_TEST

START_TEST(test_bufpool_full_of_small_buffers_keeps_a_large_one)
{
	struct nbd_worker w;
	size_t cap, cap2;
	void *big, *again;

	memset(&w, 0, sizeof(w));
	fill_with_small(&w);
	big = nbd_pool_get(&w, BIG, &cap);
	ck_assert_ptr_nonnull(big);
	nbd_pool_put(&w, big, cap);
	ck_assert_uint_eq(w.pool.nr, NBD_POOL_MAX_BUFS);
	ck_assert(pool_holds(&w, big));
	again = nbd_pool_get(&w, BIG, &cap2);
	ck_assert_ptr_eq(again, big);
	nbd_pool_put(&w, again, cap2);
	nbd_pool_destroy(&w);
}
END_TEST

START_TEST(test_bufpool_full_of_large_buffers_drops_a_small_one)
{
	struct nbd_worker w;
	void *bufs[NBD_POOL_MAX_BUFS], *small;
	size_t cap, small_cap;

	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++) {
		bufs[i] = nbd_pool_get(&w, BIG, &cap);
		ck_assert_ptr_nonnull(bufs[i]);
	}
	small = nbd_pool_get(&w, 8192, &small_cap);
	ck_assert_ptr_nonnull(small);
	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++)
		nbd_pool_put(&w, bufs[i], cap);
	nbd_pool_put(&w, small, small_cap);
	ck_assert_uint_eq(w.pool.nr, NBD_POOL_MAX_BUFS);
	for (unsigned i = 0; i < w.pool.nr; i++)
		ck_assert_uint_eq(w.pool.cap[i], cap);
	ck_assert_uint_le(w.pool.bytes, NBD_POOL_MAX_BYTES);
	nbd_pool_destroy(&w);
}
END_TEST

/* Buffers large enough that the count limit is never reached: the byte
 * limit decides how many stay. */
START_TEST(test_bufpool_keeps_at_most_its_byte_limit)
{
	const size_t huge = 4u << 20;
	struct nbd_worker w;
	void *bufs[NBD_POOL_MAX_BUFS];
	size_t cap = 0;

	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++) {
		bufs[i] = nbd_pool_get(&w, huge, &cap);
		ck_assert_ptr_nonnull(bufs[i]);
	}
	ck_assert_uint_gt((uint64_t)cap * NBD_POOL_MAX_BUFS, NBD_POOL_MAX_BYTES);
	for (unsigned i = 0; i < NBD_POOL_MAX_BUFS; i++)
		nbd_pool_put(&w, bufs[i], cap);
	ck_assert_uint_eq(w.pool.nr, NBD_POOL_MAX_BYTES / cap);
	ck_assert_uint_le(w.pool.bytes, NBD_POOL_MAX_BYTES);
	nbd_pool_destroy(&w);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_bufpool_returns_a_buffer_given_back);
	tcase_add_test(tc, test_bufpool_full_of_small_buffers_keeps_a_large_one);
	tcase_add_test(tc, test_bufpool_full_of_large_buffers_drops_a_small_one);
	tcase_add_test(tc, test_bufpool_keeps_at_most_its_byte_limit);
}

int main(void)
{
	return unit_run("nbd_bufpool", add_tests);
}
