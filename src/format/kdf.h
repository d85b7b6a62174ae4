/* Passphrase hashing: PBKDF2 (OpenSSL) and Argon2i/Argon2id (libargon2). */
#ifndef CRYPTBLK_FORMAT_KDF_H
#define CRYPTBLK_FORMAT_KDF_H

#include <cryptblk/luks.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define KDF_SALT_MAX		64
#define KDF_SALT_LEN		32 /* what a new keyslot or digest gets */
#define KDF_HASH_NAME_MAX	16
#define KDF_PBKDF2_ITER_MIN	1000
#define KDF_ARGON2_TIME_MIN	4
#define KDF_ARGON2_MEMORY_MIN	32	/* KiB */
#define KDF_ARGON2_MEMORY_MAX	4194304 /* KiB: 4 GiB, as cryptsetup */
#define KDF_ARGON2_MEMORY_DEF	1048576 /* KiB: 1 GiB */
#define KDF_ARGON2_PARALLEL_MAX 16
#define KDF_ARGON2_PARALLEL_DEF 4
#define KDF_ARGON2_SALT_MIN	8 /* libargon2 refuses shorter salts */

enum kdf_type {
	KDF_PBKDF2 = 1,
	KDF_ARGON2I,
	KDF_ARGON2ID,
};

struct kdf_params {
	enum kdf_type type;
	char hash[KDF_HASH_NAME_MAX]; /* pbkdf2 only */
	uint32_t iterations;	      /* pbkdf2 iterations, or argon2 time cost */
	uint32_t memory_kib;	      /* argon2 */
	uint32_t parallel;	      /* argon2 */
	uint8_t salt[KDF_SALT_MAX];
	size_t salt_len;
};

/* "pbkdf2", "argon2i", "argon2id" <-> enum; -EINVAL for anything else. */
int kdf_type_parse(const char *name, enum kdf_type *type);
const char *kdf_type_name(enum kdf_type type);

/* The hashes LUKS headers may name: sha1, sha224, sha256, sha384, sha512.
 * NULL for any other name. */
const EVP_MD *kdf_hash_lookup(const char *name);

/* Derive outlen bytes from the passphrase. */
int kdf_derive(const struct kdf_params *p, const void *pass, size_t pass_len, uint8_t *out,
	       size_t outlen);

/* PBKDF2 of `key` under the digest's parameters, as used for the LUKS
 * volume-key digests. */
int kdf_pbkdf2(const char *hash, const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint32_t iterations, uint8_t *out, size_t outlen);

/* Choose the costs of `p` (type and hash already set, salt any) so that one
 * derivation of outlen bytes takes about target_ms: iterations for pbkdf2;
 * time cost and memory (up to `memory_max_kib`) for argon2, whose parallel
 * cost must already be set. */
int kdf_calibrate(struct kdf_params *p, uint32_t target_ms, uint32_t memory_max_kib, size_t outlen);

/* Fill p from a user's choice: forced costs are taken, missing ones
 * calibrated; the salt is fresh from RAND_bytes. `luks1` limits the choice to
 * pbkdf2. */
int kdf_params_choose(struct kdf_params *p, const struct luks_kdf_choice *choice, bool luks1,
		      size_t outlen, struct luks_err *err);

#endif
