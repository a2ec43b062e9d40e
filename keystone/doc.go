// Package keystone owns authentication for dlvm: the HTTP middleware that turns an
// X-Auth-Token into an auth Context (validated against a real Keystone like keystonemiddleware's
// auth_token does, against the built-in identity, or not at all in noauth mode), the auth Context
// carried in a request's context.Context, and the small built-in Keystone v3 identity service that
// the all-in-one mode serves so the openstack CLI works with no other service.
//
// It imports model only; apiv3 and cmd/dlvm import it.
package keystone
