// Package model holds the domain types and errors shared by every dlvm package: volumes (dlvs),
// snapshots, volume types, quotas, dvgs, dpvs, legs and workflows. It imports nothing of dlvm and
// does no I/O.
package model
