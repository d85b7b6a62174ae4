/* SET_PARAMS contents from a volume's geometry, checked against the rules
 * the ublk driver applies (logical shift 9..12, logical <= physical,
 * max_sectors <= max I/O / 512, discard granularity non-zero and one
 * segment) and against what the block layer must be told. */
#include "frontend/ublk/ublk_int.h"

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <string.h>

static struct ublk_params build(uint64_t size, uint32_t sector, bool ro, bool discard)
{
	struct ublk_params_in in = {.size = size,
				    .sector_size = sector,
				    .max_io = 512 * 1024,
				    .read_only = ro,
				    .discard = discard};
	struct ublk_params p;

	memset(&p, 0xee, sizeof(p));
	ck_assert_int_eq(ublk_params_build(&in, &p), 0);
	return p;
}

START_TEST(test_ublk_params_block_sizes_are_the_volume_sector)
{
	struct ublk_params p = build(64ull << 20, 4096, false, false);

	ck_assert_uint_eq(p.len, 112);
	ck_assert_uint_eq(p.types, UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD);
	ck_assert_uint_eq(p.basic.logical_bs_shift, 12);
	ck_assert_uint_eq(p.basic.physical_bs_shift, 12);
	ck_assert_uint_eq(p.basic.io_min_shift, 12);
	ck_assert_uint_eq(p.basic.io_opt_shift, 20); /* VOLUME_CHUNK_MAX, 1 MiB */
	ck_assert_uint_eq(p.basic.dev_sectors, (64ull << 20) / 512);
	ck_assert_uint_eq(p.basic.max_sectors, 1024);
	ck_assert_uint_eq(p.basic.chunk_sectors, 0);
	ck_assert_uint_eq(p.basic.virt_boundary_mask, 0);

	p = build(1ull << 20, 512, false, false);
	ck_assert_uint_eq(p.basic.logical_bs_shift, 9);
	ck_assert_uint_eq(p.basic.physical_bs_shift, 9);
	ck_assert_uint_eq(p.basic.dev_sectors, 2048);
}
END_TEST

START_TEST(test_ublk_params_cache_and_fua_are_advertised)
{
	struct ublk_params p = build(1ull << 20, 512, false, false);

	ck_assert_uint_eq(p.basic.attrs, UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA);
	p = build(1ull << 20, 512, true, false);
	ck_assert_uint_eq(p.basic.attrs,
			  UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA | UBLK_ATTR_READ_ONLY);
}
END_TEST

START_TEST(test_ublk_params_discard_only_when_the_volume_punches)
{
	struct ublk_params p = build(1ull << 20, 4096, false, false);

	/* Write-zeroes always (its limit lives in the discard parameter),
	 * discards not: the driver wants granularity even then. */
	ck_assert_uint_eq(p.discard.max_discard_sectors, 0);
	ck_assert_uint_eq(p.discard.max_write_zeroes_sectors, 1024);
	ck_assert_uint_eq(p.discard.discard_granularity, 4096);

	p = build(1ull << 20, 4096, false, true);
	ck_assert_uint_gt(p.discard.max_discard_sectors, 0);
	ck_assert_uint_eq(p.discard.max_discard_segments, 1);
	ck_assert_uint_eq(p.discard.discard_granularity, 4096);
	ck_assert_uint_eq(p.discard.discard_alignment, 0);

	/* Nothing that changes data on a read-only device. */
	p = build(1ull << 20, 4096, true, true);
	ck_assert_uint_eq(p.discard.max_discard_sectors, 0);
	ck_assert_uint_eq(p.discard.max_write_zeroes_sectors, 0);
	ck_assert_uint_ne(p.discard.discard_granularity, 0);
}
END_TEST

START_TEST(test_ublk_params_refuse_geometry_the_driver_would)
{
	struct ublk_params p;
	struct ublk_params_in in = {.size = 1ull << 20, .sector_size = 4096, .max_io = 512 * 1024};

	in.sector_size = 8192; /* above a 4 KiB page */
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
	in.sector_size = 256;
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
	in.sector_size = 3072; /* not a power of two */
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
	in.sector_size = 0;
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
	in.sector_size = 4096;
	in.size = (1ull << 20) + 512; /* not whole sectors */
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
	in.size = 1ull << 20;
	in.max_io = 2048; /* smaller than one sector */
	ck_assert_int_eq(ublk_params_build(&in, &p), -EINVAL);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_ublk_params_block_sizes_are_the_volume_sector);
	tcase_add_test(tc, test_ublk_params_cache_and_fua_are_advertised);
	tcase_add_test(tc, test_ublk_params_discard_only_when_the_volume_punches);
	tcase_add_test(tc, test_ublk_params_refuse_geometry_the_driver_would);
}

int main(void)
{
	return unit_run("ublk_params", add_tests);
}
