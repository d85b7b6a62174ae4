/* Anti-forensic split and merge (the LUKS1 specification's AF scheme).
 *
 * merge: d = 0; for each stripe but the last: d = diffuse(d xor stripe);
 *        key = d xor last stripe.
 * diffuse hashes the block in digest-sized pieces, each prefixed with its
 * big-endian 32-bit index; the last piece is cut to what remains. */
#include "af.h"
#include "kdf.h"

#include <cryptblk/luks.h>
#include <cryptblk/osslmem.h>
#include <cryptblk/secmem.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

size_t af_split_size(size_t key_len, uint32_t stripes)
{
	return key_len * stripes;
}

static int af_diffuse(EVP_MD_CTX *ctx, const EVP_MD *md, uint8_t *block, size_t len)
{
	size_t dlen = (size_t)EVP_MD_get_size(md);
	uint8_t out[EVP_MAX_MD_SIZE];
	uint32_t i = 0;

	for (size_t off = 0; off < len; off += dlen, i++) {
		uint8_t be[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				 (uint8_t)i};
		size_t piece = len - off < dlen ? len - off : dlen;

		if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, be, 4) ||
		    !EVP_DigestUpdate(ctx, block + off, piece) ||
		    !EVP_DigestFinal_ex(ctx, out, NULL))
			return -ENOMEM;
		memcpy(block + off, out, piece);
	}
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

/* d = diffuse(d ^ s) over the first stripes-1 stripes of `material`. */
static int af_fold(const uint8_t *material, size_t key_len, uint32_t stripes, const EVP_MD *md,
		   uint8_t *d)
{
	EVP_MD_CTX *ctx;
	int rc = 0;

	/* The digest state hashes key material: secure heap (osslmem.h). */
	osslmem_secret_begin();
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rc = -ENOMEM;
		goto out;
	}
	memset(d, 0, key_len);
	for (uint32_t s = 0; s + 1 < stripes && rc == 0; s++) {
		for (size_t j = 0; j < key_len; j++)
			d[j] ^= material[(size_t)s * key_len + j];
		rc = af_diffuse(ctx, md, d, key_len);
	}
	EVP_MD_CTX_free(ctx);
out:
	osslmem_secret_end();
	return rc;
}

int af_merge(const uint8_t *material, size_t key_len, uint32_t stripes, const char *hash,
	     uint8_t *key)
{
	const EVP_MD *md = kdf_hash_lookup(hash);
	uint8_t *d;
	int rc;

	if (!md || stripes == 0 || key_len == 0 || key_len > LUKS_KEY_MAX)
		return -EINVAL;
	d = secmem_alloc(key_len);
	if (!d)
		return -ENOMEM;
	rc = af_fold(material, key_len, stripes, md, d);
	if (rc == 0)
		for (size_t j = 0; j < key_len; j++)
			key[j] = d[j] ^ material[(size_t)(stripes - 1) * key_len + j];
	secmem_free(d, key_len);
	return rc;
}

int af_split(const uint8_t *key, size_t key_len, uint32_t stripes, const char *hash, uint8_t *out)
{
	const EVP_MD *md = kdf_hash_lookup(hash);
	size_t rand_len = (size_t)(stripes - 1) * key_len;
	uint8_t *d;
	int rc;

	if (!md || stripes == 0 || key_len == 0 || key_len > LUKS_KEY_MAX)
		return -EINVAL;
	if (rand_len > INT32_MAX || (rand_len && RAND_bytes(out, (int)rand_len) != 1))
		return -EIO;
	d = secmem_alloc(key_len);
	if (!d)
		return -ENOMEM;
	rc = af_fold(out, key_len, stripes, md, d);
	if (rc == 0)
		for (size_t j = 0; j < key_len; j++)
			out[rand_len + j] = d[j] ^ key[j];
	secmem_free(d, key_len);
	return rc;
}
