/* The ublk driver's user-space ABI, as far as cryptblk uses it.
 *
 * Written from the kernel's Documentation/block/ublk.rst and
 * include/uapi/linux/ublk_cmd.h (6.12): names, numbers and layouts are the
 * kernel's, so they can be checked against those files line by line.
 * Debian 12's linux-libc-dev (6.1) predates UBLK_F_USER_COPY and
 * UBLK_U_CMD_GET_FEATURES, so the project carries its own copy; never
 * include <linux/ublk_cmd.h> next to this file.
 *
 * Two devices: /dev/ublk-control takes control commands (32-byte
 * `struct ublksrv_ctrl_cmd` in a 128-byte SQE), /dev/ublkcN takes the
 * per-queue I/O commands (16-byte `struct ublksrv_io_cmd`, fits a normal
 * SQE), lends the read-only descriptor array through mmap() and, with
 * UBLK_F_USER_COPY, moves request data through pread()/pwrite().
 */
#ifndef CRYPTBLK_UBLK_UAPI_H
#define CRYPTBLK_UBLK_UAPI_H

#include <linux/ioctl.h>
#include <stdint.h>

/* Control commands (sent on /dev/ublk-control). The command number is the
 * ioctl encoding's nr; the driver accepts the bare number too ("legacy")
 * when built with CONFIG_BLKDEV_UBLK_LEGACY_OPCODES, except GET_FEATURES. */
#define UBLK_CMD_GET_QUEUE_AFFINITY 0x01
#define UBLK_CMD_GET_DEV_INFO	    0x02
#define UBLK_CMD_ADD_DEV	    0x04
#define UBLK_CMD_DEL_DEV	    0x05
#define UBLK_CMD_START_DEV	    0x06
#define UBLK_CMD_STOP_DEV	    0x07
#define UBLK_CMD_SET_PARAMS	    0x08
#define UBLK_CMD_GET_PARAMS	    0x09
#define UBLK_CMD_GET_DEV_INFO2	    0x12
#define UBLK_CMD_GET_FEATURES	    0x13
#define UBLK_CMD_DEL_DEV_ASYNC	    0x14

struct ublksrv_ctrl_cmd;
struct ublksrv_io_cmd;

#define UBLK_U_CMD_GET_DEV_INFO	 _IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV	 _IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV	 _IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV	 _IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV	 _IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS	 _IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS	 _IOR('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_FEATURES	 _IOR('u', UBLK_CMD_GET_FEATURES, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV_ASYNC _IOR('u', UBLK_CMD_DEL_DEV_ASYNC, struct ublksrv_ctrl_cmd)
#define UBLK_FEATURES_LEN	 8 /* bytes GET_FEATURES writes */

/* I/O commands (sent on /dev/ublkcN by the queue's own thread). */
#define UBLK_IO_FETCH_REQ	     0x20
#define UBLK_IO_COMMIT_AND_FETCH_REQ 0x21
#define UBLK_IO_NEED_GET_DATA	     0x22

#define UBLK_U_IO_FETCH_REQ _IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ                                                             \
	_IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)

/* CQE results of FETCH / COMMIT_AND_FETCH: OK means a request waits in the
 * tag's descriptor; ABORT (-ENODEV) means the device stops and the tag will
 * never be handed out again: do not fetch it again. */
#define UBLK_IO_RES_OK		  0
#define UBLK_IO_RES_NEED_GET_DATA 1
#define UBLK_IO_RES_ABORT_ERRNO	  19 /* ENODEV, as a positive number */

/* The descriptor arrays start at offset 0 of /dev/ublkcN; queue q's array
 * is mapped at q times the size of the largest possible array (4096
 * descriptors, rounded up to whole pages). */
#define UBLKSRV_CMD_BUF_OFFSET 0
#define UBLK_MAX_QUEUE_DEPTH   4096
#define UBLK_MAX_NR_QUEUES     4096

/* USER_COPY data window on /dev/ublkcN:
 *   UBLKSRV_IO_BUF_OFFSET + (qid << UBLK_QID_OFF) + (tag << UBLK_TAG_OFF) + offset
 * with offset < 32 MiB inside the request's data. */
#define UBLKSRV_IO_BUF_OFFSET 0x80000000ull
#define UBLK_IO_BUF_BITS      25
#define UBLK_TAG_OFF	      UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS	      16
#define UBLK_QID_OFF	      (UBLK_TAG_OFF + UBLK_TAG_BITS)
#define UBLK_QID_BITS	      12

/* Feature flags (ublksrv_ctrl_dev_info.flags, GET_FEATURES). */
#define UBLK_F_SUPPORT_ZERO_COPY      (1ull << 0)
#define UBLK_F_URING_CMD_COMP_IN_TASK (1ull << 1)
#define UBLK_F_NEED_GET_DATA	      (1ull << 2)
#define UBLK_F_USER_RECOVERY	      (1ull << 3)
#define UBLK_F_USER_RECOVERY_REISSUE  (1ull << 4)
#define UBLK_F_UNPRIVILEGED_DEV	      (1ull << 5)
#define UBLK_F_CMD_IOCTL_ENCODE	      (1ull << 6)
#define UBLK_F_USER_COPY	      (1ull << 7)
#define UBLK_F_ZONED		      (1ull << 8)

/* Device states (ublksrv_ctrl_dev_info.state). */
#define UBLK_S_DEV_DEAD	    0
#define UBLK_S_DEV_LIVE	    1
#define UBLK_S_DEV_QUIESCED 2
#define UBLK_S_DEV_FAIL_IO  3

/* The payload of every control command: sqe->cmd of a 128-byte SQE. */
struct ublksrv_ctrl_cmd {
	uint32_t dev_id;   /* the device; ADD_DEV: wanted id or UINT32_MAX */
	uint16_t queue_id; /* 0xffff unless the command is about one queue */
	uint16_t len;	   /* bytes at addr */
	uint64_t addr;	   /* in or out buffer of the command */
	uint64_t data[1];  /* inline argument: START_DEV takes the server's pid */
	uint16_t dev_path_len;
	uint16_t pad;
	uint32_t reserved;
};
_Static_assert(sizeof(struct ublksrv_ctrl_cmd) == 32, "ublksrv_ctrl_cmd is 32 bytes");

/* ADD_DEV's in/out buffer and GET_DEV_INFO's out buffer. ADD_DEV writes back
 * the id, the queue count (at most the CPUs) and the flags it accepted. */
struct ublksrv_ctrl_dev_info {
	uint16_t nr_hw_queues;
	uint16_t queue_depth;
	uint16_t state; /* UBLK_S_DEV_* */
	uint16_t pad0;
	uint32_t max_io_buf_bytes; /* rounded down to a page by ADD_DEV */
	uint32_t dev_id;
	int32_t ublksrv_pid; /* START_DEV's data[0]; -1 once the disk is gone */
	uint32_t pad1;
	uint64_t flags;		/* UBLK_F_* */
	uint64_t ublksrv_flags; /* the server's own, the driver keeps it */
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint64_t reserved1;
	uint64_t reserved2;
};
_Static_assert(sizeof(struct ublksrv_ctrl_dev_info) == 64, "ublksrv_ctrl_dev_info is 64 bytes");

/* Request operations: bits 0-7 of op_flags. */
#define UBLK_IO_OP_READ		0
#define UBLK_IO_OP_WRITE	1
#define UBLK_IO_OP_FLUSH	2
#define UBLK_IO_OP_DISCARD	3
#define UBLK_IO_OP_WRITE_SAME	4
#define UBLK_IO_OP_WRITE_ZEROES 5

/* Request flags: the rest of op_flags (values include the 8-bit shift). */
#define UBLK_IO_F_FAILFAST_DEV	     (1u << 8)
#define UBLK_IO_F_FAILFAST_TRANSPORT (1u << 9)
#define UBLK_IO_F_FAILFAST_DRIVER    (1u << 10)
#define UBLK_IO_F_META		     (1u << 11)
#define UBLK_IO_F_FUA		     (1u << 13)
#define UBLK_IO_F_NOUNMAP	     (1u << 15)
#define UBLK_IO_F_SWAP		     (1u << 16)

/* One request, written by the driver into the queue's mapped array at the
 * tag's index before the tag's FETCH completes. */
struct ublksrv_io_desc {
	uint32_t op_flags;     /* op in bits 0-7, UBLK_IO_F_* above */
	uint32_t nr_sectors;   /* 512-byte units */
	uint64_t start_sector; /* 512-byte units */
	uint64_t addr;	       /* copy mode: the buffer the server gave */
};
_Static_assert(sizeof(struct ublksrv_io_desc) == 24, "ublksrv_io_desc is 24 bytes");

/* FETCH_REQ and COMMIT_AND_FETCH_REQ: sqe->cmd of a normal 64-byte SQE. */
struct ublksrv_io_cmd {
	uint16_t q_id;
	uint16_t tag;
	int32_t result; /* COMMIT: bytes done (READ/WRITE), 0, or a negative errno */
	uint64_t addr;	/* copy mode: the tag's buffer; USER_COPY: must be 0 */
};
_Static_assert(sizeof(struct ublksrv_io_cmd) == 16, "ublksrv_io_cmd is 16 bytes");

/* SET_PARAMS / GET_PARAMS. */
#define UBLK_ATTR_READ_ONLY	 (1u << 0)
#define UBLK_ATTR_ROTATIONAL	 (1u << 1)
#define UBLK_ATTR_VOLATILE_CACHE (1u << 2) /* the device takes FLUSH */
#define UBLK_ATTR_FUA		 (1u << 3) /* and FUA writes */

struct ublk_param_basic {
	uint32_t attrs;
	uint8_t logical_bs_shift; /* 9..PAGE_SHIFT */
	uint8_t physical_bs_shift;
	uint8_t io_opt_shift;
	uint8_t io_min_shift;
	uint32_t max_sectors; /* at most max_io_buf_bytes / 512 */
	uint32_t chunk_sectors;
	uint64_t dev_sectors; /* capacity in 512-byte units */
	uint64_t virt_boundary_mask;
};
_Static_assert(sizeof(struct ublk_param_basic) == 32, "ublk_param_basic is 32 bytes");

/* The driver wants a non-zero granularity, and exactly one segment when
 * max_discard_sectors is set. max_write_zeroes_sectors lives here too: a
 * device without this parameter gets no WRITE_ZEROES. */
struct ublk_param_discard {
	uint32_t discard_alignment;
	uint32_t discard_granularity; /* bytes */
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	uint16_t max_discard_segments;
	uint16_t reserved0;
};
_Static_assert(sizeof(struct ublk_param_discard) == 20, "ublk_param_discard is 20 bytes");

/* Read-only: the char and block device numbers, filled by GET_PARAMS. */
struct ublk_param_devt {
	uint32_t char_major;
	uint32_t char_minor;
	uint32_t disk_major;
	uint32_t disk_minor;
};
_Static_assert(sizeof(struct ublk_param_devt) == 16, "ublk_param_devt is 16 bytes");

struct ublk_param_zoned {
	uint32_t max_open_zones;
	uint32_t max_active_zones;
	uint32_t max_zone_append_sectors;
	uint8_t reserved[20];
};
_Static_assert(sizeof(struct ublk_param_zoned) == 32, "ublk_param_zoned is 32 bytes");

#define UBLK_PARAM_TYPE_BASIC	(1u << 0)
#define UBLK_PARAM_TYPE_DISCARD (1u << 1)
#define UBLK_PARAM_TYPE_DEVT	(1u << 2)
#define UBLK_PARAM_TYPE_ZONED	(1u << 3)

/* `len` is the size the server knows (the driver copies at most its own);
 * `types` says which members are meant. */
struct ublk_params {
	uint32_t len;
	uint32_t types;
	struct ublk_param_basic basic;
	struct ublk_param_discard discard;
	struct ublk_param_devt devt;
	struct ublk_param_zoned zoned;
};
_Static_assert(sizeof(struct ublk_params) == 112, "ublk_params (6.12 members) is 112 bytes");

#endif
