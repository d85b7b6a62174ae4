/* The virtio 1.x modern PCI transport ("Virtio Over PCI Bus") over VFIO.
 *
 * The device describes its register blocks with vendor-specific PCI
 * capabilities: common configuration (features, status, queues), notify
 * (doorbells), ISR and the device-specific configuration, each a window in
 * one of its BARs. This module finds them, maps those BARs and gives the
 * registers names; it knows nothing of the crypto device.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VPCI_H
#define CRYPTBLK_CRYPTO_VIRTIO_VPCI_H

#include "crypto/virtio/vfio.h"

#include <stdint.h>

#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_ORDER_PLATFORM	 36
#define VIRTIO_MSI_NO_VECTOR	 0xffff
#define VPCI_RESET_TIMEOUT_MS	 1000

struct vpci_window {
	unsigned bar;
	uint32_t offset, length;
	bool found;
};

struct vpci {
	struct vfio_dev *vfio;
	struct vpci_window common, notify, isr, device;
	uint32_t notify_mult;
	/* Doorbell offsets of the queues set up so far (two: data, control). */
	struct {
		uint16_t index;
		uint32_t off;
		bool used;
	} doorbell[2];
	uint64_t features; /* negotiated */
};

/* Finds the capabilities and opens their BARs. -ENODEV when the device is
 * not a modern virtio PCI device. */
int vpci_probe(struct vpci *vp, struct vfio_dev *vfio);

uint8_t vpci_status(struct vpci *vp);
void vpci_status_add(struct vpci *vp, uint8_t bits);
/* Writes 0 and waits (sleeping) until the device reads back 0. -ETIMEDOUT
 * after VPCI_RESET_TIMEOUT_MS. */
int vpci_reset(struct vpci *vp);

/* ACKNOWLEDGE, DRIVER, then features: every bit of `need` must be offered
 * (-EOPNOTSUPP with a message otherwise), bits of `want` are taken when
 * offered; FEATURES_OK must read back (-EPROTO). */
int vpci_negotiate(struct vpci *vp, uint64_t need, uint64_t want);

uint16_t vpci_num_queues(struct vpci *vp);
/* The largest size the device allows for queue `index` (0: no such queue). */
uint16_t vpci_queue_max(struct vpci *vp, uint16_t index);
/* Size, ring addresses, MSI-X vector (read back: -EIO if refused), enable. */
int vpci_queue_setup(struct vpci *vp, uint16_t index, uint16_t size, uint64_t desc, uint64_t avail,
		     uint64_t used, uint16_t vector);
/* The vector for configuration changes (read back: -EIO if refused). */
int vpci_config_vector(struct vpci *vp, uint16_t vector);
void vpci_notify(struct vpci *vp, uint16_t index);

/* Device-specific configuration, read consistently (config_generation). */
int vpci_devcfg_read(struct vpci *vp, uint32_t off, void *buf, uint32_t len);

#endif
