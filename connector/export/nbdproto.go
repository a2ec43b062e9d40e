package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// NBD wire constants (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
const (
	nbdMagic          = 0x4e42444d41474943 // "NBDMAGIC"
	nbdOptMagic       = 0x49484156454f5054 // "IHAVEOPT"
	nbdRepMagic       = 0x3e889045565a9
	nbdRequestMagic   = 0x25609513
	nbdSimpleRepMagic = 0x67446698

	// handshake flags (server) and client flags
	nbdFlagFixedNewstyle = 1 << 0
	nbdFlagNoZeroes      = 1 << 1

	// options
	nbdOptExportName = 1
	nbdOptAbort      = 2
	nbdOptList       = 3
	nbdOptInfo       = 6
	nbdOptGo         = 7

	// option reply types
	nbdRepAck        = 1
	nbdRepServer     = 2
	nbdRepInfo       = 3
	nbdRepErrUnsup   = 1<<31 + 1
	nbdRepErrPolicy  = 1<<31 + 2
	nbdRepErrInvalid = 1<<31 + 3
	nbdRepErrUnknown = 1<<31 + 6
	nbdRepErrTooBig  = 1<<31 + 9

	// NBD_REP_INFO types
	nbdInfoExport    = 0
	nbdInfoBlockSize = 3

	// transmission flags
	nbdFlagHasFlags        = 1 << 0
	nbdFlagReadOnly        = 1 << 1
	nbdFlagSendFlush       = 1 << 2
	nbdFlagSendFUA         = 1 << 3
	nbdFlagSendTrim        = 1 << 5
	nbdFlagSendWriteZeroes = 1 << 6
	nbdFlagCanMultiConn    = 1 << 8

	// commands
	nbdCmdRead        = 0
	nbdCmdWrite       = 1
	nbdCmdDisc        = 2
	nbdCmdFlush       = 3
	nbdCmdTrim        = 4
	nbdCmdWriteZeroes = 6

	// command flags
	nbdCmdFlagFUA    = 1 << 0
	nbdCmdFlagNoHole = 1 << 1

	nbdRequestSize = 28
	nbdReplySize   = 16

	// maxOptionLen bounds an option's payload we are willing to read during the handshake.
	maxOptionLen = 64 << 10
	// maxPayload is the largest READ/WRITE we serve; it is also what NBD_INFO_BLOCK_SIZE
	// advertises as the maximum (qemu's own limit is 32 MiB).
	maxPayload = 32 << 20
	// preferredBlock is the preferred I/O size advertised to clients.
	preferredBlock = 4096
)

// errBadRequest marks a malformed option or request.
var errBadRequest = errors.New("nbd: malformed message")

// nbdRequest is one decoded transmission-phase request header.
type nbdRequest struct {
	flags  uint16
	typ    uint16
	handle uint64
	offset uint64
	length uint32
}

// parseRequest decodes a 28-byte request header. It fails only on a bad magic or a short
// buffer; command-level validation is validateRequest's job.
func parseRequest(b []byte) (nbdRequest, error) {
	if len(b) < nbdRequestSize {
		return nbdRequest{}, fmt.Errorf("%w: request header of %d bytes", errBadRequest, len(b))
	}
	if m := binary.BigEndian.Uint32(b[0:4]); m != nbdRequestMagic {
		return nbdRequest{}, fmt.Errorf("%w: request magic %#x", errBadRequest, m)
	}
	return nbdRequest{
		flags:  binary.BigEndian.Uint16(b[4:6]),
		typ:    binary.BigEndian.Uint16(b[6:8]),
		handle: binary.BigEndian.Uint64(b[8:16]),
		offset: binary.BigEndian.Uint64(b[16:24]),
		length: binary.BigEndian.Uint32(b[24:28]),
	}, nil
}

// validateRequest returns the NBD error (an errno) a request earns before it touches the
// device, or 0 when it may run. size is the export's size.
func validateRequest(r nbdRequest, size int64, readOnly bool) syscall.Errno {
	var allowedFlags uint16
	switch r.typ {
	case nbdCmdRead, nbdCmdFlush:
	case nbdCmdWrite, nbdCmdTrim:
		allowedFlags = nbdCmdFlagFUA
	case nbdCmdWriteZeroes:
		allowedFlags = nbdCmdFlagFUA | nbdCmdFlagNoHole
	default:
		return syscall.EINVAL
	}
	if r.flags&^allowedFlags != 0 {
		return syscall.EINVAL
	}
	if r.typ == nbdCmdFlush {
		if r.offset != 0 || r.length != 0 {
			return syscall.EINVAL
		}
		return 0
	}
	if readOnly && r.typ != nbdCmdRead {
		return syscall.EPERM
	}
	if (r.typ == nbdCmdRead || r.typ == nbdCmdWrite) && r.length > maxPayload {
		return syscall.EOVERFLOW
	}
	if r.offset > uint64(size) || uint64(r.length) > uint64(size)-r.offset {
		if r.typ == nbdCmdRead {
			return syscall.EINVAL
		}
		return syscall.ENOSPC
	}
	return 0
}

// parseInfoRequest decodes the payload of NBD_OPT_INFO/NBD_OPT_GO: a 32-bit name length, the
// name, a 16-bit count and that many 16-bit information requests.
func parseInfoRequest(data []byte) (name string, infos []uint16, err error) {
	if len(data) < 4 {
		return "", nil, fmt.Errorf("%w: info request of %d bytes", errBadRequest, len(data))
	}
	n := binary.BigEndian.Uint32(data)
	rest := data[4:]
	if uint64(n) > uint64(len(rest)) || len(rest)-int(n) < 2 {
		return "", nil, fmt.Errorf("%w: name length %d in %d bytes", errBadRequest, n, len(data))
	}
	name, rest = string(rest[:n]), rest[n:]
	count := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != 2*count {
		return "", nil, fmt.Errorf("%w: %d info requests in %d bytes", errBadRequest, count, len(rest))
	}
	infos = make([]uint16, count)
	for i := range infos {
		infos[i] = binary.BigEndian.Uint16(rest[2*i:])
	}
	return name, infos, nil
}

// optionReply encodes one option reply header followed by payload.
func optionReply(opt, typ uint32, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint64(b[0:], nbdRepMagic)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(payload)))
	return append(b, payload...)
}

// infoExport is the payload of NBD_REP_INFO / NBD_INFO_EXPORT.
func infoExport(size int64, flags uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], nbdInfoExport)
	binary.BigEndian.PutUint64(b[2:], uint64(size))
	binary.BigEndian.PutUint16(b[10:], flags)
	return b
}

// infoBlockSize is the payload of NBD_REP_INFO / NBD_INFO_BLOCK_SIZE. The device takes any
// alignment, so the minimum is 1.
func infoBlockSize() []byte {
	b := make([]byte, 14)
	binary.BigEndian.PutUint16(b[0:], nbdInfoBlockSize)
	binary.BigEndian.PutUint32(b[2:], 1)
	binary.BigEndian.PutUint32(b[6:], preferredBlock)
	binary.BigEndian.PutUint32(b[10:], maxPayload)
	return b
}
