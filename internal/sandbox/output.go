package sandbox

import (
	"fmt"
	"sync"
)

// capBuffer keeps the first and the last bytes written to it, up to max in all, and counts the
// rest. Writes never fail and never block, so the pipe it drains never fills up.
type capBuffer struct {
	mu      sync.Mutex
	headCap int
	head    []byte
	ring    []byte // the tail, allocated on first overflow of head
	ringCap int
	pos     int // next write position in ring
	ringLen int
	total   int64
}

func newCapBuffer(max int) *capBuffer {
	return &capBuffer{headCap: max / 2, ringCap: max - max/2}
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	if room := b.headCap - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if b.ring == nil {
		b.ring = make([]byte, b.ringCap)
	}
	if len(p) >= b.ringCap {
		copy(b.ring, p[len(p)-b.ringCap:])
		b.pos, b.ringLen = 0, b.ringCap
		return n, nil
	}
	for len(p) > 0 {
		k := copy(b.ring[b.pos:], p)
		b.pos = (b.pos + k) % b.ringCap
		b.ringLen = min(b.ringLen+k, b.ringCap)
		p = p[k:]
	}
	return n, nil
}

// result returns the kept output, with a marker line where bytes were dropped.
func (b *capBuffer) result() (out string, truncated bool, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var tail []byte
	if b.ringLen == b.ringCap {
		tail = append(append(tail, b.ring[b.pos:]...), b.ring[:b.pos]...)
	} else {
		tail = b.ring[:b.ringLen]
	}
	dropped := b.total - int64(len(b.head)) - int64(len(tail))
	if dropped <= 0 {
		return string(b.head) + string(tail), false, b.total
	}
	return fmt.Sprintf("%s\n[... %d bytes of output omitted ...]\n%s", b.head, dropped, tail), true, b.total
}
