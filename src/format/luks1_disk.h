/* The LUKS1 header (phdr) as on disk: 592 bytes at offset 0, big-endian. */
#ifndef CRYPTBLK_FORMAT_LUKS1_DISK_H
#define CRYPTBLK_FORMAT_LUKS1_DISK_H

#include <stdbool.h>
#include <stdint.h>

#define LUKS1_PHDR_SIZE	    592
#define LUKS1_KEYSLOTS	    8
#define LUKS1_NAME_LEN	    32
#define LUKS1_DIGEST_LEN    20
#define LUKS1_SALT_LEN	    32
#define LUKS1_UUID_LEN	    40
#define LUKS1_SLOT_ACTIVE   0x00AC71F3u
#define LUKS1_SLOT_INACTIVE 0x0000DEADu

struct luks1_keyslot_disk {
	uint32_t active;
	uint32_t iterations;
	uint8_t salt[LUKS1_SALT_LEN];
	uint32_t material_offset; /* 512-byte sectors */
	uint32_t stripes;
} __attribute__((packed));
_Static_assert(sizeof(struct luks1_keyslot_disk) == 48, "LUKS1 keyslot size");

struct luks1_phdr_disk {
	char magic[6];
	uint16_t version;
	char cipher_name[LUKS1_NAME_LEN];
	char cipher_mode[LUKS1_NAME_LEN];
	char hash_spec[LUKS1_NAME_LEN];
	uint32_t payload_offset; /* 512-byte sectors */
	uint32_t key_bytes;
	uint8_t mk_digest[LUKS1_DIGEST_LEN];
	uint8_t mk_digest_salt[LUKS1_SALT_LEN];
	uint32_t mk_digest_iterations;
	char uuid[LUKS1_UUID_LEN];
	struct luks1_keyslot_disk keyslots[LUKS1_KEYSLOTS];
} __attribute__((packed));
_Static_assert(sizeof(struct luks1_phdr_disk) == LUKS1_PHDR_SIZE, "LUKS1 phdr size");

/* The header decoded: host order, terminated strings. */
struct luks1_keyslot {
	uint32_t active; /* LUKS1_SLOT_ACTIVE or LUKS1_SLOT_INACTIVE when valid */
	uint32_t iterations;
	uint8_t salt[LUKS1_SALT_LEN];
	uint32_t material_offset;
	uint32_t stripes;
};

struct luks1_phdr {
	uint16_t version;
	char cipher_name[LUKS1_NAME_LEN + 1];
	char cipher_mode[LUKS1_NAME_LEN + 1];
	char hash_spec[LUKS1_NAME_LEN + 1];
	uint32_t payload_offset;
	uint32_t key_bytes;
	uint8_t mk_digest[LUKS1_DIGEST_LEN];
	uint8_t mk_digest_salt[LUKS1_SALT_LEN];
	uint32_t mk_digest_iterations;
	char uuid[LUKS1_UUID_LEN + 1];
	struct luks1_keyslot keyslots[LUKS1_KEYSLOTS];
};

/* Decode; -EINVAL with *field naming the field when the magic is wrong or
 * a text field is not terminated. */
int luks1_phdr_decode(const struct luks1_phdr_disk *d, struct luks1_phdr *h, const char **field);
void luks1_phdr_encode(const struct luks1_phdr *h, struct luks1_phdr_disk *d);

#endif
