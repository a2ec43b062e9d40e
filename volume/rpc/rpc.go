// Package rpc is the message bus between dlvm's services (api -> scheduler -> volume manager,
// dpv agents -> volume manager): topics, message types and transports. Messages only wake a
// service up; the work itself is described by durable workflow rows in the database, so a lost
// message delays an operation but never loses it.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Topics, as oslo.messaging names them per service.
const (
	TopicScheduler = "dlvm-scheduler"
	TopicVolume    = "dlvm-volume"
)

// Methods.
const (
	MethodSchedule     = "schedule"      // args: WorkflowRef; scheduler places legs
	MethodRunWorkflow  = "run_workflow"  // args: WorkflowRef; volume manager runs it
	MethodDPVHeartbeat = "dpv_heartbeat" // args: DPVHeartbeat; volume manager records the dpv
)

// WorkflowRef names a workflow row.
type WorkflowRef struct {
	WorkflowID string `json:"workflow_id"`
}

// DPVHeartbeat is what a dpv agent reports about itself every few seconds.
type DPVHeartbeat struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	DVG          string `json:"dvg"`
	URL          string `json:"url"`
	Location     string `json:"location"`
	PoolType     string `json:"pool_type"`
	TargetPortal string `json:"target_portal"`
	TotalBytes   int64  `json:"total_bytes"`
	FreeBytes    int64  `json:"free_bytes"`
	// StartedAt is when the agent process started: a new value tells the manager the agent
	// restarted (a reboot loses tgtd's targets), so it resyncs the dpv's exports.
	StartedAt time.Time `json:"started_at,omitzero"`
}

// Handler handles one message. An error is logged by the transport; the message is not
// redelivered (the workflow sweeper retries the work).
type Handler func(ctx context.Context, method string, args json.RawMessage) error

// Bus is a transport. Implementations: in-process (Inproc) and RabbitMQ.
type Bus interface {
	// Cast sends a one-way message to one consumer of topic (work-queue
	// semantics). It returns once the transport accepted it.
	Cast(ctx context.Context, topic, method string, args any) error
	// Subscribe registers h as a consumer of topic until ctx ends. Several consumers of one
	// topic share its messages.
	Subscribe(ctx context.Context, topic string, h Handler) error
	// Close stops delivery and releases connections. Idempotent.
	Close() error
}

// ErrClosed is returned by Cast after Close.
var ErrClosed = errors.New("rpc: bus closed")
