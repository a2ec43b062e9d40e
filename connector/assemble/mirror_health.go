package assemble

// DirtyRegions returns how many regions are marked dirty: written while a leg was out of sync
// (or in flight), so a returning leg must be given them. Zero when every leg is in sync and
// nothing is being written.
func (m *Mirror) DirtyRegions() int64 {
	m.bmMu.RLock()
	defer m.bmMu.RUnlock()
	return int64(len(m.dirty))
}
