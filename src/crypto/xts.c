/* AES-XTS sectors through EVP contexts keyed once per slot and direction. */
#include "crypto/xts.h"

#include <cryptblk/osslmem.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

int crypto_job_check(const struct crypto_job *job)
{
	if (!job || !job->src || !job->dst)
		return -EINVAL;
	if (job->key_slot >= CRYPTO_KEY_SLOTS)
		return -EINVAL;
	if (job->dir != CRYPTO_ENCRYPT && job->dir != CRYPTO_DECRYPT)
		return -EINVAL;
	switch (job->sector_size) {
	case 512:
	case 1024:
	case 2048:
	case 4096:
		break;
	default:
		return -EINVAL;
	}
	if (job->nr_sectors == 0)
		return -EINVAL;
	if (job->flags & ~(uint16_t)CRYPTO_JOB_IV_LARGE_SECTORS)
		return -EINVAL;
	return 0;
}

void xts_iv_encode(uint8_t iv[XTS_IV_LEN], uint64_t sector_iv)
{
	for (unsigned i = 0; i < 8; i++)
		iv[i] = (uint8_t)(sector_iv >> (8 * i));
	memset(iv + 8, 0, XTS_IV_LEN - 8);
}

static const EVP_CIPHER *xts_cipher_for(size_t key_len)
{
	if (key_len == 32)
		return EVP_aes_128_xts();
	if (key_len == 64)
		return EVP_aes_256_xts();
	return NULL;
}

/* The context and the key schedule OpenSSL allocates for it live in the
 * secure heap (osslmem.h): the schedule's first round keys are key bytes. */
static EVP_CIPHER_CTX *xts_ctx_new(const EVP_CIPHER *cipher, const uint8_t *key, int enc)
{
	EVP_CIPHER_CTX *ctx;

	osslmem_secret_begin();
	ctx = EVP_CIPHER_CTX_new();
	if (ctx && EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	osslmem_secret_end();
	return ctx;
}

int xts_keys_set(struct xts_keys *keys, unsigned slot, const uint8_t *key, size_t key_len)
{
	const EVP_CIPHER *cipher = xts_cipher_for(key_len);
	EVP_CIPHER_CTX *enc = NULL, *dec = NULL;
	int err = 0;

	if (!cipher || !key || slot >= CRYPTO_KEY_SLOTS) {
		err = -EINVAL;
		goto out;
	}
	if (CRYPTO_memcmp(key, key + key_len / 2, key_len / 2) == 0) {
		err = -EINVAL;
		goto out;
	}
	enc = xts_ctx_new(cipher, key, 1);
	dec = xts_ctx_new(cipher, key, 0);
	if (!enc || !dec) {
		err = -ENOMEM;
		goto out;
	}
	xts_keys_clear(keys, slot);
	keys->ctx[slot][CRYPTO_ENCRYPT] = enc;
	keys->ctx[slot][CRYPTO_DECRYPT] = dec;
	enc = dec = NULL;
out:
	/* EVP_CIPHER_CTX_free wipes the key schedule it holds. */
	EVP_CIPHER_CTX_free(enc);
	EVP_CIPHER_CTX_free(dec);
	return err;
}

void xts_keys_clear(struct xts_keys *keys, unsigned slot)
{
	if (slot >= CRYPTO_KEY_SLOTS)
		return;
	for (unsigned dir = 0; dir < 2; dir++) {
		EVP_CIPHER_CTX_free(keys->ctx[slot][dir]);
		keys->ctx[slot][dir] = NULL;
	}
}

void xts_keys_clear_all(struct xts_keys *keys)
{
	for (unsigned slot = 0; slot < CRYPTO_KEY_SLOTS; slot++)
		xts_keys_clear(keys, slot);
}

bool xts_keys_ready(const struct xts_keys *keys, unsigned slot)
{
	return slot < CRYPTO_KEY_SLOTS && keys->ctx[slot][CRYPTO_ENCRYPT] &&
	       keys->ctx[slot][CRYPTO_DECRYPT];
}

int xts_job_run(struct xts_keys *keys, const struct crypto_job *job)
{
	EVP_CIPHER_CTX *ctx = keys->ctx[job->key_slot][job->dir ? 1 : 0];
	uint8_t iv[XTS_IV_LEN];
	int outl;

	if (!ctx)
		return -ENOKEY;
	for (uint32_t i = 0; i < job->nr_sectors; i++) {
		size_t off = (size_t)i * job->sector_size;

		/* Each sector is its own XTS data unit: a new tweak, no state
		 * carried over from the sector before. */
		xts_iv_encode(iv, crypto_job_sector_iv(job, i));
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1 ||
		    EVP_CipherUpdate(ctx, job->dst + off, &outl, job->src + off,
				     (int)job->sector_size) != 1 ||
		    outl != (int)job->sector_size)
			return -EIO;
	}
	return 0;
}

void xts_job_run_to(struct xts_keys *keys, struct crypto_job *job, struct xts_done *done)
{
	job->result = xts_job_run(keys, job);
	job->next = NULL;
	if (done->tail)
		done->tail->next = job;
	else
		done->head = job;
	done->tail = job;
}

struct crypto_job *xts_done_take(struct xts_done *done)
{
	struct crypto_job *list = done->head;

	done->head = done->tail = NULL;
	return list;
}
