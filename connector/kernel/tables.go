package kernel

import (
	"fmt"
	"strings"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/model"
)

// SectorSize is device-mapper's unit.
const SectorSize = 512

// MetadataBytes is the dm-raid metadata area (superblock + write-intent bitmap) each leg of a
// mirrored group carries at its end: leg layout is [group data | unused | metadata], so the data
// starts at offset 0 as with the userspace engine. A bitmap of at most 2^21 regions (256 KiB)
// plus the 4 KiB superblock fits.
const MetadataBytes = model.MirrorMetadataBytes

// DefaultRegionSectors is the raid1 region (bitmap granularity) when the volume is small enough:
// 512 KiB. Bigger volumes get the smallest power of two that keeps the bitmap at 2^21 regions.
const DefaultRegionSectors = 1024

// DefaultChunkKiB is the stripe chunk when the plan gives none.
const DefaultChunkKiB = 512

// RaidDev is one mirror of a raid1 group: its metadata device ("-" for none) and data device.
type RaidDev struct{ Meta, Data string }

// RaidTable is the dm-raid table of a raid1 group of sectors length over devs, with a
// write-intent bitmap of regionSectors regions when the devices have metadata. rebuild lists
// the slots to rebuild from the others (a replaced leg); dm-raid refuses a new device in an
// existing set without it. Syntax (Linux 6.1 dm-raid):
//
//	0 <len> raid raid1 <#params> 0 region_size <r> [rebuild <i>]... <#devs> <meta> <data>...
func RaidTable(devs []RaidDev, sectors, regionSectors int64, rebuild []int) string {
	params := []string{"0", "region_size", fmt.Sprint(regionSectors)}
	for _, i := range rebuild {
		params = append(params, "rebuild", fmt.Sprint(i))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "0 %d raid raid1 %d %s %d", sectors, len(params), strings.Join(params, " "), len(devs))
	for _, d := range devs {
		fmt.Fprintf(&b, " %s %s", d.Meta, d.Data)
	}
	return b.String()
}

// StripeTable is a dm striped table of sectors length (a multiple of len(groups)*chunkSectors)
// over groups, each used from offset 0.
func StripeTable(groups []string, chunkSectors, sectors int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "0 %d striped %d %d", sectors, len(groups), chunkSectors)
	for _, g := range groups {
		fmt.Fprintf(&b, " %s 0", g)
	}
	return b.String()
}

// LinearTable maps sectors of dev starting at offsetSectors.
func LinearTable(dev string, offsetSectors, sectors int64) string {
	return fmt.Sprintf("0 %d linear %s %d", sectors, dev, offsetSectors)
}

// RegionSectors is the raid1 region size for a group of sectors length: DefaultRegionSectors or
// the smallest power of two keeping the bitmap at 2^21 regions (dm-raid's minimum).
func RegionSectors(sectors int64) int64 {
	r := int64(DefaultRegionSectors)
	for r < sectors>>21 {
		r <<= 1
	}
	return r
}

// Geometry is the sizes a plan assembles to, in sectors.
type Geometry struct {
	Chunk  int64 // stripe chunk
	Group  int64 // data per group (per leg), a multiple of Chunk
	Stripe int64 // the striped device: Group * stripes
	Top    int64 // the final device: the volume size
}

// GeometryOf computes a plan's geometry: each group holds ceil(size/stripes) rounded up to a
// chunk; the final device is exactly the volume size.
func GeometryOf(p connector.Plan) (Geometry, error) {
	if p.SizeBytes <= 0 || p.SizeBytes%SectorSize != 0 || p.Stripes < 1 || p.Mirrors < 1 {
		return Geometry{}, model.Errorf(model.ErrInvalid, "plan %s: bad size %d or layout %dx%d", p.VolumeID, p.SizeBytes, p.Stripes, p.Mirrors)
	}
	kib := int64(p.ChunkKiB)
	if kib == 0 {
		kib = DefaultChunkKiB
	}
	if kib < 4 || kib&(kib-1) != 0 {
		return Geometry{}, model.Errorf(model.ErrInvalid, "plan %s: chunk %d KiB is not a power of two >= 4", p.VolumeID, kib)
	}
	g := Geometry{Chunk: kib * 2, Top: p.SizeBytes / SectorSize}
	per := (g.Top + int64(p.Stripes) - 1) / int64(p.Stripes)
	g.Group = (per + g.Chunk - 1) / g.Chunk * g.Chunk
	g.Stripe = g.Group * int64(p.Stripes)
	return g, nil
}

// LegBytes is the size a leg of plan p must have at least: the group's data, plus
// MetadataBytes when the plan is mirrored.
func LegBytes(p connector.Plan) (int64, error) {
	g, err := GeometryOf(p)
	if err != nil {
		return 0, err
	}
	n := g.Group * SectorSize
	if p.Mirrors > 1 {
		n += MetadataBytes
	}
	return n, nil
}
