/* Independent models the unit tests check against: reproducible "random"
 * data (xorshift64*, so a failing run can be replayed from its seed) and
 * aes-xts-plain64 one sector at a time through raw EVP, with the tweak
 * written out here rather than taken from the code under test. */
#ifndef CRYPTBLK_TEST_HELPER_MODEL_H
#define CRYPTBLK_TEST_HELPER_MODEL_H

#include <stddef.h>
#include <stdint.h>

uint64_t tmodel_rng_next(uint64_t *state);
void tmodel_rng_fill(uint64_t *state, uint8_t *buf, size_t len);
/* A random XTS key of len bytes whose two halves differ (OpenSSL refuses
 * equal halves). */
void tmodel_xts_key(uint64_t *state, uint8_t *key, size_t len);

/* One sector of len bytes: key_len 32 is AES-128-XTS, 64 AES-256-XTS; the
 * tweak is iv little-endian in the first 8 of 16 bytes (plain64). */
void tmodel_xts_sector(const uint8_t *key, size_t key_len, int enc, uint64_t iv, const uint8_t *in,
		       uint8_t *out, uint32_t len);

#endif
