package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// session is a scoped token and the project's Block Storage endpoint.
type session struct {
	authURL, user, password, project string
	token                            string
	projectID                        string
	base                             string // API root, e.g. http://127.0.0.1:8776
}

func (s *session) volumes() string { return s.base + "/v3/" + s.projectID }

// issueToken asks Keystone for a new project-scoped token (password method, Default domain).
func (s *session) issueToken(ctx context.Context, c *http.Client) (token, projectID string, err error) {
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": s.user, "password": s.password, "domain": map[string]string{"name": "Default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": s.project, "domain": map[string]string{"name": "Default"}}},
	}}
	b, _ := json.Marshal(body)
	url := strings.TrimSuffix(s.authURL, "/")
	if !strings.HasSuffix(url, "/v3") {
		url += "/v3"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/auth/tokens", bytes.NewReader(b))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", "", fmt.Errorf("POST %s/auth/tokens: %s: %s", url, resp.Status, msg)
	}
	var out struct {
		Token struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", "", err
	}
	return resp.Header.Get("X-Subject-Token"), out.Token.Project.ID, nil
}

// call sends a JSON request with the session's token and decodes the answer into out (if not
// nil); any status other than want is an error.
func (s *session) call(ctx context.Context, c *http.Client, method, url, microversion string, in, out any, want int) error {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", s.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if microversion != "" {
		req.Header.Set("OpenStack-API-Version", "volume "+microversion)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// createVolume posts a 1 GiB volume and returns its id.
func (s *session) createVolume(ctx context.Context, c *http.Client, name, volType string) (string, error) {
	v := map[string]any{"size": 1, "name": name}
	if volType != "" {
		v["volume_type"] = volType
	}
	var out struct {
		Volume struct {
			ID string `json:"id"`
		} `json:"volume"`
	}
	if err := s.call(ctx, c, http.MethodPost, s.volumes()+"/volumes", "", map[string]any{"volume": v}, &out, http.StatusAccepted); err != nil {
		return "", err
	}
	return out.Volume.ID, nil
}

// volumeStatus returns the volume's status.
func (s *session) volumeStatus(ctx context.Context, c *http.Client, id string) (string, error) {
	var out struct {
		Volume struct {
			Status string `json:"status"`
		} `json:"volume"`
	}
	err := s.call(ctx, c, http.MethodGet, s.volumes()+"/volumes/"+id, "", nil, &out, http.StatusOK)
	return out.Volume.Status, err
}

// waitStatus polls the volume every interval until it has status want; error and error_* states
// end the wait with an error.
func (s *session) waitStatus(ctx context.Context, c *http.Client, id, want string, interval, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.volumeStatus(ctx, c, id)
		if err != nil {
			return err
		}
		if st == want {
			return nil
		}
		if strings.HasPrefix(st, "error") {
			return fmt.Errorf("volume %s went to %s", id, st)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("volume %s still %s after %s", id, st, timeout)
		}
		time.Sleep(interval)
	}
}

// ensureType creates (admin) a volume type with the given extra specs unless one of that name
// exists, and returns its name.
func (s *session) ensureType(ctx context.Context, c *http.Client, name string, specs map[string]string) error {
	err := s.call(ctx, c, http.MethodGet, s.volumes()+"/types/"+name, "", nil, nil, http.StatusOK)
	if err == nil {
		return nil
	}
	return s.call(ctx, c, http.MethodPost, s.volumes()+"/types", "",
		map[string]any{"volume_type": map[string]any{"name": name, "extra_specs": specs}}, nil, http.StatusOK)
}

// attachCycle runs Nova's attach and detach of one volume through the attachments API (3.44):
// reserve, connect with the host's connector (the volume manager exports the leg with an ACL
// and CHAP for the host and answers its iscsi connection_info), complete, then delete (detach:
// the export is withdrawn) and wait until the volume is available again. It returns the number
// of API requests it sent.
func (s *session) attachCycle(ctx context.Context, c *http.Client, volumeID string, worker, n int) (int, error) {
	const mv = "3.44"
	var a struct {
		Attachment struct {
			ID             string         `json:"id"`
			ConnectionInfo map[string]any `json:"connection_info"`
		} `json:"attachment"`
	}
	reqs := 0
	instance := fmt.Sprintf("00000000-0000-4000-8000-%012d", worker*1_000_000+n)
	reqs++
	if err := s.call(ctx, c, http.MethodPost, s.volumes()+"/attachments", mv,
		map[string]any{"attachment": map[string]any{"volume_uuid": volumeID, "instance_uuid": instance}}, &a, http.StatusOK); err != nil {
		return reqs, err
	}
	id := a.Attachment.ID
	host := fmt.Sprintf("bench-compute-%d", worker)
	connector := map[string]any{"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1", "host": host,
		"multipath": false, "initiator": "iqn.2026-11.dev.dlvm.bench:" + host, "mountpoint": "/dev/vdb"}
	reqs++
	if err := s.call(ctx, c, http.MethodPut, s.volumes()+"/attachments/"+id, mv,
		map[string]any{"attachment": map[string]any{"connector": connector}}, &a, http.StatusOK); err != nil {
		return reqs, err
	}
	if dt, _ := a.Attachment.ConnectionInfo["driver_volume_type"].(string); dt != "iscsi" {
		return reqs, fmt.Errorf("attachment %s: driver_volume_type %q, want iscsi", id, dt)
	}
	reqs++
	if err := s.call(ctx, c, http.MethodPost, s.volumes()+"/attachments/"+id+"/action", mv,
		map[string]any{"os-complete": nil}, nil, http.StatusNoContent); err != nil {
		return reqs, err
	}
	reqs++
	if err := s.call(ctx, c, http.MethodDelete, s.volumes()+"/attachments/"+id, mv, nil, nil, http.StatusOK); err != nil {
		return reqs, err
	}
	for i := 0; ; i++ {
		reqs++
		st, err := s.volumeStatus(ctx, c, volumeID)
		if err != nil {
			return reqs, err
		}
		if st == "available" {
			return reqs, nil
		}
		if i > 2000 {
			return reqs, fmt.Errorf("volume %s still %s after detach", volumeID, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
