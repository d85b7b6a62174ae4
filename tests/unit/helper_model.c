#include "helper_model.h"

#include <check.h>
#include <openssl/evp.h>
#include <string.h>

uint64_t tmodel_rng_next(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

void tmodel_rng_fill(uint64_t *state, uint8_t *buf, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = tmodel_rng_next(state);

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)(tmodel_rng_next(state) >> 56);
}

void tmodel_xts_key(uint64_t *state, uint8_t *key, size_t len)
{
	do
		tmodel_rng_fill(state, key, len);
	while (memcmp(key, key + len / 2, len / 2) == 0);
}

void tmodel_xts_sector(const uint8_t *key, size_t key_len, int enc, uint64_t iv, const uint8_t *in,
		       uint8_t *out, uint32_t len)
{
	const EVP_CIPHER *cipher = key_len == 32 ? EVP_aes_128_xts() : EVP_aes_256_xts();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t tweak[16] = {0};
	int outl = 0;

	for (unsigned b = 0; b < 8; b++)
		tweak[b] = (uint8_t)(iv >> (8 * b));
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_CipherInit_ex(ctx, cipher, NULL, key, tweak, enc), 1);
	ck_assert_int_eq(EVP_CipherUpdate(ctx, out, &outl, in, (int)len), 1);
	ck_assert_int_eq(outl, (int)len);
	EVP_CIPHER_CTX_free(ctx);
}
