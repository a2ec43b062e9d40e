// Package backup is dlvm's backup driver: Cinder's posix driver model. A backup is a directory
// under the driver's root (backup_posix_path) holding fixed-size chunk files of the volume's
// logical bytes and a JSON manifest listing each chunk with its sha256. All-zero chunks are not
// written (a hole in the manifest), so a thin volume costs only what it holds.
//
// The driver knows nothing of legs or dpvs: it reads and writes through the functions the volume
// manager passes in, which go through the stripe map and the dpv agents.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// ServiceName is the backup_service dlvm reports (Cinder's name for the posix driver), so
// export_record output looks like Cinder's.
const ServiceName = "cinder.backup.drivers.posix.PosixBackupDriver"

// manifestName is the manifest's file name inside a backup's directory.
const manifestName = "manifest.json"

// ErrCorrupt marks a backup whose stored data does not match its manifest.
var ErrCorrupt = errors.New("backup data corrupt")

// ReadFunc fills p with the source's bytes at logical offset off.
type ReadFunc func(ctx context.Context, p []byte, off int64) error

// WriteFunc writes p at logical offset off of the target.
type WriteFunc func(ctx context.Context, p []byte, off int64) error

// VolumeMeta is what a restore gives back to the target volume besides its bytes.
type VolumeMeta struct {
	Metadata map[string]string `json:"metadata"`
	Bootable bool              `json:"bootable"`
}

// Chunk is one stored chunk file.
type Chunk struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
	File   string `json:"file"`
}

// Manifest describes one backup's stored data.
type Manifest struct {
	Version   int        `json:"version"`
	BackupID  string     `json:"backup_id"`
	VolumeID  string     `json:"volume_id"`
	SizeBytes int64      `json:"size_bytes"`
	ChunkSize int64      `json:"chunk_size"`
	Chunks    []Chunk    `json:"chunks"` // non-zero chunks, by offset; the gaps read as zeros
	Volume    VolumeMeta `json:"volume"`
	CreatedAt time.Time  `json:"created_at"`
}

// Posix keeps backups as files under a root directory.
type Posix struct {
	root  string
	chunk int64
}

// NewPosix returns the driver over root (created when missing) with chunkSize bytes per chunk
// file (a positive multiple of 4096).
func NewPosix(root string, chunkSize int) (*Posix, error) {
	if root == "" || !filepath.IsAbs(root) {
		return nil, fmt.Errorf("backup: posix path %q must be absolute", root)
	}
	if chunkSize <= 0 || chunkSize%4096 != 0 {
		return nil, fmt.Errorf("backup: chunk size %d must be a positive multiple of 4096", chunkSize)
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &Posix{root: root, chunk: int64(chunkSize)}, nil
}

// Location is where a backup of a container lives, relative to the root; it is what the
// database records (service_metadata) and what export_record carries.
func Location(container, backupID string) string { return container + "/" + backupID }

// ValidContainer reports whether a container name is usable as one directory name.
func ValidContainer(c string) bool {
	return c != "" && len(c) <= 255 && !strings.ContainsAny(c, "/\\\x00") && !strings.HasPrefix(c, ".")
}

// dir resolves a location, refusing anything that would leave the root.
func (p *Posix) dir(loc string) (string, error) {
	clean := filepath.Clean(loc)
	if loc == "" || filepath.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "..") {
		return "", model.Errorf(model.ErrInvalid, "Invalid backup location %q.", loc)
	}
	return filepath.Join(p.root, clean), nil
}

// Backup reads size bytes through read and stores them at loc: every non-zero chunk as a file,
// then the manifest (written last, atomically, so a directory without a manifest is an
// unfinished backup). Running it again over an unfinished or finished backup rewrites it.
func (p *Posix) Backup(ctx context.Context, loc, backupID, volumeID string, size int64, read ReadFunc, vm VolumeMeta) (*Manifest, error) {
	dir, err := p.dir(loc)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m := &Manifest{Version: 1, BackupID: backupID, VolumeID: volumeID, SizeBytes: size, ChunkSize: p.chunk,
		Chunks: []Chunk{}, Volume: vm, CreatedAt: time.Now().UTC()}
	buf := make([]byte, p.chunk)
	for off := int64(0); off < size; off += p.chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(p.chunk, size-off)
		b := buf[:n]
		if err := read(ctx, b, off); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("chunk-%012d", off/p.chunk)
		if allZero(b) {
			_ = os.Remove(filepath.Join(dir, name)) // a rerun over changed data
			continue
		}
		sum := sha256.Sum256(b)
		if err := writeFileSync(filepath.Join(dir, name), b); err != nil {
			return nil, fmt.Errorf("backup: write chunk: %w", err)
		}
		m.Chunks = append(m.Chunks, Chunk{Offset: off, Length: n, SHA256: hex.EncodeToString(sum[:]), File: name})
	}
	js, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, manifestName), js); err != nil {
		return nil, fmt.Errorf("backup: write manifest: %w", err)
	}
	return m, nil
}

// Manifest reads and checks the manifest at loc. ErrNotFound when there is none (the backup is
// missing or unfinished); ErrCorrupt when it does not parse or does not hold together.
func (p *Posix) Manifest(loc string) (*Manifest, error) {
	dir, err := p.dir(loc)
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, model.Errorf(model.ErrNotFound, "Backup data at %s could not be found.", loc)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, corrupt(fmt.Sprintf("the manifest of %s does not parse", loc))
	}
	if m.ChunkSize <= 0 || m.SizeBytes < 0 {
		return nil, corrupt(fmt.Sprintf("the manifest of %s is inconsistent", loc))
	}
	prev := int64(0)
	for _, c := range m.Chunks {
		if c.Offset < prev || c.Length <= 0 || c.Length > m.ChunkSize || c.Offset+c.Length > m.SizeBytes ||
			strings.ContainsAny(c.File, "/\\") || c.File == "" || c.File == manifestName {
			return nil, corrupt(fmt.Sprintf("the manifest of %s is inconsistent", loc))
		}
		prev = c.Offset + c.Length
	}
	return &m, nil
}

// Restore checks every chunk of the backup at loc against its sha256, then writes the chunks
// through write; with zeroHoles it also writes zeros where the backup has holes (a target that
// may hold old data). Nothing is written when any chunk is missing or corrupt (ErrCorrupt with
// the chunk named); a chunk that changes between the check and the write fails the same way.
func (p *Posix) Restore(ctx context.Context, loc string, write WriteFunc, zeroHoles bool) (*Manifest, error) {
	m, err := p.Manifest(loc)
	if err != nil {
		return nil, err
	}
	dir, _ := p.dir(loc)
	for _, c := range m.Chunks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := readChunk(dir, c); err != nil {
			return nil, err
		}
	}
	var zeros []byte
	if zeroHoles {
		zeros = make([]byte, m.ChunkSize)
	}
	next := int64(0)
	fill := func(to int64) error {
		for ; zeroHoles && next < to; next += min(m.ChunkSize, to-next) {
			if err := write(ctx, zeros[:min(m.ChunkSize, to-next)], next); err != nil {
				return err
			}
		}
		next = max(next, to)
		return nil
	}
	for _, c := range m.Chunks {
		if err := fill(c.Offset); err != nil {
			return nil, err
		}
		b, err := readChunk(dir, c)
		if err != nil {
			return nil, err
		}
		if err := write(ctx, b, c.Offset); err != nil {
			return nil, err
		}
		next = c.Offset + c.Length
	}
	if err := fill(m.SizeBytes); err != nil {
		return nil, err
	}
	return m, nil
}

// Delete removes the backup at loc; a missing one is success.
func (p *Posix) Delete(loc string) error {
	dir, err := p.dir(loc)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("backup: delete: %w", err)
	}
	_ = os.Remove(filepath.Dir(dir)) // the container, when it is now empty
	return nil
}

func readChunk(dir string, c Chunk) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, c.File))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, corrupt(fmt.Sprintf("chunk %s at offset %d is missing", c.File, c.Offset))
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read chunk: %w", err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != c.Length || hex.EncodeToString(sum[:]) != c.SHA256 {
		return nil, corrupt(fmt.Sprintf("chunk %s at offset %d fails its sha256 check", c.File, c.Offset))
	}
	return b, nil
}

func corrupt(what string) error {
	return model.Wrap(model.ErrInvalid, ErrCorrupt, "Backup data is corrupt: "+what+".")
}

// writeFileSync writes a file through a temporary name, syncs it and renames it into place.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
