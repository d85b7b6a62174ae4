/* The "virtio:PCI_ADDR" engine: a virtio-crypto device through VFIO.
 * The ops are crypto_virtio_ops (engines.h); this header is for tests. */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VIRTIO_ENGINE_H
#define CRYPTBLK_CRYPTO_VIRTIO_VIRTIO_ENGINE_H

#include "crypto/virtio/vcrypto.h"

#include <cryptblk/crypto.h>

/* The core of an engine opened with a "virtio:" spec. */
struct vcrypto *virtio_engine_core(struct crypto_engine *engine);

#endif
