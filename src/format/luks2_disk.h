/* LUKS2 binary headers: the on-disk bytes, their checksum, and the two
 * copies at offset 0 and at offset hdr_size. Nothing here knows what the
 * JSON says. */
#ifndef CRYPTBLK_FORMAT_LUKS2_DISK_H
#define CRYPTBLK_FORMAT_LUKS2_DISK_H

#include <cryptblk/luks.h>
#include <stdbool.h>
#include <stdint.h>

#define LUKS2_BIN_SIZE	       4096
#define LUKS2_MAGIC_LEN	       6
#define LUKS2_LABEL_LEN	       48
#define LUKS2_CSUM_ALG_LEN     32
#define LUKS2_SALT_LEN	       64
#define LUKS2_UUID_LEN	       40
#define LUKS2_SUBSYSTEM_LEN    48
#define LUKS2_CSUM_LEN	       64
#define LUKS2_HDR_SIZE_MIN     0x4000u	 /* 16 KiB */
#define LUKS2_HDR_SIZE_MAX     0x400000u /* 4 MiB */
#define LUKS2_HDR_SIZE_DEFAULT 0x4000u

extern const char luks2_magic_primary[LUKS2_MAGIC_LEN];
extern const char luks2_magic_secondary[LUKS2_MAGIC_LEN];

/* The binary header as on disk: integers big-endian. */
struct luks2_hdr_disk {
	char magic[LUKS2_MAGIC_LEN];
	uint16_t version;
	uint64_t hdr_size; /* binary header + JSON area */
	uint64_t seqid;
	char label[LUKS2_LABEL_LEN];
	char csum_alg[LUKS2_CSUM_ALG_LEN];
	uint8_t salt[LUKS2_SALT_LEN];
	char uuid[LUKS2_UUID_LEN];
	char subsystem[LUKS2_SUBSYSTEM_LEN];
	uint64_t hdr_offset;
	char pad[184];
	uint8_t csum[LUKS2_CSUM_LEN];
	char pad4096[7 * 512];
} __attribute__((packed));
_Static_assert(sizeof(struct luks2_hdr_disk) == LUKS2_BIN_SIZE, "LUKS2 binary header size");
_Static_assert(__builtin_offsetof(struct luks2_hdr_disk, csum) == 448, "LUKS2 csum offset");

/* The binary header decoded: host byte order, NUL-terminated strings. */
struct luks2_bin {
	uint64_t hdr_size;
	uint64_t seqid;
	uint64_t hdr_offset;
	char label[LUKS2_LABEL_LEN + 1];
	char csum_alg[LUKS2_CSUM_ALG_LEN + 1];
	char uuid[LUKS2_UUID_LEN + 1];
	char subsystem[LUKS2_SUBSYSTEM_LEN + 1];
	uint8_t salt[LUKS2_SALT_LEN];
};

/* One header copy as read: its binary header and JSON text, or why not. */
struct luks2_copy {
	bool found; /* a magic was seen at `offset` */
	int status; /* 0 when bin and json are usable */
	uint64_t offset;
	struct luks2_bin bin;
	char *json; /* NUL-terminated text of the JSON area (malloc) */
	char error[LUKS_ERR_MAX];
};

bool luks2_hdr_size_allowed(uint64_t size);

/* Read and check the copy at `offset` (magic of the primary copy when
 * `primary`): magic, version, hdr_size, hdr_offset, checksum, a terminated
 * JSON text. Fills c, including c->error on failure; returns c->status. */
int luks2_disk_copy_read(const struct luks_io *io, uint64_t offset, bool primary,
			 struct luks2_copy *c);

/* Read both copies. The secondary one is looked for at the primary's
 * hdr_size, or, when the primary is unreadable, at every allowed offset. */
void luks2_disk_copies_read(const struct luks_io *io, struct luks2_copy copies[2]);

void luks2_copy_release(struct luks2_copy *c);

/* Write one copy: bin (with hdr_offset set by the caller) and `json`, which
 * must fit the JSON area. The checksum is computed here. */
int luks2_disk_copy_write(const struct luks_io *io, const struct luks2_bin *bin, bool primary,
			  const char *json, struct luks_err *err);

/* True when the first bytes look like any LUKS header, with its version. */
int luks_disk_probe_version(const uint8_t first[8]);

#endif
