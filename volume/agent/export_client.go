package agent

import (
	"context"
	"net/http"
	"net/url"

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
