// Package scheduler decides where a new dlv lives: which dvg (Cinder backend/pool) and which dpv
// carries each of its legs. It is pure logic over a read-only snapshot (State) and a request
// (Request); it does no I/O and imports only model, so every placement rule is testable from a
// table of scenarios. The scheduler/service package is the process around it: it reads the
// snapshot from the database, calls Place, and records the Plan.
//
// See README.md for the flow and the rules.
package scheduler
