/* The DMA pool (src/crypto/virtio/dmapool.c): the fixed part carved in
 * order and aligned, heap pages first fit and reused, exhaustion, and the
 * address <-> IOVA translation a device model relies on. */
#include "crypto/virtio/dmapool.h"

#include <check.h>

#include "helper_check.h"
#include <stdint.h>

#define PAGE DMA_POOL_PAGE

static void pool_new(struct dma_pool *p, size_t fixed, unsigned pages)
{
	ck_assert_int_eq(dma_pool_init(p, fixed, (size_t)pages * PAGE), 0);
	p->iova = 0x7f0000000ull;
}

START_TEST(test_pool_carve_aligns_and_stops_at_the_fixed_size)
{
	struct dma_pool p;
	uint8_t *a, *b, *c;

	pool_new(&p, 100, 1); /* rounds up to one page */
	a = dma_pool_carve(&p, 10, 1);
	b = dma_pool_carve(&p, 16, 64);
	ck_assert_ptr_eq(a, p.base);
	ck_assert_ptr_eq(b, p.base + 64);
	ck_assert_ptr_null(dma_pool_carve(&p, 16, 3));	  /* not a power of two */
	ck_assert_ptr_null(dma_pool_carve(&p, PAGE, 16)); /* past the fixed part */
	c = dma_pool_carve(&p, PAGE - 80, 16);
	ck_assert_ptr_eq(c, p.base + 80);
	ck_assert_ptr_null(dma_pool_carve(&p, 1, 1));
	ck_assert(!dma_pool_in_heap(&p, a));
	ck_assert(dma_pool_contains(&p, a, 10));
	dma_pool_fini(&p);
}
END_TEST

START_TEST(test_pool_pages_first_fit_and_reused_after_free)
{
	struct dma_pool p;
	uint8_t *a, *b, *c, *d, *e;

	pool_new(&p, PAGE, 5);
	a = dma_pool_alloc(&p, 1);
	b = dma_pool_alloc(&p, PAGE);
	c = dma_pool_alloc(&p, PAGE + 1); /* two pages */
	ck_assert_ptr_eq(a, p.base + PAGE);
	ck_assert_ptr_eq(b, a + PAGE);
	ck_assert_ptr_eq(c, b + PAGE);
	ck_assert_uint_eq(p.pages_used, 4);
	ck_assert_ptr_null(dma_pool_alloc(&p, 2 * PAGE)); /* one page left */
	dma_pool_free(&p, b, PAGE);
	/* Two pages do not fit in b's hole: they go nowhere yet. */
	ck_assert_ptr_null(dma_pool_alloc(&p, 2 * PAGE));
	d = dma_pool_alloc(&p, PAGE);
	ck_assert_ptr_eq(d, b);
	e = dma_pool_alloc(&p, 100);
	ck_assert_ptr_eq(e, c + 2 * PAGE);
	ck_assert_ptr_null(dma_pool_alloc(&p, 1));
	dma_pool_free(&p, c, PAGE + 1);
	ck_assert_ptr_eq(dma_pool_alloc(&p, 2 * PAGE), c);
	dma_pool_fini(&p);
}
END_TEST

START_TEST(test_pool_refuses_empty_and_oversized_allocations)
{
	struct dma_pool p;

	pool_new(&p, 0, 2);
	ck_assert_ptr_null(dma_pool_alloc(&p, 0));
	ck_assert_ptr_null(dma_pool_alloc(&p, 3 * PAGE));
	ck_assert_ptr_nonnull(dma_pool_alloc(&p, 2 * PAGE));
	dma_pool_fini(&p);
}
END_TEST

START_TEST(test_pool_knows_its_own_memory)
{
	struct dma_pool p;
	uint8_t outside[64], *h;

	pool_new(&p, PAGE, 2);
	h = dma_pool_alloc(&p, PAGE);
	ck_assert(dma_pool_in_heap(&p, h));
	ck_assert(dma_pool_contains(&p, h, PAGE));
	ck_assert(dma_pool_contains(&p, p.base, p.size));
	ck_assert(!dma_pool_contains(&p, p.base + 1, p.size));
	ck_assert(!dma_pool_contains(&p, outside, sizeof(outside)));
	ck_assert(!dma_pool_in_heap(&p, outside));
	ck_assert(!dma_pool_in_heap(&p, p.base + p.size));
	/* Freeing memory that is not the heap's changes nothing. */
	dma_pool_free(&p, outside, sizeof(outside));
	ck_assert_uint_eq(p.pages_used, 1);
	dma_pool_fini(&p);
}
END_TEST

START_TEST(test_pool_iova_translation_round_trips_and_checks_bounds)
{
	struct dma_pool p;
	uint8_t *x;

	pool_new(&p, PAGE, 1);
	x = p.base + 123;
	ck_assert_uint_eq(dma_pool_iova(&p, x), p.iova + 123);
	ck_assert_ptr_eq(dma_pool_ptr(&p, p.iova + 123, 10), x);
	ck_assert_ptr_eq(dma_pool_ptr(&p, p.iova, p.size), p.base);
	ck_assert_ptr_null(dma_pool_ptr(&p, p.iova - 1, 1));
	ck_assert_ptr_null(dma_pool_ptr(&p, p.iova + p.size - 4, 5));
	ck_assert_ptr_null(dma_pool_ptr(&p, UINT64_MAX, 1));
	dma_pool_fini(&p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_pool_carve_aligns_and_stops_at_the_fixed_size);
	tcase_add_test(tc, test_pool_pages_first_fit_and_reused_after_free);
	tcase_add_test(tc, test_pool_refuses_empty_and_oversized_allocations);
	tcase_add_test(tc, test_pool_knows_its_own_memory);
	tcase_add_test(tc, test_pool_iova_translation_round_trips_and_checks_bounds);
}

int main(void)
{
	return unit_run("virtio_pool", add_tests);
}
