/* The KDFs against published test vectors: RFC 6070 (PBKDF2-HMAC-SHA1),
 * RFC 7914 section 11 (PBKDF2-HMAC-SHA256) and the Argon2 reference
 * implementation's version-0x13 vectors. */
#include "format/kdf.h"

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void unhex(const char *hex, uint8_t *out)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void check_derive(const struct kdf_params *p, const char *pass, const char *hex)
{
	uint8_t want[64], got[64];
	size_t len = strlen(hex) / 2;

	unhex(hex, want);
	ck_assert_int_eq(kdf_derive(p, pass, strlen(pass), got, len), 0);
	ck_assert_mem_eq(got, want, len);
}

static struct kdf_params params(enum kdf_type t, const char *hash, uint32_t it, uint32_t mem,
				uint32_t par, const char *salt)
{
	struct kdf_params p = {.type = t, .iterations = it, .memory_kib = mem, .parallel = par};

	snprintf(p.hash, sizeof(p.hash), "%s", hash);
	p.salt_len = strlen(salt);
	memcpy(p.salt, salt, p.salt_len);
	return p;
}

START_TEST(test_kdf_pbkdf2_sha1_matches_rfc6070)
{
	struct kdf_params p = params(KDF_PBKDF2, "sha1", 1, 0, 0, "salt");

	check_derive(&p, "password", "0c60c80f961f0e71f3a9b524af6012062fe037a6");
	p.iterations = 2;
	check_derive(&p, "password", "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
}
END_TEST

START_TEST(test_kdf_pbkdf2_sha256_matches_rfc7914)
{
	struct kdf_params p = params(KDF_PBKDF2, "sha256", 1, 0, 0, "salt");

	check_derive(&p, "passwd",
		     "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
		     "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}
END_TEST

START_TEST(test_kdf_argon2i_matches_the_reference_vector)
{
	struct kdf_params p = params(KDF_ARGON2I, "", 2, 1 << 16, 1, "somesalt");

	check_derive(&p, "password",
		     "c1628832147d9720c5bd1cfd61367078729f6dfb6f8fea9ff98158e0d7816ed0");
}
END_TEST

START_TEST(test_kdf_argon2id_matches_the_reference_vector)
{
	struct kdf_params p = params(KDF_ARGON2ID, "", 2, 1 << 16, 1, "somesalt");

	check_derive(&p, "password",
		     "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7");
}
END_TEST

START_TEST(test_kdf_refuses_unknown_hashes_and_zero_iterations)
{
	struct kdf_params p = params(KDF_PBKDF2, "md5", 1, 0, 0, "salt");
	uint8_t out[32];

	ck_assert_int_eq(kdf_derive(&p, "x", 1, out, 32), -EINVAL);
	p = params(KDF_PBKDF2, "sha256", 0, 0, 0, "salt");
	ck_assert_int_eq(kdf_derive(&p, "x", 1, out, 32), -EINVAL);
	ck_assert_ptr_null(kdf_hash_lookup("ripemd160"));
	ck_assert_ptr_nonnull(kdf_hash_lookup("sha512"));
}
END_TEST

START_TEST(test_kdf_calibration_meets_the_floor_and_forced_costs_are_kept)
{
	struct luks_kdf_choice c = {.type = LUKS_KDF_PBKDF2, .iter_time_ms = 1};
	struct kdf_params p;

	ck_assert_int_eq(kdf_params_choose(&p, &c, true, 32, NULL), 0);
	ck_assert_uint_ge(p.iterations, KDF_PBKDF2_ITER_MIN);
	ck_assert_uint_eq(p.salt_len, KDF_SALT_LEN);
	c = (struct luks_kdf_choice){
	    .type = LUKS_KDF_ARGON2ID, .iterations = 4, .memory_kib = 64, .parallel = 1};
	ck_assert_int_eq(kdf_params_choose(&p, &c, false, 64, NULL), 0);
	ck_assert_uint_eq(p.iterations, 4);
	ck_assert_uint_eq(p.memory_kib, 64);
	ck_assert_uint_eq(p.parallel, 1);
	/* LUKS1 has no argon2. */
	ck_assert_int_eq(kdf_params_choose(&p, &c, true, 64, NULL), -EINVAL);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_kdf_pbkdf2_sha1_matches_rfc6070);
	tcase_add_test(tc, test_kdf_pbkdf2_sha256_matches_rfc7914);
	tcase_add_test(tc, test_kdf_argon2i_matches_the_reference_vector);
	tcase_add_test(tc, test_kdf_argon2id_matches_the_reference_vector);
	tcase_add_test(tc, test_kdf_refuses_unknown_hashes_and_zero_iterations);
	tcase_add_test(tc, test_kdf_calibration_meets_the_floor_and_forced_costs_are_kept);
}

int main(void)
{
	return unit_run("kdf", add_tests);
}
