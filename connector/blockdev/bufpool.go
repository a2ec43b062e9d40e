package blockdev

import (
	"math/bits"
	"sync"
)

// Request buffers, recycled in power-of-two classes from 4 KiB to 4 MiB (larger ones are
// allocated): the exports' payloads and the mirror's private copies cost no garbage per I/O.
const (
	minBufShift = 12
	maxBufShift = 22
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// GetBuf returns a buffer of n bytes (contents undefined).
func GetBuf(n int) []byte {
	c := bufClass(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+minBufShift))
}

// PutBuf recycles a buffer from GetBuf that nothing references any more; other slices are
// ignored.
func PutBuf(b []byte) {
	c := bufClass(cap(b))
	if c >= len(bufPools) || cap(b) != 1<<(c+minBufShift) {
		return
	}
	b = b[:cap(b)]
	bufPools[c].Put(&b)
}
