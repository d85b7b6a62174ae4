/* virtio-crypto structures and constants (virtio 1.x, "Crypto Device").
 *
 * Only what an AES-XTS cipher driver needs: the control queue's session
 * requests and the data queue's cipher request. All fields are
 * little-endian on the wire; they are converted where a request is built or
 * an answer read (vcrypto.c), never here.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_VCRYPTO_WIRE_H
#define CRYPTBLK_CRYPTO_VIRTIO_VCRYPTO_WIRE_H

#include <stdint.h>

#define VCRYPTO_PCI_VENDOR 0x1af4
#define VCRYPTO_PCI_DEVICE 0x1054 /* 0x1040 + device id 20 */

/* Services (bits of crypto_services) and opcodes: (service << 8) | op. */
#define VCRYPTO_SERVICE_CIPHER	       0
#define VCRYPTO_OP_CIPHER_ENCRYPT      0x0000
#define VCRYPTO_OP_CIPHER_DECRYPT      0x0001
#define VCRYPTO_OP_CIPHER_CREATE_SESS  0x0002
#define VCRYPTO_OP_CIPHER_DESTROY_SESS 0x0003

#define VCRYPTO_CIPHER_AES_CBC 3
#define VCRYPTO_CIPHER_AES_XTS 13

/* Session direction (virtio_crypto_cipher_session_para.op). */
#define VCRYPTO_SESS_OP_ENCRYPT 1
#define VCRYPTO_SESS_OP_DECRYPT 2

#define VCRYPTO_SYM_OP_CIPHER 1

/* Status of a session answer, a destroy answer and a data request. */
#define VCRYPTO_OK	     0
#define VCRYPTO_ERR	     1
#define VCRYPTO_BADMSG	     2
#define VCRYPTO_NOTSUPP	     3
#define VCRYPTO_INVSESS	     4
#define VCRYPTO_NOSPC	     5
#define VCRYPTO_KEY_REJECTED 6

/* Device config: status bit. */
#define VCRYPTO_S_HW_READY 1u

/* The device-specific configuration (BAR region of the DEVICE capability). */
struct vcrypto_config {
	uint32_t status;
	uint32_t max_dataqueues;
	uint32_t crypto_services;
	uint32_t cipher_algo_l;
	uint32_t cipher_algo_h;
	uint32_t hash_algo;
	uint32_t mac_algo_l;
	uint32_t mac_algo_h;
	uint32_t aead_algo;
	uint32_t max_cipher_key_len;
	uint32_t max_auth_key_len;
	uint32_t akcipher_algo;
	uint64_t max_size;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_config) == 56, "virtio_crypto_config");

/* Control queue: header + a 56-byte body = 72 bytes. */
struct vcrypto_ctrl_header {
	uint32_t opcode;
	uint32_t algo;
	uint32_t flag;
	uint32_t queue_id;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_ctrl_header) == 16, "virtio_crypto_ctrl_header");

/* virtio_crypto_sym_create_session_req with the cipher variant. */
struct vcrypto_cipher_session_req {
	uint32_t algo;
	uint32_t keylen;
	uint32_t op;
	uint32_t padding;
	uint8_t para_padding[32]; /* cipher_session_req pads to 48 */
	uint32_t op_type;	  /* VCRYPTO_SYM_OP_CIPHER */
	uint32_t padding2;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_cipher_session_req) == 56, "sym_create_session_req");

struct vcrypto_destroy_session_req {
	uint64_t session_id;
	uint8_t padding[48];
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_destroy_session_req) == 56, "destroy_session_req");

struct vcrypto_ctrl_req {
	struct vcrypto_ctrl_header header;
	union {
		struct vcrypto_cipher_session_req create;
		struct vcrypto_destroy_session_req destroy;
		uint8_t padding[56];
	} u;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_ctrl_req) == 72, "virtio_crypto_op_ctrl_req");

/* The device-writable answer to CREATE_SESSION. */
struct vcrypto_session_input {
	uint64_t session_id;
	uint32_t status;
	uint32_t padding;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_session_input) == 16, "virtio_crypto_session_input");

/* Data queue: virtio_crypto_op_data_req with the cipher variant. */
struct vcrypto_op_header {
	uint32_t opcode;
	uint32_t algo;
	uint64_t session_id;
	uint32_t flag;
	uint32_t padding;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_op_header) == 24, "virtio_crypto_op_header");

struct vcrypto_cipher_data_req {
	uint32_t iv_len;
	uint32_t src_data_len;
	uint32_t dst_data_len;
	uint32_t padding;
	uint8_t para_padding[24]; /* cipher_data_req pads to 40 */
	uint32_t op_type;	  /* VCRYPTO_SYM_OP_CIPHER */
	uint32_t padding2;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_cipher_data_req) == 48, "sym_data_req");

struct vcrypto_data_req {
	struct vcrypto_op_header header;
	struct vcrypto_cipher_data_req cipher;
} __attribute__((packed));
_Static_assert(sizeof(struct vcrypto_data_req) == 72, "virtio_crypto_op_data_req");

#endif
