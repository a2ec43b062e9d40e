// Package assemble is the userspace engine's geometry: it builds one blockdev.Device out of a
// volume's legs. Mirror is RAID1 over the legs of a group (write-intent bitmap, balanced reads,
// failover, online resync of a returning or replaced leg); Stripe is RAID0 over groups with
// device-mapper's striped mapping; Gate pauses I/O for crash-consistent snapshots. The volume is
// Stripe(Mirror(leg...)...), optionally under a Gate.
package assemble
