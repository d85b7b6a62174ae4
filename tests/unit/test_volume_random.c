/* Thousands of random reads and writes in flight at once through the volume
 * pipeline, checked against an in-memory plaintext model, and the ciphertext
 * on disk checked with raw OpenSSL and an IV computed here. */
#include <cryptblk/volume.h>

#include "helper_refusing_engine.h"
#include "helper_volume.h"

#include "helper_check.h"
#include "helper_model.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define VOL_SIZE    (24u * 1024 * 1024)
#define DATA_OFFSET (1024u * 1024 + 3 * 4096)
#define FILE_TAIL   (64u * 1024)
#define IV_TWEAK    12345u
#define TOTAL	    5000u
#define CONCURRENT  64u
#define MAX_LEN	    (512u * 1024)
#define SMALL_LEN   (32u * 1024)
#define FILE_SEED   99u

struct run;

struct slot {
	struct volume_req req;
	uint8_t *base; /* MAX_LEN + 4096 bytes, page aligned */
	struct run *run;
	bool busy;
};

struct run {
	struct helper_volume h;
	uint8_t *model;	  /* the plaintext the volume must hold */
	uint8_t *claimed; /* per sector: an in-flight request covers it */
	uint32_t ss;
	uint64_t rng;
	unsigned submitted, completed, writes, reads;
	struct slot slots[CONCURRENT];
};

static void claim(struct run *r, uint64_t off, uint64_t len, uint8_t value)
{
	memset(r->claimed + off / r->ss, value, len / r->ss);
}

static bool is_free(const struct run *r, uint64_t off, uint64_t len)
{
	for (uint64_t s = off / r->ss; s < (off + len) / r->ss; s++)
		if (r->claimed[s])
			return false;
	return true;
}

/* A random sector-aligned range nobody has in flight: mostly small, a
 * quarter up to MAX_LEN so they split into several chunks. */
static bool pick_range(struct run *r, uint64_t *off, uint64_t *len)
{
	uint64_t nsectors = VOL_SIZE / r->ss;

	for (unsigned tries = 0; tries < 64; tries++) {
		uint64_t max = (tmodel_rng_next(&r->rng) % 4 == 0 ? MAX_LEN : SMALL_LEN) / r->ss;
		uint64_t n = 1 + tmodel_rng_next(&r->rng) % max;
		uint64_t first = tmodel_rng_next(&r->rng) % (nsectors - n + 1);

		if (is_free(r, first * r->ss, n * r->ss)) {
			*off = first * r->ss;
			*len = n * r->ss;
			return true;
		}
	}
	return false;
}

static void slot_done(struct volume_req *req, int res);

static void slot_start(struct slot *slot)
{
	struct run *r = slot->run;
	struct volume_req *req = &slot->req;
	uint64_t off, len;
	bool write;

	if (r->submitted == TOTAL || !pick_range(r, &off, &len))
		return;
	write = tmodel_rng_next(&r->rng) & 1;
	memset(req, 0, sizeof(*req));
	req->op = write ? VOLUME_WRITE : VOLUME_READ;
	req->offset = off;
	req->len = len;
	/* Page aligned (O_DIRECT eligible) or not. */
	req->buf = slot->base + (tmodel_rng_next(&r->rng) & 1 ? 0 : 16);
	req->done = slot_done;
	req->priv = slot;
	if (write) {
		tmodel_rng_fill(&r->rng, req->buf, len);
		memcpy(r->model + off, req->buf, len);
		if (tmodel_rng_next(&r->rng) % 64 == 0)
			req->flags = VOLUME_F_FUA;
		r->writes++;
	} else {
		memset(req->buf, 0xcc, len);
		r->reads++;
	}
	claim(r, off, len, 1);
	slot->busy = true;
	r->submitted++;
	volume_submit(r->h.vol, req);
}

static void slot_done(struct volume_req *req, int res)
{
	struct slot *slot = req->priv;
	struct run *r = slot->run;

	ck_assert_msg(res == 0, "request %s [%llu, +%llu) failed: %d",
		      req->op == VOLUME_READ ? "read" : "write", (unsigned long long)req->offset,
		      (unsigned long long)req->len, res);
	ck_assert(slot->busy);
	/* A read returns the model; a write leaves the caller's plaintext
	 * exactly as it was (the model holds a copy). */
	ck_assert_msg(memcmp(req->buf, r->model + req->offset, req->len) == 0,
		      "%s [%llu, +%llu) does not match the model",
		      req->op == VOLUME_READ ? "read" : "write", (unsigned long long)req->offset,
		      (unsigned long long)req->len);
	claim(r, req->offset, req->len, 0);
	slot->busy = false;
	r->completed++;
	/* Keep the queue full from inside the completion, as a frontend does. */
	slot_start(slot);
}

/* Write the whole volume once so the model is known everywhere. */
static void run_fill(struct run *r)
{
	uint8_t *buf = malloc(VOL_SIZE);

	ck_assert_ptr_nonnull(buf);
	tmodel_rng_fill(&r->rng, buf, VOL_SIZE);
	memcpy(r->model, buf, VOL_SIZE);
	ck_assert_int_eq(helper_volume_run(&r->h, VOLUME_WRITE, 0, 0, VOL_SIZE, buf), 0);
	free(buf);
}

/* Decrypt sectors of the file with raw OpenSSL and the IV rule of LUKS:
 * plain64 in 512-byte units from the start of the data segment. */
static void check_ciphertext(struct run *r, unsigned samples)
{
	uint8_t *cipher = malloc(r->ss), *plain = malloc(r->ss);
	uint64_t nsectors = VOL_SIZE / r->ss;

	for (unsigned i = 0; i < samples; i++) {
		uint64_t s = i == 0   ? 0
			     : i == 1 ? nsectors - 1
				      : tmodel_rng_next(&r->rng) % nsectors;
		uint64_t off = s * r->ss;

		ck_assert_int_eq(helper_file_pread(r->h.path, cipher, r->ss, DATA_OFFSET + off), 0);
		tmodel_xts_sector(r->h.key, HELPER_VOLUME_KEY_LEN, false, off / 512 + IV_TWEAK,
				  cipher, plain, r->ss);
		ck_assert_msg(memcmp(plain, r->model + off, r->ss) == 0,
			      "sector %llu on disk does not decrypt to the model",
			      (unsigned long long)s);
		ck_assert_msg(memcmp(cipher, plain, r->ss) != 0, "sector %llu stored in clear",
			      (unsigned long long)s);
	}
	free(cipher);
	free(plain);
}

/* Nothing outside the data segment was written. */
static void check_outside_segment(struct run *r)
{
	uint8_t *buf = malloc(DATA_OFFSET);

	ck_assert_int_eq(helper_file_pread(r->h.path, buf, DATA_OFFSET, 0), 0);
	for (uint64_t i = 0; i < DATA_OFFSET; i++)
		if (buf[i] != helper_pattern_byte(FILE_SEED, i))
			ck_abort_msg("byte %llu before the data segment changed",
				     (unsigned long long)i);
	ck_assert_int_eq(helper_file_pread(r->h.path, buf, FILE_TAIL, DATA_OFFSET + VOL_SIZE), 0);
	for (uint64_t i = 0; i < FILE_TAIL; i++)
		if (buf[i] != helper_pattern_byte(FILE_SEED, DATA_OFFSET + VOL_SIZE + i))
			ck_abort_msg("byte %llu after the data segment changed",
				     (unsigned long long)i);
	free(buf);
}

struct config {
	const char *engine;
	uint32_t sector_size;
	bool refusing;
	unsigned backend_flags;
};

static const struct config configs[] = {
    {"openssl", 512, false, 0},
    {"openssl", 4096, false, BACKEND_FILE_DIRECT},
    {"threads:2", 512, false, BACKEND_FILE_DIRECT},
    {"threads:2", 4096, false, 0},
    {"openssl", 4096, true, 0},
    {"threads:2", 512, true, BACKEND_FILE_DIRECT},
};

static void run_random(const struct config *c)
{
	struct run *r = calloc(1, sizeof(*r));
	struct helper_volume_opts opts = {
	    .engine = c->engine,
	    .refusing = c->refusing,
	    .backend_flags = c->backend_flags,
	    .file_size = DATA_OFFSET + VOL_SIZE + FILE_TAIL,
	    .file_seed = FILE_SEED,
	    .layout =
		{
		    .data_offset = DATA_OFFSET,
		    .size = VOL_SIZE,
		    .sector_size = c->sector_size,
		    .iv_tweak = IV_TWEAK,
		    .key_slot = 1,
		},
	};

	ck_assert_ptr_nonnull(r);
	r->ss = c->sector_size;
	r->rng = 0x1234567890abcdefull ^ c->sector_size;
	r->model = malloc(VOL_SIZE);
	r->claimed = calloc(VOL_SIZE / r->ss, 1);
	helper_volume_open(&r->h, &opts);
	run_fill(r);
	for (unsigned i = 0; i < CONCURRENT; i++) {
		r->slots[i].run = r;
		ck_assert_int_eq(posix_memalign((void **)&r->slots[i].base, 4096, MAX_LEN + 4096),
				 0);
	}
	/* Start from outside the loop's callbacks, then keep refilling. */
	while (r->completed < TOTAL) {
		for (unsigned i = 0; i < CONCURRENT; i++)
			if (!r->slots[i].busy)
				slot_start(&r->slots[i]);
		ck_assert_int_eq(loop_run_once(r->h.loop, true), 0);
	}
	ck_assert_uint_eq(r->submitted, TOTAL);
	ck_assert_uint_gt(r->reads, TOTAL / 4);
	ck_assert_uint_gt(r->writes, TOTAL / 4);
	ck_assert_uint_eq(volume_inflight(r->h.vol), 0);
	if (c->refusing) {
		ck_assert_uint_gt(helper_refusing_engine_refusals(r->h.engine), TOTAL);
		ck_assert_uint_le(helper_refusing_engine_max_inflight(r->h.engine), 2);
	}
	check_ciphertext(r, 256);
	check_outside_segment(r);
	helper_volume_close(&r->h);
	for (unsigned i = 0; i < CONCURRENT; i++)
		free(r->slots[i].base);
	free(r->model);
	free(r->claimed);
	free(r);
}

START_TEST(test_volume_random_io_matches_model)
{
	run_random(&configs[_i]);
}
END_TEST

static void add_tests(TCase *tc)
{
	/* 0-3: openssl and threads:2, 512 and 4096-byte sectors; 4-5: the same
	 * behind an engine that keeps refusing work. */
	tcase_add_loop_test(tc, test_volume_random_io_matches_model, 0,
			    (int)(sizeof(configs) / sizeof(configs[0])));
	tcase_set_timeout(tc, 120);
}

int main(void)
{
	return unit_run("volume_random", add_tests);
}
