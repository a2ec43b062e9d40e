package apiv3

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// GetTypeEncryption: the fake keeps no encryption specs (the admin routes are tested against
// the real service layer in admin_test.go); an existing type has none.
func (f *fakeService) GetTypeEncryption(ctx context.Context, c api.Caller, typeID string) (*model.TypeEncryption, error) {
	if _, err := f.GetType(ctx, c, typeID); err != nil {
		return nil, err
	}
	return nil, nil
}
