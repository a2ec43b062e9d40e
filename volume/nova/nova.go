// Package nova tells Nova about volume changes it must act on, as Cinder's nova client does:
// today the "volume-extended" external event after an in-use volume grew, so the compute host
// rescans the disk and the guest sees the new size. It authenticates with Keystone v3
// (password, project scope), finds the compute endpoint in the catalog and caches the token.
package nova

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIVersion is the compute microversion sent with events: volume-extended exists from 2.51.
const APIVersion = "2.51"

// Options configure a Client (the [nova] section of dlvm.conf).
type Options struct {
	AuthURL           string // Keystone, e.g. http://keystone:5000/v3 (a URL without /v3 gets it)
	Username          string
	Password          string
	ProjectName       string
	UserDomainName    string // default "Default"
	ProjectDomainName string // default "Default"
	RegionName        string // "" accepts any region
	Interface         string // catalog interface: public (default), internal or admin
	// EndpointOverride skips the catalog lookup (tests, or a catalog without compute).
	EndpointOverride string
	HTTP             *http.Client // nil: a client with a 30 s timeout
	Log              *slog.Logger
}

// Client sends server external events to Nova. Safe for concurrent use.
type Client struct {
	opts Options
	hc   *http.Client
	log  *slog.Logger

	mu       sync.Mutex
	token    string
	expires  time.Time
	endpoint string
}

// New returns a client; it contacts nothing until the first event. AuthURL, Username and
// Password are required.
func New(opts Options) (*Client, error) {
	if opts.AuthURL == "" || opts.Username == "" || opts.Password == "" {
		return nil, errors.New("nova: auth_url, username and password are required")
	}
	if opts.UserDomainName == "" {
		opts.UserDomainName = "Default"
	}
	if opts.ProjectDomainName == "" {
		opts.ProjectDomainName = "Default"
	}
	if opts.Interface == "" {
		opts.Interface = "public"
	}
	opts.Interface = strings.TrimSuffix(opts.Interface, "URL") // Cinder's publicURL spelling
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, hc: hc, log: log}, nil
}

// Event is one server external event.
type Event struct {
	Name       string `json:"name"`
	ServerUUID string `json:"server_uuid"`
	Tag        string `json:"tag,omitempty"`
	Status     string `json:"status,omitempty"`
	Code       int    `json:"code,omitempty"`
}

// ErrRejected is returned when Nova answers with an error status (other than 404 for servers
// it does not know, which is logged and not an error: the server may be gone).
var ErrRejected = errors.New("nova rejected the request")

// VolumeExtended sends one volume-extended event per server (tag: the volume id). Servers Nova
// does not know are logged and skipped; an empty list sends nothing.
func (c *Client) VolumeExtended(ctx context.Context, volumeID string, serverUUIDs []string) error {
	if len(serverUUIDs) == 0 {
		return nil
	}
	evs := make([]Event, 0, len(serverUUIDs))
	for _, s := range serverUUIDs {
		evs = append(evs, Event{Name: "volume-extended", ServerUUID: s, Tag: volumeID})
	}
	return c.send(ctx, evs)
}

func (c *Client) send(ctx context.Context, evs []Event) error {
	body, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		token, endpoint, err := c.auth(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/os-server-external-events", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("X-OpenStack-Nova-API-Version", APIVersion)
		req.Header.Set("OpenStack-API-Version", "compute "+APIVersion)
		resp, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("nova: %w", err)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			c.forget() // token revoked or expired early: authenticate once more
			continue
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusMultiStatus:
			var out struct {
				Events []Event `json:"events"`
			}
			_ = json.Unmarshal(data, &out)
			for _, e := range out.Events {
				if e.Code != 0 && e.Code != http.StatusOK {
					c.log.Warn("nova did not take an event", "event", e.Name, "server_uuid", e.ServerUUID, "tag", e.Tag, "code", e.Code, "status", e.Status)
				}
			}
			return nil
		case resp.StatusCode == http.StatusNotFound:
			c.log.Warn("nova knows none of the servers of the event", "events", len(evs))
			return nil
		default:
			return fmt.Errorf("%w: POST os-server-external-events: %d %s", ErrRejected, resp.StatusCode, strings.TrimSpace(string(data)))
		}
	}
}

func (c *Client) forget() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// auth returns a valid token and the compute endpoint, authenticating when the cached token is
// missing or expires within a minute.
func (c *Client) auth(ctx context.Context) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > time.Minute {
		return c.token, c.endpoint, nil
	}
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   struct {
							Name string `json:"name"`
						} `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string `json:"name"`
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	id := &req.Auth.Identity
	id.Methods = []string{"password"}
	id.Password.User.Name, id.Password.User.Password = c.opts.Username, c.opts.Password
	id.Password.User.Domain.Name = c.opts.UserDomainName
	req.Auth.Scope.Project.Name = c.opts.ProjectName
	req.Auth.Scope.Project.Domain.Name = c.opts.ProjectDomainName
	body, _ := json.Marshal(req)
	u := strings.TrimRight(c.opts.AuthURL, "/")
	if !strings.HasSuffix(u, "/v3") {
		u += "/v3"
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return "", "", fmt.Errorf("nova: keystone: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("%w: keystone authentication as %s: %d", ErrRejected, c.opts.Username, resp.StatusCode)
	}
	var tok struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
			Catalog   []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					Region    string `json:"region"`
					RegionID  string `json:"region_id"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil {
		return "", "", fmt.Errorf("nova: keystone answer: %w", err)
	}
	endpoint := c.opts.EndpointOverride
	for _, s := range tok.Token.Catalog {
		if endpoint != "" || s.Type != "compute" {
			continue
		}
		for _, e := range s.Endpoints {
			region := e.RegionID
			if region == "" {
				region = e.Region
			}
			if e.Interface == c.opts.Interface && (c.opts.RegionName == "" || region == c.opts.RegionName) {
				endpoint = e.URL
				break
			}
		}
	}
	if endpoint == "" {
		return "", "", fmt.Errorf("nova: no %s compute endpoint in region %q in the catalog", c.opts.Interface, c.opts.RegionName)
	}
	c.token, c.endpoint = resp.Header.Get("X-Subject-Token"), strings.TrimRight(endpoint, "/")
	c.expires = tok.Token.ExpiresAt
	if c.expires.IsZero() {
		c.expires = time.Now().Add(time.Hour)
	}
	return c.token, c.endpoint, nil
}
