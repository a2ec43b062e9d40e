package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
)

// Client talks to one dpv agent. Errors wrap model kinds as the agent reported them
// (ErrNotFound, ErrConflict, ErrInvalid, ErrForbidden, ErrUnavailable); an agent that cannot be
// reached is ErrUnavailable. Every leg method is idempotent like the pool operation behind it.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// NewClient returns a client of the agent at baseURL (e.g. "http://10.0.0.5:8801"). hc nil
// means http.DefaultClient; token is the shared secret requests are signed with ("" signs
// nothing). A context made by agentauth.WithEpoch fences every call made with it.
func NewClient(baseURL string, hc *http.Client, token string) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, token: token}
}

// do sends one request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, body []byte, contentType string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, model.Wrap(model.ErrInvalid, err, "invalid agent request")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	agentauth.SetEpoch(req)
	agentauth.Sign(req, body, []byte(c.token))
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dpv agent %s: %w", c.base, ctx.Err())
		}
		return nil, model.Wrap(model.ErrUnavailable, err, "the dpv agent cannot be reached")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, model.Wrap(model.ErrUnavailable, err, "the dpv agent answer was cut")
	}
	if resp.StatusCode/100 != 2 {
		return nil, fromWire(resp.StatusCode, data)
	}
	return data, nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = b, "application/json"
	}
	data, err := c.do(ctx, method, path, body, ct)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("dpv agent %s: decode %s %s: %w", c.base, method, path, err)
	}
	return nil
}

// legPath checks id before it goes into a URL, where ".." would be cleaned away.
func legPath(id string) (string, error) {
	if err := pool.ValidID(id); err != nil {
		return "", err
	}
	return "/v1/legs/" + id, nil
}

// Info returns the dpv's identity and capacity.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.doJSON(ctx, http.MethodGet, "/v1/info", nil, &out)
	return out, err
}

// ListLegs lists the dpv's legs and snapshots.
func (c *Client) ListLegs(ctx context.Context) ([]pool.LegInfo, error) {
	var out struct {
		Legs []pool.LegInfo `json:"legs"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/legs", nil, &out)
	return out.Legs, err
}

// GetLeg describes leg or snapshot id; ErrNotFound when missing.
func (c *Client) GetLeg(ctx context.Context, id string) (pool.LegInfo, error) {
	var out pool.LegInfo
	path, err := legPath(id)
	if err == nil {
		err = c.doJSON(ctx, http.MethodGet, path, nil, &out)
	}
	return out, err
}

func (c *Client) putLeg(ctx context.Context, id string, r LegRequest) (pool.LegInfo, error) {
	var out pool.LegInfo
	path, err := legPath(id)
	if err == nil {
		err = c.doJSON(ctx, http.MethodPut, path, r, &out)
	}
	return out, err
}

// CreateLeg creates a zero-filled leg (pool.Pool.CreateLeg). Idempotent for the same size;
// another size is ErrConflict.
func (c *Client) CreateLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	return c.putLeg(ctx, id, LegRequest{SizeBytes: size})
}

// CloneLeg makes id a copy of src grown to size (pool.Pool.CloneLeg). A missing src is
// ErrNotFound. Idempotent.
func (c *Client) CloneLeg(ctx context.Context, id, src string, size int64) (pool.LegInfo, error) {
	return c.putLeg(ctx, id, LegRequest{SizeBytes: size, SourceID: src})
}

// SnapshotLeg makes id a read-only snapshot of src (pool.Pool.SnapshotLeg). Idempotent.
func (c *Client) SnapshotLeg(ctx context.Context, id, src string) (pool.LegInfo, error) {
	return c.putLeg(ctx, id, LegRequest{SourceID: src, Snapshot: true})
}

// ExtendLeg grows leg id to size; a no-op when already as big. Missing: ErrNotFound.
func (c *Client) ExtendLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	var out pool.LegInfo
	path, err := legPath(id)
	if err == nil {
		err = c.doJSON(ctx, http.MethodPost, path+"/extend", ExtendRequest{SizeBytes: size}, &out)
	}
	return out, err
}

// DeleteLeg deletes leg or snapshot id; a missing one is not an error.
func (c *Client) DeleteLeg(ctx context.Context, id string) error {
	path, err := legPath(id)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, path, nil, nil)
}

// ReadAt reads len(p) bytes of leg id at off, like io.ReaderAt: fewer bytes come with io.EOF
// at the end of the leg. p must not exceed the agent's MaxDataBytes (ErrInvalid).
func (c *Client) ReadAt(ctx context.Context, id string, p []byte, off int64) (int, error) {
	q := url.Values{"offset": {strconv.FormatInt(off, 10)}, "length": {strconv.Itoa(len(p))}}
	path, err := legPath(id)
	if err != nil {
		return 0, err
	}
	data, err := c.do(ctx, http.MethodGet, path+"/data?"+q.Encode(), nil, "")
	if err != nil {
		return 0, err
	}
	n := copy(p, data)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off of leg id and returns once it is synced. A write past the end of
// the leg is ErrInvalid, to a snapshot ErrConflict. Idempotent (same bytes, same place).
func (c *Client) WriteAt(ctx context.Context, id string, p []byte, off int64) (int, error) {
	q := url.Values{"offset": {strconv.FormatInt(off, 10)}}
	path, err := legPath(id)
	if err != nil {
		return 0, err
	}
	if _, err := c.do(ctx, http.MethodPut, path+"/data?"+q.Encode(), p, "application/octet-stream"); err != nil {
		return 0, err
	}
	return len(p), nil
}
