/* The anti-forensic splitter against a model written from the LUKS1
 * specification, and split/merge round trips. */
#include "format/af.h"

#include <check.h>

#include "helper_check.h"
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* The specification's diffuse: hash each digest-sized piece with its
 * big-endian index in front; the last piece is cut short. */
static void model_diffuse(const EVP_MD *md, uint8_t *buf, size_t len)
{
	size_t dlen = (size_t)EVP_MD_get_size(md);
	uint8_t out[EVP_MAX_MD_SIZE];

	for (size_t i = 0; i * dlen < len; i++) {
		uint8_t idx[4] = {0, 0, (uint8_t)(i >> 8), (uint8_t)i};
		size_t n = len - i * dlen < dlen ? len - i * dlen : dlen;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		EVP_DigestInit_ex(ctx, md, NULL);
		EVP_DigestUpdate(ctx, idx, 4);
		EVP_DigestUpdate(ctx, buf + i * dlen, n);
		EVP_DigestFinal_ex(ctx, out, NULL);
		EVP_MD_CTX_free(ctx);
		memcpy(buf + i * dlen, out, n);
	}
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

START_TEST(test_af_merge_of_three_stripes_matches_the_spec)
{
	/* 40-byte key under sha256: a full piece and a cut one. */
	const size_t kl = 40;
	uint8_t mat[3 * 40], d[40], want[40], got[40];

	fill(mat, sizeof(mat), 3);
	memset(d, 0, sizeof(d));
	for (int s = 0; s < 2; s++) {
		for (size_t j = 0; j < kl; j++)
			d[j] ^= mat[s * kl + j];
		model_diffuse(EVP_sha256(), d, kl);
	}
	for (size_t j = 0; j < kl; j++)
		want[j] = d[j] ^ mat[2 * kl + j];
	ck_assert_int_eq(af_merge(mat, kl, 3, "sha256", got), 0);
	ck_assert_mem_eq(got, want, kl);
}
END_TEST

START_TEST(test_af_merge_of_one_stripe_is_the_material)
{
	uint8_t mat[32], got[32];

	fill(mat, sizeof(mat), 9);
	ck_assert_int_eq(af_merge(mat, 32, 1, "sha1", got), 0);
	ck_assert_mem_eq(got, mat, 32);
}
END_TEST

static const struct {
	const char *hash;
	size_t key_len;
} round_trips[] = {{"sha1", 32}, {"sha1", 64}, {"sha256", 32}, {"sha256", 64}, {"sha512", 64}};

START_TEST(test_af_split_then_merge_gives_the_key_back)
{
	size_t kl = round_trips[_i].key_len;
	uint8_t *mat = malloc(af_split_size(kl, AF_STRIPES)), key[64], got[64];

	ck_assert_ptr_nonnull(mat);
	fill(key, kl, (unsigned)_i);
	ck_assert_int_eq(af_split(key, kl, AF_STRIPES, round_trips[_i].hash, mat), 0);
	ck_assert_int_eq(af_merge(mat, kl, AF_STRIPES, round_trips[_i].hash, got), 0);
	ck_assert_mem_eq(got, key, kl);
	/* One flipped bit anywhere in the material loses the key. */
	mat[kl * 1234 + 5] ^= 1;
	ck_assert_int_eq(af_merge(mat, kl, AF_STRIPES, round_trips[_i].hash, got), 0);
	ck_assert(memcmp(got, key, kl) != 0);
	free(mat);
}
END_TEST

START_TEST(test_af_refuses_unknown_hashes)
{
	uint8_t mat[64] = {0}, key[32];

	ck_assert_int_lt(af_merge(mat, 32, 2, "md5", key), 0);
	ck_assert_int_lt(af_merge(mat, 32, 2, "whirlpool", key), 0);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_af_merge_of_three_stripes_matches_the_spec);
	tcase_add_test(tc, test_af_merge_of_one_stripe_is_the_material);
	tcase_add_loop_test(tc, test_af_split_then_merge_gives_the_key_back, 0,
			    sizeof(round_trips) / sizeof(round_trips[0]));
	tcase_add_test(tc, test_af_refuses_unknown_hashes);
}

int main(void)
{
	return unit_run("af", add_tests);
}
