package runner

import (
	"context"
	"strings"
	"sync"
)

// Reply is a scripted result for commands whose line starts with a prefix.
type Reply struct {
	Stdout string
	Err    error
}

// Recorder is a fake Runner: it records every command line and answers from scripted replies.
// Safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	lines   []string
	replies []scripted
	// Fallback, when set, answers commands no scripted reply matches (after they are recorded).
	// It lets a test model state (e.g. which LVs exist). Without it such commands succeed with
	// empty output.
	Fallback func(line string) (string, error)
}

type scripted struct {
	prefix string
	reply  Reply
	times  int // <= 0: forever
}

// On scripts reply for every command whose line starts with prefix. Later scripts win over
// earlier ones with the same prefix; the longest matching prefix wins overall.
func (r *Recorder) On(prefix string, reply Reply) *Recorder {
	return r.on(prefix, reply, 0)
}

// Once scripts reply for the next command whose line starts with prefix only.
func (r *Recorder) Once(prefix string, reply Reply) *Recorder {
	return r.on(prefix, reply, 1)
}

func (r *Recorder) on(prefix string, reply Reply, times int) *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, scripted{prefix: prefix, reply: reply, times: times})
	return r
}

// Run implements Runner.
func (r *Recorder) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := Line(name, args...)
	r.mu.Lock()
	r.lines = append(r.lines, line)
	best := -1
	for i, s := range r.replies {
		if s.times < 0 || !strings.HasPrefix(line, s.prefix) {
			continue
		}
		if best < 0 || r.better(s, r.replies[best]) {
			best = i
		}
	}
	fb := r.Fallback
	if best >= 0 {
		s := &r.replies[best]
		if s.times == 1 {
			s.times = -1 // used up
		}
		rep := s.reply
		r.mu.Unlock()
		return []byte(rep.Stdout), rep.Err
	}
	r.mu.Unlock()
	if fb != nil {
		out, err := fb(line)
		return []byte(out), err
	}
	return nil, nil
}

// Lines returns a copy of the recorded command lines, oldest first.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Reset forgets the recorded lines (scripts stay).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = nil
}

// better reports whether candidate c (later in the script than b) should answer instead of b:
// the longer prefix wins; with equal prefixes an unused Once reply wins over On, the earliest
// Once first, and the latest On last.
func (r *Recorder) better(c, b scripted) bool {
	if len(c.prefix) != len(b.prefix) {
		return len(c.prefix) > len(b.prefix)
	}
	if c.times == 1 || b.times == 1 {
		return b.times != 1
	}
	return true
}
