package apiv3

// AdminService is the part of the service layer the admin routes call: QoS specs, type access
// and encryption, services, hosts, capabilities and quota classes.
type AdminService interface {
	QosService
	TypeAccessService
	ServicesService
	QuotaClassService
}

// adminRoutes adds the admin routes.
func (h *Handler) adminRoutes(add addFunc, v30 Version) {
	h.qosRoutes(add, v30)
	h.typeAccessRoutes(add, v30)
	h.serviceRoutes(add, v30)
	h.quotaClassRoutes(add, v30)
}
