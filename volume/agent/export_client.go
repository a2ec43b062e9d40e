package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dlvm-project/dlvm/volume/target"
)

// ExportLeg exports leg legID over iSCSI (if not yet) and allows a's initiator with its CHAP
// credentials; allowing it again updates the secret. The agent records it so it survives agent
// and tgtd restarts. A missing leg is ErrNotFound; an agent without a target ErrInvalid (501).
func (c *Client) ExportLeg(ctx context.Context, legID string, a target.Access) (target.Export, error) {
	var out target.Export
	path, err := legPath(legID)
	if err == nil {
		err = c.doJSON(ctx, http.MethodPut, path+"/export", a, &out)
	}
	return out, err
}

// UnexportInitiator removes initiator from leg legID's target and closes its sessions. A missing
// leg, target or initiator is not an error.
func (c *Client) UnexportInitiator(ctx context.Context, legID, initiator string) error {
	path, err := legPath(legID)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, path+"/export/"+url.PathEscape(initiator), nil, nil)
}

// UnexportLeg removes leg legID's target (all initiators, all sessions). Missing is not an
// error. DeleteLeg does this too.
func (c *Client) UnexportLeg(ctx context.Context, legID string) error {
	path, err := legPath(legID)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, path+"/export", nil, nil)
}

// Exports returns what the agent exports, as recorded in its state, sorted by leg id.
func (c *Client) Exports(ctx context.Context) ([]target.LegExports, error) {
	var out ExportsAnswer
	err := c.doJSON(ctx, http.MethodGet, "/v1/exports", nil, &out)
	return out.Legs, err
}

// Resync hands the agent the manager's view of its exports (see Server.Resync): named legs are
// brought to it, missing targets rebuilt, unnamed targets reported in Unknown and left alone.
func (c *Client) Resync(ctx context.Context, legs []target.LegExports) (ResyncResult, error) {
	var out ResyncResult
	if legs == nil {
		legs = []target.LegExports{}
	}
	err := c.doJSON(ctx, http.MethodPost, "/v1/resync", ResyncRequest{Legs: legs}, &out)
	return out, err
}

// ResyncExports is Resync for callers that only need to know whether every named leg reached
// its desired state: a leg that failed is an error naming it.
func (c *Client) ResyncExports(ctx context.Context, legs []target.LegExports) error {
	res, err := c.Resync(ctx, legs)
	if err != nil {
		return err
	}
	if len(res.Failed) > 0 {
		msgs := make([]string, 0, len(res.Failed))
		for _, f := range res.Failed {
			msgs = append(msgs, f.LegID+": "+f.Error)
		}
		return fmt.Errorf("resync of %d legs failed: %s", len(res.Failed), strings.Join(msgs, "; "))
	}
	return nil
}
