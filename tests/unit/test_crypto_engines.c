/* The crypto engines against an independent model and each other: random
 * data, keys, IVs and sector sizes; the plain64 and large-sector IV rules;
 * refused jobs and specs; a full threads engine and the backlog; two key
 * slots at once; clear_key.
 *
 * The model computes every sector with its own EVP context keyed and IV'ed
 * in one call, from the IV rule written out here (plain64 counts 512-byte
 * units), not from crypto_job_sector_iv().
 */
#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>

#include <check.h>

#include "helper_check.h"
#include "helper_model.h"
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const engine_specs[] = {"openssl", "threads:2"};
#define NR_ENGINES (sizeof(engine_specs) / sizeof(engine_specs[0]))

/* xorshift64*: reproducible "random" data, keys and job shapes. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* A whole job by the model: plain64 steps the IV by sector_size / 512. */
static void model_job(const uint8_t *key, size_t key_len, int enc, uint64_t iv, uint64_t step,
		      uint32_t sector_size, uint32_t nr, const uint8_t *in, uint8_t *out)
{
	for (uint32_t i = 0; i < nr; i++)
		tmodel_xts_sector(key, key_len, enc, iv + i * step, in + (size_t)i * sector_size,
				  out + (size_t)i * sector_size, sector_size);
}

/* For jobs that must be refused: their done() may never run. */
static void never_done(struct crypto_job *job)
{
	(void)job;
	ck_abort_msg("done() ran for a refused job");
}

static struct crypto_engine *engine_open(const char *spec)
{
	struct crypto_engine *e;

	ck_assert_int_eq(crypto_engine_open(spec, &e), 0);
	return e;
}

static void engine_wait(struct crypto_engine *e)
{
	int fd = e->ops->signal_fd ? e->ops->signal_fd(e) : -1;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t count;

	/* An engine without a signal fd finishes inside submit: nothing to
	 * wait for would be a bug. */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(read(fd, &count, sizeof(count)), (int)sizeof(count));
}

/* Runs jobs through the engine's own submit and complete (no loop): reaps
 * when the engine is full, sleeps on the signal fd when nothing is done. */
static unsigned engine_run_jobs(struct crypto_engine *e, struct crypto_job **jobs, unsigned n)
{
	unsigned next = 0, done = 0, busy = 0;

	while (done < n) {
		struct crypto_job *list;

		while (next < n) {
			int err = e->ops->submit(e, jobs[next]);

			if (err == -EBUSY) {
				busy++;
				break;
			}
			ck_assert_int_eq(err, 0);
			next++;
		}
		list = e->ops->complete(e);
		if (!list)
			engine_wait(e);
		for (; list; list = list->next)
			done++;
	}
	ck_assert_ptr_null(e->ops->complete(e));
	return busy;
}

static void engine_run_job(struct crypto_engine *e, struct crypto_job *job)
{
	job->result = 1;
	engine_run_jobs(e, &job, 1);
	ck_assert_int_eq(job->result, 0);
}

/* Random shapes through both engines, in place and out of place: both give
 * the model's ciphertext and decrypt it back. */
static void engines_match_model(uint32_t sector_size, size_t key_len, bool in_place)
{
	struct crypto_engine *e[NR_ENGINES];
	uint8_t key[64];
	const uint32_t max_sectors = 64 * 1024 / sector_size;
	size_t cap = (size_t)max_sectors * sector_size;
	uint8_t *plain = malloc(cap), *want = malloc(cap), *got = malloc(cap);

	ck_assert(plain && want && got);
	tmodel_xts_key(&rng_state, key, key_len);
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		e[i] = engine_open(engine_specs[i]);
		ck_assert_int_eq(crypto_engine_set_key(e[i], 0, key, key_len), 0);
	}
	for (unsigned round = 0; round < 12; round++) {
		uint32_t nr = 1 + (uint32_t)(tmodel_rng_next(&rng_state) % max_sectors);
		size_t len = (size_t)nr * sector_size;
		uint64_t iv =
		    round == 0 ? UINT64_MAX - 3
			       : tmodel_rng_next(&rng_state) >> (tmodel_rng_next(&rng_state) % 64);

		tmodel_rng_fill(&rng_state, plain, len);
		model_job(key, key_len, 1, iv, sector_size / 512, sector_size, nr, plain, want);
		for (unsigned i = 0; i < NR_ENGINES; i++) {
			struct crypto_job job = {.iv = iv,
						 .sector_size = sector_size,
						 .nr_sectors = nr,
						 .dir = CRYPTO_ENCRYPT};
			uint8_t *src = plain;

			if (in_place) {
				memcpy(got, plain, len);
				src = got;
			}
			job.src = src;
			job.dst = got;
			engine_run_job(e[i], &job);
			ck_assert_msg(memcmp(got, want, len) == 0,
				      "%s: %u x %u bytes at IV %llu differ from the model",
				      engine_specs[i], nr, sector_size, (unsigned long long)iv);
			job.src = got;
			job.dst = in_place ? got : want;
			job.dir = CRYPTO_DECRYPT;
			engine_run_job(e[i], &job);
			ck_assert_mem_eq(in_place ? got : want, plain, len);
			/* The next engine compares against the model again. */
			model_job(key, key_len, 1, iv, sector_size / 512, sector_size, nr, plain,
				  want);
		}
	}
	for (unsigned i = 0; i < NR_ENGINES; i++)
		crypto_engine_close(e[i]);
	free(plain);
	free(want);
	free(got);
}

START_TEST(test_engines_match_model_512_aes128_out_of_place)
{
	engines_match_model(512, 32, false);
}
END_TEST

START_TEST(test_engines_match_model_512_aes256_in_place)
{
	engines_match_model(512, 64, true);
}
END_TEST

START_TEST(test_engines_match_model_4096_aes128_in_place)
{
	engines_match_model(4096, 32, true);
}
END_TEST

START_TEST(test_engines_match_model_4096_aes256_out_of_place)
{
	engines_match_model(4096, 64, false);
}
END_TEST

START_TEST(test_engines_match_model_1024_and_2048_aes256)
{
	engines_match_model(1024, 64, false);
	engines_match_model(2048, 64, true);
}
END_TEST

/* Sector k of a job with 4096-byte sectors uses IV iv + 8k (dm-crypt's
 * plain64 for LUKS), and iv + k only with CRYPTO_JOB_IV_LARGE_SECTORS. */
static void sector_iv_step(uint16_t flags, uint64_t step, uint64_t wrong_step)
{
	const uint32_t nr = 4, ss = 4096;
	uint8_t key[64], *plain = malloc(nr * ss), *got = malloc(nr * ss), want[4096];
	const uint64_t iv = 1000;

	ck_assert(plain && got);
	tmodel_xts_key(&rng_state, key, sizeof(key));
	tmodel_rng_fill(&rng_state, plain, nr * ss);
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);
		struct crypto_job job = {.src = plain,
					 .dst = got,
					 .iv = iv,
					 .sector_size = ss,
					 .nr_sectors = nr,
					 .flags = flags,
					 .dir = CRYPTO_ENCRYPT};

		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
		engine_run_job(e, &job);
		for (uint32_t k = 0; k < nr; k++) {
			tmodel_xts_sector(key, sizeof(key), 1, iv + k * step, plain + k * ss, want,
					  ss);
			ck_assert_msg(memcmp(got + k * ss, want, ss) == 0,
				      "%s: sector %u did not use IV iv + %llu", engine_specs[i], k,
				      (unsigned long long)(k * step));
			if (k == 0)
				continue;
			tmodel_xts_sector(key, sizeof(key), 1, iv + k * wrong_step, plain + k * ss,
					  want, ss);
			ck_assert(memcmp(got + k * ss, want, ss) != 0);
		}
		crypto_engine_close(e);
	}
	free(plain);
	free(got);
}

START_TEST(test_engines_4096_sector_k_uses_iv_plus_8k)
{
	sector_iv_step(0, 8, 1);
}
END_TEST

START_TEST(test_engines_large_sectors_flag_uses_iv_plus_k)
{
	sector_iv_step(CRYPTO_JOB_IV_LARGE_SECTORS, 1, 8);
}
END_TEST

START_TEST(test_engines_refuse_bad_jobs_without_running_them)
{
	static const uint32_t bad_sizes[] = {0, 16, 256, 768, 1000, 3072, 8192};
	uint8_t key[32], buf[8192], copy[8192];

	tmodel_xts_key(&rng_state, key, sizeof(key));
	tmodel_rng_fill(&rng_state, buf, sizeof(buf));
	memcpy(copy, buf, sizeof(buf));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);
		const struct crypto_job good = {.src = buf,
						.dst = buf,
						.iv = 7,
						.sector_size = 512,
						.nr_sectors = 1,
						.dir = CRYPTO_ENCRYPT,
						.done = never_done};
		struct crypto_job job;

		/* No key yet. */
		job = good;
		ck_assert_int_eq(e->ops->submit(e, &job), -ENOKEY);
		ck_assert_int_eq(crypto_submit(e, &job), -ENOKEY);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);

		for (unsigned s = 0; s < sizeof(bad_sizes) / sizeof(bad_sizes[0]); s++) {
			job = good;
			job.sector_size = bad_sizes[s];
			ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
			ck_assert_int_eq(crypto_submit(e, &job), -EINVAL);
		}
		job = good;
		job.nr_sectors = 0;
		ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
		ck_assert_int_eq(crypto_submit(e, &job), -EINVAL);
		job = good;
		job.key_slot = 2;
		ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
		job = good;
		job.dir = 2;
		ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
		job = good;
		job.src = NULL;
		ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
		job = good;
		job.flags = 0x8000;
		ck_assert_int_eq(e->ops->submit(e, &job), -EINVAL);
		job = good;
		job.key_slot = 1; /* valid slot, never keyed */
		ck_assert_int_eq(e->ops->submit(e, &job), -ENOKEY);
		job = good;
		job.done = NULL; /* crypto_submit needs somewhere to report */
		ck_assert_int_eq(crypto_submit(e, &job), -EINVAL);

		ck_assert_ptr_null(e->ops->complete(e));
		ck_assert_uint_eq(crypto_engine_pending(e), 0);
		ck_assert_mem_eq(buf, copy, sizeof(buf));
		crypto_engine_close(e);
	}
}
END_TEST

START_TEST(test_engine_open_parses_specs)
{
	static const char *const bad[] = {
	    "",		  "nope",	"openssl:1", "threads:", "threads:0", "threads:65",
	    "threads:-1", "threads:2x", "threads:x", "thread",	 "threadsx",  " threads"};
	static const char *const good[] = {"openssl", "threads", "threads:1", "threads:64"};
	struct crypto_engine *e = (struct crypto_engine *)1;

	ck_assert_int_eq(crypto_engine_open(NULL, &e), -EINVAL);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(crypto_engine_open(bad[i], &e) == -EINVAL, "spec '%s' accepted",
			      bad[i]);
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(crypto_engine_open(good[i], &e), 0);
		ck_assert_str_eq(crypto_engine_name(e), good[i][0] == 'o' ? "openssl" : "threads");
		ck_assert_uint_eq(crypto_engine_pending(e), 0);
		crypto_engine_close(e);
	}
}
END_TEST

START_TEST(test_engine_set_key_refuses_bad_slot_and_length)
{
	uint8_t key[64];

	tmodel_xts_key(&rng_state, key, sizeof(key));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);

		ck_assert_int_eq(crypto_engine_set_key(e, 2, key, 64), -EINVAL);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, 0), -EINVAL);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, 16), -EINVAL);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, 48), -EINVAL);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, NULL, 64), -EINVAL);
		ck_assert_int_eq(crypto_engine_set_key(e, 1, key, 64), 0);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, 32), 0);
		crypto_engine_close(e);
	}
}
END_TEST

/* Both slots keyed differently and used by jobs in flight at once. */
START_TEST(test_engines_use_both_key_slots_at_once)
{
	enum { NR = 200 };
	uint8_t key0[64], key1[32];
	static uint8_t plain[NR][1024], got[NR][1024], want[1024];
	static struct crypto_job jobs[NR];
	struct crypto_job *list[NR];

	tmodel_xts_key(&rng_state, key0, sizeof(key0));
	tmodel_xts_key(&rng_state, key1, sizeof(key1));
	tmodel_rng_fill(&rng_state, &plain[0][0], sizeof(plain));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);

		ck_assert_int_eq(crypto_engine_set_key(e, 0, key0, sizeof(key0)), 0);
		ck_assert_int_eq(crypto_engine_set_key(e, 1, key1, sizeof(key1)), 0);
		for (unsigned j = 0; j < NR; j++) {
			jobs[j] = (struct crypto_job){.src = plain[j],
						      .dst = got[j],
						      .iv = j,
						      .sector_size = 512,
						      .nr_sectors = 2,
						      .key_slot = j % 2,
						      .dir = CRYPTO_ENCRYPT};
			list[j] = &jobs[j];
		}
		engine_run_jobs(e, list, NR);
		for (unsigned j = 0; j < NR; j++) {
			ck_assert_int_eq(jobs[j].result, 0);
			if (j % 2)
				model_job(key1, sizeof(key1), 1, j, 1, 512, 2, plain[j], want);
			else
				model_job(key0, sizeof(key0), 1, j, 1, 512, 2, plain[j], want);
			ck_assert_msg(memcmp(got[j], want, 1024) == 0, "%s: job %u (slot %u)",
				      engine_specs[i], j, j % 2);
		}
		crypto_engine_close(e);
	}
}
END_TEST

START_TEST(test_engines_clear_key_then_submit_is_enokey)
{
	uint8_t key[64], buf[512], copy[512];

	tmodel_xts_key(&rng_state, key, sizeof(key));
	tmodel_rng_fill(&rng_state, buf, sizeof(buf));
	memcpy(copy, buf, sizeof(buf));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);
		struct crypto_job job = {.src = buf,
					 .dst = buf,
					 .sector_size = 512,
					 .nr_sectors = 1,
					 .key_slot = 1,
					 .dir = CRYPTO_ENCRYPT,
					 .done = never_done};

		ck_assert_int_eq(crypto_engine_set_key(e, 1, key, sizeof(key)), 0);
		crypto_engine_clear_key(e, 1);
		ck_assert_int_eq(e->ops->submit(e, &job), -ENOKEY);
		ck_assert_int_eq(crypto_submit(e, &job), -ENOKEY);
		ck_assert_mem_eq(buf, copy, sizeof(buf));
		/* Keyed again, the slot works. */
		ck_assert_int_eq(crypto_engine_set_key(e, 1, key, sizeof(key)), 0);
		job.done = NULL;
		engine_run_job(e, &job);
		ck_assert(memcmp(buf, copy, sizeof(buf)) != 0);
		memcpy(buf, copy, sizeof(buf));
		crypto_engine_close(e);
	}
}
END_TEST

/* More jobs than the workers' rings hold: submit says -EBUSY, and every
 * accepted job still comes back exactly once. */
START_TEST(test_threads_engine_full_says_ebusy_and_returns_every_job)
{
	enum { NR = 1000 };
	static uint8_t bufs[NR][512];
	static struct crypto_job jobs[NR];
	uint8_t key[32];
	struct crypto_engine *e = engine_open("threads:2");
	unsigned accepted = 0, returned = 0;
	int err = 0;

	tmodel_xts_key(&rng_state, key, sizeof(key));
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
	for (unsigned j = 0; j < NR; j++)
		jobs[j] = (struct crypto_job){.src = bufs[j],
					      .dst = bufs[j],
					      .iv = j,
					      .sector_size = 512,
					      .nr_sectors = 1,
					      .dir = CRYPTO_ENCRYPT,
					      .result = 1};
	while (accepted < NR && (err = e->ops->submit(e, &jobs[accepted])) == 0)
		accepted++;
	ck_assert_int_eq(err, -EBUSY);
	ck_assert_uint_gt(accepted, 0);
	/* Still full until something is reaped, even once the workers are done. */
	while (returned < accepted) {
		struct crypto_job *list = e->ops->complete(e);

		if (!list)
			engine_wait(e);
		for (; list; list = list->next) {
			ck_assert_int_eq(list->result, 0);
			list->result = 2; /* seen */
			returned++;
		}
	}
	ck_assert_uint_eq(returned, accepted);
	for (unsigned j = 0; j < accepted; j++)
		ck_assert_int_eq(jobs[j].result, 2);
	crypto_engine_close(e);
}
END_TEST

struct loop_job {
	struct crypto_job job;
	unsigned index;
};

static unsigned done_count, done_order_ok;

static void loop_job_done(struct crypto_job *job)
{
	struct loop_job *lj = (struct loop_job *)job;

	ck_assert_int_eq(job->result, 0);
	if (lj->index == done_count)
		done_order_ok++;
	done_count++;
}

/* crypto_submit never refuses for lack of room: what the engine cannot take
 * waits in the backlog, in order, and the attached loop drains it. One
 * worker completes in submission order, so the order is visible. */
static void backlog_drains_through_loop(const char *spec, bool expect_backlog)
{
	enum { NR = 2000 };
	static uint8_t plain[NR][512], bufs[NR][512];
	static struct loop_job jobs[NR];
	uint8_t key[64], want[512];
	struct crypto_engine *e = engine_open(spec);
	struct loop *loop;

	tmodel_xts_key(&rng_state, key, sizeof(key));
	tmodel_rng_fill(&rng_state, &plain[0][0], sizeof(plain));
	memcpy(bufs, plain, sizeof(bufs));
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), -EBUSY);
	done_count = done_order_ok = 0;
	for (unsigned j = 0; j < NR; j++) {
		jobs[j] = (struct loop_job){.job = {.src = bufs[j],
						    .dst = bufs[j],
						    .iv = 5000 + j,
						    .sector_size = 512,
						    .nr_sectors = 1,
						    .dir = CRYPTO_ENCRYPT,
						    .done = loop_job_done},
					    .index = j};
		ck_assert_int_eq(crypto_submit(e, &jobs[j].job), 0);
	}
	ck_assert_uint_eq(crypto_engine_pending(e), NR - done_count);
	if (expect_backlog)
		ck_assert_ptr_nonnull(e->backlog_head);
	while (crypto_engine_pending(e) > 0)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	ck_assert_uint_eq(done_count, NR);
	ck_assert_uint_eq(done_order_ok, NR);
	for (unsigned j = 0; j < NR; j++) {
		tmodel_xts_sector(key, sizeof(key), 1, 5000 + j, plain[j], want, 512);
		ck_assert_mem_eq(bufs[j], want, 512);
	}
	crypto_engine_detach(e);
	while (loop_inflight(loop) > 0)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	loop_destroy(loop);
	crypto_engine_close(e);
}

START_TEST(test_threads_engine_backlog_keeps_order_and_drains)
{
	backlog_drains_through_loop("threads:1", true);
}
END_TEST

START_TEST(test_openssl_engine_through_loop_completes_in_order)
{
	backlog_drains_through_loop("openssl", false);
}
END_TEST

/* Thousands of jobs through crypto_submit and the loop, each encrypt's
 * done() submitting the decrypt of its output: ciphertext matches the model
 * and the plaintext comes back. */
enum { CHAIN_NR = 3000, CHAIN_LEN = 1024 };

struct chain {
	struct crypto_job job;
	struct crypto_engine *engine;
	uint8_t plain[CHAIN_LEN], ct[CHAIN_LEN], back[CHAIN_LEN];
	unsigned stage;
};

static unsigned chain_finished;

static void chain_done(struct crypto_job *job)
{
	struct chain *c = (struct chain *)job;

	ck_assert_int_eq(job->result, 0);
	if (c->stage++ == 0) {
		job->src = c->ct;
		job->dst = c->back;
		job->dir = CRYPTO_DECRYPT;
		ck_assert_int_eq(crypto_submit(c->engine, job), 0);
		return;
	}
	chain_finished++;
}

START_TEST(test_engines_through_loop_complete_thousands_of_chained_jobs)
{
	struct chain *chains = calloc(CHAIN_NR, sizeof(*chains));
	uint8_t key[32], want[CHAIN_LEN];

	ck_assert_ptr_nonnull(chains);
	tmodel_xts_key(&rng_state, key, sizeof(key));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open(engine_specs[i]);
		struct loop *loop;

		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
		ck_assert_int_eq(loop_create(64, &loop), 0);
		ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
		chain_finished = 0;
		for (unsigned j = 0; j < CHAIN_NR; j++) {
			struct chain *c = &chains[j];

			tmodel_rng_fill(&rng_state, c->plain, CHAIN_LEN);
			c->engine = e;
			c->stage = 0;
			c->job = (struct crypto_job){.src = c->plain,
						     .dst = c->ct,
						     .iv = (uint64_t)j * 2,
						     .sector_size = 512,
						     .nr_sectors = CHAIN_LEN / 512,
						     .dir = CRYPTO_ENCRYPT,
						     .done = chain_done};
			ck_assert_int_eq(crypto_submit(e, &c->job), 0);
			/* Let the loop run now and then, as a server would. */
			if (j % 100 == 99)
				ck_assert_int_eq(loop_run_once(loop, false), 0);
		}
		while (chain_finished < CHAIN_NR)
			ck_assert_int_eq(loop_run_once(loop, true), 0);
		ck_assert_uint_eq(crypto_engine_pending(e), 0);
		for (unsigned j = 0; j < CHAIN_NR; j++) {
			model_job(key, sizeof(key), 1, (uint64_t)j * 2, 1, 512, CHAIN_LEN / 512,
				  chains[j].plain, want);
			ck_assert_mem_eq(chains[j].ct, want, CHAIN_LEN);
			ck_assert_mem_eq(chains[j].back, chains[j].plain, CHAIN_LEN);
		}
		crypto_engine_detach(e);
		while (loop_inflight(loop) > 0)
			ck_assert_int_eq(loop_run_once(loop, true), 0);
		loop_destroy(loop);
		crypto_engine_close(e);
	}
	free(chains);
}
END_TEST

/* CPU time (clock ticks) of this process's threads named cryptblk-xts*. */
static unsigned long workers_cpu_ticks(void)
{
	DIR *dir = opendir("/proc/self/task");
	unsigned long total = 0;
	struct dirent *d;

	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir)) != NULL) {
		char path[300], line[512];
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f) && strstr(line, "(cryptblk-xts")) {
			unsigned long utime, stime;
			const char *rest = strrchr(line, ')') + 2;

			ck_assert_int_eq(
			    sscanf(rest, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				   &utime, &stime),
			    2);
			total += utime + stime;
		}
		fclose(f);
	}
	closedir(dir);
	return total;
}

/* Idle workers sleep on their futex instead of polling their rings: over
 * half a second they use (almost) no CPU, before and after some work. */
START_TEST(test_threads_engine_idle_workers_use_no_cpu)
{
	struct crypto_engine *e = engine_open("threads:2");
	uint8_t key[32], buf[4096];
	struct crypto_job job = {
	    .src = buf, .dst = buf, .sector_size = 4096, .nr_sectors = 1, .dir = CRYPTO_ENCRYPT};
	unsigned long before;

	tmodel_xts_key(&rng_state, key, sizeof(key));
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), 0);
	for (unsigned round = 0; round < 2; round++) {
		before = workers_cpu_ticks();
		usleep(500 * 1000);
		/* 50 ticks would be one busy CPU; allow scheduling noise. */
		ck_assert_uint_le(workers_cpu_ticks() - before, 2);
		engine_run_job(e, &job);
	}
	crypto_engine_close(e);
}
END_TEST

START_TEST(test_crypto_buf_alloc_is_4096_aligned)
{
	struct crypto_engine *e = engine_open("threads:1");
	uint8_t *a = crypto_buf_alloc(e, 131072), *b = crypto_buf_alloc(NULL, 100);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq((uintptr_t)a % 4096, 0);
	ck_assert_uint_eq((uintptr_t)b % 4096, 0);
	memset(a, 1, 131072);
	memset(b, 1, 100);
	crypto_buf_free(e, a, 131072);
	crypto_buf_free(NULL, b, 100);
	crypto_engine_close(e);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_engines_match_model_512_aes128_out_of_place);
	tcase_add_test(tc, test_engines_match_model_512_aes256_in_place);
	tcase_add_test(tc, test_engines_match_model_4096_aes128_in_place);
	tcase_add_test(tc, test_engines_match_model_4096_aes256_out_of_place);
	tcase_add_test(tc, test_engines_match_model_1024_and_2048_aes256);
	tcase_add_test(tc, test_engines_4096_sector_k_uses_iv_plus_8k);
	tcase_add_test(tc, test_engines_large_sectors_flag_uses_iv_plus_k);
	tcase_add_test(tc, test_engines_refuse_bad_jobs_without_running_them);
	tcase_add_test(tc, test_engine_open_parses_specs);
	tcase_add_test(tc, test_engine_set_key_refuses_bad_slot_and_length);
	tcase_add_test(tc, test_engines_use_both_key_slots_at_once);
	tcase_add_test(tc, test_engines_clear_key_then_submit_is_enokey);
	tcase_add_test(tc, test_threads_engine_full_says_ebusy_and_returns_every_job);
	tcase_add_test(tc, test_threads_engine_backlog_keeps_order_and_drains);
	tcase_add_test(tc, test_openssl_engine_through_loop_completes_in_order);
	tcase_add_test(tc, test_engines_through_loop_complete_thousands_of_chained_jobs);
	tcase_add_test(tc, test_threads_engine_idle_workers_use_no_cpu);
	tcase_add_test(tc, test_crypto_buf_alloc_is_4096_aligned);
}

int main(void)
{
	return unit_run("crypto_engines", add_tests);
}
