"""A raw NBD client for hostile-client tests: it sends exactly the bytes a
test asks for, valid or not, and reads the server's answers field by field.
Standard library only. Protocol facts from the NBD protocol document
(fixed newstyle negotiation, simple and structured replies)."""
import os
import socket
import struct
import subprocess
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668E33EF

FLAG_C_FIXED_NEWSTYLE = 1
FLAG_C_NO_ZEROES = 2

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_SET_META_CONTEXT = 10

REP_ACK = 1
REP_INFO = 3
REP_META_CONTEXT = 4
REP_ERR = 0x80000000
REP_ERR_UNSUP = REP_ERR | 1
REP_ERR_INVALID = REP_ERR | 3
REP_ERR_UNKNOWN = REP_ERR | 6

INFO_EXPORT = 0

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7

CMD_FLAG_FUA = 1
CMD_FLAG_DF = 4

TFLAG_READ_ONLY = 2

EPERM = 1
EINVAL = 22
ENOSPC = 28

REPLY_TYPE_NONE = 0
REPLY_TYPE_OFFSET_DATA = 1
REPLY_TYPE_BLOCK_STATUS = 5
REPLY_TYPE_ERROR = (1 << 15) + 1
REPLY_FLAG_DONE = 1


class Closed(Exception):
    """The server closed the connection."""


class Client:
    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.handle = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            part = self.sock.recv(min(n - len(buf), 1 << 20))
            if not part:
                raise Closed("closed after %d of %d bytes" % (len(buf), n))
            buf += part
        return bytes(buf)

    def expect_closed(self, timeout=5.0):
        """True once the server has closed: EOF (after any pending bytes,
        which are discarded) or a reset, within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # ---- negotiation ----
    def greeting(self):
        magic, opt_magic, flags = struct.unpack(">QQH", self.recv_exact(18))
        assert magic == NBDMAGIC and opt_magic == IHAVEOPT, "bad greeting"
        return flags

    def start(self, flags=FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES):
        self.greeting()
        self.send(struct.pack(">I", flags))

    @staticmethod
    def opt_bytes(option, data=b"", length=None):
        n = len(data) if length is None else length
        return struct.pack(">QII", IHAVEOPT, option, n) + data

    def opt(self, option, data=b"", length=None):
        self.send(self.opt_bytes(option, data, length))

    def opt_reply(self):
        magic, option, rtype, n = struct.unpack(">QIII", self.recv_exact(20))
        assert magic == REPLY_MAGIC, "bad option reply magic %#x" % magic
        return option, rtype, self.recv_exact(n), n

    def opt_final(self):
        """Read replies up to the final one (ACK or an error); return all."""
        replies = []
        while True:
            r = self.opt_reply()
            replies.append(r)
            if r[1] == REP_ACK or r[1] & REP_ERR:
                return replies

    @staticmethod
    def info_data(name=b"", infos=(), name_len=None):
        n = len(name) if name_len is None else name_len
        return struct.pack(">I", n) + name + struct.pack(">H", len(infos)) + \
            b"".join(struct.pack(">H", i) for i in infos)

    def go(self, name=b"", structured=False, meta=False):
        """Negotiate up to transmission; return (size, transmission flags)."""
        if structured:
            self.opt(OPT_STRUCTURED_REPLY)
            assert self.opt_final()[-1][1] == REP_ACK
        if meta:
            q = b"base:allocation"
            data = struct.pack(">I", len(name)) + name + struct.pack(">II", 1, len(q)) + q
            self.opt(OPT_SET_META_CONTEXT, data)
            assert self.opt_final()[-1][1] == REP_ACK
        self.opt(OPT_GO, self.info_data(name))
        size = tflags = None
        for _, rtype, data, _ in self.opt_final():
            if rtype == REP_INFO and struct.unpack(">H", data[:2])[0] == INFO_EXPORT:
                size, tflags = struct.unpack(">QH", data[2:12])
            elif rtype & REP_ERR:
                raise AssertionError("GO refused: %#x %r" % (rtype, data))
        return size, tflags

    # ---- transmission ----
    def request_bytes(self, cmd, offset=0, length=0, flags=0, magic=REQUEST_MAGIC):
        self.handle += 1
        return struct.pack(">IHHQQI", magic, flags, cmd, self.handle, offset, length)

    def request(self, cmd, offset=0, length=0, flags=0, payload=b""):
        self.send(self.request_bytes(cmd, offset, length, flags) + payload)
        return self.handle

    def simple_reply(self, data_len=0):
        magic, err, handle = struct.unpack(">IIQ", self.recv_exact(16))
        assert magic == SIMPLE_MAGIC, "bad simple reply magic %#x" % magic
        data = self.recv_exact(data_len) if err == 0 and data_len else b""
        return err, handle, data

    def chunk(self):
        magic, flags, rtype, handle, n = struct.unpack(">IHHQI", self.recv_exact(20))
        assert magic == STRUCTURED_MAGIC, "bad structured reply magic %#x" % magic
        return flags, rtype, handle, self.recv_exact(n)


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class Harness:
    """Runs hostile cases against one server; after each checks that a
    normal client (nbdinfo) still works at once and prints VmRSS."""

    def __init__(self, path, pid, rss_limit_kib, uri=None):
        self.path, self.pid, self.limit = path, pid, rss_limit_kib
        self.uri = uri or "nbd+unix:///?socket=" + path
        self.start_rss = vmrss_kib(pid)
        self.peak = self.start_rss
        self.cases = 0

    def normal_client_works(self):
        out = subprocess.run(["nbdinfo", "--size", self.uri], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 0, "nbdinfo failed: " + out.stderr

    def sample(self):
        """VmRSS now, in the middle of a case; counted in the peak."""
        rss = vmrss_kib(self.pid)
        self.peak = max(self.peak, rss)
        assert rss <= self.limit, "VmRSS %d KiB over the limit %d KiB" % (rss, self.limit)
        return rss

    def case(self, name, fn):
        t = time.monotonic()
        fn()
        self.normal_client_works()
        rss = vmrss_kib(self.pid)
        self.peak = max(self.peak, rss)
        self.cases += 1
        print("case %-48s ok  %5.2fs  VmRSS %6d KiB" % (name, time.monotonic() - t, rss),
              flush=True)
        assert rss <= self.limit, "VmRSS %d KiB over the limit %d KiB" % (rss, self.limit)

    def summary(self):
        print("%d cases; VmRSS at start %d KiB, peak %d KiB, now %d KiB (limit %d KiB)" %
              (self.cases, self.start_rss, self.peak, vmrss_kib(self.pid), self.limit))


def env_server():
    """The socket path and server pid the test script passes in."""
    return os.environ["NBD_SOCK"], int(os.environ["NBD_PID"])
