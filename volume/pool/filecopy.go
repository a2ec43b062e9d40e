package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/dlvm-project/dlvm/model"
)

const copyBuf = 1 << 20

// copyFile makes dst (empty, open for writing) a copy of the file at srcPath: a reflink when
// the filesystem can, else a sparse copy. dst ends with the source's size.
func (p *File) copyFile(ctx context.Context, dst *os.File, srcPath string) error {
	src, err := os.Open(srcPath)
	if err != nil {
		return err
	}
	defer src.Close()
	if !p.opts.NoReflink {
		err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
		if err == nil {
			return nil
		}
		if !reflinkUnsupported(err) {
			return fmt.Errorf("reflink: %w", err)
		}
		p.log.Debug("reflink unsupported, copying", "path", srcPath, "err", err)
	}
	return sparseCopy(ctx, dst, src)
}

func reflinkUnsupported(err error) bool {
	for _, e := range []error{unix.EOPNOTSUPP, unix.ENOTSUP, unix.EXDEV, unix.EINVAL, unix.ENOTTY, unix.ENOSYS, unix.EBADF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sparseCopy copies src's data extents (found with SEEK_DATA/SEEK_HOLE) to the same offsets of
// dst, skipping holes and all-zero blocks, so dst is at most as allocated as src. dst gets
// src's size.
func sparseCopy(ctx context.Context, dst, src *os.File) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if err := dst.Truncate(size); err != nil {
		return err
	}
	sfd := int(src.Fd())
	buf := make([]byte, copyBuf)
	zero := make([]byte, copyBuf)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(sfd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			return fmt.Errorf("seek data: %w", err)
		}
		hole, err := unix.Seek(sfd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		for pos := data; pos < hole; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := int(min(int64(len(buf)), hole-pos))
			n, err := src.ReadAt(buf[:n], pos)
			if n == 0 && err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := dst.WriteAt(buf[:n], pos); err != nil {
					return err
				}
			}
			pos += int64(n)
		}
		off = hole
	}
	return nil
}

// Discard deallocates length bytes of leg id at off (punching a hole): they read as zeros
// afterwards and the leg keeps its size. Missing leg: ErrNotFound; a snapshot: ErrConflict;
// a range beyond the end is clipped. Idempotent.
func (p *File) Discard(_ context.Context, id string, off, length int64) error {
	if off < 0 || length < 0 {
		return model.Errorf(model.ErrInvalid, "discard %s: negative offset or length", id)
	}
	info, path, err := p.stat(id)
	if err != nil {
		return err
	}
	if info.Snapshot {
		return model.Errorf(model.ErrConflict, "%s is a snapshot and cannot be written", id)
	}
	if length == 0 || off >= info.SizeBytes {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("discard %s: %w", id, err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length); err != nil {
		return fmt.Errorf("discard %s: %w", id, err)
	}
	return nil
}
