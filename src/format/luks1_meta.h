/* LUKS1 metadata after validation, shared by luks1.c and luks1_write.c. */
#ifndef CRYPTBLK_FORMAT_LUKS1_META_H
#define CRYPTBLK_FORMAT_LUKS1_META_H

#include "keyslot.h"
#include "luks1.h"
#include "luks1_disk.h"

#define LUKS1_STRIPES	    4000
#define LUKS1_ALIGN_SECTORS 8	 /* keyslot material: 4 KiB aligned */
#define LUKS1_PAYLOAD_ALIGN 2048 /* data: 1 MiB aligned, as cryptsetup */
#define LUKS1_MK_ITER_MS    125

struct luks1_hdr {
	struct luks1_phdr phdr;
	char cipher[2 * LUKS1_NAME_LEN + 2]; /* "aes-xts-plain64" */
};

/* A keyslot's geometry and KDF, for keyslot_material_*(). */
void luks1_keyslot_geom(const struct luks1_hdr *hdr, int slot, struct kdf_params *kdf,
			struct keyslot_geom *g);
/* Sectors of one keyslot's material. */
uint32_t luks1_material_sectors(uint32_t key_bytes, uint32_t stripes);
/* Check slot i's offsets against the header and the other active slots. */
int luks1_keyslot_check(const struct luks1_hdr *hdr, int i, uint64_t dev_size,
			struct luks_err *err);

#endif
