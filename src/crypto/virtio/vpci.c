/* The virtio 1.x modern PCI transport over VFIO: see vpci.h. */
#include "crypto/virtio/vpci.h"

#include <endian.h>
#include <errno.h>
#include <linux/pci_regs.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* virtio_pci_cap.cfg_type */
#define VPCI_CAP_COMMON 1
#define VPCI_CAP_NOTIFY 2
#define VPCI_CAP_ISR	3
#define VPCI_CAP_DEVICE 4

/* Registers of the common configuration (virtio_pci_common_cfg). */
#define VPCI_DFSELECT	 0x00
#define VPCI_DF		 0x04
#define VPCI_GFSELECT	 0x08
#define VPCI_GF		 0x0c
#define VPCI_MSIX	 0x10
#define VPCI_NUM_QUEUES	 0x12
#define VPCI_STATUS	 0x14
#define VPCI_CFG_GEN	 0x15
#define VPCI_Q_SELECT	 0x16
#define VPCI_Q_SIZE	 0x18
#define VPCI_Q_MSIX	 0x1a
#define VPCI_Q_ENABLE	 0x1c
#define VPCI_Q_NOFF	 0x1e
#define VPCI_Q_DESCLO	 0x20
#define VPCI_Q_DESCHI	 0x24
#define VPCI_Q_AVAILLO	 0x28
#define VPCI_Q_AVAILHI	 0x2c
#define VPCI_Q_USEDLO	 0x30
#define VPCI_Q_USEDHI	 0x34
#define VPCI_COMMON_SIZE 0x38

#define VPCI_CAPS_MAX 48 /* a config space holds at most 48 capabilities */

static void vpci_say(const struct vpci *vp, const char *what)
{
	fprintf(stderr, "cryptblk: virtio: %s: %s\n", vp->vfio->addr, what);
}

static uint32_t vpci_common_read(struct vpci *vp, uint32_t reg, unsigned width)
{
	return vfio_bar_read(vp->vfio, vp->common.bar, vp->common.offset + reg, width);
}

static void vpci_common_write(struct vpci *vp, uint32_t reg, unsigned width, uint32_t v)
{
	vfio_bar_write(vp->vfio, vp->common.bar, vp->common.offset + reg, width, v);
}

/* One vendor capability at config offset `pos`. */
static int vpci_cap_read(struct vpci *vp, uint8_t pos)
{
	uint8_t cap[20];
	struct vpci_window *w = NULL;
	uint32_t offset, length;
	int err = vfio_cfg_read(vp->vfio, pos, cap, 16);

	if (err)
		return err;
	switch (cap[3]) {
	case VPCI_CAP_COMMON:
		w = &vp->common;
		break;
	case VPCI_CAP_NOTIFY:
		w = &vp->notify;
		break;
	case VPCI_CAP_ISR:
		w = &vp->isr;
		break;
	case VPCI_CAP_DEVICE:
		w = &vp->device;
		break;
	default:
		return 0;
	}
	/* The first capability of a type that we can use wins. */
	if (w->found || cap[4] >= VFIO_BARS)
		return 0;
	memcpy(&offset, cap + 8, 4);
	memcpy(&length, cap + 12, 4);
	w->bar = cap[4];
	w->offset = le32toh(offset);
	w->length = le32toh(length);
	if (cap[3] == VPCI_CAP_NOTIFY) {
		uint32_t mult;

		err = vfio_cfg_read(vp->vfio, pos + 16u, &mult, 4);
		if (err)
			return err;
		vp->notify_mult = le32toh(mult);
	}
	w->found = true;
	return 0;
}

static int vpci_window_open(struct vpci *vp, struct vpci_window *w, uint32_t need)
{
	int err = vfio_bar_open(vp->vfio, w->bar);

	if (err)
		return err;
	if (w->length < need || w->offset > vp->vfio->bars[w->bar].size ||
	    w->length > vp->vfio->bars[w->bar].size - w->offset)
		return -ENODEV;
	return 0;
}

int vpci_probe(struct vpci *vp, struct vfio_dev *vfio)
{
	uint16_t status;
	uint8_t pos;
	int err;

	memset(vp, 0, sizeof(*vp));
	vp->vfio = vfio;
	err = vfio_cfg_read(vfio, PCI_STATUS, &status, 2);
	if (!err && !(le16toh(status) & PCI_STATUS_CAP_LIST))
		err = -ENODEV;
	if (!err)
		err = vfio_cfg_read(vfio, PCI_CAPABILITY_LIST, &pos, 1);
	for (unsigned n = 0; !err && pos >= 0x40 && n < VPCI_CAPS_MAX; n++) {
		uint8_t hdr[2];

		pos &= 0xfc;
		err = vfio_cfg_read(vfio, pos, hdr, 2);
		if (!err && hdr[0] == PCI_CAP_ID_VNDR)
			err = vpci_cap_read(vp, pos);
		pos = hdr[1];
	}
	if (!err && !(vp->common.found && vp->notify.found && vp->device.found))
		err = -ENODEV;
	if (!err)
		err = vpci_window_open(vp, &vp->common, VPCI_COMMON_SIZE);
	if (!err)
		err = vpci_window_open(vp, &vp->notify, 2);
	if (!err)
		err = vpci_window_open(vp, &vp->device, 4);
	if (err)
		vpci_say(vp, "not a modern (virtio 1.x) PCI device: its common, notify and device "
			     "configuration capabilities are missing or unusable");
	return err;
}

uint8_t vpci_status(struct vpci *vp)
{
	return (uint8_t)vpci_common_read(vp, VPCI_STATUS, 1);
}

void vpci_status_add(struct vpci *vp, uint8_t bits)
{
	vpci_common_write(vp, VPCI_STATUS, 1, vpci_status(vp) | bits);
}

int vpci_reset(struct vpci *vp)
{
	const struct timespec ms = {.tv_nsec = 1000000};

	vpci_common_write(vp, VPCI_STATUS, 1, 0);
	for (unsigned i = 0; i < VPCI_RESET_TIMEOUT_MS; i++) {
		if (vpci_status(vp) == 0)
			return 0;
		nanosleep(&ms, NULL);
	}
	vpci_say(vp, "the device does not finish its reset");
	return -ETIMEDOUT;
}

static uint64_t vpci_features_read(struct vpci *vp)
{
	uint64_t f;

	vpci_common_write(vp, VPCI_DFSELECT, 4, 0);
	f = vpci_common_read(vp, VPCI_DF, 4);
	vpci_common_write(vp, VPCI_DFSELECT, 4, 1);
	f |= (uint64_t)vpci_common_read(vp, VPCI_DF, 4) << 32;
	return f;
}

int vpci_negotiate(struct vpci *vp, uint64_t need, uint64_t want)
{
	uint64_t offered, take;
	char msg[160];

	vpci_status_add(vp, 1 /* ACKNOWLEDGE */);
	vpci_status_add(vp, 2 /* DRIVER */);
	offered = vpci_features_read(vp);
	if ((offered & need) != need) {
		snprintf(
		    msg, sizeof(msg),
		    "the device lacks feature bits 0x%llx (offers 0x%llx); it needs "
		    "VERSION_1 and ACCESS_PLATFORM (qemu: disable-legacy=on,iommu_platform=on)",
		    (unsigned long long)(need & ~offered), (unsigned long long)offered);
		vpci_say(vp, msg);
		return -EOPNOTSUPP;
	}
	take = need | (offered & want);
	vpci_common_write(vp, VPCI_GFSELECT, 4, 0);
	vpci_common_write(vp, VPCI_GF, 4, (uint32_t)take);
	vpci_common_write(vp, VPCI_GFSELECT, 4, 1);
	vpci_common_write(vp, VPCI_GF, 4, (uint32_t)(take >> 32));
	vpci_status_add(vp, 8 /* FEATURES_OK */);
	if (!(vpci_status(vp) & 8)) {
		vpci_say(vp, "the device did not accept our features (FEATURES_OK)");
		return -EPROTO;
	}
	vp->features = take;
	return 0;
}

uint16_t vpci_num_queues(struct vpci *vp)
{
	return (uint16_t)vpci_common_read(vp, VPCI_NUM_QUEUES, 2);
}

uint16_t vpci_queue_max(struct vpci *vp, uint16_t index)
{
	if (index >= vpci_num_queues(vp))
		return 0;
	vpci_common_write(vp, VPCI_Q_SELECT, 2, index);
	return (uint16_t)vpci_common_read(vp, VPCI_Q_SIZE, 2);
}

int vpci_queue_setup(struct vpci *vp, uint16_t index, uint16_t size, uint64_t desc, uint64_t avail,
		     uint64_t used, uint16_t vector)
{
	uint32_t off;
	unsigned slot;

	vpci_common_write(vp, VPCI_Q_SELECT, 2, index);
	vpci_common_write(vp, VPCI_Q_SIZE, 2, size);
	vpci_common_write(vp, VPCI_Q_DESCLO, 4, (uint32_t)desc);
	vpci_common_write(vp, VPCI_Q_DESCHI, 4, (uint32_t)(desc >> 32));
	vpci_common_write(vp, VPCI_Q_AVAILLO, 4, (uint32_t)avail);
	vpci_common_write(vp, VPCI_Q_AVAILHI, 4, (uint32_t)(avail >> 32));
	vpci_common_write(vp, VPCI_Q_USEDLO, 4, (uint32_t)used);
	vpci_common_write(vp, VPCI_Q_USEDHI, 4, (uint32_t)(used >> 32));
	vpci_common_write(vp, VPCI_Q_MSIX, 2, vector);
	if (vpci_common_read(vp, VPCI_Q_MSIX, 2) != vector) {
		vpci_say(vp, "the device refused an MSI-X vector for a queue");
		return -EIO;
	}
	off = vpci_common_read(vp, VPCI_Q_NOFF, 2) * vp->notify_mult;
	if (off > vp->notify.length - 2) {
		vpci_say(vp, "a queue's doorbell lies outside the notify window");
		return -ENODEV;
	}
	vpci_common_write(vp, VPCI_Q_ENABLE, 2, 1);
	/* Remember the doorbell (a set-up again after a reset reuses its entry). */
	slot = 2;
	for (unsigned i = 2; i-- > 0;) {
		if (!vp->doorbell[i].used || vp->doorbell[i].index == index)
			slot = i;
	}
	if (slot == 2)
		return -ENOSPC;
	vp->doorbell[slot].index = index;
	vp->doorbell[slot].off = off;
	vp->doorbell[slot].used = true;
	return 0;
}

int vpci_config_vector(struct vpci *vp, uint16_t vector)
{
	vpci_common_write(vp, VPCI_MSIX, 2, vector);
	if (vpci_common_read(vp, VPCI_MSIX, 2) != vector) {
		vpci_say(vp, "the device refused an MSI-X vector for configuration changes");
		return -EIO;
	}
	return 0;
}

void vpci_notify(struct vpci *vp, uint16_t index)
{
	for (unsigned i = 0; i < 2; i++) {
		if (vp->doorbell[i].used && vp->doorbell[i].index == index) {
			vfio_bar_write(vp->vfio, vp->notify.bar,
				       vp->notify.offset + vp->doorbell[i].off, 2, index);
			return;
		}
	}
}

int vpci_devcfg_read(struct vpci *vp, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *out = buf;
	uint8_t gen;

	/* Every field of the crypto config is 32 or 64 bits wide: the spec
	 * wants 32-bit aligned reads for those. */
	if (off % 4 || len % 4 || off > vp->device.length || len > vp->device.length - off)
		return -EINVAL;
	for (unsigned tries = 0; tries < 100; tries++) {
		gen = (uint8_t)vpci_common_read(vp, VPCI_CFG_GEN, 1);
		for (uint32_t i = 0; i < len; i += 4) {
			uint32_t v = htole32(vfio_bar_read(vp->vfio, vp->device.bar,
							   vp->device.offset + off + i, 4));

			memcpy(out + i, &v, 4);
		}
		if ((uint8_t)vpci_common_read(vp, VPCI_CFG_GEN, 1) == gen)
			return 0;
	}
	return -EAGAIN;
}
