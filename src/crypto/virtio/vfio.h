/* A PCI device through VFIO (type1 IOMMU): container, group, device fd,
 * config space, BARs, DMA mappings and MSI-X eventfds.
 *
 * Knows nothing of virtio. Every failure prints one line on stderr that
 * starts with "cryptblk: vfio: ADDR:" and says what to do about it, and
 * returns a negative errno: -ENODEV (no such device, not bound to vfio-pci,
 * no IOMMU), -EBUSY (the group is held elsewhere), -EACCES, -ENOMEM (DMA
 * mapping refused: pinned memory over RLIMIT_MEMLOCK), others from the
 * kernel.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VFIO_H
#define CRYPTBLK_CRYPTO_VIRTIO_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFIO_PCI_ADDR_LEN 13 /* "DDDD:BB:DD.F" */
#define VFIO_BARS	  6

struct vfio_bar {
	uint8_t *map; /* mmap of the whole BAR, or NULL: pread/pwrite */
	uint64_t size;
	uint64_t offset; /* of the region in the device fd */
	bool present;
};

struct vfio_dev {
	char addr[VFIO_PCI_ADDR_LEN + 1];
	int container, group, device;
	unsigned group_id;
	uint64_t cfg_offset; /* config space region in the device fd */
	struct vfio_bar bars[VFIO_BARS];
	unsigned msix_count;
	bool msix_on;
};

/* "DDDD:BB:DD.F" or "BB:DD.F" (domain 0000) into canonical lowercase form.
 * -EINVAL for anything else. */
int vfio_pci_addr_parse(const char *s, char out[VFIO_PCI_ADDR_LEN + 1]);

/* Reads a sysfs attribute of the device as a number (vendor, device). */
int vfio_sysfs_read_u32(const char *addr, const char *attr, uint32_t *out);

/* Opens container, group and device of `addr` (canonical form), with
 * memory space and bus mastering enabled. On error nothing stays open. */
int vfio_dev_open(struct vfio_dev *d, const char *addr);
void vfio_dev_close(struct vfio_dev *d);

int vfio_cfg_read(struct vfio_dev *d, uint32_t off, void *buf, size_t len);
int vfio_cfg_write(struct vfio_dev *d, uint32_t off, const void *buf, size_t len);
/* Sets or clears PCI command bits 1 (memory space) and 2 (bus master);
 * vfio-pci leaves bus mastering off on every open. */
int vfio_bus_master(struct vfio_dev *d, bool on);

/* Makes BAR `bar` accessible: mmap when the region allows it, else
 * through pread/pwrite. */
int vfio_bar_open(struct vfio_dev *d, unsigned bar);
/* Accesses of width 1, 2, 4 bytes (little-endian values, as on the bus).
 * The caller checked the range against the capability it came from. */
uint32_t vfio_bar_read(struct vfio_dev *d, unsigned bar, uint64_t off, unsigned width);
void vfio_bar_write(struct vfio_dev *d, unsigned bar, uint64_t off, unsigned width, uint32_t v);

/* An IOVA for `size` bytes inside the ranges the IOMMU allows. */
int vfio_iova_pick(struct vfio_dev *d, size_t size, uint64_t *iova);
int vfio_dma_map(struct vfio_dev *d, void *vaddr, size_t size, uint64_t iova);
int vfio_dma_unmap(struct vfio_dev *d, size_t size, uint64_t iova);

/* MSI-X vectors 0 .. n-1 signal fds[0 .. n-1]; n <= msix_count. */
int vfio_msix_enable(struct vfio_dev *d, const int *fds, unsigned n);
void vfio_msix_disable(struct vfio_dev *d);

#endif
