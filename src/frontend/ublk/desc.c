/* Pure pieces of the ublk queue: a descriptor becomes a volume request, an
 * outcome becomes a COMMIT result, a (queue, tag) becomes a file offset.
 * Nothing here touches a device, so all of it is unit-tested on the host. */
#include "ublk_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

bool ublk_op_data_in(uint8_t op)
{
	return op == UBLK_IO_OP_WRITE;
}

bool ublk_op_data_out(uint8_t op)
{
	return op == UBLK_IO_OP_READ;
}

/* A WRITE_ZEROES never becomes a punched hole, NOUNMAP or not: a hole in the
 * backend decrypts to garbage, and the block layer promises zeros to
 * whoever reads the range back. */
static int ublk_desc_volume_op(uint8_t op, uint8_t *vop)
{
	switch (op) {
	case UBLK_IO_OP_READ:
		*vop = VOLUME_READ;
		return 0;
	case UBLK_IO_OP_WRITE:
		*vop = VOLUME_WRITE;
		return 0;
	case UBLK_IO_OP_FLUSH:
		*vop = VOLUME_FLUSH;
		return 0;
	case UBLK_IO_OP_DISCARD:
		*vop = VOLUME_TRIM;
		return 0;
	case UBLK_IO_OP_WRITE_ZEROES:
		*vop = VOLUME_ZERO;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

int ublk_desc_to_req(const struct ublksrv_io_desc *desc, const struct ublk_geometry *geo,
		     struct volume_req *req)
{
	uint8_t op = ublk_desc_op(desc), vop = 0;
	uint32_t dflags = desc->op_flags & ~0xffu;
	uint64_t offset, len;
	int ret;

	ret = ublk_desc_volume_op(op, &vop);
	if (ret)
		return ret;
	req->op = vop;
	req->flags = 0;
	if (vop == VOLUME_FLUSH) {
		/* The sector fields of a flush mean nothing. */
		req->offset = 0;
		req->len = 0;
		return 0;
	}
	/* start_sector comes from the kernel as 64 bits: keep the shift from
	 * wrapping before comparing with the size. */
	if (desc->start_sector > UINT64_MAX >> 9)
		return -EINVAL;
	offset = desc->start_sector << 9;
	len = (uint64_t)desc->nr_sectors << 9;
	if (len == 0 || geo->sector_size == 0 || offset % geo->sector_size ||
	    len % geo->sector_size)
		return -EINVAL;
	if (offset > geo->size || len > geo->size - offset)
		return -EINVAL;
	if ((vop == VOLUME_READ || vop == VOLUME_WRITE) && len > geo->max_io)
		return -EINVAL;
	if ((vop == VOLUME_WRITE || vop == VOLUME_ZERO) && (dflags & UBLK_IO_F_FUA))
		req->flags |= VOLUME_F_FUA;
	req->offset = offset;
	req->len = len;
	return 0;
}

uint64_t ublk_user_copy_pos(uint16_t qid, uint16_t tag, uint32_t off)
{
	return UBLKSRV_IO_BUF_OFFSET + ((uint64_t)qid << UBLK_QID_OFF) +
	       ((uint64_t)tag << UBLK_TAG_OFF) + off;
}

static size_t ublk_round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

size_t ublk_desc_map_len(unsigned depth, size_t page_size)
{
	return ublk_round_up((size_t)depth * sizeof(struct ublksrv_io_desc), page_size);
}

uint64_t ublk_desc_map_offset(unsigned qid, size_t page_size)
{
	return UBLKSRV_CMD_BUF_OFFSET +
	       (uint64_t)qid * ublk_desc_map_len(UBLK_MAX_QUEUE_DEPTH, page_size);
}

int32_t ublk_io_result(uint8_t op, int err, uint32_t bytes)
{
	if (err == 0) {
		/* The kernel counts a READ that moved 0 bytes as EIO and
		 * re-issues the rest of a short one: always the whole count. */
		if (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE)
			return bytes ? (int32_t)bytes : -EIO;
		return 0;
	}
	switch (err) {
	case -EOPNOTSUPP:
	case -ENOSPC:
	case -ENOMEM:
	case -ETIMEDOUT:
	case -ENODATA:
	case -EILSEQ:
		return err;
	default:
		return -EIO;
	}
}

void ublk_prep_io_cmd(struct io_uring_sqe *sqe, int char_fd, uint32_t cmd_op,
		      const struct ublksrv_io_cmd *cmd)
{
	/* liburing 2.3 has no uring_cmd helper: every field the kernel reads
	 * must be set or zero. The 16-byte command sits at sqe->cmd, the last
	 * 16 bytes of a 64-byte SQE. */
	_Static_assert(sizeof(struct io_uring_sqe) - offsetof(struct io_uring_sqe, cmd) >=
			   sizeof(struct ublksrv_io_cmd),
		       "an I/O command fits a normal SQE");
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = char_fd;
	sqe->cmd_op = cmd_op;
	memcpy((uint8_t *)sqe + offsetof(struct io_uring_sqe, cmd), cmd, sizeof(*cmd));
}
