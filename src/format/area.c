/* Keyslot material encryption: AES-XTS with plain64 IVs in 512-byte sectors. */
#include "area.h"

#include <cryptblk/osslmem.h>
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

int area_cipher_check(const char *cipher, size_t key_len)
{
	if (strcmp(cipher, "aes-xts-plain64") != 0)
		return -ENOTSUP;
	return key_len == 32 || key_len == 64 ? 0 : -EINVAL;
}

size_t area_sectors_bytes(size_t len)
{
	return (len + AREA_SECTOR - 1) / AREA_SECTOR * AREA_SECTOR;
}

int area_crypt(const char *cipher, const uint8_t *key, size_t key_len, uint8_t *buf, size_t len,
	       bool encrypt)
{
	EVP_CIPHER_CTX *ctx;
	int rc = 0, outl;

	if (area_cipher_check(cipher, key_len) || len % AREA_SECTOR)
		return -EINVAL;
	/* The key schedule (the area key's bytes) goes to the secure heap. */
	osslmem_secret_begin();
	ctx = EVP_CIPHER_CTX_new();
	if (ctx && !EVP_CipherInit_ex(ctx, key_len == 32 ? EVP_aes_128_xts() : EVP_aes_256_xts(),
				      NULL, key, NULL, encrypt))
		rc = -EINVAL;
	osslmem_secret_end();
	if (!ctx)
		return -ENOMEM;
	if (rc)
		goto out;
	for (size_t off = 0; off < len; off += AREA_SECTOR) {
		uint8_t iv[16] = {0};
		uint64_t sector = off / AREA_SECTOR;

		for (int i = 0; i < 8; i++)
			iv[i] = (uint8_t)(sector >> (8 * i));
		if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, encrypt) ||
		    !EVP_CipherUpdate(ctx, buf + off, &outl, buf + off, AREA_SECTOR)) {
			rc = -EIO;
			goto out;
		}
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
