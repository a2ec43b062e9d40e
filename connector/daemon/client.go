package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// Client calls a connector daemon. Its methods have the contracts of connector.Engine's.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// NewClient returns a client of the daemon at baseURL (e.g. http://10.0.0.5:8810). hc nil
// means a client with a 5 minute timeout (attaching logs in to every leg); token is the shared
// secret requests are signed with ("" signs nothing). A context made by agentauth.WithEpoch
// fences every call made with it.
func NewClient(baseURL string, hc *http.Client, token string) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, token: token}
}

// Error is an answer of the daemon that is not a success, or a failure to reach it.
type Error struct {
	Status  int    // HTTP status; 0 when the daemon could not be reached
	Message string // the daemon's message, or the transport error
	Temp    bool
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "connector daemon unreachable: " + e.Message
	}
	return fmt.Sprintf("connector daemon: %d: %s", e.Status, e.Message)
}

// Temporary reports whether retrying later may succeed (daemon unreachable, or it said so).
func (e *Error) Temporary() bool { return e.Temp }

// StaleEpoch reports whether the daemon refused the call's epoch: the caller lost its claim on
// the volume.
func (e *Error) StaleEpoch() bool { return e.Status == http.StatusConflict }

// Is makes errors.Is(err, agentauth.ErrStaleEpoch) true for a refused epoch.
func (e *Error) Is(target error) bool { return target == agentauth.ErrStaleEpoch && e.StaleEpoch() }

// NotFound reports whether the daemon does not know the volume.
func (e *Error) NotFound() bool { return e.Status == http.StatusNotFound }

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var (
		body []byte
		rd   io.Reader
	)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, rd = b, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return &Error{Message: err.Error()}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	agentauth.SetEpoch(req)
	agentauth.Sign(req, body, []byte(c.token))
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("connector daemon %s: %w", c.base, ctx.Err())
		}
		return &Error{Message: err.Error(), Temp: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &Error{Message: "answer cut: " + err.Error(), Temp: true}
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Message == "" {
			eb.Error.Message = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: eb.Error.Message,
			Temp: eb.Error.Temporary || resp.StatusCode == http.StatusServiceUnavailable}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("connector daemon %s: decode %s %s: %w", c.base, method, path, err)
	}
	return nil
}

// Attach assembles the plan's volume on the daemon's host and returns its device.
func (c *Client) Attach(ctx context.Context, p connector.Plan) (*connector.Attached, error) {
	var a connector.Attached
	if err := c.call(ctx, http.MethodPost, "/v1/attach", p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Detach tears a volume down on the daemon's host; not attached is success.
func (c *Client) Detach(ctx context.Context, volumeID string) error {
	return c.call(ctx, http.MethodPost, "/v1/detach", DetachRequest{VolumeID: volumeID}, nil)
}

// Extend grows an attached volume to the plan's size.
func (c *Client) Extend(ctx context.Context, p connector.Plan) error {
	return c.call(ctx, http.MethodPost, "/v1/extend", p, nil)
}

// ReplaceLeg swaps a failed leg of an attached volume for a new one.
func (c *Client) ReplaceLeg(ctx context.Context, volumeID, old string, leg connector.PlanLeg) error {
	return c.call(ctx, http.MethodPost, "/v1/replace-leg", ReplaceLegRequest{VolumeID: volumeID, OldLegID: old, Leg: leg}, nil)
}

// Health reports every leg of an attached volume.
func (c *Client) Health(ctx context.Context, volumeID string) ([]connector.LegHealth, error) {
	var hs []connector.LegHealth
	err := c.call(ctx, http.MethodGet, "/v1/health/"+url.PathEscape(volumeID), nil, &hs)
	return hs, err
}

// Quiesce pauses I/O on the volume until Resume or, at the latest, timeout (0: the daemon's
// default).
func (c *Client) Quiesce(ctx context.Context, volumeID string, timeout time.Duration) error {
	return c.call(ctx, http.MethodPost, "/v1/quiesce/"+url.PathEscape(volumeID),
		QuiesceRequest{TimeoutSeconds: int(timeout / time.Second)}, nil)
}

// Resume ends a quiesce; a volume not paused is success. It is never fenced: ending a pause
// is safe whoever asks, and a manager fenced off mid-snapshot must still let I/O go on.
func (c *Client) Resume(ctx context.Context, volumeID string) error {
	return c.call(agentauth.WithoutEpoch(ctx), http.MethodPost, "/v1/resume/"+url.PathEscape(volumeID), nil, nil)
}
