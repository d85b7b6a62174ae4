/* The control device: /dev/ublk-control takes 32-byte commands in 128-byte
 * SQEs (the ring needs IORING_SETUP_SQE128). The ring is small and blocking:
 * only the creating thread uses it, one command at a time, and START_DEV,
 * STOP_DEV and DEL_DEV wait in the kernel by design. */
#include "ublk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define UBLK_CONTROL_PATH "/dev/ublk-control"
#define UBLK_NO_QUEUE	  0xffff

int ublk_ctrl_open(struct ublk_ctrl *ctrl)
{
	int ret;

	memset(ctrl, 0, sizeof(*ctrl));
	ctrl->fd = open(UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (ctrl->fd < 0)
		return -errno;
	ret = io_uring_queue_init(4, &ctrl->ring, IORING_SETUP_SQE128);
	if (ret < 0) {
		close(ctrl->fd);
		ctrl->fd = -1;
		return ret;
	}
	ctrl->ring_ok = true;
	return 0;
}

void ublk_ctrl_close(struct ublk_ctrl *ctrl)
{
	if (ctrl->ring_ok)
		io_uring_queue_exit(&ctrl->ring);
	ctrl->ring_ok = false;
	if (ctrl->fd >= 0)
		close(ctrl->fd);
	ctrl->fd = -1;
}

void ublk_prep_ctrl_cmd(struct io_uring_sqe *sqe, int ctrl_fd, uint32_t cmd_op,
			const struct ublksrv_ctrl_cmd *cmd)
{
	/* A 128-byte SQE: clear both halves, the command spills into the
	 * second. liburing 2.3 has no helper for IORING_OP_URING_CMD. */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = cmd_op;
	memcpy((uint8_t *)sqe + offsetof(struct io_uring_sqe, cmd), cmd, sizeof(*cmd));
}

/* Send one command and wait for its CQE; returns its result. */
static int ublk_ctrl_send(struct ublk_ctrl *ctrl, uint32_t cmd_op, struct ublksrv_ctrl_cmd *cmd)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	if (!ctrl->ring_ok)
		return -EBADF;
	sqe = io_uring_get_sqe(&ctrl->ring);
	if (!sqe)
		return -EBUSY; /* cannot happen: one command at a time */
	ublk_prep_ctrl_cmd(sqe, ctrl->fd, cmd_op, cmd);
	ret = io_uring_submit(&ctrl->ring);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(&ctrl->ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ctrl->ring, cqe);
	return ret;
}

static void ublk_ctrl_cmd_init(struct ublksrv_ctrl_cmd *cmd, uint32_t dev_id, void *buf,
			       uint16_t len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->dev_id = dev_id;
	cmd->queue_id = UBLK_NO_QUEUE;
	cmd->addr = (uint64_t)(uintptr_t)buf;
	cmd->len = len;
}

int ublk_ctrl_get_features(struct ublk_ctrl *ctrl, uint64_t *features)
{
	struct ublksrv_ctrl_cmd cmd;
	uint64_t f = 0;
	int ret;

	ublk_ctrl_cmd_init(&cmd, 0, &f, UBLK_FEATURES_LEN);
	ret = ublk_ctrl_send(ctrl, UBLK_U_CMD_GET_FEATURES, &cmd);
	if (ret == 0)
		*features = f;
	return ret;
}

int ublk_ctrl_add_dev(struct ublk_ctrl *ctrl, struct ublksrv_ctrl_dev_info *info)
{
	struct ublksrv_ctrl_cmd cmd;

	/* The driver wants the id in both places: UINT32_MAX lets it pick. */
	ublk_ctrl_cmd_init(&cmd, info->dev_id, info, sizeof(*info));
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_ADD_DEV, &cmd);
}

int ublk_ctrl_set_params(struct ublk_ctrl *ctrl, uint32_t dev_id, struct ublk_params *params)
{
	struct ublksrv_ctrl_cmd cmd;

	ublk_ctrl_cmd_init(&cmd, dev_id, params, sizeof(*params));
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_SET_PARAMS, &cmd);
}

int ublk_ctrl_start_dev(struct ublk_ctrl *ctrl, uint32_t dev_id, int pid)
{
	struct ublksrv_ctrl_cmd cmd;

	ublk_ctrl_cmd_init(&cmd, dev_id, NULL, 0);
	cmd.data[0] = (uint64_t)pid;
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_START_DEV, &cmd);
}

int ublk_ctrl_stop_dev(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	struct ublksrv_ctrl_cmd cmd;

	ublk_ctrl_cmd_init(&cmd, dev_id, NULL, 0);
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_STOP_DEV, &cmd);
}

int ublk_ctrl_del_dev(struct ublk_ctrl *ctrl, uint32_t dev_id)
{
	struct ublksrv_ctrl_cmd cmd;

	ublk_ctrl_cmd_init(&cmd, dev_id, NULL, 0);
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_DEL_DEV, &cmd);
}

int ublk_ctrl_get_dev_info(struct ublk_ctrl *ctrl, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info)
{
	struct ublksrv_ctrl_cmd cmd;

	memset(info, 0, sizeof(*info));
	ublk_ctrl_cmd_init(&cmd, dev_id, info, sizeof(*info));
	return ublk_ctrl_send(ctrl, UBLK_U_CMD_GET_DEV_INFO, &cmd);
}
