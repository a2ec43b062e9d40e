package export

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// Zeroer is an optional capability of a blockdev.Device: ZeroRange makes [off, off+n) read
// back as zeros, possibly by deallocating it (punch hole, SCSI WRITE SAME with UNMAP), which is
// cheaper than writing zeros. Devices without it get zeros written through WriteAt.
//
// Both exports need a zeroing primitive, not Device.Discard: Discard may leave the old data
// in place, while NBD_CMD_WRITE_ZEROES and a FUSE fallocate(PUNCH_HOLE) (which is what the
// loop driver turns REQ_OP_DISCARD and REQ_OP_WRITE_ZEROES into) must read back as zeros.
type Zeroer interface {
	ZeroRange(off, n int64) error
}

// zeroChunk is the largest single zero write; zeroBuf is shared read-only.
const zeroChunk = 1 << 20

var zeroBuf = make([]byte, zeroChunk)

// zeroRange makes [off, off+n) of dev read back as zeros.
func zeroRange(dev blockdev.Device, off, n int64) error {
	if z, ok := dev.(Zeroer); ok {
		if err := z.ZeroRange(off, n); err != nil {
			return fmt.Errorf("zero range [%d,+%d): %w", off, n, err)
		}
		return nil
	}
	for n > 0 {
		c := min(n, zeroChunk)
		if _, err := dev.WriteAt(zeroBuf[:c], off); err != nil {
			return fmt.Errorf("write zeros at %d: %w", off, err)
		}
		off, n = off+c, n-c
	}
	return nil
}

// errnoFor maps a device error to the errno both exports report (NBD error field, FUSE
// reply). Anything unknown is EIO.
func errnoFor(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, blockdev.ErrOutOfRange):
		return syscall.ENOSPC
	case errors.Is(err, blockdev.ErrClosed):
		return syscall.ESHUTDOWN
	default:
		return syscall.EIO
	}
}

// logOrDiscard returns l, or a logger that drops everything when l is nil.
func logOrDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
