package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// LegExports is one leg and the initiators allowed on it.
type LegExports struct {
	LegID  string   `json:"leg_id"`
	Access []Access `json:"access"`
}

// stateFile is the JSON of a State file.
type stateFile struct {
	Legs []LegExports `json:"legs"`
}

// State is what a dpv exports (leg id -> allowed initiators with their CHAP secrets), kept in
// a JSON file so a restarted agent or tgtd can rebuild every target. Each change is written
// atomically (temp file, fsync, rename, directory fsync) with mode 0600, since it holds CHAP
// secrets. Safe for concurrent use.
type State struct {
	path string // "" keeps the state in memory only
	mu   sync.Mutex
	legs map[string][]Access
}

// OpenState loads the state file at path; a missing file is an empty state. path "" gives a
// state kept in memory only.
func OpenState(path string) (*State, error) {
	s := &State{path: path, legs: map[string][]Access{}}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("export state %s: %w", path, err)
	}
	for _, l := range f.Legs {
		if len(l.Access) > 0 {
			s.legs[l.LegID] = l.Access
		}
	}
	return s, nil
}

// Legs returns a copy of the state, sorted by leg id, initiators in the order they were added.
func (s *State) Legs() []LegExports {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *State) snapshotLocked() []LegExports {
	out := make([]LegExports, 0, len(s.legs))
	for _, id := range slices.Sorted(maps.Keys(s.legs)) {
		out = append(out, LegExports{LegID: id, Access: slices.Clone(s.legs[id])})
	}
	return out
}

// Access returns the initiators allowed on legID (nil when none).
func (s *State) Access(legID string) []Access {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.legs[legID])
}

// Allow records a (replacing the entry of the same initiator) and saves.
func (s *State) Allow(legID string, a Access) error {
	return s.update(legID, func(as []Access) []Access {
		i := slices.IndexFunc(as, func(x Access) bool { return x.InitiatorIQN == a.InitiatorIQN })
		if i >= 0 {
			as[i] = a
			return as
		}
		return append(as, a)
	})
}

// Deny forgets an initiator of legID and saves. Missing is not an error.
func (s *State) Deny(legID, initiator string) error {
	return s.update(legID, func(as []Access) []Access {
		return slices.DeleteFunc(as, func(x Access) bool { return x.InitiatorIQN == initiator })
	})
}

// Set replaces legID's initiators (none removes the leg) and saves.
func (s *State) Set(legID string, as []Access) error {
	return s.update(legID, func([]Access) []Access { return slices.Clone(as) })
}

// Remove forgets legID and saves. Missing is not an error.
func (s *State) Remove(legID string) error {
	return s.Set(legID, nil)
}

// update applies fn to legID's list and saves; on a failed save the state is unchanged.
func (s *State) update(legID string, fn func([]Access) []Access) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.legs[legID]
	next := fn(slices.Clone(old))
	if len(next) == 0 {
		delete(s.legs, legID)
	} else {
		s.legs[legID] = next
	}
	if err := s.saveLocked(); err != nil {
		if had {
			s.legs[legID] = old
		} else {
			delete(s.legs, legID)
		}
		return err
	}
	return nil
}

func (s *State) saveLocked() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(stateFile{Legs: s.snapshotLocked()}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.path, append(data, '\n'))
}

// writeAtomic replaces path with data: a temp file in the same directory, fsync, rename, and an
// fsync of the directory so the rename survives a crash.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export state: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("export state: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("export state: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("export state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("export state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("export state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("export state: %w", err)
	}
	return nil
}
