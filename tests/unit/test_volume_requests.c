/* The volume pipeline request by request: validation, zero, trim, flush and
 * FUA, failures of the backend and of the engine, the sector math. The
 * ciphertext is checked against raw OpenSSL with IVs computed here. */
#include <cryptblk/volume.h>

#include "helper_model.h"
#include "helper_volume.h"

#include "helper_check.h"
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DATA_OFFSET (64u * 1024)
#define VOL_SIZE    (4u * 1024 * 1024)
#define FILE_SIZE   (DATA_OFFSET + VOL_SIZE + 4096)
#define IV_TWEAK    77u
#define FILE_SEED   5u

static struct helper_volume_opts opts_default(void)
{
	struct helper_volume_opts o = {
	    .engine = "openssl",
	    .file_size = FILE_SIZE,
	    .file_seed = FILE_SEED,
	    .layout =
		{
		    .data_offset = DATA_OFFSET,
		    .size = VOL_SIZE,
		    .sector_size = 512,
		    .iv_tweak = IV_TWEAK,
		},
	};
	return o;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* The raw bytes of the file under plaintext offset `off`. */
static void raw_read(struct helper_volume *h, void *buf, size_t len, uint64_t off)
{
	ck_assert_int_eq(helper_file_pread(h->path, buf, len, DATA_OFFSET + off), 0);
}

static blkcnt_t file_blocks(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_blocks;
}

START_TEST(test_layout_iv_counts_512_byte_units)
{
	struct volume_layout l = {.sector_size = 4096, .iv_tweak = 5};

	ck_assert_uint_eq(volume_layout_iv(&l, 0), 5);
	ck_assert_uint_eq(volume_layout_iv(&l, 4096), 13);
	ck_assert_uint_eq(volume_layout_iv(&l, 3 * 4096), 29);
	l.iv_large_sectors = true;
	ck_assert_uint_eq(volume_layout_iv(&l, 3 * 4096), 8);
	l = (struct volume_layout){.sector_size = 512};
	ck_assert_uint_eq(volume_layout_iv(&l, 512 * 1000), 1000);
	ck_assert_uint_eq(volume_layout_iv(&l, 1ull << 40), 1ull << 31);
}
END_TEST

START_TEST(test_open_rejects_bad_layouts)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	struct volume_layout bad[5];
	struct volume *vol;

	helper_volume_open(&h, &o);
	for (unsigned i = 0; i < 5; i++)
		bad[i] = o.layout;
	bad[0].sector_size = 3000;
	bad[1].sector_size = 256;
	bad[2].size = VOL_SIZE + 100;	       /* not whole sectors */
	bad[3].data_offset = FILE_SIZE - 4096; /* runs past the backend */
	bad[4].key_slot = CRYPTO_KEY_SLOTS;
	for (unsigned i = 0; i < 5; i++) {
		vol = (struct volume *)&h; /* must be cleared */
		ck_assert_int_eq(volume_open(h.be, h.engine, h.loop, &bad[i], &vol), -EINVAL);
		ck_assert_ptr_null(vol);
	}
	ck_assert_uint_eq(volume_size(h.vol), VOL_SIZE);
	ck_assert_uint_eq(volume_sector_size(h.vol), 512);
	helper_volume_close(&h);
}
END_TEST

START_TEST(test_bad_requests_fail_from_the_loop)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t buf[4096];

	o.layout.sector_size = 4096;
	helper_volume_open(&h, &o);
	/* helper_volume_run asserts done() is not called inside submit. */
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 512, 4096, buf), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, 512, buf), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 0, buf), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 4096, NULL), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, 42, 0, 0, 4096, buf), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, VOL_SIZE, 4096, buf), -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_TRIM, 0, VOL_SIZE - 4096, 8192, NULL),
			 -EINVAL);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, VOL_SIZE - 4096, 8192, buf),
			 -ENOSPC);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, 0, VOL_SIZE, 4096, NULL), -ENOSPC);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, UINT64_MAX - 4095, 4096, buf),
			 -ENOSPC);
	/* The last sector is inside. */
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, VOL_SIZE - 4096, 4096, buf), 0);
	helper_volume_close(&h);
}
END_TEST

START_TEST(test_read_only_volume_refuses_changes)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t buf[512], raw[512];

	o.backend_flags = BACKEND_FILE_READONLY;
	helper_volume_open(&h, &o);
	ck_assert(volume_read_only(h.vol));
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, 512, buf), -EPERM);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, 0, 0, 512, NULL), -EPERM);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_TRIM, 0, 0, 512, NULL), -EPERM);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 512, buf), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_FLUSH, 0, 0, 0, NULL), 0);
	raw_read(&h, raw, sizeof(raw), 0);
	for (unsigned i = 0; i < sizeof(raw); i++)
		ck_assert_uint_eq(raw[i], helper_pattern_byte(FILE_SEED, DATA_OFFSET + i));
	helper_volume_close(&h);
}
END_TEST

START_TEST(test_write_then_read_across_chunks)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t off = 3 * 512, len = 3 * VOLUME_CHUNK_MAX + 512;
	struct helper_volume h;
	uint8_t *data = malloc(len), *copy = malloc(len), *back = malloc(len);

	helper_volume_open(&h, &o);
	fill(data, len, 1);
	memcpy(copy, data, len);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, off, len, data), 0);
	ck_assert_mem_eq(data, copy, len); /* the caller's plaintext is untouched */
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, off, len, back), 0);
	ck_assert_mem_eq(back, copy, len);
	/* Across a chunk boundary the disk holds XTS of each sector with its
	 * own plain64 IV. */
	for (uint64_t s = VOLUME_CHUNK_MAX / 512 - 1; s <= VOLUME_CHUNK_MAX / 512 + 1; s++) {
		uint8_t raw[512], plain[512];

		raw_read(&h, raw, 512, off + s * 512);
		tmodel_xts_sector(h.key, HELPER_VOLUME_KEY_LEN, false,
				  (off + s * 512) / 512 + IV_TWEAK, raw, plain, 512);
		ck_assert_mem_eq(plain, copy + s * 512, 512);
	}
	helper_volume_close(&h);
	free(data);
	free(copy);
	free(back);
}
END_TEST

START_TEST(test_iv_large_sectors_count_whole_sectors)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t data[3 * 4096], raw[4096], plain[4096];

	o.layout.sector_size = 4096;
	o.layout.iv_large_sectors = true;
	helper_volume_open(&h, &o);
	fill(data, sizeof(data), 9);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 5 * 4096, sizeof(data), data), 0);
	for (unsigned i = 0; i < 3; i++) {
		raw_read(&h, raw, 4096, (5 + i) * 4096);
		tmodel_xts_sector(h.key, HELPER_VOLUME_KEY_LEN, false, 5 + i + IV_TWEAK, raw, plain,
				  4096);
		ck_assert_mem_eq(plain, data + i * 4096, 4096);
	}
	helper_volume_close(&h);
}
END_TEST

/* VOLUME_F_CLOBBER: the write lands as ciphertext on disk, reads back as
 * the plaintext, and the caller's buffer was encrypted in place (it now
 * holds exactly what is on disk) across more than one chunk. */
START_TEST(test_clobber_write_encrypts_the_callers_buffer_in_place)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t len = VOLUME_CHUNK_MAX + 8192, off = 3 * 4096;
	struct helper_volume h;
	uint8_t *data = malloc(len), *plain = malloc(len), *raw = malloc(len);

	helper_volume_open(&h, &o);
	fill(plain, len, 21);
	memcpy(data, plain, len);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, VOLUME_F_CLOBBER, off, len, data), 0);
	raw_read(&h, raw, len, off);
	ck_assert_mem_eq(data, raw, len);
	ck_assert(memcmp(data, plain, 4096) != 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, off, len, data), 0);
	ck_assert_mem_eq(data, plain, len);
	helper_volume_close(&h);
	free(data);
	free(plain);
	free(raw);
}
END_TEST

START_TEST(test_zero_writes_encrypted_zeros)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t len = 2 * VOLUME_CHUNK_MAX + 4096;
	struct helper_volume h;
	uint8_t *data = malloc(len + 8192), *back = malloc(len + 8192);
	uint8_t zeros[512] = {0}, expect[512], raw[512];

	helper_volume_open(&h, &o);
	fill(data, len + 8192, 3);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, len + 8192, data), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, 0, 4096, len, NULL), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, len + 8192, back), 0);
	ck_assert_mem_eq(back, data, 4096);
	ck_assert(all_zero(back + 4096, len));
	ck_assert_mem_eq(back + 4096 + len, data + 4096 + len, 4096);
	/* On disk: ciphertext of zeros, not a hole. */
	raw_read(&h, raw, 512, 4096 + VOLUME_CHUNK_MAX);
	tmodel_xts_sector(h.key, HELPER_VOLUME_KEY_LEN, true,
			  (4096 + VOLUME_CHUNK_MAX) / 512 + IV_TWEAK, zeros, expect, 512);
	ck_assert_mem_eq(raw, expect, 512);
	helper_volume_close(&h);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_zero_may_punch_makes_a_hole)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *raw = malloc(65536);
	blkcnt_t before;

	helper_volume_open(&h, &o);
	ck_assert(h.be->can_discard);
	before = file_blocks(h.path);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, VOLUME_F_MAY_PUNCH, 65536, 65536, NULL),
			 0);
	raw_read(&h, raw, 65536, 65536);
	ck_assert(all_zero(raw, 65536));
	ck_assert_int_lt(file_blocks(h.path), before);
	helper_volume_close(&h);
	free(raw);
}
END_TEST

START_TEST(test_zero_may_punch_without_discard_writes_zeros)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *back = malloc(65536), raw[512];

	o.fault = true;
	helper_volume_open(&h, &o);
	h.be->can_discard = false; /* as a block device would say */
	ck_assert_int_eq(backend_fault_add(h.be, BACKEND_DISCARD, 0, FILE_SIZE, -EOPNOTSUPP), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, VOLUME_F_MAY_PUNCH, 0, 65536, NULL), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 65536, back), 0);
	ck_assert(all_zero(back, 65536));
	raw_read(&h, raw, 512, 0);
	ck_assert(!all_zero(raw, 512));
	helper_volume_close(&h);
	free(back);
}
END_TEST

START_TEST(test_trim_without_allow_discards_keeps_data)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *data = malloc(65536), *back = malloc(65536), *raw = malloc(65536);

	helper_volume_open(&h, &o);
	fill(data, 65536, 4);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, 65536, data), 0);
	raw_read(&h, raw, 65536, 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_TRIM, 0, 0, 65536, NULL), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 65536, back), 0);
	ck_assert_mem_eq(back, data, 65536);
	raw_read(&h, back, 65536, 0);
	ck_assert_mem_eq(back, raw, 65536);
	helper_volume_close(&h);
	free(data);
	free(back);
	free(raw);
}
END_TEST

START_TEST(test_trim_with_allow_discards_punches)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *data = malloc(3 * 65536), *raw = malloc(3 * 65536);

	o.layout.allow_discards = true;
	helper_volume_open(&h, &o);
	fill(data, 3 * 65536, 6);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, 3 * 65536, data), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_TRIM, 0, 65536, 65536, NULL), 0);
	raw_read(&h, raw, 3 * 65536, 0);
	ck_assert(all_zero(raw + 65536, 65536));
	ck_assert(!all_zero(raw, 512));
	ck_assert(!all_zero(raw + 2 * 65536, 512));
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, 65536, raw), 0);
	ck_assert_mem_eq(raw, data, 65536);
	helper_volume_close(&h);
	free(data);
	free(raw);
}
END_TEST

START_TEST(test_flush_then_reopen_reads_back)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *data = malloc(VOLUME_CHUNK_MAX * 2), *back = malloc(VOLUME_CHUNK_MAX * 2);

	o.engine = "threads:2";
	o.backend_flags = BACKEND_FILE_DIRECT;
	helper_volume_open(&h, &o);
	fill(data, VOLUME_CHUNK_MAX * 2, 8);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 8192, VOLUME_CHUNK_MAX * 2, data),
			 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_FLUSH, 0, 0, 0, NULL), 0);
	helper_volume_reopen(&h);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 8192, VOLUME_CHUNK_MAX * 2, back),
			 0);
	ck_assert_mem_eq(back, data, VOLUME_CHUNK_MAX * 2);
	helper_volume_close(&h);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_fua_write_waits_for_a_flush)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t buf[8192];

	o.fault = true;
	helper_volume_open(&h, &o);
	fill(buf, sizeof(buf), 2);
	/* A failing flush shows up only in requests that flush. */
	ck_assert_int_eq(backend_fault_add(h.be, BACKEND_FLUSH, 0, 0, -EIO), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, sizeof(buf), buf), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, VOLUME_F_FUA, 0, sizeof(buf), buf),
			 -EIO);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, VOLUME_F_FUA, 0, 512, NULL), -EIO);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_FLUSH, 0, 0, 0, NULL), -EIO);
	/* A read ignores FUA. */
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, VOLUME_F_FUA, 0, sizeof(buf), buf), 0);
	backend_fault_clear(h.be);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, VOLUME_F_FUA, 0, sizeof(buf), buf), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_FLUSH, 0, 0, 0, NULL), 0);
	helper_volume_close(&h);
}
END_TEST

START_TEST(test_backend_fault_fails_only_requests_touching_it)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t bad = 3 * VOLUME_CHUNK_MAX + 4096; /* plaintext offset of the fault */
	struct helper_volume h;
	uint8_t *data = malloc(VOL_SIZE), *back = malloc(VOL_SIZE), *other = malloc(VOL_SIZE);

	o.fault = true;
	helper_volume_open(&h, &o);
	fill(data, VOL_SIZE, 11);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, VOL_SIZE, data), 0);
	ck_assert_int_eq(backend_fault_add(h.be, BACKEND_READ, DATA_OFFSET + bad, 512, -EIO), 0);
	ck_assert_int_eq(backend_fault_add(h.be, BACKEND_WRITE, DATA_OFFSET + bad, 512, -ENOSPC),
			 0);

	/* Multi-chunk requests over the bad sector fail with its errno, the
	 * sectors next to it do not. */
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, VOL_SIZE, back), -EIO);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, bad + 512, 65536, back), 0);
	ck_assert_mem_eq(back, data + bad + 512, 65536);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, bad - 65536, 65536, back), 0);
	ck_assert_mem_eq(back, data + bad - 65536, 65536);
	fill(other, VOL_SIZE, 12);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, bad - 65536, 4 * 65536, other),
			 -ENOSPC);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, 0, bad, 512, NULL), -ENOSPC);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, bad - 65536 - 512, 512, other), 0);
	memcpy(data + bad - 65536 - 512, other, 512);

	/* Everything outside the failed write reads back intact. */
	backend_fault_clear(h.be);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, VOL_SIZE, back), 0);
	ck_assert_mem_eq(back, data, bad - 65536);
	ck_assert_mem_eq(back + bad + 3 * 65536, data + bad + 3 * 65536,
			 VOL_SIZE - bad - 3 * 65536);
	/* The faulted sector itself never changed. */
	ck_assert_mem_eq(back + bad, data + bad, 512);
	helper_volume_close(&h);
	free(data);
	free(back);
	free(other);
}
END_TEST

START_TEST(test_engine_without_key_fails_requests)
{
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	uint8_t *buf = malloc(VOLUME_CHUNK_MAX * 2), raw[512];

	helper_volume_open(&h, &o);
	crypto_engine_clear_key(h.engine, o.layout.key_slot);
	fill(buf, VOLUME_CHUNK_MAX * 2, 1);
	ck_assert_int_lt(helper_volume_run(&h, VOLUME_READ, 0, 0, VOLUME_CHUNK_MAX * 2, buf), 0);
	ck_assert_int_lt(helper_volume_run(&h, VOLUME_WRITE, 0, 0, VOLUME_CHUNK_MAX * 2, buf), 0);
	ck_assert_int_lt(helper_volume_run(&h, VOLUME_ZERO, 0, 0, 512, NULL), 0);
	/* Nothing reached the disk. */
	raw_read(&h, raw, 512, 0);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(raw[i], helper_pattern_byte(FILE_SEED, DATA_OFFSET + i));
	helper_volume_close(&h);
	free(buf);
}
END_TEST

static void bound_done(struct volume_req *req, int res)
{
	ck_assert_int_eq(res, 0);
	*(bool *)req->priv = true;
}

/* The data in flight stays within VOLUME_BYTES_INFLIGHT_MAX (32 MiB): with
 * every crypto job held 50 ms by the delay engine, a 40 MiB write has at
 * most 32 of its 1 MiB chunks in the engine at once, then all of it lands. */
START_TEST(test_write_keeps_data_in_flight_within_the_byte_bound)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t size = 40u * 1024 * 1024;
	struct helper_volume h;
	struct volume_req req = {.op = VOLUME_WRITE, .offset = 0, .len = size};
	uint8_t *data = malloc(size), *back = malloc(size);
	unsigned most = 0;
	bool done = false;

	o.engine = "delay:50ms,openssl";
	o.file_size = DATA_OFFSET + size;
	o.file_seed = 0;
	o.layout.size = size;
	o.layout.sector_size = 4096;
	helper_volume_open(&h, &o);
	fill(data, size, 17);
	req.buf = data;
	req.done = bound_done;
	req.priv = &done;
	volume_submit(h.vol, &req);
	while (!done) {
		unsigned pending;

		ck_assert_int_eq(loop_run_once(h.loop, true), 0);
		pending = crypto_engine_pending(h.engine);
		most = pending > most ? pending : most;
	}
	ck_assert_uint_eq(most, (32u << 20) / VOLUME_CHUNK_MAX);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, size, back), 0);
	ck_assert(memcmp(back, data, size) == 0);
	helper_volume_close(&h);
	free(data);
	free(back);
}
END_TEST

START_TEST(test_request_larger_than_the_pipeline_limit)
{
	struct helper_volume_opts o = opts_default();
	const uint64_t size = 40u * 1024 * 1024; /* 40 chunks: more data than runs at once */
	struct helper_volume h;
	uint8_t *data = malloc(size), *back = malloc(size);

	o.file_size = DATA_OFFSET + size;
	o.file_seed = 0;
	o.layout.size = size;
	o.layout.sector_size = 4096;
	helper_volume_open(&h, &o);
	fill(data, size, 13);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_WRITE, 0, 0, size, data), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, size, back), 0);
	ck_assert(memcmp(back, data, size) == 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_ZERO, 0, 0, size, NULL), 0);
	ck_assert_int_eq(helper_volume_run(&h, VOLUME_READ, 0, 0, size, back), 0);
	ck_assert(all_zero(back, size));
	helper_volume_close(&h);
	free(data);
	free(back);
}
END_TEST

struct counted {
	struct volume_req req;
	unsigned calls;
	int res;
};

static void counted_done(struct volume_req *req, int res)
{
	struct counted *c = req->priv;

	c->calls++;
	c->res = res;
}

START_TEST(test_each_request_done_exactly_once)
{
	enum { N = 40 };
	struct helper_volume_opts o = opts_default();
	struct helper_volume h;
	struct counted c[N];
	uint8_t *bufs = malloc((size_t)N * 65536);

	o.engine = "threads:2";
	helper_volume_open(&h, &o);
	/* A mix of good and bad requests, all queued before the loop turns. */
	for (unsigned i = 0; i < N; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].req.op = i % 3 == 0 ? VOLUME_WRITE : i % 3 == 1 ? VOLUME_READ : VOLUME_FLUSH;
		c[i].req.offset = (uint64_t)i * 65536 + (i % 7 == 0 ? 1 : 0);
		c[i].req.len = c[i].req.op == VOLUME_FLUSH ? 0 : 65536;
		c[i].req.buf = bufs + (size_t)i * 65536;
		c[i].req.done = counted_done;
		c[i].req.priv = &c[i];
		volume_submit(h.vol, &c[i].req);
	}
	ck_assert_uint_ge(volume_inflight(h.vol), N);
	while (volume_inflight(h.vol) > 0)
		ck_assert_int_eq(loop_run_once(h.loop, true), 0);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(c[i].calls, 1);
		if (i % 7 == 0 && c[i].req.op != VOLUME_FLUSH)
			ck_assert_int_eq(c[i].res, -EINVAL);
		else
			ck_assert_int_eq(c[i].res, 0);
	}
	helper_volume_close(&h);
	free(bufs);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_layout_iv_counts_512_byte_units);
	tcase_add_test(tc, test_open_rejects_bad_layouts);
	tcase_add_test(tc, test_bad_requests_fail_from_the_loop);
	tcase_add_test(tc, test_read_only_volume_refuses_changes);
	tcase_add_test(tc, test_each_request_done_exactly_once);
	tcase_add_test(tc, test_write_then_read_across_chunks);
	tcase_add_test(tc, test_iv_large_sectors_count_whole_sectors);
	tcase_add_test(tc, test_clobber_write_encrypts_the_callers_buffer_in_place);
	tcase_add_test(tc, test_zero_writes_encrypted_zeros);
	tcase_add_test(tc, test_zero_may_punch_makes_a_hole);
	tcase_add_test(tc, test_zero_may_punch_without_discard_writes_zeros);
	tcase_add_test(tc, test_trim_without_allow_discards_keeps_data);
	tcase_add_test(tc, test_trim_with_allow_discards_punches);
	tcase_add_test(tc, test_flush_then_reopen_reads_back);
	tcase_add_test(tc, test_request_larger_than_the_pipeline_limit);
	tcase_add_test(tc, test_write_keeps_data_in_flight_within_the_byte_bound);
	tcase_add_test(tc, test_fua_write_waits_for_a_flush);
	tcase_add_test(tc, test_backend_fault_fails_only_requests_touching_it);
	tcase_add_test(tc, test_engine_without_key_fails_requests);
}

int main(void)
{
	return unit_run("volume_requests", add_tests);
}
