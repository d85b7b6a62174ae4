/* libFuzzer target: the ublk I/O descriptors, the 24 bytes the kernel
 * writes into a queue's shared mapping for every request. A queue thread
 * copies the tag's descriptor once and hands it to ublk_desc_to_req()
 * (src/frontend/ublk/desc.c), which decides whether it becomes a volume
 * request; ublk_io_result() turns the outcome into the COMMIT result.
 * Nothing from the kernel is trusted: a descriptor may carry any op, any
 * flags, any sector numbers.
 *
 * Input: one control byte (bits 0-1 sector size 512 << n, bits 2-4 the
 * device size, bits 5-7 the tag buffer size, from the tables below), then
 * records of 28 bytes: the descriptor as the kernel lays it out (host byte
 * order), one outcome byte (index into the errnos a volume may answer),
 * one byte queue id and a 16-bit tag (host order).
 *
 * Each descriptor is checked against a model written here from the kernel's
 * documented layout and the volume contract, not from the code under test:
 * the decision (accepted, -EOPNOTSUPP, -EINVAL) and the request (op, flags,
 * byte offset and length) must match it exactly; an accepted request must
 * also pass the volume pipeline's own check (volume_req_check()); the data
 * of a READ or WRITE must fit the tag's buffer (touched at both ends, so
 * ASan sees an overrun) and the tag's USER_COPY window; the COMMIT result
 * must be the byte count, 0 or a negative errno as the block layer expects,
 * and a refused descriptor must never commit success. */
#include "helper_fuzz.h"
#include "frontend/ublk/ublk_int.h"
#include "volume/volume_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_LEN	      28
#define OP_READ	      0u
#define OP_WRITE      1u
#define OP_FLUSH      2u
#define OP_DISCARD    3u
#define OP_WZEROES    5u
#define F_FUA	      (1u << 13)
#define TAG_WINDOW    (1ull << 25) /* bytes of one tag in the USER_COPY window */
#define SQE_CMD_OFF   48	   /* sqe->cmd in a 64-byte SQE */
#define URING_CMD_OPC 46	   /* IORING_OP_URING_CMD */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t dev_sizes[8] = {
    0, 1, 1ull << 20, 64ull << 20, (1ull << 30) + 1, 1ull << 40, 1ull << 63, UINT64_MAX,
};
/* ADD_DEV rounds max_io_buf_bytes down to a page; the server takes 4 KiB
 * to 32 MiB. */
static const uint32_t max_ios[8] = {
    4096, 12288, 65536, 128u << 10, 512u << 10, 1u << 20, 8u << 20, 32u << 20,
};
static const int outcomes[16] = {
    0,	     -EIO,   -EOPNOTSUPP, -ENOSPC, -ENOMEM,   -ETIMEDOUT, -ENODATA, -EILSEQ,
    -EINVAL, -EPERM, -ENODEV,	  -EAGAIN, -ENOTCONN, -ECANCELED, -EBADMSG, -4095,
};
/* The tag buffers, one per size, kept between runs (a 32 MiB allocation per
 * input would dominate the run time); still exactly max_io bytes each. */
static uint8_t *bufs[8];

struct model {
	int ret;
	uint8_t op;
	uint32_t flags;
	uint64_t offset, len;
};

/* What a descriptor must become: the ublk documentation's meaning of each
 * field, in 128-bit arithmetic so nothing wraps. */
static struct model model_decide(uint32_t op_flags, uint32_t nr, uint64_t start,
				 const struct ublk_geometry *geo)
{
	struct model m = {.ret = -EINVAL};
	unsigned op = op_flags & 0xff;
	unsigned __int128 off = (unsigned __int128)start * 512, len = (unsigned __int128)nr * 512;

	switch (op) {
	case OP_READ:
		m.op = VOLUME_READ;
		break;
	case OP_WRITE:
		m.op = VOLUME_WRITE;
		break;
	case OP_FLUSH:
		m.op = VOLUME_FLUSH;
		m.ret = 0;
		return m;
	case OP_DISCARD:
		m.op = VOLUME_TRIM;
		break;
	case OP_WZEROES:
		m.op = VOLUME_ZERO;
		break;
	default:
		m.ret = -EOPNOTSUPP;
		return m;
	}
	if (len == 0 || off % geo->sector_size || len % geo->sector_size)
		return m;
	if (off + len > geo->size)
		return m;
	if ((op == OP_READ || op == OP_WRITE) && len > geo->max_io)
		return m;
	if ((op == OP_WRITE || op == OP_WZEROES) && (op_flags & F_FUA))
		m.flags = VOLUME_F_FUA;
	m.ret = 0;
	m.offset = (uint64_t)off;
	m.len = (uint64_t)len;
	return m;
}

/* The block layer's reading of a COMMIT result (ublk_drv): READ and WRITE
 * need the whole byte count, other ops 0; errors it names pass, the rest
 * are EIO. */
static int32_t model_result(unsigned op, int err, uint32_t bytes)
{
	if (err == 0)
		return (op == OP_READ || op == OP_WRITE) ? (int32_t)bytes : 0;
	if (err == -EOPNOTSUPP || err == -ENOSPC || err == -ENOMEM || err == -ETIMEDOUT ||
	    err == -ENODATA || err == -EILSEQ)
		return err;
	return -EIO;
}

static void check_request(const struct ublksrv_io_desc *d, const struct ublk_geometry *geo,
			  uint8_t *buf, const uint8_t *rec)
{
	struct model m = model_decide(d->op_flags, d->nr_sectors, d->start_sector, geo);
	struct volume_layout layout = {.size = geo->size, .sector_size = geo->sector_size};
	struct volume_req req;
	struct ublksrv_io_cmd cmd;
	struct io_uring_sqe sqe;
	unsigned op = d->op_flags & 0xff;
	uint16_t tag;
	uint32_t bytes = 0;
	int32_t res;
	int ret, err;

	memset(&req, 0xee, sizeof(req));
	ret = ublk_desc_to_req(d, geo, &req);
	if (ublk_desc_op(d) != op)
		fuzz_fail("ublk: op of 0x%x read as %u", d->op_flags, ublk_desc_op(d));
	if (ret != m.ret)
		fuzz_fail("ublk: op 0x%x start %llu nr %u on %llu/%u/%u: %d, model %d", d->op_flags,
			  (unsigned long long)d->start_sector, d->nr_sectors,
			  (unsigned long long)geo->size, geo->sector_size, geo->max_io, ret, m.ret);
	if (ret == 0) {
		if (req.op != m.op || req.flags != m.flags || req.offset != m.offset ||
		    req.len != m.len)
			fuzz_fail("ublk: op 0x%x start %llu nr %u: request %u/%u/%llu/%llu, model "
				  "%u/%u/%llu/%llu",
				  d->op_flags, (unsigned long long)d->start_sector, d->nr_sectors,
				  req.op, req.flags, (unsigned long long)req.offset,
				  (unsigned long long)req.len, m.op, m.flags,
				  (unsigned long long)m.offset, (unsigned long long)m.len);
		/* Whatever the frontend accepts, the pipeline accepts. */
		req.buf = buf;
		if (volume_req_check(&layout, false, &req) != 0)
			fuzz_fail("ublk: accepted request refused by the volume");
		if (op == OP_READ || op == OP_WRITE) {
			/* What queue.c does with the tag's buffer and window. */
			bytes = (uint32_t)req.len;
			buf[0] = rec[24];
			buf[bytes - 1] = rec[25];
			memcpy(&tag, rec + 26, sizeof(tag));
			if (ublk_user_copy_pos(rec[25], tag, bytes - 1) >=
			    ublk_user_copy_pos(rec[25], tag, 0) + TAG_WINDOW)
				fuzz_fail("ublk: %u bytes spill out of the tag's window", bytes);
		}
	}
	/* The queue commits a refusal with the refusal's errno; an accepted
	 * request with what the volume answered. */
	err = ret ? ret : outcomes[rec[24] & 15];
	res = ublk_io_result((uint8_t)op, err, bytes);
	if (res != model_result(op, err, bytes))
		fuzz_fail("ublk: op %u err %d bytes %u: result %d, model %d", op, err, bytes, res,
			  model_result(op, err, bytes));
	if (ret && res >= 0)
		fuzz_fail("ublk: refused descriptor (op %u, %d) commits %d", op, ret, res);
	if (ret == 0 && err == 0 && (op == OP_READ || op == OP_WRITE) && res <= 0)
		fuzz_fail("ublk: a finished %s commits %d", op ? "WRITE" : "READ", res);

	/* The COMMIT lands where the kernel reads it. */
	memcpy(&tag, rec + 26, sizeof(tag));
	cmd = (struct ublksrv_io_cmd){.q_id = rec[25], .tag = tag, .result = res};
	memset(&sqe, 0x5a, sizeof(sqe));
	ublk_prep_io_cmd(&sqe, 3, UBLK_U_IO_COMMIT_AND_FETCH_REQ, &cmd);
	if (sqe.opcode != URING_CMD_OPC || sqe.fd != 3 ||
	    memcmp((uint8_t *)&sqe + SQE_CMD_OFF, &cmd, sizeof(cmd)) != 0)
		fuzz_fail("ublk: COMMIT command not where the kernel reads it");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ublk_geometry geo;
	struct ublksrv_io_desc d;
	unsigned bi;

	if (size < 1)
		return 0;
	geo.sector_size = 512u << (data[0] & 3);
	/* A volume's size is whole sectors. */
	geo.size = dev_sizes[(data[0] >> 2) & 7] / geo.sector_size * geo.sector_size;
	bi = data[0] >> 5;
	geo.max_io = max_ios[bi];
	if (!bufs[bi]) {
		bufs[bi] = malloc(geo.max_io);
		if (!bufs[bi])
			return 0;
	}
	for (size_t at = 1; at + REC_LEN <= size; at += REC_LEN) {
		memcpy(&d, data + at, sizeof(d));
		check_request(&d, &geo, bufs[bi], data + at);
	}
	return 0;
}
