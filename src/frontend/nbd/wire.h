/* NBD wire format: constants and packed structures, as the NBD protocol
 * document (NetworkBlockDevice/nbd, doc/proto.md) defines them. Every field
 * is big-endian on the wire; structures are converted with the helpers at
 * the bottom where they are read or written, nowhere else. */
#ifndef CRYPTBLK_NBD_WIRE_H
#define CRYPTBLK_NBD_WIRE_H

#include <endian.h>
#include <stdint.h>

/* Magics */
#define NBD_MAGIC_INIT	       0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_MAGIC_OPT	       0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_MAGIC_OPT_REPLY    0x0003e889045565a9ull
#define NBD_MAGIC_REQUEST      0x25609513u
#define NBD_MAGIC_SIMPLE_REPLY 0x67446698u
#define NBD_MAGIC_STRUCT_REPLY 0x668e33efu

/* Limits of this server */
#define NBD_STRING_MAX	  4096u		      /* names, queries, messages */
#define NBD_OPT_MAX_LEN	  (64u * 1024)	      /* option data */
#define NBD_MAX_PAYLOAD	  (32u * 1024 * 1024) /* read/write length, max block size */
#define NBD_ZERO_PAD_LEN  124u		      /* after NBD_OPT_EXPORT_NAME */
#define NBD_ERROR_MSG_MAX 128u		      /* our structured error messages */

/* Handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE	  (1u << 0)
#define NBD_FLAG_NO_ZEROES	  (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES	  (1u << 1)

/* Transmission flags */
#define NBD_FLAG_HAS_FLAGS	   (1u << 0)
#define NBD_FLAG_READ_ONLY	   (1u << 1)
#define NBD_FLAG_SEND_FLUSH	   (1u << 2)
#define NBD_FLAG_SEND_FUA	   (1u << 3)
#define NBD_FLAG_ROTATIONAL	   (1u << 4)
#define NBD_FLAG_SEND_TRIM	   (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF	   (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN	   (1u << 8)
#define NBD_FLAG_SEND_RESIZE	   (1u << 9)
#define NBD_FLAG_SEND_CACHE	   (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO	   (1u << 11)

/* Options */
#define NBD_OPT_EXPORT_NAME	  1u
#define NBD_OPT_ABORT		  2u
#define NBD_OPT_LIST		  3u
#define NBD_OPT_STARTTLS	  5u
#define NBD_OPT_INFO		  6u
#define NBD_OPT_GO		  7u
#define NBD_OPT_STRUCTURED_REPLY  8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT  10u

/* Option replies */
#define NBD_REP_ACK		    1u
#define NBD_REP_SERVER		    2u
#define NBD_REP_INFO		    3u
#define NBD_REP_META_CONTEXT	    4u
#define NBD_REP_ERR_BIT		    (1u << 31)
#define NBD_REP_ERR_UNSUP	    (NBD_REP_ERR_BIT | 1u)
#define NBD_REP_ERR_POLICY	    (NBD_REP_ERR_BIT | 2u)
#define NBD_REP_ERR_INVALID	    (NBD_REP_ERR_BIT | 3u)
#define NBD_REP_ERR_PLATFORM	    (NBD_REP_ERR_BIT | 4u)
#define NBD_REP_ERR_TLS_REQD	    (NBD_REP_ERR_BIT | 5u)
#define NBD_REP_ERR_UNKNOWN	    (NBD_REP_ERR_BIT | 6u)
#define NBD_REP_ERR_SHUTDOWN	    (NBD_REP_ERR_BIT | 7u)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_ERR_BIT | 8u)
#define NBD_REP_ERR_TOO_BIG	    (NBD_REP_ERR_BIT | 9u)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT	     0u
#define NBD_INFO_NAME	     1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE  3u

/* Commands */
#define NBD_CMD_READ	     0u
#define NBD_CMD_WRITE	     1u
#define NBD_CMD_DISC	     2u
#define NBD_CMD_FLUSH	     3u
#define NBD_CMD_TRIM	     4u
#define NBD_CMD_CACHE	     5u
#define NBD_CMD_WRITE_ZEROES 6u
#define NBD_CMD_BLOCK_STATUS 7u

/* Command flags */
#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF	       (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Structured replies */
#define NBD_REPLY_FLAG_DONE	    (1u << 0)
#define NBD_REPLY_TYPE_NONE	    0u
#define NBD_REPLY_TYPE_OFFSET_DATA  1u
#define NBD_REPLY_TYPE_OFFSET_HOLE  2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR	    ((1u << 15) | 1u)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1u << 15) | 2u)

/* Error values on the wire */
#define NBD_EPERM     1u
#define NBD_EIO	      5u
#define NBD_ENOMEM    12u
#define NBD_EINVAL    22u
#define NBD_ENOSPC    28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP   95u
#define NBD_ESHUTDOWN 108u

/* Metadata context id of base:allocation on this server */
#define NBD_META_ID_BASE_ALLOCATION 1u
#define NBD_META_BASE_ALLOCATION    "base:allocation"

/* S: greeting */
struct nbd_wire_greeting {
	uint64_t magic;	    /* NBD_MAGIC_INIT */
	uint64_t opt_magic; /* NBD_MAGIC_OPT */
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_greeting) == 18, "greeting is 18 bytes");

/* C: option header, followed by `len` bytes */
struct nbd_wire_opt {
	uint64_t magic; /* NBD_MAGIC_OPT */
	uint32_t option;
	uint32_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_opt) == 16, "option header is 16 bytes");

/* S: option reply header, followed by `len` bytes */
struct nbd_wire_opt_reply {
	uint64_t magic; /* NBD_MAGIC_OPT_REPLY */
	uint32_t option;
	uint32_t type;
	uint32_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_opt_reply) == 20, "option reply header is 20 bytes");

/* S: answer to NBD_OPT_EXPORT_NAME (then 124 zeroes unless NO_ZEROES) */
struct nbd_wire_export_name_reply {
	uint64_t size;
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_export_name_reply) == 10, "export reply is 10 bytes");

struct nbd_wire_info_export {
	uint16_t type; /* NBD_INFO_EXPORT */
	uint64_t size;
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_info_export) == 12, "NBD_INFO_EXPORT is 12 bytes");

struct nbd_wire_info_block_size {
	uint16_t type; /* NBD_INFO_BLOCK_SIZE */
	uint32_t minimum;
	uint32_t preferred;
	uint32_t maximum;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_info_block_size) == 14, "NBD_INFO_BLOCK_SIZE is 14 bytes");

/* C: request header, followed by `len` bytes for NBD_CMD_WRITE */
struct nbd_wire_request {
	uint32_t magic; /* NBD_MAGIC_REQUEST */
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint64_t offset;
	uint32_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_request) == 28, "request header is 28 bytes");

/* S: simple reply, followed by data for a successful read */
struct nbd_wire_simple_reply {
	uint32_t magic; /* NBD_MAGIC_SIMPLE_REPLY */
	uint32_t error;
	uint64_t handle;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_simple_reply) == 16, "simple reply is 16 bytes");

/* S: structured reply chunk header, followed by `len` bytes of payload */
struct nbd_wire_chunk {
	uint32_t magic; /* NBD_MAGIC_STRUCT_REPLY */
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint32_t len;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_chunk) == 20, "structured chunk header is 20 bytes");

/* NBD_REPLY_TYPE_ERROR payload head, followed by the message */
struct nbd_wire_chunk_error {
	uint32_t error;
	uint16_t msg_len;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_chunk_error) == 6, "error chunk head is 6 bytes");

/* NBD_REPLY_TYPE_BLOCK_STATUS payload with one descriptor */
struct nbd_wire_block_status {
	uint32_t context_id;
	uint32_t extent_len;
	uint32_t extent_flags;
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_wire_block_status) == 12, "one-extent block status is 12 bytes");

/* Unaligned big-endian loads and stores for option data parsing. */
static inline uint16_t nbd_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t nbd_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void nbd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void nbd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
