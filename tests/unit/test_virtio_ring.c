/* The split virtqueue's driver side (src/crypto/virtio/vring.c) against the
 * layout the virtio spec gives: field encoding, free-running indices that
 * wrap at 2^16, ring slots modulo the size, a device index that runs too
 * far, and the NO_NOTIFY flag. The "device" here is the test writing the
 * used ring by hand. */
#include "crypto/virtio/vring.h"

#include <check.h>

#include "helper_check.h"
#include <endian.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#define SIZE 8

struct ring_mem {
	alignas(16) uint8_t desc[16 * SIZE];
	alignas(16) uint8_t avail[6 + 2 * SIZE];
	alignas(16) uint8_t used[6 + 8 * SIZE];
};

static struct vring ring_new(struct ring_mem *m)
{
	struct vring r;

	memset(m, 0xa5, sizeof(*m));
	vring_init(&r, SIZE, m->desc, m->avail, m->used);
	return r;
}

/* What a device reads: little-endian 16-bit at byte offset `off`. */
static uint16_t le16_at(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

/* The device side of the used ring: entry at index `idx`, then the index. */
static void device_used(struct ring_mem *m, uint16_t idx, uint32_t id, uint32_t len)
{
	uint8_t *e = m->used + 4 + 8 * (idx % SIZE);

	for (unsigned b = 0; b < 4; b++) {
		e[b] = (uint8_t)(id >> (8 * b));
		e[4 + b] = (uint8_t)(len >> (8 * b));
	}
}

static void device_used_idx(struct ring_mem *m, uint16_t idx)
{
	m->used[2] = (uint8_t)idx;
	m->used[3] = (uint8_t)(idx >> 8);
}

START_TEST(test_ring_sizes_are_powers_of_two_up_to_32768)
{
	ck_assert(!vring_size_valid(0));
	ck_assert(vring_size_valid(1));
	ck_assert(vring_size_valid(2));
	ck_assert(!vring_size_valid(3));
	ck_assert(!vring_size_valid(1000));
	ck_assert(vring_size_valid(1024));
	ck_assert(vring_size_valid(32768));
	ck_assert(!vring_size_valid(65536));
	ck_assert_uint_eq(vring_desc_bytes(1024), 16 * 1024);
	ck_assert_uint_eq(vring_avail_bytes(1024), 6 + 2 * 1024);
	ck_assert_uint_eq(vring_used_bytes(1024), 6 + 8 * 1024);
}
END_TEST

START_TEST(test_ring_init_zeroes_all_three_areas)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);
	static const uint8_t zero[sizeof(m.desc)];

	ck_assert_mem_eq(m.desc, zero, sizeof(m.desc));
	ck_assert_mem_eq(m.avail, zero, sizeof(m.avail));
	ck_assert_mem_eq(m.used, zero, sizeof(m.used));
	ck_assert_uint_eq(r.avail_idx, 0);
	ck_assert_uint_eq(r.used_idx, 0);
}
END_TEST

START_TEST(test_ring_descriptor_fields_are_little_endian)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);
	static const uint8_t want[16] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
					 0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x06, 0x00};

	vring_desc_set(&r, 5, 0x0102030405060708ull, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
		       6);
	ck_assert_mem_eq(m.desc + 16 * 5, want, 16);
}
END_TEST

START_TEST(test_ring_avail_index_wraps_at_65536)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);

	r.avail_idx = r.kicked = 65533;
	for (uint16_t i = 0; i < 6; i++)
		vring_avail_push(&r, (uint16_t)(4 * i));
	/* 65533 + 6 = 65539 = 3 (mod 2^16); the entries sit at idx % size. */
	ck_assert_uint_eq(le16_at(m.avail, 2), 3);
	for (uint16_t i = 0; i < 6; i++) {
		uint16_t idx = (uint16_t)(65533 + i);

		ck_assert_uint_eq(le16_at(m.avail, 4 + 2 * (idx % SIZE)), 4 * i);
	}
	ck_assert_uint_eq(vring_unkicked(&r), 6);
}
END_TEST

START_TEST(test_ring_used_entries_come_in_order_across_the_wrap)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);
	uint32_t id, len;

	r.used_idx = 65534;
	for (uint16_t i = 0; i < 4; i++)
		device_used(&m, (uint16_t)(65534 + i), 100 + i, 200 + i);
	device_used_idx(&m, 2);
	for (uint32_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vring_used_pop(&r, &id, &len), 1);
		ck_assert_uint_eq(id, 100 + i);
		ck_assert_uint_eq(len, 200 + i);
	}
	ck_assert_int_eq(vring_used_pop(&r, &id, &len), 0);
	ck_assert_uint_eq(r.used_idx, 2);
}
END_TEST

START_TEST(test_ring_used_index_past_the_ring_size_is_refused)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);
	uint32_t id, len;

	r.used_idx = 65530;
	device_used_idx(&m, (uint16_t)(65530 + SIZE + 1));
	ck_assert_int_eq(vring_used_pop(&r, &id, &len), -EPROTO);
	/* Exactly a full ring is fine. */
	device_used_idx(&m, (uint16_t)(65530 + SIZE));
	ck_assert_int_eq(vring_used_pop(&r, &id, &len), 1);
}
END_TEST

START_TEST(test_ring_doorbell_skipped_while_device_says_no_notify)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);

	vring_avail_push(&r, 0);
	ck_assert_uint_eq(vring_unkicked(&r), 1);
	ck_assert(vring_kick_prepare(&r));
	ck_assert_uint_eq(vring_unkicked(&r), 0);
	m.used[0] = VRING_USED_F_NO_NOTIFY;
	vring_avail_push(&r, 4);
	ck_assert(!vring_kick_prepare(&r));
	/* Counted as announced: the device promised to look at the ring. */
	ck_assert_uint_eq(vring_unkicked(&r), 0);
	m.used[0] = 0;
	vring_avail_push(&r, 8);
	ck_assert(vring_kick_prepare(&r));
}
END_TEST

START_TEST(test_ring_unkicked_counts_across_the_wrap)
{
	struct ring_mem m;
	struct vring r = ring_new(&m);

	r.avail_idx = r.kicked = 65530;
	for (unsigned i = 0; i < 10; i++)
		vring_avail_push(&r, 0);
	ck_assert_uint_eq(r.avail_idx, 4);
	ck_assert_uint_eq(vring_unkicked(&r), 10);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_ring_sizes_are_powers_of_two_up_to_32768);
	tcase_add_test(tc, test_ring_init_zeroes_all_three_areas);
	tcase_add_test(tc, test_ring_descriptor_fields_are_little_endian);
	tcase_add_test(tc, test_ring_avail_index_wraps_at_65536);
	tcase_add_test(tc, test_ring_used_entries_come_in_order_across_the_wrap);
	tcase_add_test(tc, test_ring_used_index_past_the_ring_size_is_refused);
	tcase_add_test(tc, test_ring_doorbell_skipped_while_device_says_no_notify);
	tcase_add_test(tc, test_ring_unkicked_counts_across_the_wrap);
}

int main(void)
{
	return unit_run("virtio_ring", add_tests);
}
