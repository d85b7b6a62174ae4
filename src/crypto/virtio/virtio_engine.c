/* The "virtio:PCI_ADDR" engine: the glue between crypto_engine_ops, the
 * VFIO/PCI transport and the engine core (docs/architecture.md, "VFIO
 * virtio-crypto engine").
 *
 * Interrupts: MSI-X vector 0 (configuration changes and the data queue)
 * signals `irq_efd`, the engine's signal_fd(), which the loop polls;
 * vector 1 (control queue) signals `ctrl_efd`, which set_key and
 * clear_key wait on. A watchdog thread writes `irq_efd` once a second
 * while requests are in flight, so a device that stopped answering (no
 * interrupt ever comes) is noticed by complete().
 */
#include "crypto/virtio/virtio_engine.h"
#include "crypto/engines.h"
#include "crypto/virtio/vfio.h"
#include "crypto/virtio/vpci.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_DATAQ_MAX   1024	       /* ring entries: 256 requests */
#define VIRTIO_POOL_HEAP   (16u << 20) /* for buf_alloc */
#define VIRTIO_WATCHDOG_MS 1000
#define VIRTIO_VEC_DATA	   0
#define VIRTIO_VEC_CTRL	   1

struct virtio_engine {
	struct crypto_engine base; /* first: engine.c casts */
	char addr[VFIO_PCI_ADDR_LEN + 1];
	struct vfio_dev vfio;
	bool vfio_open;
	struct vpci pci;
	bool pci_ready;
	struct dma_pool pool;
	bool pool_mapped;
	struct vcrypto core;
	bool core_ready;
	struct vcrypto_config cfg;
	struct vcrypto_queues queues;
	int irq_efd, ctrl_efd, stop_efd;
	pthread_t watchdog;
	bool watchdog_on;
};

static struct virtio_engine *virtio_of(struct crypto_engine *engine)
{
	return (struct virtio_engine *)engine;
}

struct vcrypto *virtio_engine_core(struct crypto_engine *engine)
{
	return &virtio_of(engine)->core;
}

static void virtio_say(const struct virtio_engine *ve, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void virtio_say(const struct virtio_engine *ve, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cryptblk: virtio: %s: ", ve->addr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The bus operations of the core, over the PCI transport. */
static int virtio_bus_queue_setup(void *bus, uint16_t index, enum vcrypto_queue_role role,
				  uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct virtio_engine *ve = bus;

	return vpci_queue_setup(&ve->pci, index, size, desc, avail, used,
				role == VCRYPTO_CTRLQ ? VIRTIO_VEC_CTRL : VIRTIO_VEC_DATA);
}

static void virtio_bus_notify(void *bus, uint16_t index)
{
	vpci_notify(&((struct virtio_engine *)bus)->pci, index);
}

static uint8_t virtio_bus_status(void *bus)
{
	return vpci_status(&((struct virtio_engine *)bus)->pci);
}

static void virtio_bus_stop(void *bus)
{
	struct virtio_engine *ve = bus;

	vpci_reset(&ve->pci);
	/* A device that does not finish its reset must not write anywhere. */
	vfio_bus_master(&ve->vfio, false);
}

static int virtio_bus_ctrl_wait(void *bus, int timeout_ms)
{
	struct virtio_engine *ve = bus;
	struct pollfd pfd = {.fd = ve->ctrl_efd, .events = POLLIN};
	uint64_t count;
	int n = poll(&pfd, 1, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n > 0 && read(ve->ctrl_efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static const struct vcrypto_bus_ops virtio_bus_ops = {
    .queue_setup = virtio_bus_queue_setup,
    .notify = virtio_bus_notify,
    .status = virtio_bus_status,
    .stop = virtio_bus_stop,
    .ctrl_wait = virtio_bus_ctrl_wait,
};

static uint16_t virtio_pow2_floor(uint16_t n, uint16_t cap)
{
	uint16_t p = 1;

	if (n > cap)
		n = cap;
	while (n && p <= n / 2)
		p *= 2;
	return n ? p : 0;
}

/* What the device config says, checked once at open. */
static int virtio_config_check(struct virtio_engine *ve)
{
	struct vcrypto_config *c = &ve->cfg;
	uint32_t dataqs;
	uint64_t max_size;
	int err = vpci_devcfg_read(&ve->pci, 0, c, sizeof(*c));

	if (err) {
		virtio_say(ve, "reading the device configuration: %s", strerror(-err));
		return err;
	}
	dataqs = le32toh(c->max_dataqueues);
	if (!(le32toh(c->status) & VCRYPTO_S_HW_READY)) {
		virtio_say(ve, "the device is not ready (HW_READY is clear)");
		return -ENODEV;
	}
	if (!(le32toh(c->crypto_services) & (1u << VCRYPTO_SERVICE_CIPHER))) {
		virtio_say(ve, "the device offers no cipher service (services 0x%x)",
			   le32toh(c->crypto_services));
		return -EOPNOTSUPP;
	}
	if (dataqs == 0 || dataqs >= vpci_num_queues(&ve->pci)) {
		virtio_say(ve, "the device has %u data queues and %u queues in all", dataqs,
			   vpci_num_queues(&ve->pci));
		return -ENODEV;
	}
	ve->queues.data_index = 0;
	ve->queues.ctrl_index = (uint16_t)dataqs;
	ve->queues.data_size = virtio_pow2_floor(vpci_queue_max(&ve->pci, 0), VIRTIO_DATAQ_MAX);
	ve->queues.ctrl_size =
	    virtio_pow2_floor(vpci_queue_max(&ve->pci, (uint16_t)dataqs), VCRYPTO_CTRL_SIZE);
	if (ve->queues.data_size < VCRYPTO_DESC_PER_REQ || ve->queues.ctrl_size < 2) {
		virtio_say(ve, "the device's queues are too small (data %u, control %u entries)",
			   ve->queues.data_size, ve->queues.ctrl_size);
		return -ENODEV;
	}
	max_size = le64toh(c->max_size);
	if (max_size && max_size < VCRYPTO_IV_LEN + 2 * 512) {
		virtio_say(ve,
			   "the device takes requests of at most %llu bytes, too small for "
			   "one 512-byte sector",
			   (unsigned long long)max_size);
		return -EOPNOTSUPP;
	}
	return 0;
}

static uint32_t virtio_max_sector(const struct virtio_engine *ve)
{
	uint64_t max_size = le64toh(ve->cfg.max_size);
	uint32_t s = VCRYPTO_SECTOR_MAX;

	/* A request's content: the tweak, the source and the destination. */
	while (max_size && s > 512 && VCRYPTO_IV_LEN + 2ull * s > max_size)
		s /= 2;
	return s;
}

/* The DMA pool, entered into the IOMMU; once, at open. */
static int virtio_pool_open(struct virtio_engine *ve)
{
	int err = dma_pool_init(&ve->pool, vcrypto_dma_bytes(&ve->queues), VIRTIO_POOL_HEAP);

	if (err) {
		virtio_say(ve, "DMA memory: %s", strerror(-err));
		return err;
	}
	err = vfio_iova_pick(&ve->vfio, ve->pool.size, &ve->pool.iova);
	if (!err)
		err = vfio_dma_map(&ve->vfio, ve->pool.base, ve->pool.size, ve->pool.iova);
	ve->pool_mapped = err == 0;
	return err;
}

/* Reset to DRIVER_OK: at open (`first`), and at close of a failed engine so
 * that it can destroy its sessions. */
static int virtio_device_init(struct virtio_engine *ve, bool first)
{
	int err = vfio_bus_master(&ve->vfio, true);

	if (!err)
		err = vpci_reset(&ve->pci);
	if (!err)
		err = vpci_negotiate(
		    &ve->pci, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM),
		    1ull << VIRTIO_F_ORDER_PLATFORM);
	if (!err)
		err = vpci_config_vector(&ve->pci, VIRTIO_VEC_DATA);
	if (!err && first)
		err = virtio_config_check(ve);
	if (!err && first)
		err = virtio_pool_open(ve);
	if (!err && first) {
		err =
		    vcrypto_init(&ve->core, ve->addr, &virtio_bus_ops, ve, &ve->pool, &ve->queues);
		ve->core_ready = err == 0;
		ve->core.max_sector = virtio_max_sector(ve);
	} else if (!err) {
		err = vcrypto_start(&ve->core);
	}
	if (!err) {
		vpci_status_add(&ve->pci, VIRTIO_S_DRIVER_OK);
		if (vpci_status(&ve->pci) != VIRTIO_S_RUNNING) {
			virtio_say(ve, "the device did not take DRIVER_OK (status 0x%02x)",
				   vpci_status(&ve->pci));
			err = -EIO;
		}
	}
	if (err && ve->core_ready)
		ve->core.state = VCRYPTO_FAILED;
	return err;
}

static void *virtio_watchdog_main(void *arg)
{
	struct virtio_engine *ve = arg;
	struct pollfd pfd = {.fd = ve->stop_efd, .events = POLLIN};
	const uint64_t one = 1;

	for (;;) {
		int n = poll(&pfd, 1, VIRTIO_WATCHDOG_MS);

		if (n > 0)
			break;
		/* Wake the loop: its complete() looks at a quiet device. */
		if (n == 0 && vcrypto_outstanding(&ve->core))
			(void)!write(ve->irq_efd, &one, sizeof(one));
	}
	return NULL;
}

static int virtio_watchdog_start(struct virtio_engine *ve)
{
	sigset_t all, old;
	int err;

	ve->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (ve->stop_efd < 0)
		return -errno;
	/* Signals belong to the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&ve->watchdog, NULL, virtio_watchdog_main, ve);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ve->watchdog_on = err == 0;
	return err;
}

static void virtio_watchdog_stop(struct virtio_engine *ve)
{
	const uint64_t one = 1;

	if (!ve->watchdog_on)
		return;
	(void)!write(ve->stop_efd, &one, sizeof(one));
	pthread_join(ve->watchdog, NULL);
	ve->watchdog_on = false;
}

static void virtio_destroy(struct crypto_engine *engine)
{
	struct virtio_engine *ve = virtio_of(engine);
	unsigned left;

	virtio_watchdog_stop(ve);
	if (ve->core_ready) {
		if (ve->core.state != VCRYPTO_RUNNING && vcrypto_sessions_live(&ve->core) &&
		    virtio_device_init(ve, false) == 0)
			virtio_say(ve, "re-initialised the device to destroy its sessions");
		left = vcrypto_keys_clear_all(&ve->core);
		if (left)
			virtio_say(ve, "%u session(s) stay on the device", left);
		vcrypto_fini(&ve->core);
	}
	if (ve->pci_ready)
		vpci_reset(&ve->pci);
	if (ve->pool_mapped)
		vfio_dma_unmap(&ve->vfio, ve->pool.size, ve->pool.iova);
	dma_pool_fini(&ve->pool);
	if (ve->vfio_open)
		vfio_dev_close(&ve->vfio);
	if (ve->irq_efd >= 0)
		close(ve->irq_efd);
	if (ve->ctrl_efd >= 0)
		close(ve->ctrl_efd);
	if (ve->stop_efd >= 0)
		close(ve->stop_efd);
	free(ve);
}

/* The sysfs ids, when the address exists (vfio_dev_open says when not). */
static int virtio_check_ids(struct virtio_engine *ve)
{
	uint32_t vendor, device;

	if (vfio_sysfs_read_u32(ve->addr, "vendor", &vendor) != 0 ||
	    vfio_sysfs_read_u32(ve->addr, "device", &device) != 0)
		return 0;
	if (vendor == VCRYPTO_PCI_VENDOR && device == VCRYPTO_PCI_DEVICE)
		return 0;
	virtio_say(ve, "PCI device %04x:%04x is not a virtio-crypto device (%04x:%04x)", vendor,
		   device, VCRYPTO_PCI_VENDOR, VCRYPTO_PCI_DEVICE);
	return -ENODEV;
}

static int virtio_open(struct virtio_engine *ve)
{
	int fds[2], err = virtio_check_ids(ve);

	if (!err)
		err = vfio_dev_open(&ve->vfio, ve->addr);
	if (err)
		return err;
	ve->vfio_open = true;
	err = vpci_probe(&ve->pci, &ve->vfio);
	if (err)
		return err;
	ve->pci_ready = true;
	ve->irq_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ve->ctrl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ve->irq_efd < 0 || ve->ctrl_efd < 0)
		return -errno;
	fds[VIRTIO_VEC_DATA] = ve->irq_efd;
	fds[VIRTIO_VEC_CTRL] = ve->ctrl_efd;
	err = vfio_msix_enable(&ve->vfio, fds, 2);
	if (!err)
		err = virtio_device_init(ve, true);
	if (!err)
		err = virtio_watchdog_start(ve);
	return err;
}

static int virtio_create(const char *args, struct crypto_engine **out)
{
	struct virtio_engine *ve = calloc(1, sizeof(*ve));
	int err;

	if (!ve)
		return -ENOMEM;
	ve->irq_efd = ve->ctrl_efd = ve->stop_efd = -1;
	err = vfio_pci_addr_parse(args, ve->addr);
	if (err) {
		fprintf(stderr, "cryptblk: virtio: '%s': not a PCI address (DDDD:BB:DD.F)\n",
			args ? args : "");
		free(ve);
		return err;
	}
	err = virtio_open(ve);
	if (err) {
		virtio_destroy(&ve->base);
		return err;
	}
	*out = &ve->base;
	return 0;
}

static int virtio_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			  size_t key_len)
{
	struct virtio_engine *ve = virtio_of(engine);
	uint32_t mask = le32toh(ve->cfg.cipher_algo_l);
	int err = vcrypto_key_set(&ve->core, slot, key, key_len);

	if (err == -EOPNOTSUPP)
		virtio_say(ve,
			   "the device does not do AES-XTS with %zu-bit keys (its cipher mask "
			   "0x%08x %s AES-XTS; longest key %u bytes)",
			   key_len * 8, mask,
			   mask & (1u << VCRYPTO_CIPHER_AES_XTS) ? "claims" : "does not list",
			   le32toh(ve->cfg.max_cipher_key_len));
	else if (err == -ENOSPC)
		virtio_say(ve, "the device has no free session (QEMU's builtin backend has 256 "
			       "for all its users; sessions of a process that crashed stay until "
			       "the device's VM restarts)");
	else if (err == -EKEYREJECTED)
		virtio_say(ve, "the device rejected the key");
	return err;
}

static void virtio_clear_key(struct crypto_engine *engine, unsigned slot)
{
	vcrypto_key_clear(&virtio_of(engine)->core, slot);
}

static int virtio_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	return vcrypto_submit(&virtio_of(engine)->core, job);
}

static struct crypto_job *virtio_complete(struct crypto_engine *engine)
{
	return vcrypto_complete(&virtio_of(engine)->core);
}

static int virtio_signal_fd(struct crypto_engine *engine)
{
	return virtio_of(engine)->irq_efd;
}

/* From the DMA pool when it has room, else ordinary memory (copied through
 * the bounce sectors). */
static void *virtio_buf_alloc(struct crypto_engine *engine, size_t len)
{
	struct virtio_engine *ve = virtio_of(engine);
	void *buf = dma_pool_alloc(&ve->pool, len);

	if (!buf && len &&
	    posix_memalign(&buf, DMA_POOL_PAGE,
			   (len + DMA_POOL_PAGE - 1) / DMA_POOL_PAGE * DMA_POOL_PAGE) != 0)
		buf = NULL;
	return buf;
}

static void virtio_buf_free(struct crypto_engine *engine, void *buf, size_t len)
{
	struct virtio_engine *ve = virtio_of(engine);

	if (dma_pool_in_heap(&ve->pool, buf))
		dma_pool_free(&ve->pool, buf, len);
	else
		free(buf);
}

const struct crypto_engine_ops crypto_virtio_ops = {
    .name = "virtio",
    .create = virtio_create,
    .destroy = virtio_destroy,
    .set_key = virtio_set_key,
    .clear_key = virtio_clear_key,
    .submit = virtio_submit,
    .complete = virtio_complete,
    .signal_fd = virtio_signal_fd,
    .buf_alloc = virtio_buf_alloc,
    .buf_free = virtio_buf_free,
};
