/* The nbdkit filter's core without nbdkit: the engine driver (both modes:
 * openssl inline, threads:2 through the driver thread) against an
 * independent AES-XTS model from several threads at once, and the range
 * lock's ordering. Runs under ASan like every unit suite (an ASan-built
 * filter cannot run inside Debian's nbdkit; see docs/nbdkit-filter.md). */
#include "frontend/nbdkit/cbf.h"
#include "helper_check.h"
#include "helper_model.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* nbdkit's logging, which the filter's files call. */
void nbdkit_error(const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	vfprintf(stderr, msg, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void nbdkit_debug(const char *msg, ...)
{
	(void)msg;
}

#define CORE_THREADS 4
#define CORE_BYTES   (5u * 1024 * 1024 + 3 * 4096) /* more than one 4 MiB batch */

/* The model: tmodel_xts_sector per sector, IV plain64(offset / 512 +
 * tweak), independent of src/crypto. */
static void model_encrypt(const uint8_t key[64], const struct volume_layout *l, const uint8_t *in,
			  uint8_t *out, size_t len, uint64_t offset)
{
	for (size_t i = 0; i < len; i += l->sector_size)
		tmodel_xts_sector(key, 64, 1, (offset + i) / 512 + l->iv_tweak, in + i, out + i,
				  l->sector_size);
}

struct core_worker {
	struct cbf_driver *drv;
	const struct volume_layout *layout;
	const uint8_t *key;
	uint64_t offset;
	int failures;
};

static void *core_worker_run(void *arg)
{
	struct core_worker *w = arg;
	uint8_t *plain = malloc(CORE_BYTES), *ct = malloc(CORE_BYTES), *want = malloc(CORE_BYTES);

	if (!plain || !ct || !want || RAND_bytes(plain, CORE_BYTES) != 1) {
		w->failures++;
		goto out;
	}
	model_encrypt(w->key, w->layout, plain, want, CORE_BYTES, w->offset);
	for (int round = 0; round < 3; round++) {
		if (cbf_crypt(w->drv, w->layout, CRYPTO_ENCRYPT, plain, ct, CORE_BYTES, w->offset))
			w->failures++;
		if (memcmp(ct, want, CORE_BYTES))
			w->failures++;
		/* in place, as the filter decrypts reads */
		if (cbf_crypt(w->drv, w->layout, CRYPTO_DECRYPT, ct, ct, CORE_BYTES, w->offset))
			w->failures++;
		if (memcmp(ct, plain, CORE_BYTES))
			w->failures++;
	}
out:
	free(plain);
	free(ct);
	free(want);
	return NULL;
}

static void core_check_engine(const char *spec)
{
	struct luks_key *key = luks_key_new(64);
	struct volume_layout layout = {
	    .sector_size = 4096, .iv_tweak = 1000003, .size = 1ull << 40};
	struct core_worker w[CORE_THREADS];
	pthread_t t[CORE_THREADS];
	struct cbf_driver *drv;

	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(RAND_bytes(key->bytes, 64), 1);
	ck_assert_int_eq(cbf_driver_start(spec, key, &drv), 0);
	for (int i = 0; i < CORE_THREADS; i++) {
		w[i] = (struct core_worker){.drv = drv,
					    .layout = &layout,
					    .key = key->bytes,
					    .offset = (uint64_t)i * 64 * 1024 * 1024 + 4096 * 7};
		ck_assert_int_eq(pthread_create(&t[i], NULL, core_worker_run, &w[i]), 0);
	}
	for (int i = 0; i < CORE_THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	cbf_driver_stop(drv);
	luks_key_free(key);
}

START_TEST(test_driver_openssl_inline_matches_model_from_four_threads)
{
	core_check_engine("openssl");
}
END_TEST

START_TEST(test_driver_threads_engine_matches_model_from_four_threads)
{
	core_check_engine("threads:2");
}
END_TEST

START_TEST(test_driver_refuses_unknown_engine)
{
	struct luks_key *key = luks_key_new(64);
	struct cbf_driver *drv = (void *)1;

	ck_assert_ptr_nonnull(key);
	ck_assert_int_eq(cbf_driver_start("rot13", key, &drv), -EINVAL);
	ck_assert_ptr_null(drv);
	luks_key_free(key);
}
END_TEST

/* ---- range locks ---- */

struct lock_taker {
	struct cbf_rangelock *rl;
	struct cbf_range range;
	uint64_t start, end;
	atomic_int *clock;
	atomic_int granted_at; /* clock value when granted; 0 while waiting */
};

static void *lock_taker_run(void *arg)
{
	struct lock_taker *lt = arg;

	cbf_range_lock(lt->rl, &lt->range, lt->start, lt->end);
	atomic_store(&lt->granted_at, atomic_fetch_add(lt->clock, 1) + 1);
	return NULL;
}

static void lock_settle(void)
{
	nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
}

START_TEST(test_rangelock_overlap_waits_fifo_disjoint_does_not)
{
	struct cbf_rangelock rl;
	struct cbf_range a, far;
	atomic_int clock = 0;
	struct lock_taker b = {.rl = &rl, .start = 0, .end = 8192, .clock = &clock};
	struct lock_taker c = {.rl = &rl, .start = 4096, .end = 8192, .clock = &clock};
	pthread_t tb, tc;

	cbf_rangelock_init(&rl);
	cbf_range_lock(&rl, &a, 0, 4096);
	/* B overlaps A: waits. */
	ck_assert_int_eq(pthread_create(&tb, NULL, lock_taker_run, &b), 0);
	lock_settle();
	ck_assert_int_eq(atomic_load(&b.granted_at), 0);
	/* C overlaps only the waiting B: waits behind it (FIFO). */
	ck_assert_int_eq(pthread_create(&tc, NULL, lock_taker_run, &c), 0);
	lock_settle();
	ck_assert_int_eq(atomic_load(&c.granted_at), 0);
	/* A range that overlaps nothing is granted at once, on this thread. */
	cbf_range_lock(&rl, &far, 1 << 20, (1 << 20) + 4096);
	cbf_range_unlock(&rl, &far);
	/* A goes: B gets it, C still waits for B. */
	cbf_range_unlock(&rl, &a);
	pthread_join(tb, NULL);
	ck_assert_int_eq(atomic_load(&b.granted_at), 1);
	lock_settle();
	ck_assert_int_eq(atomic_load(&c.granted_at), 0);
	cbf_range_unlock(&rl, &b.range);
	pthread_join(tc, NULL);
	ck_assert_int_eq(atomic_load(&c.granted_at), 2);
	cbf_range_unlock(&rl, &c.range);
	ck_assert_ptr_null(rl.q.held);
	ck_assert_ptr_null(rl.q.wait_head);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_driver_openssl_inline_matches_model_from_four_threads);
	tcase_add_test(tc, test_driver_threads_engine_matches_model_from_four_threads);
	tcase_add_test(tc, test_driver_refuses_unknown_engine);
	tcase_add_test(tc, test_rangelock_overlap_waits_fifo_disjoint_does_not);
}

int main(void)
{
	return unit_run("nbdkit_filter_core", add_tests);
}
