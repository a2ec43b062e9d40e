package api

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/model"
)

// QoS specs (Cinder's qos_specs): admin only. Front-end (and "both") specs of a volume's type go
// to the hypervisor in connection_info's qos_specs; dlvm's backend enforces none of them.

var qosConsumers = []string{model.QosFrontEnd, model.QosBackEnd, model.QosBoth}

func checkConsumer(c string) error {
	for _, ok := range qosConsumers {
		if c == ok {
			return nil
		}
	}
	return model.Errorf(model.ErrInvalid, "Invalid QoS specs: Consumer %s is not valid: must be one of %s.", c, strings.Join(qosConsumers, ", "))
}

func checkQosKeys(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > 255 {
			return model.Errorf(model.ErrInvalid, "Invalid QoS specs: key must be between 1 and 255 characters.")
		}
		if len(v) > 255 {
			return model.Errorf(model.ErrInvalid, "Invalid QoS specs: value of %s must be at most 255 characters.", k)
		}
	}
	return nil
}

func qosNotFound(err error, id string) error {
	return notFound(err, "QoS Specs %s could not be found.", id)
}

// CreateQos (admin) creates QoS specs; consumer "" means back-end. ErrInvalid for a bad name,
// consumer or key; ErrConflict when the name exists.
func (a *API) CreateQos(ctx context.Context, c Caller, name, consumer string, specs map[string]string) (*model.QosSpecs, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "QoS specs name must be between 1 and 255 characters.")
	}
	if consumer == "" {
		consumer = model.QosBackEnd
	}
	if err := checkConsumer(consumer); err != nil {
		return nil, err
	}
	if err := checkQosKeys(specs); err != nil {
		return nil, err
	}
	if specs == nil {
		specs = map[string]string{}
	}
	q := &model.QosSpecs{ID: uuid.NewString(), Name: name, Consumer: consumer, Specs: specs}
	s := a.db.Store()
	if err := s.CreateQos(ctx, q); err != nil {
		return nil, err
	}
	a.log.Info("qos specs created", "qos_specs_id", q.ID, "qos_specs", name)
	return s.GetQos(ctx, q.ID)
}

// GetQos (admin) returns QoS specs; ErrNotFound if missing.
func (a *API) GetQos(ctx context.Context, c Caller, id string) (*model.QosSpecs, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	q, err := a.db.Store().GetQos(ctx, id)
	return q, qosNotFound(err, id)
}

// ListQos (admin) returns every QoS specs, newest first.
func (a *API) ListQos(ctx context.Context, c Caller) ([]*model.QosSpecs, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	return a.db.Store().ListQos(ctx)
}

// SetQosKeys (admin) merges keys into the specs; a "consumer" key changes the consumer
// instead. ErrNotFound if missing; ErrInvalid for a bad key or consumer (nothing changes).
func (a *API) SetQosKeys(ctx context.Context, c Caller, id string, specs map[string]string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	keys := map[string]string{}
	consumer := ""
	for k, v := range specs {
		if k == "consumer" {
			consumer = v
			continue
		}
		keys[k] = v
	}
	if consumer != "" {
		if err := checkConsumer(consumer); err != nil {
			return err
		}
	}
	if err := checkQosKeys(keys); err != nil {
		return err
	}
	return qosNotFound(a.db.Store().UpdateQos(ctx, id, consumer, keys), id)
}

// UnsetQosKeys (admin) removes keys, all or nothing. ErrNotFound if the specs are missing;
// ErrInvalid if one of the keys is not set (Cinder answers 400 there).
func (a *API) UnsetQosKeys(ctx context.Context, c Caller, id string, keys []string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	s := a.db.Store()
	if _, err := s.GetQos(ctx, id); err != nil {
		return qosNotFound(err, id)
	}
	err := s.DeleteQosKeys(ctx, id, keys)
	if errors.Is(err, model.ErrNotFound) {
		if _, gerr := s.GetQos(ctx, id); gerr == nil {
			return model.Wrap(model.ErrInvalid, err, model.UserMessage(err))
		}
	}
	return qosNotFound(err, id)
}

// DeleteQos (admin) deletes QoS specs. ErrNotFound if missing; ErrInvalid while volume types use
// them unless force, which disassociates them first.
func (a *API) DeleteQos(ctx context.Context, c Caller, id string, force bool) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	err := a.db.Store().DeleteQos(ctx, id, force)
	if errors.Is(err, model.ErrConflict) {
		return model.Wrap(model.ErrInvalid, err, "QoS Specs "+id+" is still associated with entities.")
	}
	if err == nil {
		a.log.Info("qos specs deleted", "qos_specs_id", id, "force", force)
	}
	return qosNotFound(err, id)
}

// QosAssociations (admin) returns the volume types using the specs; ErrNotFound if missing.
func (a *API) QosAssociations(ctx context.Context, c Caller, id string) ([]*model.VolumeType, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	s := a.db.Store()
	if _, err := s.GetQos(ctx, id); err != nil {
		return nil, qosNotFound(err, id)
	}
	return s.QosAssociations(ctx, id)
}

// AssociateQos (admin) makes a type use the specs (idempotent). ErrNotFound if either is missing;
// ErrInvalid if the type uses other specs.
func (a *API) AssociateQos(ctx context.Context, c Caller, id, typeID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	err := a.db.Store().AssociateQos(ctx, id, typeID)
	if errors.Is(err, model.ErrConflict) {
		return model.Wrap(model.ErrInvalid, err, model.UserMessage(err))
	}
	if err == nil {
		a.log.Info("qos specs associated", "qos_specs_id", id, "volume_type_id", typeID)
	}
	return err
}

// DisassociateQos (admin) detaches the specs from a type (idempotent); ErrNotFound if either is
// missing.
func (a *API) DisassociateQos(ctx context.Context, c Caller, id, typeID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return a.db.Store().DisassociateQos(ctx, id, typeID)
}

// DisassociateAllQos (admin) detaches the specs from every type; ErrNotFound if missing.
func (a *API) DisassociateAllQos(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	s := a.db.Store()
	if _, err := s.GetQos(ctx, id); err != nil {
		return qosNotFound(err, id)
	}
	return s.DisassociateAllQos(ctx, id)
}
