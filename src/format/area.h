/* Encryption of keyslot material: the cipher the header names, over
 * 512-byte sectors numbered from 0 at the start of the keyslot's area. */
#ifndef CRYPTBLK_FORMAT_AREA_H
#define CRYPTBLK_FORMAT_AREA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AREA_SECTOR 512

/* The only cipher supported for keyslots and data: "aes-xts-plain64" with a
 * 32- or 64-byte key. 0 when (cipher, key_len) is usable, else -ENOTSUP
 * (unknown cipher, cipher_null, kernel "capi:" names) or -EINVAL (key
 * length). */
int area_cipher_check(const char *cipher, size_t key_len);

/* Bytes of area that hold material of `len` bytes: whole sectors. */
size_t area_sectors_bytes(size_t len);

/* En- or decrypt `len` bytes (a multiple of AREA_SECTOR) in place. */
int area_crypt(const char *cipher, const uint8_t *key, size_t key_len, uint8_t *buf, size_t len,
	       bool encrypt);

#endif
