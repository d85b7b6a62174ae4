/* Base64 of the LUKS2 JSON against RFC 4648's test vectors; non-canonical
 * text is refused. */
#include "format/b64.h"

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *vectors[][2] = {{"", ""},
				   {"f", "Zg=="},
				   {"fo", "Zm8="},
				   {"foo", "Zm9v"},
				   {"foob", "Zm9vYg=="},
				   {"fooba", "Zm9vYmE="},
				   {"foobar", "Zm9vYmFy"}};

START_TEST(test_b64_matches_rfc4648_vectors)
{
	const char *plain = vectors[_i][0], *text = vectors[_i][1];
	uint8_t out[16];
	char enc[16];

	ck_assert_int_eq(b64_decode(text, out, sizeof(out)), (int)strlen(plain));
	ck_assert_mem_eq(out, plain, strlen(plain));
	b64_encode((const uint8_t *)plain, strlen(plain), enc);
	ck_assert_str_eq(enc, text);
}
END_TEST

START_TEST(test_b64_refuses_malformed_text)
{
	uint8_t out[16];

	ck_assert_int_eq(b64_decode("Zg=", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(b64_decode("Zh==", out, sizeof(out)), -EINVAL); /* stray bits */
	ck_assert_int_eq(b64_decode("Z===", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(b64_decode("Zm 9", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(b64_decode("Zg==Zg==", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(b64_decode("Zm9vYmFy", out, 5), -E2BIG);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_b64_matches_rfc4648_vectors, 0,
			    sizeof(vectors) / sizeof(vectors[0]));
	tcase_add_test(tc, test_b64_refuses_malformed_text);
}

int main(void)
{
	return unit_run("b64", add_tests);
}
