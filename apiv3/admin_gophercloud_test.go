package apiv3

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/qos"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// TestGophercloudAdminDecodes: gophercloud v2's qos, services and volumetypes (access,
// encryption) packages accept the admin routes' responses.
func TestGophercloudAdminDecodes(t *testing.T) {
	e := newAdminEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx := context.Background()
	require.NoError(t, e.d.Store().HeartbeatService(ctx, "dlvm@dlvm-1", model.BinaryVolume, "nova", e.now))
	c := gopherClient(t, srv.URL, "admin,member,reader", "3.0")

	q, err := qos.Create(ctx, c, qos.CreateOpts{Name: "gold", Consumer: qos.ConsumerFront, Specs: map[string]string{"read_iops_sec": "20"}}).Extract()
	require.NoError(t, err)
	require.Equal(t, "gold", q.Name)
	require.Equal(t, map[string]string{"read_iops_sec": "20"}, q.Specs)
	got, err := qos.Get(ctx, c, q.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, q, got)
	page, err := qos.List(c, nil).AllPages(ctx)
	require.NoError(t, err)
	all, err := qos.ExtractQoS(page)
	require.NoError(t, err)
	require.Len(t, all, 1)
	specs, err := qos.Update(ctx, c, q.ID, qos.UpdateOpts{Specs: map[string]string{"a": "b"}}).Extract()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "b"}, specs)
	require.NoError(t, qos.DeleteKeys(ctx, c, q.ID, qos.DeleteKeysOpts{"a"}).ExtractErr())

	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "private", IsPublic: new(bool)}).Extract()
	require.NoError(t, err)
	require.NoError(t, qos.Associate(ctx, c, q.ID, qos.AssociateOpts{VolumeTypeID: vt.ID}).ExtractErr())
	page, err = qos.ListAssociations(c, q.ID).AllPages(ctx)
	require.NoError(t, err)
	assoc, err := qos.ExtractAssociations(page)
	require.NoError(t, err)
	require.Equal(t, []qos.QosAssociation{{Name: "private", ID: vt.ID, AssociationType: "volume_type"}}, assoc)
	require.NoError(t, qos.Disassociate(ctx, c, q.ID, qos.DisassociateOpts{VolumeTypeID: vt.ID}).ExtractErr())
	require.NoError(t, qos.DisassociateAll(ctx, c, q.ID).ExtractErr())
	require.NoError(t, qos.Delete(ctx, c, q.ID, qos.DeleteOpts{Force: true}).ExtractErr())

	require.NoError(t, volumetypes.AddAccess(ctx, c, vt.ID, volumetypes.AddAccessOpts{Project: projB}).ExtractErr())
	page, err = volumetypes.ListAccesses(c, vt.ID).AllPages(ctx)
	require.NoError(t, err)
	acc, err := volumetypes.ExtractAccesses(page)
	require.NoError(t, err)
	require.Equal(t, []volumetypes.VolumeTypeAccess{{VolumeTypeID: vt.ID, ProjectID: projB}}, acc)
	require.NoError(t, volumetypes.RemoveAccess(ctx, c, vt.ID, volumetypes.RemoveAccessOpts{Project: projB}).ExtractErr())

	enc, err := volumetypes.CreateEncryption(ctx, c, vt.ID, volumetypes.CreateEncryptionOpts{KeySize: 256, Provider: "luks",
		ControlLocation: "front-end", Cipher: "aes-xts-plain64"}).Extract()
	require.NoError(t, err)
	require.Equal(t, 256, enc.KeySize)
	genc, err := volumetypes.GetEncryption(ctx, c, vt.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, "luks", genc.Provider)
	require.Equal(t, enc.EncryptionID, genc.EncryptionID)
	require.NoError(t, volumetypes.DeleteEncryption(ctx, c, vt.ID, enc.EncryptionID).ExtractErr())

	page, err = services.List(c, services.ListOpts{Binary: "cinder-volume"}).AllPages(ctx)
	require.NoError(t, err)
	svcs, err := services.ExtractServices(page)
	require.NoError(t, err)
	require.Len(t, svcs, 1)
	require.Equal(t, "dlvm@dlvm-1", svcs[0].Host)
	require.Equal(t, "up", svcs[0].State)
	require.Equal(t, e.now, svcs[0].UpdatedAt.UTC().Truncate(time.Second))
}
