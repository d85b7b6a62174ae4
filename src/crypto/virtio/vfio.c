/* A PCI device through VFIO: see vfio.h.
 *
 * The order is the kernel's (Documentation/driver-api/vfio.rst): container,
 * API version and type1 extension, group (viable?), group into container,
 * IOMMU type, device fd. Before any of that, sysfs says whether the address
 * exists, which driver holds it and which IOMMU group it is in, so the
 * common mistakes get a message that says how to fix them.
 */
#include "crypto/virtio/vfio.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSFS_PCI "/sys/bus/pci/devices/"

static void vfio_say(const char *addr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cryptblk: vfio: %s: ", addr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void vfio_say_bind(const char *addr, bool bound)
{
	fprintf(stderr, "cryptblk: vfio: %s: to bind it to vfio-pci (as root; docs/vfio.md):\n",
		addr);
	fprintf(stderr, "    modprobe vfio-pci\n");
	fprintf(stderr, "    echo vfio-pci > " SYSFS_PCI "%s/driver_override\n", addr);
	if (bound)
		fprintf(stderr, "    echo %s > " SYSFS_PCI "%s/driver/unbind\n", addr, addr);
	fprintf(stderr, "    echo %s > /sys/bus/pci/drivers_probe\n", addr);
}

int vfio_pci_addr_parse(const char *s, char out[VFIO_PCI_ADDR_LEN + 1])
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;

	if (!s)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
			return -EINVAL;
	}
	if (sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) == 4 && s[n] == '\0' &&
	    n == 12) {
		/* DDDD:BB:DD.F */
	} else if (dom = 0, n = 0,
		   sscanf(s, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) == 3 && s[n] == '\0' && n == 7) {
		/* BB:DD.F */
	} else {
		return -EINVAL;
	}
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, VFIO_PCI_ADDR_LEN + 1, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

int vfio_sysfs_read_u32(const char *addr, const char *attr, uint32_t *out)
{
	char path[PATH_MAX], buf[32], *end;
	unsigned long v;
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), SYSFS_PCI "%s/%s", addr, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 0);
	if (errno || end == buf || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* The last path component of a sysfs link, or "" when there is no link. */
static void vfio_sysfs_link(const char *addr, const char *attr, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(path, sizeof(path), SYSFS_PCI "%s/%s", addr, attr);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		out[0] = '\0';
		return;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	n = (ssize_t)strlen(base);
	if ((size_t)n >= len)
		n = (ssize_t)len - 1;
	memcpy(out, base, (size_t)n);
	out[n] = '\0';
}

/* Exists, bound to vfio-pci, in an IOMMU group. */
static int vfio_sysfs_check(struct vfio_dev *d)
{
	char path[PATH_MAX], driver[64], group[32], *end;
	struct stat st;
	unsigned long id;

	snprintf(path, sizeof(path), SYSFS_PCI "%s", d->addr);
	if (stat(path, &st) != 0) {
		vfio_say(d->addr, "no such PCI device (lspci -D lists them)");
		return -ENODEV;
	}
	vfio_sysfs_link(d->addr, "driver", driver, sizeof(driver));
	if (strcmp(driver, "vfio-pci") != 0) {
		if (driver[0])
			vfio_say(d->addr, "bound to the %s driver, not to vfio-pci", driver);
		else
			vfio_say(d->addr, "bound to no driver; it must be bound to vfio-pci");
		vfio_say_bind(d->addr, driver[0] != '\0');
		return -ENODEV;
	}
	vfio_sysfs_link(d->addr, "iommu_group", group, sizeof(group));
	errno = 0;
	id = strtoul(group, &end, 10);
	if (!group[0] || *end || errno || id > INT_MAX) {
		vfio_say(d->addr, "in no IOMMU group: the IOMMU is off (boot with intel_iommu=on "
				  "or amd_iommu=on, and enable VT-d/AMD-Vi in the firmware)");
		return -ENODEV;
	}
	d->group_id = (unsigned)id;
	return 0;
}

static int vfio_open_container(struct vfio_dev *d)
{
	int err;

	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container < 0) {
		err = -errno;
		vfio_say(d->addr,
			 "/dev/vfio/vfio: %s (is the vfio module loaded? modprobe vfio-pci)",
			 strerror(-err));
		return err == -ENOENT ? -ENODEV : err;
	}
	if (ioctl(d->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		vfio_say(d->addr, "/dev/vfio/vfio: unknown VFIO API version");
		return -ENODEV;
	}
	if (ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0 &&
	    ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		vfio_say(d->addr, "the kernel offers no type1 IOMMU (modprobe vfio_iommu_type1)");
		return -ENODEV;
	}
	return 0;
}

static int vfio_open_group(struct vfio_dev *d)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/dev/vfio/%u", d->group_id);
	d->group = open(path, O_RDWR | O_CLOEXEC);
	if (d->group < 0) {
		err = -errno;
		if (err == -EBUSY)
			vfio_say(d->addr,
				 "%s is in use: another process, or another engine of this one, "
				 "has the device (one engine per device and process)",
				 path);
		else
			vfio_say(d->addr, "%s: %s%s", path, strerror(-err),
				 err == -EACCES ? " (run as root, or give the user the device node)"
						: "");
		return err;
	}
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &status) != 0) {
		err = -errno;
		vfio_say(d->addr, "%s: group status: %s", path, strerror(-err));
		return err;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		vfio_say(d->addr,
			 "IOMMU group %u is not viable: every device in it must be bound to "
			 "vfio-pci (ls /sys/kernel/iommu_groups/%u/devices)",
			 d->group_id, d->group_id);
		return -ENODEV;
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) != 0) {
		err = -errno;
		vfio_say(d->addr, "%s: joining the container: %s", path, strerror(-err));
		return err;
	}
	if (ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0 &&
	    ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) != 0) {
		err = -errno;
		vfio_say(d->addr, "setting the type1 IOMMU: %s", strerror(-err));
		return err;
	}
	return 0;
}

static int vfio_open_device(struct vfio_dev *d)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};
	struct vfio_region_info cfg = {.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX};
	struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX};
	int err;

	d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->addr);
	if (d->device < 0) {
		err = -errno;
		vfio_say(d->addr, "getting the device from its group: %s", strerror(-err));
		return err;
	}
	if (ioctl(d->device, VFIO_DEVICE_GET_INFO, &info) != 0 ||
	    !(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
	    ioctl(d->device, VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0) {
		vfio_say(d->addr, "not a PCI device as VFIO describes it");
		return -ENODEV;
	}
	d->cfg_offset = cfg.offset;
	if (info.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX &&
	    ioctl(d->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0 &&
	    (irq.flags & VFIO_IRQ_INFO_EVENTFD))
		d->msix_count = irq.count;
	return 0;
}

int vfio_dev_open(struct vfio_dev *d, const char *addr)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->container = d->group = d->device = -1;
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	err = vfio_sysfs_check(d);
	if (!err)
		err = vfio_open_container(d);
	if (!err)
		err = vfio_open_group(d);
	if (!err)
		err = vfio_open_device(d);
	if (!err) {
		err = vfio_bus_master(d, true);
		if (err)
			vfio_say(d->addr, "enabling bus mastering: %s", strerror(-err));
	}
	if (err)
		vfio_dev_close(d);
	return err;
}

void vfio_dev_close(struct vfio_dev *d)
{
	if (d->msix_on)
		vfio_msix_disable(d);
	for (unsigned i = 0; i < VFIO_BARS; i++) {
		if (d->bars[i].map)
			munmap(d->bars[i].map, d->bars[i].size);
		d->bars[i] = (struct vfio_bar){0};
	}
	if (d->device >= 0)
		close(d->device);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	d->device = d->group = d->container = -1;
}

int vfio_cfg_read(struct vfio_dev *d, uint32_t off, void *buf, size_t len)
{
	ssize_t n = pread(d->device, buf, len, (off_t)(d->cfg_offset + off));

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int vfio_cfg_write(struct vfio_dev *d, uint32_t off, const void *buf, size_t len)
{
	ssize_t n = pwrite(d->device, buf, len, (off_t)(d->cfg_offset + off));

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int vfio_bus_master(struct vfio_dev *d, bool on)
{
	uint16_t cmd;
	int err = vfio_cfg_read(d, PCI_COMMAND, &cmd, sizeof(cmd));

	if (err)
		return err;
	cmd = le16toh(cmd);
	if (on)
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	else
		cmd &= (uint16_t)~PCI_COMMAND_MASTER;
	cmd = htole16(cmd);
	return vfio_cfg_write(d, PCI_COMMAND, &cmd, sizeof(cmd));
}

int vfio_bar_open(struct vfio_dev *d, unsigned bar)
{
	struct vfio_region_info info = {.argsz = sizeof(info), .index = bar};
	struct vfio_bar *b;
	void *map;

	if (bar >= VFIO_BARS)
		return -EINVAL;
	b = &d->bars[bar];
	if (b->present)
		return 0;
	if (ioctl(d->device, VFIO_DEVICE_GET_REGION_INFO, &info) != 0 || info.size == 0) {
		vfio_say(d->addr, "BAR %u: not present", bar);
		return -ENODEV;
	}
	b->size = info.size;
	b->offset = info.offset;
	b->present = true;
	if (info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->device,
			   (off_t)info.offset);
		if (map != MAP_FAILED)
			b->map = map;
	}
	return 0;
}

uint32_t vfio_bar_read(struct vfio_dev *d, unsigned bar, uint64_t off, unsigned width)
{
	const struct vfio_bar *b = &d->bars[bar];
	uint32_t v32 = UINT32_MAX;
	uint16_t v16 = UINT16_MAX;
	uint8_t v8 = UINT8_MAX;

	if (b->map) {
		const volatile uint8_t *p = b->map + off;

		switch (width) {
		case 1:
			return *p;
		case 2:
			return le16toh(*(const volatile uint16_t *)p);
		default:
			return le32toh(*(const volatile uint32_t *)p);
		}
	}
	/* A failed read looks like a vanished device: all ones. */
	switch (width) {
	case 1:
		(void)!pread(d->device, &v8, 1, (off_t)(b->offset + off));
		return v8;
	case 2:
		(void)!pread(d->device, &v16, 2, (off_t)(b->offset + off));
		return le16toh(v16);
	default:
		(void)!pread(d->device, &v32, 4, (off_t)(b->offset + off));
		return le32toh(v32);
	}
}

void vfio_bar_write(struct vfio_dev *d, unsigned bar, uint64_t off, unsigned width, uint32_t v)
{
	const struct vfio_bar *b = &d->bars[bar];
	uint32_t v32 = htole32(v);
	uint16_t v16 = htole16((uint16_t)v);
	uint8_t v8 = (uint8_t)v;

	if (b->map) {
		volatile uint8_t *p = b->map + off;

		switch (width) {
		case 1:
			*p = v8;
			return;
		case 2:
			*(volatile uint16_t *)p = v16;
			return;
		default:
			*(volatile uint32_t *)p = v32;
			return;
		}
	}
	switch (width) {
	case 1:
		(void)!pwrite(d->device, &v8, 1, (off_t)(b->offset + off));
		return;
	case 2:
		(void)!pwrite(d->device, &v16, 2, (off_t)(b->offset + off));
		return;
	default:
		(void)!pwrite(d->device, &v32, 4, (off_t)(b->offset + off));
		return;
	}
}

/* The lowest 2 MiB-aligned address from 2 MiB up inside one allowed range. */
static bool vfio_iova_fit(uint64_t start, uint64_t end, size_t size, uint64_t *iova)
{
	const uint64_t align = 2ull << 20;
	uint64_t at = start < align ? align : (start + align - 1) & ~(align - 1);

	if (at < start || at > end || size == 0 || end - at < size - 1)
		return false;
	*iova = at;
	return true;
}

int vfio_iova_pick(struct vfio_dev *d, size_t size, uint64_t *iova)
{
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t argsz = sizeof(*info);
	int err = -ENOSPC;

	/* Ask twice: the first answer says how large the capability chain is. */
	for (int round = 0; round < 2; round++) {
		struct vfio_iommu_type1_info *grown = realloc(info, argsz);

		if (!grown) {
			err = -ENOMEM;
			goto out;
		}
		info = grown;
		memset(info, 0, argsz);
		info->argsz = argsz;
		if (ioctl(d->container, VFIO_IOMMU_GET_INFO, info) != 0) {
			err = -errno;
			goto out;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
	}
	if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;

		while (off && off + sizeof(struct vfio_info_cap_header) <= argsz) {
			struct vfio_info_cap_header *h = (void *)((uint8_t *)info + off);
			struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
			    off + sizeof(*r) <= argsz &&
			    off + sizeof(*r) + r->nr_iovas * sizeof(r->iova_ranges[0]) <= argsz) {
				for (uint32_t i = 0; i < r->nr_iovas; i++) {
					if (vfio_iova_fit(r->iova_ranges[i].start,
							  r->iova_ranges[i].end, size, iova)) {
						err = 0;
						goto out;
					}
				}
				vfio_say(d->addr, "no IOVA range can hold %zu bytes", size);
				goto out;
			}
			if (h->next <= off)
				break;
			off = h->next;
		}
	}
	/* No ranges reported (an older kernel): 2 MiB is below every reserved
	 * region x86 and arm64 IOMMUs have. */
	*iova = 2ull << 20;
	err = 0;
out:
	free(info);
	return err;
}

int vfio_dma_map(struct vfio_dev *d, void *vaddr, size_t size, uint64_t iova)
{
	struct vfio_iommu_type1_dma_map map = {
	    .argsz = sizeof(map),
	    .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
	    .vaddr = (uint64_t)(uintptr_t)vaddr,
	    .iova = iova,
	    .size = size,
	};
	int err;

	if (ioctl(d->container, VFIO_IOMMU_MAP_DMA, &map) == 0)
		return 0;
	err = -errno;
	if (err == -ENOMEM)
		vfio_say(d->addr,
			 "mapping %zu KiB for DMA: over the locked-memory limit (ulimit -l; "
			 "root or CAP_IPC_LOCK has none)",
			 size / 1024);
	else
		vfio_say(d->addr, "mapping %zu KiB for DMA: %s", size / 1024, strerror(-err));
	return err;
}

int vfio_dma_unmap(struct vfio_dev *d, size_t size, uint64_t iova)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
	    .argsz = sizeof(unmap),
	    .iova = iova,
	    .size = size,
	};

	return ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0 ? 0 : -errno;
}

int vfio_msix_enable(struct vfio_dev *d, const int *fds, unsigned n)
{
	size_t len = sizeof(struct vfio_irq_set) + n * sizeof(int32_t);
	struct vfio_irq_set *set;
	int err = 0;

	if (n == 0 || n > d->msix_count) {
		vfio_say(d->addr, "the device has %u MSI-X vectors, %u needed", d->msix_count, n);
		return -ENODEV;
	}
	set = calloc(1, len);
	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)len;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = n;
	for (unsigned i = 0; i < n; i++) {
		int32_t fd = fds[i];

		memcpy(set->data + i * sizeof(fd), &fd, sizeof(fd));
	}
	if (ioctl(d->device, VFIO_DEVICE_SET_IRQS, set) != 0) {
		err = -errno;
		vfio_say(d->addr, "wiring %u MSI-X vectors to eventfds: %s", n, strerror(-err));
	} else {
		d->msix_on = true;
	}
	free(set);
	return err;
}

void vfio_msix_disable(struct vfio_dev *d)
{
	struct vfio_irq_set set = {
	    .argsz = sizeof(set),
	    .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	    .index = VFIO_PCI_MSIX_IRQ_INDEX,
	    .start = 0,
	    .count = 0,
	};

	ioctl(d->device, VFIO_DEVICE_SET_IRQS, &set);
	d->msix_on = false;
}
