/* The ublk pieces that need no kernel: descriptors become volume requests,
 * outcomes become COMMIT results, (queue, tag) becomes a USER_COPY offset,
 * commands land where the kernel reads them in the SQE. Expected values are
 * worked out by hand from the kernel's documented layout, not from the code
 * under test. */
#include "frontend/ublk/ublk_int.h"

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <string.h>

static const struct ublk_geometry geo4k = {
    .size = 64ull << 20, .sector_size = 4096, .max_io = 512 * 1024};

static struct ublksrv_io_desc desc_make(uint32_t op_flags, uint64_t sector, uint32_t sectors)
{
	struct ublksrv_io_desc d = {
	    .op_flags = op_flags, .nr_sectors = sectors, .start_sector = sector, .addr = 0};
	return d;
}

static int desc_decode(uint32_t op_flags, uint64_t sector, uint32_t sectors, struct volume_req *req)
{
	struct ublksrv_io_desc d = desc_make(op_flags, sector, sectors);

	memset(req, 0xee, sizeof(*req));
	return ublk_desc_to_req(&d, &geo4k, req);
}

START_TEST(test_ublk_desc_read_becomes_volume_read_in_bytes)
{
	struct volume_req r;

	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, 8, 16, &r), 0);
	ck_assert_uint_eq(r.op, VOLUME_READ);
	ck_assert_uint_eq(r.offset, 4096);
	ck_assert_uint_eq(r.len, 8192);
	ck_assert_uint_eq(r.flags, 0);
}
END_TEST

START_TEST(test_ublk_desc_write_keeps_fua_and_drops_other_flags)
{
	struct volume_req r;

	ck_assert_int_eq(
	    desc_decode(UBLK_IO_OP_WRITE | UBLK_IO_F_FUA | UBLK_IO_F_META | UBLK_IO_F_FAILFAST_DEV,
			0, 8, &r),
	    0);
	ck_assert_uint_eq(r.op, VOLUME_WRITE);
	ck_assert_uint_eq(r.flags, VOLUME_F_FUA);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE | UBLK_IO_F_META, 0, 8, &r), 0);
	ck_assert_uint_eq(r.flags, 0);
}
END_TEST

START_TEST(test_ublk_desc_flush_ignores_its_sector_fields)
{
	struct volume_req r;

	ck_assert_int_eq(desc_decode(UBLK_IO_OP_FLUSH, 12345, 77, &r), 0);
	ck_assert_uint_eq(r.op, VOLUME_FLUSH);
	ck_assert_uint_eq(r.offset, 0);
	ck_assert_uint_eq(r.len, 0);
}
END_TEST

START_TEST(test_ublk_desc_discard_becomes_trim_larger_than_a_buffer)
{
	struct volume_req r;

	/* 32 MiB: discards carry no data, the buffer size does not bound them. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_DISCARD, 0, 65536, &r), 0);
	ck_assert_uint_eq(r.op, VOLUME_TRIM);
	ck_assert_uint_eq(r.len, 32u << 20);
}
END_TEST

START_TEST(test_ublk_desc_write_zeroes_never_punches)
{
	struct volume_req r;

	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE_ZEROES, 8, 8, &r), 0);
	ck_assert_uint_eq(r.op, VOLUME_ZERO);
	ck_assert_uint_eq(r.flags & VOLUME_F_MAY_PUNCH, 0);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE_ZEROES | UBLK_IO_F_NOUNMAP, 8, 8, &r), 0);
	ck_assert_uint_eq(r.flags & VOLUME_F_MAY_PUNCH, 0);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE_ZEROES | UBLK_IO_F_FUA, 8, 8, &r), 0);
	ck_assert_uint_eq(r.flags, VOLUME_F_FUA);
}
END_TEST

START_TEST(test_ublk_desc_unknown_ops_are_not_supported)
{
	struct volume_req r;

	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE_SAME, 0, 8, &r), -EOPNOTSUPP);
	ck_assert_int_eq(desc_decode(13 /* ZONE_APPEND */, 0, 8, &r), -EOPNOTSUPP);
	ck_assert_int_eq(desc_decode(0xff, 0, 8, &r), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_ublk_desc_refuses_what_breaks_the_geometry)
{
	struct volume_req r;
	uint64_t last = (64ull << 20) / 512;

	/* Not on a 4096-byte sector. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, 1, 8, &r), -EINVAL);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, 8, 7, &r), -EINVAL);
	/* Empty. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE, 8, 0, &r), -EINVAL);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_DISCARD, 8, 0, &r), -EINVAL);
	/* The last sector is fine, one more is not. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, last - 8, 8, &r), 0);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, last, 8, &r), -EINVAL);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE_ZEROES, last - 8, 16, &r), -EINVAL);
	/* A start sector whose byte offset would wrap. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, UINT64_MAX - 7, 8, &r), -EINVAL);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, 1ull << 55, 8, &r), -EINVAL);
	/* Larger than the tag's buffer: 512 KiB is fine, 516 KiB is not. */
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE, 0, 1024, &r), 0);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_WRITE, 0, 1032, &r), -EINVAL);
	ck_assert_int_eq(desc_decode(UBLK_IO_OP_READ, 0, 1032, &r), -EINVAL);
}
END_TEST

START_TEST(test_ublk_desc_data_direction_per_op)
{
	ck_assert(ublk_op_data_in(UBLK_IO_OP_WRITE));
	ck_assert(!ublk_op_data_in(UBLK_IO_OP_READ));
	ck_assert(!ublk_op_data_in(UBLK_IO_OP_WRITE_ZEROES));
	ck_assert(ublk_op_data_out(UBLK_IO_OP_READ));
	ck_assert(!ublk_op_data_out(UBLK_IO_OP_WRITE));
	ck_assert(!ublk_op_data_out(UBLK_IO_OP_FLUSH));
}
END_TEST

START_TEST(test_ublk_user_copy_pos_places_queue_tag_and_offset)
{
	/* 0x80000000 + (qid << 41) + (tag << 25) + offset, by hand. */
	ck_assert_uint_eq(ublk_user_copy_pos(0, 0, 0), 0x80000000ull);
	ck_assert_uint_eq(ublk_user_copy_pos(0, 1, 0), 0x80000000ull + 0x2000000ull);
	ck_assert_uint_eq(ublk_user_copy_pos(1, 0, 0), 0x80000000ull + 0x20000000000ull);
	ck_assert_uint_eq(ublk_user_copy_pos(3, 63, 4096),
			  0x80000000ull + 3 * 0x20000000000ull + 63 * 0x2000000ull + 4096);
	/* The largest queue and tag stay apart from each other. */
	ck_assert_uint_eq(ublk_user_copy_pos(4095, 65535, (1u << 25) - 1),
			  0x80000000ull + 4095ull * (1ull << 41) + 65535ull * (1ull << 25) +
			      (1u << 25) - 1);
}
END_TEST

START_TEST(test_ublk_desc_map_is_rounded_and_spaced_by_the_largest_queue)
{
	/* 4096 descriptors of 24 bytes: 98304 bytes, already whole pages. */
	ck_assert_uint_eq(ublk_desc_map_offset(0, 4096), 0);
	ck_assert_uint_eq(ublk_desc_map_offset(1, 4096), 98304);
	ck_assert_uint_eq(ublk_desc_map_offset(5, 4096), 5 * 98304);
	ck_assert_uint_eq(ublk_desc_map_len(64, 4096), 4096);
	ck_assert_uint_eq(ublk_desc_map_len(170, 4096), 4096); /* 4080 bytes */
	ck_assert_uint_eq(ublk_desc_map_len(171, 4096), 8192); /* 4104 bytes */
	ck_assert_uint_eq(ublk_desc_map_len(4096, 4096), 98304);
	/* 64 KiB pages (arm64, ppc64): 98304 rounds up to 131072. */
	ck_assert_uint_eq(ublk_desc_map_offset(1, 65536), 131072);
}
END_TEST

START_TEST(test_ublk_io_result_counts_bytes_only_for_data_ops)
{
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_READ, 0, 8192), 8192);
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_WRITE, 0, 4096), 4096);
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_FLUSH, 0, 0), 0);
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_DISCARD, 0, 0), 0);
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_WRITE_ZEROES, 0, 0), 0);
	/* A data op that moved nothing is an error, never a short success. */
	ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_READ, 0, 0), -EIO);
}
END_TEST

START_TEST(test_ublk_io_result_passes_named_errors_and_folds_the_rest)
{
	static const int named[] = {-EOPNOTSUPP, -ENOSPC, -ENOMEM, -ETIMEDOUT, -ENODATA, -EILSEQ};
	static const int folded[] = {-EIO, -EINVAL, -EPERM, -EROFS, -EBADF, -EAGAIN, -ENODEV, -1};

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_READ, named[i], 4096), named[i]);
		ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_FLUSH, named[i], 0), named[i]);
	}
	for (size_t i = 0; i < sizeof(folded) / sizeof(folded[0]); i++)
		ck_assert_int_eq(ublk_io_result(UBLK_IO_OP_WRITE, folded[i], 4096), -EIO);
}
END_TEST

START_TEST(test_ublk_opcodes_are_ioctl_encoded)
{
	/* (dir << 30) | (size << 16) | ('u' << 8) | nr, dir 3 = read+write, 2 = read. */
	ck_assert_uint_eq(UBLK_U_CMD_ADD_DEV, 0xc0207504u);
	ck_assert_uint_eq(UBLK_U_CMD_DEL_DEV, 0xc0207505u);
	ck_assert_uint_eq(UBLK_U_CMD_START_DEV, 0xc0207506u);
	ck_assert_uint_eq(UBLK_U_CMD_STOP_DEV, 0xc0207507u);
	ck_assert_uint_eq(UBLK_U_CMD_SET_PARAMS, 0xc0207508u);
	ck_assert_uint_eq(UBLK_U_CMD_GET_DEV_INFO, 0x80207502u);
	ck_assert_uint_eq(UBLK_U_CMD_GET_FEATURES, 0x80207513u);
	ck_assert_uint_eq(UBLK_U_IO_FETCH_REQ, 0xc0107520u);
	ck_assert_uint_eq(UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0xc0107521u);
}
END_TEST

START_TEST(test_ublk_io_cmd_sqe_carries_the_command_at_byte_48)
{
	uint8_t raw[sizeof(struct io_uring_sqe)];
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)raw;
	struct ublksrv_io_cmd cmd = {
	    .q_id = 3, .tag = 0x1234, .result = -5, .addr = 0x1122334455667788ull};
	uint32_t cmd_op;
	int32_t fd;

	memset(raw, 0xa5, sizeof(raw));
	ublk_prep_io_cmd(sqe, 7, UBLK_U_IO_COMMIT_AND_FETCH_REQ, &cmd);
	ck_assert_uint_eq(raw[0], IORING_OP_URING_CMD);
	memcpy(&fd, raw + 4, 4);
	ck_assert_int_eq(fd, 7);
	memcpy(&cmd_op, raw + 8, 4);
	ck_assert_uint_eq(cmd_op, 0xc0107521u);
	/* q_id, tag, result, addr, little endian, from byte 48. */
	ck_assert_uint_eq(raw[48], 3);
	ck_assert_uint_eq(raw[50], 0x34);
	ck_assert_uint_eq(raw[51], 0x12);
	ck_assert_uint_eq(raw[52], 0xfb);
	ck_assert_uint_eq(raw[56], 0x88);
	ck_assert_uint_eq(raw[63], 0x11);
	/* Everything else the kernel might read is zero: flags, ioprio, len,
	 * the op flags, user_data (the loop sets it), buf_index, personality. */
	for (size_t i = 1; i < 48; i++) {
		if (i >= 4 && i < 12)
			continue; /* fd and cmd_op, checked above */
		ck_assert_msg(raw[i] == 0, "byte %zu of the SQE is %#x", i, raw[i]);
	}
}
END_TEST

START_TEST(test_ublk_ctrl_sqe_clears_all_128_bytes)
{
	uint8_t raw[2 * sizeof(struct io_uring_sqe)];
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)raw;
	struct ublksrv_ctrl_cmd cmd = {
	    .dev_id = 9, .queue_id = 0xffff, .len = 64, .addr = 0x1000, .data = {4242}};
	uint64_t data0;

	memset(raw, 0xa5, sizeof(raw));
	ublk_prep_ctrl_cmd(sqe, 5, UBLK_U_CMD_START_DEV, &cmd);
	ck_assert_uint_eq(raw[0], IORING_OP_URING_CMD);
	ck_assert_uint_eq(raw[48], 9);
	ck_assert_uint_eq(raw[52], 0xff);
	memcpy(&data0, raw + 48 + 16, 8);
	ck_assert_uint_eq(data0, 4242);
	/* The command ends at byte 80; the rest of the 128 bytes is zero. */
	for (size_t i = 80; i < sizeof(raw); i++)
		ck_assert_msg(raw[i] == 0, "byte %zu of the SQE128 is %#x", i, raw[i]);
	ck_assert_uint_eq(raw[1], 0);				     /* flags */
	ck_assert_uint_eq(raw[24] | raw[25] | raw[26] | raw[27], 0); /* len */
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_ublk_desc_read_becomes_volume_read_in_bytes);
	tcase_add_test(tc, test_ublk_desc_write_keeps_fua_and_drops_other_flags);
	tcase_add_test(tc, test_ublk_desc_flush_ignores_its_sector_fields);
	tcase_add_test(tc, test_ublk_desc_discard_becomes_trim_larger_than_a_buffer);
	tcase_add_test(tc, test_ublk_desc_write_zeroes_never_punches);
	tcase_add_test(tc, test_ublk_desc_unknown_ops_are_not_supported);
	tcase_add_test(tc, test_ublk_desc_refuses_what_breaks_the_geometry);
	tcase_add_test(tc, test_ublk_desc_data_direction_per_op);
	tcase_add_test(tc, test_ublk_user_copy_pos_places_queue_tag_and_offset);
	tcase_add_test(tc, test_ublk_desc_map_is_rounded_and_spaced_by_the_largest_queue);
	tcase_add_test(tc, test_ublk_io_result_counts_bytes_only_for_data_ops);
	tcase_add_test(tc, test_ublk_io_result_passes_named_errors_and_folds_the_rest);
	tcase_add_test(tc, test_ublk_opcodes_are_ioctl_encoded);
	tcase_add_test(tc, test_ublk_io_cmd_sqe_carries_the_command_at_byte_48);
	tcase_add_test(tc, test_ublk_ctrl_sqe_clears_all_128_bytes);
}

int main(void)
{
	return unit_run("ublk_desc", add_tests);
}
