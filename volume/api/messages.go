package api

import (
	"context"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// ListMessages lists user messages: a project member sees its project's, an admin every
// project's (Cinder's project_only query).
func (a *API) ListMessages(ctx context.Context, c Caller, q db.MessageQuery) ([]*model.Message, error) {
	if !c.IsAdmin {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListMessages(ctx, q)
}

// GetMessage returns one message; ErrNotFound when missing or in another project.
func (a *API) GetMessage(ctx context.Context, c Caller, id string) (*model.Message, error) {
	m, err := a.db.Store().GetMessage(ctx, id)
	if err != nil {
		return nil, notFound(err, "Message %s could not be found.", id)
	}
	if !visible(c, m.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Message %s could not be found.", id)
	}
	return m, nil
}

// DeleteMessage removes a message of the caller's project (any project for an admin).
// ErrNotFound when missing or not visible.
func (a *API) DeleteMessage(ctx context.Context, c Caller, id string) error {
	if _, err := a.GetMessage(ctx, c, id); err != nil {
		return err
	}
	return notFound(a.db.Store().DeleteMessage(ctx, id), "Message %s could not be found.", id)
}
