/* AES-XTS over OpenSSL's EVP interface, shared by the CPU engines.
 *
 * One EVP context per key slot and direction, keyed once in xts_keys_set();
 * each sector re-IVs its context and runs one EVP_CipherUpdate. A struct
 * xts_keys belongs to one thread at a time: the threads engine gives every
 * worker its own.
 */
#ifndef CRYPTBLK_CRYPTO_XTS_H
#define CRYPTBLK_CRYPTO_XTS_H

#include <cryptblk/crypto.h>

#include <openssl/evp.h>
#include <stdbool.h>

#define XTS_IV_LEN 16

struct xts_keys {
	/* [slot][enum crypto_dir]; NULL while the slot has no key */
	EVP_CIPHER_CTX *ctx[CRYPTO_KEY_SLOTS][2];
};

/* Checks what every engine refuses before it looks at keys: slot, direction,
 * sector size (512..4096, a power of two), sector count, buffers. Returns 0
 * or -EINVAL. */
int crypto_job_check(const struct crypto_job *job);

/* The 16-byte XTS tweak of a sector: the 64-bit plain64 IV little-endian in
 * the first 8 bytes, the rest zero. */
void xts_iv_encode(uint8_t iv[XTS_IV_LEN], uint64_t sector_iv);

/* Keys both directions of `slot` (replacing an older key only once the new
 * one is in place). A 32-byte key is AES-128-XTS, 64 bytes AES-256-XTS. Key
 * halves that are equal are refused (-EINVAL): XTS needs independent halves
 * and OpenSSL will not encrypt with them. The key bytes are not kept; only
 * OpenSSL's key schedule inside the contexts, wiped when they are freed. */
int xts_keys_set(struct xts_keys *keys, unsigned slot, const uint8_t *key, size_t key_len);
void xts_keys_clear(struct xts_keys *keys, unsigned slot);
void xts_keys_clear_all(struct xts_keys *keys);
bool xts_keys_ready(const struct xts_keys *keys, unsigned slot);

/* Encrypts or decrypts every sector of a checked job on a keyed slot. Returns
 * 0, or -EIO if OpenSSL fails (which it should not on valid input). */
int xts_job_run(struct xts_keys *keys, const struct crypto_job *job);

/* Jobs run on the submitting thread, kept in order until complete(). */
struct xts_done {
	struct crypto_job *head, *tail;
};

/* Runs the job (result in job->result) and appends it to `done`. */
void xts_job_run_to(struct xts_keys *keys, struct crypto_job *job, struct xts_done *done);
/* The list so far (linked through ->next), leaving `done` empty. */
struct crypto_job *xts_done_take(struct xts_done *done);

#endif
