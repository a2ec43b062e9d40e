package keystone

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const openstackCLI = "/usr/bin/openstack"

// runOpenstack runs the real openstack CLI against authURL as user/project and decodes its JSON
// output into out.
func runOpenstack(t *testing.T, authURL, user, pw, project string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	full := append([]string{
		"--os-auth-url", authURL, "--os-identity-api-version", "3",
		"--os-username", user, "--os-password", pw, "--os-project-name", project,
		"--os-user-domain-name", "Default", "--os-project-domain-name", "Default",
		"--os-interface", "public", "--os-region-name", "RegionOne",
	}, args...)
	cmd := exec.CommandContext(ctx, openstackCLI, full...)
	// a clean environment: no OS_* variables of the caller, no proxies for loopback
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "NO_PROXY=127.0.0.1,localhost"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	require.NoError(t, err, "openstack %s: %s", strings.Join(args, " "), stderr.String())
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
}

// TestOpenstackCLIAgainstBuiltin drives the built-in identity with the real openstack CLI
// (python3-openstackclient); it skips only when the CLI is not installed.
func TestOpenstackCLIAgainstBuiltin(t *testing.T) {
	if _, err := os.Stat(openstackCLI); err != nil {
		t.Skip("openstack CLI not installed (apt-get install python3-openstackclient)")
	}
	b, srv := testBuiltin(t, BuiltinOptions{})
	authURL := srv.URL + "/v3"
	demoProj, _ := b.ProjectID("demo")
	demoUser, _ := b.UserID("demo")

	t.Run("token issue", func(t *testing.T) {
		var tok struct {
			ID        string `json:"id"`
			ProjectID string `json:"project_id"`
			UserID    string `json:"user_id"`
			Expires   string `json:"expires"`
		}
		runOpenstack(t, authURL, "demo", "demopass", "demo", &tok, "token", "issue", "-f", "json")
		require.Equal(t, demoProj, tok.ProjectID)
		require.Equal(t, demoUser, tok.UserID)
		ac, err := b.VerifyToken(t.Context(), tok.ID)
		require.NoError(t, err, "the CLI's token verifies")
		require.Equal(t, "demo", ac.ProjectName)
	})
	t.Run("discovery from the root URL", func(t *testing.T) {
		var tok struct {
			ProjectID string `json:"project_id"`
		}
		runOpenstack(t, srv.URL, "demo", "demopass", "demo", &tok, "token", "issue", "-f", "json")
		require.Equal(t, demoProj, tok.ProjectID)
	})
	t.Run("catalog list", func(t *testing.T) {
		var cat []struct {
			Name      string `json:"Name"`
			Type      string `json:"Type"`
			Endpoints []struct {
				Region    string `json:"region"`
				Interface string `json:"interface"`
				URL       string `json:"url"`
			} `json:"Endpoints"`
		}
		runOpenstack(t, authURL, "demo", "demopass", "demo", &cat, "catalog", "list", "-f", "json")
		types := map[string]string{}
		for _, s := range cat {
			require.NotEmpty(t, s.Endpoints, s.Type)
			for _, e := range s.Endpoints {
				if e.Interface == "public" {
					types[s.Type] = e.URL
				}
			}
		}
		require.Equal(t, "http://127.0.0.1:8776/v3/"+demoProj, types["volumev3"])
		require.Equal(t, "http://127.0.0.1:8776/v3/"+demoProj, types["block-storage"])
		require.Equal(t, authURL, types["identity"])
		require.Contains(t, types, "image")
		require.Contains(t, types, "compute")
	})
	t.Run("project show as admin", func(t *testing.T) {
		var p struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		runOpenstack(t, authURL, "admin", "adminpass", "admin", &p, "project", "show", "demo", "-f", "json")
		require.Equal(t, demoProj, p.ID)
	})
	t.Run("token revoke", func(t *testing.T) {
		var tok struct {
			ID string `json:"id"`
		}
		runOpenstack(t, authURL, "demo", "demopass", "demo", &tok, "token", "issue", "-f", "json")
		runOpenstack(t, authURL, "demo", "demopass", "demo", nil, "token", "revoke", tok.ID)
		_, err := b.VerifyToken(t.Context(), tok.ID)
		require.ErrorIs(t, err, ErrInvalidToken)
	})
}
